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
    self as core, Action, Arrival, BootOptions, Field, Leases, Outcome, Ownership, Pool, Probe,
    Reservation, ServerConfig, Subnet,
};
use bootherd_proto::proxy::Destination;
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, CLIENT_PORT};
use tracing::{debug, info, warn};

use arc_swap::ArcSwap;

use crate::config::DhcpConfig;
use crate::inventory::{Inventory, Kind};
use crate::leases::{GroupCommitter, LeaseStore, SqliteStore};
use crate::net::{self, PacketSocket, Received};
use crate::throttle::Throttle;

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
/// Requests waiting for the disk past which new DISCOVERs are dropped. A commit
/// takes a fsync (well under a millisecond on an SSD, ~10 ms on a slow disk), so
/// this is a backlog no client would wait for.
const SHED_DISCOVER: usize = 4096;
/// Requests waiting for the disk past which every request is dropped.
const SHED_ALL: usize = 16384;

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
    /// Where ICMP checks run; requests themselves may arrive on any thread.
    runtime: tokio::runtime::Handle,
    /// Requests dropped because the lease database was behind.
    shed: Throttle,
    /// Warnings about requests left unanswered, by kind of reason.
    unanswered: Mutex<std::collections::HashMap<std::mem::Discriminant<core::Reason>, Throttle>>,
}

fn parse_subnet(text: &str) -> Option<Subnet> {
    let (net, len) = text.split_once('/')?;
    let network: Ipv4Addr = net.trim().parse().ok()?;
    let prefix_len: u8 = len.trim().parse().ok()?;
    (prefix_len <= 32).then_some(Subnet::new(network, prefix_len))
}

/// A `[dhcp]` value the server cannot work with, and the key it came from
/// (`dhcp.pool[0].subnet`, or `machines[2].ip` for a machine's reservation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Refused {
    /// The key, as written in the file.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn refused(key: impl Into<String>, message: impl Into<String>) -> Refused {
    Refused {
        key: key.into(),
        message: message.into(),
    }
}

