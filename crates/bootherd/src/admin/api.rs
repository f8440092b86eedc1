//! The JSON views of `/api/v1/` (docs/API.md): the fleet with each machine's
//! stage and events, the unknown boot clients with a `[[machines]]` entry for
//! each, and the DHCP server's leases.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bootherd_proto::dhcp::LeaseState;
use serde::Serialize;

use super::AdminState;
use crate::events::{self, stage, Event, Identity, Stage, Store};
use crate::inventory::{Inventory, Kind, Mac, Machine};

/// Events shown per machine in the fleet list; one machine's view shows all kept.
const LIST_EVENTS: usize = 10;

/// One machine of the inventory, as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct MachineView {
    pub name: String,
    pub profile: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub stage: Stage,
    /// The stage in one line.
    pub stage_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<Identity>,
    /// Oldest first.
    pub events: Vec<Arc<Event>>,
}

/// A boot client not in the inventory.
#[derive(Debug, Serialize)]
pub(crate) struct UnknownView {
    pub mac: String,
    #[serde(flatten)]
    pub seen: Identity,
    pub stage: Stage,
    pub stage_text: String,
    /// A `[[machines]]` entry for it, to paste into the configuration.
    pub machines_entry: String,
    /// Oldest first; only in the view of this one client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Arc<Event>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LeaseView {
    pub ip: std::net::Ipv4Addr,
    pub mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub state: &'static str,
    pub starts: u64,
    pub ends: u64,
    /// The inventory's name for the MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
}

/// The MAC the store knows `machine` by: its own, else the one a Pi with its
/// serial was seen with (in DHCP, or fetching from its serial folder).
fn key_of(store: &Store, machine: &Machine) -> Option<Mac> {
    machine
        .mac
        .or_else(|| store.mac_of_serial(machine.serial.as_deref()?))
}

fn machine_view(
    inventory: &Inventory,
    store: &Store,
    machine: &Machine,
    max_events: usize,
    now_ms: u64,
) -> MachineView {
    let profile = inventory.profile_of(machine);
    let log = key_of(store, machine).and_then(|mac| store.get(&mac));
    let kernels: Vec<&str> = profile.kernel.as_deref().into_iter().collect();
    let stage = match log {
        Some(log) => stage(log.events.iter().map(|e| &**e), &kernels, now_ms),
        None => Stage::NeverSeen,
    };
    let events = log
        .map(|log| {
            let skip = log.events.len().saturating_sub(max_events);
            log.events.iter().skip(skip).cloned().collect()
        })
        .unwrap_or_default();
    MachineView {
        name: machine.name.clone(),
        profile: profile.name.clone(),
        kind: profile.kind.as_str(),
        mac: machine.mac.map(|m| m.to_string()),
        serial: machine.serial.clone(),
        stage_text: stage.describe(),
        stage,
        last_seen_ms: log.map(|l| l.identity.last_seen_ms),
        seen: log.map(|l| l.identity.clone()),
        events,
    }
}

/// `GET /api/v1/machines`: every machine of the inventory, in file order.
pub(crate) async fn machines() -> Json<Vec<MachineView>> {
    Json(fleet(LIST_EVENTS))
}

/// Every machine of the inventory, in file order, with its last `max_events`.
pub(crate) fn fleet(max_events: usize) -> Vec<MachineView> {
    let hub = events::hub();
    let inventory = hub.inventory();
    let now = events::now_ms();
    let store = hub.store();
    inventory
        .machines()
        .iter()
        .map(|m| machine_view(&inventory, &store, m, max_events, now))
        .collect()
}

/// `GET /api/v1/machines/{name-or-mac}`: one machine (also by Pi serial), with
/// every event kept; an unknown client by its MAC.
pub(crate) async fn machine(Path(id): Path<String>) -> Response {
    let hub = events::hub();
    let inventory = hub.inventory();
    let now = events::now_ms();
    let store = hub.store();
    let mac = Mac::parse(&id);
    let found = inventory
        .by_name(&id)
        .or_else(|| mac.and_then(|m| inventory.by_mac(&m.0)))
        .or_else(|| inventory.by_serial(&id));
    if let Some(machine) = found {
        let view = machine_view(&inventory, &store, machine, usize::MAX, now);
        return Json(view).into_response();
    }
    if let Some(mut view) = mac.and_then(|mac| unknown_view(&inventory, &store, mac, now)) {
        if let Some(log) = mac.and_then(|mac| store.get(&mac)) {
            view.events = log.events.iter().cloned().collect();
        }
        return Json(view).into_response();
    }
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": format!("no machine named {id}, and no client seen with that MAC") })),
    )
        .into_response()
}

