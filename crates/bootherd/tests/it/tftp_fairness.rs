//! TFTP under a hostile neighbour: one host that opens hundreds of transfers and
//! never acknowledges them, and floods stray packets, gets its per-client share
//! and then errors; another host's tftp-hpa still fetches a multi-MB file in
//! normal time. Transfers without progress end with an error after the stall
//! limit, and `max_transfers` refuses with "server busy" until a slot frees.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::dhcp_lab::{in_netns, join, write_config};
use crate::support::{
    assert_file_eq, need_lab, pseudo_random_bytes, temp_dir, wait_until, write_file, Lab,
    RunOutput, Server, LAB_SERVER_IP, SERVER_IP,
};

const BIG: usize = 4 << 20;
const STALL_MS: u64 = 4000;

/// A TFTP datagram's kind and text, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Data,
    Oack,
    Error(String),
    Other(Vec<u8>),
}

fn reply_of(datagram: &[u8]) -> Reply {
    match datagram {
        [0, 3, ..] => Reply::Data,
        [0, 6, ..] => Reply::Oack,
        [0, 5, _, _, text @ ..] => {
            Reply::Error(String::from_utf8_lossy(text).trim_end_matches('\0').into())
        }
        other => Reply::Other(other.to_vec()),
    }
}

/// One request that is never acknowledged: its socket, the server's transfer
/// port (if it started) and the first reply.
struct Held {
    socket: UdpSocket,
    from: Option<SocketAddr>,
    first: Reply,
}

