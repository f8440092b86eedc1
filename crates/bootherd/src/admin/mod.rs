//! The admin listener (`[admin]`, default `127.0.0.1:9069`): `GET /metrics` for
//! Prometheus and the read-only JSON API under `/api/v1/` (docs/API.md), served
//! with axum. Off loopback, every request needs `Authorization: Bearer <token>`;
//! without it the answer is 401 and nothing else.
//!
//! Parts: `api.rs` (the JSON views), `live.rs` (the events as Server-Sent
//! Events), `status.rs` (`bootherd status`, a client of
//! the API), `watch.rs` (`bootherd watch`, a client of the event stream).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::AdminConfig;
use crate::dhcp::server::DhcpServer;

mod api;
mod live;
mod status;
mod watch;

pub use status::*;
pub use watch::*;

/// What the handlers read besides the event hub.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) server: Option<Arc<DhcpServer>>,
    token: Option<Arc<str>>,
}

/// The bound admin listener, ready to [`run`].
pub struct Admin {
    listener: TcpListener,
    state: AdminState,
}

/// Binds the admin listener, before privileges are dropped. `Ok(None)` when it
/// is off, or when the default address is taken (warned: a second bootherd on the
/// host must still start); an address set in `[admin] listen` must bind.
pub async fn bind(
    config: &AdminConfig,
    server: Option<Arc<DhcpServer>>,
) -> anyhow::Result<Option<Admin>> {
    if !config.enabled {
        return Ok(None);
    }
    let token = match (&config.token, &config.token_file) {
        (Some(token), _) => Some(token.trim().into()),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("admin.token_file: reading {}", file.display()))?;
            let token = text.trim();
            anyhow::ensure!(
                !token.is_empty(),
                "admin.token_file: {} is empty",
                file.display()
            );
            Some(token.into())
        }
        (None, None) => None,
    };
    let addr = config.address();
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(err) if config.listen.is_none() => {
            warn!(%addr, %err, "admin: cannot listen on the default address; running without /metrics and the API ([admin] listen picks another)");
            return Ok(None);
        }
        Err(err) => return Err(err).with_context(|| format!("admin.listen: binding {addr}")),
    };
    info!(
        token = token.is_some(),
        "admin listening on http://{}",
        listener.local_addr().unwrap_or(addr)
    );
    Ok(Some(Admin {
        listener,
        state: AdminState { server, token },
    }))
}

/// The routes, behind the token check.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/machines", get(api::machines))
        .route("/api/v1/machines/{id}", get(api::machine))
        .route("/api/v1/unknown", get(api::unknown))
        .route("/api/v1/leases", get(api::leases))
        .route("/api/v1/events", get(live::events))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state)
}

/// Serves until the task is aborted.
pub async fn run(admin: Admin) {
    let app = router(admin.state).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(err) = axum::serve(admin.listener, app).await {
        warn!(%err, "admin: listener failed");
    }
}

/// With a token configured, a request without `Authorization: Bearer <token>`
/// gets 401 and nothing else.
async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if same(given.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response(),
    }
}

/// Compares in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`: OpenMetrics when the client asks for it (Prometheus does),
/// else the Prometheus text format.
async fn metrics(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    let metrics = crate::events::hub().metrics();
    if let Some(server) = &state.server {
        metrics.set_pools(server.pool_usage());
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    match openmetrics {
        true => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            metrics.encode(),
        ),
        false => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics.encode_text(),
        ),
    }
    .into_response()
}

#[cfg(test)]
mod tests;
