//! Any datagram: what parses as TFTP re-emits to bytes of the announced
//! length that parse back to the same packet, and emitting those again
//! gives the same bytes. Any text makes an ERROR datagram that parses back
//! to its code and its text up to the first NUL.
#![no_main]

use bootherd_proto::wire::tftp::{error_packet, ErrorCode, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::parse(data) {
        let mut bytes = Vec::new();
        packet.emit(&mut bytes);
        assert_eq!(bytes.len(), packet.buffer_len(), "{packet:?}");
        let again = Packet::parse(&bytes).expect("an emitted packet parses");
        assert_eq!(again, packet, "parse(emit(p)) != p");
        let mut twice = Vec::new();
        again.emit(&mut twice);
        assert_eq!(twice, bytes);
    }

    if let [hi, lo, rest @ ..] = data {
        let code = ErrorCode::from(u16::from_be_bytes([*hi, *lo]));
        let text = String::from_utf8_lossy(rest);
        let bytes = error_packet(code, &text);
        let sent = text.split('\0').next().unwrap_or("");
        match Packet::parse(&bytes) {
            Ok(Packet::Error { code: got, message }) => {
                assert_eq!(got, code);
                assert_eq!(message, sent);
            }
            other => panic!("error_packet parsed as {other:?}"),
        }
    }
});
