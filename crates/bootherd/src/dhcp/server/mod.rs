//! The DHCP server for machines bootherd owns (U-Boot boards): the shell around
//! `bootherd_proto::dhcp`. It keeps the lease table in memory, makes every change
//! durable through the group committer before the reply that depends on it leaves,
//! and checks new addresses with ICMP echo before offering them.
//!
//! The parts: `config.rs` (the configuration, checked), `probes.rs` (address
//! checks), `shared.rs` (the cache kept true to a lease database that other
//! servers share), `leases_command.rs` (`bootherd leases`); this file handles
//! requests.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bootherd_proto::client::format_mac;
use bootherd_proto::dhcp::{self as core, Action, Arrival, Leases, Outcome, Probe, ServerConfig};
use bootherd_proto::proxy::Destination;
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, CLIENT_PORT};
use tracing::{debug, info, warn};

use arc_swap::ArcSwap;

use crate::config::DhcpConfig;
use crate::events::{LeaseChange, Via};
use crate::inventory::Inventory;
use crate::leases::{AnyStore, GroupCommitter, LeaseStore, PgStore};
use crate::net::{PacketSocket, Received};
use crate::throttle::Throttle;

mod config;
mod leases_command;
mod probes;
mod shared;

pub use config::*;
pub use leases_command::*;

/// Most addresses one DISCOVER may probe before giving up (a proxy-ARP router that
/// answers for every address must not burn the whole pool).
pub(super) const MAX_PROBES: u8 = 8;
/// Free addresses per pool checked ahead of time, so a new client's first offer
/// need not wait for an ICMP timeout (U-Boot takes the first offer it gets, and the
/// LAN's server may answer the same DISCOVER).
pub(super) const PRECHECKED_PER_POOL: usize = 4;
/// How long an ahead-of-time check counts.
pub(super) const PRECHECK_VALID: Duration = Duration::from_secs(30);
/// How often the ahead-of-time checks run.
pub(super) const PRECHECK_EVERY: Duration = Duration::from_secs(10);
/// Requests waiting for the disk past which new DISCOVERs are dropped. A commit
/// takes a fsync (well under a millisecond on an SSD, ~10 ms on a slow disk), so
/// this is a backlog no client would wait for.
pub(super) const SHED_DISCOVER: usize = 4096;
/// Requests waiting for the disk past which every request is dropped.
pub(super) const SHED_ALL: usize = 16384;

