//! TFTP packet codec: parse and emit the datagrams of RFC 1350 and RFC 2347.
//!
//! Every TFTP datagram starts with a 2-byte big-endian opcode (RFC 1350
//! section 5). Requests and option acknowledgements then carry NUL-terminated
//! strings; DATA and ACK carry a 2-byte block number; ERROR carries a 2-byte
//! code and a NUL-terminated message.
//!
//! The parser is lenient where real clients are sloppy and strict only where
//! a packet would otherwise be meaningless:
//! - the mode is compared case-insensitively (`OCTET`, `NetAscii`);
//! - the filename stays raw bytes and may be empty: the caller decides what
//!   is allowed;
//! - an option name without a value, an empty option name (NUL padding) and
//!   an option whose name or value is not UTF-8 are dropped, not fatal;
//! - after the filename, the last string may lack its terminating NUL;
//! - bytes after the fixed part of ACK and ERROR are ignored.
//!
//! No input makes the parser panic; a property test checks it.

use std::ops::Range;

/// Read request (RFC 1350 section 5).
pub const OP_RRQ: u16 = 1;
/// Write request (RFC 1350 section 5).
pub const OP_WRQ: u16 = 2;
/// Data block (RFC 1350 section 5).
pub const OP_DATA: u16 = 3;
/// Acknowledgement (RFC 1350 section 5).
pub const OP_ACK: u16 = 4;
/// Error (RFC 1350 section 5).
pub const OP_ERROR: u16 = 5;
/// Option acknowledgement (RFC 2347).
pub const OP_OACK: u16 = 6;

/// The opcode, first field of every packet.
const OPCODE: Range<usize> = 0..2;
/// The block number of DATA and ACK, and the error code of ERROR.
const NUMBER: Range<usize> = 2..4;
/// Length of the fixed header of DATA, ACK and ERROR.
const HEADER_LEN: usize = NUMBER.end;

/// Transfer mode of a request (RFC 1350 section 1; "mail" is obsolete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Text with CR LF line ends, see [`to_netascii`].
    Netascii,
    /// Raw 8-bit bytes.
    Octet,
    /// Obsolete mail delivery; servers should refuse it.
    Mail,
}

impl Mode {
    /// The mode as written on the wire (lowercase).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Netascii => "netascii",
            Mode::Octet => "octet",
            Mode::Mail => "mail",
        }
    }

    /// Reads a mode string, ignoring ASCII case (RFC 1350 section 5).
    fn parse(bytes: &[u8]) -> Result<Mode, ParseError> {
        [Mode::Netascii, Mode::Octet, Mode::Mail]
            .into_iter()
            .find(|mode| bytes.eq_ignore_ascii_case(mode.as_str().as_bytes()))
            .ok_or_else(|| ParseError::BadMode(String::from_utf8_lossy(bytes).into_owned()))
    }
}

/// A read or write request (RFC 1350 section 5, options from RFC 2347).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The file asked for, exactly as sent; it may be empty.
    pub filename: Vec<u8>,
    /// The transfer mode.
    pub mode: Mode,
    /// Options in the client's order, names with their case as sent,
    /// values as sent. Unusable options were dropped while parsing.
    pub options: Vec<(String, String)>,
}

/// Error codes (RFC 1350 appendix "Error Codes"; code 8 from RFC 2347).
///
/// Codes this list does not name are kept as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: not defined, see the error message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID (a packet from the wrong port).
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: the option negotiation was refused (RFC 2347).
    OptionRejected,
    /// Any other code, kept as sent.
    Unknown(u16),
}

impl ErrorCode {
    /// The numeric code as sent on the wire.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRejected => 8,
            ErrorCode::Unknown(code) => code,
        }
    }
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> ErrorCode {
        match code {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRejected,
            other => ErrorCode::Unknown(other),
        }
    }
}

