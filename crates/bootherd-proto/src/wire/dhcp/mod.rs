//! DHCP packet codec: parse and emit BOOTP/DHCP datagrams (RFC 951, RFC 2131)
//! with their options kept as raw bytes in wire order (RFC 2132).
//!
//! # Why our own code, for parsing and for emitting
//!
//! Both directions are written here rather than taken from `dhcproto`:
//! - **parsing**, because dhcproto 0.15 drops every option after a malformed
//!   option 94, keeps only the first architecture of option 93 and leaves
//!   option 43 opaque. Boot firmware sends all three, and a board whose
//!   request we cannot read stays dark;
//! - **emitting**, because the golden tests and picky firmware need exact
//!   control of option order and bytes. The proxy replies copy the shape
//!   dnsmasq is known to boot Raspberry Pis with (option 53 first, then 54,
//!   60, 97, 43), and the tests compare them byte for byte.
//!
//! # Parsing rules
//!
//! - The fixed 236-byte BOOTP header and the magic cookie are required; `op`
//!   must be 1 (BOOTREQUEST) or 2 (BOOTREPLY). Anything shorter or different is
//!   a [`ParseError`].
//! - Options are kept in wire order as [`RawOption`]s; pad (0) and end (255)
//!   are dropped, repeated codes stay separate entries and
//!   [`DhcpPacket::option`] concatenates them (RFC 3396).
//! - An option whose length byte is missing or whose data runs past the end of
//!   its area ends option parsing for that area; every option before it is
//!   kept. A missing end option is accepted.
//! - Option overload (52, RFC 2132 section 9.3) is honoured in the order
//!   RFC 2131 section 4.1 gives: the options field, then `file`, then `sname`.
//!   Option 52 itself is consumed: it never appears in
//!   [`DhcpPacket::options`], and an overloaded `file`/`sname` field is zeroed
//!   because it carried options, not a name.
//! - No input makes the parser panic; a property test checks it.
//!
//! # Emitting rules
//!
//! [`DhcpPacket::emit`] writes the header, the magic cookie, the options in
//! vector order, the end option, then zero padding up to the 300-byte BOOTP
//! minimum (RFC 1542 section 2.1). It never overloads `sname`/`file`: an
//! option 52 in the list would describe fields written as plain names, so it
//! is skipped, as are entries with code 0 or 255. Data longer than 255 bytes
//! is split into consecutive options of the same code (RFC 3396).

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::ops::Range;

pub mod pxe;

/// UDP port the DHCP server listens on (RFC 2131 section 4.1).
pub const SERVER_PORT: u16 = 67;
/// UDP port the DHCP client listens on (RFC 2131 section 4.1).
pub const CLIENT_PORT: u16 = 68;
/// UDP port of the PXE boot server, where PXE clients send their second
/// REQUEST after a proxy offer without boot file (PXE spec 2.1).
pub const PXE_PORT: u16 = 4011;

/// The broadcast bit of `flags` (RFC 2131 section 2, figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// `op` of a message from client to server.
pub const BOOTREQUEST: u8 = 1;
/// `op` of a message from server to client.
pub const BOOTREPLY: u8 = 2;

/// The four bytes that start the options field (RFC 2131 section 3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// The smallest datagram a BOOTP relay or client must accept; shorter
/// replies are padded (RFC 1542 section 2.1).
pub const MIN_PACKET_LEN: usize = 300;

/// Hardware type of Ethernet in `htype` (RFC 1700, ARP hardware types).
pub const HTYPE_ETHERNET: u8 = 1;

/// Option codes this crate gives meaning to (RFC 2132 unless noted).
pub mod code {
    /// Padding, no length byte.
    pub const PAD: u8 = 0;
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Routers.
    pub const ROUTER: u8 = 3;
    /// Domain name servers.
    pub const DNS_SERVER: u8 = 6;
    /// Host name.
    pub const HOST_NAME: u8 = 12;
    /// Vendor-specific information; for PXE clients the sub-options of
    /// [`super::pxe`].
    pub const VENDOR_SPECIFIC: u8 = 43;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// IP address lease time.
    pub const LEASE_TIME: u8 = 51;
    /// Option overload: 1 `file`, 2 `sname`, 3 both carry options.
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Vendor class identifier (`PXEClient:Arch:...`, `U-Boot.armv8`, ...).
    pub const VENDOR_CLASS: u8 = 60;
    /// Client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// TFTP server name.
    pub const TFTP_SERVER_NAME: u8 = 66;
    /// Boot file name.
    pub const BOOTFILE_NAME: u8 = 67;
    /// User class (RFC 3004); iPXE sends `iPXE` here.
    pub const USER_CLASS: u8 = 77;
    /// Client system architecture (RFC 4578 section 2.1), a list of u16.
    pub const CLIENT_ARCH: u8 = 93;
    /// Client network device interface (RFC 4578 section 2.2).
    pub const CLIENT_NDI: u8 = 94;
    /// Client machine identifier, type byte and UUID (RFC 4578 section 2.3).
    pub const CLIENT_UUID: u8 = 97;
    /// iPXE's encapsulated options (iPXE `include/ipxe/dhcp.h`).
    pub const IPXE_ENCAP: u8 = 175;
    /// End of options, no length byte.
    pub const END: u8 = 255;
}

