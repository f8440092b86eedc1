//! The full DHCP server, as pure decisions: given the configuration, the
//! lease table, one request and the time, say what to persist and what to
//! send. It answers only the machines it owns (boards whose firmware, like
//! U-Boot, drops every offer without an address), next to the LAN's own
//! DHCP server.
//!
//! # How the shell drives it
//!
//! The shell owns the [`Leases`] table and the store behind it, and handles
//! one event at a time:
//!
//! 1. A request arrives: call [`handle`] with the table (shared), the
//!    [`Arrival`] and the time in Unix seconds. Requests from clients the
//!    server does not own come back as [`Reason::NotOwned`]; the shell may
//!    then offer them to the proxy.
//! 2. Every [`Outcome`] carries `changes`: persist them in order, apply each
//!    to the table ([`Leases::apply`]), and only then perform the action. A
//!    reply is never sent for a lease the store does not hold; if persisting
//!    fails, send nothing.
//! 3. The action:
//!    - [`Action::Reply`] / [`Action::Nak`]: send the packet from the
//!      server address the request arrived on, to the destination;
//!    - [`Action::Probe`]: before an address is offered for the first time,
//!      check that no host uses it (ARP probe on the link, or ICMP echo
//!      through a relay), with a bounded wait, meanwhile handling other
//!      requests; then call [`probe_result`] with the same [`Probe`] and
//!      whether something answered. That gives another [`Outcome`], handled
//!      the same way: the offer, or (after recording the conflict) a probe
//!      of the next candidate. The shell may drop a probe for a (MAC,
//!      address) pair it is already probing: the answer would be the same;
//!    - [`Action::NoReply`]: send nothing; log the [`Reason`] (at warning
//!      level when [`Reason::needs_attention`] says so).
//!
//! Nothing here reads a clock or a socket: every test scripts time.
//!
//! # Rules (RFC 2131 sections 3 and 4.3)
//!
//! - **Who**: [`owns`] says whether the server answers a client at all: its
//!   MAC is listed or reserved, or its vendor class matches a pattern.
//!   DISCOVER, REQUEST and INFORM from anyone else get nothing. RELEASE and
//!   DECLINE, which only free addresses, act on the client's own record
//!   whoever sends them, and so does a REQUEST naming another server.
//! - **Which pool**: the one whose subnet holds `giaddr` when the request
//!   was relayed, else the one holding the address of the receiving
//!   interface ([`Arrival::local`], also the server identifier).
//! - **Which address** (DISCOVER, section 4.3.1), first that applies:
//!   1. the client's reservation on that subnet, never probed; if another
//!      client still holds it (the reservation is newer than the lease), no
//!      reply until that lease is NAKed or ends;
//!   2. the client's live offer or lease, again, without a probe (a
//!      retransmitted DISCOVER gets the same answer and no second address);
//!   3. the address the client had last (released or expired), if free;
//!   4. the address it asks for in option 50, if free;
//!   5. the lowest free address of the range that never had a record, else
//!      the free address released or expired longest ago.
//!
//!   "Free" means in the range, not reserved for anyone, not the server's
//!   or router's own address, and without a live offer or lease or a held
//!   decline. Cases 3 to 5 are probed first when
//!   [`ServerConfig::probe_new_addresses`] is set (the shell has a way to
//!   check), else offered at once. Both searches of case 5 cost O(log n) in
//!   the number of records ([`Leases::first_unrecorded`],
//!   [`Leases::ended_longest_ago`]). No free address: no reply,
//!   [`Reason::PoolExhausted`].
//! - **REQUEST** (section 4.3.2), by the client's state:
//!   - SELECTING (option 54 set): naming another server, the client took
//!     another offer: ours is released, no reply. Naming us, the address
//!     requested (option 50, else `ciaddr`) is ACKed if it is still the
//!     client's offer or lease, otherwise NAKed.
//!   - INIT-REBOOT (no option 54, `ciaddr` zero, option 50 set),
//!     RENEWING (unicast, `ciaddr` set) and REBINDING (broadcast, `ciaddr`
//!     set) are judged alike on the address (option 50 or `ciaddr`): ACK if
//!     it is the client's reservation or its record and still in the range;
//!     NAK if the client's reservation is another address (a reservation
//!     that moved), the address is reserved for another client, or it lies
//!     in our range or belongs to a client we know; silence if it is outside
//!     the pool's subnet, or outside our range from a client we have no
//!     record of: the LAN's own server may have handed it out, and RFC 2131
//!     tells a server without a record to stay silent.
//!   - Every ACK binds (or extends) the lease for the pool's lease time from
//!     now; every NAK drops the client's record of the refused address.
//! - **DECLINE** (option 50; option 54, if present, must be us): the
//!   client's address is held out for `decline_hold_secs`, then returns to
//!   the pool. A probe that finds a host on a candidate does the same, with
//!   the MAC zeroed ([`Lease::is_conflict`]: worth a warning in the log).
//! - **RELEASE** (`ciaddr`): the client's lease becomes
//!   [`LeaseState::Released`]: free, remembered as its last address.
//! - **INFORM**: an ACK with the parameters and boot options, `yiaddr`
//!   zero and no lease times (section 4.3.5).
//! - **Expiry** needs no event: an offer (after `offer_hold_secs`) or a
//!   lease past its end, or a decline past its hold, is free again for
//!   everyone; the record stays as memory of the last client.
//! - **Never twice**: no address is offered or ACKed to a client while
//!   another client's offer, lease or decline holds it.
//!
//! A client is its MAC: option 61 is recorded and echoed (RFC 6842) but
//! not used to match leases, since reservations and ownership are by MAC.
//! Lease times in replies are always the pool's; option 51 in requests is
//! not honoured. Reply contents and destinations are in [`reply`].

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;

