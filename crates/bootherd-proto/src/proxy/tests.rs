use super::*;
use crate::client::{classify, Firmware};
use crate::golden;
use crate::wire::dhcp::{pxe::PxeVendorOptions, RawOption, BOOTREPLY, PXE_PORT};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

fn parse(bytes: &[u8]) -> DhcpPacket {
    DhcpPacket::parse(bytes).unwrap()
}

fn codes(packet: &DhcpPacket) -> Vec<u8> {
    packet.options.iter().map(|o| o.code).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The exact proxy offer for the Raspberry Pi 3B ROM DISCOVER of
/// raspberrypi/firmware#859, built from the rules of PROTOCOLS.md sections
/// 1 and 4: dnsmasq's option order and option 43, with the three spaces.
fn expected_pi_offer() -> Vec<u8> {
    let mut out = vec![
        0x02, 0x01, 0x06, 0x00, // op, htype, hlen, hops
        0x26, 0xf3, 0x03, 0x39, // xid
        0x00, 0x00, 0x80, 0x00, // secs, flags: broadcast
        0, 0, 0, 0, // ciaddr
        0, 0, 0, 0, // yiaddr: never an address
        192, 168, 1, 10, // siaddr: the server
        0, 0, 0, 0, // giaddr
        0xb8, 0x27, 0xeb, 0x1c, 0xff, 0x5b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // chaddr
    ];
    out.extend_from_slice(&[0; 192]); // sname, file
    out.extend_from_slice(b"\x63\x82\x53\x63");
    out.extend_from_slice(b"\x35\x01\x02"); // OFFER
    out.extend_from_slice(b"\x36\x04\xc0\xa8\x01\x0a"); // server id
    out.extend_from_slice(b"\x3c\x09PXEClient");
    out.extend_from_slice(b"\x61\x11"); // option 97 echoed
    out.extend_from_slice(golden::PI3_UUID);
    out.extend_from_slice(b"\x2b\x23"); // option 43, 35 bytes
    out.extend_from_slice(b"\x06\x01\x03");
    out.extend_from_slice(b"\x0a\x04\x00PXE");
    out.extend_from_slice(b"\x09\x17\x00\x00\x14Raspberry Pi Boot   ");
    out.extend_from_slice(b"\xff");
    out.extend_from_slice(b"\xff"); // end; 317 bytes, no padding needed
    out
}

#[test]
fn raspberry_pi_offer_golden_bytes() {
    let request = parse(&golden::pi3_rom_discover());
    assert_eq!(classify(&request).firmware, Firmware::RpiRom);
    let offer = proxy_offer(&request, SERVER, &ProxyAnswer::RaspberryPi);
    let expected = expected_pi_offer();
    assert_eq!(expected.len(), 317);
    // Pre-filled so that a byte the emitter forgets to write shows up.
    let mut out = vec![0xa5; 400];
    assert_eq!(offer.emit_into(&mut out), Some(317));
    assert_eq!(&out[..317], &expected[..]);
    assert!(out[317..].iter().all(|&b| b == 0xa5));
    assert_eq!(offer.emit(), expected);
}

/// The ROM searches option 43 for the bytes `Raspberry Pi Boot`
/// (openSUSE/netboot-rpi3b).
#[test]
fn raspberry_pi_option_43_contains_the_match_string() {
    let offer = proxy_offer(
        &parse(&golden::pi4_eeprom_fourcc_discover()),
        SERVER,
        &ProxyAnswer::RaspberryPi,
    );
    let option43 = offer.option(code::VENDOR_SPECIFIC).unwrap();
    assert!(contains(&option43, b"Raspberry Pi Boot"));
    assert!(contains(&offer.emit(), b"Raspberry Pi Boot   "));
    assert_eq!(
        PxeVendorOptions::parse(&option43),
        PxeVendorOptions {
            discovery_control: Some(3),
            boot_menu: vec![(0, RPI_BOOT_MENU.to_vec())],
            menu_prompt: Some((0, b"PXE".to_vec())),
            ..PxeVendorOptions::default()
        }
    );
}

/// dnsmasq's offer to a 3B+ in raspberrypi/firmware#941 (tcpdump decode,
/// `pxe-service=0,"Raspberry Pi Boot  "` with two spaces): same options in
/// the same order; our option 43 differs only by the third space.
#[test]
fn matches_dnsmasq_offer_of_raspberrypi_firmware_941() {
    let dnsmasq_43: Vec<u8> = [
        6, 1, 3, 10, 4, 0, 80, 88, 69, 9, 22, 0, 0, 19, 82, 97, 115, 112, 98, 101, 114, 114, 121,
        32, 80, 105, 32, 66, 111, 111, 116, 32, 32, 255,
    ]
    .to_vec();
    let mut ours = raspberry_pi_vendor_options();
    assert_eq!(ours.len(), dnsmasq_43.len() + 1);
    ours.remove(ours.len() - 2); // one trailing space
    ours[10] -= 1; // sub-option 9 length
    ours[13] -= 1; // text length
    assert_eq!(ours, dnsmasq_43);

    let mut request = parse(&golden::pi3_rom_discover());
    let uuid: Vec<u8> = [0]
        .into_iter()
        .chain([245, 150, 134, 141].repeat(4))
        .collect();
    request.set_option(code::CLIENT_UUID, uuid);
    let offer = proxy_offer(&request, SERVER, &ProxyAnswer::RaspberryPi);
    // Offer, Server-ID, Vendor-Class "PXEClient", GUID, Vendor-Option, end.
    assert_eq!(codes(&offer), [53, 54, 60, 97, 43]);
    assert_eq!(offer.flags, FLAG_BROADCAST);
}

#[test]
fn bios_pxe_gets_a_direct_download() {
    let request = parse(&golden::pi3_rom_discover()); // same shape as a BIOS PC
    let answer = ProxyAnswer::PxeDirect {
        file: "bios/undionly.kpxe".into(),
    };
    let offer = proxy_offer(&request, SERVER, &answer);
    assert_eq!(codes(&offer), [53, 54, 60, 97, 43, 67]);
    assert_eq!(offer.option(43).as_deref(), Some(&[6, 1, 8, 255][..]));
    assert_eq!(
        offer.option(67).as_deref(),
        Some(&b"bios/undionly.kpxe"[..])
    );
    assert_eq!(offer.file_name(), "bios/undionly.kpxe");
    assert_eq!(offer.server_name(), "192.168.1.10");
    assert_eq!(offer.siaddr, SERVER);
}

#[test]
fn uefi_pxe_offer_sends_the_client_to_port_4011() {
    let discover = parse(&golden::ovmf_discover());
    let answer = ProxyAnswer::PxeVia4011 {
        file: "uefi/ipxe.efi".into(),
    };
    let offer = proxy_offer(&discover, SERVER, &answer);
    assert_eq!(codes(&offer), [53, 54, 60, 97]);
    assert_eq!(offer.file, [0; 128]);
    assert_eq!(offer.sname, [0; 64]);
    assert_eq!(offer.flags, FLAG_BROADCAST);

    // The REQUEST the client then sends to port 4011.
    let mut request = discover.clone();
    request.set_option(53, [3]);
    request.ciaddr = Ipv4Addr::new(192, 168, 1, 77);
    request.flags = 0;
    let ack = proxy_ack(&request, SERVER, &answer);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(codes(&ack), [53, 54, 60, 97, 67]);
    assert_eq!(ack.file_name(), "uefi/ipxe.efi");
    assert_eq!(ack.option(67).as_deref(), Some(&b"uefi/ipxe.efi"[..]));
    assert_eq!(ack.server_name(), "192.168.1.10");
    assert_eq!(ack.ciaddr, Ipv4Addr::new(192, 168, 1, 77));
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.flags, 0);
}