/// Turns the `[dhcp]` section and the inventory into the core's configuration,
/// checked. A pxelinux (U-Boot) machine with an `ip` becomes a reservation, which
/// also makes bootherd its DHCP server; other kinds boot through the proxy, so their
/// `ip` is left to the LAN's server. `inventory` must come from the same file's
/// `machines`, in order: a refusal names `machines[i]` by that order.
pub fn server_config(cfg: &DhcpConfig, inventory: &Inventory) -> Result<ServerConfig, Refused> {
    let mut pools = Vec::new();
    for (i, p) in cfg.pools.iter().enumerate() {
        let subnet = parse_subnet(&p.subnet).ok_or_else(|| {
            refused(
                format!("dhcp.pool[{i}].subnet"),
                format!(
                    "{:?} is not an IPv4 subnet (a.b.c.d/prefix, prefix 0-32)",
                    p.subnet
                ),
            )
        })?;
        let lease_secs = u32::try_from(p.lease_secs).map_err(|_| {
            refused(
                format!("dhcp.pool[{i}].lease_secs"),
                format!("{} is too long (at most {})", p.lease_secs, u32::MAX),
            )
        })?;
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
        let mac = parse_mac(&r.mac).ok_or_else(|| {
            refused(
                format!("dhcp.reservation[{i}].mac"),
                format!("{:?} is not a MAC address (aa:bb:cc:dd:ee:ff)", r.mac),
            )
        })?;
        reservations.push(Reservation {
            mac,
            ip: r.ip,
            hostname: r.hostname.clone(),
        });
    }
    // The index in `machines` of each reservation made from a machine.
    let mut from_machines = Vec::new();
    for (m, machine) in inventory.machines().iter().enumerate() {
        let (Some(ip), Some(mac)) = (machine.ip, machine.mac) else {
            continue;
        };
        if inventory.profile_of(machine).kind != Kind::Pxelinux {
            continue;
        }
        let mac = mac.octets();
        if let Some(r) = reservations.iter().position(|r: &Reservation| r.mac == mac) {
            return Err(refused(
                format!("machines[{m}].mac"),
                format!(
                    "machine {} has an ip, and its MAC also has a [[dhcp.reservation]] \
                     (dhcp.reservation[{r}]): keep one",
                    machine.name
                ),
            ));
        }
        from_machines.push(m);
        reservations.push(Reservation {
            mac,
            ip,
            hostname: Some(machine.name.clone()),
        });
    }
    let mut macs = Vec::new();
    for (i, m) in cfg.own_macs.iter().enumerate() {
        macs.push(parse_mac(m).ok_or_else(|| {
            refused(
                format!("dhcp.own_macs[{i}]"),
                format!("{m:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"),
            )
        })?);
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
        probe_new_addresses: cfg.ping_check,
    };
    if let Err((field, error)) = config.check_fields() {
        let listed = cfg.reservations.len();
        let reservation = |i: usize, key: &str, machine_key: &str| match i.checked_sub(listed) {
            None => format!("dhcp.reservation[{i}].{key}"),
            Some(j) => format!("machines[{}].{machine_key}", from_machines[j]),
        };
        let key = match field {
            Field::PoolSubnet(i) => format!("dhcp.pool[{i}].subnet"),
            Field::PoolRange(i) => format!("dhcp.pool[{i}].range"),
            Field::PoolLease(i) => format!("dhcp.pool[{i}].lease_secs"),
            Field::PoolDomain(i) => format!("dhcp.pool[{i}].domain"),
            Field::ReservationIp(i) => reservation(i, "ip", "ip"),
            Field::ReservationMac(i) => reservation(i, "mac", "mac"),
            Field::ReservationHostname(i) => reservation(i, "hostname", "name"),
            Field::VendorClass(i) => format!("dhcp.own_vendor_classes[{i}]"),
            Field::File | Field::Bootfile => "dhcp.boot.file".into(),
            Field::TftpServerName => "dhcp.boot.tftp_server_name".into(),
            Field::PxelinuxConfig => "dhcp.boot.pxelinux_config".into(),
            Field::OfferHold => "dhcp.offer_hold_secs".into(),
        };
        return Err(refused(key, error.to_string()));
    }
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
        let config = server_config(cfg, inventory)?;
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
            runtime: tokio::runtime::Handle::current(),
            shed: Throttle::default(),
            unanswered: Mutex::new(Default::default()),
        });
        // Before answering anyone: a new client's first offer then needs no wait.
        server.precheck().await;
        Ok(server)
    }

    /// Resolves once every lease change queued so far is committed (or failed):
    /// after the receive threads stopped, nothing is left waiting for the disk.
    pub async fn committed(&self) {
        while self.committer.queued() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Answers with `config` from now on (configuration reload). Leases stay.
    pub fn update(&self, config: ServerConfig) {
        self.config.store(Arc::new(config));
    }

    /// Whether this server answers `packet` (else it is the proxy's, or nobody's).
    pub fn owns(&self, packet: &DhcpPacket) -> bool {
        core::owns(&self.config.load(), packet)
    }

    /// Handles one owned request; callable from any thread. Decides under the table
    /// lock and queues the lease changes for the disk in that same order, with the
    /// reply attached: the committer sends it once they are on disk. When the disk
    /// falls behind, new DISCOVERs are shed first (a client retries; an offer that
    /// arrives seconds late is useless), then every request.
    pub fn handle(self: &Arc<Self>, socket: &Arc<PacketSocket>, packet: &DhcpPacket, rx: Received) {
        let queued = self.committer.queued();
        let discover = packet.message_type() == Some(MessageType::Discover);
        if queued >= SHED_ALL || (discover && queued >= SHED_DISCOVER) {
            self.shed(queued);
            return;
        }
        let arrival = Arrival { local: rx.local };
        let now = unix_now();
        let probe = self.decide(socket, &rx, |config, leases| {
            core::handle(config, leases, &arrival, packet, now)
        });
        if let Some(probe) = probe {
            self.resolve_probe(socket.clone(), probe, rx, 0);
        }
    }

    /// Counts a request dropped because the disk is behind; warns at most every
    /// ten seconds.
    fn shed(&self, queued: usize) {
        if let Some(dropped) = self.shed.due(unix_now()) {
            warn!(
                queued,
                dropped_since_last_warning = dropped,
                "dhcp: lease database behind; dropping new requests until it catches up"
            );
        }
    }

    /// Logs why a request got no reply: a warning when it needs attention, but for
    /// each kind of reason at most one every ten seconds (a flood of DISCOVERs into
    /// a full pool must not flood the log), the rest at debug level.
    fn unanswered(&self, reason: &core::Reason) {
        if !reason.needs_attention() {
            info!("dhcp: no reply: {reason}");
            return;
        }
        let due = self
            .unanswered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(std::mem::discriminant(reason))
            .or_default()
            .due(unix_now());
        match due {
            Some(1) => warn!("dhcp: no reply: {reason}"),
            Some(n) => warn!("dhcp: no reply: {reason} ({n} like it since the last such warning)"),
            None => debug!("dhcp: no reply: {reason}"),
        }
    }

    /// Decides with the core and applies its lease changes under ONE hold of the
    /// table lock, so two requests can never both pick the same free address, and
    /// queues the changes for the disk in that same order, with the reply to send
    /// once they are durable (a reply without changes leaves at once). Offers wait
    /// for the disk too: after a crash, an address offered before it must not be
    /// offered to a second client. Returns the probe to make, if the core asks for
    /// one.
    fn decide(
        &self,
        socket: &Arc<PacketSocket>,
        rx: &Received,
        core: impl FnOnce(&ServerConfig, &Leases) -> Outcome,
    ) -> Option<Probe> {
        let config = self.config.load();
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let Outcome { changes, action } = core(&config, &leases);
        for change in &changes {
            leases.apply(change);
        }
        let conflict = changes.iter().find_map(|c| match c {
            core::LeaseChange::Upsert(l) if l.is_conflict() => Some(l.ip),
            _ => None,
        });
        let (reply, probe, said) = match action {
            Action::Reply { packet, dest } => {
                let said = Said::Reply {
                    kind: packet.message_type(),
                    ip: packet.yiaddr,
                    mac: packet.mac(),
                };
                (Some(Outgoing::new(socket, packet, dest, rx)), None, said)
            }
            Action::Nak {
                packet,
                dest,
                reason,
            } => {
                let said = Said::Nak {
                    mac: packet.mac(),
                    reason,
                };
                (Some(Outgoing::new(socket, packet, dest, rx)), None, said)
            }
            Action::Probe(probe) => (None, Some(probe), Said::Nothing),
            Action::NoReply(reason) => (None, None, Said::NoReply(reason)),
        };
        if changes.is_empty() {
            drop(leases);
            if let Some(reply) = reply {
                reply.send();
            }
        } else {
            let then: crate::leases::Then = match reply {
                Some(reply) => Box::new(move |stored| match stored {
                    Ok(()) => reply.send(),
                    Err(err) => warn!(%err, "dhcp: lease not stored, so the reply is not sent"),
                }),
                None => Box::new(|stored| {
                    if let Err(err) = stored {
                        warn!(%err, "dhcp: lease change not stored");
                    }
                }),
            };
            self.committer.submit_then(changes, then);
            drop(leases);
        }
        if let Some(ip) = conflict {
            warn!(%ip, "dhcp: address answers ICMP echo or ARP: someone uses it without a lease from us; holding it out");
        }
        said.log(self);
        probe
    }

    /// Finds out whether the probed address is free and resumes the DISCOVER: at
    /// once when no check is to be made or an ahead-of-time check found it free,
    /// else after an ICMP echo on the runtime.
    fn resolve_probe(
        self: &Arc<Self>,
        socket: Arc<PacketSocket>,
        mut probe: Probe,
        rx: Received,
        mut probes: u8,
    ) {
        loop {
            if probes >= MAX_PROBES {
                warn!(
                    mac = %format_mac(&probe.mac),
                    "dhcp: no reply: gave up after {MAX_PROBES} candidate addresses in a row (each found in use, or taken meanwhile by another client); is a router answering ICMP for the whole subnet?"
                );
                return;
            }
            let wait = match self.ping_timeout {
                Some(wait) if !self.recently_checked_free(probe.ip) => wait,
                _ => {
                    debug!(ip = %probe.ip, "dhcp: address known free");
                    let now = unix_now();
                    match self.decide(&socket, &rx, |config, leases| {
                        core::probe_result(config, leases, &probe, false, now)
                    }) {
                        Some(next) => {
                            probe = next;
                            probes += 1;
                            continue;
                        }
                        None => return,
                    }
                }
            };
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
            self.runtime.spawn(async move {
                // On the client's own link (not relayed) ARP asks too: it finds
                // hosts that ignore ICMP echo. The client itself answering (it
                // still holds the address from before) is no conflict.
                let link = (probe.request.giaddr.is_unspecified() && rx.ifindex != 0)
                    .then_some(rx.ifindex);
                let (icmp, arp) = tokio::join!(
                    net::icmp_in_use(probe.ip, wait),
                    arp_holder(link, probe.ip, wait)
                );
                let icmp = icmp.unwrap_or_else(|err| {
                    warn!(%err, ip = %probe.ip, "dhcp: cannot check the address with ICMP echo");
                    false
                });
                let arp = arp.filter(|holder| *holder != probe.mac);
                if let Some(holder) = arp {
                    debug!(ip = %probe.ip, holder = %format_mac(&holder), "dhcp: address answers ARP");
                }
                let in_use = icmp || arp.is_some();
                server
                    .probing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                debug!(ip = %probe.ip, in_use, "dhcp: address checked");
                let now = unix_now();
                let next = server.decide(&socket, &rx, |config, leases| {
                    core::probe_result(config, leases, &probe, in_use, now)
                });
                if let Some(next) = next {
                    server.resolve_probe(socket, next, rx, probes + 1);
                }
            });
            return;
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
            for (ip, link) in self.free_candidates() {
                checks.spawn(async move {
                    let (icmp, arp) =
                        tokio::join!(net::icmp_in_use(ip, wait), arp_holder(link, ip, wait));
                    // Any ARP answer counts here: the client is not known yet, and
                    // the request-time check decides with its MAC.
                    (ip, icmp.map(|in_use| in_use || arp.is_some()))
                });
            }
            while let Some(Ok((ip, result))) = checks.join_next().await {
                debug!(%ip, ?result, "dhcp: ahead-of-time check (in use?)");
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

    /// The addresses of each pool that a new client would be offered next, in
    /// the order the core picks them: never used, lowest first, then those whose
    /// last client has been gone longest. Nobody holds or has reserved them.
    fn free_candidates(&self) -> Vec<(Ipv4Addr, Option<u32>)> {
        let config = self.config.load();
        let local = net::ipv4_networks().unwrap_or_default();
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        let mut out = Vec::new();
        for pool in &config.pools {
            let mut found: Vec<Ipv4Addr> = Vec::new();
            let fits = |ip: Ipv4Addr, found: &[Ipv4Addr]| {
                !pool.subnet.is_network_or_broadcast(ip)
                    && config.reservation_at(ip).is_none()
                    && Some(ip) != pool.router
                    && !found.contains(&ip)
            };
            while found.len() < PRECHECKED_PER_POOL {
                match leases.first_unrecorded(pool.first, pool.last, |ip| fits(ip, &found)) {
                    Some(ip) => found.push(ip),
                    None => break,
                }
            }
            while found.len() < PRECHECKED_PER_POOL {
                let next = leases
                    .ended_longest_ago(pool.first, pool.last, now, |l| fits(l.ip, &found))
                    .map(|l| l.ip);
                match next {
                    Some(ip) => found.push(ip),
                    None => break,
                }
            }
            // The interface on the pool's subnet, for ARP; none for relayed pools.
            let link = local
                .iter()
                .find(|(_, addr)| pool.subnet.contains(*addr))
                .map(|(ifindex, _)| *ifindex);
            out.extend(found.into_iter().map(|ip| (ip, link)));
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

    /// A snapshot of the lease table.
    pub fn leases(&self) -> Vec<core::Lease> {
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases.iter().cloned().collect()
    }
}

/// Who answers an ARP probe for `ip` on interface `link` within `wait`, if
/// anyone; `None` too when there is no link (a relayed pool) or no ARP here (no
/// `CAP_NET_RAW`), which is logged at debug level: ICMP echo still checks.
async fn arp_holder(link: Option<u32>, ip: Ipv4Addr, wait: Duration) -> Option<[u8; 6]> {
    let ifindex = link?;
    match tokio::task::spawn_blocking(move || crate::arp::probe(ifindex, ip, wait)).await {
        Ok(Ok(holder)) => holder,
        Ok(Err(err)) => {
            debug!(%ip, ifindex, %err, "dhcp: cannot check the address with ARP");
            None
        }
        Err(_) => None,
    }
}

/// What a decision says in the log, written after the table lock is let go.
enum Said {
    Reply {
        kind: Option<MessageType>,
        ip: Ipv4Addr,
        mac: Option<[u8; 6]>,
    },
    Nak {
        mac: Option<[u8; 6]>,
        reason: core::Reason,
    },
    NoReply(core::Reason),
    Nothing,
}

impl Said {
    fn log(self, server: &DhcpServer) {
        let mac = |m: Option<[u8; 6]>| m.map(|m| format_mac(&m)).unwrap_or_default();
        match self {
            Said::Reply { kind, ip, mac: m } => {
                info!(mac = %mac(m), %ip, "dhcp: {} {ip} to {}", TypeName(kind), mac(m));
            }
            Said::Nak { mac: m, reason } => info!(mac = %mac(m), "dhcp: nak: {reason}"),
            Said::NoReply(reason) => server.unanswered(&reason),
            Said::Nothing => {}
        }
    }
}

/// A message type in lower case, for the log (formatted only if logged).
struct TypeName(Option<MessageType>);

impl std::fmt::Display for TypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(MessageType::Offer) => f.write_str("offer"),
            Some(MessageType::Ack) => f.write_str("ack"),
            Some(MessageType::Nak) => f.write_str("nak"),
            Some(other) => write!(f, "{}", format!("{other:?}").to_lowercase()),
            None => f.write_str("reply"),
        }
    }
}

/// A reply and where it goes, sent from whichever thread finds it ready.
struct Outgoing {
    socket: Arc<PacketSocket>,
    packet: DhcpPacket,
    to: SocketAddrV4,
    ifindex: u32,
    local: Ipv4Addr,
}

impl Outgoing {
    fn new(
        socket: &Arc<PacketSocket>,
        packet: DhcpPacket,
        dest: Destination,
        rx: &Received,
    ) -> Self {
        // Broadcasts leave through the interface the request came in on; unicasts
        // (relays, renewing clients) follow the routing table but keep our source.
        let (to, ifindex) = match dest {
            Destination::Relay(a) | Destination::Unicast(a) => (a, 0),
            Destination::Broadcast => (
                SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
                rx.ifindex,
            ),
        };
        Outgoing {
            socket: socket.clone(),
            packet,
            to,
            ifindex,
            local: rx.local,
        }
    }

    /// Sends without waiting; if the socket's buffer is full, from a task when
    /// there is a runtime to run it, else the reply is dropped (the client
    /// retransmits).
    fn send(self) {
        let bytes = self.packet.emit();
        match self
            .socket
            .try_send(&bytes, self.to, self.ifindex, self.local)
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(async move {
                            if let Err(err) = self
                                .socket
                                .send(&bytes, self.to, self.ifindex, self.local)
                                .await
                            {
                                warn!(dest = %self.to, %err, "dhcp: cannot send reply");
                            }
                        });
                    }
                    Err(_) => debug!(dest = %self.to, "dhcp: send buffer full; reply dropped"),
                }
            }
            Err(err) => warn!(dest = %self.to, %err, "dhcp: cannot send reply"),
        }
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
        assert_eq!(
            server_config(&cfg, &none).unwrap_err().key,
            "dhcp.pool[0].subnet"
        );
        cfg.pools[0].subnet = "10.98.0.0/24".into();
        // The range is outside the subnet: the core's check says so, and which key.
        let err = server_config(&cfg, &none).unwrap_err();
        assert_eq!(err.key, "dhcp.pool[0].range", "{err}");
        assert!(err.message.contains("inside the subnet"), "{err}");
        cfg.pools[0].subnet = "10.99.0.0/24".into();
        cfg.own_macs = vec!["52:54:00:00:00:01".into(), "not-a-mac".into()];
        let err = server_config(&cfg, &none).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"dhcp.own_macs[1]: "not-a-mac" is not a MAC address (aa:bb:cc:dd:ee:ff)"#
        );
    }
}