/// One TFTP datagram. DATA borrows its payload from the parsed buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request, opcode 1.
    Rrq(Request),
    /// Write request, opcode 2.
    Wrq(Request),
    /// Data block, opcode 3. Block numbers start at 1 and wrap to 0 after
    /// 65535 on long transfers.
    Data { block: u16, payload: &'a [u8] },
    /// Acknowledgement of a block, opcode 4. Block 0 acknowledges an OACK.
    Ack { block: u16 },
    /// Error, opcode 5. It ends the transfer and is never acknowledged.
    Error { code: ErrorCode, message: String },
    /// Option acknowledgement, opcode 6 (RFC 2347): the options the server
    /// accepted, with the values it chose.
    Oack { options: Vec<(String, String)> },
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the opcode, or than the opcode and the 2-byte block
    /// number or error code.
    #[error("packet truncated before the end of its header")]
    Truncated,
    /// The opcode is not one of 1 to 6.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A request whose filename is not terminated by a NUL.
    #[error("request filename is not NUL-terminated")]
    MissingNul,
    /// A request that ends after its filename.
    #[error("request has no mode")]
    MissingMode,
    /// A mode other than netascii, octet or mail (shown lossily as UTF-8).
    #[error("unknown transfer mode {0:?}")]
    BadMode(String),
}

impl<'a> Packet<'a> {
    /// Parses one datagram. Never panics, whatever the bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        let opcode = read_u16(bytes, OPCODE).ok_or(ParseError::Truncated)?;
        let body = &bytes[OPCODE.end..];
        match opcode {
            OP_RRQ => Ok(Packet::Rrq(parse_request(body)?)),
            OP_WRQ => Ok(Packet::Wrq(parse_request(body)?)),
            OP_DATA => Ok(Packet::Data {
                block: read_u16(bytes, NUMBER).ok_or(ParseError::Truncated)?,
                payload: &bytes[HEADER_LEN..],
            }),
            OP_ACK => Ok(Packet::Ack {
                block: read_u16(bytes, NUMBER).ok_or(ParseError::Truncated)?,
            }),
            OP_ERROR => {
                let code = read_u16(bytes, NUMBER).ok_or(ParseError::Truncated)?;
                let message = Fields::new(&bytes[HEADER_LEN..])
                    .next()
                    .map_or(&[][..], |field| field.bytes);
                Ok(Packet::Error {
                    code: ErrorCode::from(code),
                    message: String::from_utf8_lossy(message).into_owned(),
                })
            }
            OP_OACK => Ok(Packet::Oack {
                options: parse_options(Fields::new(body)),
            }),
            other => Err(ParseError::UnknownOpcode(other)),
        }
    }

    /// The number of bytes [`Packet::emit`] appends.
    pub fn buffer_len(&self) -> usize {
        OPCODE.len()
            + match self {
                Packet::Rrq(request) | Packet::Wrq(request) => {
                    field_len(&request.filename)
                        + field_len(request.mode.as_str().as_bytes())
                        + options_len(&request.options)
                }
                Packet::Data { payload, .. } => NUMBER.len() + payload.len(),
                Packet::Ack { .. } => NUMBER.len(),
                Packet::Error { message, .. } => NUMBER.len() + field_len(message.as_bytes()),
                Packet::Oack { options } => options_len(options),
            }
    }

    /// Appends the packet's wire form to `out`, leaving what `out` already
    /// holds untouched.
    ///
    /// A string field cannot hold a NUL on the wire: a filename, option or
    /// message containing one is cut at its first NUL.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(self.buffer_len());
        match self {
            Packet::Rrq(request) => emit_request(OP_RRQ, request, out),
            Packet::Wrq(request) => emit_request(OP_WRQ, request, out),
            Packet::Data { block, payload } => {
                out.extend_from_slice(&data_header(*block));
                out.extend_from_slice(payload);
            }
            Packet::Ack { block } => {
                put_u16(out, OP_ACK);
                put_u16(out, *block);
            }
            Packet::Error { code, message } => emit_error(*code, message, out),
            Packet::Oack { options } => emit_oack(options, out),
        }
    }
}

/// The 4-byte header of a DATA packet: opcode 3, then the block number
/// (RFC 1350 section 5). The file bytes follow it.
pub fn data_header(block: u16) -> [u8; 4] {
    let [op_hi, op_lo] = OP_DATA.to_be_bytes();
    let [block_hi, block_lo] = block.to_be_bytes();
    [op_hi, op_lo, block_hi, block_lo]
}

/// A complete ERROR datagram (RFC 1350 section 5).
pub fn error_packet(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + field_len(message.as_bytes()));
    emit_error(code, message, &mut out);
    out
}

