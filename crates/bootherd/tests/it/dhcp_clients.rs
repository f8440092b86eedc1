//! Ordinary DHCP clients (ISC dhclient 4.4, busybox udhcpc 1.35) against
//! bootherd's DHCP server: a client whose MAC bootherd owns gets, renews and
//! releases a lease from bootherd's pool, visible in `bootherd leases --json`;
//! a client it does not own gets dnsmasq's lease and not one packet from
//! bootherd's DHCP port.
//!
//! Each client runs in `NAME-cli` on its own veth (`<name>` with the MAC under
//! test, its peer a port of br0), so br0 keeps its address. dnsmasq, the LAN's
//! server, is told to leave the owned MACs alone (`--dhcp-host=MAC,ignore`):
//! bootherd checks a new address with ICMP echo before offering it, so a LAN
//! server that answers at once would win every first DISCOVER (see
//! `uboot_qemu::uboot_gets_a_prechecked_offer_from_bootherd_while_the_lan_server_answers_too`).
//!
//! How the clients renew and release here:
//! - dhclient runs once in the foreground (`-1 -d`) and is stopped with TERM,
//!   which leaves its lease file alone; run again, it asks for the same address
//!   (INIT-REBOOT, `reason=REBOOT`); `dhclient -r` sends a RELEASE (unicast to
//!   the server, from the fallback socket). Its script only records.
//! - udhcpc renews on SIGUSR1 with a unicast REQUEST from its address (it binds
//!   the address and the interface), and the server's ACK goes to that address,
//!   so its script puts the address on its veth as a /32 with a source route
//!   (br0's routes stay), and br0 gets `arp_ignore=1` so that only the veth
//!   answers ARP for it. `-R` releases on TERM.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::dhcp_lab::{
    add_client_port, expect_each_request_ignored, lease_of, owned_setup, read_leases,
    start_dhcp_server_logging, LeaseRow, OwnedSetup, DEBUG_DHCP, OWNED_RANGE, REQUESTS_TO_BOOTHERD,
};
use crate::support::{
    dhclient_args, in_range, need_lab, read_lossy, wait_until, Bg, Capture, Dnsmasq, Lab, Server,
    BOOTHERD_DHCP_REPLIES, LAN_RANGE,
};

/// MACs bootherd owns: one for dhclient, one for udhcpc.
const DHCLIENT_MAC: &str = "52:54:00:99:00:c1";
const UDHCPC_MAC: &str = "52:54:00:99:00:c2";
/// MACs it does not own.
const FOREIGN_DHCLIENT_MAC: &str = "52:54:00:99:00:d1";
const FOREIGN_UDHCPC_MAC: &str = "52:54:00:99:00:d2";

/// bootherd's pool lease time in this lab (`owned_dhcp_section`).
const LEASE_SECS: u64 = 600;

/// Records every dhclient script call as one line of `key=value`s.
const DHCLIENT_SCRIPT: &str = "#!/bin/sh\n\
    echo \"reason=$reason ip=$new_ip_address server=$new_dhcp_server_identifier \
    next=$new_next_server file=$new_filename\" >> \"$0.events\"\n";

/// Records every udhcpc script call and keeps the address on the interface as a
/// /32, so that udhcpc can renew from it and receive the unicast answer, with a
/// source route: whatever leaves from that address leaves through the client's
/// own veth (else an echo reply to bootherd's address check left through br0,
/// and the ARP request for it told bootherd's host that the client's address
/// lives at br0's MAC, where udhcpc, bound to its veth, never saw the ACK).
const UDHCPC_SCRIPT: &str = "#!/bin/sh\n\
    echo \"event=$1 ip=$ip lease=$lease serverid=$serverid siaddr=$siaddr \
    boot_file=$boot_file\" >> \"$0.events\"\n\
    case $1 in\n\
    bound|renew)\n\
    \x20 ip addr replace \"$ip/32\" dev \"$interface\"\n\
    \x20 ip route replace 10.99.0.0/24 dev \"$interface\" src \"$ip\" table 99\n\
    \x20 ip rule del from \"$ip\" table 99 2>/dev/null\n\
    \x20 ip rule add from \"$ip\" table 99 ;;\n\
    deconfig)\n\
    \x20 ip addr flush dev \"$interface\"\n\
    \x20 ip rule del table 99 2>/dev/null ;;\n\
    esac\n\
    exit 0\n";

