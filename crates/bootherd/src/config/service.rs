//! `[service]`: how the daemon runs.

use serde::Deserialize;

/// How the daemon runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Started as root, switch to this user once every socket is bound and the
    /// lease database is open, keeping only CAP_NET_BIND_SERVICE and CAP_NET_RAW
    /// (see `privilege.rs`). Unset: keep the identity bootherd was started with.
    pub user: Option<String>,
    /// The group to switch to with `user`; default: the user's primary group.
    pub group: Option<String>,
    /// How long work in flight may go on after SIGTERM/SIGINT before it is
    /// cancelled, in milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            user: None,
            group: None,
            shutdown_grace_ms: 5000,
        }
    }
}
