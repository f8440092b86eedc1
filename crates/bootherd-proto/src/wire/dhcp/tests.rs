use super::*;
use crate::golden;
use crate::testrng::XorShift;

fn opt(code: u8, data: &[u8]) -> RawOption {
    RawOption::new(code, data)
}

fn with_mac(mac: [u8; 6]) -> [u8; 16] {
    let mut chaddr = [0; 16];
    chaddr[..6].copy_from_slice(&mac);
    chaddr
}

/// The Raspberry Pi 3B ROM DISCOVER of [`golden::pi3_rom_discover`] as a
/// packet.
fn pi3_rom_discover() -> DhcpPacket {
    DhcpPacket {
        xid: 0x26f3_0339,
        chaddr: with_mac(golden::PI3_MAC),
        options: vec![
            opt(53, &[1]),
            opt(
                55,
                &[43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66],
            ),
            opt(93, &[0, 0]),
            opt(94, &[1, 2, 1]),
            opt(97, golden::PI3_UUID),
            opt(60, b"PXEClient:Arch:00000:UNDI:002001"),
        ],
        ..DhcpPacket::default()
    }
}

#[test]
fn parses_pi3_rom_discover() {
    let bytes = golden::pi3_rom_discover();
    assert_eq!(bytes.len(), 320);
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(packet, pi3_rom_discover());
    assert_eq!(packet.message_type(), Some(MessageType::Discover));
    assert_eq!(packet.mac(), Some(golden::PI3_MAC));
    assert_eq!(packet.client_archs(), [0]);
    assert_eq!(packet.client_uuid().as_deref(), Some(golden::PI3_UUID));
    assert_eq!(
        packet.vendor_class().as_deref(),
        Some("PXEClient:Arch:00000:UNDI:002001")
    );
    assert_eq!(packet.requested_params()[..3], [43, 60, 67]);
    assert_eq!(packet.server_id(), None);
}

#[test]
fn emits_pi3_rom_discover() {
    let packet = pi3_rom_discover();
    let golden = golden::pi3_rom_discover();
    assert_eq!(packet.buffer_len(), golden.len());
    // Pre-filled so that a byte the emitter forgets to write shows up.
    let mut out = vec![0xa5; 400];
    assert_eq!(packet.emit_into(&mut out), Some(320));
    assert_eq!(&out[..320], &golden[..]);
    assert!(out[320..].iter().all(|&b| b == 0xa5));
    assert_eq!(packet.emit(), golden);
}

#[test]
fn parses_pi4_eeprom_discover() {
    let bytes = golden::pi4_eeprom_discover();
    assert_eq!(bytes.len(), 322, "the Wireshark frame was 364 bytes");
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(packet.xid, 0x5ad5_0db4);
    assert_eq!(packet.mac(), Some(golden::PI4_MAC));
    assert_eq!(packet.client_archs(), [0]);
    assert_eq!(
        packet.requested_params(),
        [1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135]
    );
    let uuid = packet.client_uuid().unwrap();
    assert_eq!(uuid.len(), 17);
    assert_eq!(uuid[1..5], [0x43, 0x72, 0xee, 0x6a]);
    assert_eq!(packet.emit(), bytes);
}

/// Every golden request emits back to its own bytes (padded to 300 where
/// it was shorter, as U-Boot's are).
#[test]
fn golden_requests_emit_byte_for_byte() {
    for (name, bytes) in golden::all_requests() {
        let packet = DhcpPacket::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut expected = bytes.clone();
        if expected.len() < MIN_PACKET_LEN {
            expected.resize(MIN_PACKET_LEN, 0);
        }
        assert_eq!(packet.emit(), expected, "{name}");
        assert_eq!(packet.message_type(), Some(MessageType::Discover), "{name}");
    }
}

