//! What the DHCP server hands out and to whom: pools, reservations,
//! ownership and boot options, checked once by [`ServerConfig::check`].

use std::fmt;
use std::net::Ipv4Addr;

use crate::client::format_mac;
use crate::wire::dhcp::DhcpPacket;

/// An IPv4 subnet, `network/prefix_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// Length of the prefix, 0 to 32.
    pub prefix_len: u8,
}

impl Subnet {
    /// The subnet `network/prefix_len`.
    pub const fn new(network: Ipv4Addr, prefix_len: u8) -> Subnet {
        Subnet {
            network,
            prefix_len,
        }
    }

    /// The subnet mask, as sent in option 1.
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// Whether `ip` lies in this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask_bits() == u32::from(self.network) & self.mask_bits()
    }

    /// The directed broadcast address (all host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask_bits())
    }

    /// Whether `ip` is the network or the broadcast address of this subnet,
    /// neither of which is ever given to a host.
    pub fn is_network_or_broadcast(&self, ip: Ipv4Addr) -> bool {
        self.prefix_len < 31 && (ip == self.network || ip == self.broadcast())
    }

    fn mask_bits(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            len => u32::MAX << (32 - u32::from(len.min(32))),
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// Addresses handed out on one subnet, and the parameters that go with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The subnet: option 1, and how the pool is chosen (by `giaddr`, else by
    /// the address of the receiving interface).
    pub subnet: Subnet,
    /// First address of the dynamic range.
    pub first: Ipv4Addr,
    /// Last address of the dynamic range, inclusive.
    pub last: Ipv4Addr,
    /// Option 3, when set.
    pub router: Option<Ipv4Addr>,
    /// Option 6, when not empty.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 51, in seconds; T1 (58) is half of it, T2 (59) seven eighths
    /// (RFC 2131 section 4.4.5).
    pub lease_secs: u32,
    /// Option 15, when set.
    pub domain_name: Option<String>,
}

impl Pool {
    /// Whether `ip` lies in the dynamic range.
    pub fn in_range(&self, ip: Ipv4Addr) -> bool {
        self.first <= ip && ip <= self.last
    }
}

/// A fixed address for one MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The client's Ethernet address.
    pub mac: [u8; 6],
    /// The address it always gets; inside a pool's subnet, not necessarily
    /// inside its range.
    pub ip: Ipv4Addr,
    /// Option 12, when set.
    pub hostname: Option<String>,
    /// This machine's own boot file, in place of [`ServerConfig::boot`]'s
    /// `file` and option 67 (a Secure Boot machine gets its shim).
    pub boot: Option<ReservedBoot>,
}

/// A reserved machine's own boot file: a TFTP path for PXE clients and,
/// for UEFI HTTP boot clients (option 60 starting `HTTPClient`), a path on
/// the server's HTTP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedBoot {
    /// The `file` field and option 67 for a PXE client.
    pub tftp_file: String,
    /// For an HTTP boot client: the HTTP port and the path (no leading
    /// slash); the reply's `file` is then
    /// `http://<server identifier>[:port]/<path>` and it carries option 60
    /// `HTTPClient` (UEFI 2.10 section 24.7.2). `None`: HTTP boot clients get
    /// `tftp_file` like the others.
    pub http: Option<(u16, String)>,
}

/// The clients this server answers. A MAC with a [`Reservation`] is owned
/// too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// Owned Ethernet addresses.
    pub macs: Vec<[u8; 6]>,
    /// Patterns matched against the whole of option 60, case-sensitive;
    /// `*` stands for any run of characters, including none
    /// (`U-Boot*` matches `U-Boot.armv8`).
    pub vendor_classes: Vec<String>,
}

/// Where the booting client finds its files; sent in every OFFER and ACK
/// (and INFORM ACK).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// `siaddr`, U-Boot's `serverip`; the server identifier when unset.
    pub siaddr: Option<Ipv4Addr>,
    /// The `file` header field (at most 127 bytes).
    pub file: Option<String>,
    /// Option 66.
    pub tftp_server_name: Option<String>,
    /// Option 67.
    pub bootfile: Option<String>,
    /// Option 209, the PXELINUX configuration file (RFC 5071); when U-Boot
    /// receives it `pxe get` fetches only that file (PROTOCOLS.md section 3).
    pub pxelinux_config: Option<String>,
}

/// Everything the DHCP server core needs to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// One pool per subnet.
    pub pools: Vec<Pool>,
    /// Fixed addresses by MAC.
    pub reservations: Vec<Reservation>,
    /// Who is answered at all.
    pub owned: Ownership,
    /// Boot server and file names.
    pub boot: BootOptions,
    /// How long an OFFER keeps its address for the client, in seconds.
    pub offer_hold_secs: u64,
    /// How long an address declined by a client, or found in use by a
    /// probe, stays out of the pool, in seconds.
    pub decline_hold_secs: u64,
    /// Whether an address is probed ([`crate::dhcp::Action::Probe`]) before
    /// it is first offered to a client. Off when the shell has no way to
    /// check (no ICMP): the address is then offered at once.
    pub probe_new_addresses: bool,
}

