//! `[admin]`: the listener for the status page, metrics and the JSON API.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Deserialize;

/// The admin port when `[admin] listen` is not set.
pub const DEFAULT_ADMIN_PORT: u16 = 9069;

/// The admin listener: Prometheus metrics and the read-only JSON API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve it.
    pub enabled: bool,
    /// Where; default `127.0.0.1:9069`. When left unset and the port is taken,
    /// bootherd warns and runs without it; a `listen` set here must bind.
    pub listen: Option<std::net::SocketAddr>,
    /// The bearer token every request must carry (`Authorization: Bearer ...`);
    /// required when `listen` is not a loopback address.
    pub token: Option<String>,
    /// A file holding the token (surrounding whitespace ignored), instead of `token`.
    pub token_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: None,
            token: None,
            token_file: None,
        }
    }
}

impl AdminConfig {
    /// The address to listen on.
    pub fn address(&self) -> std::net::SocketAddr {
        self.listen.unwrap_or(std::net::SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            DEFAULT_ADMIN_PORT,
        )))
    }
}