use crate::client::format_mac;
use crate::proxy::Destination;
use crate::wire::dhcp::{code, DhcpPacket, MessageType, BOOTREQUEST};

mod config;
mod lease;
pub mod reply;

pub use config::{
    glob_match, owns, BootOptions, ConfigError, Field, Ownership, Pool, Reservation, ReservedBoot,
    ServerConfig, Subnet,
};
pub use lease::{Lease, LeaseChange, LeaseState, Leases};
pub use reply::reply_destination;

use reply::Params;

/// Where a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arrival {
    /// The address of the receiving interface (from `IP_PKTINFO`): the
    /// server identifier in replies, the source address to send them from,
    /// and how the pool of an unrelayed request is chosen.
    pub local: Ipv4Addr,
}

/// What to do after a request or a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an outcome holds lease changes to persist and a reply to send"]
pub struct Outcome {
    /// Persist these in order, then apply them to the table, before the
    /// action.
    pub changes: Vec<LeaseChange>,
    /// Then do this.
    pub action: Action,
}

/// The one thing to do once the changes are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this OFFER or ACK.
    Reply {
        /// The reply.
        packet: DhcpPacket,
        /// Where it goes.
        dest: Destination,
    },
    /// Send this NAK.
    Nak {
        /// The NAK; its option 56 holds `reason` as text.
        packet: DhcpPacket,
        /// Where it goes (broadcast, or the relay).
        dest: Destination,
        /// Why, for the log.
        reason: Reason,
    },
    /// Check whether a host answers at `probe.ip`, then call
    /// [`probe_result`].
    Probe(Probe),
    /// Send nothing.
    NoReply(Reason),
}

/// An address to check before it is offered, with what is needed to resume
/// the DISCOVER afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The candidate address.
    pub ip: Ipv4Addr,
    /// The client it would be offered to.
    pub mac: [u8; 6],
    /// Where the DISCOVER came in.
    pub arrival: Arrival,
    /// The DISCOVER being answered.
    pub request: DhcpPacket,
}

