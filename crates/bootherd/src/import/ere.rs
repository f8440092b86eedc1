//! A POSIX extended regular expression, as glibc's `regcomp(REG_EXTENDED)`
//! reads it in the C locale (tftpd-hpa's map files), spelled for the `regex`
//! crate (bootherd's `[[tftp.rewrite]]`), when both find the same first match.
//!
//! The two engines agree on what a plain pattern matches, but not on which
//! match they report: POSIX takes the longest match at the leftmost position
//! (and the longest for each group in turn), the regex crate the first one its
//! backtracking order finds. They part ways on alternation (`a|ab`) and on a
//! repeated group (`(ab)?(abcd)?`), so those are refused, as is whatever glibc
//! reads in its own way (back-references, `\w`, `\<`, `[=a=]`, `a+?`, which the
//! regex crate reads as a lazy `+`). What is accepted is a sequence of
//! characters, `.`, bracket expressions, each repeated or not, groups and
//! anchors. The unit tests compare the two engines on generated patterns.
//!
//! glibc in the C locale works on bytes: `.`, `[^/]` and case-insensitive
//! matching (ASCII only) are spelled with the regex crate's `-u` flag, which
//! does the same, and `.` with `s`, as POSIX's `.` matches a newline too.
//! Pure: text in, text out.

/// An accepted pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern in the regex crate's syntax, flags included.
    pub regex: String,
    /// How many groups it has.
    pub groups: usize,
    /// It starts with `^`: it can match only at the start of the name.
    pub anchored: bool,
    /// It is one character out of a set (a character, `.` or a bracket
    /// expression, maybe in groups, not repeated, no anchor): each match is
    /// one byte.
    pub one_byte: bool,
}

/// Why a pattern is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// glibc refuses it too (tftpd-hpa then does not start).
    Invalid(String),
    /// glibc reads it, but the regex crate would read it otherwise or report
    /// another match.
    Differs(String),
}

/// What came just before, for the quantifier that may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Nothing, `(`: nothing to repeat.
    Nothing,
    /// `^` or `$`.
    Anchor,
    /// One character, `.` or a bracket expression.
    Char,
    /// A repetition.
    Repeated,
    /// `)`.
    Group,
}

/// The largest repetition count accepted (glibc takes up to 32767; the regex
/// crate compiles each repetition out, so keep it small).
pub const MAX_REPEAT: u32 = 255;

