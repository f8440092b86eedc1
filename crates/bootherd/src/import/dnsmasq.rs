//! dnsmasq's configuration, read the way dnsmasq reads it (dnsmasq(8), "CONFIG
//! FILE", and `one_file()` in its `option.c`): one option per line, the long
//! option names without `--` (a leading `--` is accepted too), `#` starting a
//! comment at the start of a line or after a blank, `"` quoting a stretch in
//! which `,` and `#` lose their meaning and `\\ \" \t \e \b \r \n` are escapes, and
//! comma-separated fields with the blanks around each comma dropped.
//!
//! Pure: text in, [`Directive`]s out. Reading the files named by `conf-file` and
//! `conf-dir` is the caller's business ([`super::read`]).

use std::net::Ipv4Addr;

use super::{Entry, Origin};

/// One comma-separated field of a value, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The text.
    pub text: String,
    /// Whether any of it was quoted (a quoted `tag:x` is not a tag).
    pub quoted: bool,
}

/// A line split as dnsmasq splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionLine {
    /// The option's name, without a leading `--`.
    pub name: String,
    /// The fields after `=`; `None` for a line without `=`.
    pub fields: Option<Vec<Field>>,
    /// The line as written, without its comment and the blanks around it.
    pub text: String,
}

/// What a line says, for the options import translates; the others are
/// [`Directive::Other`] and are judged by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `port=N`.
    Port(u16),
    /// `dhcp-range=...`.
    DhcpRange(DhcpRange),
    /// `dhcp-host=...`.
    DhcpHost(DhcpHost),
    /// `dhcp-boot=...`.
    DhcpBoot(DhcpBoot),
    /// `pxe-service=...`.
    PxeService(PxeService),
    /// `pxe-prompt=...`.
    PxePrompt,
    /// `dhcp-match=set:TAG,OPTION[,VALUE]`.
    DhcpMatch(DhcpMatch),
    /// `dhcp-vendorclass=set:TAG,CLASS`.
    VendorClass {
        /// The tag set.
        tag: String,
        /// Matched as a substring of the client's vendor class (option 60).
        class: String,
    },
    /// `dhcp-userclass=set:TAG,CLASS`.
    UserClass {
        /// The tag set.
        tag: String,
        /// Matched as a substring of the client's user class (option 77).
        class: String,
    },
    /// `dhcp-mac=set:TAG,PATTERN`.
    DhcpMac {
        /// The tag set.
        tag: String,
        /// The MAC, `None` for a byte written `*`.
        pattern: [Option<u8>; 6],
    },
    /// `dhcp-option=...` (and `dhcp-option-force`).
    DhcpOption(DhcpOption),
    /// `enable-tftp[=IF,...]`.
    EnableTftp(Vec<String>),
    /// `tftp-root=DIR[,IF]`.
    TftpRoot {
        /// The directory.
        dir: String,
        /// Only for requests through this interface.
        interface: Option<String>,
    },
    /// `tftp-max=N`.
    TftpMax(u32),
    /// `tftp-mtu=N`.
    TftpMtu(u32),
    /// `interface=IF[,IF...]`.
    Interface(Vec<String>),
    /// `listen-address=ADDR[,ADDR...]`.
    ListenAddress(Vec<Ipv4Addr>),
    /// `domain=NAME` (without a range).
    Domain(String),
    /// `no-ping`.
    NoPing,
    /// `conf-file=FILE`.
    ConfFile(String),
    /// `conf-dir=DIR[,EXT...]`.
    ConfDir {
        /// The directory.
        dir: String,
        /// `*.conf`: only files ending `.conf`; `.bak`: not files ending `.bak`.
        filters: Vec<String>,
    },
    /// Any other option, by name, as dnsmasq spells it.
    Other(String),
    /// A line import cannot read as this option, and why.
    Invalid(String),
}

/// A condition on a tag: `tag:NAME` or `tag:!NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCond {
    /// The tag.
    pub tag: String,
    /// `tag:!NAME` (or the old `net:#NAME`): the tag must not be set.
    pub negated: bool,
}

/// `dhcp-range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpRange {
    /// `tag:` conditions.
    pub tags: Vec<TagCond>,
    /// `set:` tag.
    pub set: Option<String>,
    /// The first address (for a proxy range, any address of the subnet).
    pub start: Ipv4Addr,
    /// What kind of range.
    pub mode: RangeMode,
    /// The netmask, when given.
    pub netmask: Option<Ipv4Addr>,
    /// The lease time in seconds; `None` when not given, `Some(None)` for `infinite`.
    pub lease: Option<Option<u64>>,
}

/// The second field of a `dhcp-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeMode {
    /// Addresses `start..=end` are handed out.
    Dynamic(Ipv4Addr),
    /// `static`: only `dhcp-host` addresses.
    Static,
    /// `proxy`: proxyDHCP on the subnet, no addresses.
    Proxy,
}