/// Why nothing, or a NAK, was sent; each reads as one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A BOOTREPLY: another server's answer, not a request.
    NotRequest,
    /// No option 53: plain BOOTP, which this server does not serve.
    Bootp,
    /// The request lacks something its type requires.
    Malformed(&'static str),
    /// A message type a server does not receive (OFFER, ACK, NAK, unknown).
    UnexpectedType(MessageType),
    /// The client is not one the server owns.
    NotOwned,
    /// No pool's subnet holds the relay address or the receiving
    /// interface's address.
    NoPool {
        /// `giaddr`, or the receiving interface's address.
        via: Ipv4Addr,
    },
    /// Every address of the pool is offered, leased, reserved or held.
    PoolExhausted {
        /// The pool's subnet.
        subnet: Subnet,
    },
    /// The client's reserved address is still another client's.
    ReservedAddressInUse {
        /// The reserved address.
        ip: Ipv4Addr,
        /// The client holding it.
        holder: [u8; 6],
    },
    /// The message names another server and nothing of ours is affected.
    OtherServer {
        /// Option 54 of the message.
        server: Ipv4Addr,
    },
    /// The client took another server's offer; ours was released.
    OfferWithdrawn {
        /// The address we had offered.
        ip: Ipv4Addr,
        /// The server it chose.
        server: Ipv4Addr,
    },
    /// The client released its lease.
    Released {
        /// The address, free again.
        ip: Ipv4Addr,
    },
    /// The client found its address in use and declined it.
    Declined {
        /// The address, held out of the pool.
        ip: Ipv4Addr,
    },
    /// RELEASE or DECLINE of an address that is not this client's.
    NoLease {
        /// The address named.
        ip: Ipv4Addr,
    },
    /// The address requested lies outside the subnet the client is on.
    WrongSubnet {
        /// The address requested.
        ip: Ipv4Addr,
        /// The client's subnet, by relay or interface.
        subnet: Subnet,
    },
    /// An address outside our range, from a client we have no record of:
    /// left to the LAN's own server.
    UnknownClient {
        /// The address requested.
        ip: Ipv4Addr,
    },
    /// The client's reservation is another address.
    ReservationMoved {
        /// The address requested.
        ip: Ipv4Addr,
        /// The reservation now.
        reserved: Ipv4Addr,
    },
    /// The address is reserved for another client.
    ReservedForOther {
        /// The address requested.
        ip: Ipv4Addr,
    },
    /// The client's record, but the range no longer includes it.
    NotInRange {
        /// The address requested.
        ip: Ipv4Addr,
    },
    /// Not the client's offer or lease.
    NotYourAddress {
        /// The address requested.
        ip: Ipv4Addr,
    },
}

