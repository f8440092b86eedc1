//! Which of dnsmasq's tag rules a kind of client meets. dnsmasq decides per
//! request from what the client sends; import decides per kind of client that
//! bootherd tells apart (a BIOS PXE ROM, UEFI x64 firmware, iPXE, a Raspberry Pi,
//! one host by MAC...), so each tag is set, not set, or depends on something
//! import cannot know (a host's firmware, a relay's circuit id): [`Tri`].
//!
//! The boot file choice follows dnsmasq 2.90 (`find_boot()` in `rfc2131.c`, and
//! checked against the real dnsmasq in the lab): the last `dhcp-boot` whose tags
//! all match, else the last one without tags; for PXE firmware, the first
//! `pxe-service` entry of its client system type whose tags match comes first
//! (it sees the boot menu before the offer's file name).

use std::collections::BTreeMap;

use super::dnsmasq::{DhcpBoot, Directive, PxeService, TagCond};
use super::Entry;

/// Yes, no, or it depends on what import cannot see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// Always.
    Yes,
    /// Never.
    No,
    /// It depends.
    Maybe,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
        }
    }

    fn from_bool(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
        }
    }
}

/// The Raspberry Pi OUIs (Raspberry Pi Foundation and Raspberry Pi Trading).
const PI_OUIS: [[u8; 3]; 6] = [
    [0xb8, 0x27, 0xeb],
    [0xdc, 0xa6, 0x32],
    [0xe4, 0x5f, 0x01],
    [0x28, 0xcd, 0xc1],
    [0xd8, 0x3a, 0xdd],
    [0x2c, 0xcf, 0x67],
];

/// What a kind of client sends, as far as import knows. `None`: unknown.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// Option 93, the architecture.
    pub arch: Option<u16>,
    /// Option 60; `Some("")` when it sends none.
    pub vendor_class: Option<String>,
    /// Option 77; `Some("")` when it sends none.
    pub user_class: Option<String>,
    /// Whether it sends iPXE's option 175.
    pub ipxe_options: Option<bool>,
    /// Whether it is a Raspberry Pi (its MAC has a Pi OUI).
    pub raspberry_pi: bool,
    /// Its MAC, for one host.
    pub mac: Option<[u8; 6]>,
    /// Tags its `dhcp-host` line sets.
    pub host_tags: Vec<String>,
    /// Whether a `dhcp-host` line names it (the `known` tag).
    pub known: Option<bool>,
}

impl Client {
    /// PXE firmware of architecture `arch` (a BIOS ROM for 0).
    pub fn pxe(arch: u16, vendor_class: &str) -> Client {
        Client {
            arch: Some(arch),
            vendor_class: Some(vendor_class.to_owned()),
            user_class: Some(String::new()),
            ipxe_options: Some(false),
            known: None,
            ..Client::default()
        }
    }
}

/// Where a tag is set.
#[derive(Debug, Clone)]
enum Setter {
    /// `dhcp-match`: option and value.
    Match(Option<u16>, Option<String>),
    /// `dhcp-vendorclass`.
    Vendor(String),
    /// `dhcp-userclass`.
    User(String),
    /// `dhcp-mac`.
    Mac([Option<u8>; 6]),
    /// `dhcp-range=set:`: whether every range sets it.
    Range,
    /// `dhcp-host=...,set:`: that host.
    Host,
    /// Anything import does not evaluate (`tag-if`, relay ids, names).
    Opaque,
}

/// Every tag rule of a configuration.
#[derive(Debug, Default)]
pub struct Rules {
    setters: BTreeMap<String, Vec<Setter>>,
    /// Interface names dnsmasq serves on: it sets a tag of each name.
    interfaces: Vec<String>,
    ranges: usize,
    ranges_setting: BTreeMap<String, usize>,
}

/// Options that set tags and that import does not evaluate.
const OPAQUE_SETTERS: [&str; 5] = [
    "tag-if",
    "dhcp-circuitid",
    "dhcp-remoteid",
    "dhcp-subscrid",
    "dhcp-name-match",
];

