//! TFTP option negotiation as U-Boot and UEFI ask for it, checked on the OACK
//! bytes: U-Boot's RRQ carries `timeout 5` and `blksize 1468` and gives up with
//! ERROR 8 when the OACK's timeout differs or its blksize is larger than asked;
//! OVMF's carries `blksize 1468` and `windowsize 4`. A raw client in `NAME-cli`
//! (a thread that joined the namespace) sends the RRQ to bootherd in `NAME-srv`,
//! keeps the OACK as sent, then reads the file to its end.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::dhcp_lab::{in_netns, join};
use crate::support::{need_root, pseudo_random_bytes, temp_dir, write_file, Lab, Server};

const FILE: &str = "boards/rock64/Image";
/// Three windows of 4 at 1468 and a part: every path through the window code.
const FILE_LEN: usize = 1468 * 12 + 700;

/// What one read gave: the OACK datagram as received, and the file.
struct Read {
    oack: Vec<u8>,
    data: Vec<u8>,
}

/// An RRQ for `file` in octet mode with `options`.
fn rrq(file: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0, 1];
    for part in [file, "octet"]
        .into_iter()
        .chain(options.iter().flat_map(|(k, v)| [*k, *v]))
    {
        out.extend_from_slice(part.as_bytes());
        out.push(0);
    }
    out
}

/// The option pairs of an OACK, or why it is not a well-formed one.
fn oack_options(packet: &[u8]) -> Result<Vec<(String, String)>, String> {
    if packet.len() < 2 || packet[..2] != [0, 6] {
        return Err(format!("not an OACK: {packet:02x?}"));
    }
    let body = &packet[2..];
    if body.last() != Some(&0) {
        return Err(format!("OACK does not end with NUL: {packet:02x?}"));
    }
    let strings: Vec<String> = body[..body.len() - 1]
        .split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if !strings.len().is_multiple_of(2) {
        return Err(format!("OACK has an option without a value: {strings:?}"));
    }
    Ok(strings
        .chunks(2)
        .map(|kv| (kv[0].to_ascii_lowercase(), kv[1].clone()))
        .collect())
}

/// Reads `file` from `server` with `options` (blocking; run it in the lab).
fn read_file(server: SocketAddr, file: &str, options: &[(&str, &str)]) -> Result<Read, String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let request = rrq(file, options);
    let mut buf = vec![0u8; 65536];
    let mut tries = 0;
    let (oack, peer) = loop {
        socket
            .send_to(&request, server)
            .map_err(|e| format!("send RRQ: {e}"))?;
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => break (buf[..n].to_vec(), peer),
            Err(_) if tries < 5 => tries += 1,
            Err(e) => return Err(format!("no answer to the RRQ: {e}")),
        }
    };
    let options = oack_options(&oack)?;
    let get = |name: &str| {
        options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.parse::<usize>().unwrap_or(0))
    };
    let blksize = get("blksize").unwrap_or(512);
    let window = get("windowsize").unwrap_or(1).max(1);
    let ack = |block: u16| {
        let mut a = vec![0, 4];
        a.extend_from_slice(&block.to_be_bytes());
        socket.send_to(&a, peer).map(|_| ())
    };
    ack(0).map_err(|e| format!("ACK 0: {e}"))?;
    let mut data = Vec::new();
    let mut next: u16 = 1;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut timeouts = 0;
    while Instant::now() < deadline {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == peer && n >= 4 && buf[..2] == [0, 3] => {
                let block = u16::from_be_bytes([buf[2], buf[3]]);
                if block != next {
                    continue;
                }
                let payload = &buf[4..n];
                data.extend_from_slice(payload);
                let last = payload.len() < blksize;
                if last || usize::from(block) % window == 0 {
                    ack(block).map_err(|e| format!("ACK {block}: {e}"))?;
                }
                if last {
                    return Ok(Read { oack, data });
                }
                next = next.wrapping_add(1);
            }
            Ok((n, _)) if n >= 2 && buf[..2] == [0, 5] => {
                return Err(format!(
                    "ERROR from the server: {}",
                    String::from_utf8_lossy(&buf[4..n])
                ))
            }
            Ok(_) => {}
            Err(_) => {
                timeouts += 1;
                if timeouts > 10 {
                    return Err(format!("transfer stalled at block {next}"));
                }
                ack(next.wrapping_sub(1)).map_err(|e| format!("re-ACK: {e}"))?;
            }
        }
    }
    Err("transfer did not finish in 20 s".into())
}

