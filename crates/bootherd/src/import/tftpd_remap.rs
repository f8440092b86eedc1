//! tftpd-hpa's map file (`--map-file`, in.tftpd(8) "FILENAME REMAPPING"), rule
//! by rule in bootherd's terms: a `[[tftp.rewrite]]` entry where one does
//! exactly what the rule does for a read over IPv4 (all bootherd serves), else
//! why not.
//!
//! As tftp-hpa 5.2's `remap.c` (Debian's 5.2+20150808) reads a rule: up to three
//! fields split at blanks not escaped by `\`, `#` starting a comment; the
//! operation letters `r g e s a i ~ G P 4 6`, anything else making tftpd-hpa
//! refuse the whole file; the pattern a POSIX ERE (glibc, C locale: see
//! [`super::ere`]); in the replacement `\0`..`\9` the match and its groups,
//! `\L \U \E` case changes, `\i \x` the client's address and `\c` any other
//! character as itself.
//!
//! How a rule runs, and what that means here:
//! - `r` replaces the first match only: a pattern anchored with `^` translates
//!   as it is (it matches at most once); any other is spelled
//!   `^(?s-u:(.*?))(PATTERN)` with `${1}` in front of the replacement, which
//!   replaces exactly that first match.
//! - `g` runs the rule again on its own result, from the start, until it no
//!   longer matches (never ending if the result matches again). That is what
//!   bootherd's replace-every-match does when the pattern is one character out
//!   of a set and the replacement holds none of them (`rg \\ /`); a `^` and
//!   one such character with an empty replacement strips every leading one
//!   (`rg ^/` is `^/+`). Other `g` rules are not translated.
//! - `e` ends the rules when it matches: without effect on the last rule; `s`
//!   (start over) and `a` (refuse the request) have no equivalent; `~` inverts
//!   a rule that does not rewrite, which then only matters with `e` or `s`.
//! - `G` (reads only) and `4` (IPv4 only) change nothing for bootherd; a `P`
//!   (uploads) or `6` (IPv6) rule never applies to what bootherd serves.
//! - `r ^(.*)$ \L\1` (or `.*` with `\L\0`) lower-cases the whole name, ASCII
//!   letters as tftpd-hpa in the C locale: `lowercase = true`.
//!
//! Pure: text in, [`Remap`]s out.

use super::ere::{self, Refusal};
use super::{Entry, Origin};

/// What one rule of the map file becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remap {
    /// A `[[tftp.rewrite]]` entry with `from` and `to`; `how` explains a
    /// spelling that differs from the rule's.
    Replace {
        /// The regex crate's pattern.
        from: String,
        /// The replacement (`${N}` for groups, `$$` for `$`).
        to: String,
        /// Why it is spelled so, when it is not plainly the rule.
        how: Option<String>,
    },
    /// `[[tftp.rewrite]] lowercase = true`.
    Lowercase,
    /// A rule that changes nothing bootherd serves, and why.
    NoEffect(String),
    /// Not translated, and why.
    NotTranslated(String),
    /// An `a` rule: tftpd-hpa refused these requests; bootherd has no rule
    /// that refuses one.
    Deny,
    /// tftpd-hpa refuses the whole file for this line (and does not start),
    /// and why.
    Rejected(String),
}

/// tftp-hpa 5.2 gives up on a request after this many rules (`DEADMAN`).
pub const MAX_RULES: usize = 1024;

/// One rule as written: its operation letters, pattern and replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    ops: String,
    pattern: Option<String>,
    replacement: String,
}

/// The rules of a map file, each with what it becomes; lines without a rule
/// (blank, comment) are left out.
pub fn parse_text(text: &str, file: &str) -> Vec<Entry<Remap>> {
    // Each rule is shown as its fields, one blank apart, without the comment.
    let rules: Vec<(usize, String, Rule)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let rule = fields(line)?;
            let shown = [
                Some(&rule.ops),
                rule.pattern.as_ref(),
                Some(&rule.replacement),
            ]
            .into_iter()
            .flatten()
            .filter(|f| !f.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
            Some((i + 1, shown, rule))
        })
        .collect();
    // Whether a rule that can apply to a read over IPv4 follows rule `i`.
    let applies = |rule: &Rule| {
        !rule.ops.contains('6') && (rule.ops.contains('G') || !rule.ops.contains('P'))
    };
    let mut out = Vec::with_capacity(rules.len());
    for (i, (line, text, rule)) in rules.iter().enumerate() {
        let last = !rules[i + 1..].iter().any(|(_, _, r)| applies(r));
        let item = if text.contains('\u{FFFD}') {
            Remap::NotTranslated("the line is not UTF-8 text".into())
        } else if i >= MAX_RULES {
            Remap::NotTranslated(format!(
                "tftpd-hpa gives up on a request (\"Remap table failure\") after {MAX_RULES} rules"
            ))
        } else {
            compiled(remap(rule, last))
        };
        out.push(Entry {
            origin: Origin {
                file: file.to_owned(),
                line: *line,
            },
            text: text.clone(),
            item,
        });
    }
    out
}

