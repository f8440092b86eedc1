//! What an HTTP `Range` header asks of a file of known length, as a pure
//! decision the HTTP service acts on (RFC 9110 section 14).

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
    /// 416: one or more readable ranges, but none the file can satisfy
    /// (starting at or past the end, reversed, or an empty file).
    Unsatisfiable,
}

/// The plan for the value of a `Range` header (`None`: no header, or one
/// that is not visible ASCII) on a file of `len` bytes.
pub fn plan(range_header: Option<&str>, len: u64) -> RangePlan {
    let Some(range) = range_header else {
        return RangePlan::Whole;
    };
    match http_range_header::parse_range_header(range).map(|r| r.validate(len)) {
        Ok(Ok(ranges)) if ranges.len() == 1 => {
            let r = &ranges[0];
            RangePlan::Partial {
                start: *r.start(),
                count: r.end() - r.start() + 1,
            }
        }
        Ok(Err(_)) => RangePlan::Unsatisfiable,
        _ => RangePlan::Whole,
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
            // http-range-header reads a reversed range and then refuses it.
            (Some("bytes=3-1"), RangePlan::Unsatisfiable),
        ];
        for &(header, want) in cases {
            assert_eq!(plan(header, 10), want, "{header:?}");
        }
    }
}
