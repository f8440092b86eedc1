//! Any datagram: parse it as DHCP, tell the firmware, and build the proxy
//! offer and ACK that firmware would get. The parser's result re-emits to
//! itself, and every reply re-parses (to the same bytes) as a BOOTREPLY
//! with `yiaddr` 0 that answers the request.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use bootherd_proto::client::{classify, Firmware};
use bootherd_proto::proxy::{proxy_ack, proxy_offer, reply_destination, ProxyAnswer};
use bootherd_proto::wire::dhcp::{code, DhcpPacket, MessageType, BOOTREPLY, BOOTREQUEST};
use libfuzzer_sys::fuzz_target;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

/// A URL longer than the 127 bytes `file` holds: it goes in option 67 only.
const LONG_URL: &str = "http://192.168.1.10/boot/a-rather-long-path/that-does-not-fit/\
                        in-the-bootp-file-field/of-128-bytes/so-it-lives-in-option-67/boot.ipxe";

/// The answers the policy could give this firmware, with a short and a long
/// boot file name; none for clients a proxy does not answer.
fn answers(firmware: &Firmware) -> Vec<ProxyAnswer> {
    let names = ["boot/file.efi", LONG_URL];
    match firmware {
        Firmware::NotBoot | Firmware::UBoot => Vec::new(),
        Firmware::RpiRom | Firmware::RpiEeprom(_) => vec![ProxyAnswer::RaspberryPi],
        Firmware::BiosPxe => names
            .map(|f| ProxyAnswer::PxeDirect { file: f.into() })
            .into(),
        Firmware::UefiPxe => names
            .map(|f| ProxyAnswer::PxeVia4011 { file: f.into() })
            .into(),
        Firmware::Ipxe => names.map(|u| ProxyAnswer::Ipxe { url: u.into() }).into(),
        Firmware::UefiHttp => names
            .map(|u| ProxyAnswer::HttpBoot { uri: u.into() })
            .into(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = DhcpPacket::parse(data) else {
        return;
    };
    let emitted = request.emit();
    assert_eq!(emitted.len(), request.buffer_len());
    let again = DhcpPacket::parse(&emitted).expect("an emitted packet parses");
    assert_eq!(again, request, "parse(emit(p)) != p");

    let client = classify(&request);
    assert_eq!(client.xid, request.xid);
    if request.op != BOOTREQUEST || request.htype != 1 || request.hlen != 6 {
        assert_eq!(client.firmware, Firmware::NotBoot, "{client:?}");
    }
    if client.firmware != Firmware::NotBoot {
        assert_eq!(client.mac[..], request.chaddr[..6]);
    }
    let _ = reply_destination(&request, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 7), 68));

    for answer in answers(&client.firmware) {
        for (kind, reply) in [
            (MessageType::Offer, proxy_offer(&request, SERVER, &answer)),
            (MessageType::Ack, proxy_ack(&request, SERVER, &answer)),
        ] {
            let bytes = reply.emit();
            let parsed = DhcpPacket::parse(&bytes).expect("a proxy reply parses");
            // An echoed option over 255 bytes goes out split (RFC 3396): compare
            // wire forms.
            assert_eq!(
                parsed.emit(),
                bytes,
                "the reply re-parses to the same bytes"
            );
            assert_eq!(parsed.op, BOOTREPLY);
            assert_eq!(
                parsed.yiaddr,
                Ipv4Addr::UNSPECIFIED,
                "a proxy never gives an address"
            );
            assert_eq!(parsed.xid, request.xid);
            assert_eq!(parsed.chaddr, request.chaddr);
            assert_eq!(parsed.giaddr, request.giaddr);
            assert_eq!(parsed.siaddr, SERVER);
            assert_eq!(parsed.message_type(), Some(kind));
            assert_eq!(parsed.server_id(), Some(SERVER));
            let file = match &answer {
                ProxyAnswer::RaspberryPi => None,
                ProxyAnswer::PxeVia4011 { .. } if kind == MessageType::Offer => None,
                ProxyAnswer::PxeDirect { file } | ProxyAnswer::PxeVia4011 { file } => Some(file),
                ProxyAnswer::Ipxe { url } => Some(url),
                ProxyAnswer::HttpBoot { uri } => Some(uri),
            };
            match file {
                Some(file) => {
                    let option = parsed.option(code::BOOTFILE_NAME);
                    assert_eq!(option.as_deref(), Some(file.as_bytes()));
                    if file.len() < 128 {
                        assert_eq!(&parsed.file_name(), file);
                    }
                }
                None => assert!(parsed.option(code::BOOTFILE_NAME).is_none()),
            }
            if answer == ProxyAnswer::RaspberryPi {
                // The Pi reads the menu text by substring search in option 43.
                let vendor = parsed.option(code::VENDOR_SPECIFIC).expect("option 43");
                assert!(vendor
                    .windows(bootherd_proto::proxy::RPI_BOOT_MENU.len())
                    .any(|w| w == bootherd_proto::proxy::RPI_BOOT_MENU));
            }
        }
    }
});