/// `dhcp-host`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DhcpHost {
    /// Exact MACs.
    pub macs: Vec<[u8; 6]>,
    /// MACs with `*` bytes or an ARP type, which bootherd cannot own.
    pub mac_patterns: Vec<String>,
    /// `id:` client identifiers.
    pub client_ids: Vec<String>,
    /// `set:` tags.
    pub set: Vec<String>,
    /// `tag:` conditions.
    pub tags: Vec<TagCond>,
    /// The IPv4 address.
    pub ip: Option<Ipv4Addr>,
    /// `[...]` IPv6 addresses.
    pub ipv6: Vec<String>,
    /// The host name.
    pub hostname: Option<String>,
    /// The lease time: `Some(None)` for `infinite`.
    pub lease: Option<Option<u64>>,
    /// `ignore`.
    pub ignore: bool,
}

/// `dhcp-boot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpBoot {
    /// `tag:` conditions.
    pub tags: Vec<TagCond>,
    /// The boot file.
    pub file: String,
    /// The server name (BOOTP `sname`, or option 66 when asked for).
    pub server_name: Option<String>,
    /// The TFTP server's address or name.
    pub server: Option<String>,
}

/// `pxe-service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PxeService {
    /// `tag:` conditions.
    pub tags: Vec<TagCond>,
    /// The client system type (option 93 value).
    pub csa: u16,
    /// The menu text.
    pub menu: String,
    /// What the entry boots.
    pub boot: PxeBoot,
    /// Another boot server's address or name.
    pub server: Option<String>,
}

/// What a `pxe-service` entry boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PxeBoot {
    /// A file from a basename: with a `.` it is the name; without, PXE asks for
    /// `BASENAME.0` (layer 0; `rfc2131.c`).
    File(String),
    /// Boot from local media (no basename, or service type 0).
    Local,
    /// Search the network for a boot server of this type.
    ServiceType(u32),
}

impl PxeBoot {
    /// The file a PXE client asks for, if any.
    pub fn file(&self) -> Option<String> {
        match self {
            PxeBoot::File(base) if base.contains('.') => Some(base.clone()),
            PxeBoot::File(base) => Some(format!("{base}.0")),
            _ => None,
        }
    }
}

/// `dhcp-match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpMatch {
    /// The tag set.
    pub tag: String,
    /// The option: a number, or `None` for what import does not read
    /// (`vi-encap:`, an unknown name).
    pub option: Option<u16>,
    /// The value it must have, if any.
    pub value: Option<String>,
}

/// `dhcp-option`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOption {
    /// `tag:` conditions.
    pub tags: Vec<TagCond>,
    /// `encap:`, `vi-encap:` or `vendor:` (an option inside another).
    pub encapsulated: bool,
    /// The option number, `None` for an IPv6 or unknown option.
    pub option: Option<u16>,
    /// The values.
    pub values: Vec<String>,
}

/// dnsmasq's client system types for `pxe-service`, as numbered since dnsmasq
/// 2.76 (whose changelog swapped BC_EFI and x86-64_EFI to follow RFC 4578's
/// erratum): the position in this list is the option 93 value.
const CSA_NAMES: [&str; 12] = [
    "x86PC",
    "PC98",
    "IA64_EFI",
    "Alpha",
    "Arc_x86",
    "Intel_Lean_Client",
    "IA32_EFI",
    "x86-64_EFI",
    "Xscale_EFI",
    "BC_EFI",
    "ARM32_EFI",
    "ARM64_EFI",
];

/// The dnsmasq name of an option 93 value, for messages.
pub fn csa_name(csa: u16) -> String {
    CSA_NAMES
        .get(usize::from(csa))
        .map(|s| s.to_string())
        .unwrap_or_else(|| csa.to_string())
}

/// Option names (`option:NAME`) import reads, with their numbers (`dnsmasq --help
/// dhcp`).
const OPTION_NAMES: [(&str, u16); 12] = [
    ("netmask", 1),
    ("router", 3),
    ("dns-server", 6),
    ("domain-name", 15),
    ("root-path", 17),
    ("vendor-class", 60),
    ("tftp-server", 66),
    ("bootfile-name", 67),
    ("user-class", 77),
    ("client-arch", 93),
    ("client-interface-id", 94),
    ("client-machine-id", 97),
];

fn option_number(text: &str) -> Option<u16> {
    match text.strip_prefix("option:") {
        Some(name) => OPTION_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, number)| number)
            .or_else(|| name.parse().ok()),
        None => text.parse().ok(),
    }
}