/// A lab with dnsmasq ignoring the owned MACs and bootherd owning them. Fields
/// drop in order: servers, then the lab, then the files.
struct ClientLab {
    lan: Dnsmasq,
    server: Server,
    lab: Lab,
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl ClientLab {
    /// The lab, with bootherd logging at `rust_log` when given.
    fn start(rust_log: Option<&str>) -> ClientLab {
        let owned = [DHCLIENT_MAC, UDHCPC_MAC];
        let OwnedSetup { dir, db, config } = owned_setup(&owned, "");
        let lab = Lab::up();
        let lan = Dnsmasq::lan(&lab, dir.path(), "1h", &owned);
        let server = start_dhcp_server_logging(&lab.srv(), &config, &[], rust_log);
        let out = lab.exec(
            &lab.cli(),
            10,
            &["sysctl", "-qw", "net.ipv4.conf.br0.arp_ignore=1"],
        );
        assert!(out.success(), "sysctl arp_ignore: {}", out.describe());
        ClientLab {
            lan,
            server,
            lab,
            dir,
            db,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn script(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        let out = self.lab.exec(
            &self.lab.cli(),
            5,
            &["chmod", "755", path.to_str().unwrap()],
        );
        assert!(out.success(), "chmod: {}", out.describe());
        path
    }

    /// The recorded script calls.
    fn events(&self, script: &Path) -> Vec<String> {
        read_lossy(&PathBuf::from(format!("{}.events", script.display())))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits for a recorded call starting with `prefix`, after the first `skip`.
    fn wait_event(&self, script: &Path, prefix: &str, skip: usize, bg: &mut Bg) -> String {
        let found = wait_until(Duration::from_secs(30), || {
            self.events(script)
                .iter()
                .skip(skip)
                .any(|e| e.starts_with(prefix))
                || !bg.is_running()
        });
        let events = self.events(script);
        match events.iter().skip(skip).find(|e| e.starts_with(prefix)) {
            Some(event) if found => event.clone(),
            _ => panic!(
                "no `{prefix}` script call (after {skip}): {events:?}\n{}\n--- bootherd ---\n{}",
                bg.describe(),
                self.server.log_text()
            ),
        }
    }

    /// Runs dhclient once (`args`, output under `tag`) until its script records
    /// a call starting with `prefix` after the first `skip`; stops it and
    /// returns that call.
    fn dhclient_until(
        &self,
        args: &[String],
        tag: &str,
        script: &Path,
        prefix: &str,
        skip: usize,
    ) -> String {
        let mut run = Bg::spawn(&self.lab.cli(), 40, args, self.dir.path(), tag);
        let event = self.wait_event(script, prefix, skip, &mut run);
        run.stop(Duration::from_secs(3));
        event
    }

    /// The one lease record for `mac`, which must exist.
    fn lease(&self, mac: &str) -> LeaseRow {
        lease_of(&self.db, mac).unwrap_or_else(|| {
            panic!(
                "no lease for {mac} in the database: {:?}\n--- bootherd ---\n{}",
                read_leases(&self.db),
                self.server.log_text()
            )
        })
    }

    /// Waits until the record for `mac` is released and no longer live.
    fn expect_released(&self, mac: &str, ip: Ipv4Addr) {
        let released = wait_until(Duration::from_secs(10), || {
            lease_of(&self.db, mac).is_some_and(|l| l.state == "released" && !l.live)
        });
        let lease = lease_of(&self.db, mac);
        assert!(
            released,
            "after the release the database holds {lease:?} for {mac}\n--- bootherd ---\n{}",
            self.server.log_text()
        );
        assert_eq!(lease.map(|l| l.ip), Some(ip));
        self.server.expect_log(
            &[&format!("dhcp: no reply: released {ip}")],
            Duration::from_secs(2),
            &format!("bootherd did not log the release of {ip}"),
        );
    }

    fn acks(&self, ip: Ipv4Addr, mac: &str) -> usize {
        self.server
            .log_lines_with(&[&format!("dhcp: ack {ip} to {mac}")])
            .len()
    }
}

/// `key=value` from a recorded script call.
fn field<'a>(event: &'a str, key: &str) -> &'a str {
    event
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_default()
}

/// The address in `ip=` of a recorded script call.
fn ip_field(event: &str) -> Ipv4Addr {
    field(event, "ip")
        .parse()
        .unwrap_or_else(|e| panic!("no address in `ip=` ({e}): {event}"))
}

/// A bound lease from bootherd's pool for `mac`, `lease_secs` long.
fn assert_bound(lease: &LeaseRow, mac: &str, ip: Ipv4Addr) {
    assert_eq!(lease.ip, ip, "lease record: {lease:?}");
    assert!(
        lease.state == "bound" && lease.live,
        "lease of {mac} is not bound and live: {lease:?}"
    );
    assert_eq!(
        lease.ends - lease.starts,
        LEASE_SECS,
        "lease of {mac} is not the pool's {LEASE_SECS} s: {lease:?}"
    );
}

#[test]
fn dhclient_gets_renews_and_releases_an_owned_lease() {
    let test = "dhcp_clients::dhclient_gets_renews_and_releases_an_owned_lease";
    if !need_lab(test, &["dnsmasq", "dhclient"]) {
        return;
    }
    let lab = ClientLab::start(None);
    add_client_port(&lab.lab, "dhc0", DHCLIENT_MAC);
    let script = lab.script("dhclient-script", DHCLIENT_SCRIPT);
    let once = dhclient_args(lab.dir.path(), &script, "dhc0", &["-1", "-d", "-v"]);

    // Lease.
    let bound = lab.dhclient_until(&once, "dhclient-1", &script, "reason=BOUND", 0);
    let ip = ip_field(&bound);
    assert!(
        in_range(ip, OWNED_RANGE),
        "dhclient bound {ip}, not from bootherd's pool: {bound}\n{}",
        lab.lan.log_text()
    );
    assert_eq!(field(&bound, "server"), "10.99.0.1", "{bound}");
    assert_eq!(field(&bound, "next"), "10.99.0.1", "{bound}");
    assert_eq!(field(&bound, "file"), "pxelinux.0", "{bound}");
    let first = lab.lease(DHCLIENT_MAC);
    assert_bound(&first, DHCLIENT_MAC, ip);
    assert_eq!(lab.acks(ip, DHCLIENT_MAC), 1, "{}", lab.server.log_text());

    // Renew: run again with the lease file (INIT-REBOOT); `ends` moves on.
    thread::sleep(Duration::from_millis(1200));
    let events = lab.events(&script).len();
    let reboot = lab.dhclient_until(&once, "dhclient-2", &script, "reason=REBOOT", events);
    assert_eq!(field(&reboot, "ip"), ip.to_string(), "{reboot}");
    let renewed = lab.lease(DHCLIENT_MAC);
    assert_bound(&renewed, DHCLIENT_MAC, ip);
    assert!(
        renewed.ends > first.ends,
        "renewing did not extend the lease: before {first:?}, after {renewed:?}"
    );
    assert_eq!(lab.acks(ip, DHCLIENT_MAC), 2, "{}", lab.server.log_text());

    // Release.
    let release = dhclient_args(lab.dir.path(), &script, "dhc0", &["-r", "-v"]);
    let out = lab.lab.exec(&lab.lab.cli(), 30, &release);
    assert!(out.success(), "dhclient -r: {}", out.describe());
    assert!(
        out.stderr.contains(&format!("DHCPRELEASE of {ip}")),
        "dhclient -r sent no release: {}",
        out.describe()
    );
    lab.expect_released(DHCLIENT_MAC, ip);
    eprintln!(
        "dhclient: bound {ip} (ends {}), renewed (ends {}), released: {:?}",
        first.ends,
        renewed.ends,
        lab.lease(DHCLIENT_MAC)
    );
}

#[test]
fn udhcpc_gets_renews_and_releases_an_owned_lease() {
    let test = "dhcp_clients::udhcpc_gets_renews_and_releases_an_owned_lease";
    if !need_lab(test, &["dnsmasq", "busybox"]) {
        return;
    }
    let lab = ClientLab::start(None);
    add_client_port(&lab.lab, "udc0", UDHCPC_MAC);
    let script = lab.script("udhcpc-script", UDHCPC_SCRIPT);
    let pidfile = lab.path("udhcpc.pid");
    let mut run = Bg::spawn(
        &lab.lab.cli(),
        60,
        &[
            "busybox",
            "udhcpc",
            "-f",
            "-R",
            "-t",
            "5",
            "-T",
            "2",
            "-i",
            "udc0",
            "-p",
            pidfile.to_str().unwrap(),
            "-s",
            script.to_str().unwrap(),
        ],
        lab.dir.path(),
        "udhcpc",
    );
    let bound = lab.wait_event(&script, "event=bound", 0, &mut run);
    let ip = ip_field(&bound);
    assert!(
        in_range(ip, OWNED_RANGE),
        "udhcpc bound {ip}, not from bootherd's pool: {bound}"
    );
    assert_eq!(field(&bound, "serverid"), "10.99.0.1", "{bound}");
    assert_eq!(field(&bound, "siaddr"), "10.99.0.1", "{bound}");
    assert_eq!(field(&bound, "boot_file"), "pxelinux.0", "{bound}");
    assert_eq!(field(&bound, "lease"), LEASE_SECS.to_string(), "{bound}");
    let first = lab.lease(UDHCPC_MAC);
    assert_bound(&first, UDHCPC_MAC, ip);

    // Renew on SIGUSR1: a unicast REQUEST from the leased address. What goes
    // over the wire (ARP too) is kept for the failure message.
    let wire = Capture::start(
        &lab.lab.cli(),
        "any",
        "arp or udp port 67 or udp port 68",
        lab.dir.path(),
        "client-ns",
    );
    thread::sleep(Duration::from_millis(1200));
    let events = lab.events(&script).len();
    let pid = read_lossy(&pidfile).trim().to_string();
    assert!(!pid.is_empty(), "udhcpc wrote no pid file");
    let out = lab.lab.exec(&lab.lab.cli(), 5, &["kill", "-USR1", &pid]);
    assert!(out.success(), "kill -USR1 udhcpc: {}", out.describe());
    let renew = lab.wait_event(&script, "event=renew", events, &mut run);
    assert_eq!(field(&renew, "ip"), ip.to_string(), "{renew}");
    let renewed = lab.lease(UDHCPC_MAC);
    assert_bound(&renewed, UDHCPC_MAC, ip);
    assert!(
        renewed.ends > first.ends,
        "renewing did not extend the lease: before {first:?}, after {renewed:?}"
    );
    assert!(
        run.stderr_text()
            .contains("sending renew to server 10.99.0.1")
            && !run.stderr_text().contains("broadcasting renew"),
        "udhcpc did not renew by unicast: {}\n--- client namespace, tcpdump -i any (interface names are the host's) ---\n{}\n--- bootherd ---\n{}",
        run.describe(),
        wire.decode(),
        lab.server.log_text()
    );

    // Release on TERM (-R).
    let out = lab.lab.exec(&lab.lab.cli(), 5, &["kill", "-TERM", &pid]);
    assert!(out.success(), "kill -TERM udhcpc: {}", out.describe());
    assert!(
        run.wait_exit(Duration::from_secs(10)).is_some(),
        "udhcpc did not exit on TERM: {}",
        run.describe()
    );
    assert!(
        run.stderr_text().contains("sending release"),
        "udhcpc sent no release: {}",
        run.describe()
    );
    lab.expect_released(UDHCPC_MAC, ip);
    eprintln!(
        "udhcpc: bound {ip} (ends {}), renewed (ends {}), released: {:?}\n{}",
        first.ends,
        renewed.ends,
        lab.lease(UDHCPC_MAC),
        run.stderr_text().trim()
    );
}

#[test]
fn clients_bootherd_does_not_own_get_the_lan_lease_and_no_packet() {
    let test = "dhcp_clients::clients_bootherd_does_not_own_get_the_lan_lease_and_no_packet";
    if !need_lab(test, &["dnsmasq", "tcpdump", "busybox", "dhclient"]) {
        return;
    }
    // At debug level bootherd names each request it ignores: the proof that
    // the requests reached it.
    let lab = ClientLab::start(Some(DEBUG_DHCP));
    add_client_port(&lab.lab, "dhc0", FOREIGN_DHCLIENT_MAC);
    add_client_port(&lab.lab, "udc0", FOREIGN_UDHCPC_MAC);
    let mut from_server = Capture::on_server(
        &lab.lab,
        BOOTHERD_DHCP_REPLIES,
        lab.dir.path(),
        "from-bootherd",
    );
    let mut requests = Capture::on_server(
        &lab.lab,
        REQUESTS_TO_BOOTHERD,
        lab.dir.path(),
        "to-bootherd",
    );

    let out = lab.lab.udhcpc_once("udc0", 3, &[]);
    assert!(out.success(), "udhcpc: {}", out.describe());
    let said = format!("{}{}", out.stdout, out.stderr);
    let udhcpc_ip = lab.lan.lease_of(FOREIGN_UDHCPC_MAC);
    assert!(
        said.contains("obtained from 10.99.0.2")
            && udhcpc_ip.is_some_and(|ip| in_range(ip, LAN_RANGE))
            && said.contains(&format!("lease of {}", udhcpc_ip.unwrap())),
        "udhcpc did not get its lease from dnsmasq ({udhcpc_ip:?}): {}",
        out.describe()
    );

    let script = lab.script("dhclient-script", DHCLIENT_SCRIPT);
    let once = dhclient_args(lab.dir.path(), &script, "dhc0", &["-1", "-d", "-v"]);
    let bound = lab.dhclient_until(&once, "dhclient", &script, "reason=BOUND", 0);
    let dhclient_ip = ip_field(&bound);
    assert!(
        in_range(dhclient_ip, LAN_RANGE) && field(&bound, "server") == "10.99.0.2",
        "dhclient did not get its lease from dnsmasq: {bound}"
    );

    // A late reply would have left by now.
    from_server.expect_silent(
        Duration::from_secs(1),
        "only clients bootherd does not own asked, so it must send nothing from port 67",
    );
    // It saw each of their requests, and ignored it.
    let frames = requests.stop();
    let mut seen = Vec::new();
    for mac in [FOREIGN_DHCLIENT_MAC, FOREIGN_UDHCPC_MAC] {
        assert_eq!(lease_of(&lab.db, mac), None, "bootherd recorded {mac}");
        seen.push(expect_each_request_ignored(
            &lab.server,
            &requests,
            &frames,
            mac,
        ));
    }
    eprintln!("not owned: udhcpc got {udhcpc_ip:?}, dhclient got {dhclient_ip} from dnsmasq; bootherd saw {} requests from dhclient and {} from udhcpc, and sent 0 packets", seen[0], seen[1]);
}
