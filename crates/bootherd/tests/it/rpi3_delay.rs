//! The Raspberry Pi 3 boot ROM's reply delay as configured (README:
//! `rpi_reply_delay_ms = 1000  # the Pi 3 ROM acts on a reply only after a later
//! packet`): the gap a client sees between its DISCOVER and bootherd's proxy
//! offer is at least the configured delay and not much more, for the default
//! (1000 ms), for 300 ms, and for 0 (answered at once).
//!
//! The DISCOVER is the Pi 3 ROM's as `bootherd probe --as rpi3` sends it
//! ([`bootherd_proto::emulate::discover`], the golden Pi 3B packet's fields),
//! sent once, without retransmission, from `NAME-cli`; the offer is the
//! broadcast reply. A Pi 4 DISCOVER, answered without delay, checks that the
//! delay is the Pi 3's alone.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use bootherd_proto::emulate::{discover, Emulated, Identity};
use bootherd_proto::wire::dhcp::MessageType;

use crate::dhcp_lab::write_config;
use crate::support::{need_root, temp_dir, write_file, DhcpClient, Lab, Server, BROADCAST_67};

/// How much later than the configured delay the offer may arrive: generous,
/// for a debug build on a busy machine, and still short of telling 300 ms
/// from the default 1000 ms.
const SLACK: Duration = Duration::from_millis(650);

/// bootherd `--proxy` with `delay_line` in `[proxy]` (empty: the default).
fn start(lab: &Lab, dir: &Path, tag: &str, delay_line: &str) -> Server {
    let config = write_config(
        dir,
        &format!("{tag}.toml"),
        &format!(
            "[tftp]\nroot = {:?}\n[proxy]\nenabled = true\n{delay_line}\n",
            dir.join("root").display().to_string()
        ),
    );
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], None);
    server.expect_log(
        &["proxy listening on "],
        Duration::from_secs(10),
        "bootherd did not log `proxy listening on`",
    );
    server
}

/// Sends `kind`'s DISCOVER once from `NAME-cli` and returns how long the
/// proxy offer took to come back.
fn offer_gap(lab: &Lab, server: &Server, kind: Emulated, mac: [u8; 6]) -> Duration {
    let client = DhcpClient::open(
        &lab.cli(),
        "br0",
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    );
    let machine = Identity::new(kind, mac, None);
    let answer = client
        .exchange(
            &discover(&machine),
            BROADCAST_67,
            None,
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| {
            panic!(
                "no proxy offer to the {kind:?} DISCOVER within 5 s; log:\n{}",
                server.log_text()
            )
        });
    assert_eq!(
        answer.packet.message_type(),
        Some(MessageType::Offer),
        "{:?}",
        answer.packet
    );
    answer.after_first
}

#[test]
fn the_pi3_offer_waits_the_configured_delay() {
    let test = "rpi3_delay::the_pi3_offer_waits_the_configured_delay";
    if !need_root(test) {
        return;
    }
    let dir = temp_dir();
    write_file(
        &dir.path().join("root/bootcode.bin"),
        b"not really bootcode.bin",
    );
    write_file(
        &dir.path().join("root/start4.elf"),
        b"not really start4.elf",
    );
    let lab = Lab::up();
    let mut seen = Vec::new();
    for (n, (tag, line, delay)) in [
        ("default", "", Duration::from_millis(1000)),
        (
            "300",
            "rpi_reply_delay_ms = 300",
            Duration::from_millis(300),
        ),
        ("0", "rpi_reply_delay_ms = 0", Duration::ZERO),
    ]
    .into_iter()
    .enumerate()
    {
        let server = start(&lab, dir.path(), tag, line);
        let pi3 = [0xb8, 0x27, 0xeb, 0x03, 0x00, n as u8];
        let gap = offer_gap(&lab, &server, Emulated::Rpi3, pi3);
        assert!(
            gap >= delay && gap < delay + SLACK,
            "rpi_reply_delay_ms {}: the Pi 3 offer came {gap:?} after the DISCOVER, want {delay:?} to {:?}\n{}",
            delay.as_millis(),
            delay + SLACK,
            server.log_text()
        );
        server.expect_log(
            &[
                "proxy: offer",
                &format!("delay_ms={}", delay.as_millis()),
                &format!("mac=b8:27:eb:03:00:{n:02x}"),
            ],
            Duration::from_secs(5),
            "bootherd did not log the Pi 3 offer with its delay",
        );
        // A Pi 4 is answered at once, whatever the Pi 3 delay.
        let pi4 = [0xdc, 0xa6, 0x32, 0x04, 0x00, n as u8];
        let gap4 = offer_gap(&lab, &server, Emulated::Rpi4, pi4);
        assert!(
            gap4 < SLACK,
            "rpi_reply_delay_ms {}: the Pi 4 offer came {gap4:?} after the DISCOVER; it is not to be delayed",
            delay.as_millis()
        );
        seen.push(format!("{tag}: Pi 3 {gap:?}, Pi 4 {gap4:?}"));
    }
    eprintln!("rpi3 reply delay: {}", seen.join("; "));
}
