//! bootherd's integration tests: the real binary against real clients, one test binary.
//!
//! Tests that need root and network namespaces print `SKIP <name>: <reason>` and
//! pass when those are missing, except under `CI=true`, where they fail.

mod cli;
mod compat_trees;
mod dhcp_clients;
mod dhcp_conflict;
mod dhcp_durability;
mod dhcp_lab;
mod first_run;
mod hostile;
mod http_limits;
mod http_range;
mod import;
mod inventory;
mod iscsi_export;
mod iscsi_root;
mod lease_ha;
mod lease_store_faults;
mod lease_sync;
mod least_privilege;
mod lifecycle;
mod logging;
mod multihomed;
mod observability;
mod packaging;
mod probe;
mod proxy_lan;
mod proxy_pair;
mod proxy_qemu;
mod pxe_lab;
mod refusals;
mod rpi3_delay;
mod secure_boot;
mod status_page;
mod storm;
mod support;
mod syscall_filter;
mod systemd_notify;
mod tftp_clients;
mod tftp_fairness;
mod tftp_oack;
mod traversal;
mod uboot_qemu;
