//! The configuration file: serde types that refuse unknown keys, then value checks.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use bootherd_proto::tftp::transfer::{MAX_BLKSIZE, MIN_BLKSIZE};
use serde::Deserialize;

use crate::inventory::{Inventory, InventoryErrors, MachineConfig, ProfileConfig};
use crate::render::Renderer;

/// The whole configuration file. Every section is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How the daemon runs: the user it drops to, how it stops.
    pub service: ServiceConfig,
    /// Which interfaces and addresses the services listen on.
    pub net: NetConfig,
    /// The TFTP service.
    pub tftp: TftpConfig,
    /// The HTTP service.
    pub http: HttpConfig,
    /// proxyDHCP: boot answers for PXE firmware and Raspberry Pis, never addresses.
    pub proxy: ProxyConfig,
    /// The DHCP server for machines bootherd owns (U-Boot boards).
    pub dhcp: DhcpConfig,
    /// The admin listener: `/metrics` and the JSON API.
    pub admin: AdminConfig,
    /// Directory of templates replacing the built-in ones (`cmdline.txt.j2`, ...).
    pub templates: Option<PathBuf>,
    /// What to boot, by name.
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// The fleet: one entry per machine.
    pub machines: Vec<MachineConfig>,
}

/// The admin port when `[admin] listen` is not set.
pub const DEFAULT_ADMIN_PORT: u16 = 9069;

/// The admin listener: Prometheus metrics and the read-only JSON API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve it.
    pub enabled: bool,
    /// Where; default `127.0.0.1:9069`. When left unset and the port is taken,
    /// bootherd warns and runs without it; a `listen` set here must bind.
    pub listen: Option<std::net::SocketAddr>,
    /// The bearer token every request must carry (`Authorization: Bearer ...`);
    /// required when `listen` is not a loopback address.
    pub token: Option<String>,
    /// A file holding the token (surrounding whitespace ignored), instead of `token`.
    pub token_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: None,
            token: None,
            token_file: None,
        }
    }
}

impl AdminConfig {
    /// The address to listen on.
    pub fn address(&self) -> std::net::SocketAddr {
        self.listen.unwrap_or(std::net::SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            DEFAULT_ADMIN_PORT,
        )))
    }
}

/// How the daemon runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Started as root, switch to this user once every socket is bound and the
    /// lease database is open, keeping only CAP_NET_BIND_SERVICE and CAP_NET_RAW
    /// (see `privilege.rs`). Unset: keep the identity bootherd was started with.
    pub user: Option<String>,
    /// The group to switch to with `user`; default: the user's primary group.
    pub group: Option<String>,
    /// How long work in flight may go on after SIGTERM/SIGINT before it is
    /// cancelled, in milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            user: None,
            group: None,
            shutdown_grace_ms: 5000,
        }
    }
}

/// Whether `lease_db` is a PostgreSQL URL rather than an SQLite file.
pub fn is_lease_db_url(lease_db: &std::path::Path) -> bool {
    lease_db
        .to_str()
        .is_some_and(crate::leases::is_postgres_url)
}

/// DHCP server settings. It answers only the clients it owns: listed MACs and
/// vendor classes matching a pattern; everyone else is left to the LAN's server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DhcpConfig {
    /// Run the DHCP server (UDP 67, shared with proxyDHCP).
    pub enabled: bool,
    /// SQLite lease database (relative paths are relative to the config file),
    /// or a `postgres://` URL: a PostgreSQL database that several servers share.
    pub lease_db: PathBuf,
    /// This server's name in a shared lease database's rows; default: the host
    /// name. Servers sharing one database need distinct names.
    pub server_name: Option<String>,
    /// MACs bootherd owns, `aa:bb:cc:dd:ee:ff`.
    pub own_macs: Vec<String>,
    /// Vendor classes (option 60) bootherd owns; `*` matches any run of characters.
    pub own_vendor_classes: Vec<String>,
    /// How long an offer holds its address, in seconds.
    pub offer_hold_secs: u64,
    /// How long a declined or conflicting address stays out of use, in seconds.
    pub decline_hold_secs: u64,
    /// Check a new address with ICMP echo (and an ARP probe on the client's link)
    /// before offering it; off, a new client is offered an address at once.
    pub ping_check: bool,
    /// How long that check waits for an answer, in milliseconds.
    pub ping_timeout_ms: u64,
    /// Boot fields in offers and acks.
    pub boot: DhcpBootConfig,
    /// Address pools, one per subnet.
    #[serde(rename = "pool")]
    pub pools: Vec<PoolConfig>,
    /// Fixed addresses.
    #[serde(rename = "reservation")]
    pub reservations: Vec<ReservationConfig>,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            enabled: false,
            lease_db: PathBuf::from("leases.sqlite"),
            server_name: None,
            own_macs: Vec::new(),
            own_vendor_classes: Vec::new(),
            offer_hold_secs: 60,
            decline_hold_secs: 600,
            ping_check: true,
            ping_timeout_ms: 300,
            boot: DhcpBootConfig::default(),
            pools: Vec::new(),
            reservations: Vec::new(),
        }
    }
}