/// Overload bit: the `file` field carries options (RFC 2132 section 9.3).
const OVERLOAD_FILE: u8 = 1;
/// Overload bit: the `sname` field carries options (RFC 2132 section 9.3).
const OVERLOAD_SNAME: u8 = 2;

/// Byte positions of the BOOTP header (RFC 2131 section 2, figure 1).
mod field {
    use std::ops::Range;

    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: Range<usize> = 4..8;
    pub const SECS: Range<usize> = 8..10;
    pub const FLAGS: Range<usize> = 10..12;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const SIADDR: Range<usize> = 20..24;
    pub const GIADDR: Range<usize> = 24..28;
    pub const CHADDR: Range<usize> = 28..44;
    pub const SNAME: Range<usize> = 44..108;
    pub const FILE: Range<usize> = 108..236;
    pub const MAGIC: Range<usize> = 236..240;
    /// Where the options start, after the magic cookie.
    pub const OPTIONS: usize = 240;
}

/// DHCP message type, the value of option 53 (RFC 2132 section 9.6).
///
/// Values this list does not name are kept as [`MessageType::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1: a client looks for servers.
    Discover,
    /// 2: a server offers parameters.
    Offer,
    /// 3: a client asks for the offered parameters (or, on port 4011, for its
    /// boot file).
    Request,
    /// 4: a client refuses an address already in use.
    Decline,
    /// 5: a server confirms.
    Ack,
    /// 6: a server refuses.
    Nak,
    /// 7: a client gives its address back.
    Release,
    /// 8: a client with an address asks for other parameters.
    Inform,
    /// Any other value, kept as sent.
    Unknown(u8),
}

impl MessageType {
    /// The value as sent in option 53.
    pub fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(code) => code,
        }
    }
}

impl From<u8> for MessageType {
    fn from(code: u8) -> MessageType {
        match code {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            other => MessageType::Unknown(other),
        }
    }
}

/// One option as found on the wire: its code and its data, without the
/// length byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOption {
    /// Option code (RFC 2132); never 0 (pad) or 255 (end) after parsing.
    pub code: u8,
    /// Option data as sent.
    pub data: Vec<u8>,
}

impl RawOption {
    /// An option with this code and data.
    pub fn new(code: u8, data: impl Into<Vec<u8>>) -> RawOption {
        RawOption {
            code,
            data: data.into(),
        }
    }
}

/// Why a datagram is not a DHCP packet.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the BOOTP header plus magic cookie (240 bytes).
    #[error("DHCP packet truncated: {len} bytes, the header and magic cookie need 240")]
    Truncated {
        /// Length of the datagram.
        len: usize,
    },
    /// `op` is neither BOOTREQUEST (1) nor BOOTREPLY (2).
    #[error("not a BOOTP message: op {0}")]
    BadOp(u8),
    /// The four bytes after the header are not the DHCP magic cookie
    /// (a plain BOOTP packet, or not BOOTP at all).
    #[error("no DHCP magic cookie: found {0:02x?}")]
    BadMagic([u8; 4]),
}

/// A name that does not fit the `sname` or `file` header field.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FieldError {
    /// The name plus its terminating NUL is longer than the field.
    #[error("{field} name is {len} bytes; the field holds at most {max} bytes and a NUL")]
    TooLong {
        /// `sname` or `file`.
        field: &'static str,
        /// Length of the name.
        len: usize,
        /// Longest name the field holds.
        max: usize,
    },
    /// The name contains a NUL byte, which would end it early on the client.
    #[error("{field} name contains a NUL byte")]
    ContainsNul {
        /// `sname` or `file`.
        field: &'static str,
    },
}