/// The real Linux capture ends with 46 pad bytes after the end option.
#[test]
fn padding_after_end_is_ignored_and_rewritten() {
    let bytes = golden::linux_discover();
    assert_eq!(bytes.len(), 300);
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(
        packet.options,
        vec![opt(53, &[1]), opt(55, &[1, 28, 2, 3, 15, 6, 12, 42])]
    );
    let mut out = vec![0xa5; 310];
    assert_eq!(packet.emit_into(&mut out), Some(300));
    assert_eq!(&out[..300], &bytes[..]);
    assert_eq!(out[300..], [0xa5; 10]);
}

#[test]
fn short_packets_are_padded_to_bootp_minimum() {
    let packet = DhcpPacket {
        options: vec![opt(53, &[1])],
        ..DhcpPacket::default()
    };
    let bytes = packet.emit();
    assert_eq!(bytes.len(), MIN_PACKET_LEN);
    assert_eq!(bytes[240..244], [53, 1, 1, 255]);
    assert!(bytes[244..].iter().all(|&b| b == 0));
}

#[test]
fn emit_into_a_short_buffer_writes_nothing() {
    let packet = pi3_rom_discover();
    let mut out = vec![0xa5; 319];
    assert_eq!(packet.emit_into(&mut out), None);
    assert!(out.iter().all(|&b| b == 0xa5));
}

#[test]
fn rejects_what_is_not_dhcp() {
    let good = golden::pi3_rom_discover();
    assert_eq!(
        DhcpPacket::parse(&good[..239]),
        Err(ParseError::Truncated { len: 239 })
    );
    assert_eq!(
        DhcpPacket::parse(&[]),
        Err(ParseError::Truncated { len: 0 })
    );
    let mut bad_op = good.clone();
    bad_op[0] = 3;
    assert_eq!(DhcpPacket::parse(&bad_op), Err(ParseError::BadOp(3)));
    let mut bootp = good.clone();
    bootp[236..240].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        DhcpPacket::parse(&bootp),
        Err(ParseError::BadMagic([0, 0, 0, 0]))
    );
    // Header and cookie alone: a packet without options.
    let packet = DhcpPacket::parse(&good[..240]).unwrap();
    assert!(packet.options.is_empty());
    assert_eq!(packet.message_type(), None);
}

/// Builds a request with the given bytes after the magic cookie.
fn with_options(options: &[u8]) -> Vec<u8> {
    let mut bytes = golden::pi3_rom_discover()[..240].to_vec();
    bytes.extend_from_slice(options);
    bytes
}

#[test]
fn an_option_running_past_the_end_keeps_what_came_before() {
    let bytes = with_options(b"\x35\x01\x01\x3c\x09PXEClient\x61\x11\x00\x01\x02");
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(packet.options, vec![opt(53, &[1]), opt(60, b"PXEClient")]);
    // A code without its length byte.
    let packet = DhcpPacket::parse(&with_options(b"\x35\x01\x01\x3c")).unwrap();
    assert_eq!(packet.options, vec![opt(53, &[1])]);
    // No end option at all.
    let packet = DhcpPacket::parse(&with_options(b"\x00\x35\x01\x01\x00")).unwrap();
    assert_eq!(packet.options, vec![opt(53, &[1])]);
}

/// dhcproto drops every option after a malformed option 94; here a 94 of
/// the wrong length is just bytes and option 60 after it survives.
#[test]
fn malformed_option_94_loses_nothing() {
    let bytes =
        with_options(b"\x35\x01\x01\x5e\x02\x01\x02\x3c\x09PXEClient\x5d\x04\x00\x07\x00\x09\xff");
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(packet.option(94).as_deref(), Some(&[1, 2][..]));
    assert_eq!(packet.vendor_class().as_deref(), Some("PXEClient"));
    // Every architecture of option 93, not only the first.
    assert_eq!(packet.client_archs(), [7, 9]);
}

#[test]
fn odd_byte_of_option_93_is_ignored() {
    let packet = DhcpPacket::parse(&with_options(b"\x5d\x03\x00\x0b\x01\xff")).unwrap();
    assert_eq!(packet.client_archs(), [11]);
    let packet = DhcpPacket::parse(&with_options(b"\xff")).unwrap();
    assert!(packet.client_archs().is_empty());
}

