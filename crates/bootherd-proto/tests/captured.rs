//! Requests captured from real boot firmware in QEMU (see `captures/README.md`):
//! each parses, is classified as the firmware that sent it, and gets a proxy
//! reply that never hands out an address.

use std::net::{Ipv4Addr, SocketAddrV4};

use bootherd_proto::client::{classify, Arch, Firmware};
use bootherd_proto::proxy::{proxy_ack, proxy_offer, reply_destination, Destination, ProxyAnswer};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, FLAG_BROADCAST};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// Bytes from a capture file: hex digits, whitespace ignored, `#` lines are comments.
fn hex_fixture(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn load(text: &str) -> DhcpPacket {
    let bytes = hex_fixture(text);
    let packet = DhcpPacket::parse(&bytes).expect("captured packet parses");
    // The codec keeps everything it parsed.
    assert_eq!(
        DhcpPacket::parse(&packet.emit()).expect("re-parse"),
        packet,
        "parse -> emit -> parse changed the packet"
    );
    packet
}

fn text(p: &DhcpPacket, code: u8) -> Option<String> {
    p.option(code)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

const IPXE_ROM_BIOS: &str = include_str!("captures/qemu-ipxe-rom-bios-discover.hex");
const OVMF_DISCOVER: &str = include_str!("captures/ovmf-uefi-pxe-discover.hex");
const OVMF_4011: &str = include_str!("captures/ovmf-uefi-pxe-4011-request.hex");
const IPXE_EFI: &str = include_str!("captures/ipxe-efi-discover.hex");

/// What every proxy reply to `request` must be: a reply to the same
/// transaction and client, with no address, naming this server, `PXEClient`,
/// option 97 echoed.
fn assert_proxy_reply(reply: &DhcpPacket, request: &DhcpPacket, kind: MessageType) {
    assert_eq!(reply.op, 2);
    assert_eq!(reply.message_type(), Some(kind));
    assert_eq!(reply.xid, request.xid);
    assert_eq!(reply.chaddr, request.chaddr);
    assert_eq!(
        reply.yiaddr,
        Ipv4Addr::UNSPECIFIED,
        "a proxy never gives an address"
    );
    assert_eq!(reply.siaddr, SERVER);
    assert_eq!(reply.server_id(), Some(SERVER));
    assert_eq!(text(reply, 60).as_deref(), Some("PXEClient"));
    assert_eq!(reply.option(97), request.option(97), "option 97 echoed");
    // The reply is a packet too.
    assert_eq!(DhcpPacket::parse(&reply.emit()).as_ref(), Ok(reply));
}

#[test]
fn ipxe_rom_under_seabios_is_ipxe() {
    let p = load(IPXE_ROM_BIOS);
    assert_eq!(p.op, 1);
    assert_eq!(p.message_type(), Some(MessageType::Discover));
    assert_eq!(
        text(&p, 60).as_deref(),
        Some("PXEClient:Arch:00000:UNDI:002001")
    );
    assert_eq!(p.client_archs(), vec![0]);
    assert_eq!(p.option(94).as_deref(), Some(&[1, 2, 1][..]));
    assert_eq!(p.user_class().as_deref(), Some(&b"iPXE"[..]));
    let uuid = p.client_uuid().expect("option 97");
    assert_eq!((uuid.len(), uuid[0]), (17, 0), "type 0 + 16-byte UUID");
    assert!(p.option(175).is_some(), "iPXE's encapsulated options");

    let client = classify(&p);
    assert_eq!(client.firmware, Firmware::Ipxe);
    assert_eq!(client.arch, Some(Arch::BiosX86));
    assert_eq!(client.mac, [0x52, 0x54, 0x00, 0x99, 0x00, 0xb1]);

    let url = format!("http://{SERVER}/boot.ipxe");
    let offer = proxy_offer(&p, SERVER, &ProxyAnswer::Ipxe { url: url.clone() });
    assert_proxy_reply(&offer, &p, MessageType::Offer);
    assert_ne!(offer.flags & FLAG_BROADCAST, 0);
    assert_eq!(offer.file_name(), url);
    assert_eq!(
        reply_destination(&p, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)),
        Destination::Broadcast
    );
}

#[test]
fn ovmf_discover_is_uefi_x64_pxe_and_is_sent_to_port_4011() {
    let p = load(OVMF_DISCOVER);
    assert_eq!(p.message_type(), Some(MessageType::Discover));
    assert_eq!(
        text(&p, 60).as_deref(),
        Some("PXEClient:Arch:00007:UNDI:003000")
    );
    assert_eq!(p.client_archs(), vec![7]);
    assert_eq!(p.option(94).as_deref(), Some(&[1, 3, 0][..]));
    assert_eq!(p.user_class(), None, "EDK2 sends no user class");
    assert_ne!(
        p.flags & FLAG_BROADCAST,
        0,
        "EDK2 asks for broadcast replies"
    );
    let params = p.requested_params();
    for code in [43, 60, 66, 67, 97] {
        assert!(params.contains(&code), "option 55 asks for {code}");
    }

    let client = classify(&p);
    assert_eq!(client.firmware, Firmware::UefiPxe);
    assert_eq!(client.arch, Some(Arch::UefiX64));

    let answer = ProxyAnswer::PxeVia4011 {
        file: "ipxe.efi".into(),
    };
    let offer = proxy_offer(&p, SERVER, &answer);
    assert_proxy_reply(&offer, &p, MessageType::Offer);
    // No option 43 and no boot file: EDK2 then asks the proxy on port 4011.
    assert_eq!(offer.option(43), None);
    assert_eq!(offer.option(67), None);
    assert_eq!(offer.file_name(), "");
}

#[test]
fn ovmf_port_4011_request_gets_the_boot_file() {
    let p = load(OVMF_4011);
    assert_eq!(p.message_type(), Some(MessageType::Request));
    assert_eq!(
        p.ciaddr,
        Ipv4Addr::new(10, 99, 0, 177),
        "its lease from the LAN server"
    );
    assert_eq!(p.server_id(), None, "EDK2 names no server on port 4011");
    assert_eq!(p.client_archs(), vec![7]);
    let discover = load(OVMF_DISCOVER);
    assert_eq!(
        p.option(97),
        discover.option(97),
        "same UUID as its DISCOVER"
    );

    let client = classify(&p);
    assert_eq!(client.firmware, Firmware::UefiPxe);
    assert_eq!(client.arch, Some(Arch::UefiX64));

    let answer = ProxyAnswer::PxeVia4011 {
        file: "ipxe.efi".into(),
    };
    let ack = proxy_ack(&p, SERVER, &answer);
    assert_proxy_reply(&ack, &p, MessageType::Ack);
    assert_eq!(ack.file_name(), "ipxe.efi");
    assert_eq!(ack.ciaddr, p.ciaddr);
    // An offer built for it obeys the same rules.
    assert_proxy_reply(&proxy_offer(&p, SERVER, &answer), &p, MessageType::Offer);
    // The ACK goes back where the request came from (port 4011 to port 4011).
    let source = SocketAddrV4::new(p.ciaddr, 4011);
    assert_eq!(reply_destination(&p, source), Destination::Unicast(source));
}

#[test]
fn ipxe_efi_on_ovmf_is_ipxe_with_uefi_x64() {
    let p = load(IPXE_EFI);
    assert_eq!(p.message_type(), Some(MessageType::Discover));
    assert_eq!(
        text(&p, 60).as_deref(),
        Some("PXEClient:Arch:00007:UNDI:003010")
    );
    assert_eq!(p.user_class().as_deref(), Some(&b"iPXE"[..]));

    let client = classify(&p);
    assert_eq!(client.firmware, Firmware::Ipxe);
    assert_eq!(client.arch, Some(Arch::UefiX64));

    let url = format!("http://{SERVER}/boot.ipxe");
    let offer = proxy_offer(&p, SERVER, &ProxyAnswer::Ipxe { url: url.clone() });
    assert_proxy_reply(&offer, &p, MessageType::Offer);
    assert_eq!(offer.file_name(), url);
}

#[test]
fn hex_fixture_reader_skips_comments() {
    assert_eq!(hex_fixture("# x 00\n0a0B\n ff \n"), vec![0x0a, 0x0b, 0xff]);
}
