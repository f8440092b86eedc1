//! Test fixtures, one job a file: `lab.rs` the namespace lab ([`Lab`]),
//! `server.rs` the server under test ([`Server`]), `run.rs` bounded commands,
//! `gates.rs` whether a test can run here ([`need_root`], [`need_lab`], ...),
//! `files.rs` test files and golden-file blessing, `host_package.rs` the lock of
//! tests that install the Debian package, `dhclient.rs` ISC dhclient's command
//! line; `bg.rs` background programs in a lab ([`Bg`]), `dnsmasq.rs` dnsmasq as
//! the LAN's DHCP server ([`Dnsmasq`]), `capture.rs` tcpdump ([`Capture`]),
//! `dhcp_client.rs` a scripted DHCP client ([`DhcpClient`]).
//!
//! This file is the index: its modules and the re-exports that keep
//! `support::X` paths short. Everything here cleans up after itself on drop,
//! including while a test panics.

mod bg;
mod capture;
pub mod chromium;
mod dhclient;
mod dhcp_client;
mod dnsmasq;
mod files;
mod gates;
mod host_package;
mod lab;
pub mod postgres;
mod run;
mod server;
pub mod tgtd;

pub use bg::{read_lossy, tail, wait_until, Bg};
pub use capture::{
    assert_classified, dhcp_packets, ipv4_source, key_fields, option_text, parse_mac,
    udp_datagrams, Capture, Frame, WireDhcp, BOOTHERD_DHCP_REPLIES,
};
pub use dhclient::{dhclient_args, dhclient_leases};
pub use dhcp_client::{owned_discover, owned_request, Answer, DhcpClient, BROADCAST_67};
pub use dnsmasq::{Dnsmasq, LAN_DHCP_IP, LAN_RANGE};
pub use files::{
    assert_file_eq, bless_requested, newc_cpio, pseudo_random_bytes, repo_root, temp_dir,
    write_file,
};
pub use gates::{need_files, need_lab, need_lab_files, need_root, need_tools};
pub use host_package::lock_host_package;
pub use lab::{in_range, show_in_lab, Lab, LAB_SERVER_IP, SERVER_IP};
pub use run::{run_bootherd, run_bounded, RunOutput, BOOTHERD};
pub use server::{Server, CANARY_VALUE, LOCAL_SERVE};
