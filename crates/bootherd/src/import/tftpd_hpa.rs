//! tftpd-hpa's defaults file (Debian's `/etc/default/tftpd-hpa`, sourced by its
//! start script): `TFTP_DIRECTORY`, `TFTP_ADDRESS`, `TFTP_USERNAME` and the
//! `in.tftpd` flags in `TFTP_OPTIONS` (in.tftpd(8)). The older `OPTIONS="-l -s
//! DIR"` spelling is read too. Pure: text in, [`Setting`]s out. The rules of the
//! map file `--map-file` names ([`super::tftpd_remap`]) follow that flag as
//! [`Setting::MapRule`]s, put there by the reader in [`super`].

use std::net::Ipv4Addr;

use super::dnsmasq::shell_value;
use super::tftpd_remap::Remap;
use super::{Entry, Origin};

/// One thing the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// The directories served (the first is the root with `--secure`).
    Directory(Vec<String>),
    /// `[address][:port]` to listen on.
    Address {
        /// An IPv4 address, `None` for every address.
        ip: Option<Ipv4Addr>,
        /// The port, when given.
        port: Option<u16>,
    },
    /// The user tftpd runs as.
    User(String),
    /// `--secure` / `-s`: chroot to the directory.
    Secure,
    /// `--blocksize N` / `-B N`.
    Blocksize(u16),
    /// `--retransmit USEC` / `-T USEC`.
    Retransmit(u64),
    /// `--create` / `-c`: uploads allowed.
    Create,
    /// `--map-file FILE` / `-m FILE`.
    MapFile(String),
    /// A `--map-file` whose file cannot be read, and why.
    MapFileUnread(String),
    /// A rule of that map file, and what it becomes.
    MapRule(Remap),
    /// `--listen`, `--foreground`, `--ipv4`, `--verbose`...: nothing to translate.
    Harmless(String),
    /// A flag or variable without an equivalent, as written.
    Other(String),
    /// A line or value import cannot read, and why.
    Invalid(String),
}

/// in.tftpd's flags: long name, short letter, whether it takes a value.
const FLAGS: [(&str, char, bool); 19] = [
    ("ipv4", '4', false),
    ("ipv6", '6', false),
    ("listen", 'l', false),
    ("foreground", 'L', false),
    ("address", 'a', true),
    ("create", 'c', false),
    ("secure", 's', false),
    ("user", 'u', true),
    ("umask", 'U', true),
    ("permissive", 'p', false),
    ("pidfile", 'P', true),
    ("timeout", 't', true),
    ("retransmit", 'T', true),
    ("map-file", 'm', true),
    ("verbose", 'v', false),
    ("verbosity", '\0', true),
    ("refuse", 'r', true),
    ("blocksize", 'B', true),
    ("port-range", 'R', true),
];

/// Parses the defaults file.
pub fn parse_text(text: &str, file: &str) -> Vec<Entry<Setting>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = Origin {
            file: file.to_owned(),
            line: i + 1,
        };
        let whole = |item| Entry {
            origin: origin.clone(),
            text: line.to_owned(),
            item,
        };
        let assignment = line.strip_prefix("export ").unwrap_or(line);
        let Some((var, value)) = assignment.split_once('=') else {
            out.push(whole(Setting::Invalid("not a VARIABLE=value line".into())));
            continue;
        };
        let Some(value) = shell_value(value) else {
            out.push(whole(Setting::Invalid(format!(
                "{var}: not a plain value (import does not run the shell)"
            ))));
            continue;
        };
        match var.trim() {
            "TFTP_DIRECTORY" => out.push(whole(Setting::Directory(
                value.split_whitespace().map(str::to_owned).collect(),
            ))),
            "TFTP_ADDRESS" => out.push(whole(parse_address(&value))),
            "TFTP_USERNAME" => out.push(whole(Setting::User(value))),
            "TFTP_OPTIONS" | "OPTIONS" => match shlex::split(&value) {
                Some(words) => out.extend(flags(&words).into_iter().map(|(text, item)| Entry {
                    origin: origin.clone(),
                    text,
                    item,
                })),
                None => out.push(whole(Setting::Invalid(format!(
                    "{var}: a quote is not closed"
                )))),
            },
            "RUN_DAEMON" => out.push(whole(Setting::Harmless(line.to_owned()))),
            _ => out.push(whole(Setting::Other(line.to_owned()))),
        }
    }
    out
}

/// `[address][:port]`: `:69`, `0.0.0.0:69`, `10.0.0.5`, `[::]:69`.
fn parse_address(text: &str) -> Setting {
    let text = text.trim();
    if text.starts_with('[') {
        return Setting::Invalid(format!("{text}: an IPv6 address"));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => (host, Some(port)),
            Err(_) => return Setting::Invalid(format!("{text}: `{port}` is not a port")),
        },
        None => (text, None),
    };
    let ip = match host {
        "" | "0.0.0.0" => None,
        host => match host.parse() {
            Ok(ip) => Some(ip),
            Err(_) => return Setting::Invalid(format!("{text}: `{host}` is not an IPv4 address")),
        },
    };
    Setting::Address { ip, port }
}