/// Splits one line as dnsmasq does. `None` for a blank or comment line;
/// `Err` for an unterminated quote.
pub fn split_line(line: &str) -> Option<Result<OptionLine, String>> {
    // Characters with whether they were quoted, quotes and comment removed.
    let mut chars: Vec<(char, bool)> = Vec::new();
    let mut text_end = 0;
    let mut white = true;
    let mut iter = line.char_indices().peekable();
    while let Some((at, c)) = iter.next() {
        if c == '"' {
            let mut closed = false;
            while let Some((_, q)) = iter.next() {
                match q {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match iter.peek().map(|&(_, n)| n) {
                        Some(n @ ('"' | '\\' | 't' | 'e' | 'b' | 'r' | 'n')) => {
                            iter.next();
                            let real = match n {
                                't' => '\t',
                                'e' => '\u{1b}',
                                'b' => '\u{8}',
                                'r' => '\r',
                                'n' => '\n',
                                other => other,
                            };
                            chars.push((real, true));
                        }
                        _ => chars.push(('\\', true)),
                    },
                    other => chars.push((other, true)),
                }
            }
            if !closed {
                return Some(Err("a quote (\") is not closed".into()));
            }
            white = false;
            text_end = iter.peek().map_or(line.len(), |&(i, _)| i);
            continue;
        }
        if white && c == '#' {
            break;
        }
        white = c.is_whitespace();
        chars.push((c, false));
        text_end = at + c.len_utf8();
    }
    // The blanks around the line go (quoted ones at the end stay).
    while chars.last().is_some_and(|&(c, q)| !q && c.is_whitespace()) {
        chars.pop();
    }
    let start = chars
        .iter()
        .position(|&(c, q)| q || !c.is_whitespace())
        .unwrap_or(chars.len());
    let chars = &chars[start..];
    if chars.is_empty() {
        return None;
    }
    let text = line[..text_end].trim().to_owned();
    // The first `=`, quoted or not, as dnsmasq's strchr finds it.
    let (name_part, value_part) = match chars.iter().position(|&(c, _)| c == '=') {
        Some(eq) => (&chars[..eq], Some(&chars[eq + 1..])),
        None => (chars, None),
    };
    let name: String = name_part.iter().map(|&(c, _)| c).collect();
    let name = name.trim();
    let name = name.strip_prefix("--").unwrap_or(name).to_owned();
    let fields = value_part.map(split_fields);
    Some(Ok(OptionLine { name, fields, text }))
}

/// Splits a value at unquoted commas, dropping unquoted blanks around each field.
fn split_fields(value: &[(char, bool)]) -> Vec<Field> {
    let mut fields = Vec::new();
    for part in value.split(|&(c, q)| c == ',' && !q) {
        let start = part
            .iter()
            .position(|&(c, q)| q || !c.is_whitespace())
            .unwrap_or(part.len());
        let end = part
            .iter()
            .rposition(|&(c, q)| q || !c.is_whitespace())
            .map_or(start, |i| i + 1);
        let part = &part[start..end.max(start)];
        fields.push(Field {
            text: part.iter().map(|&(c, _)| c).collect(),
            quoted: part.iter().any(|&(_, q)| q),
        });
    }
    fields
}

/// Parses a whole file: one entry per option line. A line of Debian's
/// `/etc/default/dnsmasq` (`DNSMASQ_OPTS="--opt=value ..."`, `CONFIG_DIR=...`)
/// gives one entry per option in it.
pub fn parse_text(text: &str, file: &str) -> Vec<Entry<Directive>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let origin = Origin {
            file: file.to_owned(),
            line: i + 1,
        };
        if let Some((var, value)) = shell_assignment(line) {
            out.extend(parse_defaults_line(&origin, line, var, value));
            continue;
        }
        let Some(split) = split_line(line) else {
            continue;
        };
        let entry = match split {
            Ok(option) => Entry {
                origin,
                text: option.text.clone(),
                item: parse_option(&option.name, option.fields.as_deref()),
            },
            Err(why) => Entry {
                origin,
                text: line.trim().to_owned(),
                item: Directive::Invalid(why),
            },
        };
        out.push(entry);
    }
    out
}

