//! From what dnsmasq and tftpd-hpa were told to what bootherd is told.
//!
//! Every line ends up in exactly one of three places: cited by the key it
//! became, listed as needing no key (bootherd behaves so without one), or
//! listed as not translated with the reason. A line nothing claimed is listed as
//! not translated: nothing is dropped silently.
//!
//! The decisions, with the reason for each, are in docs/IMPORT.md; in short:
//! - proxyDHCP answers: for each kind of client bootherd tells apart, the file
//!   dnsmasq would give it ([`super::tags`]), one key per kind;
//! - dnsmasq as a DHCP server: bootherd owns only the hosts dnsmasq gave a boot
//!   file to (`dhcp-host` with a MAC) and vendor classes selected for one, and
//!   leaves every other client to the LAN's DHCP server;
//! - `[[machines]]` only where a profile reproduces what dnsmasq did: a host
//!   given its own UEFI boot file becomes an `efi` machine. A U-Boot board is not
//!   listed: a pxelinux profile would generate `pxelinux.cfg/01-<mac>` in place of
//!   the hand-written file in the tree.

use bootherd_proto::tftp::transfer::{MAX_BLKSIZE, MIN_BLKSIZE};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use toml::Value;

use super::dnsmasq::{
    csa_name, DhcpBoot, DhcpHost, DhcpRange, Directive, PxeBoot, PxeService, RangeMode,
};
use super::tags::{choose_boot, choose_service, Choice, Client, Rules, Tri};
use super::tftpd_hpa::Setting;
use super::tftpd_remap::Remap;
use super::{Entry, Origin};

/// What to translate.
pub struct Inputs<'a> {
    /// The dnsmasq lines, includes followed.
    pub dnsmasq: &'a [Entry<Directive>],
    /// The tftpd-hpa settings.
    pub tftpd: &'a [Entry<Setting>],
    /// The files, for the header.
    pub sources: &'a [String],
    /// `--tftp-root`: the tree to serve instead of the one the files name.
    pub tftp_root: Option<&'a Path>,
}

/// The configuration to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Comment lines at the top.
    pub header: Vec<String>,
    /// Tables, in order.
    pub tables: Vec<Table>,
    /// Lines that need no key.
    pub no_key: Vec<Note>,
    /// Lines not translated.
    pub not_translated: Vec<Note>,
}

/// One TOML table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// `tftp`, `dhcp.pool`.
    pub name: String,
    /// `[[name]]`.
    pub array: bool,
    /// Comment lines above it.
    pub comments: Vec<String>,
    /// Its keys.
    pub keys: Vec<Key>,
}

/// One key.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// Where it comes from.
    pub comment: String,
}

/// A line and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The line as written.
    pub text: String,
    /// Where.
    pub origin: Origin,
    /// Why it needs no key, or why it is not translated.
    pub why: String,
}

#[derive(Debug, Clone)]
enum Fate {
    Used,
    NoKey(String),
    NotTranslated(String),
}

/// A line: a dnsmasq entry or a tftpd-hpa one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    D(usize),
    T(usize),
}

/// The kinds of client bootherd's proxy tells apart, with the key each one's
/// boot file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bios,
    UefiX64,
    UefiIa32,
    UefiArm64,
    Ipxe,
    IpxeEfi,
    HttpX64,
    HttpArm64,
}

impl Kind {
    fn client(self) -> Client {
        match self {
            Kind::Bios => Client::pxe(0, "PXEClient:Arch:00000:UNDI:002001"),
            Kind::UefiIa32 => Client::pxe(6, "PXEClient:Arch:00006:UNDI:003016"),
            Kind::UefiX64 => Client::pxe(7, "PXEClient:Arch:00007:UNDI:003016"),
            Kind::UefiArm64 => Client::pxe(11, "PXEClient:Arch:00011:UNDI:003016"),
            Kind::Ipxe => Client {
                user_class: Some("iPXE".into()),
                ipxe_options: Some(true),
                ..Client::pxe(0, "PXEClient:Arch:00000:UNDI:002001")
            },
            Kind::IpxeEfi => Client {
                user_class: Some("iPXE".into()),
                ipxe_options: Some(true),
                ..Client::pxe(7, "PXEClient:Arch:00007:UNDI:003010")
            },
            Kind::HttpX64 => Client::pxe(16, "HTTPClient:Arch:00016:UNDI:003001"),
            Kind::HttpArm64 => Client::pxe(19, "HTTPClient:Arch:00019:UNDI:003001"),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Bios => "BIOS PXE",
            Kind::UefiX64 => "UEFI x64 PXE (option 93 = 7)",
            Kind::UefiIa32 => "UEFI IA32 PXE (option 93 = 6)",
            Kind::UefiArm64 => "UEFI ARM64 PXE (option 93 = 11)",
            Kind::Ipxe => "iPXE",
            Kind::IpxeEfi => "iPXE on UEFI",
            Kind::HttpX64 => "UEFI x64 HTTP boot (option 93 = 16)",
            Kind::HttpArm64 => "UEFI ARM64 HTTP boot (option 93 = 19)",
        }
    }

    /// HTTP boot firmware sends `HTTPClient`, not `PXEClient`: dnsmasq never
    /// offers it a PXE menu.
    fn sees_menus(self) -> bool {
        !matches!(self, Kind::HttpX64 | Kind::HttpArm64)
    }
}

/// What dnsmasq gives one kind of client.
#[derive(Debug, Clone, Default)]
struct Given {
    /// The boot file, if any.
    file: Option<String>,
    /// The line it comes from.
    from: Option<Line>,
    /// Decided by a PXE-specific line (a `pxe-service`, or a tagged `dhcp-boot`).
    specific: bool,
    /// Why there is no file, when a line was involved.
    why_none: Option<String>,
    /// A line that would have applied but cannot be followed, with why.
    unusable: Option<(Line, String)>,
}

/// Builds the bootherd configuration.
pub fn translate(inputs: &Inputs<'_>) -> Draft {
    Translator::new(inputs).run()
}

struct Translator<'a> {
    inputs: &'a Inputs<'a>,
    fates_d: Vec<(bool, Option<Fate>)>,
    fates_t: Vec<(bool, Option<Fate>)>,
    rules: Rules,
    boots: Vec<Entry<DhcpBoot>>,
    boot_lines: Vec<usize>,
    services: Vec<Entry<PxeService>>,
    service_lines: Vec<usize>,
    tables: Vec<Table>,
    attention: Vec<String>,
}

