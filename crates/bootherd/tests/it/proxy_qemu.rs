//! Real boot firmware against bootherd's proxyDHCP: QEMU guests (SeaBIOS with
//! QEMU's iPXE NIC ROM, and OVMF's own UEFI PXE) in a namespace lab where
//! dnsmasq in `NAME-lan` is the LAN's DHCP server and bootherd in `NAME-srv`
//! only adds boot information.
//!
//! Each guest ends in an iPXE script (see [`boot_script`]) that `echo`es markers
//! around a TFTP and an HTTP fetch; the markers on the guest's serial console are
//! the test signal, and QEMU is killed as soon as they appear. tcpdump on the
//! guest's tap records what the firmware sent and what bootherd answered, and the
//! assertions check those packets as well as bootherd's and dnsmasq's logs.
//!
//! What these guests do here (QEMU 7.2, Debian 12 packages):
//! - BIOS: QEMU's NIC ROM (`efi-e1000.rom`) already is iPXE, so its very first
//!   DISCOVER carries user class `iPXE` and gets the HTTP script URL. SeaBIOS's
//!   serial console (`etc/sercon-port` with no VGA) puts iPXE's output on the serial
//!   port; Debian's iPXE ROMs have no serial console of their own.
//! - UEFI: the guest uses virtio-net with no option ROM (`romfile=`), so the PXE
//!   client is OVMF's own (arch 7, `PXEClient:Arch:00007:UNDI:003000`). With
//!   `efi-e1000.rom` the first boot option would be iPXE's own EFI driver instead.
//!   OVMF waits about 4 s collecting offers, asks dnsmasq for its address, then
//!   asks bootherd on port 4011, fetches `ipxe.efi` by TFTP (blksize 1468,
//!   windowsize 4), and that iPXE (with user class `iPXE`) gets the script.
//! - iPXE waits about 15 s for an IPv6 router before running its script even with
//!   IPv6 off on the client side, so dnsmasq also sends router advertisements here.
//! - Debian's iPXE (2019) has no `poweroff` command.
//!
//! `BOOTHERD_BLESS=1` stores the firmware's requests as hex fixtures in
//! `crates/bootherd-proto/tests/captures/` (see `captured.rs` there).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bootherd_proto::client::{format_mac, Arch, Firmware};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType};

use crate::pxe_lab::{boot_script, maybe_write_capture, package_version, tool_version, Guest};
use crate::support::{
    assert_classified, dhcp_packets, in_range, key_fields, need_lab_files, option_text, parse_mac,
    pseudo_random_bytes, tail, temp_dir, write_file, Capture, Dnsmasq, Lab, Server, WireDhcp,
    LAN_DHCP_IP, LAN_RANGE, SERVER_IP,
};

const QEMU: &str = "qemu-system-x86_64";
const E1000_ROM: &str = "/usr/lib/ipxe/qemu/efi-e1000.rom";
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";

/// How long a guest may take to show every marker.
const BOOT_LIMIT: Duration = Duration::from_secs(150);

/// The lab for one guest. Fields drop in order: the guest first, the temp dir last.
struct BootLab {
    guest: Option<Guest>,
    tap: Capture,
    dhcp: Dnsmasq,
    server: Server,
    lab: Lab,
    dir: tempfile::TempDir,
    tag: String,
    tftp_file: String,
    http_file: String,
}