/// A complete OACK datagram listing `options` in order (RFC 2347).
pub fn oack_packet(options: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OPCODE.len() + options_len(options));
    emit_oack(options, &mut out);
    out
}

/// Converts a file to netascii for a `netascii` mode transfer: LF becomes
/// CR LF and a bare CR becomes CR NUL (the NVT rules of RFC 764, which
/// RFC 1350 section 1 refers to).
///
/// The result is longer than the input; a transfer of it must use the
/// converted length as its size.
pub fn to_netascii(data: &[u8]) -> Vec<u8> {
    let extra = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    let mut out = Vec::with_capacity(data.len() + extra);
    for &byte in data {
        match byte {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            other => out.push(other),
        }
    }
    out
}

/// Reads the big-endian `u16` at `range`, if the buffer is long enough.
fn read_u16(bytes: &[u8], range: Range<usize>) -> Option<u16> {
    let field: [u8; 2] = bytes.get(range)?.try_into().ok()?;
    Some(u16::from_be_bytes(field))
}

/// The filename, mode and options after a request's opcode (RFC 1350
/// section 5, RFC 2347).
fn parse_request(body: &[u8]) -> Result<Request, ParseError> {
    let mut fields = Fields::new(body);
    let filename = match fields.next() {
        Some(Field {
            bytes,
            terminated: true,
        }) => bytes.to_vec(),
        _ => return Err(ParseError::MissingNul),
    };
    let mode = Mode::parse(fields.next().ok_or(ParseError::MissingMode)?.bytes)?;
    Ok(Request {
        filename,
        mode,
        options: parse_options(fields),
    })
}

/// Pairs up option names and values (RFC 2347). A name left without a
/// value, an empty name, and a pair that is not UTF-8 are dropped.
fn parse_options(mut fields: Fields<'_>) -> Vec<(String, String)> {
    let mut options = Vec::new();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if name.bytes.is_empty() {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            std::str::from_utf8(name.bytes),
            std::str::from_utf8(value.bytes),
        ) {
            options.push((name.to_owned(), value.to_owned()));
        }
    }
    options
}

/// One string field of a request, OACK or ERROR.
struct Field<'a> {
    bytes: &'a [u8],
    /// False for a last field that ran to the end of the datagram.
    terminated: bool,
}

/// Splits a buffer into NUL-terminated strings; a trailing fragment without
/// its NUL is returned as a last, unterminated field.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(rest: &'a [u8]) -> Fields<'a> {
        Fields { rest }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let field = match self.rest.iter().position(|&b| b == 0) {
            Some(nul) => {
                let field = Field {
                    bytes: &self.rest[..nul],
                    terminated: true,
                };
                self.rest = &self.rest[nul + 1..];
                field
            }
            None => {
                let field = Field {
                    bytes: self.rest,
                    terminated: false,
                };
                self.rest = &[];
                field
            }
        };
        Some(field)
    }
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// The part of a string that fits in a NUL-terminated field.
fn field_content(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// Wire length of a string field, its NUL included.
fn field_len(bytes: &[u8]) -> usize {
    field_content(bytes).len() + 1
}

fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(field_content(bytes));
    out.push(0);
}

fn options_len(options: &[(String, String)]) -> usize {
    options
        .iter()
        .map(|(name, value)| field_len(name.as_bytes()) + field_len(value.as_bytes()))
        .sum()
}

fn put_options(out: &mut Vec<u8>, options: &[(String, String)]) {
    for (name, value) in options {
        put_field(out, name.as_bytes());
        put_field(out, value.as_bytes());
    }
}

fn emit_request(opcode: u16, request: &Request, out: &mut Vec<u8>) {
    put_u16(out, opcode);
    put_field(out, &request.filename);
    put_field(out, request.mode.as_str().as_bytes());
    put_options(out, &request.options);
}

fn emit_error(code: ErrorCode, message: &str, out: &mut Vec<u8>) {
    put_u16(out, OP_ERROR);
    put_u16(out, code.code());
    put_field(out, message.as_bytes());
}

