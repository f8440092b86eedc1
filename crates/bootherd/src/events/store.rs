//! The events in memory, bounded: a ring per machine (by MAC) and a global one,
//! what each machine said about itself in DHCP, and the links from an address or
//! a Pi serial to the MAC that TFTP and HTTP requests need.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use super::{Event, What};
use crate::inventory::{Inventory, Mac};

/// Events kept per machine.
pub const MACHINE_EVENTS: usize = 128;
/// Events kept in the global ring.
pub const GLOBAL_EVENTS: usize = 2048;
/// Machines remembered; past it, the quarter seen longest ago is forgotten.
pub const MAX_MACHINES: usize = 4096;
/// Distinct paths remembered per machine ("what it asked for").
pub const ASKED_PATHS: usize = 32;
/// Events a live subscriber ([`Store::subscribe`]) may fall behind by before it
/// misses some (told how many): recording never waits for a subscriber.
pub const LIVE_EVENTS: usize = 1024;

/// What a machine said about itself in DHCP, and what it asked for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Identity {
    /// The boot firmware, as last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpi_serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpi_model: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<Ipv4Addr>,
    /// The address it was last seen with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<Ipv4Addr>,
    /// Files it asked for, first asked first, at most [`ASKED_PATHS`].
    pub asked: Vec<String>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// One machine's ring and identity.
#[derive(Debug, Default)]
pub struct MachineLog {
    pub identity: Identity,
    pub events: VecDeque<Arc<Event>>,
}

/// The rings and the links.
#[derive(Debug, Default)]
pub struct Store {
    global: VecDeque<Arc<Event>>,
    machines: HashMap<Mac, MachineLog>,
    by_addr: HashMap<Ipv4Addr, Mac>,
    by_serial: HashMap<String, Mac>,
    live: Live,
}

/// The events as they are recorded, to every subscriber. Sending is a lock and
/// a slot write; with no subscriber, a lock. A slow subscriber loses the oldest
/// events it has not read (tokio's broadcast), it never holds the sender up.
#[derive(Debug)]
struct Live(broadcast::Sender<Arc<Event>>);

impl Default for Live {
    fn default() -> Live {
        Live(broadcast::channel(LIVE_EVENTS).0)
    }
}

