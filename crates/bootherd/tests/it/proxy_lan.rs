//! Do no harm: with bootherd's proxyDHCP on the LAN, ordinary DHCP clients
//! (busybox udhcpc, ISC dhclient) still get their lease from the LAN's DHCP
//! server (dnsmasq in `NAME-lan`) and not a single packet from bootherd, while
//! bootherd's own log proves their requests reached it. A PXE-class request in
//! the same lab does get an answer, so the capture is shown to work.
//!
//! Seen on the wire here: udhcpc 1.35 sends option 60 `udhcp 1.35.0`, dhclient
//! 4.4.3 sends no option 60; both DISCOVERs reach bootherd, which logs
//! `proxy: ignored: not a boot client` with their xid (at debug level). udhcpc
//! with `-V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000` looks like a BIOS PXE
//! ROM and gets the proxy offer for `undionly.kpxe`; with arch 7 and no
//! `ipxe.efi` in the root it gets nothing, and bootherd logs why.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use bootherd_proto::client::{classify, Arch, Firmware};
use bootherd_proto::wire::dhcp::MessageType;

use crate::pxe_lab::interface_mac;
use crate::support::{
    assert_classified, dhclient_args, dhclient_leases, dhcp_packets, ipv4_source, key_fields,
    need_lab, option_text, parse_mac, read_lossy, temp_dir, wait_until, write_file, Bg, Capture,
    Dnsmasq, Lab, Server, WireDhcp, LAN_DHCP_IP, SERVER_IP,
};

/// After a client finishes, how long a late reply from bootherd still counts
/// (longer than any reply delay bootherd uses).
const LATE_REPLY_WINDOW: Duration = Duration::from_millis(2500);

const IGNORED: &str = "proxy: ignored: not a boot client";

/// A lab with dnsmasq, bootherd `--proxy` at debug level on a root holding a BIOS
/// boot file and an iPXE script. Fields drop in order.
struct LanLab {
    dhcp: Dnsmasq,
    server: Server,
    lab: Lab,
    dir: tempfile::TempDir,
    br0_mac: String,
}

impl LanLab {
    fn start() -> LanLab {
        let dir = temp_dir();
        let root = dir.path().join("root");
        write_file(&root.join("undionly.kpxe"), b"not really undionly.kpxe");
        write_file(&root.join("boot.ipxe"), b"#!ipxe\necho hello\n");
        let lab = Lab::up();
        let dhcp = Dnsmasq::lan(&lab, dir.path(), "10m", &[]);
        let server = Server::start_in_with(&lab.srv(), &root, &["--proxy"], Some("debug"));
        let br0_mac = interface_mac(&lab, &lab.cli(), "br0");
        LanLab {
            dhcp,
            server,
            lab,
            dir,
            br0_mac,
        }
    }

    /// Everything bootherd sends, in `NAME-srv`.
    fn capture_from_server(&self, tag: &str) -> Capture {
        Capture::on_server(
            &self.lab,
            &format!("ip and src host {SERVER_IP}"),
            self.dir.path(),
            tag,
        )
    }

    fn ignored_lines(&self) -> usize {
        self.server
            .log_lines_with(&[IGNORED, &format!("mac={}", self.br0_mac)])
            .len()
    }

    /// Waits until bootherd has logged `count` NotBoot lines for br0's MAC.
    fn expect_ignored(&self, count: usize, client: &str) {
        self.server.expect_lines(
            &[IGNORED, &format!("mac={}", self.br0_mac)],
            count,
            Duration::from_secs(10),
            &format!(
                "bootherd never logged {IGNORED:?} for {client}'s DISCOVER (mac {}): the request did not reach it",
                self.br0_mac
            ),
        );
    }
}

/// The DISCOVERs from `mac` that reached `NAME-srv`.
fn discovers_from<'a>(packets: &'a [WireDhcp], mac: &[u8; 6]) -> Vec<&'a WireDhcp> {
    packets
        .iter()
        .filter(|p| {
            p.packet.op == 1
                && p.packet.mac() == Some(*mac)
                && p.packet.message_type() == Some(MessageType::Discover)
        })
        .collect()
}

