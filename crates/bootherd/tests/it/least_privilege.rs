//! bootherd without root. Two ways, each with every service checked by a real
//! client in the lab:
//!
//! - started by `nobody` holding only CAP_NET_BIND_SERVICE and CAP_NET_RAW
//!   (util-linux `setpriv`, ambient capabilities);
//! - started as root with `[service] user = "nobody"`: it binds, opens the lease
//!   database, then drops on every thread (uid, gid, no supplementary groups,
//!   only those two capabilities, also in the bounding set, and no_new_privs).
//!
//! Both times: TFTP (tftp-hpa) and HTTP (curl) on their privileged ports,
//! proxyDHCP on 67 and 4011 (`bootherd probe --as pxe-efi`, which also fetches
//! its boot file), and a lease from the DHCP server (busybox udhcpc) whose
//! address checks still find hosts: the pool's first address answers ICMP echo
//! (over a raw socket: a fresh namespace allows no ping sockets), the second
//! ignores echo and is found by ARP only, so the client gets the third. Every
//! thread's `/proc/PID/task/TID/status` is read at start and at the end.

use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::User;

use crate::dhcp_lab::{
    add_client_port, owned_dhcp_section, read_leases, write_tftp_config, OWNED_RANGE,
};
use crate::support::{
    assert_file_eq, need_lab, pseudo_random_bytes, temp_dir, write_file, Dnsmasq, Lab, Server,
    BOOTHERD, LAB_SERVER_IP,
};

/// The udhcpc client's MAC, owned by bootherd's DHCP server.
const CLIENT_MAC: &str = "52:54:00:99:0e:01";
/// The PXE probe's MAC: not owned, so the proxy answers it.
const PXE_MAC: &str = "52:54:00:99:0e:0e";
/// Held by the client namespace's bridge, which answers ICMP echo.
const ECHO_SQUATTED: Ipv4Addr = OWNED_RANGE.0;
/// Held by the LAN namespace, which ignores ICMP echo: found by ARP only.
const ARP_SQUATTED: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 201);
/// The first free address of the pool.
const FREE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 202);
/// CapPrm and CapEff: CAP_NET_BIND_SERVICE (10) and CAP_NET_RAW (13).
const TWO_CAPS: u64 = 0x2400;
/// Debug lines of the address checks, info for the rest.
const LOG_LEVEL: &str = "info,bootherd::net=debug,bootherd::dhcp::server=debug";
/// What bootherd logs once it has dropped.
const DROPPED: &str = "privileges dropped";

#[test]
fn every_service_works_for_a_user_with_only_two_capabilities() {
    let test = "least_privilege::every_service_works_for_a_user_with_only_two_capabilities";
    let Some(nobody) = ready(test) else {
        return;
    };
    let lab = PrivLab::new("");
    // Nobody may write the lease database's directory: it creates the files.
    nix::unistd::chown(&lab.db_dir(), Some(nobody.uid), Some(nobody.gid)).unwrap();
    let (uid, gid) = (nobody.uid.to_string(), nobody.gid.to_string());
    let caps = "+net_bind_service,+net_raw";
    let wrapper = [
        "setpriv",
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
        &format!("--inh-caps={caps}"),
        &format!("--ambient-caps={caps}"),
    ];
    let server = lab.start(&wrapper);
    let who = (nobody.uid.as_raw(), nobody.gid.as_raw());
    assert_threads(&server, who, false, "at start");
    // SO_RCVBUFFORCE needs CAP_NET_ADMIN: below a 16 MiB rmem_max, bootherd says so.
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if rmem_max < 16 << 20 {
        assert!(
            !server
                .log_lines_with(&["receive buffer limited by net.core.rmem_max"])
                .is_empty(),
            "bootherd should log that its DHCP receive buffer is capped; log:\n{}",
            server.log_text()
        );
    }
    lab.check_services(&server, "");
    assert_threads(&server, who, false, "after serving");
}