fn key(name: &str, value: impl Into<Value>, comment: impl Into<String>) -> Key {
    Key {
        name: name.to_owned(),
        value: value.into(),
        comment: comment.into(),
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn mac_text(mac: &[u8; 6]) -> String {
    bootherd_proto::client::format_mac(mac)
}

/// The path of an `http://host/path` URL, and its host.
fn url_path(text: &str) -> Option<(&str, &str)> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    Some((host, path))
}

/// Boot programs, which bootherd never hands to iPXE.
const BINARY_SUFFIXES: [&str; 7] = [".kpxe", ".pxe", ".0", ".efi", ".kkpxe", ".lkrn", ".com"];

/// dnsmasq options about DNS, which bootherd does not serve.
const DNS_OPTIONS: [&str; 40] = [
    "no-resolv",
    "server",
    "local",
    "address",
    "domain-needed",
    "bogus-priv",
    "cache-size",
    "no-hosts",
    "addn-hosts",
    "expand-hosts",
    "log-queries",
    "no-poll",
    "strict-order",
    "all-servers",
    "resolv-file",
    "local-service",
    "dnssec",
    "trust-anchor",
    "cname",
    "host-record",
    "srv-host",
    "txt-record",
    "ptr-record",
    "mx-host",
    "stop-dns-rebind",
    "rebind-domain-ok",
    "filterwin2k",
    "localise-queries",
    "auth-zone",
    "auth-server",
    "min-cache-ttl",
    "max-cache-ttl",
    "neg-ttl",
    "local-ttl",
    "dns-forward-max",
    "query-port",
    "ipset",
    "nftset",
    "servers-file",
    "rev-server",
];

/// What to say about the dnsmasq options import has no key for, by name.
fn other_fate(name: &str) -> Fate {
    let no_key = |s: &str| Fate::NoKey(s.to_owned());
    let not = |s: &str| Fate::NotTranslated(s.to_owned());
    if DNS_OPTIONS.contains(&name) {
        return not("DNS: bootherd serves no DNS");
    }
    match name {
        "log-dhcp" => no_key("bootherd logs every DHCP decision (RUST_LOG=debug adds ordinary clients)"),
        "keep-in-foreground" | "no-daemon" => {
            no_key("bootherd stays in the foreground; run it from a service manager")
        }
        "bind-interfaces" | "bind-dynamic" => {
            no_key("bootherd listens only on the interfaces and addresses of [net]")
        }
        "dhcp-no-override" => {
            no_key("bootherd keeps the boot file and server name in their own fields (no option overload)")
        }
        "$ENABLED" => no_key("whether Debian starts dnsmasq; bootherd is started by its own service"),
        "dhcp-leasefile" | "dhcp-lease" | "leasefile-ro" => not(
            "bootherd keeps its own leases (dhcp.lease_db, SQLite); dnsmasq's lease file is not carried over",
        ),
        "log-facility" | "log-async" | "quiet-dhcp" | "quiet-tftp" => {
            not("bootherd logs to standard error (the journal under systemd); RUST_LOG sets what")
        }
        "user" | "group" => not(
            "bootherd keeps the identity it was started with unless [service] user is set; set it there \
             if bootherd should drop to a user (who must exist where bootherd runs and can read the tree)",
        ),
        "pid-file" => not("a service manager keeps track of bootherd's process"),
        "dhcp-authoritative" => {
            not("bootherd answers only the clients it owns, never as the LAN's authoritative server")
        }
        "dhcp-ignore" => not(
            "bootherd's DHCP server answers only the clients it owns and its proxy only boot firmware; \
             it has no per-tag ignore",
        ),
        "tftp-unique-root" => not(
            "bootherd serves one tree to every client; a client's own folder is used only when the \
             client asks for it by name (a Pi's serial or MAC folder, pxelinux.cfg/01-<mac>)",
        ),
        "tftp-secure" => not(
            "bootherd serves every regular file inside its root that it can read, whoever owns it: \
             keep files that must not be served out of the tree",
        ),
        "tftp-no-blocksize" => not(
            "bootherd always negotiates blksize; tftp.max_blksize = 512 grants no more than 512, \
             which is not the same as ignoring the option",
        ),
        "tftp-port-range" | "tftp-single-port" => not("bootherd has no key for the ports of TFTP transfers"),
        "tftp-no-fail" => not("bootherd does not start without its TFTP root"),
        "dhcp-reply-delay" => not("bootherd delays only its answers to the Pi 3 boot ROM (proxy.rpi_reply_delay_ms)"),
        "dhcp-pxe-vendor" => not("bootherd recognises boot firmware by its own rules (docs/PROTOCOLS.md)"),
        "enable-ra" | "ra-param" | "dhcp-duid" | "quiet-ra" => not("IPv6: bootherd serves IPv4 only"),
        "except-interface" | "no-dhcp-interface" => {
            not("bootherd has no interface exclusions: list the interfaces it serves in net.interfaces")
        }
        "dhcp-script" | "dhcp-luascript" | "dhcp-scriptuser" | "script-arp" | "script-on-renewal" => {
            not("bootherd runs no scripts on lease changes")
        }
        "read-ethers" => not("bootherd reads no /etc/ethers: owned MACs go in dhcp.own_macs and [[dhcp.reservation]]"),
        "dhcp-hostsfile" | "dhcp-optsfile" | "dhcp-hostsdir" | "dhcp-optsdir" => not(
            "import reads no host or option files: copy their lines into a configuration file to translate them",
        ),
        "conf-script" => not("import runs no scripts"),
        "conf-file" => not("import reads only named files (not standard input or the default file)"),
        "tag-if" | "dhcp-circuitid" | "dhcp-remoteid" | "dhcp-subscrid" | "dhcp-name-match" => not(
            "import does not evaluate this tag rule: answers that depend on its tags are not translated",
        ),
        "domain" => not("bootherd sets a domain per pool (dhcp.pool.domain) only from a plain domain=NAME"),
        _ if name.starts_with('$') => not("a variable of Debian's dnsmasq start script, not a dnsmasq option"),
        _ => not("bootherd has no equivalent of this dnsmasq option"),
    }
}

impl<'a> Translator<'a> {
    fn new(inputs: &'a Inputs<'a>) -> Translator<'a> {
        let mut boots = Vec::new();
        let mut boot_lines = Vec::new();
        let mut services = Vec::new();
        let mut service_lines = Vec::new();
        for (i, entry) in inputs.dnsmasq.iter().enumerate() {
            match &entry.item {
                Directive::DhcpBoot(b) => {
                    boots.push(entry.with(b.clone()));
                    boot_lines.push(i);
                }
                Directive::PxeService(s) => {
                    services.push(entry.with(s.clone()));
                    service_lines.push(i);
                }
                _ => {}
            }
        }
        Translator {
            inputs,
            fates_d: vec![(false, None); inputs.dnsmasq.len()],
            fates_t: vec![(false, None); inputs.tftpd.len()],
            rules: Rules::new(inputs.dnsmasq),
            boots,
            boot_lines,
            services,
            service_lines,
            tables: Vec::new(),
            attention: Vec::new(),
        }
    }

    fn origin(&self, line: Line) -> (&Origin, &str) {
        match line {
            Line::D(i) => (&self.inputs.dnsmasq[i].origin, &self.inputs.dnsmasq[i].text),
            Line::T(i) => (&self.inputs.tftpd[i].origin, &self.inputs.tftpd[i].text),
        }
    }

    /// `TEXT (file:line)`, and the line counts as used.
    fn cite(&mut self, line: Line) -> String {
        self.set(line, Fate::Used);
        let (origin, text) = self.origin(line);
        format!("{text} ({origin})")
    }

    /// Records what becomes of `line`: used for a key, and/or one note (the
    /// first one said). A line used for one key can still carry a note saying
    /// what of it is not translated for another.
    fn set(&mut self, line: Line, fate: Fate) {
        let slot = match line {
            Line::D(i) => &mut self.fates_d[i],
            Line::T(i) => &mut self.fates_t[i],
        };
        match fate {
            Fate::Used => slot.0 = true,
            note if slot.1.is_none() => slot.1 = Some(note),
            _ => {}
        }
    }

    /// `line` is used, and what was noted about it before no longer holds.
    fn claim(&mut self, line: Line) {
        let slot = match line {
            Line::D(i) => &mut self.fates_d[i],
            Line::T(i) => &mut self.fates_t[i],
        };
        *slot = (true, None);
    }

    fn not_translated(&mut self, line: Line, why: impl Into<String>) {
        self.set(line, Fate::NotTranslated(why.into()));
    }

    fn no_key(&mut self, line: Line, why: impl Into<String>) {
        self.set(line, Fate::NoKey(why.into()));
    }

    fn lines_where(&self, f: impl Fn(&Directive) -> bool) -> Vec<usize> {
        (0..self.inputs.dnsmasq.len())
            .filter(|&i| f(&self.inputs.dnsmasq[i].item))
            .collect()
    }

    fn run(mut self) -> Draft {
        for i in 0..self.inputs.dnsmasq.len() {
            match &self.inputs.dnsmasq[i].item {
                Directive::Invalid(why) => {
                    let why = format!("cannot read it: {why}");
                    self.not_translated(Line::D(i), why)
                }
                Directive::ConfFile(_) | Directive::ConfDir { .. } => {
                    self.no_key(Line::D(i), "read by import: its lines follow in place")
                }
                _ => {}
            }
        }
        self.net();
        let (proxy_on, wants_http) = self.proxy();
        let owned = self.dhcp();
        self.machines(&owned);
        self.tftp();
        self.http(wants_http, proxy_on);
        self.rest();
        self.finish()
    }

    // -- [net] ---------------------------------------------------------------

    fn net(&mut self) {
        let mut keys = Vec::new();
        let mut interfaces: Vec<String> = Vec::new();
        let mut cited = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::Interface(_))) {
            if let Directive::Interface(names) = &self.inputs.dnsmasq[i].item {
                for n in names {
                    if !interfaces.contains(n) {
                        interfaces.push(n.clone());
                    }
                }
            }
            cited.push(self.cite(Line::D(i)));
        }
        if !interfaces.is_empty() {
            keys.push(key("interfaces", strings(&interfaces), cited.join("; ")));
        }
        let mut listen: Vec<String> = Vec::new();
        let mut cited = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::ListenAddress(_))) {
            let Directive::ListenAddress(addrs) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            if !interfaces.is_empty() {
                self.not_translated(
                    Line::D(i),
                    "bootherd serves the interfaces of net.interfaces (from interface=); \
                     it takes listen addresses instead of interfaces, not as well",
                );
                continue;
            }
            let usable: Vec<String> = addrs
                .iter()
                .filter(|a| !a.is_loopback())
                .map(|a| a.to_string())
                .collect();
            if usable.is_empty() {
                self.no_key(
                    Line::D(i),
                    "loopback: DHCP and boot firmware never come that way",
                );
                continue;
            }
            listen.extend(usable);
            cited.push(self.cite(Line::D(i)));
        }
        // tftpd-hpa's address, when dnsmasq chose none.
        for i in 0..self.inputs.tftpd.len() {
            if let Setting::Address { ip: Some(ip), .. } = &self.inputs.tftpd[i].item {
                if interfaces.is_empty() && listen.is_empty() {
                    listen.push(ip.to_string());
                    cited.push(self.cite(Line::T(i)));
                } else if !listen.contains(&ip.to_string()) {
                    self.not_translated(
                        Line::T(i),
                        "bootherd listens on the same addresses for every service: [net] comes from dnsmasq's lines",
                    );
                }
            }
        }
        if !listen.is_empty() {
            keys.push(key("listen", strings(&listen), cited.join("; ")));
        }
        if !keys.is_empty() {
            self.table("net", vec![], keys);
        }
    }

    fn table(&mut self, name: &str, comments: Vec<String>, keys: Vec<Key>) {
        self.tables.push(Table {
            name: name.to_owned(),
            array: false,
            comments,
            keys,
        });
    }

    // -- [proxy] -------------------------------------------------------------

    /// What dnsmasq gives `client` of `kind`.
    fn given(&self, kind: Kind, client: &Client) -> Given {
        let mut given = Given::default();
        if kind.sees_menus() {
            match choose_service(&self.rules, &self.services, client) {
                Choice::Chosen(entry) => {
                    let line = Line::D(self.service_line(entry));
                    given.specific = true;
                    given.from = Some(line);
                    let s = &entry.item;
                    match (&s.boot, &s.server) {
                        (PxeBoot::File(_), Some(server)) => {
                            given.unusable = Some((
                                line,
                                format!(
                                    "its file comes from another boot server ({server}); bootherd \
                                     answers with files from its own tree: copy the file there"
                                ),
                            ));
                            given.why_none =
                                Some("the first menu entry names another server".into());
                        }
                        (PxeBoot::File(_), None) => given.file = s.boot.file(),
                        (PxeBoot::Local, _) => {
                            given.why_none = Some(format!(
                                "the first menu entry, {:?}, boots from local disk",
                                s.menu
                            ))
                        }
                        (PxeBoot::ServiceType(t), _) => {
                            given.unusable = Some((
                                line,
                                format!("a boot server search (service type {t}): bootherd answers with a file only"),
                            ));
                            given.why_none = Some(
                                "the first menu entry searches for another boot server".into(),
                            );
                        }
                    }
                    return given;
                }
                Choice::Depends(entry, tag) => {
                    let line = Line::D(self.service_line(entry));
                    given.unusable = Some((line, depends(&tag)));
                    given.why_none = Some(format!("which menu entry it gets depends on tag {tag}"));
                    return given;
                }
                Choice::Nothing => {}
            }
        }
        match choose_boot(&self.rules, &self.boots, client) {
            Choice::Chosen(entry) => {
                given.from = Some(Line::D(self.boot_line(entry)));
                given.specific = !entry.item.tags.is_empty();
                given.file = Some(entry.item.file.clone());
            }
            Choice::Depends(entry, tag) => {
                let line = Line::D(self.boot_line(entry));
                given.unusable = Some((line, depends(&tag)));
                given.why_none = Some(format!("which file it gets depends on tag {tag}"));
            }
            Choice::Nothing => {}
        }
        given
    }

    fn boot_line(&self, entry: &Entry<DhcpBoot>) -> usize {
        let at = self
            .boots
            .iter()
            .position(|b| std::ptr::eq(b, entry))
            .unwrap_or_default();
        self.boot_lines[at]
    }

    fn service_line(&self, entry: &Entry<PxeService>) -> usize {
        let at = self
            .services
            .iter()
            .position(|s| std::ptr::eq(s, entry))
            .unwrap_or_default();
        self.service_lines[at]
    }

    /// Returns whether the proxy is on, and whether it needs HTTP.
    fn proxy(&mut self) -> (bool, bool) {
        let proxy_ranges = self
            .lines_where(|d| matches!(d, Directive::DhcpRange(r) if r.mode == RangeMode::Proxy));
        let kinds = [
            Kind::Bios,
            Kind::UefiX64,
            Kind::UefiIa32,
            Kind::UefiArm64,
            Kind::Ipxe,
            Kind::IpxeEfi,
            Kind::HttpX64,
            Kind::HttpArm64,
        ];
        let given: Vec<(Kind, Given)> = kinds
            .iter()
            .map(|&k| (k, self.given(k, &k.client())))
            .collect();
        let pi = self.raspberry_pi();
        let specific =
            pi.0 == Tri::Yes || given.iter().any(|(_, g)| g.specific && g.file.is_some());
        let on = !proxy_ranges.is_empty() || specific;
        if !on {
            // Only an untagged dhcp-boot: dnsmasq gave every DHCP client that file.
            if let Some((_, g)) = given.iter().find(|(_, g)| g.file.is_some()) {
                if let Some(line) = g.from {
                    let (origin, text) = self.origin(line);
                    self.attention.push(format!(
                        "dnsmasq, as this LAN's DHCP server, also gave {text} ({origin}) to any PXE \
                         firmware that asked. bootherd boots PCs with proxyDHCP only when told to: \
                         set [proxy] enabled = true and bios = \"{}\" if it should.",
                        g.file.clone().unwrap_or_default()
                    ));
                }
            }
            return (false, false);
        }
        let mut keys = Vec::new();
        let enabled_comment = if proxy_ranges.is_empty() {
            "dnsmasq answered boot firmware as the LAN's DHCP server; bootherd gives boot answers only \
             (proxyDHCP) and leaves addresses to the LAN's DHCP server"
                .to_owned()
        } else {
            let cited: Vec<String> = proxy_ranges
                .iter()
                .map(|&i| self.cite(Line::D(i)))
                .collect();
            cited.join("; ")
        };
        keys.push(key("enabled", true, enabled_comment));
        // The Pi.
        let (pi_state, pi_line, pi_why) = pi;
        let comment = match (pi_state, pi_line) {
            (Tri::Yes, Some(line)) => self.cite(line),
            (Tri::Maybe, Some(line)) => {
                self.not_translated(line, pi_why.unwrap_or_default());
                format!("not answered: see the note on {}", self.origin(line).0)
            }
            _ => "dnsmasq sends no \"Raspberry Pi Boot\" menu entry".to_owned(),
        };
        keys.push(key("rpi", pi_state == Tri::Yes, comment));
        let mut wants_http = false;
        let get = |k: Kind| {
            given
                .iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, g)| g.clone())
                .unwrap_or_default()
        };
        for (name, kind) in [
            ("bios", Kind::Bios),
            ("uefi_x64", Kind::UefiX64),
            ("uefi_ia32", Kind::UefiIa32),
            ("uefi_arm64", Kind::UefiArm64),
        ] {
            let g = get(kind);
            let (value, comment) = self.tftp_file(kind, &g);
            keys.push(key(name, value, comment));
        }
        // iPXE: a script, from the BIOS build's answer (the UEFI build's must agree).
        let (ipxe, ipxe_efi) = (get(Kind::Ipxe), get(Kind::IpxeEfi));
        let (value, comment) = self.ipxe_script(&ipxe);
        if ipxe_efi.file != ipxe.file {
            if let Some(line) = ipxe_efi.from {
                self.not_translated(
                    line,
                    format!(
                        "iPXE on UEFI gets {} from dnsmasq, iPXE on BIOS {}: bootherd gives every iPXE \
                         the one proxy.ipxe_script",
                        ipxe_efi.file.clone().unwrap_or_else(|| "nothing".into()),
                        ipxe.file.clone().unwrap_or_else(|| "nothing".into())
                    ),
                );
            }
        }
        wants_http |= !value.is_empty();
        keys.push(key("ipxe_script", value, comment));
        for (name, kind) in [("http_x64", Kind::HttpX64), ("http_arm64", Kind::HttpArm64)] {
            let g = get(kind);
            let (value, comment) = self.http_file(kind, &g);
            wants_http |= !value.is_empty();
            keys.push(key(name, value, comment));
        }
        for (_, g) in &given {
            if let Some((line, why)) = &g.unusable {
                self.not_translated(*line, why.clone());
            }
        }
        self.table("proxy", vec![], keys);
        (true, wants_http)
    }

    /// Whether dnsmasq sends a Pi "Raspberry Pi Boot": the state, the line, and
    /// why it is uncertain.
    fn raspberry_pi(&self) -> (Tri, Option<Line>, Option<String>) {
        let pi = Client {
            raspberry_pi: true,
            ..Kind::Bios.client()
        };
        let mut maybe = None;
        for (at, s) in self.services.iter().enumerate() {
            if s.item.csa != 0 || !s.item.menu.contains("Raspberry Pi Boot") {
                continue;
            }
            let line = Line::D(self.service_lines[at]);
            match self.rules.matches(&s.item.tags, &pi) {
                (Tri::Yes, _) => return (Tri::Yes, Some(line), None),
                (Tri::Maybe, tag) if maybe.is_none() => {
                    maybe = Some((line, depends(&tag.unwrap_or_default())));
                }
                _ => {}
            }
        }
        match maybe {
            Some((line, why)) => (Tri::Maybe, Some(line), Some(why)),
            None => (Tri::No, None, None),
        }
    }

    /// A PXE boot file key: the file, or "" with why.
    fn tftp_file(&mut self, kind: Kind, g: &Given) -> (String, String) {
        match (&g.file, g.from) {
            (Some(file), Some(line)) if file.contains('\\') => {
                self.not_translated(
                    line,
                    "bootherd refuses names with backslashes (dnsmasq turns them into /): \
                     write the file name with /",
                );
                (
                    String::new(),
                    format!("{}: see the note on {}", kind.what(), self.origin(line).0),
                )
            }
            (Some(file), Some(line)) if url_path(file).is_some() => {
                self.not_translated(
                    line,
                    format!(
                        "{} gets a URL, which PXE firmware cannot fetch by TFTP",
                        kind.what()
                    ),
                );
                (
                    String::new(),
                    format!("{}: see the note on {}", kind.what(), self.origin(line).0),
                )
            }
            (Some(file), Some(line)) => (file.clone(), self.cite(line)),
            _ => (
                String::new(),
                format!(
                    "dnsmasq gives {} no boot file{}",
                    kind.what(),
                    g.why_none
                        .as_deref()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                ),
            ),
        }
    }

    fn ipxe_script(&mut self, g: &Given) -> (String, String) {
        let (Some(file), Some(line)) = (&g.file, g.from) else {
            return (
                String::new(),
                format!(
                    "dnsmasq gives iPXE no file of its own{}: bootherd answers iPXE only with a script",
                    g.why_none.as_deref().map(|w| format!(" ({w})")).unwrap_or_default()
                ),
            );
        };
        if let Some((host, path)) = url_path(file) {
            let cited = self.cite(line);
            return (
                path.to_owned(),
                format!("{cited}; bootherd serves it from its own HTTP root, not from {host}"),
            );
        }
        if file.contains('\\') {
            self.not_translated(
                line,
                "bootherd refuses names with backslashes (dnsmasq turns them into /): \
                 write the file name with /",
            );
            return (
                String::new(),
                format!("see the note on {}", self.origin(line).0),
            );
        }
        if BINARY_SUFFIXES
            .iter()
            .any(|s| file.to_ascii_lowercase().ends_with(s))
        {
            self.not_translated(
                line,
                format!(
                    "dnsmasq hands iPXE the boot program {file} again; bootherd hands iPXE a script \
                     over HTTP, never a binary: set proxy.ipxe_script to boot it further"
                ),
            );
            return (
                String::new(),
                format!("see the note on {}", self.origin(line).0),
            );
        }
        let cited = self.cite(line);
        (
            file.trim_start_matches('/').to_owned(),
            format!("{cited}; bootherd hands it to iPXE over HTTP"),
        )
    }

    fn http_file(&mut self, kind: Kind, g: &Given) -> (String, String) {
        match (&g.file, g.from) {
            (Some(file), Some(line)) if g.specific => match url_path(file) {
                Some((host, path)) => {
                    let cited = self.cite(line);
                    (
                        path.to_owned(),
                        format!("{cited}; served from bootherd's HTTP root, not from {host}"),
                    )
                }
                None => (
                    String::new(),
                    format!("dnsmasq gives {} no http:// URL", kind.what()),
                ),
            },
            _ => (
                String::new(),
                format!("dnsmasq gives {} no http:// URL", kind.what()),
            ),
        }
    }

    // -- [dhcp] --------------------------------------------------------------

    /// The DHCP server for owned hosts. Returns the host lines it owns.
    fn dhcp(&mut self) -> Vec<usize> {
        let ranges: Vec<usize> = self
            .lines_where(|d| matches!(d, Directive::DhcpRange(r) if r.mode != RangeMode::Proxy));
        let hosts: Vec<usize> = self.lines_where(|d| matches!(d, Directive::DhcpHost(_)));
        if ranges.is_empty() {
            return Vec::new();
        }
        // Which hosts dnsmasq gave a boot file: bootherd owns those.
        let mut owned: Vec<(usize, Line)> = Vec::new();
        for &i in &hosts {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            let host = host.clone();
            if host.ignore {
                self.no_key(
                    Line::D(i),
                    "bootherd answers only the clients it owns, and does not own this one",
                );
                continue;
            }
            if host.macs.is_empty() {
                self.not_translated(
                    Line::D(i),
                    "bootherd owns clients by MAC; this line names none it can use",
                );
                continue;
            }
            let client = host_client(&host);
            match choose_boot(&self.rules, &self.boots, &client) {
                Choice::Chosen(entry) => {
                    let line = Line::D(self.boot_line(entry));
                    owned.push((i, line));
                }
                Choice::Depends(_, tag) => self.not_translated(
                    Line::D(i),
                    format!(
                        "whether dnsmasq gave it a boot file depends on tag {tag} (its firmware): add \
                         its MAC to dhcp.own_macs if bootherd should boot it"
                    ),
                ),
                Choice::Nothing => self.not_translated(
                    Line::D(i),
                    "dnsmasq gives it no boot file: its address stays with the LAN's DHCP server",
                ),
            }
        }
        // Vendor classes selected for a boot file of their own (U-Boot's).
        let mut classes: Vec<(usize, String, Line)> = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::VendorClass { .. })) {
            let Directive::VendorClass { tag, class } = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            if class.contains("PXEClient") || class.contains("HTTPClient") {
                continue;
            }
            let client = Client {
                vendor_class: Some(class.clone()),
                ..Client::default()
            };
            if let Choice::Chosen(entry) = choose_boot(&self.rules, &self.boots, &client) {
                if entry.item.tags.iter().any(|t| !t.negated && t.tag == *tag) {
                    let line = Line::D(self.boot_line(entry));
                    classes.push((i, class.clone(), line));
                }
            }
        }
        if owned.is_empty() && classes.is_empty() {
            for &i in &ranges {
                self.not_translated(
                    Line::D(i),
                    "dnsmasq hands out these addresses to every client, and none of them gets a boot \
                     file bootherd could own: bootherd leaves addresses to the LAN's DHCP server",
                );
            }
            return Vec::new();
        }
        // The boot file: the one most owned clients get.
        let mut counts: BTreeMap<String, (usize, Line)> = BTreeMap::new();
        let chosen: Vec<Line> = owned
            .iter()
            .map(|&(_, l)| l)
            .chain(classes.iter().map(|(_, _, l)| *l))
            .collect();
        for line in chosen {
            let Line::D(b) = line else { continue };
            let Directive::DhcpBoot(boot) = &self.inputs.dnsmasq[b].item else {
                continue;
            };
            let slot = counts.entry(boot.file.clone()).or_insert((0, line));
            slot.0 += 1;
        }
        let (file, &(_, file_line)) = counts
            .iter()
            .max_by_key(|(_, (n, line))| (*n, std::cmp::Reverse(line_index(*line))))
            .expect("an owned client");
        let file = file.clone();
        let mut dhcp_keys = vec![key(
            "enabled",
            true,
            "dnsmasq gave the clients below an address and a boot file; bootherd does the same for them only",
        )];
        let mut macs = Vec::new();
        let mut mac_cites = Vec::new();
        for (h, line) in owned.clone() {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[h].item else {
                continue;
            };
            let host = host.clone();
            if line != file_line {
                let Line::D(b) = line else { continue };
                let other = match &self.inputs.dnsmasq[b].item {
                    Directive::DhcpBoot(b) => b.file.clone(),
                    _ => String::new(),
                };
                self.not_translated(
                    Line::D(h),
                    format!(
                        "dnsmasq gives it {other}, and bootherd gives every owned client the same \
                         dhcp.boot.file ({file})"
                    ),
                );
                continue;
            }
            for mac in &host.macs {
                macs.push(mac_text(mac));
            }
            if !host.mac_patterns.is_empty() {
                self.attention.push(format!(
                    "{} ({}): the MAC patterns {} cannot be owned by bootherd, which owns exact MACs",
                    self.inputs.dnsmasq[h].text,
                    self.inputs.dnsmasq[h].origin,
                    host.mac_patterns.join(", ")
                ));
            }
            mac_cites.push(self.inputs.dnsmasq[h].origin.to_string());
        }
        let owned_hosts: Vec<usize> = owned
            .iter()
            .filter(|(_, line)| *line == file_line)
            .map(|(h, _)| *h)
            .collect();
        dhcp_keys.push(key(
            "own_macs",
            strings(&macs),
            if mac_cites.is_empty() {
                String::new()
            } else {
                format!("dhcp-host lines at {}", mac_cites.join(", "))
            },
        ));
        let mut class_patterns = Vec::new();
        let mut class_cites = Vec::new();
        for (c, class, line) in classes {
            if line != file_line {
                self.not_translated(
                    Line::D(c),
                    format!("bootherd gives every owned client the same dhcp.boot.file ({file})"),
                );
                continue;
            }
            class_patterns.push(format!("*{class}*"));
            class_cites.push(self.cite(Line::D(c)));
        }
        if !class_patterns.is_empty() {
            dhcp_keys.push(key(
                "own_vendor_classes",
                strings(&class_patterns),
                class_cites.join("; "),
            ));
        }
        for i in self.lines_where(|d| matches!(d, Directive::NoPing)) {
            let cited = self.cite(Line::D(i));
            dhcp_keys.push(key("ping_check", false, cited));
        }
        self.tables.push(Table {
            name: "dhcp".into(),
            array: false,
            comments: vec![
                "bootherd's DHCP server answers only the clients it owns (own_macs,".into(),
                "own_vendor_classes, reservations) and leaves every other client to the LAN's"
                    .into(),
                "DHCP server: keep one for the rest of the LAN (dnsmasq without these clients,"
                    .into(),
                "or with dhcp-host=MAC,ignore for each). Its leases go to leases.sqlite next"
                    .into(),
                "to this file (dhcp.lease_db); dnsmasq's lease file is not carried over.".into(),
            ],
            keys: dhcp_keys,
        });
        self.dhcp_boot(&file, file_line);
        self.pools(&ranges, &owned_hosts);
        owned_hosts
    }

    fn dhcp_boot(&mut self, file: &str, line: Line) {
        let Line::D(b) = line else { return };
        let Directive::DhcpBoot(boot) = &self.inputs.dnsmasq[b].item else {
            return;
        };
        let boot = boot.clone();
        let cited = self.cite(line);
        let mut keys = vec![key("file", file, cited.clone())];
        match (&boot.server, &boot.server_name) {
            (Some(server), _) => match server.parse::<Ipv4Addr>() {
                Ok(ip) => keys.push(key("next_server", ip.to_string(), format!("{cited}; default: the answering address"))),
                Err(_) => self.attention.push(format!(
                    "{cited}: the TFTP server {server} is a name; bootherd's next_server is an address"
                )),
            },
            (None, Some(name)) => keys.push(key("tftp_server_name", name.as_str(), cited.clone())),
            (None, None) => {}
        }
        if let (Some(_), Some(name)) = (&boot.server, &boot.server_name) {
            self.attention.push(format!(
                "{cited}: the server name {name} is not sent (dhcp.boot.tftp_server_name sends option 66 if a board needs it)"
            ));
        }
        // Options 66, 67 and 209 from dhcp-option.
        for i in self.lines_where(|d| matches!(d, Directive::DhcpOption(o) if o.tags.is_empty() && !o.encapsulated && matches!(o.option, Some(66 | 209)))) {
            let Directive::DhcpOption(o) = &self.inputs.dnsmasq[i].item else { continue };
            let (name, value) = match (o.option, o.values.first()) {
                (Some(66), Some(v)) => ("tftp_server_name", v.clone()),
                (Some(209), Some(v)) => ("pxelinux_config", v.clone()),
                _ => continue,
            };
            if keys.iter().any(|k| k.name == name) {
                continue;
            }
            let cited = self.cite(Line::D(i));
            keys.push(key(name, value, cited));
        }
        self.table("dhcp.boot", vec![], keys);
    }

    fn pools(&mut self, ranges: &[usize], owned_hosts: &[usize]) {
        // Untagged options for the pools.
        let option = |this: &Self, number: u16| -> Vec<usize> {
            this.lines_where(|d| {
                matches!(d, Directive::DhcpOption(o) if o.tags.is_empty() && !o.encapsulated && o.option == Some(number))
            })
        };
        let netmask_lines = option(self, 1);
        let router_lines = option(self, 3);
        let dns_lines = option(self, 6);
        let domain_lines = option(self, 15);
        let domain_directives = self.lines_where(|d| matches!(d, Directive::Domain(_)));
        let mut subnets: Vec<(Ipv4Addr, u8)> = Vec::new();
        let mut pool_tables = Vec::new();
        let mut reserved: Vec<(usize, Ipv4Addr)> = Vec::new();
        for &h in owned_hosts {
            if let Directive::DhcpHost(host) = &self.inputs.dnsmasq[h].item {
                if let Some(ip) = host.ip {
                    reserved.push((h, ip));
                }
            }
        }
        for &r in ranges {
            let Directive::DhcpRange(range) = &self.inputs.dnsmasq[r].item else {
                continue;
            };
            let range = range.clone();
            if !range.tags.is_empty() {
                self.not_translated(
                    Line::D(r),
                    "a range for tagged clients: bootherd's pools have no tags",
                );
                continue;
            }
            let mut comments = Vec::new();
            let mask = range.netmask.or_else(|| {
                netmask_lines
                    .first()
                    .and_then(|&i| match &self.inputs.dnsmasq[i].item {
                        Directive::DhcpOption(o) => o.values.first().and_then(|v| v.parse().ok()),
                        _ => None,
                    })
            });
            let prefix = match mask {
                Some(mask) => match mask_prefix(mask) {
                    Some(p) => p,
                    None => {
                        self.not_translated(Line::D(r), format!("{mask} is not a netmask"));
                        continue;
                    }
                },
                None => {
                    comments.push("dnsmasq takes the netmask from the interface: /24 is assumed here, check it".into());
                    24
                }
            };
            let network = Ipv4Addr::from(u32::from(range.start) & prefix_mask(prefix));
            if subnets.iter().any(|&(n, p)| n == network && p == prefix) {
                self.not_translated(
                    Line::D(r),
                    "bootherd has one range per subnet: the first range of this subnet is used",
                );
                continue;
            }
            let in_subnet =
                |ip: Ipv4Addr| u32::from(ip) & prefix_mask(prefix) == u32::from(network);
            let (first, last) = match range.mode {
                RangeMode::Dynamic(end) => (range.start, end),
                RangeMode::Static => {
                    let ips: Vec<u32> = reserved
                        .iter()
                        .filter(|(_, ip)| in_subnet(*ip))
                        .map(|(_, ip)| u32::from(*ip))
                        .collect();
                    match (ips.iter().min(), ips.iter().max()) {
                        (Some(&a), Some(&b)) => {
                            comments.push("a static range in dnsmasq: this range spans the reserved addresses only".into());
                            (Ipv4Addr::from(a), Ipv4Addr::from(b))
                        }
                        _ => {
                            self.not_translated(
                                Line::D(r),
                                "a static range without reserved addresses of owned clients",
                            );
                            continue;
                        }
                    }
                }
                RangeMode::Proxy => continue,
            };
            subnets.push((network, prefix));
            let cited = self.cite(Line::D(r));
            let mut keys = vec![
                key("subnet", format!("{network}/{prefix}"), cited.clone()),
                key(
                    "range",
                    strings(&[first.to_string(), last.to_string()]),
                    String::new(),
                ),
            ];
            let mut routers = false;
            for &i in &router_lines {
                let Directive::DhcpOption(o) = &self.inputs.dnsmasq[i].item else {
                    continue;
                };
                if let Some(ip) = o
                    .values
                    .first()
                    .and_then(|v| v.parse::<Ipv4Addr>().ok())
                    .filter(|ip| in_subnet(*ip))
                {
                    let cited = self.cite(Line::D(i));
                    keys.push(key("router", ip.to_string(), cited));
                    routers = true;
                    break;
                }
            }
            let mut dns = false;
            for &i in &dns_lines {
                let Directive::DhcpOption(o) = &self.inputs.dnsmasq[i].item else {
                    continue;
                };
                let servers: Vec<String> = o
                    .values
                    .iter()
                    .filter_map(|v| v.parse::<Ipv4Addr>().ok())
                    .filter(|ip| !ip.is_unspecified())
                    .map(|ip| ip.to_string())
                    .collect();
                if !servers.is_empty() && servers.len() == o.values.len() {
                    let cited = self.cite(Line::D(i));
                    keys.push(key("dns", strings(&servers), cited));
                    dns = true;
                    break;
                }
            }
            if !routers || !dns {
                comments.push(
                    "dnsmasq names itself as router and DNS server unless told otherwise; bootherd sends neither unless set".into(),
                );
            }
            match range.lease {
                Some(Some(secs)) => keys.push(key("lease_secs", i64::try_from(secs).unwrap_or(i64::MAX), String::new())),
                Some(None) => comments.push("dnsmasq's lease time is infinite here: bootherd's is lease_secs (default 3600)".into()),
                None => {}
            }
            let domain = domain_lines
                .iter()
                .find_map(|&i| match &self.inputs.dnsmasq[i].item {
                    Directive::DhcpOption(o) => o.values.first().map(|v| (i, v.clone())),
                    _ => None,
                })
                .or_else(|| {
                    domain_directives
                        .iter()
                        .find_map(|&i| match &self.inputs.dnsmasq[i].item {
                            Directive::Domain(d) => Some((i, d.clone())),
                            _ => None,
                        })
                });
            if let Some((i, name)) = domain {
                let cited = self.cite(Line::D(i));
                keys.push(key("domain", name, cited));
            }
            if pool_tables.is_empty() {
                comments.insert(
                    0,
                    "dnsmasq handed these addresses to every client; bootherd hands them only to the".into(),
                );
                comments.insert(
                    1,
                    "clients it owns ([dhcp] above) and leaves the rest of the LAN alone.".into(),
                );
            }
            pool_tables.push(Table {
                name: "dhcp.pool".into(),
                array: true,
                comments,
                keys,
            });
        }
        self.tables.extend(pool_tables);
        // Reservations, each in a pool's subnet, one per address.
        let mut taken: Vec<Ipv4Addr> = Vec::new();
        for (h, ip) in reserved {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[h].item else {
                continue;
            };
            let host = host.clone();
            let in_pool = subnets
                .iter()
                .any(|&(n, p)| u32::from(ip) & prefix_mask(p) == u32::from(n));
            let line = Line::D(h);
            if !in_pool {
                self.not_translated(line, format!("{ip} is in none of the pools above (bootherd reserves addresses inside a pool's subnet); its MAC is still owned"));
                continue;
            }
            if taken.contains(&ip) {
                self.not_translated(
                    line,
                    format!(
                        "{ip} is reserved for another MAC above; bootherd reserves an address once"
                    ),
                );
                continue;
            }
            taken.push(ip);
            let cited = self.cite(line);
            let mut keys = vec![
                key("mac", mac_text(&host.macs[0]), cited),
                key("ip", ip.to_string(), String::new()),
            ];
            if let Some(name) = &host.hostname {
                keys.push(key("hostname", name.as_str(), String::new()));
            }
            let mut comments = Vec::new();
            if host.macs.len() > 1 {
                comments.push(format!(
                    "dnsmasq shares this address between {}; bootherd reserves it for the first (the others are owned)",
                    host.macs.iter().map(mac_text).collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(lease) = host.lease {
                comments.push(format!(
                    "dnsmasq's lease time for it ({}) is not carried over: bootherd uses the pool's",
                    lease.map_or("infinite".into(), |s| format!("{s} s"))
                ));
            }
            self.tables.push(Table {
                name: "dhcp.reservation".into(),
                array: true,
                comments,
                keys,
            });
        }
        for &h in owned_hosts {
            // Owned without a reservation: cited by own_macs.
            self.set(Line::D(h), Fate::Used);
        }
    }

    // -- [[machines]] -------------------------------------------------------

    /// A host given its own UEFI boot file becomes an `efi` machine.
    fn machines(&mut self, owned: &[usize]) {
        let general = self.given(Kind::UefiX64, &Kind::UefiX64.client());
        let mut profiles: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut machines = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::DhcpHost(_))) {
            if owned.contains(&i) {
                continue;
            }
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            let host = host.clone();
            if host.ignore || host.macs.is_empty() {
                continue;
            }
            let client = Client {
                mac: Some(host.macs[0]),
                host_tags: host.set.clone(),
                known: Some(true),
                ..Kind::UefiX64.client()
            };
            let mine = self.given(Kind::UefiX64, &client);
            let (Some(file), Some(from)) = (&mine.file, mine.from) else {
                continue;
            };
            if mine.file == general.file || !file.to_ascii_lowercase().ends_with(".efi") {
                continue;
            }
            let kernel = file.trim_start_matches('/').to_owned();
            if kernel.contains(['\\', ' ', '#'])
                || kernel.split('/').any(|p| p.is_empty() || p == "..")
            {
                self.not_translated(
                    from,
                    "the file name is not one bootherd serves as a machine's EFI binary",
                );
                continue;
            }
            let stem: String = kernel
                .rsplit('/')
                .next()
                .unwrap_or(&kernel)
                .trim_end_matches(".efi")
                .trim_end_matches(".EFI")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let profile = format!("efi-{stem}");
            let cited_from = self.cite(from);
            profiles
                .entry(profile.clone())
                .or_insert((kernel, cited_from));
            let mac = mac_text(&host.macs[0]);
            let name = host
                .hostname
                .clone()
                .filter(|n| valid_name(n) && !names.contains(n))
                .unwrap_or_else(|| format!("host-{}", mac.replace(':', "")));
            names.push(name.clone());
            self.claim(Line::D(i));
            let cited = self.cite(Line::D(i));
            machines.push(Table {
                name: "machines".into(),
                array: true,
                comments: vec![],
                keys: vec![
                    key("name", name, String::new()),
                    key("mac", mac, cited),
                    key("profile", profile, String::new()),
                ],
            });
        }
        for (name, (kernel, cited)) in profiles {
            self.tables.push(Table {
                name: format!("profiles.{name}"),
                array: false,
                comments: vec![
                    "UEFI firmware of the machines below gets this file (at m/<mac>/ in bootherd's"
                        .into(),
                    "tree, which falls back to the root) instead of proxy.uefi_x64.".into(),
                ],
                keys: vec![
                    key("kind", "efi", String::new()),
                    key("kernel", kernel, cited),
                ],
            });
        }
        self.tables.extend(machines);
        // The other hosts, in proxy mode.
        for i in self.lines_where(|d| matches!(d, Directive::DhcpHost(_))) {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            if host.ignore {
                self.no_key(
                    Line::D(i),
                    "bootherd answers only the clients it owns, and does not own this one",
                );
            } else {
                self.not_translated(
                    Line::D(i),
                    "in proxy mode dnsmasq uses a host line for its tags only, and they give this host \
                     no boot file of its own that bootherd can give (only a UEFI binary can be one)",
                );
            }
        }
    }

    // -- [tftp] --------------------------------------------------------------

    fn tftp(&mut self) {
        let mut keys = Vec::new();
        let enables = self.lines_where(|d| matches!(d, Directive::EnableTftp(_)));
        let tftpd = !self.inputs.tftpd.is_empty();
        let mut comments = Vec::new();
        if !enables.is_empty() {
            let cited: Vec<String> = enables.iter().map(|&i| self.cite(Line::D(i))).collect();
            keys.push(key("enabled", true, cited.join("; ")));
        } else if tftpd {
            keys.push(key("enabled", true, "tftpd-hpa served TFTP"));
        } else {
            keys.push(key(
                "enabled",
                true,
                "dnsmasq served no TFTP (no enable-tftp): bootherd serves the boot files itself",
            ));
        }
        // The root: --tftp-root, else dnsmasq's (when it served TFTP), else tftpd-hpa's.
        let roots = self.lines_where(|d| matches!(d, Directive::TftpRoot { .. }));
        let dirs: Vec<usize> = (0..self.inputs.tftpd.len())
            .filter(|&i| matches!(self.inputs.tftpd[i].item, Setting::Directory(_)))
            .collect();
        let mut candidates: Vec<(Line, String)> = Vec::new();
        let dnsmasq_roots: Vec<(Line, String)> = roots
            .iter()
            .filter_map(|&i| match &self.inputs.dnsmasq[i].item {
                Directive::TftpRoot { dir, .. } => Some((Line::D(i), dir.clone())),
                _ => None,
            })
            .collect();
        let tftpd_roots: Vec<(Line, String)> = dirs
            .iter()
            .filter_map(|&i| match &self.inputs.tftpd[i].item {
                Setting::Directory(d) => d.first().map(|d| (Line::T(i), d.clone())),
                _ => None,
            })
            .collect();
        if !enables.is_empty() || !tftpd {
            candidates.extend(dnsmasq_roots.iter().cloned());
            candidates.extend(tftpd_roots.iter().cloned());
        } else {
            candidates.extend(tftpd_roots.iter().cloned());
            candidates.extend(dnsmasq_roots.iter().cloned());
        }
        let chosen = candidates.first().cloned();
        for (line, _) in candidates.iter().skip(1) {
            let (origin, text) = match &chosen {
                Some((l, _)) => {
                    let (o, t) = self.origin(*l);
                    (o.to_string(), t.to_owned())
                }
                None => (String::new(), String::new()),
            };
            self.not_translated(
                *line,
                format!("bootherd serves one tree: the root is {text} ({origin})"),
            );
        }
        for &i in &dirs {
            if let Setting::Directory(d) = &self.inputs.tftpd[i].item {
                if d.len() > 1 {
                    self.attention.push(format!(
                        "{} ({}): bootherd serves the first directory only",
                        self.inputs.tftpd[i].text, self.inputs.tftpd[i].origin
                    ));
                }
            }
        }
        match (self.inputs.tftp_root, chosen) {
            (Some(dir), Some((line, said))) => {
                let (origin, text) = self.origin(line);
                let comment = format!("--tftp-root (the configuration said {said}: {text} ({origin}))");
                self.set(line, Fate::Used);
                keys.push(key("root", dir.display().to_string(), comment));
            }
            (Some(dir), None) => keys.push(key("root", dir.display().to_string(), "--tftp-root")),
            (None, Some((line, said))) => {
                let mut cited = self.cite(line);
                if let Line::D(i) = line {
                    if let Directive::TftpRoot { interface: Some(iface), .. } = &self.inputs.dnsmasq[i].item {
                        cited.push_str(&format!("; bootherd serves it on every interface, not only {iface}"));
                    }
                }
                keys.push(key("root", said, cited));
            }
            (None, None) => comments.push(
                "No TFTP root in the files: set root to the tree the boot files are in (default ./tftp-root).".into(),
            ),
        }
        for i in self.lines_where(|d| matches!(d, Directive::TftpMax(_))) {
            let Directive::TftpMax(n) = self.inputs.dnsmasq[i].item else {
                continue;
            };
            if n == 0 {
                self.not_translated(Line::D(i), "bootherd needs at least 1 transfer");
                continue;
            }
            let cited = self.cite(Line::D(i));
            keys.push(key("max_transfers", i64::from(n), cited));
        }
        let mut blksize: Option<(u16, String)> = None;
        for i in self.lines_where(|d| matches!(d, Directive::TftpMtu(_))) {
            let Directive::TftpMtu(mtu) = self.inputs.dnsmasq[i].item else {
                continue;
            };
            match u16::try_from(mtu.saturating_sub(32))
                .ok()
                .filter(|b| (MIN_BLKSIZE..=MAX_BLKSIZE).contains(b))
            {
                Some(b) if blksize.is_none() => {
                    let cited = self.cite(Line::D(i));
                    blksize = Some((b, format!("{cited}: the MTU less 32 bytes of headers")));
                }
                _ => self.not_translated(Line::D(i), "no block size of 8..=65464 follows from it"),
            }
        }
        for i in 0..self.inputs.tftpd.len() {
            match self.inputs.tftpd[i].item.clone() {
                Setting::Blocksize(b) if (512..=MAX_BLKSIZE).contains(&b) && blksize.is_none() => {
                    let cited = self.cite(Line::T(i));
                    blksize = Some((b, cited));
                }
                Setting::Blocksize(_) => self.not_translated(Line::T(i), "another block size applies, or it is out of 512..=65464"),
                Setting::Retransmit(usec) => {
                    let ms = (usec / 1000).clamp(10, 255_000);
                    let cited = self.cite(Line::T(i));
                    keys.push(key("timeout_ms", i64::try_from(ms).unwrap_or(1000), format!("{cited}, in milliseconds")));
                }
                Setting::Address { port: Some(port), .. } if port != 69 => {
                    let cited = self.cite(Line::T(i));
                    keys.push(key("port", i64::from(port), cited));
                }
                Setting::Address { ip: None, .. } => self.no_key(Line::T(i), "bootherd's TFTP port is 69 and it serves every address unless [net] says otherwise"),
                Setting::Address { .. } => self.no_key(Line::T(i), "69 is bootherd's TFTP port too"),
                Setting::Secure => self.no_key(
                    Line::T(i),
                    "bootherd always serves from inside its root and reads a leading / from the root, as --secure does",
                ),
                Setting::User(_) => self.not_translated(
                    Line::T(i),
                    "bootherd keeps the identity it was started with unless [service] user is set; set it \
                     there if bootherd should drop to this user (who must exist where bootherd runs and can read the tree)",
                ),
                Setting::Create => self.not_translated(Line::T(i), "bootherd is read-only: it never accepts uploads"),
                Setting::MapFile(_) | Setting::MapFileUnread(_) | Setting::MapRule(_) => {}
                Setting::Harmless(text) => {
                    let why = match text.trim_start_matches('-').chars().next() {
                        Some('4') | Some('i') => "bootherd serves IPv4 only",
                        Some('v') => "RUST_LOG sets bootherd's log level",
                        Some('l') | Some('L') | Some('f') => "bootherd always runs as a standalone server",
                        Some('P') | Some('p') => "a service manager keeps track of bootherd's process",
                        Some('t') => "for inetd only; bootherd runs standalone",
                        _ => "bootherd is started by its own service",
                    };
                    self.no_key(Line::T(i), why)
                }
                Setting::Other(_) => self.not_translated(Line::T(i), "bootherd has no equivalent of this tftpd-hpa setting"),
                Setting::Invalid(why) => self.not_translated(Line::T(i), format!("cannot read it: {why}")),
                Setting::Directory(_) => {}
            }
        }
        if let Some((b, comment)) = blksize {
            keys.push(key("max_blksize", i64::from(b), comment));
        }
        let rewrites = self.rewrites(!enables.is_empty() || !tftpd, !enables.is_empty());
        // [tftp] and its rewrites go right after [net] (or first).
        let at = self
            .tables
            .iter()
            .position(|t| t.name != "net")
            .unwrap_or(self.tables.len());
        let tftp = Table {
            name: "tftp".into(),
            array: false,
            comments,
            keys,
        };
        self.tables
            .splice(at..at, std::iter::once(tftp).chain(rewrites));
    }

    /// `[[tftp.rewrite]]`: dnsmasq's `tftp-lowercase` when bootherd serves
    /// dnsmasq's tree (`dnsmasq_tree`), else the rules of tftpd-hpa's map file,
    /// in order.
    fn rewrites(&mut self, dnsmasq_tree: bool, dnsmasq_tftp: bool) -> Vec<Table> {
        let rewrite = |keys: Vec<Key>, comments: Vec<String>| Table {
            name: "tftp.rewrite".into(),
            array: true,
            comments,
            keys,
        };
        let mut tables = Vec::new();
        let lowercase =
            self.lines_where(|d| matches!(d, Directive::Other(name) if name == "tftp-lowercase"));
        if dnsmasq_tftp && !lowercase.is_empty() {
            let cited: Vec<String> = lowercase.iter().map(|&i| self.cite(Line::D(i))).collect();
            let comment = format!(
                "{}: ASCII letters, as dnsmasq lower-cases them in a UTF-8 or C locale",
                cited.join("; ")
            );
            tables.push(rewrite(vec![key("lowercase", true, comment)], vec![]));
        }
        for &i in lowercase.iter().filter(|_| !dnsmasq_tftp) {
            self.not_translated(
                Line::D(i),
                "dnsmasq served no TFTP (no enable-tftp), so it lower-cased no name",
            );
        }
        let tftpd = self.inputs.tftpd;
        let files: Vec<usize> = (0..tftpd.len())
            .filter(|&i| {
                matches!(
                    tftpd[i].item,
                    Setting::MapFile(_) | Setting::MapFileUnread(_)
                )
            })
            .collect();
        let rules: Vec<usize> = (0..tftpd.len())
            .filter(|&i| matches!(tftpd[i].item, Setting::MapRule(_)))
            .collect();
        let Some((&file, earlier)) = files.split_last() else {
            return tables;
        };
        for &i in earlier {
            self.not_translated(Line::T(i), "in.tftpd reads only the last --map-file");
        }
        if let (Setting::MapFileUnread(why), false) = (&tftpd[file].item, dnsmasq_tree) {
            self.not_translated(Line::T(file), why.as_str());
            let (origin, text) = self.origin(Line::T(file));
            self.attention.push(format!(
                "{text} ({origin}): {why}; its rules are not translated (tftpd-hpa does not \
                 start without it either)"
            ));
            return tables;
        }
        if dnsmasq_tree {
            for &i in std::iter::once(&file).chain(&rules) {
                self.not_translated(
                    Line::T(i),
                    "bootherd serves dnsmasq's tree, where tftpd-hpa's map file did not apply",
                );
            }
            return tables;
        }
        let (mut skipped, mut rejected) = (0, 0);
        for &i in &rules {
            let Setting::MapRule(remap) = &tftpd[i].item else {
                continue;
            };
            let line = Line::T(i);
            match remap {
                Remap::Replace { from, to, how } => {
                    let cited = self.cite(line);
                    let comment = match how {
                        Some(how) => format!("{cited}: {how}"),
                        None => cited,
                    };
                    tables.push(rewrite(
                        vec![
                            key("from", from.as_str(), comment),
                            key("to", to.as_str(), ""),
                        ],
                        vec![],
                    ));
                }
                Remap::Lowercase => {
                    let cited = self.cite(line);
                    let comment = format!("{cited}: ASCII letters, as in.tftpd lower-cases them");
                    tables.push(rewrite(vec![key("lowercase", true, comment)], vec![]));
                }
                Remap::NoEffect(why) => self.no_key(line, why.as_str()),
                Remap::NotTranslated(why) => {
                    skipped += 1;
                    self.not_translated(line, why.as_str());
                }
                Remap::Deny => {
                    skipped += 1;
                    self.not_translated(
                        line,
                        "refuses the requests it matches (a); bootherd has no rule that refuses \
                         a request",
                    );
                    let (origin, text) = self.origin(line);
                    self.attention.push(format!(
                        "{text} ({origin}): tftpd-hpa refused the requests this rule matches; \
                         bootherd serves such files if they are in the tree: keep them out of it"
                    ));
                }
                Remap::Rejected(why) => {
                    rejected += 1;
                    self.not_translated(
                        line,
                        format!(
                            "tftpd-hpa refuses this line, and with it the whole map file: {why}"
                        ),
                    );
                }
            }
        }
        let (origin, text) = self.origin(Line::T(file));
        let named = format!("{text} ({origin})");
        if rejected > 0 {
            self.attention.push(format!(
                "{named}: tftpd-hpa does not start with this map file (it refuses a line, listed \
                 at the end); check that it is the file your tftpd-hpa runs with"
            ));
        }
        if skipped > 0 {
            self.attention.push(format!(
                "{named}: {skipped} of its {} rules are not translated (listed at the end): \
                 requests they changed may not find their files, and the rules after them see \
                 other names",
                rules.len()
            ));
        }
        match tables.first_mut() {
            Some(first) => {
                let cited = self.cite(Line::T(file));
                first
                    .comments
                    .push(format!("The rules of {cited}, in order:"));
            }
            None if rules.is_empty() => self.no_key(Line::T(file), "its map file has no rules"),
            None => self.no_key(
                Line::T(file),
                "read by import: none of its rules became a rewrite (each is listed)",
            ),
        }
        tables
    }

    fn http(&mut self, wants_http: bool, proxy_on: bool) {
        let comment = if wants_http {
            "iPXE and UEFI HTTP boot fetch from bootherd's HTTP server (port 80, the TFTP root)"
        } else if proxy_on {
            "dnsmasq serves no HTTP, and nothing above needs it"
        } else {
            "nothing imported needs HTTP"
        };
        let table = Table {
            name: "http".into(),
            array: false,
            comments: vec![],
            keys: vec![key("enabled", wants_http, comment)],
        };
        let at = self
            .tables
            .iter()
            .rposition(|t| t.name == "tftp" || t.name.starts_with("tftp."))
            .map_or(0, |i| i + 1);
        self.tables.insert(at, table);
    }

    // -- everything else ------------------------------------------------------

    fn rest(&mut self) {
        for i in 0..self.inputs.dnsmasq.len() {
            if self.fates_d[i].0 || self.fates_d[i].1.is_some() {
                continue;
            }
            let line = Line::D(i);
            let fate = match &self.inputs.dnsmasq[i].item {
                Directive::Port(0) => Fate::NoKey("bootherd serves no DNS".into()),
                Directive::Port(_) => Fate::NotTranslated("DNS: bootherd serves no DNS".into()),
                Directive::PxePrompt => Fate::NotTranslated(
                    "bootherd sends no PXE menu or prompt: each kind of client gets one boot file"
                        .into(),
                ),
                Directive::PxeService(s) => Fate::NotTranslated(service_why(s)),
                Directive::DhcpBoot(_) => Fate::NotTranslated(
                    "no kind of client bootherd answers gets this file from dnsmasq".into(),
                ),
                Directive::DhcpMatch(_)
                | Directive::VendorClass { .. }
                | Directive::UserClass { .. }
                | Directive::DhcpMac { .. } => Fate::NoKey(
                    "a tag rule: import used it to work out which client gets which file above"
                        .into(),
                ),
                Directive::DhcpRange(r) => Fate::NotTranslated(range_why(r)),
                Directive::DhcpOption(o) => Fate::NotTranslated(if !o.tags.is_empty() {
                    "bootherd has no per-tag options".into()
                } else if o.encapsulated {
                    "bootherd writes the PXE and vendor options itself".into()
                } else {
                    "bootherd sends router, DNS servers and domain per pool, and options 66, 67 and 209 \
                     from dhcp.boot; this one has no key (or applies to no pool above)"
                        .into()
                }),
                Directive::Other(name) => other_fate(name),
                Directive::NoPing => Fate::NotTranslated("bootherd's DHCP server is off".into()),
                Directive::Domain(_) => Fate::NotTranslated("bootherd's DHCP server is off".into()),
                _ => Fate::NotTranslated("bootherd has no equivalent of this line".into()),
            };
            self.set(line, fate);
        }
        for i in 0..self.inputs.tftpd.len() {
            if !self.fates_t[i].0 && self.fates_t[i].1.is_none() {
                self.not_translated(
                    Line::T(i),
                    "bootherd has no equivalent of this tftpd-hpa setting",
                );
            }
        }
    }

    fn finish(self) -> Draft {
        let mut header =
            vec!["bootherd configuration written by `bootherd import` from:".to_owned()];
        header.extend(self.inputs.sources.iter().map(|s| format!("  {s}")));
        header.extend([
            "Each key says which line it comes from. Lines that need no key and lines not"
                .to_owned(),
            "translated are listed at the end; docs/IMPORT.md explains each mapping.".to_owned(),
            "Check it with `bootherd check --config FILE` before serving.".to_owned(),
        ]);
        if !self.attention.is_empty() {
            header.push(String::new());
            header.push("Needs your attention:".to_owned());
            header.extend(self.attention.iter().map(|a| format!("- {a}")));
        }
        let mut no_key = Vec::new();
        let mut not_translated = Vec::new();
        let lines = (0..self.inputs.dnsmasq.len())
            .map(Line::D)
            .chain((0..self.inputs.tftpd.len()).map(Line::T));
        for line in lines {
            let fate = match line {
                Line::D(i) => self.fates_d[i].clone(),
                Line::T(i) => self.fates_t[i].clone(),
            };
            let (origin, text) = self.origin(line);
            let note = |why: String| Note {
                text: text.to_owned(),
                origin: origin.clone(),
                why,
            };
            match fate {
                (_, Some(Fate::NotTranslated(why))) => not_translated.push(note(why)),
                (false, Some(Fate::NoKey(why))) => no_key.push(note(why)),
                (false, _) => {
                    not_translated.push(note("bootherd has no equivalent of this line".into()))
                }
                (true, _) => {}
            }
        }
        Draft {
            header,
            tables: self.tables,
            no_key,
            not_translated,
        }
    }
}

