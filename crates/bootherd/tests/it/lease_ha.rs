//! Two bootherd servers, one PostgreSQL (docs/HA.md): server A in `NAME-srv`
//! (10.99.0.1) and server B in `NAME-lan` (10.99.0.2) answer the same owned
//! clients from one lease database, a real PostgreSQL started by the test on a
//! Unix socket. The burst client of `dhcp_durability` plays the clients.
//!
//! - One server (the one that has ACKed more so far) is SIGKILLed mid-burst:
//!   every client still gets a lease (from the survivor), the clients the dead
//!   server ACKed get their address again
//!   from the survivor (INIT-REBOOT), the database holds every ACKed lease, and
//!   no address is ACKed to two MACs across the run.
//! - The database is stopped under load and started again: no ACK leaves
//!   without its lease in the database, both servers say so in their log, and
//!   service resumes without a restart.
//! - dhclient, leased by one server, keeps its address through the other once
//!   the first is SIGKILLed; so does real U-Boot in QEMU, which also fetches
//!   its PXE config from either server.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::dhcp_durability::{
    mac_of, missing_acks, wait_for_acks, Burst, Event, Job, Kind, Outcome, POOL_FIRST, POOL_LAST,
};
use bootherd::leases::{LeaseStore, PgStore, Refusal, SqliteStore};
use bootherd_proto::dhcp::{Lease, LeaseChange, LeaseState};

use crate::dhcp_lab::{
    add_client_port, in_netns, join, owned_dhcp_section, read_leases, start_dhcp_server,
    write_config, LeaseRow,
};
use crate::support::postgres::{need_postgres, Postgres};
use crate::support::{
    dhclient_args, need_lab, need_lab_files, need_root, read_lossy, run_bootherd, temp_dir,
    wait_until, write_file, Bg, Lab, Server,
};
use crate::uboot_qemu::{Uboot, QEMU, UBOOT_BIN};

const CLIENTS: usize = 120;
/// Each server's admin listener, in its own namespace.
const ADMIN: &str = "127.0.0.1:9069";
const IN_FLIGHT: usize = 40;

/// Server `name`'s configuration: the burst's pool, leases in `url`.
fn config_text(root: &Path, url: &str, name: &str) -> String {
    format!(
        "[tftp]\nroot = {root:?}\n\
         [dhcp]\n\
         enabled = true\n\
         lease_db = {url:?}\n\
         server_name = {name:?}\n\
         own_vendor_classes = [\"bh-load*\"]\n\
         ping_check = false\n\
         offer_hold_secs = 10\n\
         [dhcp.boot]\n\
         file = \"pxelinux.0\"\n\
         [[dhcp.pool]]\n\
         subnet = \"10.99.0.0/16\"\n\
         range = [\"{POOL_FIRST}\", \"{POOL_LAST}\"]\n\
         lease_secs = 3600\n\
         [admin]\n\
         listen = \"{ADMIN}\"\n",
        root = root.display().to_string(),
    )
}

/// Both servers of a lab, on the database at `url`.
fn start_pair(lab: &Lab, dir: &Path, url: &str) -> (Server, Server) {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let a = write_config(dir, "a.toml", &config_text(&root, url, "a"));
    let b = write_config(dir, "b.toml", &config_text(&root, url, "b"));
    // Both at once: the schema migration must be safe when two servers start.
    let start_b = {
        let (ns, b) = (lab.lan(), b.clone());
        thread::spawn(move || start_dhcp_server(&ns, &b, &[]))
    };
    let a = start_dhcp_server(&lab.srv(), &a, &[]);
    let b = start_b.join().expect("server B did not start");
    (a, b)
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Addresses ACKed to more than one MAC in `events`.
fn acked_to_two(events: &[Event]) -> Vec<String> {
    let mut macs: BTreeMap<Ipv4Addr, BTreeSet<String>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == Kind::Ack) {
        macs.entry(e.ip).or_default().insert(mac_text(&e.mac));
    }
    macs.into_iter()
        .filter(|(_, m)| m.len() > 1)
        .map(|(ip, m)| format!("{ip} to {m:?}"))
        .collect()
}