/// iPXE's ProxyDHCPREQUEST names boot item 0x8000 layer 0
/// (ipxe/ipxe#1374); the ACK echoes it.
#[test]
fn ack_echoes_the_requested_boot_item() {
    let mut request = parse(&golden::ipxe_bios_discover());
    request.set_option(53, [3]);
    request.set_option(43, [71, 4, 0x80, 0, 0, 0, 255]);
    let answer = ProxyAnswer::Ipxe {
        url: "http://192.168.1.10:8080/boot.ipxe".into(),
    };
    let ack = proxy_ack(&request, SERVER, &answer);
    assert_eq!(
        ack.option(43).as_deref(),
        Some(&[71, 4, 0x80, 0, 0, 0, 255][..])
    );
    let direct = proxy_ack(
        &request,
        SERVER,
        &ProxyAnswer::PxeDirect {
            file: "undionly.kpxe".into(),
        },
    );
    assert_eq!(
        direct.option(43).as_deref(),
        Some(&[6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255][..])
    );
    // Offers never echo it.
    let offer = proxy_offer(&request, SERVER, &answer);
    assert_eq!(offer.option(43), None);
}

#[test]
fn ipxe_gets_its_script_url() {
    let request = parse(&golden::ipxe_bios_discover());
    let url = "http://192.168.1.10:8080/m/02-00-10-ad-4a-47/boot.ipxe";
    let offer = proxy_offer(&request, SERVER, &ProxyAnswer::Ipxe { url: url.into() });
    assert_eq!(codes(&offer), [53, 54, 60, 67]);
    assert_eq!(offer.file_name(), url);
    assert_eq!(offer.option(67).as_deref(), Some(url.as_bytes()));

    // Too long for `file`: option 67 only.
    let long = format!("http://192.168.1.10/{}", "x".repeat(200));
    let offer = proxy_offer(&request, SERVER, &ProxyAnswer::Ipxe { url: long.clone() });
    assert_eq!(offer.file, [0; 128]);
    assert_eq!(offer.option(67).as_deref(), Some(long.as_bytes()));
    assert_eq!(
        parse(&offer.emit()).option(67).as_deref(),
        Some(long.as_bytes())
    );
}

