//! The admin listener (`[admin]`, default `127.0.0.1:9069`): the status page at
//! `/`, `GET /metrics` for Prometheus and the read-only JSON API under `/api/v1/`
//! (docs/API.md), served with axum. Off loopback, every request needs the token:
//! `Authorization: Bearer <token>`, or the cookie a browser gets by opening
//! `/?token=<token>` once; without it the answer is 401 and nothing else.
//!
//! Parts: `page.rs` (the status page, with `page.html`, `page.js`, `page.css`),
//! `api.rs` (the JSON views), `live.rs` (the events as Server-Sent
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
mod page;
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
        .route("/", get(page::index))
        .route("/page.js", get(page::script))
        .route("/page.css", get(page::style))
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

/// The cookie a browser keeps the token in.
const TOKEN_COOKIE: &str = "bootherd_admin_token";

/// With a token configured, a request without it gets 401 and nothing else. The
/// token comes as `Authorization: Bearer <token>` or, from a browser, in the
/// cookie that opening `/?token=<token>` sets (then the page is reloaded without
/// the token in its address).
async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let valid = |given: &str| same(given.trim().as_bytes(), token.as_bytes());
    if request.uri().path() == "/" {
        if let Some(given) = query_token(request.uri()) {
            if !valid(&given) {
                return unauthorized();
            }
            let value: String =
                percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
                    .collect();
            let cookie = format!("{TOKEN_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
            return (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "./".to_owned()),
                    (header::SET_COOKIE, cookie),
                    (header::REFERRER_POLICY, "no-referrer".to_owned()),
                ],
            )
                .into_response();
        }
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(valid) || cookie_token(request.headers()).is_some_and(|t| valid(&t)) {
        return next.run(request).await;
    }
    unauthorized()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required\n",
    )
        .into_response()
}

/// `token` of the query string.
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    axum::extract::Query::<TokenQuery>::try_from_uri(uri)
        .ok()?
        .0
        .token
}

/// The token of the [`TOKEN_COOKIE`] cookie.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
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