/// The clients of `jobs` whose outcome is not an ACK (of the address asked for,
/// for a reboot).
fn not_served(jobs: &[([u8; 6], Job)], outcomes: &[Outcome]) -> Vec<String> {
    jobs.iter()
        .zip(outcomes)
        .filter_map(|((mac, job), o)| match (job, o) {
            (Job::Dora, Outcome::Acked(_)) => None,
            (Job::Reboot(ip), Outcome::Acked(got)) if got == ip => None,
            _ => Some(format!("{} ({job:?}): {o:?}", mac_text(mac))),
        })
        .collect()
}

/// The value of `bootherd_lease_db_up` on the admin listener of the server in
/// namespace `ns`.
fn lease_db_gauge(lab: &Lab, ns: &str) -> Option<String> {
    let out = lab.exec(
        ns,
        20,
        &["curl", "-sS", "--fail", &format!("http://{ADMIN}/metrics")],
    );
    assert!(out.success(), "GET /metrics in {ns}: {}", out.describe());
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("bootherd_lease_db_up "))
        .map(|v| v.trim().to_owned())
}

/// Runs `jobs` in the client namespace on a thread; returns the thread.
fn burst(
    lab: &Lab,
    events: &Arc<Mutex<Vec<Event>>>,
    acks: &Arc<AtomicUsize>,
    jobs: Vec<([u8; 6], Job)>,
    patience: Duration,
) -> thread::JoinHandle<Vec<Outcome>> {
    let (events, acks) = (events.clone(), acks.clone());
    in_netns(&lab.cli(), move || {
        Burst::open(events, acks).run(&jobs, IN_FLIGHT, patience)
    })
}

#[test]
fn two_servers_share_leases_and_one_survives_the_others_sigkill() {
    let test = "lease_ha::two_servers_share_leases_and_one_survives_the_others_sigkill";
    if !need_root(test) || !need_postgres(test) {
        return;
    }
    let pg = Postgres::start();
    let dir = temp_dir();
    let lab = Lab::up();
    let (a, b) = start_pair(&lab, dir.path(), &pg.url());

    let events = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<([u8; 6], Job)> = (0..CLIENTS).map(|i| (mac_of(i), Job::Dora)).collect();
    let running = burst(&lab, &events, &acks, jobs.clone(), Duration::from_secs(60));
    wait_for_acks(&acks, CLIENTS / 3, &a);
    // The victim is the server that has ACKed more so far (either may win the
    // race for a DISCOVER), so that the survivor must take over its clients.
    let acked = |s: &Server| s.log_lines_with(&["dhcp: ack "]).len();
    let (victim, survivor, victim_name) = if acked(&a) >= acked(&b) {
        (a, b, "A")
    } else {
        (b, a, "B")
    };
    kill(Pid::from_raw(victim.pid() as i32), Signal::SIGKILL).expect("SIGKILL a server");
    thread::sleep(Duration::from_millis(200));
    let log_dead = victim.log_text();
    drop(victim);
    let b = survivor;
    let outcomes = join(running);
    let missed = not_served(&jobs, &outcomes);
    assert!(
        missed.is_empty(),
        "{} of {CLIENTS} clients got no lease with server {victim_name} killed mid-burst:\n{}\n--- {victim_name} (killed) ---\n{log_dead}\n--- survivor ---\n{}",
        missed.len(),
        missed.join("\n"),
        b.log_text()
    );
    assert!(
        log_dead.contains("dhcp: ack "),
        "server {victim_name} ACKed nobody before its SIGKILL; the test proves nothing:\n{log_dead}"
    );

    // Every client asks the survivor for its address again (INIT-REBOOT, no
    // server identifier), those A granted included.
    let mut leased: BTreeMap<[u8; 6], Ipv4Addr> = BTreeMap::new();
    for e in events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == Kind::Ack)
    {
        leased.insert(e.mac, e.ip);
    }
    let reboots: Vec<([u8; 6], Job)> = leased
        .iter()
        .map(|(mac, ip)| (*mac, Job::Reboot(*ip)))
        .collect();
    let outcomes = join(burst(
        &lab,
        &events,
        &acks,
        reboots.clone(),
        Duration::from_secs(30),
    ));
    let missed = not_served(&reboots, &outcomes);
    assert!(
        missed.is_empty(),
        "the surviving server did not ACK {} of {} clients their address again:\n{}\n--- survivor ---\n{}",
        missed.len(),
        reboots.len(),
        missed.join("\n"),
        b.log_text()
    );

    let all: Vec<Event> = events.lock().unwrap().clone();
    let twice = acked_to_two(&all);
    assert!(
        twice.is_empty(),
        "addresses ACKed to two MACs: {twice:?}\n--- killed ---\n{log_dead}\n--- survivor ---\n{}",
        b.log_text()
    );
    let leases = read_leases(Path::new(&pg.url()));
    let missing = missing_acks(&all, &leases);
    assert!(
        missing.is_empty(),
        "{} ACKed leases are not in the database:\n{}",
        missing.len(),
        missing.join("\n")
    );
    // The database's own word: one row per address by construction (primary
    // key), and no client holds two live addresses.
    let doubled = pg.psql(
        "SELECT encode(mac, 'hex') FROM leases WHERE state = 'bound' \
         GROUP BY mac HAVING count(*) > 1",
    );
    assert!(doubled.trim().is_empty(), "clients bound twice: {doubled}");
    drop(b);
}

