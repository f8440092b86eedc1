//! The packets dhcpload sends and the little it reads of the answers.
//!
//! Requests are built once with [`DhcpPacket`] into a byte template; each
//! packet sent is a copy of the template with the xid, the MAC (in `chaddr`
//! and in the last six bytes of the option 97 GUID) and, for a REQUEST, the
//! requested address and server id written over it. The tests check that a
//! patched template is byte for byte what [`DhcpPacket::emit`] gives for the
//! same client.
//!
//! Answers are read by [`scan_reply`], which looks only at the header fields
//! and options 53 and 54 and allocates nothing; the tests compare it with
//! [`DhcpPacket::parse`].

use std::net::Ipv4Addr;

use bootherd_proto::wire::dhcp::{code, DhcpPacket, MessageType, BOOTREPLY, MAGIC_COOKIE};

/// Option 60 of a BIOS PXE ROM (PXE 2.1: architecture 0, UNDI 2.1).
pub const PXE_BIOS_CLASS: &str = "PXEClient:Arch:00000:UNDI:002001";

/// Option 55 of a BIOS PXE client: the usual network parameters, the PXE
/// ones (43, 60, 66, 67) and the PXE-reserved 128-135.
pub const PXE_BIOS_PARAMS: &[u8] = &[
    1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66,
    67, 128, 129, 130, 131, 132, 133, 134, 135,
];

/// The first ten bytes of every GUID in option 97; the last six are the MAC.
const GUID_PREFIX: [u8; 10] = *b"dhcpload\0\0";

/// Largest request we build (the templates are about 350 bytes).
pub const MAX_REQUEST_LEN: usize = 512;

/// Byte offsets in the BOOTP header (RFC 2131 section 2).
const XID_AT: usize = 4;
const YIADDR_AT: usize = 16;
const CHADDR_AT: usize = 28;
const OPTIONS_AT: usize = 240;

/// The Ethernet address of client number `seq`, counted up from `base`
/// (a 48-bit number; it wraps around).
pub fn mac_at(base: u64, seq: u64) -> [u8; 6] {
    let n = base.wrapping_add(seq) & 0xffff_ffff_ffff;
    let b = n.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// A MAC written as six hex pairs separated by `:` or `-`, as a number.
pub fn parse_mac(text: &str) -> Result<u64, String> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(format!("'{text}' is not a MAC address (six hex pairs)"));
    }
    let mut n = 0u64;
    for part in parts {
        let byte = u8::from_str_radix(part, 16)
            .ok()
            .filter(|_| part.len() == 2)
            .ok_or_else(|| format!("'{text}' is not a MAC address (six hex pairs)"))?;
        n = (n << 8) | u64::from(byte);
    }
    Ok(n)
}

/// Option 97: type 0 and a 16-byte GUID unique to the MAC.
fn guid(mac: [u8; 6]) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[1..11].copy_from_slice(&GUID_PREFIX);
    out[11..].copy_from_slice(&mac);
    out
}

/// A BIOS PXE DISCOVER (or, with `offer`, the REQUEST for an offered address)
/// as a relay at `relay` forwards it: giaddr = `relay`, hops 1. Option 60 is
/// `class` ([`PXE_BIOS_CLASS`] for a real PXE ROM).
pub fn pxe_request(
    relay: Ipv4Addr,
    class: &[u8],
    mac: [u8; 6],
    xid: u32,
    offer: Option<(Ipv4Addr, Ipv4Addr)>,
) -> DhcpPacket {
    let mut chaddr = [0u8; 16];
    chaddr[..6].copy_from_slice(&mac);
    let mut p = DhcpPacket {
        hops: 1,
        xid,
        giaddr: relay,
        chaddr,
        ..DhcpPacket::default()
    };
    let kind = if offer.is_some() {
        MessageType::Request
    } else {
        MessageType::Discover
    };
    p.set_option(code::MESSAGE_TYPE, [kind.code()]);
    if let Some((address, server)) = offer {
        p.set_option(code::REQUESTED_IP, address.octets());
        p.set_option(code::SERVER_ID, server.octets());
    }
    p.set_option(code::MAX_MESSAGE_SIZE, 1260u16.to_be_bytes());
    p.set_option(code::PARAMETER_REQUEST_LIST, PXE_BIOS_PARAMS);
    p.set_option(code::CLIENT_UUID, guid(mac));
    p.set_option(code::CLIENT_ARCH, [0, 0]);
    p.set_option(code::CLIENT_NDI, [1, 2, 1]);
    p.set_option(code::VENDOR_CLASS, class);
    p
}