/// EDK2 `HttpBootDhcp4.c`: an offer is an HTTP offer when option 60 starts
/// with `HTTPClient`, and must then carry a URI (option 67 first).
#[test]
fn uefi_http_boot_gets_httpclient_and_a_uri() {
    let request = parse(&golden::uefi_http_discover());
    let uri = "http://192.168.1.10:8080/uefi/x64/grubx64.efi";
    let offer = proxy_offer(&request, SERVER, &ProxyAnswer::HttpBoot { uri: uri.into() });
    assert_eq!(codes(&offer), [53, 54, 60, 97, 67]);
    assert_eq!(offer.vendor_class().as_deref(), Some("HTTPClient"));
    assert_eq!(offer.option(67).as_deref(), Some(uri.as_bytes()));
    assert_eq!(offer.file_name(), uri);
    assert_eq!(offer.option(43), None);
    // EDK2 takes a reply as proxy when yiaddr's first byte is 0.
    assert_eq!(offer.yiaddr.octets()[0], 0);
}

#[test]
fn option_97_is_echoed_only_when_sent() {
    let request = parse(&golden::linux_discover());
    let offer = proxy_offer(&request, SERVER, &ProxyAnswer::RaspberryPi);
    assert_eq!(offer.option(97), None);
    // Echoed verbatim, even when malformed.
    let mut request = parse(&golden::pi3_rom_discover());
    request.set_option(97, [1, 2, 3]);
    let offer = proxy_offer(&request, SERVER, &ProxyAnswer::RaspberryPi);
    assert_eq!(offer.option(97).as_deref(), Some(&[1, 2, 3][..]));
}

fn answers() -> Vec<ProxyAnswer> {
    vec![
        ProxyAnswer::RaspberryPi,
        ProxyAnswer::PxeDirect {
            file: "bios/undionly.kpxe".into(),
        },
        ProxyAnswer::PxeVia4011 {
            file: "uefi/ipxe.efi".into(),
        },
        ProxyAnswer::Ipxe {
            url: "http://192.168.1.10/boot.ipxe".into(),
        },
        ProxyAnswer::HttpBoot {
            uri: "http://192.168.1.10/boot.efi".into(),
        },
    ]
}