/// A BOOTP/DHCP packet: the fixed header and the options in wire order.
///
/// Field names are those of RFC 2131 section 2, so that a packet reads like
/// the RFC's figure 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpPacket {
    /// Message op code: [`BOOTREQUEST`] or [`BOOTREPLY`].
    pub op: u8,
    /// Hardware address type, 1 for Ethernet.
    pub htype: u8,
    /// Hardware address length, 6 for Ethernet.
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction ID chosen by the client.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags; only [`FLAG_BROADCAST`] is defined.
    pub flags: u16,
    /// Client IP address, when the client already has one.
    pub ciaddr: Ipv4Addr,
    /// "Your" IP address: the address a server gives the client.
    pub yiaddr: Ipv4Addr,
    /// Next server (TFTP) address, set by servers.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address, padded with zeros.
    pub chaddr: [u8; 16],
    /// Server host name, NUL-terminated.
    pub sname: [u8; 64],
    /// Boot file name, NUL-terminated.
    pub file: [u8; 128],
    /// Options in wire order, pad and end removed; repeated codes are kept as
    /// separate entries.
    pub options: Vec<RawOption>,
}

impl Default for DhcpPacket {
    /// An empty Ethernet BOOTREQUEST: everything zero, no options.
    fn default() -> DhcpPacket {
        DhcpPacket {
            op: BOOTREQUEST,
            htype: HTYPE_ETHERNET,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
            options: Vec::new(),
        }
    }
}

impl DhcpPacket {
    /// Parses one datagram (see the module documentation for the rules).
    pub fn parse(bytes: &[u8]) -> Result<DhcpPacket, ParseError> {
        if bytes.len() < field::OPTIONS {
            return Err(ParseError::Truncated { len: bytes.len() });
        }
        let op = bytes[field::OP];
        if op != BOOTREQUEST && op != BOOTREPLY {
            return Err(ParseError::BadOp(op));
        }
        let magic: [u8; 4] = array(&bytes[field::MAGIC]);
        if magic != MAGIC_COOKIE {
            return Err(ParseError::BadMagic(magic));
        }

        let mut packet = DhcpPacket {
            op,
            htype: bytes[field::HTYPE],
            hlen: bytes[field::HLEN],
            hops: bytes[field::HOPS],
            xid: u32::from_be_bytes(array(&bytes[field::XID])),
            secs: u16::from_be_bytes(array(&bytes[field::SECS])),
            flags: u16::from_be_bytes(array(&bytes[field::FLAGS])),
            ciaddr: ipv4(&bytes[field::CIADDR]),
            yiaddr: ipv4(&bytes[field::YIADDR]),
            siaddr: ipv4(&bytes[field::SIADDR]),
            giaddr: ipv4(&bytes[field::GIADDR]),
            chaddr: array(&bytes[field::CHADDR]),
            sname: array(&bytes[field::SNAME]),
            file: array(&bytes[field::FILE]),
            options: Vec::new(),
        };

        let mut options = Vec::new();
        read_options(&bytes[field::OPTIONS..], &mut options);
        // Only the options field may carry option 52 (RFC 2132 section 9.3),
        // and it was read first, so the first entry is the one that counts.
        let overload = options
            .iter()
            .find(|o| o.code == code::OVERLOAD)
            .and_then(|o| o.data.first().copied())
            .unwrap_or(0);
        if overload & OVERLOAD_FILE != 0 {
            read_options(&packet.file, &mut options);
            packet.file = [0; 128];
        }
        if overload & OVERLOAD_SNAME != 0 {
            read_options(&packet.sname, &mut options);
            packet.sname = [0; 64];
        }
        options.retain(|o| o.code != code::OVERLOAD);
        packet.options = options;
        Ok(packet)
    }