/// Where the data of option `code` starts in an emitted request.
fn option_data_at(bytes: &[u8], code: u8) -> Option<usize> {
    let mut at = OPTIONS_AT;
    while at + 1 < bytes.len() {
        match bytes[at] {
            0 => at += 1,
            255 => return None,
            c => {
                if c == code {
                    return Some(at + 2);
                }
                at += 2 + usize::from(bytes[at + 1]);
            }
        }
    }
    None
}

/// An emitted request with the positions of the fields that change per client.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    guid_mac_at: usize,
    requested_at: Option<usize>,
    server_id_at: Option<usize>,
}

impl Template {
    /// The DISCOVER template for relay address `relay` and option 60 `class`.
    pub fn discover(relay: Ipv4Addr, class: &[u8]) -> Template {
        Template::new(pxe_request(relay, class, [0; 6], 0, None))
    }

    /// The REQUEST template for relay address `relay` and option 60 `class`.
    pub fn request(relay: Ipv4Addr, class: &[u8]) -> Template {
        let zero = Ipv4Addr::UNSPECIFIED;
        Template::new(pxe_request(relay, class, [0; 6], 0, Some((zero, zero))))
    }

    fn new(packet: DhcpPacket) -> Template {
        let bytes = packet.emit();
        assert!(bytes.len() <= MAX_REQUEST_LEN, "request template too long");
        let guid_at = option_data_at(&bytes, code::CLIENT_UUID).expect("option 97 in the template");
        Template {
            guid_mac_at: guid_at + 11,
            requested_at: option_data_at(&bytes, code::REQUESTED_IP),
            server_id_at: option_data_at(&bytes, code::SERVER_ID),
            bytes,
        }
    }

    /// Writes the packet of client `mac` with transaction `xid` into `out`
    /// (at least [`len`](Self::len) bytes) and returns its length.
    pub fn write(&self, out: &mut [u8], mac: [u8; 6], xid: u32) -> usize {
        let n = self.bytes.len();
        out[..n].copy_from_slice(&self.bytes);
        out[XID_AT..XID_AT + 4].copy_from_slice(&xid.to_be_bytes());
        out[CHADDR_AT..CHADDR_AT + 6].copy_from_slice(&mac);
        out[self.guid_mac_at..self.guid_mac_at + 6].copy_from_slice(&mac);
        n
    }

    /// Like [`write`](Self::write), for a REQUEST template: also sets the
    /// requested address (50) and the server id (54).
    pub fn write_request(
        &self,
        out: &mut [u8],
        mac: [u8; 6],
        xid: u32,
        address: [u8; 4],
        server: [u8; 4],
    ) -> usize {
        let n = self.write(out, mac, xid);
        if let Some(at) = self.requested_at {
            out[at..at + 4].copy_from_slice(&address);
        }
        if let Some(at) = self.server_id_at {
            out[at..at + 4].copy_from_slice(&server);
        }
        n
    }
}

/// What dhcpload needs of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub xid: u32,
    pub mac: [u8; 6],
    /// Option 53, if present.
    pub kind: Option<u8>,
    pub yiaddr: [u8; 4],
    /// Option 54, when it is 4 bytes.
    pub server_id: Option<[u8; 4]>,
}

