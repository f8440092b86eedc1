//! What happened to each boot client, in memory: every DHCP request and answer,
//! lease, TFTP and HTTP file and reload becomes an [`Event`], tied to the machine
//! (by MAC) it belongs to, and counted in the Prometheus metrics.
//!
//! The services record with one call each ([`hub`] then `dhcp_request`,
//! `file_served`, ...). TFTP and HTTP requests come from an address, not a MAC:
//! [`Store`] links them to a machine by the request path (the inventory's
//! `locate`, or a Pi serial folder seen in a DHCP request) or by the address the
//! machine was last seen with in a DHCP conversation.
//!
//! Parts: `store.rs` (the bounded rings and the linking), `stage.rs` (how far a
//! machine got), `metrics.rs` (the Prometheus registry).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bootherd_proto::client::{Client, Firmware, RpiModel};
use bootherd_proto::wire::dhcp::MessageType;
use serde::Serialize;

use crate::inventory::{Inventory, Mac};

mod metrics;
mod stage;
mod store;

pub use metrics::{to_text_format, Metrics};
pub use stage::*;
pub use store::*;

#[cfg(test)]
mod tests;

/// One thing that happened, to one machine when it is known.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The machine's MAC (`dc:a6:32:01:36:c2`), when linked to one.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "mac_text")]
    pub mac: Option<Mac>,
    /// The client's address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<Ipv4Addr>,
    /// What happened.
    #[serde(flatten)]
    pub what: What,
}

/// A MAC as text (`dc:a6:32:01:36:c2`).
fn mac_text<S: serde::Serializer>(mac: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
    match mac {
        Some(mac) => s.collect_str(mac),
        None => s.serialize_none(),
    }
}

/// Which protocol carried a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tftp,
    Http,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tftp => "tftp",
            Protocol::Http => "http",
        }
    }
}

/// Who answered a DHCP request: the proxy (boot answers) or the DHCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Proxy,
    Server,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Proxy => "proxy",
            Via::Server => "server",
        }
    }
}

/// A lease change the DHCP server made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseChange {
    Granted,
    Renewed,
    Released,
}

/// The kinds of event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// A DHCP request from a boot client.
    DhcpRequest {
        via: Via,
        /// DISCOVER, REQUEST, ...
        message: &'static str,
        /// The boot firmware (`Raspberry Pi 4 EEPROM`, `U-Boot`, ...).
        client: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        arch: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        vendor_class: Option<String>,
        /// A Raspberry Pi's serial (8 hex digits), from option 97.
        #[serde(skip_serializing_if = "Option::is_none")]
        rpi_serial: Option<String>,
        /// A Raspberry Pi's model (`pi4`, `pi5`), from option 97.
        #[serde(skip_serializing_if = "Option::is_none")]
        rpi_model: Option<&'static str>,
        /// The relay agent (`giaddr`), when relayed.
        #[serde(skip_serializing_if = "Option::is_none")]
        relay: Option<Ipv4Addr>,
    },
    /// The answer given: an offer or ack, with the boot file or address.
    DhcpAnswer {
        via: Via,
        message: String,
        /// What the answer says, as in the log line.
        detail: String,
    },
    /// No answer, and why.
    DhcpNoAnswer { via: Via, reason: String },
    /// The DHCP server granted, renewed or released a lease.
    Lease { change: LeaseChange, ip: Ipv4Addr },
    /// A file was asked for.
    FileRequested { protocol: Protocol, path: String },
    /// A file was sent whole.
    FileServed {
        protocol: Protocol,
        path: String,
        bytes: u64,
        ms: u64,
        retransmits: u64,
    },
    /// A file was refused (not found, forbidden, ...).
    FileRefused {
        protocol: Protocol,
        path: String,
        reason: String,
    },
    /// The client stopped asking for blocks (Pis probe files this way), or ended
    /// the transfer, after `acked_blocks` blocks.
    FileAbandoned {
        protocol: Protocol,
        path: String,
        acked_blocks: u64,
        reason: String,
    },
    /// The configuration was reloaded, or not.
    Reload { ok: bool, detail: String },
}

/// DHCP events recorded per second at most. A fleet booting at once sends a few
/// packets per board and second; a storm (a flood of DISCOVERs, the benchmarks)
/// past it is only counted, so that recording costs the DHCP path an atomic add
/// and a clock read per packet, not allocations and a lock.
pub const DHCP_EVENTS_PER_SECOND: u32 = 2000;