/// `NAME=value` with an upper-case shell variable name (dnsmasq's options are
/// lower case): a line of a defaults file sourced by the start script.
fn shell_assignment(line: &str) -> Option<(&str, &str)> {
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

fn parse_defaults_line(
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

/// Splits `tag:`/`net:` conditions off the front of `fields`.
fn take_tags(fields: &mut &[Field]) -> Vec<TagCond> {
    let mut tags = Vec::new();
    while let Some(first) = fields.first() {
        let Some(name) = (!first.quoted)
            .then(|| {
                first
                    .text
                    .strip_prefix("tag:")
                    .or_else(|| first.text.strip_prefix("net:"))
            })
            .flatten()
        else {
            break;
        };
        tags.push(tag_cond(name));
        *fields = &fields[1..];
    }
    tags
}

fn tag_cond(name: &str) -> TagCond {
    match name.strip_prefix('!').or_else(|| name.strip_prefix('#')) {
        Some(tag) => TagCond {
            tag: tag.to_owned(),
            negated: true,
        },
        None => TagCond {
            tag: name.to_owned(),
            negated: false,
        },
    }
}

/// The tag of a `set:TAG` field; with `bare`, a field without prefix names it
/// too (the old spelling of `dhcp-match`, `dhcp-vendorclass`).
fn set_tag(field: &Field, bare: bool) -> Option<String> {
    if field.quoted {
        return None;
    }
    let text = &field.text;
    text.strip_prefix("set:")
        .or_else(|| text.strip_prefix("net:"))
        .map(str::to_owned)
        .or_else(|| (bare && !text.contains(':') && !text.is_empty()).then(|| text.clone()))
}

/// Parses dnsmasq's lease time: seconds, or with `m`, `h`, `d`, `w`; `infinite`.
pub fn parse_lease(text: &str) -> Option<Option<u64>> {
    if text == "infinite" {
        return Some(None);
    }
    let (digits, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 's'),
    };
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    n.checked_mul(factor).map(Some)
}

fn ipv4(text: &str) -> Option<Ipv4Addr> {
    text.parse().ok()
}

/// Parses one option by name.
pub fn parse_option(name: &str, fields: Option<&[Field]>) -> Directive {
    let name = name.strip_prefix("--").unwrap_or(name);
    let parsed = match (name, fields) {
        ("port", Some(f)) => f
            .first()
            .and_then(|f| f.text.parse().ok())
            .map(Directive::Port)
            .ok_or("not a port number".to_owned()),
        ("dhcp-range", Some(f)) => parse_range(f).map(Directive::DhcpRange),
        ("dhcp-host", Some(f)) => parse_host(f).map(Directive::DhcpHost),
        ("dhcp-boot", Some(f)) => parse_boot(f).map(Directive::DhcpBoot),
        ("pxe-service", Some(f)) => parse_service(f).map(Directive::PxeService),
        ("pxe-prompt", Some(_)) => Ok(Directive::PxePrompt),
        ("dhcp-match", Some(f)) => parse_match(f).map(Directive::DhcpMatch),
        ("dhcp-vendorclass" | "dhcp-userclass", Some(f)) => {
            let tag = f.first().and_then(|t| set_tag(t, true));
            // IPv6's `enterprise:N,` comes between.
            let class = f[1.min(f.len())..]
                .iter()
                .find(|c| c.quoted || !c.text.starts_with("enterprise:"));
            match (tag, class) {
                (Some(tag), Some(class)) if name == "dhcp-vendorclass" => {
                    Ok(Directive::VendorClass {
                        tag,
                        class: class.text.clone(),
                    })
                }
                (Some(tag), Some(class)) => Ok(Directive::UserClass {
                    tag,
                    class: class.text.clone(),
                }),
                _ => Err("expected set:TAG,CLASS".into()),
            }
        }
        ("dhcp-mac", Some(f)) => match (f.first().and_then(|t| set_tag(t, true)), f.get(1)) {
            (Some(tag), Some(mac)) => parse_mac_pattern(&mac.text)
                .map(|pattern| Directive::DhcpMac { tag, pattern })
                .ok_or_else(|| format!("`{}` is not a MAC pattern", mac.text)),
            _ => Err("expected set:TAG,MAC".into()),
        },
        ("dhcp-option" | "dhcp-option-force", Some(f)) => {
            parse_dhcp_option(f).map(Directive::DhcpOption)
        }
        ("enable-tftp", f) => Ok(Directive::EnableTftp(
            f.unwrap_or_default()
                .iter()
                .map(|f| f.text.clone())
                .filter(|t| !t.is_empty())
                .collect(),
        )),
        ("tftp-root", Some(f)) => match f.first().filter(|d| !d.text.is_empty()) {
            Some(dir) => Ok(Directive::TftpRoot {
                dir: dir.text.clone(),
                interface: f.get(1).map(|i| i.text.clone()),
            }),
            None => Err("no directory".into()),
        },
        ("tftp-max", Some(f)) => f
            .first()
            .and_then(|n| n.text.parse().ok())
            .map(Directive::TftpMax)
            .ok_or("not a number".into()),
        ("tftp-mtu", Some(f)) => f
            .first()
            .and_then(|n| n.text.parse().ok())
            .map(Directive::TftpMtu)
            .ok_or("not a number".into()),
        ("interface", Some(f)) => Ok(Directive::Interface(
            f.iter().map(|i| i.text.clone()).collect(),
        )),
        ("listen-address", Some(f)) => f
            .iter()
            .map(|a| ipv4(&a.text).ok_or_else(|| format!("`{}` is not an IPv4 address", a.text)))
            .collect::<Result<Vec<_>, _>>()
            .map(Directive::ListenAddress),
        ("domain", Some(f)) if f.len() == 1 => Ok(Directive::Domain(f[0].text.clone())),
        ("no-ping", None) => Ok(Directive::NoPing),
        ("conf-file", Some(f)) if f.len() == 1 && !f[0].text.is_empty() && f[0].text != "-" => {
            Ok(Directive::ConfFile(f[0].text.clone()))
        }
        ("conf-dir", Some(f)) if !f.is_empty() && !f[0].text.is_empty() => Ok(Directive::ConfDir {
            dir: f[0].text.clone(),
            filters: f[1..].iter().map(|x| x.text.clone()).collect(),
        }),
        _ => Ok(Directive::Other(name.to_owned())),
    };
    parsed.unwrap_or_else(Directive::Invalid)
}

fn parse_range(fields: &[Field]) -> Result<DhcpRange, String> {
    let mut f = fields;
    let tags = take_tags(&mut f);
    let set = match f.first().and_then(|x| set_tag(x, false)) {
        Some(tag) => {
            f = &f[1..];
            Some(tag)
        }
        None => None,
    };
    let first = f.first().ok_or("no address")?;
    let Some(start) = ipv4(&first.text) else {
        return Err(if first.text.contains(':') {
            "an IPv6 range".into()
        } else {
            format!("`{}` is not an IPv4 address", first.text)
        });
    };
    let mut rest = &f[1..];
    let mode = match rest.first().map(|x| x.text.as_str()) {
        Some("proxy") => RangeMode::Proxy,
        Some("static") => RangeMode::Static,
        Some(text) => match ipv4(text) {
            Some(end) => RangeMode::Dynamic(end),
            // A single address, then the lease time.
            None => {
                rest = &f[0..];
                RangeMode::Dynamic(start)
            }
        },
        None => {
            rest = &f[0..];
            RangeMode::Dynamic(start)
        }
    };
    rest = &rest[1.min(rest.len())..];
    let mut netmask = None;
    if let Some(mask) = rest
        .first()
        .filter(|m| m.text.contains('.'))
        .and_then(|m| ipv4(&m.text))
    {
        netmask = Some(mask);
        rest = &rest[1..];
        // The broadcast address.
        if rest
            .first()
            .is_some_and(|b| b.text.contains('.') && ipv4(&b.text).is_some())
        {
            rest = &rest[1..];
        }
    }
    let lease = match rest {
        [] => None,
        [lease] => Some(
            parse_lease(&lease.text)
                .ok_or_else(|| format!("`{}` is not a lease time", lease.text))?,
        ),
        more => {
            return Err(format!(
                "`{}`: more fields than a range has",
                more.iter()
                    .map(|x| x.text.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ))
        }
    };
    let (start, mode) = match mode {
        // dnsmasq swaps a range given backwards.
        RangeMode::Dynamic(end) if u32::from(end) < u32::from(start) => {
            (end, RangeMode::Dynamic(start))
        }
        other => (start, other),
    };
    Ok(DhcpRange {
        tags,
        set,
        start,
        mode,
        netmask,
        lease,
    })
}

/// Parses `aa:bb:cc:dd:ee:ff`, where a byte may be `*`.
fn parse_mac_pattern(text: &str) -> Option<[Option<u8>; 6]> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = [None; 6];
    for (slot, part) in out.iter_mut().zip(parts) {
        *slot = match part {
            "*" => None,
            hex if (1..=2).contains(&hex.len()) => Some(u8::from_str_radix(hex, 16).ok()?),
            _ => return None,
        };
    }
    Some(out)
}

fn parse_host(fields: &[Field]) -> Result<DhcpHost, String> {
    let mut host = DhcpHost::default();
    for field in fields {
        let text = field.text.as_str();
        if text.is_empty() {
            continue;
        }
        if field.quoted {
            host.hostname = Some(text.to_owned());
        } else if let Some(id) = text.strip_prefix("id:") {
            host.client_ids.push(id.to_owned());
        } else if let Some(tag) = text
            .strip_prefix("set:")
            .or_else(|| text.strip_prefix("net:"))
        {
            host.set.push(tag.to_owned());
        } else if let Some(tag) = text.strip_prefix("tag:") {
            host.tags.push(tag_cond(tag));
        } else if text == "ignore" {
            host.ignore = true;
        } else if text.starts_with('[') {
            host.ipv6.push(text.to_owned());
        } else if let Some(ip) = ipv4(text) {
            host.ip = Some(ip);
        } else if let Some(mac) = bootherd_proto::client::parse_mac(text) {
            host.macs.push(mac);
        } else if parse_mac_pattern(text).is_some() || is_typed_mac(text) {
            host.mac_patterns.push(text.to_owned());
        } else if let Some(lease) = parse_lease(text) {
            host.lease = Some(lease);
        } else {
            host.hostname = Some(text.to_owned());
        }
    }
    Ok(host)
}

/// `06-00:20:e0:3b:13:af`: a MAC with its ARP type.
fn is_typed_mac(text: &str) -> bool {
    text.split_once('-')
        .is_some_and(|(kind, mac)| kind.len() <= 2 && parse_mac_pattern(mac).is_some())
}

fn parse_boot(fields: &[Field]) -> Result<DhcpBoot, String> {
    let mut f = fields;
    let tags = take_tags(&mut f);
    let file = f
        .first()
        .map(|x| x.text.clone())
        .filter(|x| !x.is_empty())
        .ok_or("no file name")?;
    let opt = |i: usize| f.get(i).map(|x| x.text.clone()).filter(|x| !x.is_empty());
    Ok(DhcpBoot {
        tags,
        file,
        server_name: opt(1),
        server: opt(2),
    })
}

fn parse_service(fields: &[Field]) -> Result<PxeService, String> {
    let mut f = fields;
    let tags = take_tags(&mut f);
    let csa_text = f.first().ok_or("no client system type")?;
    let csa = CSA_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(&csa_text.text))
        .and_then(|i| u16::try_from(i).ok())
        .or_else(|| csa_text.text.parse().ok())
        .ok_or_else(|| format!("`{}` is not a client system type", csa_text.text))?;
    let menu = f.get(1).map(|m| m.text.clone()).ok_or("no menu text")?;
    let boot = match f.get(2).map(|b| b.text.as_str()) {
        None | Some("") => PxeBoot::Local,
        Some(text) => match text.parse::<u32>() {
            Ok(0) => PxeBoot::Local,
            Ok(kind) => PxeBoot::ServiceType(kind),
            Err(_) => PxeBoot::File(text.to_owned()),
        },
    };
    Ok(PxeService {
        tags,
        csa,
        menu,
        boot,
        server: f.get(3).map(|s| s.text.clone()).filter(|s| !s.is_empty()),
    })
}

