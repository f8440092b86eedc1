//! What an HTTP `Range` header asks of a file of known length, as a pure
//! decision the HTTP service acts on (RFC 9110 section 14).

use http_range_header::{EndPosition, StartPosition, SyntacticallyCorrectRange};

/// How to answer a request for a `len`-byte file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangePlan {
    /// 200 with the whole file: no `Range`, or one this server ignores
    /// (several ranges, or a header it cannot read; RFC 9110 section 14.2
    /// allows ignoring it).
    Whole,
    /// 206 with `count` bytes from `start`: `count >= 1` and
    /// `start + count <= len`.
    Partial {
        /// First byte sent.
        start: u64,
        /// Bytes sent.
        count: u64,
    },
    /// 416: readable ranges the file cannot satisfy (see [`plan`]).
    Unsatisfiable,
}

/// The plan for the value of a `Range` header (`None`: no header, or one
/// that is not visible ASCII) on a file of `len` bytes.
///
/// One range is answered as RFC 9110 section 14.1 reads it: a suffix longer
/// than the file means the whole file (206), a range starting at or past
/// the end is unsatisfiable (416, always so for an empty file, which has no
/// byte to send), and a reversed range is refused with 416 too. A suffix on
/// an empty file is satisfiable but has nothing to send: the whole (empty)
/// file goes out with 200. Several ranges are ignored (200, whole file)
/// unless they overlap or none is satisfiable (416).
pub fn plan(range_header: Option<&str>, len: u64) -> RangePlan {
    let Some(header) = range_header else {
        return RangePlan::Whole;
    };
    let Ok(parsed) = http_range_header::parse_range_header(header) else {
        return RangePlan::Whole;
    };
    if let [only] = parsed.ranges.as_slice() {
        return single(only, len);
    }
    match parsed.validate(len) {
        Ok(_) => RangePlan::Whole,
        Err(_) => RangePlan::Unsatisfiable,
    }
}

fn single(range: &SyntacticallyCorrectRange, len: u64) -> RangePlan {
    match range.start {
        // The parser refuses a zero suffix.
        StartPosition::FromLast(_) if len == 0 => RangePlan::Whole,
        StartPosition::FromLast(suffix) => {
            let count = suffix.min(len);
            RangePlan::Partial {
                start: len - count,
                count,
            }
        }
        StartPosition::Index(first) if first >= len => RangePlan::Unsatisfiable,
        StartPosition::Index(first) => {
            let last = match range.end {
                EndPosition::Index(last) => last.min(len - 1),
                EndPosition::LastByte => len - 1,
            };
            if last < first {
                return RangePlan::Unsatisfiable;
            }
            RangePlan::Partial {
                start: first,
                count: last - first + 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_a_ten_byte_file() {
        let cases: &[(Option<&str>, RangePlan)] = &[
            (None, RangePlan::Whole),
            (Some("bytes=0-3"), RangePlan::Partial { start: 0, count: 4 }),
            (Some("bytes=4-"), RangePlan::Partial { start: 4, count: 6 }),
            (Some("bytes=-3"), RangePlan::Partial { start: 7, count: 3 }),
            (
                Some("bytes=5-100"),
                RangePlan::Partial { start: 5, count: 5 },
            ),
            (Some("bytes=10-"), RangePlan::Unsatisfiable),
            (Some("bytes=0-1,4-5"), RangePlan::Whole),
            (Some("lines=1-2"), RangePlan::Whole),
            (Some("bytes=3-1"), RangePlan::Unsatisfiable),
            (Some("bytes=0-3,2-5"), RangePlan::Unsatisfiable),
            (Some("bytes=20-30,40-50"), RangePlan::Unsatisfiable),
        ];
        for &(header, want) in cases {
            assert_eq!(plan(header, 10), want, "{header:?}");
        }
    }

    /// Confirmed by the `http_range` fuzz target: on an empty file,
    /// http-range-header validates `bytes=0-` to the range 0..=0, which was
    /// answered 206 with one byte, a body slice past the end of the file.
    #[test]
    fn an_empty_file_has_no_byte_to_send() {
        for header in ["bytes=0-", "bytes=0-0", "bytes=0-100", "bytes=5-"] {
            assert_eq!(plan(Some(header), 0), RangePlan::Unsatisfiable, "{header}");
        }
        assert_eq!(plan(Some("bytes=-5"), 0), RangePlan::Whole);
        assert_eq!(plan(None, 0), RangePlan::Whole);
    }

    /// RFC 9110 section 14.1.3: a suffix longer than the file means all of
    /// it (this was answered 416).
    #[test]
    fn a_suffix_longer_than_the_file_is_the_whole_file() {
        assert_eq!(
            plan(Some("bytes=-20"), 10),
            RangePlan::Partial {
                start: 0,
                count: 10
            }
        );
        assert_eq!(
            plan(Some("bytes=-10"), 10),
            RangePlan::Partial {
                start: 0,
                count: 10
            }
        );
    }

    #[test]
    fn the_last_byte_of_a_huge_file() {
        assert_eq!(
            plan(Some("bytes=18446744073709551614-"), u64::MAX),
            RangePlan::Partial {
                start: u64::MAX - 1,
                count: 1
            }
        );
    }
}
