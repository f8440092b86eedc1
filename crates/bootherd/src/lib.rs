//! bootherd: a network-boot server. This library holds the services the binary runs;
//! protocol logic lives in `bootherd-proto` and is free of I/O.

pub mod arp;
pub mod cli;
pub mod config;
pub mod dhcp;
pub mod dhcp_server;
pub mod http;
pub mod http_range;
pub mod inventory;
pub mod leases;
pub mod logging;
pub mod net;
pub mod policy;
pub mod probe;
pub mod render;
pub mod report;
pub mod serve;
pub mod shutdown;
pub mod tftp;
pub mod tree;
pub mod vfs;