/// `ere` (case-insensitive with `icase`, tftpd-hpa's `i`) in the regex crate's
/// syntax.
pub fn translate(ere: &str, icase: bool) -> Result<Pattern, Refusal> {
    let p = ere.as_bytes();
    let mut out = String::new();
    let mut bytes = icase;
    let mut dot = false;
    let mut depth = 0usize;
    let mut groups = 0usize;
    let mut prev = Prev::Nothing;
    // Atoms of one character and whether anything else occurs.
    let mut chars = 0usize;
    let mut other = false;
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        match c {
            b'^' | b'$' => {
                out.push(c as char);
                prev = Prev::Anchor;
                other = true;
            }
            b'.' => {
                out.push('.');
                dot = true;
                bytes = true;
                prev = Prev::Char;
                chars += 1;
            }
            b'[' => {
                let (class, negated, next) = bracket(p, i, icase)?;
                bytes |= negated || class.contains("\\x");
                out.push_str(&class);
                i = next;
                prev = Prev::Char;
                chars += 1;
            }
            b'(' => {
                if p.get(i) == Some(&b')') {
                    return Err(Refusal::Differs("an empty group `()`".into()));
                }
                depth += 1;
                groups += 1;
                out.push('(');
                prev = Prev::Nothing;
            }
            b')' => {
                if depth == 0 {
                    return Err(Refusal::Differs(
                        "a `)` without its `(`, which glibc reads as a plain character".into(),
                    ));
                }
                depth -= 1;
                out.push(')');
                prev = Prev::Group;
            }
            b'|' => {
                return Err(Refusal::Differs(
                    "alternation `|`: POSIX takes the longest alternative, the regex crate \
                     the first that matches"
                        .into(),
                ))
            }
            b'*' | b'+' | b'?' | b'{' => {
                let (text, next) = if c == b'{' {
                    interval(p, i)?
                } else {
                    ((c as char).to_string(), i)
                };
                match prev {
                    Prev::Char => {}
                    Prev::Repeated => {
                        return Err(Refusal::Differs(format!(
                            "a repetition of a repetition (`{}`): the regex crate reads `?` \
                             and `+` after a repetition as lazy and possessive markers",
                            String::from_utf8_lossy(&p[i.saturating_sub(2)..next])
                        )))
                    }
                    Prev::Group => {
                        return Err(Refusal::Differs(
                            "a repeated group: POSIX and the regex crate can match it \
                             differently (POSIX takes the longest overall match)"
                                .into(),
                        ))
                    }
                    Prev::Nothing | Prev::Anchor => {
                        return Err(Refusal::Differs(format!(
                            "`{}` with nothing to repeat before it",
                            c as char
                        )))
                    }
                }
                out.push_str(&text);
                i = next;
                prev = Prev::Repeated;
                other = true;
            }
            b'\\' => {
                let Some(&d) = p.get(i) else {
                    return Err(Refusal::Invalid("a trailing backslash".into()));
                };
                i += 1;
                if d.is_ascii_digit() {
                    return Err(Refusal::Differs(format!(
                        "a back-reference `\\{}`: the regex crate has none",
                        d as char
                    )));
                }
                if d.is_ascii_alphabetic() {
                    return Err(Refusal::Differs(format!(
                        "`\\{}`: glibc reads some escaped letters as its own operators \
                         (`\\w`, `\\b`, `\\<`...), the regex crate others",
                        d as char
                    )));
                }
                bytes |= !d.is_ascii();
                out.push_str(&literal(d));
                prev = Prev::Char;
                chars += 1;
            }
            _ => {
                bytes |= !c.is_ascii();
                out.push_str(&literal(c));
                prev = Prev::Char;
                chars += 1;
            }
        }
    }
    if depth > 0 {
        return Err(Refusal::Invalid("a `(` without its `)`".into()));
    }
    if p.is_empty() {
        return Err(Refusal::Invalid("an empty pattern".into()));
    }
    let mut flags = String::new();
    if icase {
        flags.push('i');
    }
    if dot {
        flags.push('s');
    }
    if bytes {
        flags.push_str("-u");
    }
    let regex = if flags.is_empty() {
        out
    } else {
        format!("(?{flags}){out}")
    };
    Ok(Pattern {
        regex,
        groups,
        anchored: p[0] == b'^',
        one_byte: chars == 1 && !other,
    })
}

/// A character outside a bracket expression, escaped for the regex crate.
fn literal(c: u8) -> String {
    if !c.is_ascii() || c.is_ascii_control() {
        format!("\\x{c:02X}")
    } else if br"\.+*?()|[]{}^$#&-~".contains(&c) {
        format!("\\{}", c as char)
    } else {
        (c as char).to_string()
    }
}

/// A character inside a bracket expression, escaped for the regex crate.
fn class_literal(c: u8) -> String {
    if !c.is_ascii() || c.is_ascii_control() {
        format!("\\x{c:02X}")
    } else if br"\[]^-&~".contains(&c) {
        format!("\\{}", c as char)
    } else {
        (c as char).to_string()
    }
}

/// The POSIX character classes, which the regex crate knows by the same names
/// (ASCII, as glibc's in the C locale).
const CLASSES: [&str; 12] = [
    "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
    "upper", "xdigit",
];