impl BootLab {
    /// Lab, dnsmasq (with router advertisements), bootherd `--proxy` on a root with
    /// the boot script, its two fetched files and `extra` files copied in, tap
    /// `tapx0` in the client namespace with tcpdump on it.
    fn start(name: &str, extra: &[(&str, &str)]) -> BootLab {
        let dir = temp_dir();
        let tag = format!("{name}-{}", std::process::id());
        let tftp_file = format!("bh-tftp-{tag}.bin");
        let http_file = format!("bh-http-{tag}.bin");
        let root = dir.path().join("root");
        write_file(
            &root.join("boot.ipxe"),
            boot_script(&tag, &tftp_file, &http_file).as_bytes(),
        );
        write_file(&root.join(&tftp_file), &pseudo_random_bytes(1, 64 * 1024));
        write_file(&root.join(&http_file), &pseudo_random_bytes(2, 64 * 1024));
        for (to, from) in extra {
            let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("read {from}: {e}"));
            write_file(&root.join(to), &bytes);
        }
        let lab = Lab::up();
        let dhcp = Dnsmasq::lan_with_router_adverts(&lab, dir.path(), "10m");
        let server = Server::start_in_with(&lab.srv(), &root, &["--proxy"], Some("debug"));
        lab.add_tap("tapx0");
        let tap = Capture::start(
            &lab.cli(),
            "tapx0",
            "udp port 67 or udp port 68 or udp port 4011",
            dir.path(),
            "tap",
        );
        BootLab {
            guest: None,
            tap,
            dhcp,
            server,
            lab,
            dir,
            tag,
            tftp_file,
            http_file,
        }
    }

    fn markers(&self) -> [String; 3] {
        [
            format!("BH-BEGIN-{}", self.tag),
            format!("BH-TFTP-OK-{}", self.tag),
            format!("BH-HTTP-OK-{}", self.tag),
        ]
    }

    /// Starts the guest, waits for the markers, kills the guest. Returns the
    /// console and the seconds the guest took.
    fn boot(&mut self, machine: Vec<String>) -> (String, f64) {
        let markers = self.markers();
        let guest = Guest::start(&self.lab, self.dir.path(), &machine, 300);
        let guest = self.guest.insert(guest);
        let refs: Vec<&str> = markers.iter().map(String::as_str).collect();
        let result = guest.wait_markers(&refs, BOOT_LIMIT);
        let secs = guest.started.elapsed().as_secs_f64();
        guest.bg.stop(Duration::from_secs(3));
        match result {
            Ok(console) => (console, secs),
            Err(why) => panic!(
                "{why}\n--- dnsmasq log (tail) ---\n{}\n--- tap capture ---\n{}",
                tail(&self.dhcp.log_text(), 3000),
                tail(&self.tap.decode(), 6000)
            ),
        }
    }

    /// The address the script printed (`ip=` on the first marker line).
    fn console_ip(&self, console: &str) -> Ipv4Addr {
        let begin = format!("BH-BEGIN-{} ip=", self.tag);
        let at = console.find(&begin).expect("begin marker") + begin.len();
        let ip: String = console[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        ip.parse()
            .unwrap_or_else(|_| panic!("no address after {begin:?} on the console"))
    }

    /// The client's address came from dnsmasq: in its pool, in its lease file
    /// for `mac`, and acknowledged in its log.
    fn assert_lease_from_lan(&self, console: &str, mac: &str) -> Ipv4Addr {
        let ip = self.console_ip(console);
        assert!(
            in_range(ip, LAN_RANGE),
            "the guest's address {ip} is not from dnsmasq's pool"
        );
        assert_eq!(
            self.dhcp.lease_of(mac),
            Some(ip),
            "dnsmasq's lease file does not give {ip} to {mac}:\n{}",
            self.dhcp.leases_text()
        );
        let ack = format!("DHCPACK(eth0) {ip} {mac}");
        assert!(
            self.dhcp.log_text().contains(&ack),
            "dnsmasq did not log {ack:?}:\n{}",
            tail(&self.dhcp.log_text(), 4000)
        );
        ip
    }

    /// Waits (bounded) for a bootherd log line with all of `needles`.
    fn expect_log(&self, needles: &[&str]) -> String {
        self.server.expect_log(
            needles,
            Duration::from_secs(10),
            "bootherd never logged the line",
        )
    }

    /// The script's fetches reached bootherd: the script over HTTP, then one file
    /// over TFTP and one over HTTP.
    fn assert_script_fetches(&self, client_ip: Ipv4Addr) {
        let peer = format!("peer={client_ip}:");
        self.expect_log(&["http: request", &peer, "path=\"/boot.ipxe\"", "status=200"]);
        self.expect_log(&[
            "tftp: sent",
            &peer,
            &format!("file={}", self.tftp_file),
            "bytes=65536",
        ]);
        self.expect_log(&[
            "http: request",
            &peer,
            &format!("path=\"/{}\"", self.http_file),
            "status=200",
        ]);
    }
}