    /// Length of the datagram [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        let options: usize = self.emitted_options().map(|o| wire_len(&o.data)).sum();
        (field::OPTIONS + options + 1).max(MIN_PACKET_LEN)
    }

    /// Writes the datagram into the start of `out` and returns its length,
    /// or `None` (writing nothing) when `out` is shorter than
    /// [`buffer_len`](Self::buffer_len).
    pub fn emit_into(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.buffer_len();
        let out = out.get_mut(..len)?;
        out[field::OP] = self.op;
        out[field::HTYPE] = self.htype;
        out[field::HLEN] = self.hlen;
        out[field::HOPS] = self.hops;
        out[field::XID].copy_from_slice(&self.xid.to_be_bytes());
        out[field::SECS].copy_from_slice(&self.secs.to_be_bytes());
        out[field::FLAGS].copy_from_slice(&self.flags.to_be_bytes());
        out[field::CIADDR].copy_from_slice(&self.ciaddr.octets());
        out[field::YIADDR].copy_from_slice(&self.yiaddr.octets());
        out[field::SIADDR].copy_from_slice(&self.siaddr.octets());
        out[field::GIADDR].copy_from_slice(&self.giaddr.octets());
        out[field::CHADDR].copy_from_slice(&self.chaddr);
        out[field::SNAME].copy_from_slice(&self.sname);
        out[field::FILE].copy_from_slice(&self.file);
        out[field::MAGIC].copy_from_slice(&MAGIC_COOKIE);

        let mut at = field::OPTIONS;
        for option in self.emitted_options() {
            at += put_option(&mut out[at..], option.code, &option.data);
        }
        out[at] = code::END;
        out[at + 1..].fill(0);
        Some(len)
    }

    /// The datagram: header, magic cookie, options in vector order, end
    /// option, zero padding to [`MIN_PACKET_LEN`].
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![0; self.buffer_len()];
        let len = self.emit_into(&mut out);
        debug_assert_eq!(len, Some(out.len()));
        out
    }

    /// A reply skeleton for `request` (RFC 2131 section 4.3, table 3): op 2,
    /// the request's `htype`, `hlen`, `xid`, `flags`, `giaddr` and `chaddr`;
    /// every other field zero and no options.
    pub fn new_reply(request: &DhcpPacket) -> DhcpPacket {
        DhcpPacket {
            op: BOOTREPLY,
            htype: request.htype,
            hlen: request.hlen,
            xid: request.xid,
            flags: request.flags,
            giaddr: request.giaddr,
            chaddr: request.chaddr,
            ..DhcpPacket::default()
        }
    }

    /// The data of option `code`, or `None` if absent. Repeated entries are
    /// concatenated in wire order (RFC 3396); a single entry is borrowed.
    pub fn option(&self, code: u8) -> Option<Cow<'_, [u8]>> {
        let mut entries = self.options.iter().filter(|o| o.code == code);
        let first = entries.next()?;
        let Some(second) = entries.next() else {
            return Some(Cow::Borrowed(&first.data));
        };
        let mut data = first.data.clone();
        data.extend_from_slice(&second.data);
        for more in entries {
            data.extend_from_slice(&more.data);
        }
        Some(Cow::Owned(data))
    }

    /// Sets option `code`: replaces the first entry with that code (removing
    /// any later ones) or, if there is none, appends it.
    pub fn set_option(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        let data = data.into();
        match self.options.iter().position(|o| o.code == code) {
            Some(at) => {
                self.options[at].data = data;
                let mut index = 0;
                self.options.retain(|o| {
                    let keep = o.code != code || index == at;
                    index += 1;
                    keep
                });
            }
            None => self.options.push(RawOption { code, data }),
        }
    }

    /// Removes every entry of option `code`.
    pub fn remove_option(&mut self, code: u8) {
        self.options.retain(|o| o.code != code);
    }

    /// The message type (option 53), `None` for plain BOOTP.
    pub fn message_type(&self) -> Option<MessageType> {
        let data = self.option(code::MESSAGE_TYPE)?;
        data.first().map(|&value| MessageType::from(value))
    }

    /// The client's Ethernet address, when `htype` is 1 and `hlen` is 6.
    pub fn mac(&self) -> Option<[u8; 6]> {
        (self.htype == HTYPE_ETHERNET && self.hlen == 6).then(|| array(&self.chaddr[..6]))
    }

    /// The vendor class (option 60) as text, invalid UTF-8 replaced and
    /// trailing NULs removed (RFC 2132 section 2 tells receivers to expect
    /// them).
    pub fn vendor_class(&self) -> Option<String> {
        let data = self.option(code::VENDOR_CLASS)?;
        let end = data.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
        Some(String::from_utf8_lossy(&data[..end]).into_owned())
    }

    /// The user class (option 77) as sent: RFC 3004 length-prefixed
    /// instances, or raw text as iPXE sends it.
    pub fn user_class(&self) -> Option<Vec<u8>> {
        self.option(code::USER_CLASS).map(Cow::into_owned)
    }

    /// Every architecture in option 93, in order (RFC 4578 section 2.1 allows
    /// a list); a trailing odd byte is ignored.
    pub fn client_archs(&self) -> Vec<u16> {
        self.option(code::CLIENT_ARCH)
            .map(|data| {
                data.chunks_exact(2)
                    .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The client machine identifier (option 97) as sent: normally a type
    /// byte 0 and a 16-byte UUID (RFC 4578 section 2.3).
    pub fn client_uuid(&self) -> Option<Vec<u8>> {
        self.option(code::CLIENT_UUID).map(Cow::into_owned)
    }

    /// The parameter request list (option 55), empty if absent.
    pub fn requested_params(&self) -> Vec<u8> {
        self.option(code::PARAMETER_REQUEST_LIST)
            .map(Cow::into_owned)
            .unwrap_or_default()
    }

    /// The server identifier (option 54), when it is exactly 4 bytes.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.option_ipv4(code::SERVER_ID)
    }

    /// The requested IP address (option 50), when it is exactly 4 bytes.
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.option_ipv4(code::REQUESTED_IP)
    }

    /// The `file` field up to its first NUL, invalid UTF-8 replaced.
    pub fn file_name(&self) -> String {
        until_nul(&self.file)
    }

    /// The `sname` field up to its first NUL, invalid UTF-8 replaced.
    pub fn server_name(&self) -> String {
        until_nul(&self.sname)
    }

    /// Writes `name` into `file`, NUL-padded. A name that does not fit with
    /// its NUL (127 bytes at most) or contains a NUL is refused, never
    /// truncated: a cut boot file name would fetch the wrong file. On error
    /// the field is unchanged.
    pub fn set_file(&mut self, name: &str) -> Result<(), FieldError> {
        put_name(&mut self.file, "file", name)
    }

    /// Writes `name` into `sname`, NUL-padded. Refused like
    /// [`set_file`](Self::set_file) when longer than 63 bytes or containing a
    /// NUL; on error the field is unchanged.
    pub fn set_sname(&mut self, name: &str) -> Result<(), FieldError> {
        put_name(&mut self.sname, "sname", name)
    }

    fn option_ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        let data = self.option(code)?;
        (data.len() == 4).then(|| ipv4(&data))
    }

    /// The options emit writes: everything but pad, end and overload.
    fn emitted_options(&self) -> impl Iterator<Item = &RawOption> {
        self.options
            .iter()
            .filter(|o| !matches!(o.code, code::PAD | code::END | code::OVERLOAD))
    }
}

