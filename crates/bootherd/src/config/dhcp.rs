//! `[dhcp]`: the DHCP server for the machines bootherd owns.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Deserialize;

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