impl Reason {
    /// Whether the operator should hear of it (a warning rather than a
    /// debug line): the pool is full, a reservation is blocked, a subnet
    /// has no pool, or a client found its address in use.
    pub fn needs_attention(&self) -> bool {
        matches!(
            self,
            Reason::PoolExhausted { .. }
                | Reason::ReservedAddressInUse { .. }
                | Reason::NoPool { .. }
                | Reason::Declined { .. }
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotRequest => write!(f, "not a request (BOOTREPLY)"),
            Reason::Bootp => write!(f, "plain BOOTP request, no DHCP message type"),
            Reason::Malformed(what) => write!(f, "malformed request: {what}"),
            Reason::UnexpectedType(kind) => {
                write!(f, "message type {} is not sent to servers", kind.code())
            }
            Reason::NotOwned => write!(f, "client not owned by this server"),
            Reason::NoPool { via } => write!(f, "no pool for the subnet of {via}"),
            Reason::PoolExhausted { subnet } => write!(f, "pool {subnet} exhausted"),
            Reason::ReservedAddressInUse { ip, holder } => write!(
                f,
                "reserved address {ip} still held by {}",
                format_mac(holder)
            ),
            Reason::OtherServer { server } => write!(f, "addressed to server {server}"),
            Reason::OfferWithdrawn { ip, server } => {
                write!(f, "client chose server {server}; offer of {ip} withdrawn")
            }
            Reason::Released { ip } => write!(f, "released {ip}"),
            Reason::Declined { ip } => write!(f, "client declined {ip}: address in use"),
            Reason::NoLease { ip } => write!(f, "{ip} is not this client's lease"),
            Reason::WrongSubnet { ip, subnet } => write!(f, "{ip} is not on subnet {subnet}"),
            Reason::UnknownClient { ip } => {
                write!(f, "{ip} is outside our range and the client is unknown")
            }
            Reason::ReservationMoved { ip, reserved } => {
                write!(f, "{ip} refused: the client's reservation is {reserved}")
            }
            Reason::ReservedForOther { ip } => write!(f, "{ip} is reserved for another client"),
            Reason::NotInRange { ip } => write!(f, "{ip} is no longer in the range"),
            Reason::NotYourAddress { ip } => write!(f, "{ip} is not this client's address"),
        }
    }
}

/// Decides what to do with `request`, received as `arrival` says, at `now`
/// (Unix seconds). See the module documentation for the rules and for what
/// the shell does with the [`Outcome`].
pub fn handle(
    config: &ServerConfig,
    leases: &Leases,
    arrival: &Arrival,
    request: &DhcpPacket,
    now: u64,
) -> Outcome {
    let server = match Server::new(config, leases, arrival, request, now) {
        Ok(server) => server,
        Err(reason) => return Outcome::silent(reason),
    };
    match server.kind {
        MessageType::Discover => server.discover(Probed::Nothing),
        MessageType::Request => server.request(),
        MessageType::Decline => server.decline(),
        MessageType::Release => server.release(),
        MessageType::Inform => server.inform(),
        other => Outcome::silent(Reason::UnexpectedType(other)),
    }
}

/// Resumes the DISCOVER of `probe` once the shell knows whether a host
/// answered at `probe.ip`. The table may have changed in between: the
/// choice is made again, so the answer is an offer of the probed address
/// only if it is still the client's best free candidate; otherwise another
/// probe (or no reply). An address found in use is recorded as a conflict,
/// unless a client holds it by now.
pub fn probe_result(
    config: &ServerConfig,
    leases: &Leases,
    probe: &Probe,
    in_use: bool,
    now: u64,
) -> Outcome {
    let server = match Server::new(config, leases, &probe.arrival, &probe.request, now) {
        Ok(server) => server,
        Err(reason) => return Outcome::silent(reason),
    };
    let probed = if in_use {
        Probed::InUse(probe.ip)
    } else {
        Probed::Clear(probe.ip)
    };
    server.discover(probed)
}

impl Outcome {
    fn silent(reason: Reason) -> Outcome {
        Outcome {
            changes: Vec::new(),
            action: Action::NoReply(reason),
        }
    }
}

/// What a probe found, when a DISCOVER resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probed {
    /// No probe yet.
    Nothing,
    /// Nobody answered at this address.
    Clear(Ipv4Addr),
    /// A host answered at this address.
    InUse(Ipv4Addr),
}

/// How a REQUEST for an address is judged.
enum Verdict {
    Ack,
    Nak(Reason),
    Silent(Reason),
}

/// One request being decided: the inputs, and what is known of the client.
struct Server<'a> {
    config: &'a ServerConfig,
    leases: &'a Leases,
    arrival: &'a Arrival,
    request: &'a DhcpPacket,
    now: u64,
    kind: MessageType,
    mac: [u8; 6],
}