#[test]
fn started_as_root_it_drops_to_the_configured_user() {
    let test = "least_privilege::started_as_root_it_drops_to_the_configured_user";
    let Some(nobody) = ready(test) else {
        return;
    };
    // The lease database's directory stays root's and closed to nobody:
    // bootherd creates the files as root and gives them to nobody.
    let lab = PrivLab::new("[service]\nuser = \"nobody\"\n");
    let server = lab.start(&[]);
    let dropped = server.expect_log(
        &[DROPPED],
        Duration::from_secs(10),
        "bootherd did not log that it dropped its privileges",
    );
    assert!(
        dropped.contains("running as nobody:")
            && dropped.contains("CAP_NET_BIND_SERVICE, CAP_NET_RAW"),
        "{dropped}"
    );
    let who = (nobody.uid.as_raw(), nobody.gid.as_raw());
    assert_threads(&server, who, true, "after the drop");
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", lab.db.display()));
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            meta.uid(),
            nobody.uid.as_raw(),
            "{} should belong to nobody",
            path.display()
        );
    }
    lab.check_services(&server, DROPPED);
    // A reload reads the configuration and templates as nobody.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    server.expect_log(
        &["configuration reloaded", "SIGHUP"],
        Duration::from_secs(10),
        "a reload after the drop should succeed",
    );
    assert_threads(&server, who, true, "after serving");
}

/// The lab can run, and the user `nobody` exists (always, on Debian).
fn ready(test: &str) -> Option<User> {
    if !need_lab(test, &["setpriv", "busybox", "tftp", "curl", "dnsmasq"]) {
        return None;
    }
    let nobody = User::from_name("nobody").ok().flatten();
    assert!(nobody.is_some(), "{test}: this host has no user nobody");
    nobody
}

/// Fields drop in order: the LAN's server, the lab, then the files.
struct PrivLab {
    _dnsmasq: Dnsmasq,
    lab: Lab,
    dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    kernel: Vec<u8>,
    efi: Vec<u8>,
}

impl PrivLab {
    /// A lab with the squatters in place (before bootherd starts: its
    /// ahead-of-time checks must not find their addresses free), dnsmasq as the
    /// LAN's server leaving the client to bootherd, and a configuration with
    /// `service` first, then TFTP, the proxy and the DHCP server.
    fn new(service: &str) -> PrivLab {
        let dir = temp_dir();
        // Readable by nobody: the configuration, the boot root.
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
        let root = dir.path().join("root");
        let kernel = pseudo_random_bytes(31, 300_001);
        let efi = pseudo_random_bytes(32, 200_003);
        write_file(&root.join("kernel.img"), &kernel);
        write_file(&root.join("ipxe.efi"), &efi);
        let db_dir = dir.path().join("db");
        std::fs::create_dir(&db_dir).unwrap();
        let db = db_dir.join("leases.sqlite");
        let rest = format!(
            "{service}[proxy]\nenabled = true\n{}",
            owned_dhcp_section(&db, &[CLIENT_MAC], &[], "ping_timeout_ms = 300")
        );
        let config = write_tftp_config(dir.path(), &root, &rest);
        let lab = Lab::up();
        // The client's port first: a bridge takes the lowest MAC of its ports.
        add_client_port(&lab, "udc0", CLIENT_MAC);
        let squat = |ns: &str, ip: Ipv4Addr, dev: &str| {
            let addr = format!("{ip}/24");
            let out = lab.exec(ns, 10, &["ip", "addr", "add", &addr, "dev", dev]);
            assert!(out.success(), "ip addr add {addr}: {}", out.describe());
        };
        squat(&lab.cli(), ECHO_SQUATTED, "br0");
        squat(&lab.lan(), ARP_SQUATTED, "eth0");
        let out = lab.exec(
            &lab.lan(),
            10,
            &["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"],
        );
        assert!(out.success(), "sysctl: {}", out.describe());
        let dnsmasq = Dnsmasq::lan(&lab, dir.path(), "10m", &[CLIENT_MAC]);
        PrivLab {
            _dnsmasq: dnsmasq,
            lab,
            dir,
            config,
            db,
            kernel,
            efi,
        }
    }

