//! Fixtures for the tests of bootherd's DHCP server, which answers only the
//! machines it owns next to the LAN's own DHCP server: bootherd from a TOML file,
//! dnsmasq as the LAN's server (optionally told to leave some MACs alone), the
//! lease database as `bootherd leases --json` shows it, veth ports with chosen
//! MACs on the lab bridge, and code run inside a lab namespace (`setns`).
//!
//! Background programs are [`Bg`]s: bounded by `timeout`, stopped with their
//! whole process group on drop, also while a test panics.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

use crate::pxe_lab::{read_lossy, wait_until, Bg};
use crate::support::{run_bootherd, Lab, Server};

/// bootherd's pool in the lab tests that share the LAN with dnsmasq.
pub const OWNED_RANGE: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(10, 99, 0, 200), Ipv4Addr::new(10, 99, 0, 220));
/// dnsmasq's pool (the LAN's own server in `NAME-lan`).
pub const LAN_RANGE: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(10, 99, 0, 150), Ipv4Addr::new(10, 99, 0, 199));

/// How long bootherd may take to log that its DHCP server listens.
const DHCP_STARTUP: Duration = Duration::from_secs(10);

/// Whether `ip` lies in the inclusive range.
pub fn in_range(ip: Ipv4Addr, range: (Ipv4Addr, Ipv4Addr)) -> bool {
    (u32::from(range.0)..=u32::from(range.1)).contains(&u32::from(ip))
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A `[dhcp]` section owning `macs` (and `vendor_classes`), with bootherd's pool
/// 10.99.0.200-220 on the lab subnet, boot file `pxelinux.0`, leases in `db`.
/// `extra` lines go at the end of the `[dhcp]` table (before the sub-tables).
pub fn owned_dhcp_section(
    db: &Path,
    macs: &[&str],
    vendor_classes: &[&str],
    extra: &str,
) -> String {
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "[dhcp]\n\
         enabled = true\n\
         lease_db = {db:?}\n\
         own_macs = [{macs}]\n\
         own_vendor_classes = [{classes}]\n\
         {extra}\n\
         [dhcp.boot]\n\
         file = \"pxelinux.0\"\n\
         [[dhcp.pool]]\n\
         subnet = \"10.99.0.0/24\"\n\
         range = [\"{first}\", \"{last}\"]\n\
         router = \"10.99.0.1\"\n\
         lease_secs = 600\n",
        db = db.display().to_string(),
        macs = list(macs),
        classes = list(vendor_classes),
        first = OWNED_RANGE.0,
        last = OWNED_RANGE.1,
    )
}

/// Starts `bootherd serve --config CONFIG` (plus `extra` flags) in `ns` and waits
/// for `dhcp server listening on`.
pub fn start_dhcp_server(ns: &str, config: &Path, extra: &[&str]) -> Server {
    let server = Server::start_in_config(ns, config, extra, None);
    assert!(
        server.wait_for_log("dhcp server listening on 0.0.0.0:67", DHCP_STARTUP),
        "bootherd did not log `dhcp server listening on 0.0.0.0:67` within {DHCP_STARTUP:?}; log:\n{}",
        server.log_text()
    );
    server
}

/// One row of `bootherd leases --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LeaseRow {
    pub ip: Ipv4Addr,
    pub mac: String,
    pub hostname: Option<String>,
    pub state: String,
    pub starts: u64,
    pub ends: u64,
    pub live: bool,
}

/// Every record in the lease database (`bootherd leases --db DB --json --all`).
pub fn read_leases(db: &Path) -> Vec<LeaseRow> {
    let out = run_bootherd([
        "leases".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--json".as_ref(),
        "--all".as_ref(),
    ]);
    assert!(
        out.success(),
        "bootherd leases --db {} --json --all: {}",
        db.display(),
        out.describe()
    );
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bootherd leases --json printed something that is not a lease array ({e}):\n{}",
            out.stdout
        )
    })
}

/// The record for `mac`, if exactly one exists (panics on more than one).
pub fn lease_of(db: &Path, mac: &str) -> Option<LeaseRow> {
    let rows: Vec<LeaseRow> = read_leases(db)
        .into_iter()
        .filter(|r| r.mac.eq_ignore_ascii_case(mac))
        .collect();
    assert!(
        rows.len() <= 1,
        "more than one lease record for {mac}: {rows:?}"
    );
    rows.into_iter().next()
}