/// Boot fields the DHCP server hands out (U-Boot's `pxe get` reads them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DhcpBootConfig {
    /// `siaddr`, the TFTP server; default: the answering address.
    pub next_server: Option<Ipv4Addr>,
    /// The `file` field and option 67.
    pub file: Option<String>,
    /// Option 66, TFTP server name.
    pub tftp_server_name: Option<String>,
    /// Option 209, the pxelinux configuration file.
    pub pxelinux_config: Option<String>,
}

/// One pool of addresses on one subnet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// `10.0.0.0/24`.
    pub subnet: String,
    /// First and last address handed out, inclusive.
    pub range: [Ipv4Addr; 2],
    /// Option 3.
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    /// Lease time in seconds.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// Option 15.
    #[serde(default)]
    pub domain: Option<String>,
}

fn default_lease_secs() -> u64 {
    3600
}

/// A fixed address for one MAC.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationConfig {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The address.
    pub ip: Ipv4Addr,
    /// Option 12.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// Where to listen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Interface names to serve on; empty means every interface with an IPv4 address.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Addresses to serve on; empty means every address of the chosen interfaces.
    #[serde(default)]
    pub listen: Vec<Ipv4Addr>,
}

/// TFTP service settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TftpConfig {
    /// Serve TFTP at all.
    pub enabled: bool,
    /// The directory served.
    pub root: PathBuf,
    /// UDP port (69).
    pub port: u16,
    /// Transfers in flight at once; requests past it get a TFTP error.
    pub max_transfers: usize,
    /// Largest block size granted (RFC 2348); also clamped to the path MTU unless
    /// `allow_fragmentation` is set.
    pub max_blksize: u16,
    /// Grant block sizes above the path MTU, sending IP-fragmented datagrams (as
    /// tftpd-hpa does). Faster for clients that ask for 64 KiB blocks on a clean LAN,
    /// but one lost fragment loses the whole block, and some firmware cannot
    /// reassemble: off by default.
    pub allow_fragmentation: bool,
    /// Largest window granted (RFC 7440).
    pub max_windowsize: u16,
    /// Retransmission base when the client does not ask for a timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Consecutive retransmissions before a transfer is dropped.
    pub retries: u32,
    /// Transfers in flight at once from one client address; past it the client
    /// gets a TFTP error, so one host cannot take every slot.
    pub max_transfers_per_client: usize,
    /// Largest `timeout` option (RFC 2349) accepted, in seconds; a larger one is
    /// declined (left out of the OACK) and `timeout_ms` applies.
    pub max_client_timeout_secs: u8,
    /// How long a transfer may make no progress (no ACK moving it forward) before
    /// it ends with a TFTP error, whatever timeout was negotiated, in milliseconds.
    pub stall_timeout_ms: u64,
    /// Request-name rewrites, applied in order before the name is checked and
    /// looked up (`rewrite.rs`); none by default.
    #[serde(rename = "rewrite")]
    pub rewrites: Vec<RewriteConfig>,
}