/// `GET /api/v1/unknown`: boot clients seen that the inventory does not list,
/// most recently seen first.
pub(crate) async fn unknown() -> Json<Vec<UnknownView>> {
    Json(unknown_clients())
}

/// The boot clients not in the inventory, most recently seen first.
pub(crate) fn unknown_clients() -> Vec<UnknownView> {
    let hub = events::hub();
    let inventory = hub.inventory();
    let now = events::now_ms();
    let store = hub.store();
    let mut views: Vec<UnknownView> = store
        .machines()
        .filter_map(|(mac, _)| unknown_view(&inventory, &store, *mac, now))
        .collect();
    views.sort_by_key(|v| std::cmp::Reverse(v.seen.last_seen_ms));
    views
}

/// The client with `mac` if it was seen in DHCP and the inventory lists it
/// neither by MAC nor by Pi serial.
fn unknown_view(
    inventory: &Inventory,
    store: &Store,
    mac: Mac,
    now_ms: u64,
) -> Option<UnknownView> {
    let log = store.get(&mac)?;
    let id = &log.identity;
    id.client?;
    if inventory.by_mac(&mac.0).is_some()
        || id
            .rpi_serial
            .as_deref()
            .is_some_and(|s| inventory.by_serial(s).is_some())
    {
        return None;
    }
    let stage = stage(log.events.iter().map(|e| &**e), &[], now_ms);
    Some(UnknownView {
        mac: mac.to_string(),
        machines_entry: machines_entry(inventory, mac, id),
        seen: id.clone(),
        stage_text: stage.describe(),
        stage,
        events: Vec::new(),
    })
}

/// A `[[machines]]` entry for a client: a name from its serial or MAC, its MAC
/// and serial, and the first profile of the kind its firmware boots (else a
/// placeholder to fill in).
pub(crate) fn machines_entry(inventory: &Inventory, mac: Mac, id: &Identity) -> String {
    let kind = match id.client.unwrap_or_default() {
        c if c.starts_with("Raspberry Pi") => Some(Kind::Rpi),
        "U-Boot" => Some(Kind::Pxelinux),
        "iPXE" => Some(Kind::Ipxe),
        "UEFI PXE" | "UEFI HTTP boot" => Some(Kind::Efi),
        _ => None,
    };
    let profile = kind
        .and_then(|k| inventory.profiles().iter().find(|p| p.kind == k))
        .map(|p| p.name.as_str());
    let name = match (&id.rpi_serial, kind) {
        (Some(serial), _) => format!("pi-{serial}"),
        (None, Some(Kind::Rpi)) => format!("pi-{}", mac.hex()),
        _ => format!("board-{}", mac.hex()),
    };
    let mut entry = format!("[[machines]]\nname = \"{name}\"\nmac = \"{mac}\"\n");
    if let Some(serial) = &id.rpi_serial {
        entry.push_str(&format!("serial = \"{serial}\"\n"));
    }
    match profile {
        Some(profile) => entry.push_str(&format!("profile = \"{profile}\"\n")),
        None => entry.push_str("profile = \"CHANGE-ME\"  # no profile of this kind yet\n"),
    }
    entry
}

/// `GET /api/v1/leases`: the DHCP server's lease table (empty when it is off).
pub(crate) async fn leases(State(state): State<AdminState>) -> Json<Vec<LeaseView>> {
    let Some(server) = &state.server else {
        return Json(Vec::new());
    };
    let inventory = events::hub().inventory();
    Json(
        server
            .leases()
            .into_iter()
            .map(|l| LeaseView {
                ip: l.ip,
                mac: Mac(l.mac).to_string(),
                hostname: l.hostname,
                state: match l.state {
                    LeaseState::Offered => "offered",
                    LeaseState::Bound => "bound",
                    LeaseState::Released => "released",
                    LeaseState::Declined => "declined",
                },
                starts: l.starts,
                ends: l.ends,
                machine: inventory.by_mac(&l.mac).map(|m| m.name.clone()),
            })
            .collect(),
    )
}
