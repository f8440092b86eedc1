//! The lease table: one record per address, found by address or by MAC,
//! changed only through [`LeaseChange`]s that the shell persists first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
///
/// Two more indexes keep the address search of a DISCOVER at O(log n) however
/// many records there are: the runs of addresses that have no record
/// ([`Leases::first_unrecorded`]), and every record by its end time
/// ([`Leases::ended_longest_ago`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leases {
    by_ip: BTreeMap<Ipv4Addr, Lease>,
    by_mac: HashMap<[u8; 6], Ipv4Addr>,
    /// Maximal runs of addresses without a record: first -> last, inclusive.
    unrecorded: BTreeMap<u32, u32>,
    /// (ends, address) of every record.
    by_end: BTreeSet<(u64, u32)>,
}

impl Default for Leases {
    fn default() -> Leases {
        Leases {
            by_ip: BTreeMap::new(),
            by_mac: HashMap::new(),
            unrecorded: BTreeMap::from([(0, u32::MAX)]),
            by_end: BTreeSet::new(),
        }
    }
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
        let mut table = Leases::new();
        for lease in by_ip.values() {
            table.index(lease);
        }
        for lease in by_ip.values().filter(|l| l.state != LeaseState::Declined) {
            // `is_none_or` would need Rust 1.82; the workspace says 1.80.
            let newer = match table.by_mac.get(&lease.mac) {
                Some(ip) => by_ip[ip].starts <= lease.starts,
                None => true,
            };
            if newer {
                table.by_mac.insert(lease.mac, lease.ip);
            }
        }
        table.by_ip = by_ip;
        table
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
                self.index(lease);
                self.by_ip.insert(lease.ip, lease.clone());
            }
            LeaseChange::Remove(ip) => self.remove(*ip),
        }
    }

    /// The lowest address in `first..=last` that has no record and passes `ok`.
    /// Runs of recorded addresses are stepped over whole, so the cost does not
    /// grow with the number of records, only with the addresses `ok` refuses.
    pub fn first_unrecorded(
        &self,
        first: Ipv4Addr,
        last: Ipv4Addr,
        mut ok: impl FnMut(Ipv4Addr) -> bool,
    ) -> Option<Ipv4Addr> {
        let (mut from, last) = (u32::from(first), u32::from(last));
        while from <= last {
            // The run holding `from`, else the next one after it.
            let (start, end) = match self.unrecorded.range(..=from).next_back() {
                Some((_, &end)) if end >= from => (from, end),
                _ => {
                    let (&start, &end) = self.unrecorded.range(from..).next()?;
                    (start, end)
                }
            };
            if start > last {
                return None;
            }
            let stop = end.min(last);
            if let Some(ip) = (start..=stop).map(Ipv4Addr::from).find(|&ip| ok(ip)) {
                return Some(ip);
            }
            from = stop.checked_add(1)?;
        }
        None
    }

    /// Among the records of `first..=last` whose time ended by `now`, the
    /// first by end time that passes `ok`: the free address whose last
    /// client has been gone the longest. Records still running at `now` are
    /// not looked at (a release stamped in the future by a clock stepped
    /// back counts from its stamp on).
    pub fn ended_longest_ago(
        &self,
        first: Ipv4Addr,
        last: Ipv4Addr,
        now: u64,
        mut ok: impl FnMut(&Lease) -> bool,
    ) -> Option<&Lease> {
        let range = u32::from(first)..=u32::from(last);
        self.by_end
            .range(..=(now, u32::MAX))
            .filter(|(_, ip)| range.contains(ip))
            .filter_map(|(_, ip)| self.by_ip.get(&Ipv4Addr::from(*ip)))
            .find(|lease| ok(lease))
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

    /// Adds a new record of an address that had none to the two indexes.
    fn index(&mut self, lease: &Lease) {
        let at = u32::from(lease.ip);
        self.by_end.insert((lease.ends, at));
        let Some((&start, &end)) = self.unrecorded.range(..=at).next_back() else {
            return;
        };
        if end < at {
            return; // already recorded (a duplicate in `load`)
        }
        self.unrecorded.remove(&start);
        if start < at {
            self.unrecorded.insert(start, at - 1);
        }
        if at < end {
            self.unrecorded.insert(at + 1, end);
        }
    }

    fn remove(&mut self, ip: Ipv4Addr) {
        let Some(old) = self.by_ip.remove(&ip) else {
            return;
        };
        if self.by_mac.get(&old.mac) == Some(&ip) {
            self.by_mac.remove(&old.mac);
        }
        let at = u32::from(ip);
        self.by_end.remove(&(old.ends, at));
        // The address joins the runs on either side of it.
        let mut start = at;
        let mut end = at;
        if let Some(before) = at.checked_sub(1) {
            if let Some((&s, &e)) = self.unrecorded.range(..=before).next_back() {
                if e == before {
                    start = s;
                }
            }
        }
        if let Some(after) = at.checked_add(1) {
            if let Some(e) = self.unrecorded.remove(&after) {
                end = e;
            }
        }
        self.unrecorded.insert(start, end);
    }
}

impl FromIterator<Lease> for Leases {
    fn from_iter<I: IntoIterator<Item = Lease>>(leases: I) -> Leases {
        Leases::load(leases)
    }
}