/// The bracket expression starting after the `[` at `start`: the regex crate's
/// spelling, whether it is negated, and where the pattern goes on. Inside
/// brackets a backslash is an ordinary character (POSIX).
fn bracket(p: &[u8], start: usize, icase: bool) -> Result<(String, bool, usize), Refusal> {
    let unclosed = || Refusal::Invalid("a `[` without its `]`".into());
    let mut i = start;
    let negated = p.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut out = String::from(if negated { "[^" } else { "[" });
    let first = i;
    loop {
        let Some(&c) = p.get(i) else {
            return Err(unclosed());
        };
        if c == b']' && i > first {
            return Ok((out + "]", negated, i + 1));
        }
        if c == b'[' && matches!(p.get(i + 1), Some(b':' | b'=' | b'.')) {
            let kind = p[i + 1];
            if kind != b':' {
                return Err(Refusal::Differs(
                    "an equivalence class `[=x=]` or collating symbol `[.x.]`".into(),
                ));
            }
            let rest = &p[i + 2..];
            let Some(end) = rest.windows(2).position(|w| w == b":]") else {
                return Err(unclosed());
            };
            let name = String::from_utf8_lossy(&rest[..end]).into_owned();
            if !CLASSES.contains(&name.as_str()) {
                return Err(Refusal::Invalid(format!("an unknown class `[:{name}:]`")));
            }
            if icase && (name == "upper" || name == "lower") {
                return Err(Refusal::Differs(format!(
                    "`[:{name}:]` in a case-insensitive rule"
                )));
            }
            out.push_str(&format!("[:{name}:]"));
            i += 2 + end + 2;
            continue;
        }
        // A range `a-z`, unless the `-` is the last character before `]`.
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&e| e != b']') {
            let end = p[i + 2];
            if end == b'[' {
                return Err(Refusal::Differs(
                    "a range ending in a class or collating symbol".into(),
                ));
            }
            if end < c {
                return Err(Refusal::Invalid(format!(
                    "the range `{}-{}` runs backwards",
                    c as char, end as char
                )));
            }
            let same_case = (c.is_ascii_lowercase() && end.is_ascii_lowercase())
                || (c.is_ascii_uppercase() && end.is_ascii_uppercase());
            if icase && !same_case && (c..=end).any(|b| b.is_ascii_alphabetic()) {
                return Err(Refusal::Differs(
                    "a range of letters and other characters in a case-insensitive rule".into(),
                ));
            }
            if p.get(i + 3) == Some(&b'-') && p.get(i + 4).is_some_and(|&e| e != b']') {
                return Err(Refusal::Differs("a range followed by `-`".into()));
            }
            out.push_str(&format!("{}-{}", class_literal(c), class_literal(end)));
            i += 3;
            continue;
        }
        if c == b'-' && i > first && p.get(i + 1) != Some(&b']') {
            return Err(Refusal::Differs(
                "a `-` in the middle of a bracket expression, not in a range".into(),
            ));
        }
        out.push_str(&class_literal(c));
        i += 1;
    }
}

/// The interval after the `{` at `start` (`{m}`, `{m,}`, `{m,n}`): its
/// spelling and where the pattern goes on.
fn interval(p: &[u8], start: usize) -> Result<(String, usize), Refusal> {
    let Some(len) = p[start..].iter().position(|&b| b == b'}') else {
        return Err(Refusal::Differs(
            "a `{` that opens no repetition count".into(),
        ));
    };
    let body = std::str::from_utf8(&p[start..start + len]).unwrap_or("x");
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (min, max) = match body.split_once(',') {
        None => (number(body), number(body)),
        Some((m, "")) => (number(m), Some(u32::MAX)),
        Some((m, n)) => (number(m), number(n)),
    };
    let (Some(min), Some(max)) = (min, max) else {
        return Err(Refusal::Differs(format!(
            "`{{{body}}}` is not a repetition count"
        )));
    };
    if min > max {
        return Err(Refusal::Invalid(format!("`{{{body}}}` counts backwards")));
    }
    if min > MAX_REPEAT || (max != u32::MAX && max > MAX_REPEAT) {
        return Err(Refusal::Differs(format!(
            "`{{{body}}}`: counts above {MAX_REPEAT} are not translated"
        )));
    }
    Ok((format!("{{{body}}}"), start + len + 1))
}