#[test]
fn the_database_stopped_under_load_delays_acks_and_service_resumes() {
    let test = "lease_ha::the_database_stopped_under_load_delays_acks_and_service_resumes";
    if !need_root(test) || !need_postgres(test) {
        return;
    }
    let mut pg = Postgres::start();
    let dir = temp_dir();
    let lab = Lab::up();
    let (a, b) = start_pair(&lab, dir.path(), &pg.url());

    let events = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<([u8; 6], Job)> = (0..CLIENTS).map(|i| (mac_of(i), Job::Dora)).collect();
    let running = burst(&lab, &events, &acks, jobs.clone(), Duration::from_secs(90));
    wait_for_acks(&acks, CLIENTS / 4, &a);
    pg.stop();
    // Long enough for both servers to try commits against the dead database.
    thread::sleep(Duration::from_secs(4));
    for ns in [lab.srv(), lab.lan()] {
        let gauge = lease_db_gauge(&lab, &ns);
        assert_eq!(
            gauge.as_deref(),
            Some("0"),
            "bootherd_lease_db_up in {ns} while the database is down"
        );
    }
    pg.restart();
    let outcomes = join(running);
    let missed = not_served(&jobs, &outcomes);
    assert!(
        missed.is_empty(),
        "{} of {CLIENTS} clients got no lease across the database outage:\n{}\n--- A ---\n{}\n--- B ---\n{}",
        missed.len(),
        missed.join("\n"),
        a.log_text(),
        b.log_text()
    );
    // The servers said the database was gone, and that it came back; every
    // ACK, those sent around the outage included, is in the database.
    for (name, server) in [("A", &a), ("B", &b)] {
        server.expect_log(
            &["lease database unreachable or failing"],
            Duration::from_secs(10),
            &format!("server {name} did not log that the lease database was gone"),
        );
        server.expect_log(
            &["lease database back"],
            Duration::from_secs(30),
            &format!("server {name} did not log that the lease database came back"),
        );
    }
    for ns in [lab.srv(), lab.lan()] {
        let gauge = lease_db_gauge(&lab, &ns);
        assert_eq!(
            gauge.as_deref(),
            Some("1"),
            "bootherd_lease_db_up in {ns} once the database is back"
        );
    }
    let all: Vec<Event> = events.lock().unwrap().clone();
    let twice = acked_to_two(&all);
    assert!(twice.is_empty(), "addresses ACKed to two MACs: {twice:?}");
    let leases = read_leases(Path::new(&pg.url()));
    let missing = missing_acks(&all, &leases);
    assert!(
        missing.is_empty(),
        "{} ACKed leases are not in the database:\n{}\n--- postgres ---\n{}",
        missing.len(),
        missing.join("\n"),
        pg.log()
    );
}

