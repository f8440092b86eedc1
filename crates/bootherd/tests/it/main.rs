//! bootherd's integration tests: the real binary against real clients, one test binary.
//!
//! Tests that need root and network namespaces print `SKIP <name>: <reason>` and
//! pass when those are missing, except under `CI=true`, where they fail.

mod cli;
mod dhcp_clients;
mod dhcp_conflict;
mod dhcp_durability;
mod dhcp_lab;
mod http_range;
mod inventory;
mod probe;
mod proxy_lan;
mod proxy_qemu;
mod pxe_lab;
mod support;
mod tftp_clients;
mod tftp_oack;
mod traversal;
mod uboot_qemu;