/// The running DHCP server.
pub struct DhcpServer {
    pub(super) config: ArcSwap<ServerConfig>,
    pub(super) leases: Mutex<Leases>,
    /// (MAC, address) pairs being checked with ICMP echo now: a retransmitted
    /// DISCOVER must not start a second check, which could see the client itself
    /// answer once it has taken the address.
    pub(super) probing: Mutex<std::collections::HashSet<([u8; 6], Ipv4Addr)>>,
    /// Addresses found free by an ahead-of-time check, and when.
    pub(super) checked_free: Mutex<std::collections::HashMap<Ipv4Addr, std::time::Instant>>,
    pub(super) committer: GroupCommitter,
    /// The PostgreSQL store when the lease database is shared with other
    /// servers: the table above is then a cache of it.
    pub(super) shared: Option<PgStore>,
    pub(super) ping_timeout: Option<Duration>,
    /// Where ICMP checks run; requests themselves may arrive on any thread.
    pub(super) runtime: tokio::runtime::Handle,
    /// Requests dropped because the lease database was behind.
    pub(super) shed: Throttle,
    /// Warnings about requests left unanswered, by kind of reason.
    pub(super) unanswered:
        Mutex<std::collections::HashMap<std::mem::Discriminant<core::Reason>, Throttle>>,
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DhcpServer {
    /// Checks the configuration, opens the lease database and loads its leases.
    /// `http_port`: the HTTP port bound, for UEFI HTTP boot URLs (`None`: HTTP off).
    pub async fn open(
        cfg: &DhcpConfig,
        inventory: &Inventory,
        http_port: Option<u16>,
    ) -> anyhow::Result<Arc<Self>> {
        let config = server_config(cfg, inventory, http_port)?;
        let name = cfg.server_name.clone().unwrap_or_else(shared::host_name);
        let shown = crate::leases::redact(&cfg.lease_db.to_string_lossy());
        let store = AnyStore::open(&cfg.lease_db, &name)
            .await
            .map_err(|e| anyhow::anyhow!("opening lease database {shown}: {e}"))?;
        let stored = store.load().await?;
        info!(
            leases = stored.len(),
            db = %shown,
            "dhcp: lease database loaded"
        );
        let ping_timeout = cfg
            .ping_check
            .then(|| Duration::from_millis(cfg.ping_timeout_ms));
        let shared = store.shared().cloned();
        let server = Arc::new_cyclic(|me: &Weak<DhcpServer>| {
            let committer = GroupCommitter::spawn(store);
            let me = me.clone();
            committer.on_refused(Box::new(move |refusals| {
                if let Some(server) = me.upgrade() {
                    server.correct(refusals);
                }
            }));
            DhcpServer {
                config: ArcSwap::from_pointee(config),
                leases: Mutex::new(stored.into_iter().collect()),
                probing: Mutex::new(Default::default()),
                checked_free: Mutex::new(Default::default()),
                committer,
                shared,
                ping_timeout,
                runtime: tokio::runtime::Handle::current(),
                shed: Throttle::default(),
                unanswered: Mutex::new(Default::default()),
            }
        });
        if let Some(store) = &server.shared {
            info!(server = %store.server(), "dhcp: lease database shared; this server's table is a cache of it");
            tokio::spawn(shared::refresh_loop(Arc::downgrade(&server), store.clone()));
        }
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
        self.handle_cached(socket, packet, rx, false, 0);
    }

    /// [`DhcpServer::handle`]; `looked_up` once a shared database was asked for
    /// the client's rows; `attempt` counts the decisions a shared database
    /// refused already (each refusal corrected the cache; the request is decided
    /// again, up to [`shared::MAX_ATTEMPTS`] times, so another address is offered
    /// at once rather than at the client's next retransmission).
    pub(super) fn handle_cached(
        self: &Arc<Self>,
        socket: &Arc<PacketSocket>,
        packet: &DhcpPacket,
        rx: Received,
        looked_up: bool,
        attempt: u8,
    ) {
        if !looked_up && self.look_up_first(socket, packet, rx) {
            return;
        }
        let queued = self.committer.queued();
        let discover = packet.message_type() == Some(MessageType::Discover);
        if queued >= SHED_ALL || (discover && queued >= SHED_DISCOVER) {
            self.shed(queued);
            return;
        }
        if attempt == 0 {
            let client = bootherd_proto::client::classify(packet);
            let addr = Some(packet.ciaddr).filter(|a| !a.is_unspecified());
            crate::events::hub().dhcp_request(Via::Server, &client, addr);
            if let (Some(MessageType::Release), Some(mac)) = (packet.message_type(), packet.mac()) {
                crate::events::hub().lease(mac, LeaseChange::Released, packet.ciaddr);
            }
        }
        let arrival = Arrival { local: rx.local };
        let now = unix_now();
        let mac = packet.mac().unwrap_or_default();
        let retry: Option<Retry> =
            (self.shared.is_some() && attempt < shared::MAX_ATTEMPTS).then(|| {
                let (server, socket, packet) = (self.clone(), socket.clone(), packet.clone());
                Box::new(move || server.handle_cached(&socket, &packet, rx, true, attempt + 1))
                    as Retry
            });
        let probe = self.decide(socket, &rx, mac, retry, |config, leases| {
            core::handle(config, leases, &arrival, packet, now)
        });
        if let Some(probe) = probe {
            self.resolve_probe(socket.clone(), probe, rx, 0);
        }
    }

    /// Counts a request dropped because the disk is behind; warns at most every
    /// ten seconds.
    pub(super) fn shed(&self, queued: usize) {
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
    pub(super) fn unanswered(&self, reason: &core::Reason) {
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
    /// one. `mac` is the client's, for its timeline.
    pub(super) fn decide(
        &self,
        socket: &Arc<PacketSocket>,
        rx: &Received,
        mac: [u8; 6],
        retry: Option<Retry>,
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
            Action::NoReply(reason) => (None, None, Said::NoReply { mac, reason }),
        };
        if changes.is_empty() {
            drop(leases);
            if let Some(reply) = reply {
                reply.send();
            }
        } else {
            let then: crate::leases::Then = match reply {
                Some(reply) => Box::new(move |stored| {
                    match stored {
                    Ok(()) => reply.send(),
                    // The cache is corrected by now: decide again.
                    Err(crate::leases::REFUSED) => match retry {
                        Some(retry) => retry(),
                        None => debug!("dhcp: refused by the lease database again; left to the client's retransmission"),
                    },
                    Err(err) => warn!(%err, "dhcp: lease not stored, so the reply is not sent"),
                }
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

    /// Each pool's dynamic range now: (subnet, addresses held, addresses free).
    pub fn pool_usage(&self) -> Vec<(String, u64, u64)> {
        let config = self.config.load();
        let leases = self.leases();
        let now = unix_now();
        config
            .pools
            .iter()
            .map(|pool| {
                let size = u64::from(u32::from(pool.last))
                    .saturating_sub(u64::from(u32::from(pool.first)))
                    + 1;
                let held = leases
                    .iter()
                    .filter(|l| pool.in_range(l.ip) && l.holds_address(now))
                    .count() as u64;
                (pool.subnet.to_string(), held, size.saturating_sub(held))
            })
            .collect()
    }

    /// A snapshot of the lease table.
    pub fn leases(&self) -> Vec<core::Lease> {
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases.iter().cloned().collect()
    }
}

/// Decides a request again (after a shared database refused its decision).
pub(super) type Retry = Box<dyn FnOnce() + Send>;

/// What a decision says in the log, written after the table lock is let go.
pub(super) enum Said {
    Reply {
        kind: Option<MessageType>,
        ip: Ipv4Addr,
        mac: Option<[u8; 6]>,
    },
    Nak {
        mac: Option<[u8; 6]>,
        reason: core::Reason,
    },
    NoReply {
        mac: [u8; 6],
        reason: core::Reason,
    },
    Nothing,
}

impl Said {
    pub(super) fn log(self, server: &DhcpServer) {
        let mac = |m: Option<[u8; 6]>| m.map(|m| format_mac(&m)).unwrap_or_default();
        self.record();
        match self {
            Said::Reply { kind, ip, mac: m } => {
                info!(mac = %mac(m), %ip, "dhcp: {} {ip} to {}", TypeName(kind), mac(m));
            }
            Said::Nak { mac: m, reason } => info!(mac = %mac(m), "dhcp: nak: {reason}"),
            Said::NoReply { reason, .. } => server.unanswered(&reason),
            Said::Nothing => {}
        }
    }
}

impl Said {
    /// The decision as an event of the client's timeline, and a lease granted.
    fn record(&self) {
        let events = crate::events::hub();
        match self {
            Said::Reply { kind, ip, mac } => {
                let Some(mac) = *mac else { return };
                let message = TypeName(*kind).to_string();
                let detail = format!("{ip}");
                events.dhcp_decision(Via::Server, mac, "owned", true, Ok((&message, &detail)));
                if *kind == Some(MessageType::Ack) {
                    events.lease(mac, LeaseChange::Granted, *ip);
                }
            }
            Said::Nak { mac, reason } => {
                let Some(mac) = *mac else { return };
                let reason = format!("nak: {reason}");
                events.dhcp_decision(Via::Server, mac, "owned", true, Err(&reason));
            }
            Said::NoReply { mac, reason } => {
                let record = *mac != [0; 6];
                events.dhcp_decision(Via::Server, *mac, "owned", record, Err(reason));
            }
            Said::Nothing => {}
        }
    }
}

/// A message type in lower case, for the log (formatted only if logged).
pub(super) struct TypeName(Option<MessageType>);

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
pub(super) struct Outgoing {
    pub(super) socket: Arc<PacketSocket>,
    pub(super) packet: DhcpPacket,
    pub(super) to: SocketAddrV4,
    pub(super) ifindex: u32,
    pub(super) local: Ipv4Addr,
}

impl Outgoing {
    pub(super) fn new(
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
    pub(super) fn send(self) {
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

#[cfg(test)]
mod tests;
