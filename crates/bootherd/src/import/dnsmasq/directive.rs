//! What a dnsmasq line says: [`Directive`] and the parts of each option.

use super::*;

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