/// What [`ServerConfig::check`] refuses.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The prefix is longer than 30 bits (no room for hosts) or the network
    /// address has host bits set.
    #[error("pool subnet {0} is not a network address with a prefix of at most 30 bits")]
    BadSubnet(Subnet),
    /// Two pools on overlapping subnets: the pool for a request would be
    /// ambiguous.
    #[error("pool subnets {0} and {1} overlap")]
    OverlappingPools(Subnet, Subnet),
    /// The range is empty, leaves the subnet, or includes the network or
    /// broadcast address.
    #[error("pool {subnet}: range {first}..={last} must lie inside the subnet, first <= last, without the network and broadcast addresses")]
    BadRange {
        /// The pool's subnet.
        subnet: Subnet,
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
    },
    /// A lease time of zero.
    #[error("pool {0}: the lease time must be at least one second")]
    ZeroLease(Subnet),
    /// A reservation outside every pool's subnet: there would be no mask or
    /// router to send with it.
    #[error("reservation {ip} for {mac} lies in no pool's subnet")]
    ReservationOutsidePools {
        /// The reserved address.
        ip: Ipv4Addr,
        /// `aa:bb:cc:dd:ee:ff`.
        mac: String,
    },
    /// A reservation of a subnet's network or broadcast address.
    #[error("reservation {ip} for {mac} is a network or broadcast address")]
    ReservationNotHost {
        /// The reserved address.
        ip: Ipv4Addr,
        /// `aa:bb:cc:dd:ee:ff`.
        mac: String,
    },
    /// Two reservations for one MAC.
    #[error("two reservations for {0}")]
    DuplicateReservationMac(String),
    /// Two reservations of one address.
    #[error("address {0} is reserved twice")]
    DuplicateReservationIp(Ipv4Addr),
    /// An empty vendor-class pattern, which would match nothing useful.
    #[error("empty vendor-class pattern")]
    EmptyPattern,
    /// The `file` name does not fit the 128-byte field with its NUL, or
    /// contains a NUL.
    #[error("boot file {0:?} does not fit the 127 bytes of the file field, or contains a NUL")]
    BadFile(String),
    /// An option value of more than 255 bytes or none.
    #[error("{what} {value:?} must be 1 to 255 bytes long")]
    BadOptionLength {
        /// Which option.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// An offer hold of zero seconds would expire every offer at once.
    #[error("the offer hold must be at least one second")]
    ZeroOfferHold,
}

/// Which value of a [`ServerConfig`] a [`ConfigError`] is about, by position, so
/// the shell can name the key it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `pools[i].subnet`.
    PoolSubnet(usize),
    /// `pools[i].first` and `last`.
    PoolRange(usize),
    /// `pools[i].lease_secs`.
    PoolLease(usize),
    /// `pools[i].domain_name`.
    PoolDomain(usize),
    /// `reservations[i].ip`.
    ReservationIp(usize),
    /// `reservations[i].mac`.
    ReservationMac(usize),
    /// `reservations[i].hostname`.
    ReservationHostname(usize),
    /// `reservations[i].boot`.
    ReservationBoot(usize),
    /// `owned.vendor_classes[i]`.
    VendorClass(usize),
    /// `boot.file`.
    File,
    /// `boot.tftp_server_name`.
    TftpServerName,
    /// `boot.bootfile`.
    Bootfile,
    /// `boot.pxelinux_config`.
    PxelinuxConfig,
    /// `offer_hold_secs`.
    OfferHold,
}