/// Option overload (RFC 2132 section 9.3): options field, then `file`,
/// then `sname` (RFC 2131 section 4.1); option 52 itself is consumed.
#[test]
fn option_overload_is_honoured() {
    let mut bytes = with_options(b"\x35\x01\x02\x34\x01\x03\x43\x03abc\xff");
    bytes[108..116].copy_from_slice(b"\x43\x03def\x42\x01x"); // file: 67, 66
    bytes[116] = 0xff;
    bytes[44..50].copy_from_slice(b"\x0c\x04host"); // sname: 12
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(
        packet.options,
        vec![
            opt(53, &[2]),
            opt(67, b"abc"),
            opt(67, b"def"),
            opt(66, b"x"),
            opt(12, b"host"),
        ]
    );
    assert_eq!(packet.option(67).as_deref(), Some(&b"abcdef"[..]));
    assert_eq!(packet.file, [0; 128]);
    assert_eq!(packet.sname, [0; 64]);
    // Re-emitted without overload, the same packet comes back.
    assert_eq!(DhcpPacket::parse(&packet.emit()).unwrap(), packet);
}

#[test]
fn overload_of_file_only_leaves_sname_a_name() {
    let mut bytes = with_options(b"\x34\x01\x01\xff");
    bytes[108..112].copy_from_slice(b"\x43\x02ab");
    bytes[44..48].copy_from_slice(b"srv\0");
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(packet.options, vec![opt(67, b"ab")]);
    assert_eq!(packet.server_name(), "srv");
}

#[test]
fn meaningless_overload_is_dropped() {
    let mut bytes = with_options(b"\x34\x00\x34\x01\x04\xff");
    bytes[108..112].copy_from_slice(b"\x43\x02ab");
    let packet = DhcpPacket::parse(&bytes).unwrap();
    assert!(packet.options.is_empty());
    assert_eq!(packet.file[..4], *b"\x43\x02ab");
}

/// RFC 3396: long options are split on emit, concatenated by `option`.
#[test]
fn long_options_split_and_concatenate() {
    let data: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let mut packet = DhcpPacket::default();
    packet.set_option(43, data.clone());
    let bytes = packet.emit();
    assert_eq!(bytes.len(), 240 + 3 * 2 + 600 + 1);
    assert_eq!(bytes[240..242], [43, 255]);
    assert_eq!(bytes[497..499], [43, 255]);
    assert_eq!(bytes[754..756], [43, 90]);
    let parsed = DhcpPacket::parse(&bytes).unwrap();
    assert_eq!(parsed.options.len(), 3);
    assert_eq!(parsed.option(43).as_deref(), Some(&data[..]));
    // An empty option is still written.
    let mut packet = DhcpPacket::default();
    packet.set_option(80, []);
    assert_eq!(packet.emit()[240..243], [80, 0, 255]);
}

#[test]
fn emit_skips_pad_end_and_overload_entries() {
    let packet = DhcpPacket {
        options: vec![opt(0, b"x"), opt(53, &[1]), opt(255, b"y"), opt(52, &[3])],
        ..DhcpPacket::default()
    };
    assert_eq!(packet.emit()[240..244], [53, 1, 1, 255]);
    assert_eq!(packet.buffer_len(), 300);
}