#[cfg(test)]
mod tests {
    use super::super::glibc_remap::{first_match, Spans};
    use super::super::testrng::Rng;
    use super::*;

    fn ok(ere: &str, icase: bool) -> String {
        translate(ere, icase).unwrap().regex
    }

    #[test]
    fn spellings() {
        assert_eq!(ok(r"\\", false), r"\\");
        assert_eq!(ok(r"^/tftpboot/", false), "^/tftpboot/");
        assert_eq!(ok(r"^[^/]", false), "(?-u)^[^/]");
        assert_eq!(ok(r"^[a-z]:", true), "(?i-u)^[a-z]:");
        assert_eq!(ok(r"\#", false), r"\#");
        assert_eq!(ok(r"/../", false), "(?s-u)/../");
        assert_eq!(ok(r"^(.*)\.0$", false), r"(?s-u)^(.*)\.0$");
        assert_eq!(ok(r"a{2,}b{0,3}c?", false), "a{2,}b{0,3}c?");
        assert_eq!(ok(r"[]a\-]", false), r"[\]a\\\-]");
        assert_eq!(ok(r"[[:digit:]_-]+", false), r"[[:digit:]_\-]+");
        assert_eq!(ok("é", false), r"(?-u)\xC3\xA9");
        assert_eq!(ok("a&b~c\\ d", false), r"a\&b\~c d");
        let p = translate(r"^(a)(b[cd])", false).unwrap();
        assert_eq!((p.groups, p.anchored, p.one_byte), (2, true, false));
        let p = translate(r"([\])", false).unwrap();
        assert_eq!((p.regex.as_str(), p.one_byte), (r"([\\])", true));
        assert!(!translate("a*", false).unwrap().one_byte);
    }

    #[test]
    fn refusals() {
        let differs = |ere: &str, icase: bool, why: &str| match translate(ere, icase) {
            Err(Refusal::Differs(w)) => assert!(w.contains(why), "{ere}: {w}"),
            other => panic!("{ere}: {other:?}"),
        };
        differs("a|ab", false, "alternation");
        differs("(ab)?c", false, "repeated group");
        differs("a+?", false, "lazy");
        differs("a**", false, "repetition of a repetition");
        differs(r"(a)\1", false, "back-reference");
        differs(r"\w", false, "escaped letters");
        differs("*a", false, "nothing to repeat");
        differs("^*", false, "nothing to repeat");
        differs("[[=a=]]", false, "equivalence");
        differs("a{x}", false, "not a repetition count");
        differs("a{1000}", false, "above 255");
        differs("a{", false, "opens no repetition");
        differs("[a-c-e]", false, "range followed");
        differs("[A-z]", true, "case-insensitive");
        differs("[[:upper:]]", true, "case-insensitive");
        differs("()", false, "empty group");
        differs("a)", false, "without its");
        let invalid = |ere: &str| {
            assert!(
                matches!(translate(ere, false), Err(Refusal::Invalid(_))),
                "{ere}"
            );
        };
        for ere in ["", "(a", "[ab", "a\\", "[z-a]", "a{3,2}", "[[:nope:]]"] {
            invalid(ere);
        }
    }

    fn glibc(ere: &str, icase: bool, text: &[u8]) -> Result<Option<Spans>, ()> {
        first_match(ere, icase, text)
    }

    /// The regex crate's first match and groups 1..=9, like [`glibc`].
    fn ours(regex: &regex::bytes::Regex, text: &[u8]) -> Option<Spans> {
        let caps = regex.captures(text)?;
        Some(
            (0..10)
                .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                .collect(),
        )
    }

