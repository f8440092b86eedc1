//! The DHCP server for machines bootherd owns (U-Boot boards): the shell around
//! `bootherd_proto::dhcp`. It keeps the lease table in memory, makes every change
//! durable through the group committer before the reply that depends on it leaves,
//! and checks new addresses with ICMP echo before offering them.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bootherd_proto::client::{format_mac, parse_mac};
use bootherd_proto::dhcp::{
    self as core, Action, Arrival, BootOptions, Leases, Outcome, Ownership, Pool, Probe,
    Reservation, ServerConfig, Subnet,
};
use bootherd_proto::proxy::Destination;
use bootherd_proto::wire::dhcp::{DhcpPacket, CLIENT_PORT};
use tracing::{debug, info, warn};

use arc_swap::ArcSwap;

use crate::config::DhcpConfig;
use crate::inventory::{Inventory, Kind};
use crate::leases::{GroupCommitter, LeaseStore, SqliteStore};
use crate::net::{self, PacketSocket, Received};

/// Most addresses one DISCOVER may probe before giving up (a proxy-ARP router that
/// answers for every address must not burn the whole pool).
const MAX_PROBES: u8 = 8;
/// Free addresses per pool checked ahead of time, so a new client's first offer
/// need not wait for an ICMP timeout (U-Boot takes the first offer it gets, and the
/// LAN's server may answer the same DISCOVER).
const PRECHECKED_PER_POOL: usize = 4;
/// How long an ahead-of-time check counts.
const PRECHECK_VALID: Duration = Duration::from_secs(30);
/// How often the ahead-of-time checks run.
const PRECHECK_EVERY: Duration = Duration::from_secs(10);

/// The running DHCP server.
pub struct DhcpServer {
    config: ArcSwap<ServerConfig>,
    leases: Mutex<Leases>,
    /// (MAC, address) pairs being checked with ICMP echo now: a retransmitted
    /// DISCOVER must not start a second check, which could see the client itself
    /// answer once it has taken the address.
    probing: Mutex<std::collections::HashSet<([u8; 6], Ipv4Addr)>>,
    /// Addresses found free by an ahead-of-time check, and when.
    checked_free: Mutex<std::collections::HashMap<Ipv4Addr, std::time::Instant>>,
    committer: GroupCommitter,
    ping_timeout: Option<Duration>,
}

fn parse_subnet(text: &str) -> Option<Subnet> {
    let (net, len) = text.split_once('/')?;
    let network: Ipv4Addr = net.trim().parse().ok()?;
    let prefix_len: u8 = len.trim().parse().ok()?;
    (prefix_len <= 32).then_some(Subnet::new(network, prefix_len))
}