impl Store {
    /// The events recorded from now on. Taken under the store's lock, so that a
    /// view read in the same lock and this stream neither miss nor repeat one.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.0.subscribe()
    }

    /// Adds an event to the global ring and, when it names a MAC, to that
    /// machine's ring.
    pub fn push(&mut self, event: Event) {
        let event = Arc::new(event);
        if let Some(mac) = event.mac {
            let at = event.at_ms;
            let path = match &event.what {
                What::FileRequested { path, .. } => Some(path),
                _ => None,
            };
            let log = self.machine(mac, at);
            if let Some(path) = path {
                if log.identity.asked.len() < ASKED_PATHS && !log.identity.asked.contains(path) {
                    log.identity.asked.push(path.clone());
                }
            }
            push_bounded(&mut log.events, event.clone(), MACHINE_EVENTS);
        }
        // No subscriber is not an error.
        let _ = self.live.0.send(event.clone());
        push_bounded(&mut self.global, event, GLOBAL_EVENTS);
    }

    /// Remembers what a DHCP request said: its identity, and the address and Pi
    /// serial that later file requests are linked by.
    pub fn seen_dhcp(&mut self, mac: Mac, addr: Option<Ipv4Addr>, request: &What, at_ms: u64) {
        let What::DhcpRequest {
            client,
            arch,
            vendor_class,
            rpi_serial,
            rpi_model,
            relay,
            ..
        } = request
        else {
            return;
        };
        if let Some(serial) = rpi_serial {
            self.by_serial.insert(serial.clone(), mac);
        }
        let id = &mut self.machine(mac, at_ms).identity;
        id.client = Some(client);
        id.arch.clone_from(arch);
        if vendor_class.is_some() {
            id.vendor_class.clone_from(vendor_class);
        }
        if rpi_serial.is_some() {
            id.rpi_serial.clone_from(rpi_serial);
        }
        if rpi_model.is_some() {
            id.rpi_model = *rpi_model;
        }
        id.relay = *relay;
        if let Some(addr) = addr {
            self.seen_address(mac, addr);
        }
    }

    /// Remembers that `mac` uses `addr` (a lease, a proxied client's address).
    pub fn seen_address(&mut self, mac: Mac, addr: Ipv4Addr) {
        if addr.is_unspecified() || addr.is_broadcast() {
            return;
        }
        if self.by_addr.len() >= MAX_MACHINES * 2 && !self.by_addr.contains_key(&addr) {
            self.by_addr.clear();
        }
        self.by_addr.insert(addr, mac);
        if let Some(log) = self.machines.get_mut(&mac) {
            log.identity.addr = Some(addr);
        }
    }

    /// The machine a file request from `addr` for `path` belongs to: by the path
    /// (the inventory's machine folders, `pxelinux.cfg/01-<mac>`, `m/<mac>/`, or a
    /// Pi serial folder of a Pi seen in DHCP), else by the address. A machine the
    /// inventory lists by serial only (a Pi 3), linked by its address, is known
    /// by that MAC from then on ([`Store::mac_of_serial`]).
    pub fn link(&mut self, inventory: &Inventory, addr: Ipv4Addr, path: &str) -> Option<Mac> {
        let path = path.trim_start_matches('/');
        let mut serial_only = None;
        if let Some(located) = inventory.locate(path) {
            if let Some(mac) = located.machine.mac {
                return Some(mac);
            }
            serial_only = located.machine.serial.as_deref();
        }
        if let Some((first, _)) = path.split_once('/') {
            if let Some(mac) = self.by_serial.get(&first.to_ascii_lowercase()) {
                return Some(*mac);
            }
            if let Some(mac) = mac_folder(first) {
                if self.machines.contains_key(&mac) {
                    return Some(mac);
                }
            }
        }
        let mac = self.by_addr.get(&addr).copied()?;
        if let Some(serial) = serial_only {
            self.by_serial.insert(serial.to_owned(), mac);
        }
        Some(mac)
    }

    /// The MAC a Pi with this serial (8 lowercase hex digits) was seen with.
    pub fn mac_of_serial(&self, serial: &str) -> Option<Mac> {
        self.by_serial.get(serial).copied()
    }

    /// Whether `mac`'s ring shows a lease on `ip` granted or renewed, and not
    /// released since.
    pub fn held(&self, mac: &Mac, ip: Ipv4Addr) -> bool {
        let Some(log) = self.machines.get(mac) else {
            return false;
        };
        for event in log.events.iter().rev() {
            if let What::Lease { change, ip: held } = &event.what {
                return *held == ip && *change != super::LeaseChange::Released;
            }
        }
        false
    }

    /// One machine's log.
    pub fn get(&self, mac: &Mac) -> Option<&MachineLog> {
        self.machines.get(mac)
    }

    /// Every machine seen.
    pub fn machines(&self) -> impl Iterator<Item = (&Mac, &MachineLog)> {
        self.machines.iter()
    }

    /// The global ring, oldest first.
    pub fn global(&self) -> impl Iterator<Item = &Arc<Event>> {
        self.global.iter()
    }

    fn machine(&mut self, mac: Mac, at_ms: u64) -> &mut MachineLog {
        if self.machines.len() >= MAX_MACHINES && !self.machines.contains_key(&mac) {
            self.forget_oldest();
        }
        let log = self.machines.entry(mac).or_default();
        if log.identity.first_seen_ms == 0 {
            log.identity.first_seen_ms = at_ms;
        }
        log.identity.last_seen_ms = log.identity.last_seen_ms.max(at_ms);
        log
    }

    /// Forgets the quarter of the machines seen longest ago (a flood of made-up
    /// MACs costs one sort per [`MAX_MACHINES`]/4 new ones).
    fn forget_oldest(&mut self) {
        let mut seen: Vec<(u64, Mac)> = self
            .machines
            .iter()
            .map(|(mac, log)| (log.identity.last_seen_ms, *mac))
            .collect();
        seen.sort_unstable();
        for (_, mac) in seen.iter().take(MAX_MACHINES / 4) {
            self.machines.remove(mac);
        }
        self.by_addr
            .retain(|_, mac| self.machines.contains_key(mac));
        self.by_serial
            .retain(|_, mac| self.machines.contains_key(mac));
    }
}

/// A MAC written as a folder name: `dc-a6-32-01-36-c2` or `dca6320136c2`.
fn mac_folder(component: &str) -> Option<Mac> {
    match component.len() {
        12 | 17 => Mac::parse(component),
        _ => None,
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, item: T, max: usize) {
    if ring.len() >= max {
        ring.pop_front();
    }
    ring.push_back(item);
}