/// One `[[tftp.rewrite]]` rule: either `from` (a regular expression) and `to` (its
/// replacement, `$1` for groups), or `lowercase = true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// Pattern whose every match is replaced.
    pub from: Option<String>,
    /// Replacement for `from`.
    pub to: Option<String>,
    /// Lower-case the whole name (ASCII).
    #[serde(default)]
    pub lowercase: bool,
}

impl Default for TftpConfig {
    fn default() -> Self {
        TftpConfig {
            enabled: true,
            root: PathBuf::from("./tftp-root"),
            port: 69,
            max_transfers: 256,
            max_blksize: MAX_BLKSIZE,
            allow_fragmentation: false,
            max_windowsize: 64,
            timeout_ms: 1000,
            retries: 5,
            max_transfers_per_client: 16,
            max_client_timeout_secs: 10,
            stall_timeout_ms: 30_000,
            rewrites: Vec::new(),
        }
    }
}

/// HTTP service settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTP at all.
    pub enabled: bool,
    /// TCP port (80).
    pub port: u16,
    /// The directory served; defaults to the TFTP root.
    pub root: Option<PathBuf>,
    /// Connections open at once from all clients; past it a client gets a 503.
    pub max_connections: usize,
    /// Connections open at once from one client address; past it that client
    /// gets a 503.
    pub max_connections_per_client: usize,
    /// Time a client has to send a request line and headers, from connecting or
    /// from the end of the previous response, in milliseconds.
    pub header_timeout_ms: u64,
    /// Time a connection may move no byte either way before it is closed, in
    /// milliseconds.
    pub idle_timeout_ms: u64,
    /// Largest request line plus headers, in bytes; past it the client gets a 431.
    pub max_request_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            port: 80,
            root: None,
            max_connections: 512,
            max_connections_per_client: 32,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            max_request_bytes: 16_384,
        }
    }
}

impl HttpConfig {
    /// Refuses limits that cannot work: the key and why.
    pub fn check_limits(&self) -> Result<(), (&'static str, String)> {
        let outside =
            |key: &'static str, value: u64, range: std::ops::RangeInclusive<u64>| match range
                .contains(&value)
            {
                true => Ok(()),
                false => Err((
                    key,
                    format!("{value} is outside {}..={}", range.start(), range.end()),
                )),
            };
        let max = self.max_connections as u64;
        outside("http.max_connections", max, 1..=MAX_HTTP_CONNECTIONS)?;
        let per_client = self.max_connections_per_client as u64;
        outside("http.max_connections_per_client", per_client, 1..=max).map_err(|(key, m)| {
            match per_client > max {
                true => (key, format!("{m}: it cannot exceed http.max_connections")),
                false => (key, m),
            }
        })?;
        outside(
            "http.header_timeout_ms",
            self.header_timeout_ms,
            100..=600_000,
        )?;
        outside(
            "http.idle_timeout_ms",
            self.idle_timeout_ms,
            1000..=3_600_000,
        )?;
        outside(
            "http.max_request_bytes",
            self.max_request_bytes as u64,
            1024..=MAX_HTTP_REQUEST_BYTES,
        )
    }
}

/// The most HTTP connections the configuration may allow: each holds a file
/// descriptor and buffers.
const MAX_HTTP_CONNECTIONS: u64 = 65_536;

/// The largest request head the configuration may allow; hyper's read buffer
/// (about 400 KiB) must hold it.
const MAX_HTTP_REQUEST_BYTES: u64 = 262_144;