#[test]
fn oack_answers_uboot_and_uefi_options_exactly() {
    let test = "tftp_oack::oack_answers_uboot_and_uefi_options_exactly";
    if !need_root(test) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let contents = pseudo_random_bytes(0x7f7f, FILE_LEN);
    write_file(&root.join(FILE), &contents);
    let lab = Lab::up();
    let server = Server::start_in(&lab.srv(), &root);
    let target: SocketAddr = "10.99.0.1:69".parse().unwrap();

    let cases: Vec<Vec<(&'static str, &'static str)>> = vec![
        // U-Boot's RRQ.
        vec![("timeout", "5"), ("blksize", "1468")],
        // OVMF's RRQ.
        vec![("blksize", "1468"), ("windowsize", "4")],
        // More than the 1500-byte path carries: the answer must fit the MTU.
        vec![("blksize", "65464")],
    ];
    let asked = cases.clone();
    let reads = join(in_netns(&lab.cli(), move || {
        asked
            .iter()
            .map(|options| read_file(target, FILE, options))
            .collect::<Vec<_>>()
    }));

    let mut report = Vec::new();
    for (options, read) in cases.iter().zip(reads) {
        let read = read.unwrap_or_else(|e| {
            panic!(
                "RRQ {options:?}: {e}\n--- bootherd ---\n{}",
                server.log_text()
            )
        });
        let got: BTreeMap<String, String> = oack_options(&read.oack).unwrap().into_iter().collect();
        report.push(format!(
            "RRQ {options:?} -> OACK {:02x?} {got:?}",
            read.oack
        ));
        let asked: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        let mut keys: Vec<&str> = got.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want_keys = asked.clone();
        want_keys.sort_unstable();
        assert_eq!(
            keys, want_keys,
            "RRQ {options:?}: the OACK must answer exactly the options asked: {got:?}"
        );
        if let Some(timeout) = got.get("timeout") {
            assert_eq!(
                timeout, "5",
                "U-Boot gives up unless timeout is echoed: {got:?}"
            );
        }
        let blksize: usize = got["blksize"].parse().expect("numeric blksize");
        assert!(
            (8..=1468).contains(&blksize),
            "RRQ {options:?}: blksize {blksize} is above what was asked or what the 1500-byte path carries (1468)"
        );
        if let Some(window) = got.get("windowsize") {
            assert_eq!(
                window, "4",
                "windowsize 4 within the server's limit is echoed: {got:?}"
            );
        }
        assert!(
            read.data == contents,
            "RRQ {options:?}: read {} bytes, not the file's {}",
            read.data.len(),
            contents.len()
        );
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn oack_parsing_and_rrq_building() {
    assert_eq!(
        rrq("a", &[("blksize", "1468")]),
        b"\0\x01a\0octet\0blksize\x001468\0".to_vec()
    );
    assert_eq!(
        oack_options(b"\0\x06timeout\x005\0blksize\x001468\0").unwrap(),
        vec![
            ("timeout".to_string(), "5".to_string()),
            ("blksize".to_string(), "1468".to_string())
        ]
    );
    assert!(oack_options(b"\0\x06timeout\0").is_err());
    assert!(oack_options(b"\0\x03\0\x01").is_err());
}

/// With `tftp.allow_fragmentation`, a client asking for 65464-byte blocks gets
/// them (sent as IP fragments over the 1500-byte veth) and the file arrives whole;
/// the default server of the test above clamps the same request to the MTU.
#[test]
fn allow_fragmentation_grants_blocks_above_the_mtu() {
    let test = "tftp_oack::allow_fragmentation_grants_blocks_above_the_mtu";
    if !need_root(test) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    // Two whole 65464-byte blocks and a part.
    let contents = pseudo_random_bytes(0x5a5a, 65464 * 2 + 1000);
    write_file(&root.join(FILE), &contents);
    let config = dir.path().join("bootherd.toml");
    std::fs::write(
        &config,
        format!(
            "[tftp]\nroot = {:?}\nallow_fragmentation = true\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    let lab = Lab::up();
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], None);
    let target: SocketAddr = "10.99.0.1:69".parse().unwrap();
    let read = join(in_netns(&lab.cli(), move || {
        read_file(target, FILE, &[("blksize", "65464")])
    }))
    .unwrap_or_else(|e| panic!("{e}\n--- bootherd ---\n{}", server.log_text()));
    let got: BTreeMap<String, String> = oack_options(&read.oack).unwrap().into_iter().collect();
    assert_eq!(
        got.get("blksize").map(String::as_str),
        Some("65464"),
        "{got:?}"
    );
    assert!(
        read.data == contents,
        "read {} bytes, not the file's {}",
        read.data.len(),
        contents.len()
    );
}