/// Reads in.tftpd's command-line words: each flag (with its value) becomes one
/// setting; a word that is not a flag's value is a directory.
pub fn flags(words: &[String]) -> Vec<(String, Setting)> {
    let mut out = Vec::new();
    let mut dirs = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        let (flag, inline) = if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => (FLAGS.iter().find(|f| f.0 == name), Some(value.to_owned())),
                None => (FLAGS.iter().find(|f| f.0 == long), None),
            }
        } else if let Some(short) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            let c = short.chars().next().unwrap_or('\0');
            let rest = &short[c.len_utf8()..];
            match FLAGS.iter().find(|f| f.1 == c) {
                // Clustered flags without values: `-ls`.
                Some(f) if !f.2 && !rest.is_empty() => {
                    out.extend(flags(&[format!("-{c}"), format!("-{rest}")]));
                    continue;
                }
                Some(f) => (Some(f), (!rest.is_empty()).then(|| rest.to_owned())),
                None => (None, None),
            }
        } else {
            dirs.push(word.clone());
            continue;
        };
        let Some(&(name, _, takes_value)) = flag else {
            out.push((
                word.clone(),
                Setting::Invalid(format!("{word}: not an in.tftpd flag")),
            ));
            continue;
        };
        let mut text = word.clone();
        let value = match (takes_value, inline) {
            (false, _) => None,
            (true, Some(v)) => Some(v),
            (true, None) => match words.get(i) {
                Some(v) => {
                    i += 1;
                    text = format!("{word} {v}");
                    Some(v.clone())
                }
                None => {
                    out.push((text, Setting::Invalid(format!("{word}: no value"))));
                    continue;
                }
            },
        };
        let value = value.unwrap_or_default();
        let setting = match name {
            "secure" => Setting::Secure,
            "create" => Setting::Create,
            "address" => parse_address(&value),
            "user" => Setting::User(value),
            "map-file" => Setting::MapFile(value),
            "blocksize" => match value.parse() {
                Ok(n) => Setting::Blocksize(n),
                Err(_) => Setting::Invalid(format!("{text}: not a block size")),
            },
            "retransmit" => match value.parse() {
                Ok(n) => Setting::Retransmit(n),
                Err(_) => Setting::Invalid(format!("{text}: not a number of microseconds")),
            },
            "ipv4" | "listen" | "foreground" | "verbose" | "verbosity" | "pidfile" | "timeout" => {
                Setting::Harmless(text.clone())
            }
            _ => Setting::Other(text.clone()),
        };
        out.push((text, setting));
    }
    if !dirs.is_empty() {
        out.push((dirs.join(" "), Setting::Directory(dirs)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<(usize, String, Setting)> {
        parse_text(text, "tftpd-hpa")
            .into_iter()
            .map(|e| (e.origin.line, e.text, e.item))
            .collect()
    }

    #[test]
    fn debian_default_file() {
        let got = items(
            "# /etc/default/tftpd-hpa\n\nTFTP_USERNAME=\"tftp\"\nTFTP_DIRECTORY=\"/srv/tftp\"\n\
             TFTP_ADDRESS=\":69\"\nTFTP_OPTIONS=\"--secure\"\n",
        );
        assert_eq!(
            got,
            [
                (
                    3,
                    "TFTP_USERNAME=\"tftp\"".into(),
                    Setting::User("tftp".into())
                ),
                (
                    4,
                    "TFTP_DIRECTORY=\"/srv/tftp\"".into(),
                    Setting::Directory(vec!["/srv/tftp".into()])
                ),
                (
                    5,
                    "TFTP_ADDRESS=\":69\"".into(),
                    Setting::Address {
                        ip: None,
                        port: Some(69)
                    }
                ),
                (6, "--secure".into(), Setting::Secure),
            ]
        );
    }

    #[test]
    fn options() {
        let got = items(
            "TFTP_OPTIONS='-s -B 1468 --map-file /etc/tftp.remap -v --retransmit=500000 -c -R 4096:32767 --bogus'\n",
        );
        let settings: Vec<(&str, &Setting)> = got.iter().map(|(_, t, s)| (t.as_str(), s)).collect();
        assert_eq!(
            settings,
            [
                ("-s", &Setting::Secure),
                ("-B 1468", &Setting::Blocksize(1468)),
                (
                    "--map-file /etc/tftp.remap",
                    &Setting::MapFile("/etc/tftp.remap".into())
                ),
                ("-v", &Setting::Harmless("-v".into())),
                ("--retransmit=500000", &Setting::Retransmit(500_000)),
                ("-c", &Setting::Create),
                ("-R 4096:32767", &Setting::Other("-R 4096:32767".into())),
                (
                    "--bogus",
                    &Setting::Invalid("--bogus: not an in.tftpd flag".into())
                ),
            ]
        );
    }

    #[test]
    fn old_options_and_addresses() {
        let got = items("RUN_DAEMON=\"yes\"\nOPTIONS=\"-ls /var/lib/tftpboot\"\n");
        let settings: Vec<&Setting> = got.iter().map(|(_, _, s)| s).collect();
        assert_eq!(
            settings,
            [
                &Setting::Harmless("RUN_DAEMON=\"yes\"".into()),
                &Setting::Harmless("-l".into()),
                &Setting::Secure,
                &Setting::Directory(vec!["/var/lib/tftpboot".into()]),
            ]
        );
        assert_eq!(
            parse_address("10.0.0.5:6969"),
            Setting::Address {
                ip: Some(Ipv4Addr::new(10, 0, 0, 5)),
                port: Some(6969)
            }
        );
        assert_eq!(
            parse_address("0.0.0.0"),
            Setting::Address {
                ip: None,
                port: None
            }
        );
        assert!(matches!(parse_address("[::]:69"), Setting::Invalid(_)));
        assert!(matches!(parse_address("host:x"), Setting::Invalid(_)));
        let got = items("TFTP_DIRECTORY=$(pwd)\nnonsense\n");
        assert!(matches!(&got[0].2, Setting::Invalid(w) if w.contains("not a plain value")));
        assert!(matches!(&got[1].2, Setting::Invalid(_)));
    }
}