impl Rules {
    /// Collects the tag rules of `directives`.
    pub fn new(directives: &[Entry<Directive>]) -> Rules {
        let mut rules = Rules::default();
        for entry in directives {
            match &entry.item {
                Directive::DhcpMatch(m) => {
                    rules.add(&m.tag, Setter::Match(m.option, m.value.clone()))
                }
                Directive::VendorClass { tag, class } => {
                    rules.add(tag, Setter::Vendor(class.clone()))
                }
                Directive::UserClass { tag, class } => rules.add(tag, Setter::User(class.clone())),
                Directive::DhcpMac { tag, pattern } => rules.add(tag, Setter::Mac(*pattern)),
                Directive::DhcpHost(host) => {
                    for tag in &host.set {
                        rules.add(tag, Setter::Host);
                    }
                }
                Directive::DhcpRange(range) => {
                    rules.ranges += 1;
                    if let Some(tag) = &range.set {
                        *rules.ranges_setting.entry(tag.clone()).or_default() += 1;
                        rules.add(tag, Setter::Range);
                    }
                }
                Directive::Interface(names) => rules.interfaces.extend(names.iter().cloned()),
                Directive::Other(name) if OPAQUE_SETTERS.contains(&name.as_str()) => {
                    // Which tag it sets is in its value, which `Other` does not keep:
                    // every tag may be set by it.
                    rules.add("*", Setter::Opaque);
                }
                _ => {}
            }
        }
        rules
    }

    fn add(&mut self, tag: &str, setter: Setter) {
        self.setters.entry(tag.to_owned()).or_default().push(setter);
    }

    /// Whether `tag` is set for `client`.
    pub fn state(&self, tag: &str, client: &Client) -> Tri {
        if tag == "known" {
            return client.known.map_or(Tri::Maybe, Tri::from_bool);
        }
        if self.interfaces.iter().any(|i| i == tag) {
            return Tri::Yes;
        }
        let mut state = Tri::No;
        let setters = self
            .setters
            .get(tag)
            .into_iter()
            .chain(self.setters.get("*"))
            .flatten();
        for setter in setters {
            let s = match setter {
                Setter::Match(option, value) => match_state(*option, value.as_deref(), client),
                Setter::Vendor(class) => substring(client.vendor_class.as_deref(), class),
                Setter::User(class) => substring(client.user_class.as_deref(), class),
                Setter::Mac(pattern) => mac_state(pattern, client),
                Setter::Range => {
                    Tri::from_bool(self.ranges_setting.get(tag).copied() == Some(self.ranges))
                        .or_maybe()
                }
                Setter::Host => Tri::from_bool(client.host_tags.iter().any(|t| t == tag)),
                Setter::Opaque => Tri::Maybe,
            };
            state = match (state, s) {
                (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
                (Tri::Maybe, _) | (_, Tri::Maybe) => Tri::Maybe,
                _ => Tri::No,
            };
        }
        state
    }

    /// Whether every condition holds for `client`; with the first tag that
    /// makes it uncertain.
    pub fn matches(&self, conds: &[TagCond], client: &Client) -> (Tri, Option<String>) {
        let mut result = Tri::Yes;
        let mut why = None;
        for cond in conds {
            let mut s = self.state(&cond.tag, client);
            if cond.negated {
                s = s.not();
            }
            match s {
                Tri::No => return (Tri::No, None),
                Tri::Maybe if result == Tri::Yes => {
                    result = Tri::Maybe;
                    why = Some(cond.tag.clone());
                }
                _ => {}
            }
        }
        (result, why)
    }
}

trait OrMaybe {
    fn or_maybe(self) -> Tri;
}

impl OrMaybe for Tri {
    /// A range tag set by only some ranges depends on the subnet.
    fn or_maybe(self) -> Tri {
        match self {
            Tri::No => Tri::Maybe,
            other => other,
        }
    }
}

fn substring(sent: Option<&str>, wanted: &str) -> Tri {
    match sent {
        Some(sent) => Tri::from_bool(!sent.is_empty() && sent.contains(wanted)),
        None => Tri::Maybe,
    }
}

fn match_state(option: Option<u16>, value: Option<&str>, client: &Client) -> Tri {
    match (option, value) {
        (Some(93), Some(value)) => match (client.arch, value.trim().parse::<u16>()) {
            (Some(arch), Ok(wanted)) => Tri::from_bool(arch == wanted),
            _ => Tri::Maybe,
        },
        (Some(93), None) => client.arch.map_or(Tri::Maybe, |_| Tri::Yes),
        (Some(175), _) => client.ipxe_options.map_or(Tri::Maybe, Tri::from_bool),
        (Some(77), Some(value)) => substring(client.user_class.as_deref(), value.trim_matches('"')),
        (Some(60), Some(value)) => {
            substring(client.vendor_class.as_deref(), value.trim_matches('"'))
        }
        (Some(60), None) => client
            .vendor_class
            .as_deref()
            .map_or(Tri::Maybe, |v| Tri::from_bool(!v.is_empty())),
        (Some(77), None) => client
            .user_class
            .as_deref()
            .map_or(Tri::Maybe, |u| Tri::from_bool(!u.is_empty())),
        _ => Tri::Maybe,
    }
}

fn mac_state(pattern: &[Option<u8>; 6], client: &Client) -> Tri {
    let fits = |mac: &[u8]| {
        pattern
            .iter()
            .zip(mac)
            .all(|(p, b)| p.is_none() || *p == Some(*b))
    };
    if let Some(mac) = client.mac {
        return Tri::from_bool(fits(&mac));
    }
    // A kind of client: a pattern for a Pi OUI with any host part matches Pis and
    // no other kind; any other pattern depends on the machine.
    let oui_only =
        pattern[..3].iter().all(Option::is_some) && pattern[3..].iter().all(Option::is_none);
    let pi_oui = oui_only && PI_OUIS.iter().any(|oui| fits(oui));
    match (pi_oui, client.raspberry_pi) {
        (true, true) => Tri::Yes,
        (true, false) => Tri::No,
        (false, true) if oui_only => Tri::No,
        _ => Tri::Maybe,
    }
}

/// What dnsmasq gives a kind of client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<'a, T> {
    /// This entry.
    Chosen(&'a Entry<T>),
    /// No entry applies.
    Nothing,
    /// It depends on a tag import cannot evaluate: the entry, and the tag.
    Depends(&'a Entry<T>, String),
}

/// dnsmasq's `find_boot()`: the last `dhcp-boot` with tags that all match, else
/// the last without tags.
pub fn choose_boot<'a>(
    rules: &Rules,
    boots: &'a [Entry<DhcpBoot>],
    client: &Client,
) -> Choice<'a, DhcpBoot> {
    for boot in boots.iter().rev().filter(|b| !b.item.tags.is_empty()) {
        match rules.matches(&boot.item.tags, client) {
            (Tri::Yes, _) => return Choice::Chosen(boot),
            (Tri::Maybe, why) => return Choice::Depends(boot, why.unwrap_or_default()),
            (Tri::No, _) => {}
        }
    }
    match boots.iter().rev().find(|b| b.item.tags.is_empty()) {
        Some(boot) => Choice::Chosen(boot),
        None => Choice::Nothing,
    }
}

