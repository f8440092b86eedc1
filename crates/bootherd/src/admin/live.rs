//! `GET /api/v1/events`: every event as it is recorded, as Server-Sent Events,
//! optionally of one machine (`?machine=NAME|MAC|SERIAL`).
//!
//! Each event is one SSE message (type `message`) whose data is the event's JSON
//! (as in `/api/v1/machines`) with `machine`, the inventory's name for it, when
//! it has one. A client that reads too slowly misses events rather than slowing
//! the services down: it then gets one `dropped` message saying how many.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::events::{self, Event};
use crate::inventory::{normalize_serial, Inventory, Mac};

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    machine: Option<String>,
}

/// Which events a stream shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    All,
    /// One MAC: a machine's, or a client's not in the inventory (seen or not).
    Mac(Mac),
    /// A Pi the inventory lists by serial only: the MAC it was seen with.
    Serial(String),
}

impl Filter {
    /// The filter for `id` (a machine's name, MAC or Pi serial, or any MAC);
    /// `None` when it names nothing.
    pub(crate) fn resolve(inventory: &Inventory, id: &str) -> Option<Filter> {
        let mac = Mac::parse(id);
        let machine = inventory
            .by_name(id)
            .or_else(|| mac.and_then(|m| inventory.by_mac(&m.0)))
            .or_else(|| inventory.by_serial(id));
        if let Some(machine) = machine {
            return match (machine.mac, &machine.serial) {
                (Some(mac), _) => Some(Filter::Mac(mac)),
                (None, Some(serial)) => normalize_serial(serial).map(Filter::Serial),
                (None, None) => None,
            };
        }
        if let Some(mac) = mac {
            return Some(Filter::Mac(mac));
        }
        // A Pi serial not in the inventory: the unknown Pi that sent it.
        normalize_serial(id).map(Filter::Serial)
    }

    fn admits(&self, event: &Event) -> bool {
        match self {
            Filter::All => true,
            Filter::Mac(mac) => event.mac == Some(*mac),
            Filter::Serial(serial) => {
                event.mac.is_some() && event.mac == events::hub().store().mac_of_serial(serial)
            }
        }
    }
}

/// `GET /api/v1/events`.
pub(crate) async fn events(Query(query): Query<EventsQuery>) -> Response {
    let hub = events::hub();
    let filter = match &query.machine {
        None => Filter::All,
        Some(id) => match Filter::resolve(&hub.inventory(), id) {
            Some(filter) => filter,
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    Json(serde_json::json!({ "error": format!("no machine named {id}, and it is neither a MAC nor a Pi serial") })),
                )
                    .into_response()
            }
        },
    };
    let receiver = hub.store().subscribe();
    let stream =
        futures_util::stream::unfold((receiver, filter), |(mut receiver, filter)| async move {
            loop {
                let message = match receiver.recv().await {
                    Ok(event) if filter.admits(&event) => message(&event),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => dropped(missed),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok::<_, Infallible>(message), (receiver, filter)));
            }
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The event's JSON with, when it belongs to a machine, `machine` (the
/// inventory's name for it, when listed) and `stage`/`stage_text`: the machine's
/// stage right after this event (a stream's reader sees each step, however far
/// the machine got since).
pub(crate) fn event_json(event: &Arc<Event>) -> serde_json::Value {
    let mut json = serde_json::to_value(&**event).unwrap_or_default();
    let Some(mac) = event.mac else {
        return json;
    };
    let hub = events::hub();
    let inventory = hub.inventory();
    let store = hub.store();
    let log = store.get(&mac);
    let machine = inventory.by_mac(&mac.0).or_else(|| {
        let serial = log?.identity.rpi_serial.as_deref()?;
        inventory.by_serial(serial)
    });
    let Some(object) = json.as_object_mut() else {
        return json;
    };
    if let Some(machine) = machine {
        object.insert("machine".into(), machine.name.clone().into());
    }
    if let Some(log) = log {
        let upto = log
            .events
            .iter()
            .position(|e| Arc::ptr_eq(e, event))
            .map_or(log.events.len(), |i| i + 1);
        let kernels: Vec<&str> = machine
            .and_then(|m| inventory.profile_of(m).kernel.as_deref())
            .into_iter()
            .collect();
        let stage = events::stage(
            log.events.iter().take(upto).map(|e| &**e),
            &kernels,
            event.at_ms,
        );
        object.insert("stage_text".into(), stage.describe().into());
        object.insert(
            "stage".into(),
            serde_json::to_value(&stage).unwrap_or_default(),
        );
    }
    json
}

fn message(event: &Arc<Event>) -> SseEvent {
    SseEvent::default().data(event_json(event).to_string())
}

fn dropped(missed: u64) -> SseEvent {
    let json = serde_json::json!({
        "dropped": missed,
        "reason": "this client read too slowly; the server went on without it",
    });
    SseEvent::default().event("dropped").data(json.to_string())
}
