//! `[http]`: the HTTP service and its limits.

use std::path::PathBuf;

use serde::Deserialize;

/// HTTP service settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTP at all.
    pub enabled: bool,
    /// TCP port (80).
    pub port: u16,
    /// The directory served; defaults to the TFTP root.
    pub root: Option<PathBuf>,
    /// Connections open at once from all clients; past it a client gets a 503.
    pub max_connections: usize,
    /// Connections open at once from one client address; past it that client
    /// gets a 503.
    pub max_connections_per_client: usize,
    /// Time a client has to send a request line and headers, from connecting or
    /// from the end of the previous response, in milliseconds.
    pub header_timeout_ms: u64,
    /// Time a connection may move no byte either way before it is closed, in
    /// milliseconds.
    pub idle_timeout_ms: u64,
    /// Largest request line plus headers, in bytes; past it the client gets a 431.
    pub max_request_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            port: 80,
            root: None,
            max_connections: 512,
            max_connections_per_client: 32,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            max_request_bytes: 16_384,
        }
    }
}

impl HttpConfig {
    /// Refuses limits that cannot work: the key and why.
    pub fn check_limits(&self) -> Result<(), (&'static str, String)> {
        let outside =
            |key: &'static str, value: u64, range: std::ops::RangeInclusive<u64>| match range
                .contains(&value)
            {
                true => Ok(()),
                false => Err((
                    key,
                    format!("{value} is outside {}..={}", range.start(), range.end()),
                )),
            };
        let max = self.max_connections as u64;
        outside("http.max_connections", max, 1..=MAX_HTTP_CONNECTIONS)?;
        let per_client = self.max_connections_per_client as u64;
        outside("http.max_connections_per_client", per_client, 1..=max).map_err(|(key, m)| {
            match per_client > max {
                true => (key, format!("{m}: it cannot exceed http.max_connections")),
                false => (key, m),
            }
        })?;
        outside(
            "http.header_timeout_ms",
            self.header_timeout_ms,
            100..=600_000,
        )?;
        outside(
            "http.idle_timeout_ms",
            self.idle_timeout_ms,
            1000..=3_600_000,
        )?;
        outside(
            "http.max_request_bytes",
            self.max_request_bytes as u64,
            1024..=MAX_HTTP_REQUEST_BYTES,
        )
    }
}

/// The most HTTP connections the configuration may allow: each holds a file
/// descriptor and buffers.
const MAX_HTTP_CONNECTIONS: u64 = 65_536;

/// The largest request head the configuration may allow; hyper's read buffer
/// (about 400 KiB) must hold it.
const MAX_HTTP_REQUEST_BYTES: u64 = 262_144;