/// Where the services record events: the store, the metrics and the inventory
/// the linking uses. One per process ([`hub`]).
pub struct Hub {
    store: Mutex<Store>,
    metrics: Metrics,
    inventory: ArcSwap<Inventory>,
    budget: Budget,
}

/// [`DHCP_EVENTS_PER_SECOND`]: the current second since `started`, and the
/// events admitted in it.
struct Budget {
    started: std::time::Instant,
    second: AtomicU64,
    used: AtomicU32,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            started: std::time::Instant::now(),
            second: AtomicU64::new(0),
            used: AtomicU32::new(0),
        }
    }

    /// Whether one more DHCP event may be recorded now.
    fn admit(&self) -> bool {
        let now = self.started.elapsed().as_secs();
        if self.second.load(Ordering::Relaxed) != now {
            // Racing threads may both reset: a few events more in that second.
            self.second.store(now, Ordering::Relaxed);
            self.used.store(0, Ordering::Relaxed);
        }
        self.used.fetch_add(1, Ordering::Relaxed) < DHCP_EVENTS_PER_SECOND
    }
}

/// The process's hub.
pub fn hub() -> &'static Hub {
    static HUB: OnceLock<Hub> = OnceLock::new();
    HUB.get_or_init(|| Hub {
        store: Mutex::new(Store::default()),
        metrics: Metrics::new(),
        inventory: ArcSwap::from_pointee(Inventory::default()),
        budget: Budget::new(),
    })
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A short label for a firmware, for metrics and the API.
pub fn firmware_label(firmware: Firmware) -> &'static str {
    match firmware {
        Firmware::RpiRom => "rpi_rom",
        Firmware::RpiEeprom(_) => "rpi_eeprom",
        Firmware::BiosPxe => "bios_pxe",
        Firmware::UefiPxe => "uefi_pxe",
        Firmware::Ipxe => "ipxe",
        Firmware::UefiHttp => "uefi_http",
        Firmware::UBoot => "uboot",
        Firmware::NotBoot => "not_boot",
    }
}

impl Hub {
    /// The metrics, for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The inventory the linking and the API use (set at start and on reload).
    pub fn set_inventory(&self, inventory: Arc<Inventory>) {
        self.inventory.store(inventory);
    }

    pub fn inventory(&self) -> Arc<Inventory> {
        self.inventory.load_full()
    }

    /// The store, locked. A panic elsewhere leaves nothing half-done in it.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A DHCP request: recorded for boot clients, and for every client of the DHCP
    /// server (the proxy sees every DHCP client of the LAN; only boot clients are
    /// what the events are for). `addr` is where the client can be reached, when
    /// the request says (ciaddr, the requested address). Returns whether it was
    /// recorded: past [`DHCP_EVENTS_PER_SECOND`] it is not (nor should the
    /// decision on it be).
    pub fn dhcp_request(&self, via: Via, client: &Client, addr: Option<Ipv4Addr>) -> bool {
        if via == Via::Proxy && client.firmware == Firmware::NotBoot {
            return false;
        }
        if !self.budget.admit() {
            self.metrics.event_dropped();
            return false;
        }
        let mac = Mac(client.mac);
        let at_ms = now_ms();
        let message = match client.message_type {
            None => "BOOTP",
            Some(MessageType::Discover) => "DISCOVER",
            Some(MessageType::Request) => "REQUEST",
            Some(MessageType::Decline) => "DECLINE",
            Some(MessageType::Release) => "RELEASE",
            Some(MessageType::Inform) => "INFORM",
            Some(_) => "OTHER",
        };
        let rpi_model = match client.firmware {
            Firmware::RpiEeprom(model) => model.map(RpiModel::as_str),
            Firmware::RpiRom => Some(RpiModel::Pi3.as_str()),
            _ => None,
        };
        let what = What::DhcpRequest {
            via,
            message,
            client: client.firmware.name(),
            arch: client.arch.map(|a| format!("{a:?}")),
            vendor_class: client.vendor_class.clone(),
            rpi_serial: client.rpi_serial().map(|s| format!("{s:08x}")),
            rpi_model,
            relay: client.relay,
        };
        let addr = addr.filter(|a| !a.is_unspecified());
        let mut store = self.store();
        store.seen_dhcp(mac, addr, &what, at_ms);
        store.push(Event {
            at_ms,
            mac: Some(mac),
            addr,
            what,
        });
        true
    }