    fn db_dir(&self) -> PathBuf {
        self.db.parent().unwrap().to_path_buf()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// bootherd in `NAME-srv`, run by `wrapper` (none: as root); returns once
    /// TFTP, HTTP, the proxy and the DHCP server listen.
    fn start(&self, wrapper: &[&str]) -> Server {
        let server = Server::start_in_config_under(
            &self.lab.srv(),
            wrapper,
            &self.config,
            &[],
            Some(LOG_LEVEL),
        );
        server.expect_lines(
            &["listening on 0.0.0.0:67"],
            2,
            Duration::from_secs(10),
            "bootherd did not log that the proxy and the DHCP server listen",
        );
        server
    }

    /// TFTP, HTTP, the proxy on 67 and 4011, and a DHCP lease whose address
    /// checks (ICMP echo, ARP) ran after the log line `since` (all of the log
    /// when empty).
    fn check_services(&self, server: &Server, since: &str) {
        let fail = |what: &str, out: &crate::support::RunOutput| -> ! {
            panic!(
                "{what}: {}\n--- bootherd ---\n{}",
                out.describe(),
                server.log_text()
            )
        };
        let cli = self.lab.cli();

        let got = self.out("tftp-kernel.img");
        let tftp = [
            "tftp",
            "-m",
            "octet",
            LAB_SERVER_IP,
            "69",
            "-c",
            "get",
            "kernel.img",
            path_str(&got),
        ];
        let out = self.lab.exec(&cli, 60, &tftp);
        if !out.success() {
            fail("tftp-hpa get kernel.img", &out);
        }
        assert_file_eq(&got, &self.kernel, "TFTP kernel.img");

        let got = self.out("http-kernel.img");
        let url = format!("http://{LAB_SERVER_IP}:80/kernel.img");
        let out = self.lab.exec(
            &cli,
            60,
            &[
                "curl",
                "-sS",
                "--max-time",
                "50",
                "-o",
                path_str(&got),
                &url,
            ],
        );
        if !out.success() {
            fail("curl over HTTP", &out);
        }
        assert_file_eq(&got, &self.kernel, "HTTP kernel.img");

        let saved = self.out("probe");
        let probe = [
            BOOTHERD,
            "probe",
            "--interface",
            "br0",
            "--as",
            "pxe-efi",
            "--mac",
            PXE_MAC,
            "--timeout",
            "6",
            "--save",
            path_str(&saved),
        ];
        let out = self.lab.exec(&cli, 60, &probe);
        let said = |line: &str| out.stdout.lines().any(|l| l.contains(line));
        if !out.success()
            || !said("offer from 10.99.0.1: proxy")
            || !said("DHCP  REQUEST to 10.99.0.1:4011: ack from 10.99.0.1")
            || !said("TFTP  10.99.0.1 ipxe.efi: 200003 bytes")
        {
            fail(
                "bootherd probe --as pxe-efi should get the proxy's offer on 67, its ack on 4011 and ipxe.efi",
                &out,
            );
        }
        assert_file_eq(&saved.join("ipxe.efi"), &self.efi, "probe's ipxe.efi");

        let out = self.lab.udhcpc_once("udc0", 3, &[]);
        let udhcpc = format!("{}{}", out.stdout, out.stderr);
        if !out.success() || !udhcpc.contains(&format!("lease of {FREE} obtained")) {
            fail(
                &format!("udhcpc should get {FREE}, the first address nobody holds"),
                &out,
            );
        }
        let rows = read_leases(&self.db);
        for squatted in [ECHO_SQUATTED, ARP_SQUATTED] {
            assert!(
                rows.iter().any(|r| r.ip == squatted
                    && r.state == "declined"
                    && r.mac == "00:00:00:00:00:00"),
                "{squatted} should be held out as a conflict: {rows:?}\n{}",
                server.log_text()
            );
        }
        assert!(
            rows.iter()
                .any(|r| r.ip == FREE && r.mac == CLIENT_MAC && r.state == "bound"),
            "the client should hold {FREE}: {rows:?}"
        );

        // The checks that found the squatters ran with the privileges under test.
        let log = server.log_text();
        let after = match since {
            "" => log.as_str(),
            marker => {
                let at = log
                    .find(marker)
                    .unwrap_or_else(|| panic!("no {marker:?} in the log:\n{log}"));
                &log[at..]
            }
        };
        let has = |needles: &[&str]| after.lines().any(|l| needles.iter().all(|n| l.contains(n)));
        let echo_ip = format!("ip={ECHO_SQUATTED}");
        let arp_ip = format!("ip={ARP_SQUATTED}");
        assert!(
            has(&["icmp check: echo reply", &echo_ip, "raw=true"]),
            "{ECHO_SQUATTED} should have answered ICMP echo on a raw socket; log:\n{log}"
        );
        assert!(
            has(&["address answers ARP", &arp_ip]),
            "{ARP_SQUATTED} should have answered the ARP probe; log:\n{log}"
        );
        for refusal in [
            "cannot check the address with ICMP echo",
            "cannot check the address with ARP",
            "Permission denied",
            "Operation not permitted",
        ] {
            assert!(
                !log.contains(refusal),
                "bootherd lacked a privilege ({refusal:?}); log:\n{log}"
            );
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// One `Key:\tvalue` line of a status file.
fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in:\n{status}"))
        .trim()
}

fn hex(status: &str, key: &str) -> u64 {
    u64::from_str_radix(field(status, key), 16).unwrap()
}

/// Every thread of the server has uid and gid `who` (all four of each), and
/// exactly CAP_NET_BIND_SERVICE and CAP_NET_RAW permitted and effective. After
/// a drop (`dropped`) also: no supplementary groups, nothing inheritable or
/// ambient, a bounding set of those two, and no_new_privs.
fn assert_threads(server: &Server, who: (u32, u32), dropped: bool, when: &str) {
    let pid = server.pid();
    let process = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(
        field(&process, "Name"),
        "bootherd",
        "pid {pid} is not bootherd"
    );
    let mut threads = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = entry.unwrap().path();
        let Ok(status) = std::fs::read_to_string(task.join("status")) else {
            continue; // ended meanwhile
        };
        threads += 1;
        let what = format!(
            "{when}: thread {} ({})",
            task.display(),
            field(&status, "Name")
        );
        let ids = |key| {
            field(&status, key)
                .split_whitespace()
                .map(|n| n.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("Uid"), [who.0; 4], "{what}: Uid\n{status}");
        assert_ne!(who.0, 0);
        assert_eq!(ids("Gid"), [who.1; 4], "{what}: Gid\n{status}");
        assert_eq!(hex(&status, "CapPrm"), TWO_CAPS, "{what}: CapPrm\n{status}");
        assert_eq!(hex(&status, "CapEff"), TWO_CAPS, "{what}: CapEff\n{status}");
        if dropped {
            assert_eq!(field(&status, "Groups"), "", "{what}: Groups\n{status}");
            assert_eq!(hex(&status, "CapInh"), 0, "{what}: CapInh\n{status}");
            assert_eq!(hex(&status, "CapAmb"), 0, "{what}: CapAmb\n{status}");
            assert_eq!(hex(&status, "CapBnd"), TWO_CAPS, "{what}: CapBnd\n{status}");
            assert_eq!(
                field(&status, "NoNewPrivs"),
                "1",
                "{what}: NoNewPrivs\n{status}"
            );
        }
    }
    // The runtime's workers, the SQLite worker and the DHCP threads at least.
    assert!(
        threads >= 4,
        "{when}: only {threads} threads in /proc/{pid}/task"
    );
}