impl<'a> Server<'a> {
    fn new(
        config: &'a ServerConfig,
        leases: &'a Leases,
        arrival: &'a Arrival,
        request: &'a DhcpPacket,
        now: u64,
    ) -> Result<Server<'a>, Reason> {
        if request.op != BOOTREQUEST {
            return Err(Reason::NotRequest);
        }
        let mac = request
            .mac()
            .ok_or(Reason::Malformed("no Ethernet hardware address"))?;
        let kind = request.message_type().ok_or(Reason::Bootp)?;
        Ok(Server {
            config,
            leases,
            arrival,
            request,
            now,
            kind,
            mac,
        })
    }

    fn owned(&self) -> bool {
        owns(self.config, self.request)
    }

    /// The pool of the client's subnet: by relay, else by interface.
    fn pool(&self) -> Result<&'a Pool, Reason> {
        let via = if self.request.giaddr.is_unspecified() {
            self.arrival.local
        } else {
            self.request.giaddr
        };
        self.config.pool_for(via).ok_or(Reason::NoPool { via })
    }

    /// The client's reservation, if it lies on `pool`'s subnet.
    fn reservation(&self, pool: &Pool) -> Option<&'a Reservation> {
        self.config
            .reservation_of(self.mac)
            .filter(|r| pool.subnet.contains(r.ip))
    }

    /// The client's record (not a declined one).
    fn current(&self) -> Option<&'a Lease> {
        self.leases.get_by_mac(self.mac)
    }

    fn params(&self, pool: &'a Pool) -> Params<'a> {
        let reservation = self.reservation(pool);
        let server = self.arrival.local;
        let http_client = self
            .request
            .vendor_class()
            .is_some_and(|class| class.starts_with("HTTPClient"));
        let (boot, http_client) = match reservation.and_then(|r| r.boot.as_ref()) {
            None => (Cow::Borrowed(&self.config.boot), false),
            Some(own) => {
                let file = match (&own.http, http_client) {
                    (Some((80, path)), true) => format!("http://{server}/{path}"),
                    (Some((port, path)), true) => format!("http://{server}:{port}/{path}"),
                    _ => own.tftp_file.clone(),
                };
                let boot = BootOptions {
                    file: Some(file.clone()),
                    bootfile: Some(file),
                    pxelinux_config: None,
                    ..self.config.boot.clone()
                };
                (Cow::Owned(boot), http_client && own.http.is_some())
            }
        };
        Params {
            server,
            pool,
            boot,
            http_client,
            hostname: reservation.and_then(|r| r.hostname.as_deref()),
        }
    }

    /// A record of `ip` for this client.
    fn lease(&self, pool: &Pool, ip: Ipv4Addr, state: LeaseState, ends: u64) -> Lease {
        let hostname = match self.reservation(pool).and_then(|r| r.hostname.clone()) {
            Some(reserved) => Some(reserved),
            None => self
                .request
                .option(code::HOST_NAME)
                .map(|name| String::from_utf8_lossy(&name).into_owned()),
        };
        Lease {
            ip,
            mac: self.mac,
            client_id: self
                .request
                .option(code::CLIENT_ID)
                .map(|id| id.into_owned()),
            hostname,
            state,
            starts: self.now,
            ends,
        }
    }

    fn reply(&self, packet: DhcpPacket, changes: Vec<LeaseChange>) -> Outcome {
        let dest = reply_destination(self.request, &packet);
        Outcome {
            changes,
            action: Action::Reply { packet, dest },
        }
    }

    // ---- DISCOVER ----

    fn discover(&self, probed: Probed) -> Outcome {
        if !self.owned() {
            return Outcome::silent(Reason::NotOwned);
        }
        let pool = match self.pool() {
            Ok(pool) => pool,
            Err(reason) => return Outcome::silent(reason),
        };
        let mut changes = Vec::new();
        let mut excluded = None;
        if let Probed::InUse(ip) = probed {
            // A conflict only while the address is still free. If a client
            // holds it by now (a late answer to a duplicate probe, the host
            // answering being that client), the result is stale and the
            // choice is made as for a fresh DISCOVER.
            let free = !matches!(self.leases.get_by_ip(ip), Some(l) if l.holds_address(self.now));
            if free {
                excluded = Some(ip);
                changes.push(LeaseChange::Upsert(Lease {
                    ip,
                    mac: [0; 6],
                    client_id: None,
                    hostname: None,
                    state: LeaseState::Declined,
                    starts: self.now,
                    ends: self.now.saturating_add(self.config.decline_hold_secs),
                }));
            }
        }

        let (ip, probe) = match self.choose(pool, excluded) {
            Ok(choice) => choice,
            Err(reason) => {
                return Outcome {
                    changes,
                    action: Action::NoReply(reason),
                }
            }
        };
        if probe && self.config.probe_new_addresses && probed != Probed::Clear(ip) {
            return Outcome {
                changes,
                action: Action::Probe(Probe {
                    ip,
                    mac: self.mac,
                    arrival: *self.arrival,
                    request: self.request.clone(),
                }),
            };
        }

        // One record per client: its old one goes, unless the conflict just
        // recorded has replaced it.
        let current = self.current();
        if let Some(old) = current.filter(|l| l.ip != ip && Some(l.ip) != excluded) {
            changes.push(LeaseChange::Remove(old.ip));
        }
        let same = current.filter(|l| l.ip == ip && l.is_live(self.now));
        match same {
            // A live lease is offered as it stands; turning it into an offer
            // would shorten it.
            Some(lease) if lease.state == LeaseState::Bound => {}
            _ => {
                let hold = self.now.saturating_add(self.config.offer_hold_secs);
                let ends = same.map_or(hold, |offer| offer.ends.max(hold));
                changes.push(LeaseChange::Upsert(self.lease(
                    pool,
                    ip,
                    LeaseState::Offered,
                    ends,
                )));
            }
        }
        let packet = reply::offer(self.request, ip, &self.params(pool));
        self.reply(packet, changes)
    }

    /// The address to offer, and whether it must be probed first.
    fn choose(&self, pool: &Pool, excluded: Option<Ipv4Addr>) -> Result<(Ipv4Addr, bool), Reason> {
        if let Some(reservation) = self.reservation(pool) {
            let ip = reservation.ip;
            if let Some(holder) = self.holder(ip) {
                return Err(Reason::ReservedAddressInUse { ip, holder });
            }
            return Ok((ip, false));
        }
        let usable = |ip: Ipv4Addr| Some(ip) != excluded && self.usable(pool, ip);
        let current = self.current();
        if let Some(lease) = current.filter(|l| l.is_live(self.now) && usable(l.ip)) {
            return Ok((lease.ip, false));
        }
        if let Some(lease) = current.filter(|l| usable(l.ip)) {
            return Ok((lease.ip, true));
        }
        if let Some(ip) = self.request.requested_ip().filter(|&ip| usable(ip)) {
            return Ok((ip, true));
        }
        // Never used first, lowest address first; then the free record
        // that ended longest ago, so that recent clients find theirs again.
        if let Some(ip) = self.leases.first_unrecorded(pool.first, pool.last, usable) {
            return Ok((ip, true));
        }
        self.leases
            .ended_longest_ago(pool.first, pool.last, self.now, |lease| usable(lease.ip))
            .map(|lease| (lease.ip, true))
            .ok_or(Reason::PoolExhausted {
                subnet: pool.subnet,
            })
    }

    /// Another client whose offer, lease or decline holds `ip` now.
    fn holder(&self, ip: Ipv4Addr) -> Option<[u8; 6]> {
        self.leases
            .get_by_ip(ip)
            .filter(|l| !l.belongs_to(self.mac) && l.holds_address(self.now))
            .map(|l| l.mac)
    }

    /// Whether `ip` may be given to this client dynamically: in the range,
    /// nobody's reservation, not a server or router address, and not held
    /// by another client (the client's own record is fine).
    fn usable(&self, pool: &Pool, ip: Ipv4Addr) -> bool {
        pool.in_range(ip)
            && !pool.subnet.is_network_or_broadcast(ip)
            && ip != self.arrival.local
            && Some(ip) != pool.router
            && Some(ip) != self.config.boot.siaddr
            && self.config.reservation_at(ip).is_none()
            && self.holder(ip).is_none()
    }

    // ---- REQUEST ----

    fn request(&self) -> Outcome {
        if let Some(server) = self.request.server_id() {
            if server != self.arrival.local {
                return self.withdraw(server);
            }
            if !self.owned() {
                return Outcome::silent(Reason::NotOwned);
            }
            let Some(ip) = self.request.requested_ip().or(nonzero(self.request.ciaddr)) else {
                return Outcome::silent(Reason::Malformed("REQUEST names no address"));
            };
            return match self.judge(ip) {
                Ok(Verdict::Ack) => self.ack(ip),
                Ok(Verdict::Nak(reason) | Verdict::Silent(reason)) => self.nak(ip, reason),
                Err(reason) => Outcome::silent(reason),
            };
        }
        if !self.owned() {
            return Outcome::silent(Reason::NotOwned);
        }
        let Some(ip) = nonzero(self.request.ciaddr).or(self.request.requested_ip()) else {
            return Outcome::silent(Reason::Malformed("REQUEST names no address"));
        };
        match self.judge(ip) {
            Ok(Verdict::Ack) => self.ack(ip),
            Ok(Verdict::Nak(reason)) => self.nak(ip, reason),
            Ok(Verdict::Silent(reason)) | Err(reason) => Outcome::silent(reason),
        }
    }

    /// A REQUEST naming another server: the client, selecting, took that
    /// server's offer; release ours (or the lease it no longer uses).
    fn withdraw(&self, server: Ipv4Addr) -> Outcome {
        let Some(offer) = self
            .current()
            .filter(|l| matches!(l.state, LeaseState::Offered | LeaseState::Bound))
        else {
            return Outcome::silent(Reason::OtherServer { server });
        };
        let released = Lease {
            state: LeaseState::Released,
            ends: self.now,
            ..offer.clone()
        };
        Outcome {
            changes: vec![LeaseChange::Upsert(released)],
            action: Action::NoReply(Reason::OfferWithdrawn {
                ip: offer.ip,
                server,
            }),
        }
    }

    /// Whether the client may have `ip` (see the module documentation).
    fn judge(&self, ip: Ipv4Addr) -> Result<Verdict, Reason> {
        let pool = self.pool()?;
        if !pool.subnet.contains(ip) {
            return Ok(Verdict::Silent(Reason::WrongSubnet {
                ip,
                subnet: pool.subnet,
            }));
        }
        if let Some(reservation) = self.reservation(pool) {
            if reservation.ip != ip {
                return Ok(Verdict::Nak(Reason::ReservationMoved {
                    ip,
                    reserved: reservation.ip,
                }));
            }
            return Ok(match self.holder(ip) {
                Some(holder) => Verdict::Silent(Reason::ReservedAddressInUse { ip, holder }),
                None => Verdict::Ack,
            });
        }
        if self.config.reservation_at(ip).is_some() {
            return Ok(Verdict::Nak(Reason::ReservedForOther { ip }));
        }
        let mine = self
            .leases
            .get_by_ip(ip)
            .is_some_and(|l| l.belongs_to(self.mac));
        if mine {
            return Ok(if self.usable(pool, ip) {
                Verdict::Ack
            } else {
                Verdict::Nak(Reason::NotInRange { ip })
            });
        }
        if self.current().is_some() || pool.in_range(ip) {
            return Ok(Verdict::Nak(Reason::NotYourAddress { ip }));
        }
        Ok(Verdict::Silent(Reason::UnknownClient { ip }))
    }

    fn ack(&self, ip: Ipv4Addr) -> Outcome {
        let pool = match self.pool() {
            Ok(pool) => pool,
            Err(reason) => return Outcome::silent(reason),
        };
        let mut changes = Vec::new();
        if let Some(old) = self.current().filter(|l| l.ip != ip) {
            changes.push(LeaseChange::Remove(old.ip));
        }
        let ends = self.now.saturating_add(u64::from(pool.lease_secs));
        changes.push(LeaseChange::Upsert(self.lease(
            pool,
            ip,
            LeaseState::Bound,
            ends,
        )));
        let packet = reply::ack(self.request, ip, &self.params(pool));
        self.reply(packet, changes)
    }

    fn nak(&self, ip: Ipv4Addr, reason: Reason) -> Outcome {
        let mut changes = Vec::new();
        let mine = self
            .leases
            .get_by_ip(ip)
            .is_some_and(|l| l.belongs_to(self.mac));
        if mine {
            changes.push(LeaseChange::Remove(ip));
        }
        let packet = reply::nak(self.request, self.arrival.local, &reason.to_string());
        let dest = reply_destination(self.request, &packet);
        Outcome {
            changes,
            action: Action::Nak {
                packet,
                dest,
                reason,
            },
        }
    }

    // ---- DECLINE, RELEASE, INFORM ----

    fn decline(&self) -> Outcome {
        if let Some(server) = self.request.server_id() {
            if server != self.arrival.local {
                return Outcome::silent(Reason::OtherServer { server });
            }
        }
        let Some(ip) = self.request.requested_ip() else {
            return Outcome::silent(Reason::Malformed("DECLINE names no address (option 50)"));
        };
        let Some(lease) = self.leases.get_by_ip(ip).filter(|l| l.belongs_to(self.mac)) else {
            return Outcome::silent(Reason::NoLease { ip });
        };
        let declined = Lease {
            state: LeaseState::Declined,
            starts: self.now,
            ends: self.now.saturating_add(self.config.decline_hold_secs),
            ..lease.clone()
        };
        Outcome {
            changes: vec![LeaseChange::Upsert(declined)],
            action: Action::NoReply(Reason::Declined { ip }),
        }
    }

    fn release(&self) -> Outcome {
        if let Some(server) = self.request.server_id() {
            if server != self.arrival.local {
                return Outcome::silent(Reason::OtherServer { server });
            }
        }
        let ip = self.request.ciaddr;
        if ip.is_unspecified() {
            return Outcome::silent(Reason::Malformed("RELEASE without ciaddr"));
        }
        let Some(lease) = self
            .leases
            .get_by_ip(ip)
            .filter(|l| l.belongs_to(self.mac) && l.state != LeaseState::Released)
        else {
            return Outcome::silent(Reason::NoLease { ip });
        };
        let released = Lease {
            state: LeaseState::Released,
            ends: self.now,
            ..lease.clone()
        };
        Outcome {
            changes: vec![LeaseChange::Upsert(released)],
            action: Action::NoReply(Reason::Released { ip }),
        }
    }

    fn inform(&self) -> Outcome {
        if !self.owned() {
            return Outcome::silent(Reason::NotOwned);
        }
        let pool = match self.pool() {
            Ok(pool) => pool,
            Err(reason) => return Outcome::silent(reason),
        };
        let ip = self.request.ciaddr;
        if ip.is_unspecified() {
            return Outcome::silent(Reason::Malformed("INFORM without ciaddr"));
        }
        if !pool.subnet.contains(ip) {
            return Outcome::silent(Reason::WrongSubnet {
                ip,
                subnet: pool.subnet,
            });
        }
        let packet = reply::inform_ack(self.request, &self.params(pool));
        self.reply(packet, Vec::new())
    }
}

fn nonzero(ip: Ipv4Addr) -> Option<Ipv4Addr> {
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests;
