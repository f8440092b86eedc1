//! Leases survive a power cut, not only SIGKILL: the lease database is synced
//! to the disk before the reply that depends on it leaves (ARCHITECTURE: WAL,
//! `synchronous = FULL`, one fsync per batch, then the batch's replies;
//! BENCHMARKS-DHCP: "a fsync per group before every OFFER and ACK").
//!
//! SIGKILL leaves the page cache intact, so `dhcp_durability` would pass
//! without any sync. Here bootherd runs under `strace -f -ttt -T -y -e
//! trace=fsync,fdatasync` through one client's DORA; the test asserts that a
//! sync of the lease database (its `-wal` file, or the file itself) started
//! after the client sent its DISCOVER (REQUEST) and had returned before the
//! OFFER (ACK) reached the client. Both clocks are the machine's wall clock.
//! A real power cut (a guest whose disk drops unsynced writes) is not
//! simulated.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::dhcp_lab::{lease_of, owned_setup, OwnedSetup};
use crate::support::{
    key_fields, need_lab, owned_discover, owned_request, read_lossy, Answer, DhcpClient, Lab,
    Server, BROADCAST_67,
};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x5f, 0x00, 0x01];
const MAC_TEXT: &str = "52:54:00:5f:00:01";

/// One completed fsync/fdatasync from the strace log.
#[derive(Debug, Clone)]
struct Sync {
    call: String,
    path: String,
    /// Seconds since the epoch, when it began and when it returned.
    start: f64,
    end: f64,
    ok: bool,
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// `= RET <DURATION>` at the end of a line: (success, duration).
fn result_of(rest: &str) -> Option<(bool, f64)> {
    let (_, result) = rest.rsplit_once(") = ")?;
    let ok = result.trim_start().starts_with('0');
    let dur = result
        .rsplit_once('<')?
        .1
        .trim_end_matches('>')
        .parse()
        .ok()?;
    Some((ok, dur))
}

/// The completed syncs in a `strace -f -ttt -T -y` log: whole lines, and calls
/// split into `<unfinished ...>` and `<... resumed>` by other threads' calls.
fn parse_syncs(log: &str) -> Vec<Sync> {
    let mut open: HashMap<String, (String, String, f64)> = HashMap::new();
    let mut syncs = Vec::new();
    for line in log.lines() {
        // strace pads the pid column to a width: `2716  1796476602.592701 fsync(...`.
        let Some((pid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((ts, rest)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(ts) = ts.parse::<f64>() else { continue };
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((start_call, path, start)) = open.remove(pid) else {
                continue;
            };
            if resumed.starts_with(&format!("{start_call} resumed>")) {
                if let Some((ok, dur)) = result_of(resumed) {
                    syncs.push(Sync {
                        call: start_call,
                        path,
                        start,
                        end: start + dur,
                        ok,
                    });
                }
            }
            continue;
        }
        let Some((call, args)) = rest.split_once('(') else {
            continue;
        };
        if call != "fsync" && call != "fdatasync" {
            continue;
        }
        // `7</path/to/file>`
        let path = args
            .split_once('<')
            .and_then(|(_, p)| p.split_once('>'))
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        if rest.ends_with("<unfinished ...>") {
            open.insert(pid.to_string(), (call.to_string(), path, ts));
        } else if let Some((ok, dur)) = result_of(rest) {
            syncs.push(Sync {
                call: call.to_string(),
                path,
                start: ts,
                end: ts + dur,
                ok,
            });
        }
    }
    syncs
}

/// The syncs of `db` (or its WAL) that began after the request was first
/// sent and returned before the reply arrived.
fn syncs_between<'a>(syncs: &'a [Sync], db: &Path, answer: &Answer) -> Vec<&'a Sync> {
    let db = db.display().to_string();
    let wal = format!("{db}-wal");
    let (sent, received) = (seconds(answer.first_sent), seconds(answer.received));
    syncs
        .iter()
        .filter(|s| s.ok && (s.path == db || s.path == wal))
        .filter(|s| s.start >= sent && s.end <= received)
        .collect()
}

/// Stops bootherd (the child of strace) with SIGTERM, so that it exits on its
/// own and strace writes out its log; SIGKILL if it takes too long.
fn stop_traced(server: &mut Server) {
    let strace = server.pid();
    let children = read_lossy(Path::new(&format!("/proc/{strace}/task/{strace}/children")));
    for child in children.split_whitespace() {
        if let Ok(pid) = child.parse::<i32>() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    if server.wait_exit(Duration::from_secs(15)).is_none() {
        for child in children.split_whitespace() {
            if let Ok(pid) = child.parse::<i32>() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let _ = server.wait_exit(Duration::from_secs(5));
    }
}

fn exchange(
    client: &DhcpClient,
    server: &Server,
    request: &DhcpPacket,
    kind: MessageType,
) -> Answer {
    let answer = client
        .exchange(
            request,
            BROADCAST_67,
            Some(Duration::from_secs(2)),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| {
            panic!(
                "no reply to {}; log:\n{}",
                key_fields(request),
                server.log_text()
            )
        });
    assert_eq!(
        answer.packet.message_type(),
        Some(kind),
        "{}",
        key_fields(&answer.packet)
    );
    answer
}

#[test]
fn the_lease_database_is_synced_before_the_offer_and_the_ack() {
    let test = "lease_sync::the_lease_database_is_synced_before_the_offer_and_the_ack";
    if !need_lab(test, &["strace"]) {
        return;
    }
    let OwnedSetup { dir, db, config } = owned_setup(&[MAC_TEXT], "ping_check = false");
    let trace = dir.path().join("strace.log");
    let trace_arg = trace.display().to_string();
    let lab = Lab::up();
    let mut server = Server::start_in_config_under(
        &lab.srv(),
        &[
            "strace",
            "-f",
            "-qq",
            "-ttt",
            "-T",
            "-y",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            &trace_arg,
        ],
        &config,
        &["--no-http"],
        None,
    );
    server.expect_log(
        &["dhcp server listening on 0.0.0.0:67"],
        Duration::from_secs(20),
        "bootherd (under strace) did not log that its DHCP server listens",
    );
    let client = DhcpClient::open(
        &lab.cli(),
        "br0",
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    );
    let offer = exchange(
        &client,
        &server,
        &owned_discover(MAC, 0x5f01),
        MessageType::Offer,
    );
    let ack = exchange(
        &client,
        &server,
        &owned_request(MAC, 0x5f02, &offer.packet),
        MessageType::Ack,
    );
    stop_traced(&mut server);
    let log = read_lossy(&trace);
    let syncs = parse_syncs(&log);
    let describe = || {
        format!(
            "DISCOVER sent at {:.6}, OFFER received at {:.6}; REQUEST sent at {:.6}, ACK received at {:.6}\n\
             syncs seen:\n{}\n--- strace (tail) ---\n{}",
            seconds(offer.first_sent),
            seconds(offer.received),
            seconds(ack.first_sent),
            seconds(ack.received),
            syncs
                .iter()
                .map(|s| format!("  {} {} {:.6}..{:.6} ok={}", s.call, s.path, s.start, s.end, s.ok))
                .collect::<Vec<_>>()
                .join("\n"),
            crate::support::tail(&log, 3000)
        )
    };
    let before_offer = syncs_between(&syncs, &db, &offer);
    let before_ack = syncs_between(&syncs, &db, &ack);
    assert!(
        !before_offer.is_empty(),
        "no sync of {} between the DISCOVER and the OFFER\n{}",
        db.display(),
        describe()
    );
    assert!(
        !before_ack.is_empty(),
        "no sync of {} between the REQUEST and the ACK\n{}",
        db.display(),
        describe()
    );
    let lease = lease_of(&db, MAC_TEXT);
    assert!(
        lease
            .as_ref()
            .is_some_and(|l| l.ip == ack.packet.yiaddr && l.state == "bound"),
        "ACKed {}, the database has {lease:?}",
        ack.packet.yiaddr
    );
    eprintln!(
        "lease sync: {} sync(s) of the database before the OFFER, {} before the ACK ({})",
        before_offer.len(),
        before_ack.len(),
        before_ack
            .iter()
            .map(|s| format!("{} {:.3} ms", s.call, (s.end - s.start) * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn strace_lines_are_parsed_whole_and_split() {
    let log = "\
101 1700000000.100000 fdatasync(7</tmp/x/leases.sqlite-wal>) = 0 <0.000500>
102 1700000000.200000 fsync(8</tmp/x/leases.sqlite-wal> <unfinished ...>
103   1700000000.200100 fsync(9</tmp/other>) = 0 <0.000010>
102 1700000000.203000 <... fsync resumed>) = 0 <0.003000>
104 1700000000.300000 fdatasync(5</tmp/x/leases.sqlite>) = -1 EIO (Input/output error) <0.000100>
";
    let syncs = parse_syncs(log);
    assert_eq!(syncs.len(), 4, "{syncs:?}");
    assert_eq!(syncs[0].path, "/tmp/x/leases.sqlite-wal");
    assert!((syncs[0].end - 1_700_000_000.100_5).abs() < 1e-6);
    assert_eq!(syncs[2].call, "fsync");
    assert!((syncs[2].end - 1_700_000_000.203).abs() < 1e-6);
    assert!(!syncs[3].ok);
}