/// The first `pxe-service` of the client's system type whose tags match (the
/// menu's first entry, what a timed-out prompt boots).
pub fn choose_service<'a>(
    rules: &Rules,
    services: &'a [Entry<PxeService>],
    client: &Client,
) -> Choice<'a, PxeService> {
    let Some(arch) = client.arch else {
        return Choice::Nothing;
    };
    for service in services.iter().filter(|s| s.item.csa == arch) {
        match rules.matches(&service.item.tags, client) {
            (Tri::Yes, _) => return Choice::Chosen(service),
            (Tri::Maybe, why) => return Choice::Depends(service, why.unwrap_or_default()),
            (Tri::No, _) => {}
        }
    }
    Choice::Nothing
}

#[cfg(test)]
mod tests {
    use super::super::dnsmasq::parse_text;
    use super::*;

    fn rules(text: &str) -> (Rules, Vec<Entry<Directive>>) {
        let entries = parse_text(text, "t.conf");
        (Rules::new(&entries), entries)
    }

    fn bios() -> Client {
        Client::pxe(0, "PXEClient:Arch:00000:UNDI:002001")
    }

    fn efi() -> Client {
        Client::pxe(7, "PXEClient:Arch:00007:UNDI:003016")
    }

    fn ipxe() -> Client {
        Client {
            user_class: Some("iPXE".into()),
            ipxe_options: Some(true),
            ..bios()
        }
    }

    fn cond(tag: &str, negated: bool) -> TagCond {
        TagCond {
            tag: tag.into(),
            negated,
        }
    }

    #[test]
    fn arch_user_class_and_175() {
        let (r, _) = rules(
            "dhcp-match=set:efi-x86_64,option:client-arch,7\ndhcp-userclass=set:ipxe,iPXE\n\
             dhcp-match=set:gpxe,175\ndhcp-vendorclass=set:bios,PXEClient:Arch:00000\n",
        );
        assert_eq!(r.state("efi-x86_64", &efi()), Tri::Yes);
        assert_eq!(r.state("efi-x86_64", &bios()), Tri::No);
        assert_eq!(r.state("ipxe", &ipxe()), Tri::Yes);
        assert_eq!(r.state("ipxe", &bios()), Tri::No);
        assert_eq!(r.state("gpxe", &ipxe()), Tri::Yes);
        assert_eq!(r.state("gpxe", &efi()), Tri::No);
        assert_eq!(r.state("bios", &bios()), Tri::Yes);
        assert_eq!(r.state("bios", &efi()), Tri::No);
        // A host whose firmware is unknown.
        let host = Client {
            mac: Some([2, 0, 0, 0, 0, 1]),
            known: Some(true),
            ..Client::default()
        };
        assert_eq!(r.state("efi-x86_64", &host), Tri::Maybe);
        assert_eq!(r.state("known", &host), Tri::Yes);
        assert_eq!(r.state("never-set", &host), Tri::No);
        assert_eq!(
            r.matches(&[cond("ipxe", true), cond("efi-x86_64", false)], &efi()),
            (Tri::Yes, None)
        );
        assert_eq!(
            r.matches(&[cond("ipxe", true), cond("efi-x86_64", false)], &ipxe())
                .0,
            Tri::No
        );
        assert_eq!(
            r.matches(&[cond("efi-x86_64", false)], &host),
            (Tri::Maybe, Some("efi-x86_64".into()))
        );
    }

