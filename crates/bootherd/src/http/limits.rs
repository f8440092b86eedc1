//! The bounds every HTTP connection lives within, from `[http]` in the configuration.

use std::time::Duration;

use crate::config::HttpConfig;

/// Connection caps, timeouts and the request-size limit of the HTTP service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections open at once, from every client together.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_connections_per_client: usize,
    /// How long a client may take to send a request's line and headers, counted
    /// from the connection's start or the end of the previous response.
    pub header_timeout: Duration,
    /// How long a connection may move no byte either way.
    pub idle_timeout: Duration,
    /// Largest request line plus headers, in bytes.
    pub max_request_bytes: usize,
}

impl From<&HttpConfig> for HttpLimits {
    fn from(c: &HttpConfig) -> Self {
        HttpLimits {
            max_connections: c.max_connections,
            max_connections_per_client: c.max_connections_per_client,
            header_timeout: Duration::from_millis(c.header_timeout_ms),
            idle_timeout: Duration::from_millis(c.idle_timeout_ms),
            max_request_bytes: c.max_request_bytes,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        (&HttpConfig::default()).into()
    }
}