/// The fields of a line as `readescstring()` splits them: blanks not escaped
/// by a backslash end a field, an unescaped `#` ends the line, backslashes
/// are kept. `None` for a line without a rule.
fn fields(line: &str) -> Option<Rule> {
    let mut fields: Vec<String> = Vec::new();
    let mut chars = line.chars().peekable();
    while fields.len() < 3 {
        while chars.peek().is_some_and(|c| is_space(*c)) {
            chars.next();
        }
        let mut field = String::new();
        let mut escaped = false;
        while let Some(&c) = chars.peek() {
            if !escaped && (is_space(c) || c == '#') {
                break;
            }
            escaped = !escaped && c == '\\';
            field.push(c);
            chars.next();
        }
        if field.is_empty() {
            break;
        }
        fields.push(field);
    }
    let mut fields = fields.into_iter();
    let ops = fields.next()?;
    Some(Rule {
        ops,
        pattern: fields.next(),
        replacement: fields.next().unwrap_or_default(),
    })
}

/// C's `isspace()` in the C locale.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// One part of a replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A character, as written or escaped.
    Char(char),
    /// `\0`..`\9`.
    Group(u32),
    /// `\L`, `\U`, `\E`.
    Case(char),
    /// `\i`, `\x`.
    Address(char),
}

/// The replacement as `genmatchstring()` reads it.
fn parts(replacement: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut chars = replacement.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(Part::Char(c));
            continue;
        }
        out.push(match chars.next() {
            None => Part::Char('\\'),
            Some(d @ '0'..='9') => Part::Group(d.to_digit(10).unwrap_or(0)),
            Some(d @ ('L' | 'U' | 'E')) => Part::Case(d),
            Some(d @ ('i' | 'x')) => Part::Address(d),
            Some(d) => Part::Char(d),
        });
    }
    out
}

/// The replacement in the regex crate's syntax, groups moved up by `shift`;
/// an error saying why if it has parts bootherd cannot do.
fn spelled(parts: &[Part], shift: u32) -> Result<String, String> {
    let mut out = String::new();
    for part in parts {
        match *part {
            Part::Char('$') => out.push_str("$$"),
            Part::Char(c) => out.push(c),
            Part::Group(n) => out.push_str(&format!("${{{}}}", n + shift)),
            Part::Case(c) => {
                return Err(format!(
                    "`\\{c}` changes the case of what follows; bootherd's replacement cannot \
                     (it lower-cases only a whole name: `r ^(.*)$ \\L\\1`)"
                ))
            }
            Part::Address(c) => {
                return Err(format!(
                    "`\\{c}` puts in the client's address; bootherd's rewrites do not depend on \
                     the client"
                ))
            }
        }
    }
    Ok(out)
}