/// Turns the `[dhcp]` section and the inventory into the core's configuration,
/// checked. A pxelinux (U-Boot) machine with an `ip` becomes a reservation, which
/// also makes bootherd its DHCP server; other kinds boot through the proxy, so their
/// `ip` is left to the LAN's server.
pub fn server_config(cfg: &DhcpConfig, inventory: &Inventory) -> Result<ServerConfig, String> {
    let mut pools = Vec::new();
    for (i, p) in cfg.pools.iter().enumerate() {
        let subnet = parse_subnet(&p.subnet)
            .ok_or_else(|| format!("dhcp.pool[{i}].subnet: {:?} is not a.b.c.d/len", p.subnet))?;
        let lease_secs = u32::try_from(p.lease_secs)
            .map_err(|_| format!("dhcp.pool[{i}].lease_secs: {} is too long", p.lease_secs))?;
        pools.push(Pool {
            subnet,
            first: p.range[0],
            last: p.range[1],
            router: p.router,
            dns_servers: p.dns.clone(),
            lease_secs,
            domain_name: p.domain.clone(),
        });
    }
    let mut reservations = Vec::new();
    for (i, r) in cfg.reservations.iter().enumerate() {
        let mac = parse_mac(&r.mac)
            .ok_or_else(|| format!("dhcp.reservation[{i}].mac: {:?} is not a MAC", r.mac))?;
        reservations.push(Reservation {
            mac,
            ip: r.ip,
            hostname: r.hostname.clone(),
        });
    }
    for machine in inventory.machines() {
        let (Some(ip), Some(mac)) = (machine.ip, machine.mac) else {
            continue;
        };
        if inventory.profile_of(machine).kind != Kind::Pxelinux {
            continue;
        }
        let mac = mac.octets();
        if reservations.iter().any(|r: &Reservation| r.mac == mac) {
            return Err(format!(
                "machine {}: its MAC also has a [[dhcp.reservation]]",
                machine.name
            ));
        }
        reservations.push(Reservation {
            mac,
            ip,
            hostname: Some(machine.name.clone()),
        });
    }
    let mut macs = Vec::new();
    for m in &cfg.own_macs {
        macs.push(parse_mac(m).ok_or_else(|| format!("dhcp.own_macs: {m:?} is not a MAC"))?);
    }
    let config = ServerConfig {
        pools,
        reservations,
        owned: Ownership {
            macs,
            vendor_classes: cfg.own_vendor_classes.clone(),
        },
        boot: BootOptions {
            siaddr: cfg.boot.next_server,
            file: cfg.boot.file.clone(),
            tftp_server_name: cfg.boot.tftp_server_name.clone(),
            bootfile: cfg.boot.file.clone(),
            pxelinux_config: cfg.boot.pxelinux_config.clone(),
        },
        offer_hold_secs: cfg.offer_hold_secs,
        decline_hold_secs: cfg.decline_hold_secs,
    };
    config.check().map_err(|e| format!("dhcp: {e}"))?;
    Ok(config)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DhcpServer {
    /// Checks the configuration, opens the lease database and loads its leases.
    pub async fn open(cfg: &DhcpConfig, inventory: &Inventory) -> anyhow::Result<Arc<Self>> {
        let config = server_config(cfg, inventory).map_err(anyhow::Error::msg)?;
        let store = SqliteStore::open(&cfg.lease_db).await.map_err(|e| {
            anyhow::anyhow!("opening lease database {}: {e}", cfg.lease_db.display())
        })?;
        let stored = store.load().await?;
        info!(
            leases = stored.len(),
            db = %cfg.lease_db.display(),
            "dhcp: lease database loaded"
        );
        let ping_timeout = cfg
            .ping_check
            .then(|| Duration::from_millis(cfg.ping_timeout_ms));
        let server = Arc::new(DhcpServer {
            config: ArcSwap::from_pointee(config),
            leases: Mutex::new(stored.into_iter().collect()),
            probing: Mutex::new(Default::default()),
            checked_free: Mutex::new(Default::default()),
            committer: GroupCommitter::spawn(store),
            ping_timeout,
        });
        // Before answering anyone: a new client's first offer then needs no wait.
        server.precheck().await;
        Ok(server)
    }

    /// Answers with `config` from now on (configuration reload). Leases stay.
    pub fn update(&self, config: ServerConfig) {
        self.config.store(Arc::new(config));
    }

    /// Whether this server answers `packet` (else it is the proxy's, or nobody's).
    pub fn owns(&self, packet: &DhcpPacket) -> bool {
        core::owns(&self.config.load(), packet)
    }

    /// Handles one owned request: decides under the table lock, queues the lease
    /// changes for durability in that same order, and sends once they are on disk.
    pub fn handle(self: &Arc<Self>, socket: &Arc<PacketSocket>, packet: &DhcpPacket, rx: Received) {
        let arrival = Arrival { local: rx.local };
        let (action, durable, _) = self
            .decide(|config, leases| core::handle(config, leases, &arrival, packet, unix_now()));
        self.perform(socket.clone(), action, durable, rx, 0);
    }

    /// Decides with the core and applies its lease changes under ONE hold of the
    /// table lock, so two requests can never both pick the same free address, and
    /// queues the changes for the disk in that same order.
    fn decide(
        &self,
        core: impl FnOnce(&ServerConfig, &Leases) -> Outcome,
    ) -> (
        Action,
        Option<crate::leases::Durable>,
        Vec<core::LeaseChange>,
    ) {
        let config = self.config.load();
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let Outcome { changes, action } = core(&config, &leases);
        if changes.is_empty() {
            return (action, None, changes);
        }
        for change in &changes {
            leases.apply(change);
        }
        let durable = self.committer.submit(changes.clone());
        (action, Some(durable), changes)
    }

    fn perform(
        self: &Arc<Self>,
        socket: Arc<PacketSocket>,
        action: Action,
        durable: Option<crate::leases::Durable>,
        rx: Received,
        probes: u8,
    ) {
        match action {
            Action::Reply { packet, dest } => {
                let what = match packet.message_type() {
                    Some(t) => format!("{t:?}").to_lowercase(),
                    None => "reply".into(),
                };
                info!(
                    mac = %mac_of(&packet),
                    ip = %packet.yiaddr,
                    "dhcp: {what} {} to {}",
                    packet.yiaddr,
                    mac_of(&packet)
                );
                // Offers wait for the disk too: after a crash, an address offered
                // before it must not be offered to a second client (the lease
                // database is warmed up at start, so this costs one group fsync).
                // A reply with no lease change (a repeat) leaves at once.
                match durable {
                    None => send_now_or_later(socket, packet, dest, rx),
                    wait => {
                        tokio::spawn(send_when_durable(socket, packet, dest, rx, wait));
                    }
                }
            }
            Action::Nak {
                packet,
                dest,
                reason,
            } => {
                info!(mac = %mac_of(&packet), "dhcp: nak: {reason}");
                tokio::spawn(send_when_durable(socket, packet, dest, rx, durable));
            }
            Action::NoReply(reason) => {
                if reason.needs_attention() {
                    warn!("dhcp: no reply: {reason}");
                } else {
                    info!("dhcp: no reply: {reason}");
                }
                if let Some(durable) = durable {
                    tokio::spawn(async move {
                        if let Err(err) = durable.await {
                            warn!(%err, "dhcp: lease change not stored");
                        }
                    });
                }
            }
            Action::Probe(probe) => {
                if probes >= MAX_PROBES {
                    warn!(
                        mac = %format_mac(&probe.mac),
                        "dhcp: no reply: gave up after {MAX_PROBES} candidate addresses in a row (each found in use, or taken meanwhile by another client); is a router answering ICMP for the whole subnet?"
                    );
                    return;
                }
                let key = (probe.mac, probe.ip);
                let fresh = self
                    .probing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key);
                if !fresh {
                    debug!(ip = %probe.ip, mac = %format_mac(&probe.mac), "dhcp: already checking this address for this client");
                    return;
                }
                let server = self.clone();
                tokio::spawn(async move {
                    if let Some(durable) = durable {
                        if let Err(err) = durable.await {
                            warn!(%err, "dhcp: lease change not stored; dropping the request");
                            return;
                        }
                    }
                    server.probe(socket, probe, rx, probes).await;
                });
            }
        }
    }

    /// Checks, ahead of any request, the lowest free addresses of each pool, forever
    /// (only with `ping_check`).
    pub async fn precheck_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PRECHECK_EVERY);
        tick.tick().await; // the first tick is immediate: `open` just ran a round
        loop {
            tick.tick().await;
            self.precheck().await;
        }
    }

    /// One round of ahead-of-time checks.
    async fn precheck(&self) {
        let Some(wait) = self.ping_timeout else {
            return;
        };
        {
            let mut checks = tokio::task::JoinSet::new();
            for ip in self.free_candidates() {
                checks.spawn(async move { (ip, net::icmp_in_use(ip, wait).await) });
            }
            while let Some(Ok((ip, result))) = checks.join_next().await {
                let mut free = self.checked_free.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(false) => {
                        free.insert(ip, std::time::Instant::now());
                    }
                    // In use, or no ICMP here: the request-time check decides.
                    _ => {
                        free.remove(&ip);
                    }
                }
            }
        }
    }

    /// The lowest addresses of each pool that nobody holds and nobody has reserved.
    fn free_candidates(&self) -> Vec<Ipv4Addr> {
        let config = self.config.load();
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        let mut out = Vec::new();
        for pool in &config.pools {
            let (first, last) = (u32::from(pool.first), u32::from(pool.last));
            let found = (first..=last)
                .map(Ipv4Addr::from)
                .filter(|ip| !pool.subnet.is_network_or_broadcast(*ip))
                .filter(|ip| config.reservation_at(*ip).is_none())
                .filter(|ip| leases.get_by_ip(*ip).is_none_or(|l| !l.holds_address(now)))
                .take(PRECHECKED_PER_POOL);
            out.extend(found);
        }
        out
    }

    /// Whether `ip` was found free recently enough to offer without another check.
    /// (Once offered, the core does not pick it for anyone else while it is held.)
    fn recently_checked_free(&self, ip: Ipv4Addr) -> bool {
        let free = self.checked_free.lock().unwrap_or_else(|e| e.into_inner());
        free.get(&ip)
            .is_some_and(|at| at.elapsed() < PRECHECK_VALID)
    }

    async fn probe(
        self: Arc<Self>,
        socket: Arc<PacketSocket>,
        probe: Probe,
        rx: Received,
        probes: u8,
    ) {
        let in_use = match self.ping_timeout {
            None => false,
            Some(_) if self.recently_checked_free(probe.ip) => false,
            Some(wait) => match net::icmp_in_use(probe.ip, wait).await {
                Ok(in_use) => in_use,
                Err(err) => {
                    warn!(%err, ip = %probe.ip, "dhcp: cannot check the address with ICMP echo; offering it unchecked");
                    false
                }
            },
        };
        let (action, durable, changes) = self.decide(|config, leases| {
            core::probe_result(config, leases, &probe, in_use, unix_now())
        });
        self.probing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(probe.mac, probe.ip));
        // The core decides whether an answer means a conflict: one from a client that
        // has taken the address meanwhile does not.
        let conflict = changes.iter().any(
            |c| matches!(c, core::LeaseChange::Upsert(l) if l.is_conflict() && l.ip == probe.ip),
        );
        if conflict {
            warn!(ip = %probe.ip, "dhcp: address answers ICMP echo: someone uses it without a lease from us; holding it out");
        } else {
            debug!(ip = %probe.ip, in_use, "dhcp: address checked");
        }
        self.perform(socket, action, durable, rx, probes + 1);
    }

    /// A snapshot of the lease table.
    pub fn leases(&self) -> Vec<core::Lease> {
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases.iter().cloned().collect()
    }
}

