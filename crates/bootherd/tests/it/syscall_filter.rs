//! The unit's `SystemCallFilter=` and `RestrictAddressFamilies=` against what
//! bootherd really does, since no systemd runs these tests: bootherd serves in
//! the lab under `strace -f`, as the unit runs it (not root, only the two
//! ambient capabilities, no new privileges, NOTIFY_SOCKET and WATCHDOG_USEC
//! set), through proxyDHCP (`probe --as rpi4` next to the LAN's dnsmasq),
//! TFTP, HTTP, its DHCP server with the ICMP and ARP checks (`probe --as
//! uboot`), a reload and a stop. Every system call it made must be one the
//! filter allows, as `systemd-analyze syscall-filter` expands the unit's
//! groups, and every socket it opened of a family the unit allows; else
//! systemd would refuse it (EPERM) on a user's machine.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, User};

use crate::dhcp_lab::owned_dhcp_section;
use crate::support::{
    need_lab, pseudo_random_bytes, repo_root, run_bounded, temp_dir, write_file, Dnsmasq, Lab,
    Server, BOOTHERD, LAB_SERVER_IP,
};
use crate::systemd_notify::Manager;

const UBOOT_MAC: &str = "52:54:00:99:00:a1";

/// The values of every `KEY=` line of the unit, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

/// The system calls in a `systemd-analyze syscall-filter` group, nested
/// groups expanded.
fn expand(group: &str, seen: &mut BTreeSet<String>, calls: &mut BTreeSet<String>) {
    if !seen.insert(group.to_string()) {
        return;
    }
    let out = run_bounded(
        Command::new("systemd-analyze").args(["syscall-filter", "--no-pager", group]),
        Duration::from_secs(30),
    )
    .expect("run systemd-analyze syscall-filter");
    assert!(out.success(), "syscall-filter {group}: {}", out.describe());
    for line in out.stdout.lines().skip(1) {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        match entry.starts_with('@') {
            true => expand(entry, seen, calls),
            false => {
                calls.insert(entry.to_string());
            }
        }
    }
}

/// The system calls the unit's SystemCallFilter= lines allow: the first
/// (an allow list) minus every `~` line after it.
fn allowed_calls(unit: &str) -> BTreeSet<String> {
    let lines = unit_values(unit, "SystemCallFilter");
    let (allow, deny): (Vec<&String>, Vec<&String>) =
        lines.iter().partition(|l| !l.starts_with('~'));
    assert_eq!(allow.len(), 1, "one allow list expected: {lines:?}");
    let names = |text: &str| -> BTreeSet<String> {
        let mut calls = BTreeSet::new();
        for name in text.trim_start_matches('~').split_whitespace() {
            match name.starts_with('@') {
                true => expand(name, &mut BTreeSet::new(), &mut calls),
                false => {
                    calls.insert(name.to_string());
                }
            }
        }
        calls
    };
    let mut allowed = names(allow[0]);
    for line in deny {
        for call in names(line) {
            allowed.remove(&call);
        }
    }
    allowed
}