fn parse_match(fields: &[Field]) -> Result<DhcpMatch, String> {
    let tag = fields
        .first()
        .and_then(|t| set_tag(t, true))
        .ok_or("expected set:TAG,OPTION")?;
    let option_text = fields.get(1).ok_or("no option")?;
    let option = if option_text.text.starts_with("vi-encap:") {
        None
    } else {
        Some(
            option_number(&option_text.text)
                .ok_or_else(|| format!("`{}` is not an option import knows", option_text.text))?,
        )
    };
    let value = (fields.len() > 2).then(|| {
        fields[2..]
            .iter()
            .map(|v| v.text.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    Ok(DhcpMatch { tag, option, value })
}

fn parse_dhcp_option(fields: &[Field]) -> Result<DhcpOption, String> {
    let mut f = fields;
    let tags = take_tags(&mut f);
    let mut encapsulated = false;
    while let Some(first) = f.first().filter(|x| {
        !x.quoted
            && ["encap:", "vi-encap:", "vendor:"]
                .iter()
                .any(|p| x.text.starts_with(p))
    }) {
        let _ = first;
        encapsulated = true;
        f = &f[1..];
    }
    let option_text = f.first().ok_or("no option")?;
    let option = if option_text.text.starts_with("option6:") {
        None
    } else {
        option_number(&option_text.text)
    };
    Ok(DhcpOption {
        tags,
        encapsulated,
        option,
        values: f[1..].iter().map(|v| v.text.clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> OptionLine {
        split_line(text).expect("not blank").expect("parses")
    }

    fn fields(text: &str) -> Vec<String> {
        line(text)
            .fields
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.text)
            .collect()
    }

    fn one(text: &str) -> Directive {
        let entries = parse_text(text, "t.conf");
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries.into_iter().next().unwrap().item
    }

    #[test]
    fn comments_blanks_and_quotes() {
        assert_eq!(split_line(""), None);
        assert_eq!(split_line("   # a comment"), None);
        assert_eq!(split_line("#port=0"), None);
        let l = line("  dhcp-match=gpxe,175 # gPXE sends a 175 option");
        assert_eq!(l.name, "dhcp-match");
        assert_eq!(l.text, "dhcp-match=gpxe,175");
        assert_eq!(fields("dhcp-match=gpxe,175 # x"), ["gpxe", "175"]);
        // A `#` that does not follow a blank is text (old `net:#tag` negation).
        assert_eq!(
            fields("dhcp-boot=net:#gpxe,gpxe.kpxe"),
            ["net:#gpxe", "gpxe.kpxe"]
        );
        // Quotes: commas and # inside stay; blanks around commas go.
        assert_eq!(
            fields(r#"pxe-service=x86PC, "Boot, #1" , pxelinux"#),
            ["x86PC", "Boot, #1", "pxelinux"]
        );
        assert_eq!(
            fields(r#"pxe-prompt="Say \"hi\"\tnow",5"#),
            ["Say \"hi\"\tnow", "5"]
        );
        // Spaces around `=`, and the `--` spelling.
        let l = line("--dhcp-option = option:router, 10.0.0.1");
        assert_eq!(l.name, "dhcp-option");
        assert_eq!(
            fields("dhcp-option = option:router, 10.0.0.1"),
            ["option:router", "10.0.0.1"]
        );
        assert_eq!(line("log-dhcp").fields, None);
        assert_eq!(
            split_line(r#"pxe-prompt="open"#),
            Some(Err("a quote (\") is not closed".into()))
        );
        let l = line(r#"pxe-service=0,"Raspberry Pi Boot"   "#);
        assert_eq!(l.text, r#"pxe-service=0,"Raspberry Pi Boot""#);
    }

    #[test]
    fn dhcp_range() {
        let proxy = one("dhcp-range=10.99.0.255,proxy");
        let Directive::DhcpRange(r) = proxy else {
            panic!("{proxy:?}")
        };
        assert_eq!(r.mode, RangeMode::Proxy);
        assert_eq!(r.start, Ipv4Addr::new(10, 99, 0, 255));
        let Directive::DhcpRange(r) = one("dhcp-range=192.168.0.0,proxy,255.255.255.0") else {
            panic!()
        };
        assert_eq!(r.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        let Directive::DhcpRange(r) =
            one("dhcp-range=set:lab,10.0.0.150,10.0.0.100,255.255.255.0,10.0.0.255,12h")
        else {
            panic!()
        };
        assert_eq!(r.set.as_deref(), Some("lab"));
        assert_eq!(r.start, Ipv4Addr::new(10, 0, 0, 100));
        assert_eq!(r.mode, RangeMode::Dynamic(Ipv4Addr::new(10, 0, 0, 150)));
        assert_eq!(r.lease, Some(Some(43_200)));
        let Directive::DhcpRange(r) = one("dhcp-range=tag:eth1,10.0.0.5,static,infinite") else {
            panic!()
        };
        assert_eq!(
            r.tags,
            [TagCond {
                tag: "eth1".into(),
                negated: false
            }]
        );
        assert_eq!((r.mode, r.lease), (RangeMode::Static, Some(None)));
        assert_eq!(
            one("dhcp-range=::1,::400,constructor:eth0"),
            Directive::Invalid("an IPv6 range".into())
        );
        assert!(matches!(
            one("dhcp-range=10.0.0.1,10.0.0.9,5x"),
            Directive::Invalid(_)
        ));
    }

    #[test]
    fn dhcp_host() {
        let Directive::DhcpHost(h) =
            one("dhcp-host=02:AB:cd:00:00:01,set:rock,10.0.0.210,rock64-a,infinite")
        else {
            panic!()
        };
        assert_eq!(h.macs, [[2, 0xab, 0xcd, 0, 0, 1]]);
        assert_eq!(h.set, ["rock"]);
        assert_eq!(h.ip, Some(Ipv4Addr::new(10, 0, 0, 210)));
        assert_eq!(h.hostname.as_deref(), Some("rock64-a"));
        assert_eq!(h.lease, Some(None));
        let Directive::DhcpHost(h) = one("dhcp-host=00:20:e0:3b:13:*,ignore") else {
            panic!()
        };
        assert!(h.ignore && h.macs.is_empty());
        assert_eq!(h.mac_patterns, ["00:20:e0:3b:13:*"]);
        let Directive::DhcpHost(h) = one("dhcp-host=id:01:02:03:04,lap,45m") else {
            panic!()
        };
        assert_eq!((h.client_ids.len(), h.lease), (1, Some(Some(2700))));
        let Directive::DhcpHost(h) =
            one("dhcp-host=11:22:33:44:55:66,12:34:56:78:90:12,192.168.0.2")
        else {
            panic!()
        };
        assert_eq!(h.macs.len(), 2);
    }

    #[test]
    fn dhcp_boot_and_tags() {
        let Directive::DhcpBoot(b) =
            one("dhcp-boot=tag:!ipxe,tag:efi-x86_64,ipxe.efi,boothost,10.0.0.5")
        else {
            panic!()
        };
        assert_eq!(
            b.tags,
            [
                TagCond {
                    tag: "ipxe".into(),
                    negated: true
                },
                TagCond {
                    tag: "efi-x86_64".into(),
                    negated: false
                }
            ]
        );
        assert_eq!(b.file, "ipxe.efi");
        assert_eq!(b.server_name.as_deref(), Some("boothost"));
        assert_eq!(b.server.as_deref(), Some("10.0.0.5"));
        let Directive::DhcpBoot(b) = one("dhcp-boot=net:#gpxe,gpxe.kpxe") else {
            panic!()
        };
        assert!(b.tags[0].negated);
        let Directive::DhcpBoot(b) = one("dhcp-boot=pxelinux.0,,10.0.0.1") else {
            panic!()
        };
        assert_eq!(
            (b.server_name, b.server.as_deref()),
            (None, Some("10.0.0.1"))
        );
        assert!(matches!(one("dhcp-boot=tag:x"), Directive::Invalid(_)));
    }

    #[test]
    fn pxe_service() {
        let Directive::PxeService(s) = one(r#"pxe-service=0,"Raspberry Pi Boot""#) else {
            panic!()
        };
        assert_eq!(
            (s.csa, s.menu.as_str(), &s.boot),
            (0, "Raspberry Pi Boot", &PxeBoot::Local)
        );
        let Directive::PxeService(s) = one(r#"pxe-service=x86PC,"Network boot",undionly"#) else {
            panic!()
        };
        assert_eq!(s.boot.file().as_deref(), Some("undionly.0"));
        let Directive::PxeService(s) =
            one(r#"pxe-service=tag:!ipxe,X86-64_EFI,"UEFI",ipxe.efi,10.0.0.9"#)
        else {
            panic!()
        };
        assert_eq!((s.csa, s.boot.file().as_deref()), (7, Some("ipxe.efi")));
        assert_eq!(s.server.as_deref(), Some("10.0.0.9"));
        let Directive::PxeService(s) = one("pxe-service=BC_EFI,x,y.efi") else {
            panic!()
        };
        assert_eq!(s.csa, 9);
        let Directive::PxeService(s) = one("pxe-service=ARM64_EFI,x,grubaa64.efi") else {
            panic!()
        };
        assert_eq!(s.csa, 11);
        let Directive::PxeService(s) = one(r#"pxe-service=x86PC,"Local disk",0"#) else {
            panic!()
        };
        assert_eq!(s.boot, PxeBoot::Local);
        let Directive::PxeService(s) = one("pxe-service=x86PC,Install,1,10.0.0.5") else {
            panic!()
        };
        assert_eq!(s.boot, PxeBoot::ServiceType(1));
        assert!(matches!(
            one("pxe-service=Amiga,x,y"),
            Directive::Invalid(_)
        ));
        assert_eq!(one(r#"pxe-prompt="Press F8",5"#), Directive::PxePrompt);
    }

    #[test]
    fn matches_and_classes() {
        assert_eq!(
            one("dhcp-match=set:efi-x86_64,option:client-arch,7"),
            Directive::DhcpMatch(DhcpMatch {
                tag: "efi-x86_64".into(),
                option: Some(93),
                value: Some("7".into())
            })
        );
        assert_eq!(
            one("dhcp-match=gpxe,175"),
            Directive::DhcpMatch(DhcpMatch {
                tag: "gpxe".into(),
                option: Some(175),
                value: None
            })
        );
        assert_eq!(
            one("dhcp-match=set:x,vi-encap:4413,1"),
            Directive::DhcpMatch(DhcpMatch {
                tag: "x".into(),
                option: None,
                value: Some("1".into())
            })
        );
        assert_eq!(
            one("dhcp-userclass=set:ipxe,iPXE"),
            Directive::UserClass {
                tag: "ipxe".into(),
                class: "iPXE".into()
            }
        );
        assert_eq!(
            one("dhcp-vendorclass=pxe,PXEClient"),
            Directive::VendorClass {
                tag: "pxe".into(),
                class: "PXEClient".into()
            }
        );
        assert_eq!(
            one("dhcp-mac=set:rpi,b8:27:eb:*:*:*"),
            Directive::DhcpMac {
                tag: "rpi".into(),
                pattern: [Some(0xb8), Some(0x27), Some(0xeb), None, None, None]
            }
        );
        let Directive::DhcpOption(o) = one("dhcp-option=option:router,10.0.0.1") else {
            panic!()
        };
        assert_eq!(
            (o.option, o.values.as_slice()),
            (Some(3), &["10.0.0.1".to_string()][..])
        );
        let Directive::DhcpOption(o) = one("dhcp-option=vendor:PXEClient,6,2b") else {
            panic!()
        };
        assert!(o.encapsulated);
        let Directive::DhcpOption(o) = one("dhcp-option=tag:lab,209,pxelinux.cfg/lab") else {
            panic!()
        };
        assert_eq!((o.option, o.tags.len()), (Some(209), 1));
    }

    #[test]
    fn tftp_and_includes() {
        assert_eq!(one("enable-tftp"), Directive::EnableTftp(vec![]));
        assert_eq!(
            one("enable-tftp=eth1,eth2"),
            Directive::EnableTftp(vec!["eth1".into(), "eth2".into()])
        );
        assert_eq!(
            one("tftp-root=/srv/tftp,eth1"),
            Directive::TftpRoot {
                dir: "/srv/tftp".into(),
                interface: Some("eth1".into())
            }
        );
        assert_eq!(
            one("tftp-unique-root=mac"),
            Directive::Other("tftp-unique-root".into())
        );
        assert_eq!(one("tftp-max=100"), Directive::TftpMax(100));
        assert_eq!(
            one("conf-file=extra.conf"),
            Directive::ConfFile("extra.conf".into())
        );
        assert_eq!(
            one("conf-dir=/etc/dnsmasq.d/,*.conf"),
            Directive::ConfDir {
                dir: "/etc/dnsmasq.d/".into(),
                filters: vec!["*.conf".into()]
            }
        );
        assert_eq!(one("port=0"), Directive::Port(0));
        assert_eq!(one("no-ping"), Directive::NoPing);
        assert_eq!(
            one("interface=eth0"),
            Directive::Interface(vec!["eth0".into()])
        );
    }

    #[test]
    fn debian_defaults_file() {
        let entries = parse_text(
            "ENABLED=1\nDNSMASQ_OPTS=\"-p0 --conf-file=/etc/dnsmasq.alt --dhcp-range 10.0.0.0,proxy -kz -Q\"\n\
             CONFIG_DIR=/etc/dnsmasq.d,.dpkg-dist,.dpkg-old\nDOMAIN_SUFFIX=`dnsdomainname`\n",
            "default",
        );
        let got: Vec<(usize, &str, &Directive)> = entries
            .iter()
            .map(|e| (e.origin.line, e.text.as_str(), &e.item))
            .collect();
        assert_eq!(
            got[0],
            (1, "ENABLED=1", &Directive::Other("$ENABLED".into()))
        );
        assert_eq!(got[1], (2, "-p0", &Directive::Port(0)));
        assert_eq!(
            got[2],
            (
                2,
                "--conf-file=/etc/dnsmasq.alt",
                &Directive::ConfFile("/etc/dnsmasq.alt".into())
            )
        );
        assert_eq!(got[3].1, "--dhcp-range 10.0.0.0,proxy");
        assert!(matches!(got[3].2, Directive::DhcpRange(r) if r.mode == RangeMode::Proxy));
        assert_eq!(
            got[4],
            (2, "-kz", &Directive::Other("keep-in-foreground".into()))
        );
        assert_eq!(
            got[5],
            (2, "-kz", &Directive::Other("bind-interfaces".into()))
        );
        assert!(matches!(got[6], (2, "-Q", Directive::Invalid(_))));
        assert!(
            matches!(got[7].2, Directive::ConfDir { dir, filters } if dir == "/etc/dnsmasq.d" && filters.len() == 2)
        );
        assert!(matches!(got[8].2, Directive::Invalid(why) if why.contains("not a plain value")));
        assert_eq!(entries.len(), 9);
    }

    #[test]
    fn lease_times() {
        assert_eq!(parse_lease("3600"), Some(Some(3600)));
        assert_eq!(parse_lease("45m"), Some(Some(2700)));
        assert_eq!(parse_lease("1h"), Some(Some(3600)));
        assert_eq!(parse_lease("2d"), Some(Some(172_800)));
        assert_eq!(parse_lease("1w"), Some(Some(604_800)));
        assert_eq!(parse_lease("infinite"), Some(None));
        assert_eq!(parse_lease("soon"), None);
        assert_eq!(parse_lease(""), None);
        assert_eq!(parse_lease("99999999999999999999w"), None);
    }
}
