//! Any `Range` header against any file length: a partial answer covers at
//! least one byte and never reaches past the end of the file.
//!
//! Input: one byte, the file length if below 128; otherwise the length is
//! the next 8 bytes (big-endian). The rest is the header value; no valid
//! UTF-8 means no header.
#![no_main]

use bootherd::http::range::{plan, RangePlan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (len, header) = match data {
        [small @ 0..=127, rest @ ..] => (u64::from(*small), rest),
        [_, len @ ..] if len.len() >= 8 => {
            let (len, rest) = len.split_at(8);
            (u64::from_be_bytes(len.try_into().unwrap()), rest)
        }
        _ => return,
    };
    let header = std::str::from_utf8(header).ok();
    match plan(header, len) {
        RangePlan::Partial { start, count } => {
            assert!(count >= 1, "{header:?} on {len} bytes: empty range");
            let end = start.checked_add(count);
            assert!(
                end.is_some_and(|end| end <= len),
                "{header:?} on {len} bytes: bytes {start}+{count}"
            );
        }
        RangePlan::Whole | RangePlan::Unsatisfiable => {}
    }
});