/// The system calls bootherd made and the socket families it asked for, from
/// `strace -f` of `setpriv ... bootherd`: setpriv's own calls (before its
/// process runs bootherd) left out.
fn traced(log: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut calls = BTreeSet::new();
    let mut families = BTreeSet::new();
    let mut started = false;
    for line in log.lines() {
        let Some((_pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if !started {
            // setpriv's process becomes bootherd.
            // The program executed, not an argument naming it: setpriv's own
            // execve has bootherd's path in its argv.
            started = rest.starts_with(&format!("execve(\"{BOOTHERD}\",")) && rest.ends_with("= 0");
            continue;
        }
        if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        calls.insert(name.to_string());
        if name == "socket" || name == "socketpair" {
            if let Some(family) = args.split(',').next() {
                families.insert(family.trim().to_string());
            }
        }
    }
    assert!(started, "no execve of bootherd in the trace");
    (calls, families)
}

#[test]
fn every_system_call_and_socket_family_bootherd_uses_is_allowed_by_the_unit() {
    let test = "every_system_call_and_socket_family_bootherd_uses_is_allowed_by_the_unit";
    if !need_lab(
        test,
        &["strace", "setpriv", "systemd-analyze", "dnsmasq", "curl"],
    ) {
        return;
    }
    let unit = std::fs::read_to_string(repo_root().join("packaging/debian/bootherd.service"))
        .expect("read packaging/debian/bootherd.service");
    let allowed = allowed_calls(&unit);
    let families: BTreeSet<String> = unit_values(&unit, "RestrictAddressFamilies")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(allowed.contains("recvmmsg") && !allowed.contains("setuid"));

    let nobody = User::from_name("nobody").unwrap().expect("no user nobody");
    let dir = temp_dir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let root = dir.path().join("root");
    for (i, (name, len)) in [
        ("start4.elf", 204_800),
        ("fixup4.dat", 5_446),
        ("bcm2711-rpi-4-b.dtb", 52_000),
        ("kernel8.img", 130_002),
    ]
    .into_iter()
    .enumerate()
    {
        write_file(&root.join(name), &pseudo_random_bytes(700 + i as u64, len));
    }
    write_file(&root.join("pxelinux.cfg/default"), b"default linux\n");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    nix::unistd::chown(&state, Some(nobody.uid), Some(nobody.gid)).unwrap();
    let config = dir.path().join("bootherd.toml");
    let dhcp = owned_dhcp_section(&state.join("leases.sqlite"), &[UBOOT_MAC], &[], "");
    write_file(
        &config,
        format!("[tftp]\nroot = {root:?}\n[proxy]\nenabled = true\n{dhcp}").as_bytes(),
    );
    let notify = dir.path().join("notify");
    let manager = Manager::listen(&notify);
    std::fs::set_permissions(&notify, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();

    let lab = Lab::up();
    let _dnsmasq = Dnsmasq::lan(&lab, dir.path(), "1h", &[UBOOT_MAC]);
    let trace = dir.path().join("strace.log");
    let caps = "-all,+net_bind_service,+net_raw";
    let mut cmd = Command::new("ip");
    // `-s 4096`: paths whole (strace cuts strings at 32 bytes by default).
    cmd.args([
        "netns",
        "exec",
        &lab.srv(),
        "strace",
        "-f",
        "-qq",
        "-s",
        "4096",
        "-o",
    ])
    .arg(&trace)
    .args([
        "setpriv",
        &format!("--reuid={}", nobody.uid),
        &format!("--regid={}", nobody.gid),
        "--clear-groups",
        &format!("--inh-caps={caps}"),
        &format!("--ambient-caps={caps}"),
        &format!("--bounding-set={caps}"),
        "--no-new-privs",
        BOOTHERD,
        "serve",
        "--config",
    ])
    .arg(&config)
    .env("NOTIFY_SOCKET", &notify)
    .env("WATCHDOG_USEC", "2000000")
    .env_remove("WATCHDOG_PID");
    let mut server = Server::start(cmd);
    server.expect_log(
        &["dhcp server listening on 0.0.0.0:67"],
        Duration::from_secs(30),
        "no DHCP server",
    );
    let probe = |args: &[&str]| {
        let mut argv = vec![BOOTHERD, "probe", "--interface", "br0", "--timeout", "8"];
        argv.extend_from_slice(args);
        let out = lab.exec(&lab.cli(), 60, &argv);
        assert!(
            out.success(),
            "{}\n--- bootherd ---\n{}",
            out.describe(),
            server.log_text()
        );
    };
    probe(&["--as", "rpi4", "--mac", "dc:a6:32:01:02:03"]);
    probe(&["--as", "uboot", "--mac", UBOOT_MAC]);
    let url = format!("http://{LAB_SERVER_IP}/kernel8.img");
    let http = lab.exec(&lab.cli(), 30, &["curl", "-sS", "-o", "/dev/null", &url]);
    assert!(http.success(), "{}", http.describe());
    std::thread::sleep(Duration::from_secs(2)); // a few watchdog pings
    assert!(!manager.with("WATCHDOG=1").is_empty(), "no watchdog pings");

    // bootherd's pid: strace's child (setpriv, which became bootherd).
    let pid = std::fs::read_to_string(format!("/proc/{}/task/{0}/children", server.pid()))
        .ok()
        .and_then(|c| c.split_whitespace().next()?.parse::<i32>().ok())
        .expect("bootherd's pid under strace");
    kill(Pid::from_raw(pid), Signal::SIGHUP).unwrap();
    server.expect_log(
        &["configuration reloaded"],
        Duration::from_secs(10),
        "reload",
    );
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert!(
        server.wait_exit(Duration::from_secs(30)).is_some(),
        "bootherd did not stop"
    );
    assert!(!manager.with("STOPPING=1").is_empty(), "no STOPPING=1");

    let log = std::fs::read_to_string(&trace).expect("read the trace");
    let (calls, used) = traced(&log);
    let refused: Vec<&String> = calls.iter().filter(|c| !allowed.contains(*c)).collect();
    assert!(
        refused.is_empty(),
        "system calls the unit's SystemCallFilter= refuses: {refused:?} (all: {calls:?})"
    );
    let refused: Vec<&String> = used.iter().filter(|f| !families.contains(*f)).collect();
    assert!(
        refused.is_empty(),
        "socket families the unit's RestrictAddressFamilies= refuses: {refused:?} (allowed: {families:?})"
    );
    eprintln!("{} system calls, families {used:?}", calls.len());
}