fn lease(last: u8, mac_last: u8, state: LeaseState, starts: u64, ends: u64) -> Lease {
    Lease {
        ip: Ipv4Addr::new(10, 99, 1, last),
        mac: [0x02, 0xb0, 0x0d, 0, 0, mac_last],
        client_id: None,
        hostname: Some(format!("h{mac_last}")),
        state,
        starts,
        ends,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The rules of docs/HA.md, store against store: four servers connecting at
/// once migrate the schema once; a live address stays its client's whoever
/// asks; the other server may renew it (bind) but not release it; a free
/// (expired) address goes to whoever asks; a refusal names the holder.
#[test]
fn the_database_decides_who_holds_an_address() {
    let test = "lease_ha::the_database_decides_who_holds_an_address";
    if !need_root(test) || !need_postgres(test) {
        return;
    }
    let pg = Postgres::start();
    let url = pg.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connects: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|name| {
                let url = url.clone();
                tokio::spawn(async move { PgStore::connect(&url, name).await })
            })
            .collect();
        let mut stores = Vec::new();
        for c in connects {
            stores.push(c.await.unwrap().expect("connect and migrate"));
        }
        let (a, b) = (&stores[0], &stores[1]);
        let t = now();
        let up = |l: &Lease| vec![LeaseChange::Upsert(l.clone())];

        // A offers .1 to client 1; B may not offer .1 to client 2.
        let offer_a = lease(1, 1, LeaseState::Offered, t, t + 60);
        assert_eq!(a.apply(&up(&offer_a), t).await.unwrap(), vec![]);
        let offer_b = lease(1, 2, LeaseState::Offered, t, t + 60);
        let refused = b.apply(&up(&offer_b), t).await.unwrap();
        assert_eq!(
            refused,
            vec![Refusal {
                ip: offer_a.ip,
                holder: Some(offer_a.clone())
            }]
        );
        // One batch, one refused write: the others in it still commit.
        let other = lease(2, 2, LeaseState::Offered, t, t + 60);
        let refused = b
            .apply(
                &[
                    LeaseChange::Upsert(offer_b.clone()),
                    LeaseChange::Upsert(other.clone()),
                ],
                t,
            )
            .await
            .unwrap();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].ip, offer_a.ip);

        // A binds .1; B (the losing server withdrawing) may not release it.
        let bound_a = lease(1, 1, LeaseState::Bound, t, t + 3600);
        assert_eq!(a.apply(&up(&bound_a), t).await.unwrap(), vec![]);
        let released_b = lease(1, 1, LeaseState::Released, t, t);
        let refused = b.apply(&up(&released_b), t).await.unwrap();
        assert_eq!(refused.len(), 1, "B released a lease A granted");
        // But B may renew it for its client (a REQUEST reaching B).
        let renewed_b = lease(1, 1, LeaseState::Bound, t + 1, t + 7200);
        assert_eq!(b.apply(&up(&renewed_b), t + 1).await.unwrap(), vec![]);
        // Now B's row: A may not remove it (a remove deletes only the server's
        // own rows, or rows nobody holds).
        a.apply(&[LeaseChange::Remove(bound_a.ip)], t + 1)
            .await
            .unwrap();
        let rows = b.load().await.unwrap();
        assert!(rows.contains(&renewed_b), "{rows:?}");

        // An expired row is free for anyone.
        let short = lease(3, 3, LeaseState::Offered, t, t + 1);
        assert_eq!(a.apply(&up(&short), t).await.unwrap(), vec![]);
        let taken = lease(3, 4, LeaseState::Offered, t + 2, t + 62);
        assert_eq!(b.apply(&up(&taken), t + 2).await.unwrap(), vec![]);

        let rows = a.load().await.unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows.contains(&renewed_b) && rows.contains(&other) && rows.contains(&taken));
    });
    assert_eq!(pg.psql("SELECT count(*) FROM _sqlx_migrations").trim(), "1");
}

/// `bootherd leases migrate` copies an SQLite database into PostgreSQL, and
/// `bootherd leases --db URL` lists the same leases.
#[test]
fn leases_migrate_copies_an_sqlite_database_into_postgres() {
    let test = "lease_ha::leases_migrate_copies_an_sqlite_database_into_postgres";
    if !need_root(test) || !need_postgres(test) {
        return;
    }
    let pg = Postgres::start();
    let dir = temp_dir();
    let db = dir.path().join("leases.sqlite");
    let t = now();
    let leases: Vec<Lease> = (1..=40u8)
        .map(|i| {
            let state = if i % 4 == 0 {
                LeaseState::Released
            } else {
                LeaseState::Bound
            };
            lease(i, i, state, t, t + 3600)
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let changes: Vec<LeaseChange> = leases.iter().cloned().map(LeaseChange::Upsert).collect();
        store.apply(&changes).await.unwrap();
    });
    let before = read_leases(&db);
    assert_eq!(before.len(), 40);
    let out = run_bootherd([
        "leases".as_ref(),
        "migrate".as_ref(),
        "--from".as_ref(),
        db.as_os_str(),
        "--to".as_ref(),
        std::ffi::OsStr::new(&pg.url()),
    ]);
    assert!(out.success(), "bootherd leases migrate: {}", out.describe());
    assert!(out.stdout.contains("copied 40 leases"), "{}", out.stdout);
    let after = read_leases(Path::new(&pg.url()));
    let sorted = |mut rows: Vec<LeaseRow>| {
        rows.sort_by_key(|r| r.ip);
        rows
    };
    assert_eq!(sorted(after), sorted(before));
    // Not a URL: a clear refusal.
    let out = run_bootherd([
        "leases".as_ref(),
        "migrate".as_ref(),
        "--from".as_ref(),
        db.as_os_str(),
        "--to".as_ref(),
        "/tmp/x.sqlite".as_ref(),
    ]);
    assert!(
        !out.success() && out.stderr.contains("not a postgres:// URL"),
        "{}",
        out.describe()
    );
}