#[test]
fn set_option_replaces_or_appends() {
    let mut packet = DhcpPacket {
        options: vec![opt(53, &[1]), opt(43, b"a"), opt(60, b"x"), opt(43, b"b")],
        ..DhcpPacket::default()
    };
    packet.set_option(43, *b"new");
    assert_eq!(
        packet.options,
        vec![opt(53, &[1]), opt(43, b"new"), opt(60, b"x")]
    );
    packet.set_option(54, [10, 0, 0, 1]);
    assert_eq!(packet.options[3], opt(54, &[10, 0, 0, 1]));
    assert_eq!(packet.server_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    packet.remove_option(43);
    assert_eq!(packet.option(43), None);
}

#[test]
fn accessors_are_tolerant() {
    let mut packet = DhcpPacket::default();
    packet.set_option(54, [10, 0, 0]);
    assert_eq!(packet.server_id(), None);
    packet.set_option(50, [192, 168, 1, 23]);
    assert_eq!(packet.requested_ip(), Some(Ipv4Addr::new(192, 168, 1, 23)));
    packet.set_option(53, []);
    assert_eq!(packet.message_type(), None);
    packet.set_option(53, [42]);
    assert_eq!(packet.message_type(), Some(MessageType::Unknown(42)));
    packet.set_option(60, *b"PXEClient\0\0");
    assert_eq!(packet.vendor_class().as_deref(), Some("PXEClient"));
    packet.set_option(60, *b"\xffbad");
    assert_eq!(packet.vendor_class().as_deref(), Some("\u{fffd}bad"));
    packet.set_option(77, *b"\x04iPXE");
    assert_eq!(packet.user_class().as_deref(), Some(&b"\x04iPXE"[..]));
    assert!(packet.requested_params().is_empty());

    packet.chaddr = with_mac([1, 2, 3, 4, 5, 6]);
    assert_eq!(packet.mac(), Some([1, 2, 3, 4, 5, 6]));
    packet.hlen = 16;
    assert_eq!(packet.mac(), None);
    packet.hlen = 6;
    packet.htype = 6; // IEEE 802
    assert_eq!(packet.mac(), None);
}

#[test]
fn file_and_sname_are_nul_padded_and_bounded() {
    let mut packet = DhcpPacket {
        file: [b'x'; 128],
        ..DhcpPacket::default()
    };
    packet.set_file("pxelinux.0").unwrap();
    assert_eq!(packet.file[..11], *b"pxelinux.0\0");
    assert!(packet.file[10..].iter().all(|&b| b == 0));
    assert_eq!(packet.file_name(), "pxelinux.0");

    let longest = "f".repeat(127);
    packet.set_file(&longest).unwrap();
    assert_eq!(packet.file[127], 0);
    assert_eq!(packet.file_name(), longest);
    assert_eq!(
        packet.set_file(&"f".repeat(128)),
        Err(FieldError::TooLong {
            field: "file",
            len: 128,
            max: 127
        })
    );
    assert_eq!(packet.file_name(), longest, "unchanged on error");
    assert_eq!(
        packet.set_file("a\0b"),
        Err(FieldError::ContainsNul { field: "file" })
    );

    packet.set_sname("192.168.1.10").unwrap();
    assert_eq!(packet.server_name(), "192.168.1.10");
    packet.set_sname(&"s".repeat(63)).unwrap();
    assert!(packet.set_sname(&"s".repeat(64)).is_err());
}

#[test]
fn new_reply_copies_what_rfc_2131_table_3_says() {
    let mut request = pi3_rom_discover();
    request.hops = 1;
    request.secs = 9;
    request.flags = FLAG_BROADCAST;
    request.ciaddr = Ipv4Addr::new(10, 0, 0, 9);
    request.giaddr = Ipv4Addr::new(10, 0, 0, 1);
    request.sname[0] = b's';
    request.file[0] = b'f';
    let reply = DhcpPacket::new_reply(&request);
    assert_eq!(
        reply,
        DhcpPacket {
            op: BOOTREPLY,
            xid: 0x26f3_0339,
            flags: FLAG_BROADCAST,
            giaddr: Ipv4Addr::new(10, 0, 0, 1),
            chaddr: with_mac(golden::PI3_MAC),
            ..DhcpPacket::default()
        }
    );
}

#[test]
fn message_types_round_trip() {
    for code in 0..=255u8 {
        assert_eq!(MessageType::from(code).code(), code);
    }
    assert_eq!(MessageType::from(1), MessageType::Discover);
    assert_eq!(MessageType::from(8), MessageType::Inform);
    assert_eq!(MessageType::from(9), MessageType::Unknown(9));
}

/// The generator's byte helpers for these tests.
trait DhcpBytes {
    fn bytes(&mut self, max_len: u64) -> Vec<u8>;
    fn fill(&mut self, out: &mut [u8]);
}

impl DhcpBytes for XorShift {
    /// Bytes biased towards the ones DHCP gives meaning to.
    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        (0..self.below(max_len + 1))
            .map(|_| match self.below(6) {
                0 => 0,
                1 => 255,
                2 => [52, 53, 43, 60, 93, 97, 1, 2, 3][self.below(9) as usize],
                _ => self.next() as u8,
            })
            .collect()
    }

    fn fill(&mut self, out: &mut [u8]) {
        // Mostly zero fields, as on the wire, sometimes noise.
        if self.below(3) == 0 {
            for b in out {
                *b = self.next() as u8;
            }
        }
    }
}

