//! The lease table: one record per address, found by address or by MAC,
//! changed only through [`LeaseChange`]s that the shell persists first.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// Where an address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseState {
    /// Offered to the client, kept for it for the offer hold.
    Offered,
    /// Acknowledged: the client uses the address until `ends`.
    Bound,
    /// Given back by the client (RELEASE). The address is free; the record
    /// remembers whose it was, so that client gets it again first.
    Released,
    /// Out of use until `ends`: a client DECLINEd it (its MAC is kept for
    /// the log), or a probe found another host on it (MAC all zeros).
    Declined,
}

/// One address's record. Times are Unix seconds, chosen by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// The client's Ethernet address; zeros for a conflict found by a probe.
    pub mac: [u8; 6],
    /// Option 61 of the client's last message, recorded, not used to match.
    pub client_id: Option<Vec<u8>>,
    /// The reserved host name, else the one the client sent (option 12).
    pub hostname: Option<String>,
    /// Offered, bound, released or declined.
    pub state: LeaseState,
    /// When the record was written.
    pub starts: u64,
    /// When an offer or binding expires, or a declined address comes back;
    /// the record counts until this second, exclusive.
    pub ends: u64,
}

impl Lease {
    /// Offered or bound and not expired at `now`: the address is the
    /// client's.
    pub fn is_live(&self, now: u64) -> bool {
        matches!(self.state, LeaseState::Offered | LeaseState::Bound) && now < self.ends
    }

    /// Whether no one may be given the address at `now`, except the client
    /// of a live lease itself: live, or declined and still held out.
    pub fn holds_address(&self, now: u64) -> bool {
        self.is_live(now) || (self.state == LeaseState::Declined && now < self.ends)
    }

    /// Whether this is a conflict found by a probe: declined, MAC all zeros.
    pub fn is_conflict(&self) -> bool {
        self.state == LeaseState::Declined && self.mac == [0; 6]
    }

    /// Whether this record belongs to client `mac` and can be its address
    /// again (any state but declined).
    pub fn belongs_to(&self, mac: [u8; 6]) -> bool {
        self.mac == mac && self.state != LeaseState::Declined
    }
}

/// A change to the lease table. The shell persists every change of an
/// outcome, in order, before it sends the reply that depends on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LeaseChange {
    /// Write this record, replacing whatever record its address had.
    Upsert(Lease),
    /// Delete the record of this address.
    Remove(Ipv4Addr),
}

/// The leases in memory: at most one record per address, and at most one
/// record per MAC that is not [`LeaseState::Declined`] (the index by MAC
/// leaves declined records out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leases {
    by_ip: BTreeMap<Ipv4Addr, Lease>,
    by_mac: HashMap<[u8; 6], Ipv4Addr>,
}

impl Leases {
    /// An empty table.
    pub fn new() -> Leases {
        Leases::default()
    }

    /// The table holding `leases`, as loaded from storage. A later record
    /// for the same address replaces an earlier one; when two records of
    /// one MAC survive, the index by MAC keeps the one that started last.
    pub fn load(leases: impl IntoIterator<Item = Lease>) -> Leases {
        let mut by_ip = BTreeMap::new();
        for lease in leases {
            by_ip.insert(lease.ip, lease);
        }
        let mut by_mac: HashMap<[u8; 6], Ipv4Addr> = HashMap::new();
        for lease in by_ip.values().filter(|l| l.state != LeaseState::Declined) {
            // `is_none_or` would need Rust 1.82; the workspace says 1.80.
            let newer = match by_mac.get(&lease.mac) {
                Some(ip) => by_ip[ip].starts <= lease.starts,
                None => true,
            };
            if newer {
                by_mac.insert(lease.mac, lease.ip);
            }
        }
        Leases { by_ip, by_mac }
    }

    /// Applies one change, as the shell does after persisting it. The
    /// server's changes keep one record per MAC (they remove a client's old
    /// record before writing its new one); an upsert that breaks this only
    /// moves the index by MAC to the new record.
    pub fn apply(&mut self, change: &LeaseChange) {
        match change {
            LeaseChange::Upsert(lease) => {
                self.remove(lease.ip);
                if lease.state != LeaseState::Declined {
                    self.by_mac.insert(lease.mac, lease.ip);
                }
                self.by_ip.insert(lease.ip, lease.clone());
            }
            LeaseChange::Remove(ip) => self.remove(*ip),
        }
    }

    /// The lowest address in `first..=last` that has no record and passes `ok`,
    /// stepping over recorded addresses through the ordered index instead of
    /// looking each one up.
    pub fn first_unrecorded(
        &self,
        first: Ipv4Addr,
        last: Ipv4Addr,
        mut ok: impl FnMut(Ipv4Addr) -> bool,
    ) -> Option<Ipv4Addr> {
        let (mut ip, last) = (u32::from(first), u32::from(last));
        let mut recorded = self
            .by_ip
            .range(first..=Ipv4Addr::from(last))
            .map(|(a, _)| u32::from(*a))
            .peekable();
        while ip <= last {
            while recorded.next_if(|&r| r < ip).is_some() {}
            if recorded.peek() == Some(&ip) {
                recorded.next();
            } else if ok(Ipv4Addr::from(ip)) {
                return Some(Ipv4Addr::from(ip));
            }
            ip = ip.checked_add(1)?;
        }
        None
    }

    /// The record of address `ip`.
    pub fn get_by_ip(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.by_ip.get(&ip)
    }

    /// The record of client `mac` that is not declined: its offer or lease,
    /// or the address it had last.
    pub fn get_by_mac(&self, mac: [u8; 6]) -> Option<&Lease> {
        self.by_mac.get(&mac).and_then(|ip| self.by_ip.get(ip))
    }

    /// Every record, by ascending address.
    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_ip.values()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether there is no record.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    fn remove(&mut self, ip: Ipv4Addr) {
        if let Some(old) = self.by_ip.remove(&ip) {
            if self.by_mac.get(&old.mac) == Some(&ip) {
                self.by_mac.remove(&old.mac);
            }
        }
    }
}

impl FromIterator<Lease> for Leases {
    fn from_iter<I: IntoIterator<Item = Lease>>(leases: I) -> Leases {
        Leases::load(leases)
    }
}
