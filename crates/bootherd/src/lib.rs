//! bootherd: a network-boot server. This library holds the services the binary runs;
//! protocol logic lives in `bootherd-proto` and is free of I/O.

pub mod arp;
pub mod cli;
pub mod config;
pub mod dhcp;
pub mod dhcp_server;
pub mod http;
pub mod inventory;
pub mod keyline;
pub mod leases;
pub mod liveness;
pub mod logging;
pub mod net;
pub mod policy;
pub mod privilege;
pub mod probe;
pub mod render;
pub mod report;
pub mod rewrite;
pub mod serve;
pub mod shutdown;
pub mod systemd;
pub mod tftp;
pub(crate) mod throttle;
pub mod tree;
pub mod validate;
pub mod vfs;