fn random_packet(rng: &mut XorShift) -> DhcpPacket {
    let mut packet = DhcpPacket {
        op: [BOOTREQUEST, BOOTREPLY][rng.below(2) as usize],
        htype: rng.next() as u8,
        hlen: rng.next() as u8,
        hops: rng.next() as u8,
        xid: rng.next() as u32,
        secs: rng.next() as u16,
        flags: rng.next() as u16,
        ciaddr: Ipv4Addr::from(rng.next() as u32),
        yiaddr: Ipv4Addr::from(rng.next() as u32),
        siaddr: Ipv4Addr::from(rng.next() as u32),
        giaddr: Ipv4Addr::from(rng.next() as u32),
        ..DhcpPacket::default()
    };
    rng.fill(&mut packet.chaddr);
    rng.fill(&mut packet.sname);
    rng.fill(&mut packet.file);
    for _ in 0..rng.below(9) {
        let code = loop {
            let code = 1 + rng.below(254) as u8;
            if code != code::OVERLOAD {
                break code;
            }
        };
        let max = if rng.below(20) == 0 { 255 } else { 24 };
        let mut data = rng.bytes(max);
        data.truncate(255);
        packet.options.push(RawOption { code, data });
    }
    packet
}

/// Parsing never panics; emitted packets parse back to themselves; a parsed
/// packet emits and re-parses to the same packet.
#[test]
fn parse_never_panics_and_round_trips() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..3_000 {
        let packet = random_packet(&mut rng);
        let bytes = packet.emit();
        assert_eq!(bytes.len(), packet.buffer_len());
        assert_eq!(DhcpPacket::parse(&bytes).as_ref(), Ok(&packet), "{bytes:?}");

        // Truncations (every one, for some rounds), then mutations, mostly
        // in the options.
        if round % 10 == 0 {
            for end in 0..bytes.len() {
                check_reparse(&bytes[..end]);
            }
        } else {
            check_reparse(&bytes[..rng.below(bytes.len() as u64) as usize]);
        }
        for _ in 0..4 {
            let mut mutated = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = if rng.below(4) == 0 {
                    rng.below(mutated.len() as u64) as usize
                } else {
                    240 + rng.below(mutated.len() as u64 - 240) as usize
                };
                mutated[at] = rng.bytes(1).first().copied().unwrap_or(0);
            }
            check_reparse(&mutated);
        }

        // A valid header and cookie with noise as options, with and without
        // overloaded fields full of noise.
        let mut noise = golden::pi3_rom_discover()[..240].to_vec();
        if rng.below(2) == 0 {
            noise.extend_from_slice(&[52, 1, 1 + rng.below(3) as u8]);
            for b in &mut noise[44..236] {
                *b = rng.bytes(1).first().copied().unwrap_or(0);
            }
        }
        noise.extend(rng.bytes(80));
        check_reparse(&noise);
        check_reparse(&rng.bytes(300));
    }
}

/// Parses `bytes`; if that works, emitting and parsing again must give the
/// same packet.
fn check_reparse(bytes: &[u8]) {
    if let Ok(packet) = DhcpPacket::parse(bytes) {
        let again = packet.emit();
        assert_eq!(DhcpPacket::parse(&again).as_ref(), Ok(&packet), "{bytes:?}");
    }
}
