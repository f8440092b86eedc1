//! For the tests: glibc's POSIX regular expressions (the engine in.tftpd uses,
//! in the C locale, as this test process never calls `setlocale`) and one
//! tftpd-hpa 5.2 rewrite rule run with them, step by step as `remap.c` runs it,
//! to compare the translations with.

use std::ffi::CString;

/// The spans of a match and of groups 1..=9 (`None`: the group took no part).
pub type Spans = Vec<Option<(usize, usize)>>;

/// `regcomp(REG_EXTENDED [| REG_ICASE])` and `regexec` on `text`: `Err` when
/// glibc refuses the pattern, `Ok(None)` when it does not match.
pub fn first_match(ere: &str, icase: bool, text: &[u8]) -> Result<Option<Spans>, ()> {
    let pattern = CString::new(ere).map_err(|_| ())?;
    let text = CString::new(text).map_err(|_| ())?;
    let flags = libc::REG_EXTENDED | if icase { libc::REG_ICASE } else { 0 };
    // SAFETY: regex_t is plain data that regcomp fills in; it is freed once
    // compiled, and regexec writes at most 10 entries into `spans`.
    unsafe {
        let mut re: libc::regex_t = std::mem::zeroed();
        if libc::regcomp(&mut re, pattern.as_ptr(), flags) != 0 {
            return Err(());
        }
        let mut spans = [libc::regmatch_t {
            rm_so: -1,
            rm_eo: -1,
        }; 10];
        let rc = libc::regexec(&re, text.as_ptr(), 10, spans.as_mut_ptr(), 0);
        libc::regfree(&mut re);
        if rc != 0 {
            return Ok(None);
        }
        Ok(Some(
            spans
                .iter()
                .map(|m| (m.rm_so >= 0).then_some((m.rm_so as usize, m.rm_eo as usize)))
                .collect(),
        ))
    }
}

/// tftpd-hpa 5.2's `genmatchstring()`: `current` with the match replaced by
/// `replacement` (`\0`..`\9`, `\L \U \E`, `\c` for any other `c`).
fn replaced(current: &[u8], spans: &Spans, replacement: &str) -> Vec<u8> {
    let (start, end) = spans[0].expect("a match");
    let mut out = current[..start].to_vec();
    let mut case: fn(u8) -> u8 = |b| b;
    let mut rest = replacement.as_bytes().iter().copied().peekable();
    while let Some(b) = rest.next() {
        let Some(d) = (b == b'\\').then(|| rest.next()).flatten() else {
            out.push(case(b));
            continue;
        };
        match d {
            b'0'..=b'9' => {
                if let Some((s, e)) = spans[usize::from(d - b'0')] {
                    out.extend(current[s..e].iter().map(|&c| case(c)));
                }
            }
            b'L' => case = |c| c.to_ascii_lowercase(),
            b'U' => case = |c| c.to_ascii_uppercase(),
            b'E' => case = |c| c,
            other => out.push(case(other)),
        }
    }
    out.extend_from_slice(&current[end..]);
    out
}

/// One `r` rule (`g`, `i` as in `ops`) on `name`, as `rewrite_string()` runs
/// it: `None` when a `g` rule is still matching after `limit` passes (tftpd-hpa
/// would go on forever).
pub fn rewrite(
    ops: &str,
    ere: &str,
    replacement: &str,
    name: &[u8],
    limit: usize,
) -> Option<Vec<u8>> {
    let icase = ops.contains('i');
    let mut current = name.to_vec();
    for _ in 0..limit {
        let Some(spans) = first_match(ere, icase, &current).expect("a pattern glibc takes") else {
            return Some(current);
        };
        current = replaced(&current, &spans, replacement);
        if !ops.contains('g') {
            return Some(current);
        }
    }
    None
}