/// The rules every proxy reply keeps, for every answer and every golden
/// request, offers and ACKs, even when the request came with a `yiaddr`.
#[test]
fn every_reply_keeps_the_proxy_rules() {
    for (name, bytes) in golden::all_requests() {
        let mut request = parse(&bytes);
        for dirty in [false, true] {
            if dirty {
                request.yiaddr = Ipv4Addr::new(10, 9, 9, 9);
                request.siaddr = Ipv4Addr::new(10, 9, 9, 8);
                request.giaddr = Ipv4Addr::new(10, 9, 9, 1);
                request.hops = 1;
            }
            for answer in answers() {
                for (kind, reply) in [
                    (MessageType::Offer, proxy_offer(&request, SERVER, &answer)),
                    (MessageType::Ack, proxy_ack(&request, SERVER, &answer)),
                ] {
                    let what = format!("{name}, {answer:?}, {kind:?}, dirty {dirty}");
                    assert_eq!(reply.yiaddr, Ipv4Addr::UNSPECIFIED, "{what}");
                    assert_eq!(reply.op, BOOTREPLY, "{what}");
                    assert_eq!(reply.siaddr, SERVER, "{what}");
                    assert_eq!(reply.xid, request.xid, "{what}");
                    assert_eq!(reply.chaddr, request.chaddr, "{what}");
                    assert_eq!(reply.giaddr, request.giaddr, "{what}");
                    assert_eq!(reply.hops, 0, "{what}");
                    assert_eq!(
                        reply.options[0],
                        RawOption::new(53, [kind.code()]),
                        "{what}"
                    );
                    assert_eq!(reply.server_id(), Some(SERVER), "{what}");
                    let class = match answer {
                        ProxyAnswer::HttpBoot { .. } => "HTTPClient",
                        _ => "PXEClient",
                    };
                    assert_eq!(reply.vendor_class().as_deref(), Some(class), "{what}");
                    assert_eq!(reply.client_uuid(), request.client_uuid(), "{what}");
                    if kind == MessageType::Offer {
                        assert_ne!(reply.flags & FLAG_BROADCAST, 0, "{what}");
                    } else {
                        assert_eq!(reply.flags, request.flags, "{what}");
                    }
                    // What goes on the wire says the same.
                    let wire = parse(&reply.emit());
                    assert_eq!(wire, reply, "{what}");
                    assert_eq!(wire.yiaddr, Ipv4Addr::UNSPECIFIED, "{what}");
                }
            }
        }
    }
}

fn source(ip: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(ip), port)
}

#[test]
fn reply_destinations() {
    let discover = parse(&golden::pi3_rom_discover());
    let from_nowhere = source([0, 0, 0, 0], CLIENT_PORT);
    assert_eq!(
        reply_destination(&discover, from_nowhere),
        Destination::Broadcast
    );

    // Relayed: back to the relay's server port.
    let mut relayed = discover.clone();
    relayed.giaddr = Ipv4Addr::new(10, 1, 0, 1);
    assert_eq!(
        reply_destination(&relayed, source([10, 1, 0, 1], SERVER_PORT)),
        Destination::Relay(source([10, 1, 0, 1], SERVER_PORT))
    );

    // iPXE's REQUEST to port 4011: from its address, port 68, broadcast
    // flag set (ipxe/ipxe#1374); answered at its source.
    let mut proxy_request = parse(&golden::ipxe_bios_discover());
    proxy_request.set_option(53, [3]);
    proxy_request.ciaddr = Ipv4Addr::new(192, 168, 1, 181);
    proxy_request.flags = FLAG_BROADCAST;
    let client = source([192, 168, 1, 181], CLIENT_PORT);
    assert_eq!(
        reply_destination(&proxy_request, client),
        Destination::Unicast(client)
    );
    // A client that sent from port 4011 gets its answer there.
    let client = source([192, 168, 1, 181], PXE_PORT);
    assert_eq!(
        reply_destination(&proxy_request, client),
        Destination::Unicast(client)
    );

    // ciaddr without a usable source: ciaddr:68 unless it asked for
    // broadcast.
    let mut inform = proxy_request.clone();
    inform.set_option(53, [8]);
    inform.flags = 0;
    assert_eq!(
        reply_destination(&inform, from_nowhere),
        Destination::Unicast(source([192, 168, 1, 181], CLIENT_PORT))
    );
    inform.flags = FLAG_BROADCAST;
    assert_eq!(
        reply_destination(&inform, from_nowhere),
        Destination::Broadcast
    );

    // A DISCOVER is always broadcast, even from a source with an address.
    assert_eq!(
        reply_destination(&discover, source([192, 168, 1, 50], CLIENT_PORT)),
        Destination::Broadcast
    );
}