fn emit_oack(options: &[(String, String)], out: &mut Vec<u8>) {
    put_u16(out, OP_OACK);
    put_options(out, options);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::XorShift;

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn emitted(packet: &Packet<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        packet.emit(&mut out);
        out
    }

    /// A Raspberry Pi 4 EEPROM read request as PROTOCOLS.md section 2
    /// records it: `ab5a4158/start4.elf octet tsize 0 blksize 1024`.
    const RPI4_RRQ: &[u8] =
        b"\x00\x01ab5a4158/start4.elf\x00octet\x00tsize\x000\x00blksize\x001024\x00";

    #[test]
    fn parses_rpi4_eeprom_rrq() {
        assert_eq!(
            Packet::parse(RPI4_RRQ),
            Ok(Packet::Rrq(Request {
                filename: b"ab5a4158/start4.elf".to_vec(),
                mode: Mode::Octet,
                options: options(&[("tsize", "0"), ("blksize", "1024")]),
            }))
        );
    }

    #[test]
    fn emits_rpi4_eeprom_rrq() {
        let packet = Packet::Rrq(Request {
            filename: b"ab5a4158/start4.elf".to_vec(),
            mode: Mode::Octet,
            options: options(&[("tsize", "0"), ("blksize", "1024")]),
        });
        // Pre-filled so that the emitter appending instead of overwriting,
        // or writing the wrong length, shows up.
        let mut out = vec![0xa5; 3];
        packet.emit(&mut out);
        assert_eq!(&out[..3], &[0xa5; 3]);
        assert_eq!(&out[3..], RPI4_RRQ);
        assert_eq!(packet.buffer_len(), RPI4_RRQ.len());
    }

    #[test]
    fn parses_uboot_rrq_with_case_preserved() {
        // U-Boot's RRQ always carries timeout 5 and blksize (PROTOCOLS.md 3).
        let bytes = b"\x00\x01pxelinux.cfg/default\x00OCTET\x00Timeout\x005\x00BLKSIZE\x001468\x00";
        assert_eq!(
            Packet::parse(bytes),
            Ok(Packet::Rrq(Request {
                filename: b"pxelinux.cfg/default".to_vec(),
                mode: Mode::Octet,
                options: options(&[("Timeout", "5"), ("BLKSIZE", "1468")]),
            }))
        );
    }

    #[test]
    fn mode_is_case_insensitive() {
        for (text, mode) in [
            (&b"NetAscii"[..], Mode::Netascii),
            (b"OCTET", Mode::Octet),
            (b"octet", Mode::Octet),
            (b"Mail", Mode::Mail),
        ] {
            let mut bytes = b"\x00\x01f\x00".to_vec();
            bytes.extend_from_slice(text);
            bytes.push(0);
            match Packet::parse(&bytes) {
                Ok(Packet::Rrq(request)) => assert_eq!(request.mode, mode),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_mode_is_rejected() {
        assert_eq!(
            Packet::parse(b"\x00\x01f\x00binary\x00"),
            Err(ParseError::BadMode("binary".to_owned()))
        );
        assert_eq!(
            Packet::parse(b"\x00\x01f\x00\x00"),
            Err(ParseError::BadMode(String::new()))
        );
    }

    #[test]
    fn empty_filename_is_kept() {
        assert_eq!(
            Packet::parse(b"\x00\x01\x00octet\x00"),
            Ok(Packet::Rrq(Request {
                filename: Vec::new(),
                mode: Mode::Octet,
                options: Vec::new(),
            }))
        );
    }

    #[test]
    fn filename_stays_raw_bytes() {
        let bytes = b"\x00\x02\xff\xfe/../x\x00octet\x00";
        match Packet::parse(bytes) {
            Ok(Packet::Wrq(request)) => assert_eq!(request.filename, b"\xff\xfe/../x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn option_name_without_value_is_dropped() {
        let bytes = b"\x00\x01f\x00octet\x00tsize\x000\x00blksize\x00";
        match Packet::parse(bytes) {
            Ok(Packet::Rrq(request)) => assert_eq!(request.options, options(&[("tsize", "0")])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_utf8_option_is_dropped() {
        let bytes = b"\x00\x01f\x00octet\x00bl\xffk\x001\x00tsize\x00\xc3\x00timeout\x002\x00";
        match Packet::parse(bytes) {
            Ok(Packet::Rrq(request)) => assert_eq!(request.options, options(&[("timeout", "2")])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nul_padding_after_request_is_ignored() {
        let bytes = b"\x00\x01f\x00octet\x00tsize\x000\x00\x00\x00\x00";
        match Packet::parse(bytes) {
            Ok(Packet::Rrq(request)) => assert_eq!(request.options, options(&[("tsize", "0")])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn last_string_may_lack_its_nul() {
        match Packet::parse(b"\x00\x01f\x00octet\x00tsize\x000") {
            Ok(Packet::Rrq(request)) => assert_eq!(request.options, options(&[("tsize", "0")])),
            other => panic!("{other:?}"),
        }
        match Packet::parse(b"\x00\x01f\x00octet") {
            Ok(Packet::Rrq(request)) => assert_eq!(request.mode, Mode::Octet),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_errors() {
        assert_eq!(Packet::parse(b"\x00\x01"), Err(ParseError::MissingNul));
        assert_eq!(Packet::parse(b"\x00\x01file"), Err(ParseError::MissingNul));
        assert_eq!(
            Packet::parse(b"\x00\x01file\x00"),
            Err(ParseError::MissingMode)
        );
    }

    #[test]
    fn truncated_and_unknown_packets() {
        assert_eq!(Packet::parse(b""), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00"), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00\x03\x00"), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00\x04"), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00\x05\x00"), Err(ParseError::Truncated));
        assert_eq!(
            Packet::parse(b"\x00\x07\x00\x01"),
            Err(ParseError::UnknownOpcode(7))
        );
        assert_eq!(
            Packet::parse(b"\x00\x00"),
            Err(ParseError::UnknownOpcode(0))
        );
    }

    #[test]
    fn data_and_ack() {
        assert_eq!(data_header(0x1234), [0x00, 0x03, 0x12, 0x34]);
        assert_eq!(
            Packet::parse(b"\x00\x03\xff\xffabc"),
            Ok(Packet::Data {
                block: 65535,
                payload: b"abc"
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x03\x00\x00"),
            Ok(Packet::Data {
                block: 0,
                payload: b""
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x04\x01\x02"),
            Ok(Packet::Ack { block: 0x0102 })
        );
        // Trailing bytes after an ACK are ignored.
        assert_eq!(
            Packet::parse(b"\x00\x04\x00\x07\x00\x00"),
            Ok(Packet::Ack { block: 7 })
        );
        assert_eq!(emitted(&Packet::Ack { block: 0x0102 }), b"\x00\x04\x01\x02");
    }

    #[test]
    fn error_packets() {
        assert_eq!(
            error_packet(ErrorCode::FileNotFound, "File not found"),
            b"\x00\x05\x00\x01File not found\x00"
        );
        // U-Boot refusing an OACK (PROTOCOLS.md section 3).
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x08bad option\x00"),
            Ok(Packet::Error {
                code: ErrorCode::OptionRejected,
                message: "bad option".to_owned()
            })
        );
        // Missing NUL, missing message, non-UTF-8 message: all still read.
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x00abc"),
            Ok(Packet::Error {
                code: ErrorCode::NotDefined,
                message: "abc".to_owned()
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x63"),
            Ok(Packet::Error {
                code: ErrorCode::Unknown(99),
                message: String::new()
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x02a\xffb\x00"),
            Ok(Packet::Error {
                code: ErrorCode::AccessViolation,
                message: "a\u{fffd}b".to_owned()
            })
        );
    }

    #[test]
    fn emitted_strings_are_cut_at_nul() {
        assert_eq!(
            error_packet(ErrorCode::NotDefined, "a\0b"),
            b"\x00\x05\x00\x00a\x00"
        );
    }

    #[test]
    fn oack_packets() {
        let answer = options(&[("tsize", "1234"), ("blksize", "1024")]);
        let bytes = oack_packet(&answer);
        assert_eq!(bytes, b"\x00\x06tsize\x001234\x00blksize\x001024\x00");
        assert_eq!(Packet::parse(&bytes), Ok(Packet::Oack { options: answer }));
        assert_eq!(oack_packet(&[]), b"\x00\x06");
        assert_eq!(
            Packet::parse(b"\x00\x06"),
            Ok(Packet::Oack {
                options: Vec::new()
            })
        );
    }

    #[test]
    fn error_codes_round_trip() {
        for code in 0..=20u16 {
            assert_eq!(ErrorCode::from(code).code(), code);
        }
        assert_eq!(ErrorCode::from(8), ErrorCode::OptionRejected);
        assert_eq!(ErrorCode::from(9), ErrorCode::Unknown(9));
    }

    #[test]
    fn netascii_conversion() {
        assert_eq!(to_netascii(b""), b"");
        assert_eq!(to_netascii(b"a\nb"), b"a\r\nb");
        assert_eq!(to_netascii(b"a\rb"), b"a\r\0b");
        assert_eq!(to_netascii(b"\r\n"), b"\r\0\r\n");
        assert_eq!(to_netascii(b"\n\n"), b"\r\n\r\n");
        assert_eq!(to_netascii(b"plain"), b"plain");
    }

    /// The generator's byte helpers for these tests.
    trait TftpBytes {
        fn bytes(&mut self, max_len: u64) -> Vec<u8>;
        fn text(&mut self, max_len: u64) -> String;
        fn options(&mut self) -> Vec<(String, String)>;
    }

    impl TftpBytes for XorShift {
        /// Bytes biased towards the ones TFTP gives meaning to.
        fn bytes(&mut self, max_len: u64) -> Vec<u8> {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| match self.below(4) {
                    0 => 0,
                    1 => b"octetnascibkszm1234"[self.below(19) as usize],
                    _ => self.next() as u8,
                })
                .collect()
        }

        /// Printable text without NUL, possibly empty.
        fn text(&mut self, max_len: u64) -> String {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| match self.below(8) {
                    0 => 'é',
                    _ => char::from(b' ' + self.below(95) as u8),
                })
                .collect()
        }

        fn options(&mut self) -> Vec<(String, String)> {
            (0..self.below(5))
                .map(|_| {
                    let mut name = self.text(10);
                    if name.is_empty() {
                        name.push('x');
                    }
                    (name, self.text(10))
                })
                .collect()
        }
    }

    fn random_packet<'a>(rng: &mut XorShift, payload: &'a [u8]) -> Packet<'a> {
        let request = |rng: &mut XorShift| Request {
            filename: rng.bytes(30).into_iter().filter(|&b| b != 0).collect(),
            mode: [Mode::Netascii, Mode::Octet, Mode::Mail][rng.below(3) as usize],
            options: rng.options(),
        };
        match rng.below(6) {
            0 => Packet::Rrq(request(rng)),
            1 => Packet::Wrq(request(rng)),
            2 => Packet::Data {
                block: rng.next() as u16,
                payload: &payload[..rng.below(payload.len() as u64 + 1) as usize],
            },
            3 => Packet::Ack {
                block: rng.next() as u16,
            },
            4 => Packet::Error {
                code: ErrorCode::from(rng.below(12) as u16),
                message: rng.text(40),
            },
            _ => Packet::Oack {
                options: rng.options(),
            },
        }
    }

    /// Parsing never panics; emitted packets parse back to themselves; a
    /// parsed packet emits and re-parses to the same packet.
    #[test]
    fn parse_never_panics_and_round_trips() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let payload: Vec<u8> = (0..600).map(|_| rng.next() as u8).collect();
        for _ in 0..20_000 {
            let packet = random_packet(&mut rng, &payload);
            let bytes = emitted(&packet);
            assert_eq!(bytes.len(), packet.buffer_len());
            assert_eq!(Packet::parse(&bytes).as_ref(), Ok(&packet), "{bytes:?}");

            // Every truncation of a valid packet, and a random mutation.
            for end in 0..bytes.len() {
                check_reparse(&bytes[..end]);
            }
            let mut mutated = bytes.clone();
            if !mutated.is_empty() {
                let at = rng.below(mutated.len() as u64) as usize;
                mutated[at] = rng.next() as u8;
            }
            check_reparse(&mutated);

            // Random bytes behind a plausible opcode, and fully random bytes.
            let mut noise = vec![0, rng.below(8) as u8];
            noise.extend(rng.bytes(40));
            check_reparse(&noise);
            check_reparse(&rng.bytes(40));
        }
    }

    /// Parses `bytes`; if that works, emitting and parsing again must give
    /// the same packet.
    fn check_reparse(bytes: &[u8]) {
        if let Ok(packet) = Packet::parse(bytes) {
            let again = emitted(&packet);
            assert_eq!(Packet::parse(&again).as_ref(), Ok(&packet), "{bytes:?}");
        }
    }
}