/// dnsmasq in `NAME-lan` as the LAN's DHCP server: pool 10.99.0.150-199, no DNS,
/// no ping before offering (it answers at once), lease file and log in `dir`.
/// Each MAC in `ignore` gets nothing from it (`--dhcp-host=MAC,ignore`), the way
/// an administrator leaves a board to bootherd.
pub struct LanServer {
    _process: Bg,
    pub leases: PathBuf,
    pub log: PathBuf,
}

impl LanServer {
    pub fn start(lab: &Lab, dir: &Path, ignore: &[&str]) -> LanServer {
        let ns = lab.lan();
        let leases = dir.join("dnsmasq.leases");
        let log = dir.join("dnsmasq.log");
        let mut args: Vec<String> = [
            "dnsmasq",
            "-k",
            "--conf-file=/dev/null",
            "--port=0",
            "--no-ping",
            "--user=root",
            "--bind-interfaces",
            "--interface=eth0",
            "--dhcp-range=10.99.0.150,10.99.0.199,255.255.255.0,1h",
            "--log-dhcp",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--dhcp-leasefile={}", leases.display()));
        args.push(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
        args.push(format!("--log-facility={}", log.display()));
        for mac in ignore {
            args.push(format!("--dhcp-host={mac},ignore"));
        }
        let mut bg = Bg::spawn(&ns, 900, &args, dir, "dnsmasq");
        let ready = wait_until(Duration::from_secs(10), || {
            read_lossy(&log).contains("DHCP, sockets bound exclusively to interface eth0")
                || !bg.is_running()
        });
        assert!(
            ready && bg.is_running(),
            "dnsmasq did not start in {ns}: {}\n--- log ---\n{}",
            bg.describe(),
            read_lossy(&log)
        );
        LanServer {
            _process: bg,
            leases,
            log,
        }
    }

    pub fn log_text(&self) -> String {
        read_lossy(&self.log)
    }

    /// The address dnsmasq leased to `mac`, from its lease file.
    pub fn lease_of(&self, mac: &str) -> Option<Ipv4Addr> {
        read_lossy(&self.leases).lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 3 && fields[1].eq_ignore_ascii_case(mac))
                .then(|| fields[2].parse().ok())
                .flatten()
        })
    }
}

/// Adds a veth pair inside the client namespace: `name` with `mac` for a DHCP
/// client, its peer `<name>p` a port of br0. Both go away with the namespace.
pub fn add_client_port(lab: &Lab, name: &str, mac: &str) {
    let cli = lab.cli();
    let peer = format!("{name}p");
    for cmd in [
        vec![
            "ip", "link", "add", name, "address", mac, "type", "veth", "peer", "name", &peer,
        ],
        vec!["ip", "link", "set", &peer, "master", "br0"],
        vec!["ip", "link", "set", &peer, "up"],
        vec!["ip", "link", "set", name, "up"],
    ] {
        let out = lab.exec(&cli, 10, &cmd);
        assert!(out.success(), "{cmd:?} in {cli}: {}", out.describe());
    }
}

/// Runs `f` on a new thread that has joined network namespace `ns` first, so
/// every socket `f` opens lives there. The calling thread is untouched.
pub fn in_netns<T, F>(ns: &str, f: F) -> JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    thread::Builder::new()
        .name(format!("netns-{ns}"))
        .spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .expect("spawn a thread")
}

/// Joins a thread from [`in_netns`], passing its panic on.
pub fn join<T>(handle: JoinHandle<T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[test]
fn owned_section_is_a_valid_config() {
    let dir = crate::support::temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let text = format!(
        "[tftp]\nroot = {:?}\n{}",
        root.display().to_string(),
        owned_dhcp_section(
            &dir.path().join("leases.sqlite"),
            &["52:54:00:99:00:a1"],
            &["U-Boot*"],
            "ping_check = false",
        )
    );
    let config = write_config(dir.path(), "bootherd.toml", &text);
    let out = run_bootherd(["check".as_ref(), "--config".as_ref(), config.as_os_str()]);
    assert!(out.success(), "{text}\n{}", out.describe());
}
