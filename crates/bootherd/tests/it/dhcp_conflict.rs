//! The DHCP server's check before it offers an address, against a real host: a
//! machine in the lab already uses the pool's first address without a lease. With
//! `ping_check` on (the default) bootherd must find it, hold the address out as a
//! conflict and offer the next one; busybox `udhcpc` with an owned MAC is the client.
//! The squatter either answers ICMP echo, or ignores it as a firewalled PC does;
//! then only the ARP probe can find it.

use std::net::Ipv4Addr;

use crate::dhcp_lab::{
    add_client_port, owned_setup, read_leases, start_dhcp_server, OwnedSetup, OWNED_RANGE,
};
use crate::support::{need_lab, Lab};

const CLIENT_MAC: &str = "52:54:00:99:0c:01";
const SQUATTED: Ipv4Addr = OWNED_RANGE.0;

#[test]
fn an_address_in_use_without_a_lease_is_not_offered() {
    squatter_is_found(
        "dhcp_conflict::an_address_in_use_without_a_lease_is_not_offered",
        false,
    );
}

#[test]
fn a_host_that_ignores_icmp_echo_is_found_by_arp() {
    squatter_is_found(
        "dhcp_conflict::a_host_that_ignores_icmp_echo_is_found_by_arp",
        true,
    );
}

fn squatter_is_found(test: &str, ignores_icmp: bool) {
    if !need_lab(test, &["busybox"]) {
        return;
    }
    let OwnedSetup {
        dir: _dir,
        db,
        config,
    } = owned_setup(&[CLIENT_MAC], "ping_timeout_ms = 300");
    let lab = Lab::up();
    // The client's port first: a bridge takes the lowest MAC of its ports, so adding
    // one later could change br0's MAC under the server's ARP entry for the squatter.
    add_client_port(&lab, "udc0", CLIENT_MAC);
    // The squatter: the client namespace's bridge also holds the pool's first
    // address, and answers ICMP echo and ARP for it like any host would.
    let squat = format!("{SQUATTED}/24");
    let out = lab.exec(&lab.cli(), 10, &["ip", "addr", "add", &squat, "dev", "br0"]);
    assert!(out.success(), "ip addr add: {}", out.describe());
    if ignores_icmp {
        let out = lab.exec(
            &lab.cli(),
            10,
            &["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"],
        );
        assert!(out.success(), "sysctl: {}", out.describe());
    }
    let server = start_dhcp_server(&lab.srv(), &config, &[]);

    let out = lab.udhcpc_once("udc0", 3, &[]);
    let said = format!("{}{}", out.stdout, out.stderr);
    let next = Ipv4Addr::from(u32::from(SQUATTED) + 1);
    assert!(
        out.success() && said.contains(&format!("lease of {next} obtained")),
        "udhcpc should get {next}, the first free address after the squatted {SQUATTED}: {}\n--- bootherd ---\n{}",
        out.describe(),
        server.log_text()
    );
    let rows = read_leases(&db);
    let conflict = rows.iter().find(|r| r.ip == SQUATTED);
    assert!(
        conflict.is_some_and(|r| r.state == "declined" && r.mac == "00:00:00:00:00:00"),
        "{SQUATTED} should be held out as a conflict (declined, no MAC): {rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.ip == next && r.mac == CLIENT_MAC && r.state == "bound"),
        "the client should hold {next}: {rows:?}"
    );
    assert!(
        server.log_text().contains("address answers ICMP echo"),
        "bootherd should warn about the address in use:\n{}",
        server.log_text()
    );
}
