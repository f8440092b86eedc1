//! Every other dnsmasq line: DNS options, options bootherd needs no key for,
//! and the ones it has no equivalent of, each with why.

use super::*;

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

impl Translator<'_> {
    pub(super) fn rest(&mut self) {
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
}