fn mac_of(packet: &DhcpPacket) -> String {
    packet.mac().map(|m| format_mac(&m)).unwrap_or_default()
}

fn destination(dest: Destination, rx: &Received) -> (SocketAddrV4, u32) {
    match dest {
        Destination::Relay(a) | Destination::Unicast(a) => (a, 0),
        Destination::Broadcast => (
            SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
            rx.ifindex,
        ),
    }
}

/// Sends at once from this thread when the socket takes it, else from a task.
fn send_now_or_later(
    socket: Arc<PacketSocket>,
    packet: DhcpPacket,
    dest: Destination,
    rx: Received,
) {
    let (to, ifindex) = destination(dest, &rx);
    match socket.try_send(&packet.emit(), to, ifindex, rx.local) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            tokio::spawn(send_when_durable(socket, packet, dest, rx, None));
        }
        Err(err) => warn!(dest = %to, %err, "dhcp: cannot send reply"),
    }
}

async fn send_when_durable(
    socket: Arc<PacketSocket>,
    packet: DhcpPacket,
    dest: Destination,
    rx: Received,
    durable: Option<crate::leases::Durable>,
) {
    if let Some(durable) = durable {
        if let Err(err) = durable.await {
            warn!(%err, "dhcp: lease not stored, so the reply is not sent");
            return;
        }
    }
    let (dest, ifindex) = destination(dest, &rx);
    if let Err(err) = socket.send(&packet.emit(), dest, ifindex, rx.local).await {
        warn!(%dest, %err, "dhcp: cannot send reply");
    }
}