/// Records every dhclient script call as one line of `key=value`s.
const DHCLIENT_SCRIPT: &str = "#!/bin/sh\n\
    echo \"reason=$reason ip=$new_ip_address server=$new_dhcp_server_identifier\" \
    >> \"$0.events\"\n";
const DHCLIENT_MAC: &str = "52:54:00:99:00:e1";

/// Runs dhclient once in the client namespace until its script records a call
/// starting with `prefix` after the first `skip`; returns that call.
fn dhclient_until(
    lab: &Lab,
    dir: &Path,
    args: &[String],
    tag: &str,
    prefix: &str,
    skip: usize,
) -> String {
    let events = dir.join("dhclient-script.events");
    let read = || -> Vec<String> { read_lossy(&events).lines().map(str::to_string).collect() };
    let mut run = Bg::spawn(&lab.cli(), 40, args, dir, tag);
    let found = wait_until(Duration::from_secs(30), || {
        read().iter().skip(skip).any(|e| e.starts_with(prefix)) || !run.is_running()
    });
    let event = read()
        .into_iter()
        .skip(skip)
        .find(|e| e.starts_with(prefix));
    run.stop(Duration::from_secs(3));
    match event {
        Some(event) if found => event,
        _ => panic!(
            "no `{prefix}` from dhclient: {:?}\n{}",
            read(),
            run.describe()
        ),
    }
}

/// dhclient gets a lease from one server; that server is SIGKILLed; dhclient,
/// run again with its lease file, asks for its address (INIT-REBOOT, broadcast)
/// and the other server, which never granted it, ACKs it from the database.
#[test]
fn dhclient_keeps_its_address_through_the_other_server() {
    let test = "lease_ha::dhclient_keeps_its_address_through_the_other_server";
    if !need_lab(test, &["dhclient"]) || !need_postgres(test) {
        return;
    }
    let pg = Postgres::start();
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let url = pg.url();
    let section = |name: &str| {
        owned_dhcp_section(
            Path::new(&url),
            &[DHCLIENT_MAC],
            &[],
            &format!("server_name = {name:?}\nping_check = false\noffer_hold_secs = 10"),
        )
    };
    let config_a = write_config(
        dir.path(),
        "a.toml",
        &format!(
            "[tftp]\nroot = {:?}\n{}",
            root.display().to_string(),
            section("a")
        ),
    );
    let config_b = write_config(
        dir.path(),
        "b.toml",
        &format!(
            "[tftp]\nroot = {:?}\n{}",
            root.display().to_string(),
            section("b")
        ),
    );
    let lab = Lab::up();
    let a = start_dhcp_server(&lab.srv(), &config_a, &[]);
    let b = start_dhcp_server(&lab.lan(), &config_b, &[]);
    add_client_port(&lab, "dhc0", DHCLIENT_MAC);
    let script = dir.path().join("dhclient-script");
    std::fs::write(&script, DHCLIENT_SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let once = dhclient_args(dir.path(), &script, "dhc0", &["-1", "-d", "-v"]);

    let bound = dhclient_until(&lab, dir.path(), &once, "dhclient-1", "reason=BOUND", 0);
    let ip = field(&bound, "ip").to_owned();
    let granted_by = field(&bound, "server").to_owned();
    let (granter, other, other_addr) = match granted_by.as_str() {
        "10.99.0.1" => (a, b, "10.99.0.2"),
        "10.99.0.2" => (b, a, "10.99.0.1"),
        _ => panic!("bound from neither server: {bound}"),
    };
    let first = lease_row(&url, DHCLIENT_MAC);
    assert_eq!(first.ip.to_string(), ip, "{first:?}");
    kill(Pid::from_raw(granter.pid() as i32), Signal::SIGKILL)
        .expect("SIGKILL the granting server");
    drop(granter);

    thread::sleep(Duration::from_millis(1100));
    let skip = read_lossy(&dir.path().join("dhclient-script.events"))
        .lines()
        .count();
    let reboot = dhclient_until(&lab, dir.path(), &once, "dhclient-2", "reason=REBOOT", skip);
    assert_eq!(field(&reboot, "ip"), ip, "{reboot}");
    assert_eq!(field(&reboot, "server"), other_addr, "{reboot}");
    let renewed = lease_row(&url, DHCLIENT_MAC);
    assert_eq!(renewed.ip.to_string(), ip);
    assert!(renewed.state == "bound" && renewed.live, "{renewed:?}");
    assert!(
        renewed.ends > first.ends,
        "the other server's ACK did not extend the lease: {first:?} then {renewed:?}"
    );
    other.expect_log(
        &[&format!("dhcp: ack {ip} to {DHCLIENT_MAC}")],
        Duration::from_secs(5),
        "the other server did not log its ACK",
    );
}

/// The one record of `mac` in the database at `url`.
fn lease_row(url: &str, mac: &str) -> LeaseRow {
    let rows: Vec<LeaseRow> = read_leases(Path::new(url))
        .into_iter()
        .filter(|r| r.mac.eq_ignore_ascii_case(mac))
        .collect();
    assert_eq!(rows.len(), 1, "records of {mac}: {rows:?}");
    rows.into_iter().next().unwrap()
}

/// `key=value` from a recorded script call.
fn field<'a>(event: &'a str, key: &str) -> &'a str {
    event
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_default()
}