fn depends(tag: &str) -> String {
    format!(
        "whether it applies depends on tag {tag}, set by a rule import cannot evaluate for a kind of \
         client (docs/IMPORT.md)"
    )
}

fn line_index(line: Line) -> usize {
    match line {
        Line::D(i) | Line::T(i) => i,
    }
}

fn host_client(host: &DhcpHost) -> Client {
    Client {
        mac: host.macs.first().copied(),
        host_tags: host.set.clone(),
        known: Some(true),
        ..Client::default()
    }
}

fn service_why(s: &PxeService) -> String {
    match s.csa {
        0 | 6 | 7 | 11 => format!(
            "bootherd sends no PXE menu: {} firmware gets the first entry of its type that applies \
             (see [proxy]), not this one",
            csa_name(s.csa)
        ),
        9 => {
            "BC_EFI is option 93 = 9 (EFI byte code) since dnsmasq 2.76; bootherd answers x64 UEFI \
              on 7 (x86-64_EFI), and has no key for 9"
                .into()
        }
        other => format!(
            "bootherd has no boot file key for client system type {}",
            csa_name(other)
        ),
    }
}

fn range_why(r: &DhcpRange) -> String {
    match r.mode {
        RangeMode::Proxy => "bootherd's proxy is on for every subnet it serves".into(),
        _ => "bootherd leaves these addresses to the LAN's DHCP server".into(),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let prefix = bits.leading_ones();
    (bits.checked_shl(prefix).unwrap_or(0) == 0).then_some(prefix as u8)
}

fn prefix_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{dnsmasq, tftpd_hpa, tftpd_remap};
    use super::*;

    fn draft_of(conf: &str, tftpd: &str, root: Option<&str>) -> Draft {
        let d = dnsmasq::parse_text(conf, "t.conf");
        let t = tftpd_hpa::parse_text(tftpd, "tftpd");
        translate(&Inputs {
            dnsmasq: &d,
            tftpd: &t,
            sources: &[],
            tftp_root: root.map(Path::new),
        })
    }

    fn draft(conf: &str) -> Draft {
        draft_of(conf, "", None)
    }

    /// The value of `table.key` (the first table of that name).
    fn get(d: &Draft, table: &str, name: &str) -> Option<Value> {
        d.tables
            .iter()
            .find(|t| t.name == table)?
            .keys
            .iter()
            .find(|k| k.name == name)
            .map(|k| k.value.clone())
    }

    fn s(v: &str) -> Option<Value> {
        Some(Value::String(v.into()))
    }

    fn note(d: &Draft, text: &str) -> Option<String> {
        d.not_translated
            .iter()
            .find(|n| n.text == text)
            .map(|n| n.why.clone())
    }

    fn no_key(d: &Draft, text: &str) -> Option<String> {
        d.no_key
            .iter()
            .find(|n| n.text == text)
            .map(|n| n.why.clone())
    }

    #[test]
    fn every_line_is_accounted_for_once() {
        let conf =
            "port=0\ndhcp-range=10.0.0.0,proxy\nbogus-option=1\ntftp-root=/a\ntftp-root=/b\n\
                    pxe-service=x86PC,\"x\",pxelinux\ndhcp-boot=tag:nowhere,x.0\nserver=1.1.1.1\n";
        let d = draft(conf);
        let cited: Vec<&Key> = d.tables.iter().flat_map(|t| &t.keys).collect();
        for (n, line) in conf.lines().enumerate() {
            let at = format!("(t.conf:{})", n + 1);
            let in_keys = cited.iter().filter(|k| k.comment.contains(&at)).count();
            let notes = d
                .no_key
                .iter()
                .chain(&d.not_translated)
                .filter(|x| x.origin.line == n + 1)
                .count();
            assert!(
                in_keys > 0 || notes == 1,
                "{line}: dropped: cited {in_keys} times, {notes} notes"
            );
            assert!(notes <= 1, "{line}: {notes} notes");
        }
        assert!(note(&d, "bogus-option=1").is_some());
        assert!(note(&d, "tftp-root=/b").unwrap().contains("one tree"));
        assert!(note(&d, "server=1.1.1.1").unwrap().contains("DNS"));
        assert_eq!(
            note(&d, "dhcp-boot=tag:nowhere,x.0").unwrap(),
            "no kind of client bootherd answers gets this file from dnsmasq"
        );
    }

    #[test]
    fn raspberry_pi_proxy() {
        let d = draft(
            "dhcp-range=10.99.0.255,proxy\nenable-tftp\ntftp-root=/srv/tftp\npxe-service=0,\"Raspberry Pi Boot\"\n",
        );
        assert_eq!(get(&d, "proxy", "enabled"), Some(Value::Boolean(true)));
        assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(true)));
        // The Pi's entry is a local-boot entry for a BIOS PC: nothing for PCs.
        for kind in [
            "bios",
            "uefi_x64",
            "uefi_ia32",
            "uefi_arm64",
            "ipxe_script",
            "http_x64",
            "http_arm64",
        ] {
            assert_eq!(get(&d, "proxy", kind), s(""), "{kind}");
        }
        assert_eq!(get(&d, "tftp", "root"), s("/srv/tftp"));
        assert_eq!(get(&d, "tftp", "enabled"), Some(Value::Boolean(true)));
        assert_eq!(get(&d, "http", "enabled"), Some(Value::Boolean(false)));
        // Without the entry, no Pi answers.
        let d = draft("dhcp-range=10.0.0.0,proxy\npxe-service=x86PC,\"PC\",pxelinux\n");
        assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(false)));
        assert_eq!(get(&d, "proxy", "bios"), s("pxelinux.0"));
        // A Pi entry behind a MAC rule for Pi OUIs still answers Pis.
        let d = draft(
            "dhcp-range=10.0.0.0,proxy\ndhcp-mac=set:pi,dc:a6:32:*:*:*\npxe-service=tag:pi,0,\"Raspberry Pi Boot\"\n",
        );
        assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(true)));
        // Behind a rule import cannot evaluate: not answered, with a note.
        let d = draft(
            "dhcp-range=10.0.0.0,proxy\ntag-if=set:pi,tag:x\npxe-service=tag:pi,0,\"Raspberry Pi Boot\"\n",
        );
        assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(false)));
        assert!(note(&d, "pxe-service=tag:pi,0,\"Raspberry Pi Boot\"")
            .unwrap()
            .contains("depends on tag pi"));
    }

    #[test]
    fn pxe_services_per_client_system_type() {
        let d = draft(
            "dhcp-range=10.0.0.0,proxy\npxe-service=x86PC,\"iPXE\",undionly\npxe-service=x86PC,\"Disk\",0\n\
             pxe-service=X86-64_EFI,\"UEFI\",ipxe.efi\npxe-service=BC_EFI,\"UEFI\",ipxe.efi\n\
             pxe-service=IA32_EFI,\"UEFI32\",ipxe32.efi\npxe-service=ARM64_EFI,\"Arm\",grubaa64.efi\n\
             pxe-service=x86PC,\"Far\",remote,10.0.0.9\npxe-prompt=\"F8\",5\n",
        );
        assert_eq!(get(&d, "proxy", "bios"), s("undionly.0"));
        assert_eq!(get(&d, "proxy", "uefi_x64"), s("ipxe.efi"));
        assert_eq!(get(&d, "proxy", "uefi_ia32"), s("ipxe32.efi"));
        assert_eq!(get(&d, "proxy", "uefi_arm64"), s("grubaa64.efi"));
        assert!(note(&d, "pxe-service=BC_EFI,\"UEFI\",ipxe.efi")
            .unwrap()
            .contains("option 93 = 9"));
        assert!(note(&d, "pxe-service=x86PC,\"Disk\",0")
            .unwrap()
            .contains("no PXE menu"));
        assert!(note(&d, "pxe-prompt=\"F8\",5")
            .unwrap()
            .contains("no PXE menu or prompt"));
        // A first entry on another server cannot be followed.
        let d = draft("dhcp-range=10.0.0.0,proxy\npxe-service=x86PC,\"Far\",remote,10.0.0.9\n");
        assert_eq!(get(&d, "proxy", "bios"), s(""));
        assert!(note(&d, "pxe-service=x86PC,\"Far\",remote,10.0.0.9")
            .unwrap()
            .contains("another boot server"));
    }

    #[test]
    fn dhcp_boot_and_ipxe() {
        let d = draft(
            "dhcp-range=10.0.0.0,proxy\ndhcp-match=set:ipxe,175\ndhcp-match=set:efi64,option:client-arch,7\n\
             dhcp-boot=tag:!ipxe,undionly.kpxe\ndhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi\ndhcp-boot=tag:ipxe,menu.ipxe\n",
        );
        assert_eq!(get(&d, "proxy", "bios"), s("undionly.kpxe"));
        assert_eq!(get(&d, "proxy", "uefi_x64"), s("ipxe.efi"));
        assert_eq!(get(&d, "proxy", "ipxe_script"), s("menu.ipxe"));
        assert_eq!(get(&d, "http", "enabled"), Some(Value::Boolean(true)));
        assert_eq!(
            no_key(&d, "dhcp-match=set:ipxe,175")
                .unwrap()
                .split(':')
                .next(),
            Some("a tag rule")
        );
        // iPXE handed the binary again: no script, with a note.
        let d = draft("dhcp-range=10.0.0.0,proxy\ndhcp-boot=undionly.kpxe\n");
        assert_eq!(get(&d, "proxy", "bios"), s("undionly.kpxe"));
        assert_eq!(get(&d, "proxy", "ipxe_script"), s(""));
        assert_eq!(get(&d, "http", "enabled"), Some(Value::Boolean(false)));
        // A URL for iPXE: its path, served by bootherd.
        let d = draft("dhcp-range=10.0.0.0,proxy\ndhcp-userclass=set:ipxe,iPXE\ndhcp-boot=tag:ipxe,http://10.0.0.5/x/boot.ipxe\n");
        assert_eq!(get(&d, "proxy", "ipxe_script"), s("x/boot.ipxe"));
        // Windows-style names are refused by bootherd.
        let d = draft("dhcp-range=10.0.0.0,proxy\ndhcp-boot=\\Boot\\pxeboot.n12\n");
        assert_eq!(get(&d, "proxy", "bios"), s(""));
        assert!(note(&d, "dhcp-boot=\\Boot\\pxeboot.n12")
            .unwrap()
            .contains("backslashes"));
        // An HTTP boot URL selected for option 93 = 16.
        let d = draft(
            "dhcp-range=10.0.0.0,proxy\ndhcp-match=set:http,option:client-arch,16\n\
             dhcp-boot=tag:http,http://10.0.0.5/efi/ipxe.efi\n",
        );
        assert_eq!(get(&d, "proxy", "http_x64"), s("efi/ipxe.efi"));
        assert_eq!(get(&d, "proxy", "bios"), s(""));
    }

    #[test]
    fn a_full_dhcp_server_for_boards() {
        let d = draft(
            "dhcp-range=10.0.0.100,10.0.0.150,255.255.255.0,2h\ndhcp-option=3,10.0.0.1\n\
             dhcp-option=option:dns-server,10.0.0.1,10.0.0.2\ndhcp-host=02:00:00:00:00:01,set:board,10.0.0.210,b1\n\
             dhcp-host=02:00:00:00:00:02,set:board\ndhcp-host=02:00:00:00:00:09,10.0.0.20,nas\n\
             dhcp-host=02:00:00:00:00:0a,ignore\ndhcp-boot=tag:board,pxelinux.0,,10.0.0.5\n\
             dhcp-option=209,pxelinux.cfg/boards\nno-ping\n",
        );
        assert_eq!(get(&d, "dhcp", "enabled"), Some(Value::Boolean(true)));
        assert_eq!(
            get(&d, "dhcp", "own_macs"),
            Some(Value::Array(vec![
                Value::String("02:00:00:00:00:01".into()),
                Value::String("02:00:00:00:00:02".into())
            ]))
        );
        assert_eq!(get(&d, "dhcp", "ping_check"), Some(Value::Boolean(false)));
        assert_eq!(get(&d, "dhcp.boot", "file"), s("pxelinux.0"));
        assert_eq!(get(&d, "dhcp.boot", "next_server"), s("10.0.0.5"));
        assert_eq!(
            get(&d, "dhcp.boot", "pxelinux_config"),
            s("pxelinux.cfg/boards")
        );
        assert_eq!(get(&d, "dhcp.pool", "subnet"), s("10.0.0.0/24"));
        assert_eq!(
            get(&d, "dhcp.pool", "lease_secs"),
            Some(Value::Integer(7200))
        );
        assert_eq!(get(&d, "dhcp.pool", "router"), s("10.0.0.1"));
        assert_eq!(get(&d, "dhcp.reservation", "mac"), s("02:00:00:00:00:01"));
        assert_eq!(get(&d, "dhcp.reservation", "hostname"), s("b1"));
        assert_eq!(
            d.tables
                .iter()
                .filter(|t| t.name == "dhcp.reservation")
                .count(),
            1
        );
        assert!(note(&d, "dhcp-host=02:00:00:00:00:09,10.0.0.20,nas")
            .unwrap()
            .contains("no boot file"));
        assert!(no_key(&d, "dhcp-host=02:00:00:00:00:0a,ignore").is_some());
        // No proxy: a board-only boot file does not turn it on.
        assert!(get(&d, "proxy", "enabled").is_none());
    }

    #[test]
    fn uboot_vendor_class_is_owned() {
        let d = draft(
            "dhcp-range=10.0.0.100,10.0.0.150\ndhcp-vendorclass=set:uboot,U-Boot\ndhcp-boot=tag:uboot,boot.scr.uimg\n",
        );
        assert_eq!(
            get(&d, "dhcp", "own_vendor_classes"),
            Some(Value::Array(vec![Value::String("*U-Boot*".into())]))
        );
        assert_eq!(get(&d, "dhcp.boot", "file"), s("boot.scr.uimg"));
        let pool = d.tables.iter().find(|t| t.name == "dhcp.pool").unwrap();
        assert!(
            pool.comments.iter().any(|c| c.contains("/24 is assumed")),
            "{:?}",
            pool.comments
        );
        assert!(pool.comments.iter().any(|c| c.contains("router and DNS")));
        // A range nobody bootable uses is the LAN's.
        let d = draft("dhcp-range=10.0.0.100,10.0.0.150\ndhcp-host=02:00:00:00:00:09,10.0.0.20\n");
        assert!(get(&d, "dhcp", "enabled").is_none());
        assert!(note(&d, "dhcp-range=10.0.0.100,10.0.0.150")
            .unwrap()
            .contains("LAN's DHCP server"));
    }

    #[test]
    fn a_host_with_its_own_uefi_binary_is_an_efi_machine() {
        let d = draft(
            "dhcp-range=10.0.0.0,proxy\ndhcp-host=52:54:00:12:34:56,set:grub,lab pc\n\
             dhcp-match=set:efi64,option:client-arch,7\ndhcp-boot=tag:efi64,ipxe.efi\n\
             dhcp-boot=tag:grub,tag:efi64,EFI/grubx64.efi\ndhcp-host=52:54:00:00:00:01,set:other\n",
        );
        assert_eq!(get(&d, "proxy", "uefi_x64"), s("ipxe.efi"));
        assert_eq!(get(&d, "profiles.efi-grubx64", "kind"), s("efi"));
        assert_eq!(
            get(&d, "profiles.efi-grubx64", "kernel"),
            s("EFI/grubx64.efi")
        );
        // `lab pc` is no machine name: the MAC names it.
        assert_eq!(get(&d, "machines", "name"), s("host-525400123456"));
        assert_eq!(get(&d, "machines", "profile"), s("efi-grubx64"));
        assert!(note(&d, "dhcp-host=52:54:00:00:00:01,set:other")
            .unwrap()
            .contains("proxy mode"));
    }

    #[test]
    fn tftp_settings() {
        let d = draft_of(
            "enable-tftp\ntftp-root=/srv/tftp,eth1\ntftp-max=64\ntftp-mtu=1500\ntftp-unique-root=mac\n\
             tftp-secure\ntftp-lowercase\ntftp-no-blocksize\n",
            "",
            Some("/tmp/tree"),
        );
        assert_eq!(get(&d, "tftp", "root"), s("/tmp/tree"));
        let root = d.tables[0].keys.iter().find(|k| k.name == "root").unwrap();
        assert!(
            root.comment
                .contains("--tftp-root (the configuration said /srv/tftp"),
            "{}",
            root.comment
        );
        assert_eq!(get(&d, "tftp", "max_transfers"), Some(Value::Integer(64)));
        assert_eq!(get(&d, "tftp", "max_blksize"), Some(Value::Integer(1468)));
        for line in ["tftp-unique-root=mac", "tftp-secure", "tftp-no-blocksize"] {
            assert!(note(&d, line).is_some(), "{line}");
        }
        assert_eq!(
            get(&d, "tftp.rewrite", "lowercase"),
            Some(Value::Boolean(true))
        );
        // tftpd-hpa alone.
        let d = draft_of(
            "",
            "TFTP_DIRECTORY=\"/srv/tftp /srv/more\"\nTFTP_ADDRESS=\"10.0.0.5:6969\"\n\
             TFTP_OPTIONS=\"-s -B 1200 -T 250000 -c\"\n",
            None,
        );
        assert_eq!(get(&d, "tftp", "root"), s("/srv/tftp"));
        assert_eq!(get(&d, "tftp", "port"), Some(Value::Integer(6969)));
        assert_eq!(get(&d, "tftp", "max_blksize"), Some(Value::Integer(1200)));
        assert_eq!(get(&d, "tftp", "timeout_ms"), Some(Value::Integer(250)));
        assert_eq!(
            get(&d, "net", "listen"),
            Some(Value::Array(vec![Value::String("10.0.0.5".into())]))
        );
        assert!(note(&d, "-c").unwrap().contains("read-only"));
        assert!(no_key(&d, "-s").is_some());
        assert!(d.header.iter().any(|h| h.contains("first directory only")));
        // dnsmasq without enable-tftp next to tftpd-hpa: tftpd-hpa's root.
        let d = draft_of("tftp-root=/other\n", "TFTP_DIRECTORY=/srv/tftp\n", None);
        assert_eq!(get(&d, "tftp", "root"), s("/srv/tftp"));
        assert!(note(&d, "tftp-root=/other").unwrap().contains("one tree"));
    }

    /// A tftpd-hpa defaults file whose `--map-file` holds `map`, spliced in
    /// as the reader in `super` does.
    fn draft_with_map(conf: &str, tftpd: &str, map: &str) -> Draft {
        let d = dnsmasq::parse_text(conf, "t.conf");
        let mut t = tftpd_hpa::parse_text(tftpd, "tftpd");
        let last = t
            .iter()
            .rposition(|e| matches!(e.item, Setting::MapFile(_)))
            .expect("a --map-file");
        let rules = tftpd_remap::parse_text(map, "remap")
            .into_iter()
            .map(|r| r.with(Setting::MapRule(r.item.clone())));
        t.splice(last + 1..last + 1, rules);
        translate(&Inputs {
            dnsmasq: &d,
            tftpd: &t,
            sources: &[],
            tftp_root: None,
        })
    }

    fn rewrite_tables(d: &Draft) -> Vec<Vec<(String, Value, String)>> {
        d.tables
            .iter()
            .filter(|t| t.name == "tftp.rewrite")
            .map(|t| {
                t.keys
                    .iter()
                    .map(|k| (k.name.clone(), k.value.clone(), k.comment.clone()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn rewrites() {
        // dnsmasq's tftp-lowercase, when dnsmasq served TFTP.
        let d = draft("enable-tftp\ntftp-root=/srv/tftp\ntftp-lowercase\n");
        let names: Vec<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["tftp", "tftp.rewrite", "http"]);
        assert_eq!(
            rewrite_tables(&d),
            [[(
                "lowercase".to_string(),
                Value::Boolean(true),
                "tftp-lowercase (t.conf:3): ASCII letters, as dnsmasq lower-cases them in a \
                 UTF-8 or C locale"
                    .to_string()
            )]]
        );
        assert!(note(&d, "tftp-lowercase").is_none());
        let d = draft("tftp-root=/srv/tftp\ntftp-lowercase\n");
        assert!(rewrite_tables(&d).is_empty());
        assert!(note(&d, "tftp-lowercase")
            .unwrap()
            .contains("no enable-tftp"));

        // tftpd-hpa's map file, rule by rule.
        let defaults = "TFTP_DIRECTORY=/srv/tftp\nTFTP_OPTIONS=\"-s -m old.map -m tftpd.remap\"\n";
        let map = "# Windows\nr ^(.*)$ \\L\\1\nrg \\\\ /\nr current/ 6.1/\nrP ^in/ up/\n\
                   a \\.pvt$\nrs ^a b\n";
        let d = draft_with_map("", defaults, map);
        let names: Vec<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tftp",
                "tftp.rewrite",
                "tftp.rewrite",
                "tftp.rewrite",
                "http"
            ]
        );
        let tables = rewrite_tables(&d);
        assert_eq!(tables[0][0].0, "lowercase");
        assert_eq!(
            tables[0][0].2,
            "r ^(.*)$ \\L\\1 (remap:2): ASCII letters, as in.tftpd lower-cases them"
        );
        assert_eq!(
            (tables[1][0].1.clone(), tables[1][1].1.clone()),
            (Value::String(r"\\".into()), Value::String("/".into()))
        );
        assert_eq!(tables[1][0].2, r"rg \\ / (remap:3)");
        assert_eq!(
            tables[2][0].1,
            Value::String("^(?s-u:(.*?))(current/)".into())
        );
        assert!(tables[2][0].2.contains("first match only"), "{tables:?}");
        let first = d.tables.iter().find(|t| t.name == "tftp.rewrite").unwrap();
        assert_eq!(
            first.comments,
            ["The rules of -m tftpd.remap (tftpd:2), in order:"]
        );
        assert!(note(&d, "-m old.map").unwrap().contains("only the last"));
        assert!(no_key(&d, "rP ^in/ up/").unwrap().contains("uploads"));
        assert!(note(&d, r"a \.pvt$").unwrap().contains("(a)"));
        assert!(note(&d, "rs ^a b")
            .unwrap()
            .contains("starts the rules over"));
        let attention = d.header.join("\n");
        assert!(
            attention.contains(r"a \.pvt$ (remap:6): tftpd-hpa refused"),
            "{attention}"
        );
        assert!(
            attention.contains("2 of its 6 rules are not translated"),
            "{attention}"
        );
        // What is written is a configuration bootherd takes, rewrites included.
        let text = super::super::emit::emit(&d);
        let config = crate::config::Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let rewrites = crate::rewrite::Rewrites::new(&config.tftp.rewrites).unwrap();
        assert_eq!(
            &*rewrites.apply(br"Current\Current\VMLINUZ"),
            b"6.1/current/vmlinuz"
        );

        // A file tftpd-hpa refuses, one without rules, and dnsmasq's tree.
        let d = draft_with_map("", defaults, "rx ^a b\n");
        assert!(note(&d, "rx ^a b").unwrap().contains("refuses this line"));
        assert!(d
            .header
            .join(" ")
            .contains("does not start with this map file"));
        assert!(no_key(&d, "-m tftpd.remap")
            .unwrap()
            .contains("none of its rules"));
        let d = draft_with_map("", defaults, "# nothing\n");
        assert!(no_key(&d, "-m tftpd.remap").unwrap().contains("no rules"));
        let mut unread = tftpd_hpa::parse_text(defaults, "tftpd");
        let at = unread
            .iter()
            .position(|e| e.text == "-m tftpd.remap")
            .unwrap();
        unread[at].item = Setting::MapFileUnread("cannot read /x: gone".into());
        let d = translate(&Inputs {
            dnsmasq: &[],
            tftpd: &unread,
            sources: &[],
            tftp_root: None,
        });
        assert_eq!(note(&d, "-m tftpd.remap").unwrap(), "cannot read /x: gone");
        assert!(note(&d, "-m old.map").unwrap().contains("only the last"));
        assert!(d
            .header
            .join(" ")
            .contains("cannot read /x: gone; its rules"));
        let d = draft_with_map("enable-tftp\ntftp-root=/d\n", defaults, "rg \\\\ /\n");
        assert!(rewrite_tables(&d).is_empty());
        for line in ["-m tftpd.remap", r"rg \\ /"] {
            assert!(note(&d, line).unwrap().contains("dnsmasq's tree"), "{line}");
        }
    }

    #[test]
    fn net_settings() {
        let d = draft("interface=eth0,eth1\ninterface=eth0\nlisten-address=10.0.0.1\n");
        assert_eq!(
            get(&d, "net", "interfaces"),
            Some(Value::Array(vec![
                Value::String("eth0".into()),
                Value::String("eth1".into())
            ]))
        );
        assert!(note(&d, "listen-address=10.0.0.1").is_some());
        let d = draft("listen-address=127.0.0.1,10.0.0.1\n");
        assert_eq!(
            get(&d, "net", "listen"),
            Some(Value::Array(vec![Value::String("10.0.0.1".into())]))
        );
        let d = draft("listen-address=127.0.0.1\n");
        assert!(no_key(&d, "listen-address=127.0.0.1")
            .unwrap()
            .contains("loopback"));
    }
}

#[cfg(test)]
mod garbage {
    use super::super::{dnsmasq, emit, tftpd_hpa, tftpd_remap};
    use super::*;

    /// Lines made of dnsmasq's words, tags, addresses and junk, in any order:
    /// whatever they say, the output is a configuration bootherd parses (valid
    /// TOML, known keys), and nothing panics.
    #[test]
    fn any_input_gives_a_parsable_configuration() {
        let names = [
            "dhcp-range",
            "dhcp-host",
            "dhcp-boot",
            "pxe-service",
            "dhcp-match",
            "dhcp-vendorclass",
            "dhcp-userclass",
            "dhcp-mac",
            "dhcp-option",
            "enable-tftp",
            "tftp-root",
            "tftp-max",
            "tftp-mtu",
            "interface",
            "listen-address",
            "domain",
            "no-ping",
            "port",
            "conf-file",
            "pxe-prompt",
            "--tag-if",
            "tftp-lowercase",
            "TFTP_OPTIONS",
            "DNSMASQ_OPTS",
            "x",
        ];
        let fields = [
            "tag:a",
            "tag:!a",
            "set:a",
            "net:#b",
            "proxy",
            "static",
            "10.0.0.1",
            "10.0.0.200",
            "255.255.255.0",
            "0.0.0.0",
            "12h",
            "infinite",
            "02:00:00:00:00:01",
            "b8:27:eb:*:*:*",
            "x86PC",
            "X86-64_EFI",
            "ARM64_EFI",
            "BC_EFI",
            "0",
            "7",
            "175",
            "option:client-arch",
            "\"Raspberry Pi Boot\"",
            "undionly",
            "ipxe.efi",
            "http://h/x.ipxe",
            "\\a\\b",
            "/srv",
            "iPXE",
            "U-Boot",
            "ignore",
            "id:01",
            "\"unclosed",
            "#c",
            "é",
            "\u{7}",
            "name with blank",
            "[::1]",
            "-B",
            "1468",
            "--secure",
            "$(x)",
            "'q'",
            "",
        ];
        let mut seed: u64 = 0x1234_5678;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        for round in 0..300 {
            let mut text = String::new();
            for _ in 0..(1 + next(12)) {
                let name = names[next(names.len())];
                let count = next(6);
                let value: Vec<&str> = (0..count).map(|_| fields[next(fields.len())]).collect();
                let sep = if next(4) == 0 { " = " } else { "=" };
                if count == 0 {
                    text.push_str(&format!("{name}\n"));
                } else {
                    text.push_str(&format!("{name}{sep}{}\n", value.join(",")));
                }
            }
            let d = dnsmasq::parse_text(&text, "g.conf");
            let t = tftpd_hpa::parse_text(&text, "g-tftpd");
            let draft = translate(&Inputs {
                dnsmasq: &d,
                tftpd: &t,
                sources: &["g.conf (dnsmasq)".to_owned()],
                tftp_root: None,
            });
            let out = emit::emit(&draft);
            if let Err(err) = crate::config::Config::parse(&out) {
                panic!("round {round}: {err}\n--- input\n{text}--- output\n{out}");
            }
            // Every line is named.
            for (n, line) in text.lines().enumerate() {
                if dnsmasq::split_line(line).is_some() {
                    assert!(
                        out.contains(&format!("(g.conf:{})", n + 1)),
                        "round {round}: line {} `{line}` dropped:\n{out}",
                        n + 1
                    );
                }
            }
        }
    }

    /// Map files made of operation letters, pattern pieces, replacements and
    /// junk: whatever they say, the output is a configuration bootherd takes,
    /// every rewrite compiles, and every rule is named.
    #[test]
    fn any_map_file_gives_rewrites_bootherd_takes() {
        let ops = [
            "r", "rg", "ri", "rgi", "re", "e", "a", "s", "rP", "rG", "r6", "x", "r~", "~e",
        ];
        let pieces = [
            "a",
            "/",
            ".",
            "*",
            "+",
            "?",
            "{2}",
            "{1,300}",
            "(",
            ")",
            "^",
            "$",
            "|",
            "[^/]",
            "[a-",
            "]",
            r"\\",
            r"\.",
            r"\1",
            r"\w",
            "é",
            "[[:alpha:]]",
            "{",
        ];
        let replacements = [
            "", "x", r"\0", r"\1", r"\9", r"\L", r"\i", "$", "${1}", r"\ ", "#c",
        ];
        let mut seed: u64 = 0x8765_4321;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        let defaults = tftpd_hpa::parse_text("TFTP_OPTIONS=\"-s -m g.remap\"\n", "g-tftpd");
        for round in 0..300 {
            let mut map = String::new();
            for _ in 0..(1 + next(8)) {
                let pattern: String = (0..1 + next(5))
                    .map(|_| pieces[next(pieces.len())])
                    .collect();
                let replacement: String = (0..next(3))
                    .map(|_| replacements[next(replacements.len())])
                    .collect();
                let sep = if next(3) == 0 { "\t" } else { " " };
                map.push_str(&format!(
                    "{}{sep}{pattern}{sep}{replacement}\n",
                    ops[next(ops.len())]
                ));
                if next(5) == 0 {
                    map.push_str("# a comment\n\n");
                }
            }
            let mut t = defaults.clone();
            t.extend(
                tftpd_remap::parse_text(&map, "g.remap")
                    .into_iter()
                    .map(|r| r.with(Setting::MapRule(r.item.clone()))),
            );
            let draft = translate(&Inputs {
                dnsmasq: &[],
                tftpd: &t,
                sources: &[],
                tftp_root: None,
            });
            let out = emit::emit(&draft);
            let config = crate::config::Config::parse(&out).unwrap_or_else(|err| {
                panic!("round {round}: {err}\n--- map\n{map}--- output\n{out}")
            });
            if let Err(err) = crate::rewrite::Rewrites::new(&config.tftp.rewrites) {
                panic!("round {round}: {err:?}\n--- map\n{map}--- output\n{out}");
            }
            for (n, line) in map.lines().enumerate() {
                if !line.is_empty() && !line.starts_with('#') {
                    assert!(
                        out.contains(&format!("(g.remap:{})", n + 1)),
                        "round {round}: line {} `{line}` dropped:\n{out}",
                        n + 1
                    );
                }
            }
        }
    }
}