/// Reads the lease database at `path` (for `bootherd leases`).
pub async fn read_leases(path: &Path) -> anyhow::Result<Vec<core::Lease>> {
    let store = SqliteStore::open_read_only(path)
        .await
        .map_err(|e| anyhow::anyhow!("opening lease database {}: {e}", path.display()))?;
    Ok(store.load().await?)
}

/// Renders leases as an aligned table or a JSON array (for `bootherd leases`).
pub fn format_leases(leases: &[&core::Lease], now: u64, json: bool) -> String {
    let state = |l: &core::Lease| match l.state {
        core::LeaseState::Offered => "offered",
        core::LeaseState::Bound => "bound",
        core::LeaseState::Released => "released",
        core::LeaseState::Declined => "declined",
    };
    if json {
        let rows: Vec<serde_json::Value> = leases
            .iter()
            .map(|l| {
                serde_json::json!({
                    "ip": l.ip.to_string(),
                    "mac": format_mac(&l.mac),
                    "hostname": l.hostname,
                    "state": state(l),
                    "starts": l.starts,
                    "ends": l.ends,
                    "live": l.is_live(now),
                })
            })
            .collect();
        return format!("{}\n", serde_json::Value::Array(rows));
    }
    let mut out = format!(
        "{:<15}  {:<17}  {:<8}  {:>10}  {}\n",
        "IP", "MAC", "STATE", "EXPIRES IN", "HOSTNAME"
    );
    for l in leases {
        let left = match l.ends.checked_sub(now) {
            Some(secs) => format!("{secs}s"),
            None => "expired".into(),
        };
        out.push_str(&format!(
            "{:<15}  {:<17}  {:<8}  {:>10}  {}\n",
            l.ip.to_string(),
            format_mac(&l.mac),
            state(l),
            left,
            l.hostname.as_deref().unwrap_or("-")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_render_as_table_and_json() {
        let lease = core::Lease {
            ip: Ipv4Addr::new(10, 99, 0, 200),
            mac: [0x52, 0x54, 0, 0x99, 0, 0xa1],
            client_id: None,
            hostname: Some("rock64".into()),
            state: core::LeaseState::Bound,
            starts: 1000,
            ends: 4600,
        };
        let table = format_leases(&[&lease], 1600, false);
        assert!(table.starts_with("IP "), "{table}");
        assert!(
            table.contains("10.99.0.200      52:54:00:99:00:a1  bound          3000s  rock64"),
            "{table}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&format_leases(&[&lease], 1600, true)).unwrap();
        assert_eq!(json[0]["ip"], "10.99.0.200");
        assert_eq!(json[0]["state"], "bound");
        assert_eq!(json[0]["live"], true);
    }

    #[test]
    fn config_converts_and_is_checked() {
        let mut cfg = DhcpConfig {
            own_vendor_classes: vec!["U-Boot*".into()],
            ..DhcpConfig::default()
        };
        cfg.pools.push(crate::config::PoolConfig {
            subnet: "10.99.0.0/24".into(),
            range: [Ipv4Addr::new(10, 99, 0, 200), Ipv4Addr::new(10, 99, 0, 210)],
            router: None,
            dns: vec![],
            lease_secs: 600,
            domain: None,
        });
        let none = Inventory::default();
        let sc = server_config(&cfg, &none).unwrap();
        assert_eq!(sc.pools[0].subnet.to_string(), "10.99.0.0/24");
        cfg.pools[0].subnet = "10.99.0.0".into();
        assert!(server_config(&cfg, &none)
            .unwrap_err()
            .contains("dhcp.pool[0].subnet"));
        cfg.pools[0].subnet = "10.98.0.0/24".into();
        // The range is outside the subnet: the core's check says so.
        assert!(server_config(&cfg, &none).is_err());
    }
}