    #[test]
    fn macs_hosts_ranges_interfaces() {
        let (r, _) = rules(
            "dhcp-mac=set:rpi,b8:27:eb:*:*:*\ndhcp-mac=set:lab,02:00:00:*:*:*\n\
             dhcp-host=02:00:00:00:00:07,set:seven\ndhcp-range=set:lan,10.0.0.0,proxy\ninterface=eth1\n",
        );
        let pi = Client {
            raspberry_pi: true,
            ..bios()
        };
        assert_eq!(r.state("rpi", &pi), Tri::Yes);
        assert_eq!(r.state("rpi", &bios()), Tri::No);
        assert_eq!(r.state("lab", &bios()), Tri::Maybe);
        let seven = Client {
            mac: Some([2, 0, 0, 0, 0, 7]),
            host_tags: vec!["seven".into()],
            ..Client::default()
        };
        assert_eq!(r.state("lab", &seven), Tri::Yes);
        assert_eq!(r.state("seven", &seven), Tri::Yes);
        assert_eq!(r.state("seven", &bios()), Tri::No);
        assert_eq!(r.state("lan", &bios()), Tri::Yes);
        assert_eq!(r.state("eth1", &bios()), Tri::Yes);
        let (r, _) = rules(
            "dhcp-range=set:a,10.0.0.0,proxy\ndhcp-range=10.0.1.0,proxy\ntag-if=set:x,tag:a\n",
        );
        assert_eq!(r.state("a", &bios()), Tri::Maybe);
        assert_eq!(r.state("x", &bios()), Tri::Maybe);
    }

    #[test]
    fn boot_choice_follows_dnsmasq() {
        let (r, entries) = rules(
            "dhcp-match=set:efi,option:client-arch,7\ndhcp-userclass=set:ipxe,iPXE\n\
             dhcp-boot=undionly.kpxe\ndhcp-boot=tag:efi,ipxe.efi\ndhcp-boot=tag:ipxe,boot.ipxe\n\
             dhcp-boot=late-untagged.0\n",
        );
        let boots: Vec<Entry<DhcpBoot>> = entries
            .iter()
            .filter_map(|e| match &e.item {
                Directive::DhcpBoot(b) => Some(e.with(b.clone())),
                _ => None,
            })
            .collect();
        let file = |c: &Client| match choose_boot(&r, &boots, c) {
            Choice::Chosen(b) => b.item.file.clone(),
            other => format!("{other:?}"),
        };
        // The last untagged line wins over the first.
        assert_eq!(file(&bios()), "late-untagged.0");
        assert_eq!(file(&efi()), "ipxe.efi");
        assert_eq!(file(&ipxe()), "boot.ipxe");
        // iPXE on UEFI matches both tagged lines: the later one wins.
        let efi_ipxe = Client {
            user_class: Some("iPXE".into()),
            ipxe_options: Some(true),
            ..efi()
        };
        assert_eq!(file(&efi_ipxe), "boot.ipxe");
        let host = Client {
            mac: Some([2, 0, 0, 0, 0, 1]),
            ..Client::default()
        };
        assert!(matches!(choose_boot(&r, &boots, &host), Choice::Depends(_, tag) if tag == "ipxe"));
    }

    #[test]
    fn service_choice_is_the_first_of_the_type() {
        let (r, entries) = rules(
            "dhcp-userclass=set:ipxe,iPXE\n\
             pxe-service=tag:!ipxe,x86PC,\"Network\",undionly\npxe-service=x86PC,\"Local\",0\n\
             pxe-service=X86-64_EFI,\"UEFI\",ipxe.efi\n",
        );
        let services: Vec<Entry<PxeService>> = entries
            .iter()
            .filter_map(|e| match &e.item {
                Directive::PxeService(s) => Some(e.with(s.clone())),
                _ => None,
            })
            .collect();
        let pick = |c: &Client| match choose_service(&r, &services, c) {
            Choice::Chosen(s) => s.item.menu.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(pick(&bios()), "Network");
        assert_eq!(pick(&ipxe()), "Local");
        assert_eq!(pick(&efi()), "UEFI");
        assert_eq!(pick(&Client::pxe(11, "PXEClient:Arch:00011")), "Nothing");
    }
}