/// Reads options from `area` into `out` until the end option, the end of the
/// area, or an option cut short (which is dropped with nothing after it).
fn read_options(area: &[u8], out: &mut Vec<RawOption>) {
    let mut at = 0;
    while let Some(&code) = area.get(at) {
        match code {
            code::PAD => at += 1,
            code::END => return,
            _ => {
                let Some(&len) = area.get(at + 1) else {
                    return;
                };
                let data: Range<usize> = at + 2..at + 2 + usize::from(len);
                let Some(data) = area.get(data) else {
                    return;
                };
                out.push(RawOption::new(code, data));
                at += 2 + usize::from(len);
            }
        }
    }
}

/// Bytes an option takes on the wire, split into 255-byte pieces.
fn wire_len(data: &[u8]) -> usize {
    let pieces = data.len().div_ceil(255).max(1);
    2 * pieces + data.len()
}

/// Writes one option, split into 255-byte pieces (RFC 3396), and returns the
/// bytes written. `out` must hold [`wire_len`] bytes.
fn put_option(out: &mut [u8], code: u8, data: &[u8]) -> usize {
    if data.is_empty() {
        out[0] = code;
        out[1] = 0;
        return 2;
    }
    let mut at = 0;
    for piece in data.chunks(255) {
        out[at] = code;
        out[at + 1] = piece.len() as u8;
        out[at + 2..at + 2 + piece.len()].copy_from_slice(piece);
        at += 2 + piece.len();
    }
    at
}

fn put_name<const N: usize>(
    field: &mut [u8; N],
    which: &'static str,
    name: &str,
) -> Result<(), FieldError> {
    let bytes = name.as_bytes();
    if bytes.contains(&0) {
        return Err(FieldError::ContainsNul { field: which });
    }
    if bytes.len() >= N {
        return Err(FieldError::TooLong {
            field: which,
            len: bytes.len(),
            max: N - 1,
        });
    }
    field.fill(0);
    field[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn until_nul(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Copies a slice of exactly `N` bytes into an array. Callers pass ranges of
/// checked length.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

fn ipv4(bytes: &[u8]) -> Ipv4Addr {
    Ipv4Addr::from(array::<4>(bytes))
}

#[cfg(test)]
mod tests;
