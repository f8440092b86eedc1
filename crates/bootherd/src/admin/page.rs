//! The status page, `GET /` on the admin listener: the fleet (machine, kind,
//! stage, last seen), the unknown boot clients with their `[[machines]]` entry,
//! a machine's timeline on click, and live updates from `/api/v1/events`.
//!
//! Server-rendered HTML (`page.html`, a minijinja template that escapes every
//! value: vendor classes and paths come off the wire), a little plain JavaScript
//! (`page.js`) and CSS (`page.css`) served by the listener itself: no external
//! resource, and a Content-Security-Policy that allows none.

use std::sync::OnceLock;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::api::{fleet, unknown_clients};
use crate::events;

const TEMPLATE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// Only this listener's own script, style and API; no frames, forms or plugins.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self'; base-uri 'none'; \
                      form-action 'none'; frame-ancestors 'none'";

#[derive(Serialize)]
struct FleetRow {
    name: String,
    kind: &'static str,
    mac: String,
    stage: String,
    stage_text: String,
    last_seen_ms: Option<u64>,
    last_seen: String,
}

#[derive(Serialize)]
struct UnknownRow {
    mac: String,
    client: String,
    serial: String,
    arch: String,
    vendor_class: String,
    asked: String,
    stage: String,
    stage_text: String,
    last_seen_ms: u64,
    last_seen: String,
    entry: String,
}

#[derive(Serialize)]
struct Page {
    version: &'static str,
    machines: Vec<FleetRow>,
    unknown: Vec<UnknownRow>,
}

/// "3 s ago", "5 min ago", "2 h ago", "never" (page.js says the same).
pub(crate) fn ago(now_ms: u64, at_ms: Option<u64>) -> String {
    let Some(at_ms) = at_ms.filter(|&ms| ms > 0) else {
        return "never".to_owned();
    };
    let s = now_ms.saturating_sub(at_ms) / 1000;
    match s {
        0..120 => format!("{s} s ago"),
        120..7200 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// The stage's key (`loading_files`), for a CSS class.
fn stage_key(stage: &events::Stage) -> String {
    serde_json::to_value(stage)
        .ok()
        .and_then(|v| v["stage"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The page, rendered now.
pub(crate) fn render() -> Result<String, minijinja::Error> {
    let now = events::now_ms();
    let machines = fleet(0)
        .into_iter()
        .map(|m| FleetRow {
            last_seen: ago(now, m.last_seen_ms),
            stage: stage_key(&m.stage),
            name: m.name,
            kind: m.kind,
            mac: m.mac.unwrap_or_default(),
            stage_text: m.stage_text,
            last_seen_ms: m.last_seen_ms,
        })
        .collect();
    let unknown = unknown_clients()
        .into_iter()
        .map(|u| UnknownRow {
            client: match u.seen.rpi_model {
                Some(model) => format!("{} ({model})", u.seen.client.unwrap_or_default()),
                None => u.seen.client.unwrap_or_default().to_owned(),
            },
            serial: u.seen.rpi_serial.clone().unwrap_or_default(),
            arch: u.seen.arch.clone().unwrap_or_default(),
            vendor_class: u.seen.vendor_class.clone().unwrap_or_default(),
            asked: u.seen.asked.join(", "),
            stage: stage_key(&u.stage),
            last_seen: ago(now, Some(u.seen.last_seen_ms)),
            last_seen_ms: u.seen.last_seen_ms,
            mac: u.mac,
            stage_text: u.stage_text,
            entry: u.machines_entry,
        })
        .collect();
    let page = Page {
        version: env!("CARGO_PKG_VERSION"),
        machines,
        unknown,
    };
    environment()
        .get_template("page.html")?
        .render(minijinja::value::Serde(&page))
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.add_template("page.html", TEMPLATE)
            .expect("page.html is a valid template (tested)");
        env
    })
}

/// `GET /`.
pub(crate) async fn index() -> Response {
    match render() {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            guarded(html),
        )
            .into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the status page did not render: {err}\n"),
        )
            .into_response(),
    }
}

/// `GET /page.js`.
pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        guarded(SCRIPT),
    )
        .into_response()
}

/// `GET /page.css`.
pub(crate) async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        guarded(STYLE),
    )
        .into_response()
}

/// The body with the headers every part of the page carries.
fn guarded(body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}
