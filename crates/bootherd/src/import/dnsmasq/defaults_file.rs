//! Debian's `/etc/default/dnsmasq`: shell assignments, the command-line words
//! of `DNSMASQ_OPTS` (long and one-letter options) and `CONFIG_DIR`.

use super::syntax::split_fields;
use super::*;

/// `NAME=value` with an upper-case shell variable name (dnsmasq's options are
/// lower case): a line of a defaults file sourced by the start script.
pub(super) fn shell_assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let (name, value) = line.split_once('=')?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_uppercase();
    valid.then_some((name, value))
}

/// The value of a shell assignment: one word after the shell's quoting, `None`
/// when it is not one plain word (a command substitution, several words).
pub fn shell_value(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return Some(String::new());
    }
    if value.contains('$') || value.contains('`') {
        return None;
    }
    let mut words = shlex::split(value)?;
    (words.len() == 1).then(|| words.remove(0))
}

pub(super) fn parse_defaults_line(
    origin: &Origin,
    line: &str,
    var: &str,
    value: &str,
) -> Vec<Entry<Directive>> {
    let whole = |item| {
        vec![Entry {
            origin: origin.clone(),
            text: line.trim().to_owned(),
            item,
        }]
    };
    let Some(value) = shell_value(value) else {
        return whole(Directive::Invalid(format!(
            "{var}: not a plain value (import does not run the shell)"
        )));
    };
    match var {
        "DNSMASQ_OPTS" => match shlex::split(&value) {
            Some(words) => option_words(&words)
                .into_iter()
                .map(|(text, item)| Entry {
                    origin: origin.clone(),
                    text,
                    item,
                })
                .collect(),
            None => whole(Directive::Invalid(
                "DNSMASQ_OPTS: a quote is not closed".into(),
            )),
        },
        // Debian's start script passes it as `-7 $CONFIG_DIR`.
        "CONFIG_DIR" => whole(parse_option("conf-dir", Some(&split_value(&value)))),
        _ => whole(Directive::Other(format!("${var}"))),
    }
}

fn split_value(value: &str) -> Vec<Field> {
    let chars: Vec<(char, bool)> = value.chars().map(|c| (c, false)).collect();
    split_fields(&chars)
}

/// dnsmasq's one-letter options that import reads in `DNSMASQ_OPTS`, with their
/// long names and whether they take a value (dnsmasq's `OPTSTRING`).
const SHORT_OPTIONS: [(char, &str, bool); 21] = [
    ('C', "conf-file", true),
    ('7', "conf-dir", true),
    ('F', "dhcp-range", true),
    ('G', "dhcp-host", true),
    ('M', "dhcp-boot", true),
    ('O', "dhcp-option", true),
    ('U', "dhcp-vendorclass", true),
    ('j', "dhcp-userclass", true),
    ('4', "dhcp-mac", true),
    ('p', "port", true),
    ('i', "interface", true),
    ('a', "listen-address", true),
    ('I', "except-interface", true),
    ('l', "dhcp-leasefile", true),
    ('u', "user", true),
    ('g', "group", true),
    ('x', "pid-file", true),
    ('z', "bind-interfaces", false),
    ('K', "dhcp-authoritative", false),
    ('k', "keep-in-foreground", false),
    ('5', "no-ping", false),
];

/// Parses command-line words (`DNSMASQ_OPTS`): `--name=value`, `--name value`,
/// `--flag`, `-Xvalue`, `-X value`, `-kz`. A word that is not an option is the
/// previous option's value (dnsmasq takes no other arguments).
pub fn option_words(words: &[String]) -> Vec<(String, Directive)> {
    let mut out: Vec<(String, String, Option<String>)> = Vec::new();
    let mut wants_value = false;
    let mut bad = Vec::new();
    for word in words {
        if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => {
                    out.push((word.clone(), name.to_owned(), Some(value.to_owned())));
                    wants_value = false;
                }
                None => {
                    out.push((word.clone(), long.to_owned(), None));
                    wants_value = true;
                }
            }
        } else if let Some(short) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            wants_value = false;
            let mut rest = short;
            while let Some(c) = rest.chars().next() {
                rest = &rest[c.len_utf8()..];
                match SHORT_OPTIONS.iter().find(|&&(s, _, _)| s == c) {
                    Some(&(_, name, true)) => {
                        let value = (!rest.is_empty()).then(|| rest.to_owned());
                        wants_value = value.is_none();
                        out.push((word.clone(), name.to_owned(), value));
                        break;
                    }
                    Some(&(_, name, false)) => out.push((word.clone(), name.to_owned(), None)),
                    None => {
                        bad.push((word.clone(), format!("-{c}")));
                        break;
                    }
                }
            }
        } else if let (true, Some(last)) = (wants_value, out.last_mut()) {
            last.0 = format!("{} {word}", last.0);
            last.2 = Some(word.clone());
            wants_value = false;
        } else {
            bad.push((word.clone(), word.clone()));
        }
    }
    let mut parsed: Vec<(String, Directive)> = out
        .into_iter()
        .map(|(text, name, value)| {
            let fields = value.as_deref().map(split_value);
            (text, parse_option(&name, fields.as_deref()))
        })
        .collect();
    parsed.extend(bad.into_iter().map(|(text, what)| {
        let why = format!("{what}: import reads only dnsmasq's long options and -C -7 -F -G -M -O -U -j -4 -p -i -a -I -l -u -g -x -z -K -k -5 here");
        (text, Directive::Invalid(why))
    }));
    parsed
}