impl ServerConfig {
    /// Checks the rules the server relies on; the shell calls this once when
    /// it loads the configuration and refuses to start on an error.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.check_fields().map_err(|(_, error)| error)
    }

    /// [`ServerConfig::check`], also saying which value is wrong.
    pub fn check_fields(&self) -> Result<(), (Field, ConfigError)> {
        for (at, pool) in self.pools.iter().enumerate() {
            let subnet = pool.subnet;
            if subnet.prefix_len > 30 || subnet.network != Ipv4Addr::from(subnet_bits(subnet)) {
                return Err((Field::PoolSubnet(at), ConfigError::BadSubnet(subnet)));
            }
            if let Some(other) = self.pools[..at]
                .iter()
                .find(|o| o.subnet.contains(subnet.network) || subnet.contains(o.subnet.network))
            {
                return Err((
                    Field::PoolSubnet(at),
                    ConfigError::OverlappingPools(other.subnet, subnet),
                ));
            }
            let host = |ip| subnet.contains(ip) && !subnet.is_network_or_broadcast(ip);
            if pool.first > pool.last || !host(pool.first) || !host(pool.last) {
                return Err((
                    Field::PoolRange(at),
                    ConfigError::BadRange {
                        subnet,
                        first: pool.first,
                        last: pool.last,
                    },
                ));
            }
            if pool.lease_secs == 0 {
                return Err((Field::PoolLease(at), ConfigError::ZeroLease(subnet)));
            }
            if let Some(domain) = &pool.domain_name {
                option_length("domain name", domain).map_err(|e| (Field::PoolDomain(at), e))?;
            }
        }
        for (at, reservation) in self.reservations.iter().enumerate() {
            let mac = format_mac(&reservation.mac);
            let Some(pool) = self.pool_for(reservation.ip) else {
                return Err((
                    Field::ReservationIp(at),
                    ConfigError::ReservationOutsidePools {
                        ip: reservation.ip,
                        mac,
                    },
                ));
            };
            if pool.subnet.is_network_or_broadcast(reservation.ip) {
                return Err((
                    Field::ReservationIp(at),
                    ConfigError::ReservationNotHost {
                        ip: reservation.ip,
                        mac,
                    },
                ));
            }
            let earlier = &self.reservations[..at];
            if earlier.iter().any(|r| r.mac == reservation.mac) {
                return Err((
                    Field::ReservationMac(at),
                    ConfigError::DuplicateReservationMac(mac),
                ));
            }
            if earlier.iter().any(|r| r.ip == reservation.ip) {
                return Err((
                    Field::ReservationIp(at),
                    ConfigError::DuplicateReservationIp(reservation.ip),
                ));
            }
            if let Some(hostname) = &reservation.hostname {
                option_length("host name", hostname)
                    .map_err(|e| (Field::ReservationHostname(at), e))?;
            }
            if let Some(boot) = &reservation.boot {
                if DhcpPacket::default().set_file(&boot.tftp_file).is_err() {
                    return Err((
                        Field::ReservationBoot(at),
                        ConfigError::BadFile(boot.tftp_file.clone()),
                    ));
                }
            }
        }
        if let Some(at) = self.owned.vendor_classes.iter().position(String::is_empty) {
            return Err((Field::VendorClass(at), ConfigError::EmptyPattern));
        }
        if let Some(file) = &self.boot.file {
            if DhcpPacket::default().set_file(file).is_err() {
                return Err((Field::File, ConfigError::BadFile(file.clone())));
            }
        }
        let names = [
            (
                Field::TftpServerName,
                "TFTP server name (option 66)",
                &self.boot.tftp_server_name,
            ),
            (
                Field::Bootfile,
                "boot file name (option 67)",
                &self.boot.bootfile,
            ),
            (
                Field::PxelinuxConfig,
                "PXELINUX config file (option 209)",
                &self.boot.pxelinux_config,
            ),
        ];
        for (field, what, value) in names {
            if let Some(value) = value {
                option_length(what, value).map_err(|e| (field, e))?;
            }
        }
        if self.offer_hold_secs == 0 {
            return Err((Field::OfferHold, ConfigError::ZeroOfferHold));
        }
        Ok(())
    }

    /// The pool whose subnet holds `ip`.
    pub fn pool_for(&self, ip: Ipv4Addr) -> Option<&Pool> {
        self.pools.iter().find(|pool| pool.subnet.contains(ip))
    }

    /// The reservation of `mac`, if any.
    pub fn reservation_of(&self, mac: [u8; 6]) -> Option<&Reservation> {
        self.reservations.iter().find(|r| r.mac == mac)
    }

    /// The reservation of address `ip`, if any.
    pub fn reservation_at(&self, ip: Ipv4Addr) -> Option<&Reservation> {
        self.reservations.iter().find(|r| r.ip == ip)
    }
}

/// Whether this server answers `packet`: its MAC is owned or reserved, or
/// its vendor class (option 60) matches one of the patterns. Everyone else
/// gets nothing from the DHCP server; the shell may still hand PXE clients
/// to the proxy.
pub fn owns(config: &ServerConfig, packet: &DhcpPacket) -> bool {
    if let Some(mac) = packet.mac() {
        if config.owned.macs.contains(&mac) || config.reservation_of(mac).is_some() {
            return true;
        }
    }
    packet.vendor_class().is_some_and(|class| {
        config
            .owned
            .vendor_classes
            .iter()
            .any(|pattern| glob_match(pattern, &class))
    })
}

/// Whether `text` matches `pattern` as a whole, where `*` matches any run of
/// characters (including none) and every other character only itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Greedy matching with one backtrack point, the last star seen: on a
    // mismatch the star swallows one more character.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

fn subnet_bits(subnet: Subnet) -> u32 {
    u32::from(subnet.network) & u32::from(subnet.mask())
}

fn option_length(what: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > 255 {
        return Err(ConfigError::BadOptionLength {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}