/// proxyDHCP settings: which firmware gets which boot file. An empty string turns
/// a client kind off; such clients get no answer and one log line saying why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Run proxyDHCP on UDP 67 and 4011. Off unless asked for (`--proxy`): answering
    /// DHCP is something to choose, never a surprise on someone's LAN.
    pub enabled: bool,
    /// Answer Raspberry Pi boot ROMs and EEPROM bootloaders.
    pub rpi: bool,
    /// Delay before answering a Raspberry Pi 3 boot ROM, in milliseconds. The ROM acts
    /// on a reply only after a later packet or timer; Raspberry Pi staff advise 1-2 s.
    pub rpi_reply_delay_ms: u64,
    /// BIOS PXE boot file, fetched by TFTP.
    pub bios: String,
    /// UEFI x64 PXE boot file (option 93 = 7), fetched by TFTP.
    pub uefi_x64: String,
    /// UEFI IA32 PXE boot file (option 93 = 6).
    pub uefi_ia32: String,
    /// UEFI ARM64 PXE boot file (option 93 = 11).
    pub uefi_arm64: String,
    /// iPXE script path, handed to iPXE as an HTTP URL on this server.
    pub ipxe_script: String,
    /// UEFI HTTP boot file for x64 (option 93 = 16), as a path on this server's HTTP.
    pub http_x64: String,
    /// UEFI HTTP boot file for ARM64 (option 93 = 19).
    pub http_arm64: String,
    /// UDP port for DHCP requests (67). For tests; real firmware only uses 67.
    pub port: u16,
    /// UDP port for PXE boot-server requests (4011).
    pub pxe_port: u16,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            enabled: false,
            rpi: true,
            rpi_reply_delay_ms: 1000,
            bios: "undionly.kpxe".into(),
            uefi_x64: "ipxe.efi".into(),
            uefi_ia32: String::new(),
            uefi_arm64: String::new(),
            ipxe_script: "boot.ipxe".into(),
            http_x64: "ipxe.efi".into(),
            http_arm64: String::new(),
            port: 67,
            pxe_port: 4011,
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the line and column.
        message: String,
    },
    /// Machines and profiles that do not fit together (every problem, one per line).
    #[error("{}", inventory_lines(path, errors, lines))]
    Inventory {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        errors: InventoryErrors,
        /// The line of each error in the file, when known (empty: none known).
        lines: Vec<Option<usize>>,
    },
    /// A template in the override directory that does not load.
    #[error("{path}: templates: {message}")]
    Templates {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("{}: {key}: {message}", at_line(path, *line))]
    Invalid {
        /// The file, or `<command line>`.
        path: PathBuf,
        /// The key's line in the file, when known.
        line: Option<usize>,
        /// The key, such as `tftp.max_blksize` or `dhcp.pool[0].subnet`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// `path:line`, or `path` when the line is not known.
fn at_line(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

fn inventory_lines(path: &Path, errors: &InventoryErrors, lines: &[Option<usize>]) -> String {
    let mut out = format!("{}: inventory:", path.display());
    for (i, err) in errors.0.iter().enumerate() {
        let line = lines.get(i).copied().flatten();
        out.push_str(&format!("\n{}: {err}", at_line(path, line)));
    }
    out
}

impl Config {
    /// The configuration used when no file is given.
    pub fn defaults() -> Self {
        Config::default()
    }

    /// Reads and checks a file. Relative paths in it are taken relative to the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.tftp.root = base.join(&config.tftp.root);
        if let Some(root) = &mut config.http.root {
            *root = base.join(&*root);
        }
        if !is_lease_db_url(&config.dhcp.lease_db) {
            config.dhcp.lease_db = base.join(&config.dhcp.lease_db);
        }
        if let Some(file) = &mut config.admin.token_file {
            *file = base.join(&*file);
        }
        if let Some(dir) = &mut config.templates {
            *dir = base.join(&*dir);
        }
        for profile in config.profiles.values_mut() {
            if let Some(dir) = &mut profile.dir {
                *dir = base.join(&*dir);
            }
        }
        for machine in &mut config.machines {
            if let Some(dir) = &mut machine.dir {
                *dir = base.join(&*dir);
            }
        }
        Ok(config)
    }

    /// Parses TOML text; the error is toml's message with line and column.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())
    }

    /// Checks values that parse but cannot work, including that the roots exist.
    /// `origin` names where the values came from, for the message.
    pub fn validate(&self, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            line: None,
            key: key.to_owned(),
            message,
        };
        let t = &self.tftp;
        if !(MIN_BLKSIZE..=MAX_BLKSIZE).contains(&t.max_blksize) {
            return Err(invalid(
                "tftp.max_blksize",
                format!(
                    "{} is outside {MIN_BLKSIZE}..={MAX_BLKSIZE} (RFC 2348)",
                    t.max_blksize
                ),
            ));
        }
        if t.max_windowsize == 0 {
            return Err(invalid("tftp.max_windowsize", "must be at least 1".into()));
        }
        if t.max_transfers == 0 {
            return Err(invalid("tftp.max_transfers", "must be at least 1".into()));
        }
        if !(10..=255_000).contains(&t.timeout_ms) {
            return Err(invalid(
                "tftp.timeout_ms",
                format!("{} is outside 10..=255000", t.timeout_ms),
            ));
        }
        if t.retries == 0 || t.retries > 100 {
            return Err(invalid(
                "tftp.retries",
                format!("{} is outside 1..=100", t.retries),
            ));
        }
        if t.max_transfers_per_client == 0 {
            return Err(invalid(
                "tftp.max_transfers_per_client",
                "must be at least 1".into(),
            ));
        }
        if t.max_client_timeout_secs == 0 {
            return Err(invalid(
                "tftp.max_client_timeout_secs",
                "must be at least 1 (RFC 2349 timeouts are 1..=255 s)".into(),
            ));
        }
        crate::rewrite::Rewrites::new(&t.rewrites)
            .map_err(|(key, message)| invalid(&key, message))?;
        if !(1_000..=3_600_000).contains(&t.stall_timeout_ms) {
            return Err(invalid(
                "tftp.stall_timeout_ms",
                format!("{} is outside 1000..=3600000", t.stall_timeout_ms),
            ));
        }
        if self.service.shutdown_grace_ms > 600_000 {
            return Err(invalid(
                "service.shutdown_grace_ms",
                format!(
                    "{} ms is more than 600000 (10 minutes)",
                    self.service.shutdown_grace_ms
                ),
            ));
        }
        crate::privilege::Target::resolve(&self.service)
            .map_err(|(key, message)| invalid(key, message))?;
        if self.proxy.rpi_reply_delay_ms > 10_000 {
            return Err(invalid(
                "proxy.rpi_reply_delay_ms",
                format!(
                    "{} ms is longer than the 10 s a Pi waits",
                    self.proxy.rpi_reply_delay_ms
                ),
            ));
        }
        let admin = &self.admin;
        if admin.token.is_some() && admin.token_file.is_some() {
            return Err(invalid(
                "admin.token_file",
                "set admin.token or admin.token_file, not both".into(),
            ));
        }
        if admin.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(invalid("admin.token", "must not be empty".into()));
        }
        if admin.enabled
            && !admin.address().ip().is_loopback()
            && admin.token.is_none()
            && admin.token_file.is_none()
        {
            return Err(invalid(
                "admin.listen",
                format!(
                    "{} is not a loopback address: set admin.token or admin.token_file",
                    admin.address()
                ),
            ));
        }
        self.http
            .check_limits()
            .map_err(|(key, message)| invalid(key, message))?;
        self.inventory(origin)?;
        self.renderer(origin)?;
        if t.enabled {
            check_dir("tftp.root", &t.root).map_err(|m| invalid("tftp.root", m))?;
        }
        if self.http.enabled {
            check_dir("http.root", self.http_root()).map_err(|m| invalid("http.root", m))?;
        }
        Ok(())
    }

    /// Builds the checked inventory of machines and profiles.
    pub fn inventory(&self, origin: &Path) -> Result<Inventory, ConfigError> {
        Inventory::from_parts(&self.profiles, &self.machines).map_err(|errors| {
            ConfigError::Inventory {
                path: origin.to_path_buf(),
                errors,
                lines: Vec::new(),
            }
        })
    }

    /// Loads the templates, built in or overridden.
    pub fn renderer(&self, origin: &Path) -> Result<Renderer, ConfigError> {
        Renderer::new(self.templates.as_deref()).map_err(|e| ConfigError::Templates {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The directory HTTP serves: its own root, else the TFTP root.
    pub fn http_root(&self) -> &Path {
        self.http.root.as_deref().unwrap_or(&self.tftp.root)
    }
}

fn check_dir(key: &str, dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("{} is not a directory", dir.display())),
        Err(err) => Err(format!("{key} {}: {err}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::defaults());
    }

    #[test]
    fn full_file_parses() {
        let c = Config::parse(
            r#"
[net]
interfaces = ["eth0"]
listen = ["10.0.0.1"]
[tftp]
root = "/srv/tftp"
port = 6969
max_transfers = 64
max_blksize = 1468
max_windowsize = 16
timeout_ms = 500
retries = 3
[http]
port = 8080
root = "/srv/http"
"#,
        )
        .unwrap();
        assert_eq!(c.net.interfaces, ["eth0"]);
        assert_eq!(c.net.listen, [Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(c.tftp.port, 6969);
        assert_eq!(c.tftp.max_blksize, 1468);
        assert_eq!(c.http.root.as_deref(), Some(Path::new("/srv/http")));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = Config::parse("[tftp]\nport = 69\nrot = \"/x\"\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("rot"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let err = Config::parse("[tftp]\nport = \"sixty-nine\"\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn service_section_parses_and_is_checked() {
        let c = Config::parse("[service]\nuser = \"nobody\"\ngroup = \"nogroup\"\n").unwrap();
        assert_eq!(c.service.user.as_deref(), Some("nobody"));
        assert_eq!(c.service.group.as_deref(), Some("nogroup"));
        assert_eq!(c.service.shutdown_grace_ms, 5000);
        let mut c = Config::defaults();
        c.tftp.root = std::env::temp_dir();
        c.service.shutdown_grace_ms = 600_001;
        let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("service.shutdown_grace_ms"), "{err}");
        c.service.shutdown_grace_ms = 600_000;
        c.service.user = Some("no-such-user-bootherd".into());
        let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(
            err.starts_with("x.toml: service.user: no user named"),
            "{err}"
        );
        c.service.user = None;
        c.validate(Path::new("x.toml")).unwrap();
    }

    #[test]
    fn validate_catches_bad_values() {
        let mut c = Config::defaults();
        c.tftp.root = std::env::temp_dir();
        c.tftp.max_blksize = 4;
        let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("tftp.max_blksize"), "{err}");
        c.tftp.max_blksize = 1468;
        c.tftp.root = PathBuf::from("/nonexistent/bootherd");
        let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("tftp.root"), "{err}");
    }

    #[test]
    fn http_limits_parse_and_bad_ones_are_refused() {
        let c = Config::parse(
            "[http]\nmax_connections = 100\nmax_connections_per_client = 4\n\
             header_timeout_ms = 2000\nidle_timeout_ms = 5000\nmax_request_bytes = 8192\n",
        )
        .unwrap();
        assert_eq!(
            (
                c.http.max_connections,
                c.http.max_connections_per_client,
                c.http.header_timeout_ms,
                c.http.idle_timeout_ms,
                c.http.max_request_bytes
            ),
            (100, 4, 2000, 5000, 8192)
        );
        assert_eq!(c.http.check_limits(), Ok(()));
        assert_eq!(HttpConfig::default().check_limits(), Ok(()));
        let refused = |edit: fn(&mut HttpConfig), key: &str| {
            let mut c = Config::defaults();
            c.tftp.root = std::env::temp_dir();
            edit(&mut c.http);
            let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
            assert!(err.starts_with(&format!("x.toml: {key}: ")), "{err}");
            err
        };
        refused(|h| h.max_connections = 0, "http.max_connections");
        refused(|h| h.max_connections = 10_000_000, "http.max_connections");
        refused(
            |h| h.max_connections_per_client = 0,
            "http.max_connections_per_client",
        );
        let err = refused(
            |h| h.max_connections_per_client = 513,
            "http.max_connections_per_client",
        );
        assert!(err.contains("cannot exceed http.max_connections"), "{err}");
        refused(|h| h.header_timeout_ms = 0, "http.header_timeout_ms");
        refused(
            |h| h.header_timeout_ms = 86_400_000,
            "http.header_timeout_ms",
        );
        refused(|h| h.idle_timeout_ms = 0, "http.idle_timeout_ms");
        refused(|h| h.max_request_bytes = 10, "http.max_request_bytes");
        refused(|h| h.max_request_bytes = 1 << 30, "http.max_request_bytes");
    }
}
