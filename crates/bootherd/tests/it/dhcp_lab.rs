//! Fixtures for the tests of bootherd's DHCP server, which answers only the
//! machines it owns next to the LAN's own DHCP server ([`crate::support::Dnsmasq`]):
//! bootherd from a TOML file, the lease database as `bootherd leases --json`
//! shows it, veth ports with chosen MACs on the lab bridge, and code run inside
//! a lab namespace (`setns`).

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use tempfile::TempDir;

use crate::support::{
    dhcp_packets, parse_mac, run_bootherd, temp_dir, wait_until, Capture, Frame, Lab, Server,
};

/// bootherd's pool in the lab tests that share the LAN with dnsmasq.
pub const OWNED_RANGE: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(10, 99, 0, 200), Ipv4Addr::new(10, 99, 0, 220));

/// How long bootherd may take to log that its DHCP server listens.
const DHCP_STARTUP: Duration = Duration::from_secs(10);

/// Writes `text` to `dir/name` and returns the path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Writes `dir/bootherd.toml`: `[tftp]` with `root`, then `rest` (such as an
/// [`owned_dhcp_section`]). Returns its path.
pub fn write_tftp_config(dir: &Path, root: &Path, rest: &str) -> PathBuf {
    write_config(
        dir,
        "bootherd.toml",
        &format!("[tftp]\nroot = {:?}\n{rest}", root.display().to_string()),
    )
}

/// A temporary directory holding an empty TFTP root (`root/`), the lease
/// database's path (`leases.sqlite`) and `bootherd.toml`, whose DHCP server owns
/// `macs` ([`owned_dhcp_section`] with `extra`). Removed on drop.
pub struct OwnedSetup {
    pub dir: TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
}

/// [`OwnedSetup`] for `macs`, with `extra` lines in `[dhcp]`.
pub fn owned_setup(macs: &[&str], extra: &str) -> OwnedSetup {
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let db = dir.path().join("leases.sqlite");
    let config = write_tftp_config(
        dir.path(),
        &root,
        &owned_dhcp_section(&db, macs, &[], extra),
    );
    OwnedSetup { dir, db, config }
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
    start_dhcp_server_logging(ns, config, extra, None)
}

/// [`start_dhcp_server`] at log level `rust_log` when given.
pub fn start_dhcp_server_logging(
    ns: &str,
    config: &Path,
    extra: &[&str],
    rust_log: Option<&str>,
) -> Server {
    let server = Server::start_in_config(ns, config, extra, rust_log);
    server.expect_log(
        &["dhcp server listening on 0.0.0.0:67"],
        DHCP_STARTUP,
        "bootherd did not log that its DHCP server listens",
    );
    server
}

/// The log level at which bootherd names each request it ignores.
pub const DEBUG_DHCP: &str = "info,bootherd::dhcp=debug";

/// The filter for the DHCP requests that reach bootherd's host (broadcast, or
/// sent to its address), for a [`Capture::on_server`].
pub const REQUESTS_TO_BOOTHERD: &str =
    "udp dst port 67 and (dst host 255.255.255.255 or dst host 10.99.0.1)";

/// Checks that bootherd, logging at [`DEBUG_DHCP`], saw every request from
/// `mac` in `frames` (what `requests`, made with [`REQUESTS_TO_BOOTHERD`],
/// captured) and ignored it: one `ignored` debug line per request, with its
/// xid, and no other line about `mac`. Returns how many requests there were.
pub fn expect_each_request_ignored(
    server: &Server,
    requests: &Capture,
    frames: &[Frame],
    mac: &str,
) -> usize {
    let want_mac = parse_mac(mac);
    let mut sent: Vec<String> = dhcp_packets(frames)
        .iter()
        .filter(|p| p.packet.op == 1 && p.packet.mac() == Some(want_mac))
        .map(|p| format!("xid={:#010x}", p.packet.xid))
        .collect();
    assert!(
        !sent.is_empty(),
        "no request from {mac} reached bootherd's host:\n{}",
        requests.decode()
    );
    let needles = ["dhcp: ignored: not an owned client", &format!("mac={mac}")];
    // The last request may still be on its way through bootherd.
    wait_until(Duration::from_secs(5), || {
        server.log_lines_with(&needles).len() >= sent.len()
    });
    let ignored = server.log_lines_with(&needles);
    let mut logged: Vec<String> = ignored
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("xid=")))
        .map(str::to_string)
        .collect();
    sent.sort();
    logged.sort();
    assert_eq!(
        logged,
        sent,
        "bootherd did not log one `ignored` line per request from {mac} (xids logged, left; captured, right):\n{}\n--- requests ---\n{}\n--- bootherd ---\n{}",
        ignored.join("\n"),
        requests.decode(),
        server.log_text()
    );
    assert!(ignored.iter().all(|l| l.contains(" DEBUG ")), "{ignored:?}");
    let about = server.log_lines_with(&[mac]);
    assert_eq!(about, ignored, "bootherd logged more about {mac}");
    sent.len()
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
    let dhcp = owned_dhcp_section(
        &dir.path().join("leases.sqlite"),
        &["52:54:00:99:00:a1"],
        &["U-Boot*"],
        "ping_check = false",
    );
    let config = write_tftp_config(dir.path(), &root, &dhcp);
    let out = run_bootherd(["check".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(out.success(), "{text}\n{}", out.describe());
}