    /// Every pattern of up to four pieces out of characters, `.`, a class,
    /// repetitions, groups and anchors, on every name of up to four `a`s and
    /// `b`s: where the two engines could part (which repetition takes what,
    /// which group gets what), an accepted pattern finds the same in both.
    #[test]
    fn every_small_pattern_matches_as_in_glibc() {
        let pieces = [
            "a", "b", ".", "[ab]", "*", "+", "?", "{0,1}", "(", ")", "^", "$",
        ];
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for n in 0..=4u32 {
            for k in 0..(1u32 << n) {
                texts.push(
                    (0..n)
                        .map(|j| if k >> j & 1 == 1 { b'a' } else { b'b' })
                        .collect(),
                );
            }
        }
        let mut accepted = 0;
        for len in 1..=4u32 {
            for mut k in 0..pieces.len().pow(len) {
                let mut ere = String::new();
                for _ in 0..len {
                    ere.push_str(pieces[k % pieces.len()]);
                    k /= pieces.len();
                }
                let Ok(pattern) = translate(&ere, false) else {
                    continue;
                };
                accepted += 1;
                let regex = regex::bytes::Regex::new(&pattern.regex).unwrap();
                for text in &texts {
                    assert_eq!(
                        ours(&regex, text),
                        glibc(&ere, false, text).unwrap(),
                        "{ere:?} as {:?} on {:?}",
                        pattern.regex,
                        String::from_utf8_lossy(text)
                    );
                }
            }
        }
        assert!(accepted > 3000, "{accepted}");
    }

    /// Generated patterns over a few characters, classes, repetitions, groups
    /// and anchors (and things refused), each run against generated names by
    /// glibc and by the regex crate on the translation: whenever a pattern is
    /// accepted, both find the same match with the same groups; whenever it is
    /// called invalid, glibc refuses it; and whatever glibc refuses is never
    /// accepted.
    #[test]
    fn the_same_first_match_as_glibc() {
        let pieces = [
            "a",
            "b",
            "a",
            "b",
            "/",
            ".",
            "[ab]",
            "[^a]",
            "[a-c]",
            "[^/]",
            r"\\",
            r"\.",
            "A",
            "*",
            "*",
            "+",
            "?",
            "{1,2}",
            "{2}",
            "{0,}",
            "(",
            "(",
            ")",
            ")",
            "^",
            "$",
            "|",
            "[]a]",
            "[[:alpha:]]",
            "é",
            "{",
            "}",
            "[B-D]",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut compared) = (0, 0);
        for round in 0..6000 {
            let icase = round % 3 == 0;
            let len = 1 + rng.below(7);
            let ere: String = (0..len).map(|_| pieces[rng.below(pieces.len())]).collect();
            let result = translate(&ere, icase);
            let compiles = glibc(&ere, icase, b"").is_ok();
            match &result {
                Ok(_) => assert!(
                    compiles,
                    "{ere:?} (icase {icase}): accepted, glibc refuses it"
                ),
                Err(Refusal::Invalid(w)) => {
                    assert!(
                        !compiles,
                        "{ere:?} (icase {icase}): called invalid ({w}), glibc takes it"
                    )
                }
                Err(Refusal::Differs(_)) => {}
            }
            let Ok(pattern) = result else { continue };
            accepted += 1;
            let regex = regex::bytes::Regex::new(&pattern.regex)
                .unwrap_or_else(|e| panic!("{ere:?} -> {}: {e}", pattern.regex));
            let letters = b"abAB/\\.c";
            for _ in 0..40 {
                let n = rng.below(8);
                let mut text: Vec<u8> = (0..n).map(|_| letters[rng.below(letters.len())]).collect();
                if rng.below(5) == 0 {
                    text.extend_from_slice("é".as_bytes());
                }
                let want = glibc(&ere, icase, &text).unwrap();
                let got = ours(&regex, &text);
                assert_eq!(
                    got,
                    want,
                    "{ere:?} (icase {icase}) as {:?} on {:?}",
                    pattern.regex,
                    String::from_utf8_lossy(&text)
                );
                compared += 1;
            }
        }
        assert!(
            accepted > 1000 && compared > 40_000,
            "{accepted} {compared}"
        );
    }
}