fn remap(rule: &Rule, last: bool) -> Remap {
    let flag = |c: char| rule.ops.contains(c);
    if let Some(bad) = rule.ops.chars().find(|c| !"rgesai~GP46".contains(*c)) {
        return Remap::Rejected(format!(
            "`{bad}` is not an operation tftpd-hpa knows (r g e s a i ~ G P 4 6)"
        ));
    }
    let (rewrite, global, icase) = (flag('r'), flag('g'), flag('i'));
    if rewrite && flag('~') {
        return Remap::Rejected("`r` and `~` cannot be combined".into());
    }
    let Some(ere) = rule.pattern.as_deref() else {
        return Remap::Rejected("a rule needs a pattern".into());
    };
    let pattern = match ere::translate(ere, icase) {
        Ok(p) => Some(p),
        Err(Refusal::Invalid(why)) => {
            return Remap::Rejected(format!("glibc refuses the pattern: {why}"))
        }
        Err(Refusal::Differs(why)) => {
            if rewrite {
                return Remap::NotTranslated(format!(
                    "the pattern has {why}; bootherd's regular expressions would read it otherwise"
                ));
            }
            None
        }
    };
    if flag('6') {
        return Remap::NoEffect("applies to IPv6 clients (6) only; bootherd serves IPv4".into());
    }
    if flag('P') {
        return if flag('G') {
            Remap::NotTranslated(
                "`G` and `P` together: versions of tftpd-hpa read that differently".into(),
            )
        } else {
            Remap::NoEffect("applies to uploads (P) only; bootherd accepts none".into())
        };
    }
    if flag('a') {
        return Remap::Deny;
    }
    if flag('s') {
        return Remap::NotTranslated(
            "starts the rules over when it matches (s); bootherd applies each rule once, in order"
                .into(),
        );
    }
    if flag('e') && !last {
        return Remap::NotTranslated(
            "ends the rules when it matches (e); bootherd applies every rule in turn, so the \
             rules after it also apply to the names it matches"
                .into(),
        );
    }
    if !rewrite {
        return Remap::NoEffect(if flag('e') {
            "ends the rules when it matches (e), and no rule follows it".into()
        } else {
            "neither rewrites (r), refuses (a), ends (e) nor starts over (s): it changes nothing"
                .into()
        });
    }
    let Some(pattern) = pattern else {
        // A rewrite whose pattern differs returned above.
        return Remap::NotTranslated("its pattern is not translated".into());
    };
    let parts = parts(&rule.replacement);
    let whole = |ere: &str| -> Option<u32> {
        match ere {
            ".*" | "^.*" | ".*$" | "^.*$" => Some(0),
            "(.*)" | "^(.*)" | "(.*)$" | "^(.*)$" => Some(1),
            _ => None,
        }
    };
    if let (Some(n), [Part::Case('L'), Part::Group(g)]) = (whole(ere), parts.as_slice()) {
        if *g == n {
            return if global {
                Remap::NotTranslated(forever())
            } else {
                Remap::Lowercase
            };
        }
    }
    if global {
        return repeated(&pattern, ere, icase, &parts);
    }
    if pattern.anchored {
        return match spelled(&parts, 0) {
            Ok(to) => Remap::Replace {
                from: pattern.regex,
                to,
                how: None,
            },
            Err(why) => Remap::NotTranslated(why),
        };
    }
    // The first match only: what comes before it is group 1, the match group 2.
    match spelled(&parts, 2) {
        Ok(to) => Remap::Replace {
            from: format!("^(?s-u:(.*?))({})", pattern.regex),
            to: format!("${{1}}{to}"),
            how: Some(
                "the first match only, as tftpd-hpa's `r` without `g`: ${1} is what comes \
                 before it"
                    .into(),
            ),
        },
        Err(why) => Remap::NotTranslated(why),
    }
}

/// `remap` when bootherd's regular expressions compile its pattern (a long
/// pattern can be too big for them), else why not.
fn compiled(remap: Remap) -> Remap {
    match &remap {
        Remap::Replace { from, .. } => match regex::bytes::Regex::new(from) {
            Ok(_) => remap,
            Err(err) => Remap::NotTranslated(format!(
                "bootherd's regular expressions cannot take the pattern: {err}"
            )),
        },
        _ => remap,
    }
}

fn forever() -> String {
    "tftpd-hpa would run this `g` rule forever on a name it matches (its result matches \
     again), and never answer"
        .into()
}