/// Sends `count` read requests for `file` asking `timeout 255`, one socket each,
/// 50 at a time, and returns each with its first reply (gathered from every
/// socket until all have one, or for at most 20 s).
fn hold(count: usize, file: &str) -> Vec<Held> {
    let rrq = format!("\0\x01{file}\0octet\0timeout\x00255\0blksize\x001400\0");
    let rrq = rrq.as_bytes();
    let mut held: Vec<Held> = (0..count)
        .map(|_| {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
            socket.set_nonblocking(true).unwrap();
            Held {
                socket,
                from: None,
                first: Reply::Other(Vec::new()),
            }
        })
        .collect();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(20);
    for chunk in held.chunks_mut(50) {
        for h in chunk.iter() {
            h.socket
                .send_to(rrq, SocketAddrV4::new(SERVER_IP, 69))
                .expect("send RRQ");
        }
        thread::sleep(Duration::from_millis(20));
    }
    while held.iter().any(|h| h.from.is_none()) && Instant::now() < deadline {
        for h in held.iter_mut().filter(|h| h.from.is_none()) {
            if let Ok((n, from)) = h.socket.recv_from(&mut buf) {
                h.first = reply_of(&buf[..n]);
                h.from = Some(from);
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    for h in &held {
        h.socket.set_nonblocking(false).unwrap();
    }
    held
}

/// Waits up to `limit` for an ERROR on `socket` and returns its text.
fn next_error(socket: &UdpSocket, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            if let Reply::Error(text) = reply_of(&buf[..n]) {
                return Some(text);
            }
        }
    }
    None
}

/// tftp-hpa in the client namespace: `get remote local`, killed after `secs`.
fn tftp_hpa_get(lab: &Lab, remote: &str, local: &Path, secs: u64) -> RunOutput {
    lab.exec(
        &lab.cli(),
        secs,
        &[
            "tftp",
            LAB_SERVER_IP,
            "-m",
            "octet",
            "-c",
            "get",
            remote,
            local.to_str().unwrap(),
        ],
    )
}

fn fetch_ok(out: &RunOutput) -> bool {
    out.success() && !out.stdout.contains("Error") && !out.stderr.contains("Error")
}

fn start(lab: &Lab, dir: &Path, tftp_keys: &str) -> Server {
    let root = dir.join("root");
    write_file(&root.join("big.img"), &pseudo_random_bytes(11, BIG));
    let config = write_config(
        dir,
        "bootherd.toml",
        &format!(
            "[tftp]\nroot = {:?}\n{tftp_keys}\n",
            root.display().to_string()
        ),
    );
    Server::start_in_config(&lab.srv(), &config, &["--no-http"], None)
}

#[test]
fn one_host_cannot_starve_another_of_tftp() {
    let test = "tftp_fairness::one_host_cannot_starve_another_of_tftp";
    if !need_lab(test, &["tftp"]) {
        return;
    }
    let dir = temp_dir();
    let lab = Lab::up();
    let server = start(
        &lab,
        dir.path(),
        &format!("stall_timeout_ms = {STALL_MS}\nretries = 100"),
    );
    let want = pseudo_random_bytes(11, BIG);
    let local = dir.path().join("got.img");

    // The victim's normal time, on a quiet server.
    let t = Instant::now();
    let out = tftp_hpa_get(&lab, "big.img", &local, 60);
    let quiet = t.elapsed();
    assert!(fetch_ok(&out), "quiet fetch failed: {}", out.describe());
    assert_file_eq(&local, &want, "quiet fetch");
    std::fs::remove_file(&local).unwrap();
    let idle_rss = server.rss_kib().expect("server runs");

    // The neighbour (10.99.0.2): 300 abandoned transfers, then a flood of
    // stray packets to the listening port and to every live transfer port.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let attacker = {
        let (stop, sent) = (stop.clone(), sent.clone());
        in_netns(&lab.lan(), move || {
            let held = hold(300, "big.img");
            let firsts: Vec<Reply> = held.iter().map(|h| h.first.clone()).collect();
            let _ = ready_tx.send(firsts);
            let stray = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
            let ports: Vec<SocketAddr> = held.iter().filter_map(|h| h.from).collect();
            let started = Instant::now();
            let mut i: u64 = 0;
            // Bounded: until told to stop, 60 s, or a million packets.
            while !stop.load(Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(60)
                && i < 1_000_000
            {
                let junk = pseudo_random_bytes(i, 4 + (i % 600) as usize);
                let mut ack_like = vec![0, 4];
                ack_like.extend_from_slice(&((i % 7) as u16 + 900).to_be_bytes());
                let _ = stray.send_to(&junk, SocketAddrV4::new(SERVER_IP, 69));
                if let Some(port) = ports.get(i as usize % ports.len().max(1)) {
                    // Stray ACKs for blocks never sent, and garbage, from the
                    // right host but a wrong port and from the right port.
                    let _ = stray.send_to(&ack_like, port);
                    let _ = held[i as usize % ports.len()].socket.send_to(&junk, port);
                }
                i += 1;
                if i.is_multiple_of(64) {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            sent.store(i, Ordering::Relaxed);
            held
        })
    };
    let firsts = ready_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the neighbour's requests were not answered");
    let started = firsts
        .iter()
        .filter(|r| matches!(r, Reply::Data | Reply::Oack))
        .count();
    let refused = firsts
        .iter()
        .filter(|r| matches!(r, Reply::Error(t) if t.contains("too many transfers from 10.99.0.2")))
        .count();

    // Meanwhile the victim (10.99.0.100) fetches the same file, three times.
    let mut stormy = Duration::ZERO;
    let mut peak_rss = 0;
    for round in 0..3 {
        let t = Instant::now();
        let out = tftp_hpa_get(&lab, "big.img", &local, 60);
        stormy = stormy.max(t.elapsed());
        peak_rss = peak_rss.max(server.rss_kib().expect("server runs"));
        if !fetch_ok(&out) {
            stop.store(true, Ordering::Relaxed);
            panic!(
                "the victim's fetch {round} failed during the storm: {}\n{}",
                out.describe(),
                server.log_text()
            );
        }
        assert_file_eq(&local, &want, "fetch during the storm");
        std::fs::remove_file(&local).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let held = join(attacker);
    assert_eq!(
        (started, refused),
        (16, 284),
        "the neighbour's 300 requests: expected 16 started (max_transfers_per_client) \
         and 284 refused; first replies: {:?}",
        &firsts[..20]
    );
    let normal = (quiet * 3).max(quiet + Duration::from_secs(5));
    assert!(
        stormy <= normal,
        "the victim's fetch took {stormy:?} during the storm, {quiet:?} on a quiet server"
    );

    // Every started transfer ends with an error once it made no progress for
    // the stall limit, whatever timeout it asked for.
    let stalled: Vec<Option<String>> = held
        .iter()
        .filter(|h| matches!(h.first, Reply::Data | Reply::Oack))
        .map(|h| next_error(&h.socket, Duration::from_millis(STALL_MS * 3)))
        .collect();
    assert!(
        stalled.iter().all(|e| e
            .as_deref()
            .is_some_and(|t| t.contains("no acknowledgement for 4 s"))),
        "expected every abandoned transfer to end with the stall error: {stalled:?}"
    );
    // Its slots are free again: the neighbour is served like anyone.
    let again = in_netns(&lab.lan(), || hold(1, "big.img").remove(0).first);
    assert_eq!(join(again), Reply::Oack, "a new request after the stalls");

    // Memory goes back near idle once the transfers are gone (threads end
    // after tokio's 10 s keep-alive).
    let end_rss = server.expect_rss_near(
        idle_rss,
        8 * 1024,
        Duration::from_secs(20),
        &format!("after the storm (peak {peak_rss} KiB)"),
    );
    eprintln!(
        "tftp fairness: victim {stormy:?} under the storm vs {quiet:?} quiet; neighbour: {started} started, \
         {refused} refused, {} stray packets; RSS idle {idle_rss} KiB, peak {peak_rss}, after {end_rss}",
        sent.load(Ordering::Relaxed)
    );
}

#[test]
fn past_max_transfers_the_server_is_busy_until_a_slot_frees() {
    let test = "tftp_fairness::past_max_transfers_the_server_is_busy_until_a_slot_frees";
    if !need_lab(test, &["tftp"]) {
        return;
    }
    let dir = temp_dir();
    let lab = Lab::up();
    let server = start(&lab, dir.path(), "max_transfers = 3\nretries = 100");
    let local = dir.path().join("got.img");
    let holder = in_netns(&lab.lan(), || hold(3, "big.img"));
    let held = join(holder);
    assert!(
        held.iter().all(|h| h.first == Reply::Oack),
        "the three held requests: {:?}",
        held.iter().map(|h| &h.first).collect::<Vec<_>>()
    );

    let out = tftp_hpa_get(&lab, "big.img", &local, 30);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("server busy: 3 transfers in progress"),
        "expected tftp-hpa to report `server busy`: {}",
        out.describe()
    );

    // One held transfer ends (the client aborts it): the next request is served.
    let abort = b"\x00\x05\x00\x00done\x00";
    let (h, from) = (&held[0], held[0].from.expect("transfer port"));
    let ns = lab.lan();
    let socket = h.socket.try_clone().unwrap();
    join(in_netns(&ns, move || {
        socket.send_to(abort, from).expect("send ERROR");
    }));
    let served = wait_until(Duration::from_secs(10), || {
        let out = tftp_hpa_get(&lab, "big.img", &local, 30);
        fetch_ok(&out)
    });
    assert!(
        served,
        "no slot freed after a client aborted; log:\n{}",
        server.log_text()
    );
    assert_file_eq(
        &local,
        &pseudo_random_bytes(11, BIG),
        "fetch after a slot freed",
    );
    drop(held);
}