#[test]
fn ordinary_dhcp_clients_get_nothing_from_the_proxy() {
    let test = "proxy_lan::ordinary_dhcp_clients_get_nothing_from_the_proxy";
    if !need_lab(test, &["dnsmasq", "tcpdump", "busybox", "dhclient"]) {
        return;
    }
    let lab = LanLab::start();
    let mac = lab.br0_mac.clone();
    let macb = parse_mac(&mac);
    // What reaches bootherd's namespace (for the xids), and what leaves bootherd.
    let mut requests = Capture::on_server(&lab.lab, "udp dst port 67", lab.dir.path(), "requests");
    let mut from_server = lab.capture_from_server("from-bootherd");

    // busybox udhcpc: lease from dnsmasq; `-s /bin/true` leaves br0 alone.
    let before = lab.ignored_lines();
    let out = lab.lab.udhcpc_once("br0", 3, &[]);
    assert!(out.success(), "udhcpc: {}", out.describe());
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(&format!("obtained from {LAN_DHCP_IP}")),
        "udhcpc did not get its lease from dnsmasq: {}",
        out.describe()
    );
    lab.expect_ignored(before + 1, "udhcpc");

    // ISC dhclient, once, in the foreground, with private files; stopped once bound.
    let before = lab.ignored_lines();
    let args = dhclient_args(
        lab.dir.path(),
        Path::new("/bin/true"),
        "br0",
        &["-1", "-d", "-v"],
    );
    let leases = dhclient_leases(lab.dir.path(), "br0");
    let mut dhclient = Bg::spawn(&lab.lab.cli(), 40, &args, lab.dir.path(), "dhclient");
    let bound = wait_until(Duration::from_secs(30), || {
        read_lossy(&leases).contains(&format!("dhcp-server-identifier {LAN_DHCP_IP};"))
            || !dhclient.is_running()
    });
    dhclient.stop(Duration::from_secs(3));
    let lease = read_lossy(&leases);
    assert!(
        bound && lease.contains(&format!("dhcp-server-identifier {LAN_DHCP_IP};")),
        "dhclient got no lease from dnsmasq: {}\n--- lease file ---\n{lease}",
        dhclient.describe()
    );
    assert!(
        !lease.contains(&format!("{SERVER_IP};")),
        "dhclient's lease mentions bootherd's address:\n{lease}"
    );
    lab.expect_ignored(before + 1, "dhclient");

    // Any late reply would have left by now.
    from_server.expect_silent(
        LATE_REPLY_WINDOW,
        "only ordinary DHCP clients asked, so bootherd must send nothing",
    );
    let counted = from_server.tcpdump_count();
    assert_eq!(
        counted,
        0,
        "tcpdump -r counts {counted} packet(s) from bootherd while only ordinary DHCP clients asked:\n{}",
        from_server.decode()
    );

    // dnsmasq acknowledged both.
    let acks = lab
        .dhcp
        .log_text()
        .lines()
        .filter(|l| l.contains("DHCPACK(eth0)") && l.contains(&mac))
        .count();
    assert!(
        acks >= 2,
        "dnsmasq acknowledged {acks} leases for {mac}, want 2:\n{}",
        lab.dhcp.log_text()
    );

    // A PXE-class request in the same lab gets an answer: the capture works.
    let mut pxe_capture = lab.capture_from_server("from-bootherd-pxe");
    let out = lab.lab.udhcpc_once(
        "br0",
        2,
        &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"],
    );
    lab.server.expect_log(
        &["proxy: offer: TFTP undionly.kpxe", &format!("mac={mac}")],
        Duration::from_secs(10),
        &format!(
            "bootherd did not offer to the PXE-class udhcpc ({})",
            out.describe()
        ),
    );
    std::thread::sleep(LATE_REPLY_WINDOW);
    let pxe_frames = pxe_capture.stop();
    let counted = pxe_capture.tcpdump_count();
    assert!(
        counted >= 1 && !pxe_frames.is_empty(),
        "the capture saw nothing from bootherd although it logged an offer"
    );
    assert!(
        pxe_frames.iter().all(|f| ipv4_source(f) == Some(SERVER_IP)),
        "the filter let through a packet not from {SERVER_IP}"
    );
    let replies = dhcp_packets(&pxe_frames);
    let offer = replies
        .iter()
        .find(|p| p.packet.message_type() == Some(MessageType::Offer))
        .unwrap_or_else(|| panic!("no DHCPOFFER from bootherd:\n{}", pxe_capture.decode()));
    let what = key_fields(&offer.packet);
    assert_eq!(offer.packet.yiaddr, Ipv4Addr::UNSPECIFIED, "yiaddr: {what}");
    assert_eq!(offer.packet.mac(), Some(macb), "chaddr: {what}");
    assert_eq!(
        option_text(&offer.packet, 60).as_deref(),
        Some("PXEClient"),
        "{what}"
    );
    assert_eq!(offer.packet.file_name(), "undionly.kpxe", "{what}");
    assert_eq!(
        (offer.udp.src, offer.udp.dst),
        (
            SocketAddrV4::new(SERVER_IP, 67),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
        ),
        "{what}"
    );

    // A UEFI PXE client whose boot file is not in the root gets nothing either,
    // and bootherd says why.
    let mut uefi_capture = lab.capture_from_server("from-bootherd-uefi");
    let out = lab.lab.udhcpc_once(
        "br0",
        2,
        &["-V", "PXEClient:Arch:00007:UNDI:003000", "-x", "0x5d:0007"],
    );
    lab.server.expect_log(
        &["proxy: ignored:", "ipxe.efi", &format!("mac={mac}")],
        Duration::from_secs(10),
        &format!(
            "bootherd did not log why it ignored a UEFI client without ipxe.efi ({})",
            out.describe()
        ),
    );
    uefi_capture.expect_silent(
        LATE_REPLY_WINDOW,
        "bootherd must not answer a UEFI client whose boot file is missing",
    );

    let reqs = requests.stop();
    let seen = dhcp_packets(&reqs);
    let pxe_discover = discovers_from(&seen, &macb)
        .into_iter()
        .find(|p| p.packet.xid == offer.packet.xid)
        .unwrap_or_else(|| {
            panic!(
                "the offer's xid {:#010x} matches no DISCOVER",
                offer.packet.xid
            )
        });
    assert_classified(
        &pxe_discover.packet,
        Firmware::BiosPxe,
        Arch::BiosX86,
        "the PXE-class DISCOVER",
    );

    assert!(
        discovers_from(&seen, &macb).iter().any(|d| {
            let c = classify(&d.packet);
            (c.firmware, c.arch) == (Firmware::UefiPxe, Some(Arch::UefiX64))
        }),
        "the UEFI-class DISCOVER did not reach {}",
        lab.lab.srv()
    );

    // Every ordinary DISCOVER that reached NAME-srv is in bootherd's log by xid.
    let ordinary: Vec<&WireDhcp> = discovers_from(&seen, &macb)
        .into_iter()
        .filter(|p| !option_text(&p.packet, 60).is_some_and(|c| c.starts_with("PXEClient")))
        .collect();
    assert!(
        ordinary.len() >= 2,
        "want DISCOVERs from udhcpc and dhclient, saw {}",
        ordinary.len()
    );
    for d in ordinary {
        assert_eq!(
            classify(&d.packet).firmware,
            Firmware::NotBoot,
            "{}",
            key_fields(&d.packet)
        );
        let xid = format!("xid={:#010x}", d.packet.xid);
        assert!(
            !lab.server.log_lines_with(&[IGNORED, &xid]).is_empty(),
            "bootherd did not log DISCOVER {xid} as ignored; log:\n{}",
            lab.server.log_text()
        );
    }
}