/// A `g` rule: rerun from the start on its own result until it no longer
/// matches.
fn repeated(pattern: &ere::Pattern, ere: &str, icase: bool, parts: &[Part]) -> Remap {
    let literal: Option<String> = parts
        .iter()
        .map(|p| match p {
            Part::Char(c) => Some(*c),
            _ => None,
        })
        .collect();
    let differs = || {
        Remap::NotTranslated(
            "`g` runs the rule again on its own result until it no longer matches; bootherd \
             replaces each match of the name once, and for this rule the two can differ"
                .into(),
        )
    };
    let Some(literal) = literal else {
        return if pattern.one_byte {
            // The group or match is the character matched: it matches again.
            Remap::NotTranslated(forever())
        } else {
            differs()
        };
    };
    let Ok(set) = regex::bytes::Regex::new(&pattern.regex) else {
        return differs();
    };
    let in_set = |c: char| {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf).bytes().any(|b| set.is_match(&[b]))
    };
    if pattern.one_byte {
        // Each pass replaces the first character of the set; the result holds
        // one fewer and none new: every one is replaced, once.
        if literal.chars().any(in_set) {
            return Remap::NotTranslated(forever());
        }
        return Remap::Replace {
            from: pattern.regex.clone(),
            to: literal.replace('$', "$$"),
            how: None,
        };
    }
    if pattern.anchored && pattern.groups == 0 {
        // `^` and one character: strips every leading one when the
        // replacement is empty; else it starts the result and decides.
        let Ok(once) = ere::translate(ere.strip_prefix('^').unwrap_or(ere), icase) else {
            return differs();
        };
        if once.one_byte && !ere[1..].starts_with('^') {
            let Ok(one) = regex::bytes::Regex::new(&once.regex) else {
                return differs();
            };
            let first_in_set = literal.bytes().next().map(|b| one.is_match(&[b]));
            return match first_in_set {
                None => match ere::translate(&format!("{ere}+"), icase) {
                    Ok(all) => Remap::Replace {
                        from: all.regex,
                        to: String::new(),
                        how: Some(format!(
                            "every leading match, as `g` strips them one after the other \
                             (`{ere}+`)"
                        )),
                    },
                    Err(_) => differs(),
                },
                Some(false) => Remap::Replace {
                    from: pattern.regex.clone(),
                    to: literal.replace('$', "$$"),
                    how: None,
                },
                Some(true) => Remap::NotTranslated(forever()),
            };
        }
    }
    differs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Remap {
        let got = parse_text(line, "map");
        assert_eq!(got.len(), 1, "{line}: {got:?}");
        got.into_iter().next().unwrap().item
    }

    fn replace(from: &str, to: &str) -> Remap {
        Remap::Replace {
            from: from.into(),
            to: to.into(),
            how: None,
        }
    }

    fn not(line: &str, why: &str) {
        match one(line) {
            Remap::NotTranslated(w) => assert!(w.contains(why), "{line}: {w}"),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn fields_as_tftpd_hpa_splits_them() {
        let rule = |l: &str| fields(l).map(|r| (r.ops, r.pattern, r.replacement));
        assert_eq!(rule("   # comment"), None);
        assert_eq!(rule(""), None);
        assert_eq!(
            rule("rg\t\\\\\t\t/\t\t# Convert backslashes"),
            Some(("rg".into(), Some(r"\\".into()), "/".into()))
        );
        assert_eq!(
            rule(r"r ^a\ b a\#b\ c extra"),
            Some(("r".into(), Some(r"^a\ b".into()), r"a\#b\ c".into()))
        );
        assert_eq!(
            rule("ri ^[a-z]:  # drive"),
            Some(("ri".into(), Some("^[a-z]:".into()), String::new()))
        );
        assert_eq!(rule("e"), Some(("e".into(), None, String::new())));
    }

    #[test]
    fn tftpd_hpa_sample_rules() {
        // tftp-hpa's own sample.rules, in order.
        let text = "ri\t^[a-z]:\t\t\t\t# Remove \"drive letters\"\n\
                    rg\t\\\\\t\t/\t\t# Convert backslashes to slashes\n\
                    rg\t\\#\t\t@\t\t# Convert hash marks to @ signs\n\
                    rg\t/../\t\t/..no../\t# Convert /../ to /..no../\n\
                    e\t^ok/\t\t\t\t# These are always ok\n\
                    r\t^[^/]\t\t/tftpboot/\\0\t# Convert non-absolute files\n\
                    a\t\\.pvt$\t\t\t\t# Reject requests for private files\n";
        let got: Vec<(usize, Remap)> = parse_text(text, "sample.rules")
            .into_iter()
            .map(|e| (e.origin.line, e.item))
            .collect();
        assert_eq!(got[0], (1, replace("(?i-u)^[a-z]:", "")));
        assert_eq!(got[1], (2, replace(r"\\", "/")));
        assert_eq!(got[2], (3, replace(r"\#", "@")));
        assert!(
            matches!(&got[3].1, Remap::NotTranslated(w) if w.contains("its own result")),
            "{got:?}"
        );
        assert!(
            matches!(&got[4].1, Remap::NotTranslated(w) if w.contains("(e)")),
            "{got:?}"
        );
        assert_eq!(got[5], (6, replace("(?-u)^[^/]", "/tftpboot/${0}")));
        assert_eq!(got[6], (7, Remap::Deny));
        assert_eq!(got.len(), 7);
    }

    #[test]
    fn first_match_only() {
        let Remap::Replace { from, to, how } = one(r"r current/ 6.1/\0") else {
            panic!()
        };
        assert_eq!(from, "^(?s-u:(.*?))(current/)");
        assert_eq!(to, "${1}6.1/${2}");
        assert!(how.unwrap().contains("first match only"));
        let Remap::Replace { from, to, .. } = one(r"ri (b)(o)$ \2\1$x") else {
            panic!()
        };
        assert_eq!(from, "^(?s-u:(.*?))((?i-u)(b)(o)$)");
        assert_eq!(to, "${1}${4}${3}$$x");
    }

    #[test]
    fn global_rules() {
        assert_eq!(one(r"rg [\:] /"), replace(r"[\\:]", "/"));
        assert_eq!(one("rgi a b"), replace("(?i-u)a", "b"));
        assert_eq!(one(r"rgG \\ /"), replace(r"\\", "/"));
        // Its own result matches again: tftpd-hpa never answers.
        not("rg a aa", "forever");
        not("rgi a A", "forever");
        not(r"rg (\\) \1", "forever");
        not("rg .* x", "own result");
        not(r"rg ^(.*)$ \L\1", "forever");
        // Leading characters.
        let Remap::Replace { from, to, how } = one("rg ^/") else {
            panic!()
        };
        assert_eq!((from.as_str(), to.as_str()), ("^/+", ""));
        assert!(how.unwrap().contains("every leading"));
        assert_eq!(one("rg ^/ x/"), replace("^/", "x/"));
        not("rg ^/ /x", "forever");
        not("rg ^// /", "own result");
        not(r"rg ^(/) \1", "own result");
    }

    #[test]
    fn everything_else() {
        assert_eq!(one(r"r ^(.*)$ \L\1"), Remap::Lowercase);
        assert_eq!(one(r"r .* \L\0"), Remap::Lowercase);
        not(r"r ^(.*)$ \U\1", "case");
        not(r"r ^ \i/", "client's address");
        not(r"r ^ \x/", "client's address");
        not("r a|b c", "alternation");
        not("rs ^a b", "starts the rules over");
        assert!(
            matches!(&parse_text("e ^a\nr ^b c", "m")[0].item, Remap::NotTranslated(w) if w.contains("(e)"))
        );
        assert!(matches!(one("re ^a b"), Remap::Replace { .. }));
        assert!(matches!(
            parse_text("re ^a b\nrP ^c d\nr6 ^e f\n", "m")[0].item,
            Remap::Replace { .. }
        ));
        assert!(matches!(one("e ^a"), Remap::NoEffect(w) if w.contains("no rule follows")));
        assert!(matches!(one("i ^a"), Remap::NoEffect(w) if w.contains("changes nothing")));
        assert!(matches!(one("rP ^a b"), Remap::NoEffect(w) if w.contains("uploads")));
        assert!(matches!(one("r6 ^a b"), Remap::NoEffect(w) if w.contains("IPv6")));
        assert!(matches!(one("r46 ^a b"), Remap::NoEffect(w) if w.contains("IPv6")));
        not("rGP ^a b", "`G` and `P` together");
        assert_eq!(one("r4G ^a b"), replace("^a", "b"));
        assert_eq!(one(r"a~ \.0$"), Remap::Deny);
        assert_eq!(one("a ^a|b"), Remap::Deny);
        assert!(matches!(one("rx ^a b"), Remap::Rejected(w) if w.contains("`x`")));
        assert!(matches!(one("r~ ^a b"), Remap::Rejected(_)));
        assert!(matches!(one("r"), Remap::Rejected(w) if w.contains("needs a pattern")));
        assert!(matches!(one("r a( b"), Remap::Rejected(w) if w.contains("glibc refuses")));
        not("r ^\u{FFFD} b", "UTF-8");
        let too_big = Remap::Replace {
            from: "(".into(),
            to: String::new(),
            how: None,
        };
        assert!(matches!(compiled(too_big), Remap::NotTranslated(w) if w.contains("cannot take")));
        let many: String = (0..MAX_RULES + 2).map(|i| format!("r ^{i}/ x\n")).collect();
        let got = parse_text(&many, "m");
        assert!(matches!(got[MAX_RULES - 1].item, Remap::Replace { .. }));
        assert!(matches!(&got[MAX_RULES].item, Remap::NotTranslated(w) if w.contains("gives up")));
    }
}

#[cfg(test)]
mod against_tftpd_hpa {
    use super::super::glibc_remap;
    use super::super::testrng::Rng;
    use super::*;
    use crate::config::RewriteConfig;
    use crate::rewrite::Rewrites;

    /// Generated `r` rules (with `g` and `i` or not), each translated and run by
    /// bootherd's rewrites on generated names, and run by tftpd-hpa's algorithm
    /// with glibc: whenever a rule is translated, both give the same name (and
    /// tftpd-hpa finishes).
    #[test]
    fn translated_rules_rewrite_as_tftpd_hpa() {
        let ops = ["r", "rg", "ri", "rgi", "r", "rg"];
        let pieces = [
            "a", "b", "/", "/", ".", "[ab]", "[^a]", r"\\", "A", "*", "+", "?", "(", ")", "^", "^",
            "$", "[/x]",
        ];
        let replacements = [
            "", "", "x", "/", "/", r"\0", r"\1", r"\2", "a", "$", r"\\", "b/", r"\L", r"\U",
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut translated, mut compared) = (0, 0);
        for _ in 0..4000 {
            let op = ops[rng.below(ops.len())];
            let ere: String = (0..1 + rng.below(4))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            let replacement: String = (0..rng.below(3))
                .map(|_| replacements[rng.below(replacements.len())])
                .collect();
            let line = format!("{op} {ere} {replacement}");
            let config = match &parse_text(&line, "m")[0].item {
                Remap::Replace { from, to, .. } => RewriteConfig {
                    from: Some(from.clone()),
                    to: Some(to.clone()),
                    lowercase: false,
                },
                Remap::Lowercase => RewriteConfig {
                    lowercase: true,
                    ..RewriteConfig::default()
                },
                _ => continue,
            };
            translated += 1;
            let rewrites = Rewrites::new(std::slice::from_ref(&config))
                .unwrap_or_else(|e| panic!("{line:?} -> {config:?}: {e:?}"));
            let letters = b"aAbB//\\.x";
            for _ in 0..30 {
                let name: Vec<u8> = (0..rng.below(9))
                    .map(|_| letters[rng.below(letters.len())])
                    .collect();
                let want = glibc_remap::rewrite(op, &ere, &replacement, &name, 200);
                let got = rewrites.apply(&name).into_owned();
                assert_eq!(
                    Some(&got),
                    want.as_ref(),
                    "{line:?} as {config:?} on {:?}",
                    String::from_utf8_lossy(&name)
                );
                compared += 1;
            }
        }
        assert!(
            translated > 800 && compared > 20_000,
            "{translated} {compared}"
        );
    }

    /// The sample rules that are translated, and `r ^(.*)$ \L\1`, on names
    /// Windows clients send.
    #[test]
    fn common_rules_on_windows_names() {
        let rules = [
            ("ri", "^[a-z]:", ""),
            ("rg", r"\\", "/"),
            ("rg", r"\#", "@"),
            ("r", "^[^/]", r"/tftpboot/\0"),
            ("rg", "^/", ""),
            ("r", "^(.*)$", r"\L\1"),
            ("r", "current/", "6.1/"),
        ];
        let names: [&[u8]; 6] = [
            br"C:\Boot\BCD",
            br"\Boot\x64\wdsmgfw.efi",
            b"//pxelinux.cfg/default",
            b"current/current/#1",
            b"",
            b"plain",
        ];
        for (op, ere, replacement) in rules {
            let line = format!("{op} {ere} {replacement}");
            let config = match parse_text(&line, "m").remove(0).item {
                Remap::Replace { from, to, .. } => RewriteConfig {
                    from: Some(from),
                    to: Some(to),
                    lowercase: false,
                },
                Remap::Lowercase => RewriteConfig {
                    lowercase: true,
                    ..RewriteConfig::default()
                },
                other => panic!("{line}: {other:?}"),
            };
            let rewrites = Rewrites::new(&[config]).unwrap();
            for name in names {
                assert_eq!(
                    Some(rewrites.apply(name).into_owned()),
                    glibc_remap::rewrite(op, ere, replacement, name, 100),
                    "{line} on {}",
                    String::from_utf8_lossy(name)
                );
            }
        }
    }
}