fn epoch_micros(at: Instant) -> u64 {
    let ago = at.elapsed();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(ago).as_micros() as u64
}

fn is_from_client(p: &WireDhcp, mac: &[u8; 6]) -> bool {
    p.packet.op == 1 && p.packet.mac() == Some(*mac)
}

fn user_class_ipxe(p: &DhcpPacket) -> bool {
    p.user_class()
        .is_some_and(|u| u.windows(4).any(|w| w == b"iPXE"))
}

/// bootherd's replies on the wire to `xid`.
fn replies_to(packets: &[WireDhcp], xid: u32) -> Vec<&WireDhcp> {
    packets
        .iter()
        .filter(|p| p.packet.op == 2 && p.packet.xid == xid && *p.udp.src.ip() == SERVER_IP)
        .collect()
}

/// Every packet bootherd sent is a proxy reply: no address, its own address as
/// server, `PXEClient`, and offers broadcast to port 68 from port 67.
fn assert_all_replies_are_proxy_replies(packets: &[WireDhcp]) {
    let ours: Vec<&WireDhcp> = packets
        .iter()
        .filter(|p| *p.udp.src.ip() == SERVER_IP)
        .collect();
    assert!(!ours.is_empty(), "no packet from bootherd on the tap");
    for p in ours {
        let r = &p.packet;
        let what = key_fields(r);
        assert_eq!(r.op, 2, "bootherd sent a non-reply: {what}");
        assert_eq!(
            r.yiaddr,
            Ipv4Addr::UNSPECIFIED,
            "bootherd offered an address: {what}"
        );
        assert_eq!(r.server_id(), Some(SERVER_IP), "option 54: {what}");
        assert_eq!(r.siaddr, SERVER_IP, "siaddr: {what}");
        assert_eq!(
            option_text(r, 60).as_deref(),
            Some("PXEClient"),
            "option 60: {what}"
        );
        if r.message_type() == Some(MessageType::Offer) {
            assert_eq!(
                (p.udp.src, p.udp.dst),
                (
                    SocketAddrV4::new(SERVER_IP, 67),
                    SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
                ),
                "an offer must be broadcast from port 67 to 68: {what}"
            );
        }
    }
}

/// The boot file named by a reply: option 67, else the `file` field.
fn boot_file(p: &DhcpPacket) -> String {
    option_text(p, 67).unwrap_or_else(|| p.file_name())
}

/// The iPXE DISCOVER and bootherd's offer with the script URL.
fn assert_ipxe_round(packets: &[WireDhcp], mac: &[u8; 6], arch: Arch) -> WireDhcp {
    let discover = packets
        .iter()
        .find(|p| {
            is_from_client(p, mac)
                && p.packet.message_type() == Some(MessageType::Discover)
                && user_class_ipxe(&p.packet)
        })
        .unwrap_or_else(|| panic!("no iPXE DISCOVER from {} on the tap", format_mac(mac)))
        .clone();
    assert_classified(&discover.packet, Firmware::Ipxe, arch, "iPXE's DISCOVER");
    let offers = replies_to(packets, discover.packet.xid);
    let offer = offers
        .iter()
        .find(|r| r.packet.message_type() == Some(MessageType::Offer))
        .unwrap_or_else(|| {
            panic!(
                "bootherd sent no offer to iPXE's DISCOVER {}",
                key_fields(&discover.packet)
            )
        });
    assert_eq!(
        boot_file(&offer.packet),
        format!("http://{SERVER_IP}/boot.ipxe"),
        "iPXE's offer: {}",
        key_fields(&offer.packet)
    );
    discover
}

