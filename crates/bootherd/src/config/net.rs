//! `[net]`: where to listen.

use std::net::Ipv4Addr;

use serde::Deserialize;

/// Where to listen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Interface names to serve on; empty means every interface with an IPv4 address.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Addresses to serve on; empty means every address of the chosen interfaces.
    #[serde(default)]
    pub listen: Vec<Ipv4Addr>,
}
