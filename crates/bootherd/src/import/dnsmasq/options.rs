//! One option's fields into a [`Directive`]: `dhcp-range`, `dhcp-host`,
//! `dhcp-boot`, `pxe-service`, `dhcp-match`, `dhcp-option`, tags, lease times.

use super::names::{option_number, CSA_NAMES};
use super::*;

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