/// The client took its address from dnsmasq: its REQUEST names dnsmasq, never
/// bootherd, on port 67.
fn assert_requested_from_lan(packets: &[WireDhcp], mac: &[u8; 6], ip: Ipv4Addr) {
    let requests: Vec<&WireDhcp> = packets
        .iter()
        .filter(|p| {
            is_from_client(p, mac)
                && p.udp.dst.port() == 67
                && p.packet.message_type() == Some(MessageType::Request)
        })
        .collect();
    assert!(
        requests
            .iter()
            .any(|r| r.packet.server_id() == Some(LAN_DHCP_IP)
                && r.packet.requested_ip() == Some(ip)),
        "no REQUEST for {ip} naming dnsmasq ({LAN_DHCP_IP}) on port 67; requests:\n{}",
        requests
            .iter()
            .map(|r| key_fields(&r.packet))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for r in requests {
        assert_ne!(
            r.packet.server_id(),
            Some(SERVER_IP),
            "the client asked bootherd for a lease on port 67: {}",
            key_fields(&r.packet)
        );
    }
}

fn capture_description(what: &str, p: &WireDhcp, firmware: &str) -> Vec<String> {
    vec![
        what.to_string(),
        format!(
            "Captured on a tap by crates/bootherd/tests/it/proxy_qemu.rs (BOOTHERD_BLESS=1): {}",
            tool_version(&[QEMU, "--version"])
        ),
        firmware.to_string(),
        format!(
            "UDP payload {} -> {}, {} bytes",
            p.udp.src,
            p.udp.dst,
            p.udp.payload.len()
        ),
        key_fields(&p.packet),
    ]
}

#[test]
fn bios_ipxe_rom_boots_through_proxy() {
    let test = "proxy_qemu::bios_ipxe_rom_boots_through_proxy";
    if !need_lab_files(test, &[QEMU, "dnsmasq", "tcpdump"], &[E1000_ROM]) {
        return;
    }
    let started = Instant::now();
    let mac = "52:54:00:99:00:b1";
    let mut lab = BootLab::start("bios", &[]);
    // SeaBIOS's serial console: the port as a little-endian integer.
    let sercon = lab.dir.path().join("sercon-port");
    std::fs::write(&sercon, 0x3f8u16.to_le_bytes()).unwrap();
    let machine: Vec<String> = [
        "-machine",
        "pc",
        "-m",
        "256",
        "-boot",
        "n",
        "-vga",
        "none",
        "-uuid",
        "8a4c3c2e-1b2a-4d5e-9f00-0000009900b1",
        "-netdev",
        "tap,id=n0,ifname=tapx0,script=no,downscript=no",
    ]
    .into_iter()
    .map(String::from)
    .chain([
        "-fw_cfg".into(),
        format!("name=etc/sercon-port,file={}", sercon.display()),
        "-device".into(),
        format!("e1000,netdev=n0,mac={mac},romfile={E1000_ROM}"),
    ])
    .collect();
    let guest_start = Instant::now();
    let (console, boot_secs) = lab.boot(machine);
    let frames = lab.tap.stop();
    let packets = dhcp_packets(&frames);

    let ip = lab.assert_lease_from_lan(&console, mac);
    let offer_line = lab.expect_log(&[
        "proxy: offer: iPXE script http://10.99.0.1/boot.ipxe",
        &format!("mac={mac}"),
    ]);
    assert!(offer_line.contains("iPXE"), "{offer_line}");
    lab.assert_script_fetches(ip);

    let mac = parse_mac(mac);
    assert_all_replies_are_proxy_replies(&packets);
    let discover = assert_ipxe_round(&packets, &mac, Arch::BiosX86);
    assert_requested_from_lan(&packets, &mac, ip);
    maybe_write_capture(
        "qemu-ipxe-rom-bios-discover",
        &capture_description(
            "DHCPDISCOVER from QEMU's iPXE NIC ROM under SeaBIOS (-machine pc, e1000)",
            &discover,
            &format!(
                "ROM {E1000_ROM} (ipxe-qemu {})",
                package_version("ipxe-qemu")
            ),
        ),
        &discover.udp.payload,
    );
    eprintln!(
        "{test}: first DISCOVER {:.1} s after QEMU started, markers after {boot_secs:.1} s, test {:.1} s\n  DISCOVER: {}",
        (discover.udp.micros.saturating_sub(epoch_micros(guest_start))) as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        key_fields(&discover.packet)
    );
}

#[test]
fn uefi_ovmf_pxe_boots_through_proxy_and_port_4011() {
    let test = "proxy_qemu::uefi_ovmf_pxe_boots_through_proxy_and_port_4011";
    if !need_lab_files(
        test,
        &[QEMU, "dnsmasq", "tcpdump"],
        &[OVMF_CODE, OVMF_VARS, IPXE_EFI],
    ) {
        return;
    }
    let started = Instant::now();
    let mac = "52:54:00:99:00:b2";
    let mut lab = BootLab::start("uefi", &[("ipxe.efi", IPXE_EFI)]);
    let vars = lab.dir.path().join("OVMF_VARS.fd");
    std::fs::copy(OVMF_VARS, &vars).expect("copy OVMF_VARS");
    let machine: Vec<String> = [
        "-machine",
        "q35",
        "-m",
        "512",
        "-uuid",
        "8a4c3c2e-1b2a-4d5e-9f00-0000009900b2",
        "-netdev",
        "tap,id=n0,ifname=tapx0,script=no,downscript=no",
    ]
    .into_iter()
    .map(String::from)
    .chain([
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
        // No option ROM: OVMF's own virtio-net driver and PXE client, first in
        // the boot order (there are no disks).
        "-device".into(),
        format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=0"),
    ])
    .collect();
    let guest_start = Instant::now();
    let (console, boot_secs) = lab.boot(machine);
    let frames = lab.tap.stop();
    let packets = dhcp_packets(&frames);

    assert!(
        console.contains("Start PXE over IPv4"),
        "OVMF's own PXE client did not run:\n{}",
        tail(&console, 4000)
    );
    let ip = lab.assert_lease_from_lan(&console, mac);
    let mac_field = format!("mac={mac}");
    lab.expect_log(&[
        "proxy: offer: TFTP ipxe.efi (via port 4011)",
        &mac_field,
        "UEFI PXE",
        "UefiX64",
    ]);
    lab.expect_log(&[
        "proxy: ack: TFTP ipxe.efi (via port 4011)",
        &mac_field,
        "UEFI PXE",
    ]);
    lab.expect_log(&[
        "tftp: sent",
        &format!("peer={ip}:"),
        "file=ipxe.efi",
        &format!("bytes={}", std::fs::metadata(IPXE_EFI).unwrap().len()),
    ]);
    lab.expect_log(&[
        "proxy: offer: iPXE script http://10.99.0.1/boot.ipxe",
        &mac_field,
    ]);
    lab.assert_script_fetches(ip);

    let macb = parse_mac(mac);
    assert_all_replies_are_proxy_replies(&packets);

    // 1. OVMF's DISCOVER and bootherd's offer: no option 43, no boot file, so
    //    the client asks again on port 4011.
    let discover = packets
        .iter()
        .find(|p| {
            is_from_client(p, &macb)
                && p.packet.message_type() == Some(MessageType::Discover)
                && !user_class_ipxe(&p.packet)
        })
        .unwrap_or_else(|| panic!("no DISCOVER from OVMF on the tap:\n{}", lab.tap.decode()))
        .clone();
    assert_classified(
        &discover.packet,
        Firmware::UefiPxe,
        Arch::UefiX64,
        "OVMF's DISCOVER",
    );
    let offer = replies_to(&packets, discover.packet.xid)
        .into_iter()
        .find(|r| r.packet.message_type() == Some(MessageType::Offer))
        .unwrap_or_else(|| panic!("bootherd sent no offer to OVMF's DISCOVER"))
        .clone();
    assert!(
        offer.packet.option(43).is_none()
            && offer.packet.option(67).is_none()
            && offer.packet.file_name().is_empty(),
        "the offer to UEFI PXE must send it to port 4011 (no option 43, no boot file): {}",
        key_fields(&offer.packet)
    );

    // 2. OVMF's REQUEST to port 4011 and bootherd's ACK, back to where it came from.
    let request = packets
        .iter()
        .find(|p| is_from_client(p, &macb) && p.udp.dst == SocketAddrV4::new(SERVER_IP, 4011))
        .unwrap_or_else(|| panic!("OVMF never asked on port 4011:\n{}", lab.tap.decode()))
        .clone();
    assert_eq!(*request.udp.src.ip(), ip, "4011 request source");
    assert_classified(
        &request.packet,
        Firmware::UefiPxe,
        Arch::UefiX64,
        "OVMF's port 4011 request",
    );
    let ack = replies_to(&packets, request.packet.xid)
        .into_iter()
        .find(|r| r.udp.src.port() == 4011)
        .unwrap_or_else(|| {
            panic!(
                "bootherd did not answer on port 4011:\n{}",
                lab.tap.decode()
            )
        })
        .clone();
    assert_eq!(
        ack.udp.dst, request.udp.src,
        "the 4011 ACK must go back to the request's source"
    );
    assert_eq!(ack.packet.message_type(), Some(MessageType::Ack));
    assert_eq!(
        boot_file(&ack.packet),
        "ipxe.efi",
        "{}",
        key_fields(&ack.packet)
    );
    if let Some(uuid) = request.packet.option(97) {
        assert_eq!(ack.packet.option(97), Some(uuid), "option 97 echoed");
    }

    // 3. ipxe.efi asks again and gets the script.
    let ipxe = assert_ipxe_round(&packets, &macb, Arch::UefiX64);
    assert_requested_from_lan(&packets, &macb, ip);

    let ovmf = format!(
        "Firmware {OVMF_CODE} (ovmf {}), virtio-net-pci without option ROM",
        package_version("ovmf")
    );
    maybe_write_capture(
        "ovmf-uefi-pxe-discover",
        &capture_description(
            "DHCPDISCOVER from OVMF's own PXE client (-machine q35)",
            &discover,
            &ovmf,
        ),
        &discover.udp.payload,
    );
    maybe_write_capture(
        "ovmf-uefi-pxe-4011-request",
        &capture_description(
            "ProxyDHCP REQUEST that OVMF sent to bootherd's port 4011 after the proxy offer",
            &request,
            &ovmf,
        ),
        &request.udp.payload,
    );
    maybe_write_capture(
        "ipxe-efi-discover",
        &capture_description(
            "DHCPDISCOVER from Debian's ipxe.efi, loaded by OVMF over TFTP",
            &ipxe,
            &format!(
                "{IPXE_EFI} (ipxe {}) on OVMF's SNP",
                package_version("ipxe")
            ),
        ),
        &ipxe.udp.payload,
    );
    let t0 = epoch_micros(guest_start);
    let at = |p: &WireDhcp| p.udp.micros.saturating_sub(t0) as f64 / 1e6;
    eprintln!(
        "{test}: OVMF DISCOVER {:.1} s, 4011 REQUEST {:.1} s, iPXE DISCOVER {:.1} s after QEMU started; markers after {boot_secs:.1} s; test {:.1} s\n  DISCOVER: {}\n  4011 REQUEST: {}\n  4011 ACK: {}\n  iPXE DISCOVER: {}",
        at(&discover),
        at(&request),
        at(&ipxe),
        started.elapsed().as_secs_f64(),
        key_fields(&discover.packet),
        key_fields(&request.packet),
        key_fields(&ack.packet),
        key_fields(&ipxe.packet)
    );
}
