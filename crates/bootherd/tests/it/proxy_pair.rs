//! Two bootherd proxies with the same boot tree and no shared state (docs/HA.md):
//! server A in `NAME-srv` (10.99.0.1), server B in a fourth namespace on the lab
//! bridge (10.99.0.3), dnsmasq as the LAN's DHCP server in `NAME-lan`. A PXE BIOS
//! client (`bootherd probe`) takes the first proxy answer and fetches its boot
//! file from that server; once that server is SIGKILLed, the same client boots
//! from the other.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{
    need_lab, pseudo_random_bytes, run_bounded, temp_dir, write_file, Dnsmasq, Lab, Server,
    BOOTHERD,
};

/// A namespace on the lab's bridge, with `addr`/24 on its eth0; deleted on drop.
/// Named `<lab>-px-srv`-like (`bh-<pid>-px<n>-srv`) so that `lab/lab.sh sweep`
/// removes it if the test process is killed.
struct ExtraNamespace {
    name: String,
}

impl ExtraNamespace {
    fn add(lab: &Lab, tag: &str, addr: &str) -> ExtraNamespace {
        let name = format!("bh-{}-{tag}-srv", std::process::id());
        let ns = ExtraNamespace { name };
        let cli = lab.cli();
        let port = format!("v{tag}");
        for args in [
            vec!["netns", "add", &ns.name],
            vec!["-n", &ns.name, "link", "set", "lo", "up"],
            vec![
                "-n", &ns.name, "link", "add", "eth0", "type", "veth", "peer", "name", &port,
                "netns", &cli,
            ],
            vec!["-n", &cli, "link", "set", &port, "master", "br0"],
            vec!["-n", &cli, "link", "set", &port, "up"],
            vec!["-n", &ns.name, "addr", "add", addr, "dev", "eth0"],
            vec!["-n", &ns.name, "link", "set", "eth0", "up"],
        ] {
            let out = run_bounded(Command::new("ip").args(&args), Duration::from_secs(10))
                .expect("run ip");
            assert!(out.success(), "ip {args:?}: {}", out.describe());
        }
        ns
    }
}

impl Drop for ExtraNamespace {
    fn drop(&mut self) {
        if let Ok(pids) = run_bounded(
            Command::new("ip").args(["netns", "pids", &self.name]),
            Duration::from_secs(10),
        ) {
            for pid in pids
                .stdout
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let _ = run_bounded(
            Command::new("ip").args(["netns", "del", &self.name]),
            Duration::from_secs(10),
        );
    }
}

/// `bootherd probe --as pxe-bios` in the client namespace; its output.
fn probe(lab: &Lab, mac: &str) -> String {
    let out = lab.exec(
        &lab.cli(),
        60,
        &[
            BOOTHERD,
            "probe",
            "--interface",
            "br0",
            "--as",
            "pxe-bios",
            "--mac",
            mac,
            "--timeout",
            "4",
        ],
    );
    assert!(
        out.success() && out.stdout.contains("VERDICT: boots"),
        "the probe did not boot: {}",
        out.describe()
    );
    out.stdout
}

/// The server the probe fetched `undionly.kpxe` from.
fn served_by(output: &str) -> String {
    output
        .lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix("TFTP")?.trim_start();
            let (server, file) = rest.split_once(' ')?;
            file.starts_with("undionly.kpxe").then(|| server.to_owned())
        })
        .unwrap_or_else(|| panic!("no TFTP line for undionly.kpxe:\n{output}"))
}

#[test]
fn two_proxies_without_shared_state_boot_a_client_from_either() {
    let test = "proxy_pair::two_proxies_without_shared_state_boot_a_client_from_either";
    if !need_lab(test, &["dnsmasq"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("undionly.kpxe"), &pseudo_random_bytes(7, 70_012));
    let lab = Lab::up();
    let second = ExtraNamespace::add(&lab, "px2", "10.99.0.3/24");
    let _lan = Dnsmasq::lan(&lab, dir.path(), "1h", &[]);
    let a = Server::start_in_with(&lab.srv(), &root, &["--proxy", "--no-http"], Some("info"));
    let b = Server::start_in_with(&second.name, &root, &["--proxy", "--no-http"], Some("info"));

    let first = probe(&lab, "52:54:00:00:00:3b");
    let server1 = served_by(&first);
    let (served, other, other_ip) = match server1.as_str() {
        "10.99.0.1" => (a, b, "10.99.0.3"),
        "10.99.0.3" => (b, a, "10.99.0.1"),
        _ => panic!("served by neither proxy ({server1}):\n{first}"),
    };
    kill(Pid::from_raw(served.pid() as i32), Signal::SIGKILL).expect("SIGKILL the first proxy");
    drop(served);
    let again = probe(&lab, "52:54:00:00:00:3b");
    assert_eq!(
        served_by(&again),
        other_ip,
        "after the SIGKILL the client did not boot from the other proxy:\n{again}\n--- other ---\n{}",
        other.log_text()
    );
    eprintln!("PXE BIOS client: boot file from {server1}, then from {other_ip}");
}