/// Real U-Boot (QEMU, `qemu_arm64`) takes its lease and its PXE config from
/// whichever of the two servers answers first; that server is SIGKILLed; the
/// same guest's next `dhcp` and `pxe get` succeed through the other, with the
/// same address. One guest (a second in parallel would double the TCG time for
/// no new path).
#[test]
fn uboot_boots_from_either_of_two_servers() {
    let test = "lease_ha::uboot_boots_from_either_of_two_servers";
    if !need_lab_files(test, &[QEMU], &[UBOOT_BIN]) || !need_postgres(test) {
        return;
    }
    const MAC: &str = "52:54:00:99:00:a1";
    const PXE_FILE: &str = "pxelinux.cfg/01-52-54-00-99-00-a1";
    let pg = Postgres::start();
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("pxelinux.0"), b"not really pxelinux");
    write_file(
        &root.join(PXE_FILE),
        b"default linux\nlabel linux\n  kernel Image\n  append console=ttyAMA0\n",
    );
    let url = pg.url();
    let config = |name: &str| {
        let section = owned_dhcp_section(
            Path::new(&url),
            &[MAC],
            &[],
            &format!("server_name = {name:?}\nping_check = false\noffer_hold_secs = 10"),
        );
        write_config(
            dir.path(),
            &format!("{name}.toml"),
            &format!("[tftp]\nroot = {:?}\n{section}", root.display().to_string()),
        )
    };
    let (config_a, config_b) = (config("a"), config("b"));
    let lab = Lab::up();
    let a = start_dhcp_server(&lab.srv(), &config_a, &[]);
    let b = start_dhcp_server(&lab.lan(), &config_b, &[]);
    lab.add_tap("tapha0");
    let mut guest = Uboot::start(&lab, dir.path(), "tapha0", MAC);

    let limit = Duration::from_secs(60);
    let first = guest.command("dhcp", limit);
    let ip = bound_to(&first).unwrap_or_else(|| panic!("U-Boot did not bind:\n{first}"));
    let server1 = guest.command("printenv serverip", limit);
    let get1 = guest.command("pxe get", limit);
    assert!(
        get1.contains("Config file") && get1.contains("found"),
        "first pxe get found no config:\n{get1}"
    );
    let (granter, other, other_ip) = if server1.contains("10.99.0.1") {
        (a, b, "10.99.0.2")
    } else if server1.contains("10.99.0.2") {
        (b, a, "10.99.0.1")
    } else {
        panic!("serverip is neither server's: {server1}");
    };
    kill(Pid::from_raw(granter.pid() as i32), Signal::SIGKILL).expect("SIGKILL the first server");
    drop(granter);

    let second = guest.command("dhcp", limit);
    assert_eq!(
        bound_to(&second),
        Some(ip),
        "U-Boot's second dhcp, through the other server, did not bind its address again:\n{second}\n--- other server ---\n{}",
        other.log_text()
    );
    let server2 = guest.command("printenv serverip", limit);
    assert!(
        server2.contains(other_ip),
        "serverip after the failover: {server2}"
    );
    let get2 = guest.command("pxe get", limit);
    assert!(
        get2.contains(&format!("TFTP from server {other_ip}"))
            && get2.contains("Config file")
            && get2.contains("found"),
        "pxe get through the other server failed:\n{get2}"
    );
    eprintln!("U-Boot bound {ip} from {server1}, then from {server2} after the SIGKILL");
}