    /// The decision on a DHCP request: counted always, recorded when `record`
    /// (a boot client's, see [`Hub::dhcp_request`]). `answer` is the reply's
    /// message and what it says, else why there is none; formatted only when
    /// recorded.
    pub fn dhcp_decision(
        &self,
        via: Via,
        mac: [u8; 6],
        client: &'static str,
        record: bool,
        answer: Result<(&str, &dyn std::fmt::Display), &dyn std::fmt::Display>,
    ) {
        self.metrics
            .dhcp_request(via == Via::Server, client, answer.is_ok());
        if !record {
            return;
        }
        if !self.budget.admit() {
            self.metrics.event_dropped();
            return;
        }
        let what = match answer {
            Ok((message, detail)) => What::DhcpAnswer {
                via,
                message: message.to_owned(),
                detail: detail.to_string(),
            },
            Err(reason) => What::DhcpNoAnswer {
                via,
                reason: reason.to_string(),
            },
        };
        self.store().push(Event {
            at_ms: now_ms(),
            mac: Some(Mac(mac)),
            addr: None,
            what,
        });
    }

    /// The DHCP server changed a lease.
    /// A granted lease the machine held before (same address) counts as renewed.
    pub fn lease(&self, mac: [u8; 6], change: LeaseChange, ip: Ipv4Addr) {
        let mac = Mac(mac);
        let mut store = self.store();
        let change = match change {
            LeaseChange::Granted if store.held(&mac, ip) => LeaseChange::Renewed,
            other => other,
        };
        if change != LeaseChange::Released {
            store.seen_address(mac, ip);
        }
        store.push(Event {
            at_ms: now_ms(),
            mac: Some(mac),
            addr: Some(ip),
            what: What::Lease { change, ip },
        });
    }

    /// A file event from `addr`: linked to a machine by its path or the address.
    pub fn file(&self, addr: Ipv4Addr, what: What) {
        match &what {
            What::FileServed {
                protocol,
                bytes,
                ms,
                ..
            } => self.metrics.file(protocol.name(), "served", *bytes, *ms),
            What::FileRefused { protocol, .. } => {
                self.metrics.file(protocol.name(), "refused", 0, 0)
            }
            What::FileAbandoned { protocol, .. } => {
                self.metrics.file(protocol.name(), "abandoned", 0, 0)
            }
            _ => {}
        }
        let inventory = self.inventory.load();
        let mut store = self.store();
        let path = match &what {
            What::FileRequested { path, .. }
            | What::FileServed { path, .. }
            | What::FileRefused { path, .. }
            | What::FileAbandoned { path, .. } => path.as_str(),
            _ => "",
        };
        let mac = store.link(&inventory, addr, path);
        store.push(Event {
            at_ms: now_ms(),
            mac,
            addr: Some(addr),
            what,
        });
    }

    /// A configuration reload, done or refused.
    pub fn reload(&self, ok: bool, detail: String) {
        self.metrics.reload(ok);
        self.store().push(Event {
            at_ms: now_ms(),
            mac: None,
            addr: None,
            what: What::Reload { ok, detail },
        });
    }
}

/// One file request's events, for TFTP and HTTP: `new` records it as requested,
/// then one of `served`, `refused`, `abandoned`.
pub struct FileEvents {
    protocol: Protocol,
    addr: Ipv4Addr,
    path: String,
}

impl FileEvents {
    /// Records that `peer` asked for `path` (as sent, leading `/` dropped).
    pub fn new(protocol: Protocol, peer: std::net::SocketAddr, path: &str) -> FileEvents {
        let addr = match peer.ip() {
            std::net::IpAddr::V4(a) => a,
            std::net::IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
        };
        let path = path.trim_start_matches('/').to_owned();
        let record = FileEvents {
            protocol,
            addr,
            path,
        };
        hub().file(
            addr,
            What::FileRequested {
                protocol,
                path: record.path.clone(),
            },
        );
        record
    }

    pub fn served(&self, bytes: u64, took: std::time::Duration, retransmits: u64) {
        let what = What::FileServed {
            protocol: self.protocol,
            path: self.path.clone(),
            bytes,
            ms: took.as_millis() as u64,
            retransmits,
        };
        hub().file(self.addr, what);
    }

    pub fn refused(&self, reason: &str) {
        let what = What::FileRefused {
            protocol: self.protocol,
            path: self.path.clone(),
            reason: reason.to_owned(),
        };
        hub().file(self.addr, what);
    }

    /// The client stopped after `acked_blocks` (when known).
    pub fn abandoned(&self, acked_blocks: Option<u64>, reason: &str) {
        let what = What::FileAbandoned {
            protocol: self.protocol,
            path: self.path.clone(),
            acked_blocks: acked_blocks.unwrap_or(0),
            reason: reason.to_owned(),
        };
        hub().file(self.addr, what);
    }
}