/// Reads a BOOTREPLY: `None` for anything shorter than the header and
/// cookie, not op 2, or without the DHCP cookie. Options are read from the
/// options field only (no overload), up to the end option or the first one
/// cut short.
pub fn scan_reply(buf: &[u8]) -> Option<Reply> {
    if buf.len() < OPTIONS_AT || buf[0] != BOOTREPLY || buf[236..240] != MAGIC_COOKIE {
        return None;
    }
    let mut reply = Reply {
        xid: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        mac: [buf[28], buf[29], buf[30], buf[31], buf[32], buf[33]],
        kind: None,
        yiaddr: [
            buf[YIADDR_AT],
            buf[YIADDR_AT + 1],
            buf[YIADDR_AT + 2],
            buf[YIADDR_AT + 3],
        ],
        server_id: None,
    };
    let mut at = OPTIONS_AT;
    while at < buf.len() {
        let c = buf[at];
        if c == 0 {
            at += 1;
            continue;
        }
        if c == 255 || at + 1 >= buf.len() {
            break;
        }
        let len = usize::from(buf[at + 1]);
        let Some(data) = buf.get(at + 2..at + 2 + len) else {
            break;
        };
        match c {
            53 if reply.kind.is_none() && len >= 1 => reply.kind = Some(data[0]),
            54 if reply.server_id.is_none() && len == 4 => {
                reply.server_id = Some([data[0], data[1], data[2], data[3]])
            }
            _ => {}
        }
        at += 2 + len;
    }
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

    #[test]
    fn discover_template_matches_a_built_packet() {
        let t = Template::discover(RELAY, PXE_BIOS_CLASS.as_bytes());
        let mut buf = [0u8; MAX_REQUEST_LEN];
        for seq in [0u64, 1, 255, 256, 70_000, 0xffff_ffff] {
            let mac = mac_at(0x000c_0300_0000, seq);
            let xid = 0x1234_0000u32.wrapping_add(seq as u32);
            let n = t.write(&mut buf, mac, xid);
            let built = pxe_request(RELAY, PXE_BIOS_CLASS.as_bytes(), mac, xid, None);
            assert_eq!(&buf[..n], &built.emit()[..], "seq {seq}");
        }
    }

    #[test]
    fn discover_is_a_realistic_pxe_bios_discover() {
        let t = Template::discover(RELAY, PXE_BIOS_CLASS.as_bytes());
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let mac = [0, 0x0c, 3, 0, 1, 2];
        let n = t.write(&mut buf, mac, 77);
        let p = DhcpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.op, 1);
        assert_eq!(p.hops, 1);
        assert_eq!(p.giaddr, RELAY);
        assert_eq!(p.xid, 77);
        assert_eq!(p.mac(), Some(mac));
        assert_eq!(p.message_type(), Some(MessageType::Discover));
        assert_eq!(
            p.vendor_class().as_deref(),
            Some("PXEClient:Arch:00000:UNDI:002001")
        );
        assert_eq!(p.client_archs(), vec![0]);
        assert_eq!(p.option(code::CLIENT_NDI).unwrap().as_ref(), &[1, 2, 1]);
        let uuid = p.client_uuid().unwrap();
        assert_eq!(uuid.len(), 17);
        assert_eq!(uuid[0], 0);
        assert_eq!(&uuid[11..], &mac);
        assert_eq!(p.requested_params(), PXE_BIOS_PARAMS);
        assert_eq!(p.requested_ip(), None);
    }

    #[test]
    fn request_template_matches_a_built_packet() {
        let t = Template::request(RELAY, PXE_BIOS_CLASS.as_bytes());
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let mac = mac_at(0x000c_0300_0000, 42);
        let addr = Ipv4Addr::new(10, 99, 1, 7);
        let server = Ipv4Addr::new(10, 99, 0, 1);
        let n = t.write_request(&mut buf, mac, 9, addr.octets(), server.octets());
        let built = pxe_request(
            RELAY,
            PXE_BIOS_CLASS.as_bytes(),
            mac,
            9,
            Some((addr, server)),
        );
        assert_eq!(&buf[..n], &built.emit()[..]);
        let p = DhcpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.message_type(), Some(MessageType::Request));
        assert_eq!(p.requested_ip(), Some(addr));
        assert_eq!(p.server_id(), Some(server));
    }

    #[test]
    fn another_vendor_class() {
        let t = Template::request(RELAY, b"bench-perfdhcp");
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let mac = [2, 0, 0, 0, 0, 1];
        let (addr, server) = ([10, 99, 1, 0], [10, 99, 0, 1]);
        let n = t.write_request(&mut buf, mac, 3, addr, server);
        let built = pxe_request(
            RELAY,
            b"bench-perfdhcp",
            mac,
            3,
            Some((addr.into(), server.into())),
        );
        assert_eq!(&buf[..n], &built.emit()[..]);
        let p = DhcpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.vendor_class().as_deref(), Some("bench-perfdhcp"));
    }

    #[test]
    fn macs_count_up_and_wrap() {
        assert_eq!(mac_at(0x000c_0300_0000, 0), [0, 0x0c, 3, 0, 0, 0]);
        assert_eq!(mac_at(0x000c_0300_00ff, 1), [0, 0x0c, 3, 0, 1, 0]);
        assert_eq!(mac_at(0xffff_ffff_ffff, 1), [0; 6]);
        assert_eq!(parse_mac("00:0c:03:00:00:10").unwrap(), 0x000c_0300_0010);
        assert_eq!(parse_mac("00-0C-03-00-00-10").unwrap(), 0x000c_0300_0010);
        assert!(parse_mac("00:0c:03:00:00").is_err());
        assert!(parse_mac("00:0c:03:00:00:100").is_err());
        assert!(parse_mac("00:0c:03:00:00:zz").is_err());
    }

    fn offer(xid: u32, mac: [u8; 6], kind: MessageType, yiaddr: Ipv4Addr) -> DhcpPacket {
        let request = pxe_request(RELAY, PXE_BIOS_CLASS.as_bytes(), mac, xid, None);
        let mut reply = DhcpPacket::new_reply(&request);
        reply.yiaddr = yiaddr;
        reply.set_option(code::MESSAGE_TYPE, [kind.code()]);
        reply.set_option(code::SERVER_ID, [10, 99, 0, 1]);
        reply.set_option(code::VENDOR_CLASS, b"PXEClient".to_vec());
        reply.set_option(code::VENDOR_SPECIFIC, vec![6, 1, 8, 255]);
        reply
    }

    #[test]
    fn scan_agrees_with_the_parser() {
        let mac = [0, 0x0c, 3, 0, 0, 9];
        for (kind, yiaddr) in [
            (MessageType::Offer, Ipv4Addr::UNSPECIFIED),
            (MessageType::Offer, Ipv4Addr::new(10, 99, 1, 1)),
            (MessageType::Ack, Ipv4Addr::new(10, 99, 1, 2)),
            (MessageType::Nak, Ipv4Addr::UNSPECIFIED),
        ] {
            let bytes = offer(0xdead_beef, mac, kind, yiaddr).emit();
            let parsed = DhcpPacket::parse(&bytes).unwrap();
            let r = scan_reply(&bytes).unwrap();
            assert_eq!(r.xid, parsed.xid);
            assert_eq!(Some(r.mac), parsed.mac());
            assert_eq!(r.kind, parsed.message_type().map(MessageType::code));
            assert_eq!(Ipv4Addr::from(r.yiaddr), parsed.yiaddr);
            assert_eq!(r.server_id.map(Ipv4Addr::from), parsed.server_id());
        }
    }

    #[test]
    fn scan_refuses_requests_and_garbage() {
        let t = Template::discover(RELAY, PXE_BIOS_CLASS.as_bytes());
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let n = t.write(&mut buf, [1; 6], 1);
        assert_eq!(
            scan_reply(&buf[..n]),
            None,
            "a BOOTREQUEST is not an answer"
        );
        assert_eq!(scan_reply(&[2u8; 100]), None);
        let mut bytes = offer(1, [1; 6], MessageType::Offer, Ipv4Addr::UNSPECIFIED).emit();
        bytes[236] = 0;
        assert_eq!(scan_reply(&bytes), None, "no magic cookie");
    }

    #[test]
    fn scan_survives_cut_options() {
        let bytes = offer(5, [1; 6], MessageType::Offer, Ipv4Addr::UNSPECIFIED).emit();
        // Cut inside every possible place of the options: never a panic, and
        // the header fields are still read.
        for len in 240..bytes.len() {
            let r = scan_reply(&bytes[..len]).unwrap();
            assert_eq!(r.xid, 5);
        }
        // An option whose length runs past the end is ignored.
        let mut short = bytes[..240].to_vec();
        short.extend_from_slice(&[53, 5, 2]);
        assert_eq!(scan_reply(&short).unwrap().kind, None);
    }
}