/// The address of U-Boot's `DHCP client bound to address A (N ms)`.
fn bound_to(output: &str) -> Option<Ipv4Addr> {
    let rest = output.split("DHCP client bound to address ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Addresses held in `ns`'s server's cache, from its pool gauge.
fn cached_in_use(lab: &Lab, ns: &str) -> Option<u64> {
    let out = lab.exec(
        ns,
        20,
        &["curl", "-sS", "--fail", &format!("http://{ADMIN}/metrics")],
    );
    assert!(out.success(), "GET /metrics in {ns}: {}", out.describe());
    out.stdout.lines().find_map(|l| {
        let rest = l.strip_prefix("bootherd_dhcp_pool_addresses{")?;
        rest.contains("state=\"in_use\"")
            .then(|| rest.rsplit(' ').next()?.trim().parse().ok())?
    })
}

/// Server B is cut off the LAN (its link down; it keeps running and keeps its
/// database connection) while A leases a burst of clients, then put back: B saw
/// none of those requests, yet its cache learns A's leases from the database by
/// itself (the periodic refresh: its pool gauge counts them within seconds), and
/// once A is SIGKILLed, B gives new clients only addresses A did not lease.
#[test]
fn a_stale_cache_converges_and_never_hands_out_the_others_leases() {
    let test = "lease_ha::a_stale_cache_converges_and_never_hands_out_the_others_leases";
    if !need_root(test) || !need_postgres(test) {
        return;
    }
    let pg = Postgres::start();
    let dir = temp_dir();
    let lab = Lab::up();
    let (a, b) = start_pair(&lab, dir.path(), &pg.url());
    assert_eq!(cached_in_use(&lab, &lab.lan()), Some(0));

    let link = |state: &str| {
        let out = lab.exec(&lab.lan(), 10, &["ip", "link", "set", "eth0", state]);
        assert!(
            out.success(),
            "ip link set eth0 {state}: {}",
            out.describe()
        );
    };
    link("down");
    let events = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let first: Vec<([u8; 6], Job)> = (0..60).map(|i| (mac_of(i), Job::Dora)).collect();
    let outcomes = join(burst(
        &lab,
        &events,
        &acks,
        first.clone(),
        Duration::from_secs(30),
    ));
    link("up");
    let missed = not_served(&first, &outcomes);
    assert!(
        missed.is_empty(),
        "A alone did not serve: {missed:?}\n{}",
        a.log_text()
    );

    let converged = wait_until(Duration::from_secs(15), || {
        cached_in_use(&lab, &lab.lan()) == Some(60)
    });
    assert!(
        converged,
        "B's cache holds {:?} addresses in use, not A's 60, 15 s after it was back\n--- B ---\n{}",
        cached_in_use(&lab, &lab.lan()),
        b.log_text()
    );

    kill(Pid::from_raw(a.pid() as i32), Signal::SIGKILL).expect("SIGKILL server A");
    drop(a);
    let late: Vec<([u8; 6], Job)> = (100..130).map(|i| (mac_of(i), Job::Dora)).collect();
    let outcomes = join(burst(
        &lab,
        &events,
        &acks,
        late.clone(),
        Duration::from_secs(30),
    ));
    let missed = not_served(&late, &outcomes);
    assert!(
        missed.is_empty(),
        "B did not serve new clients: {missed:?}\n{}",
        b.log_text()
    );
    let all: Vec<Event> = events.lock().unwrap().clone();
    let twice = acked_to_two(&all);
    assert!(
        twice.is_empty(),
        "addresses ACKed to two MACs: {twice:?}\n{}",
        b.log_text()
    );
    let missing = missing_acks(&all, &read_leases(Path::new(&pg.url())));
    assert!(
        missing.is_empty(),
        "ACKed leases missing from the database: {missing:?}"
    );
}
