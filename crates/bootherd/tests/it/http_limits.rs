//! HTTP bounds in a lab: one client address holds hundreds of connections, some
//! of them dribbling a request header a byte at a time, while another address
//! downloads a multi-MB file with curl.
//!
//! bootherd runs in `NAME-srv` with a short header timeout; the holder is a
//! thread of this test that joined `NAME-cli` and connects from a second
//! address on the client bridge ([`HOLDER_IP`]), replacing every connection the
//! server closes so that it always holds [`HELD`]; curl runs in `NAME-cli` from
//! the bridge's own address ([`CURL_IP`]).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::dhcp_lab::{in_netns, join, write_tftp_config};
use crate::support::{
    assert_file_eq, need_lab, pseudo_random_bytes, temp_dir, wait_until, write_file, Lab, Server,
    SERVER_IP,
};

/// The holder's address, added to the client bridge next to [`CURL_IP`].
const HOLDER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 101);
/// The downloader's address: the bridge's own (`lab/lab.sh`).
const CURL_IP: &str = "10.99.0.100";
/// Connections the holder keeps open.
const HELD: usize = 300;
/// Of them, connections sending a never-ending header, one byte per [`DRIBBLE_EVERY`].
const DRIBBLERS: usize = 8;
const DRIBBLE_EVERY: Duration = Duration::from_millis(100);
/// Connections the holder opens at most per 20 ms round, after the first, to
/// replace the ones the server closed.
const REPLACE_PER_ROUND: usize = 25;
/// `http.max_connections_per_client` (its default, written out).
const PER_CLIENT: usize = 32;
/// `http.header_timeout_ms`.
const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
/// Refused connections bootherd keeps open at once while it reads what they
/// sent (docs/ARCHITECTURE.md, "Limits").
const MAX_LINGERING: usize = 64;
/// What a client past its cap receives, byte for byte.
const REFUSED: &str = "HTTP/1.1 503 Service Unavailable\r\n\
    content-type: text/plain; charset=utf-8\r\n\
    content-length: 88\r\n\
    connection: close\r\n\
    \r\n\
    bootherd: too many connections from your address (http.max_connections_per_client = 32)\n";

/// What the holder saw, per connection outcome.
#[derive(Debug, Default)]
struct Report {
    /// Connections refused with the 503, and the first answer in full.
    refused: usize,
    first_refusal: Option<String>,
    /// How long silent connections lived before the server closed them.
    silent_closed: Vec<Duration>,
    /// How long dribbling connections lived and how many bytes they had sent.
    dribbler_closed: Vec<(Duration, usize)>,
    /// Anything else: answers that are not the 503, failed connects.
    unexpected: Vec<String>,
    /// The oldest connection still open, without an answer, when the holder stopped.
    oldest_unanswered: Duration,
}

/// Shared between the holder and the test: when to stop, how far it got.
#[derive(Default)]
struct Progress {
    stop: AtomicBool,
    opened: AtomicUsize,
    refusals_seen: AtomicUsize,
}

/// Sets `stop` when dropped, so a failing test does not leave the holder running.
struct StopOnDrop(Arc<Progress>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

struct Held {
    socket: Socket,
    dribbler: bool,
    opened: Instant,
    got: Vec<u8>,
    sent: usize,
    next_byte: Instant,
}

fn dribble_byte(i: usize) -> u8 {
    const HEAD: &[u8] = b"GET /big.bin HTTP/1.1\r\nHost: 10.99.0.1\r\nX-Slow: ";
    HEAD.get(i).copied().unwrap_or(b'a')
}

fn open(server: SocketAddr, dribbler: bool) -> std::io::Result<Held> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::from((HOLDER_IP, 0)).into())?;
    socket.connect_timeout(&server.into(), Duration::from_secs(3))?;
    socket.set_nonblocking(true)?;
    let now = Instant::now();
    Ok(Held {
        socket,
        dribbler,
        opened: now,
        got: Vec::new(),
        sent: 0,
        next_byte: now,
    })
}

/// Reads what the server sent on `held`; false once it has closed it.
fn read_side(held: &mut Held, progress: &Progress) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match (&held.socket).read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                if held.got.is_empty() && buf.starts_with(b"HTTP/1.1 503") {
                    progress.refusals_seen.fetch_add(1, Ordering::Relaxed);
                }
                held.got.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Reads and dribbles `held`; false once the server has closed it, then
/// recorded in `report`.
fn poll(held: &mut Held, progress: &Progress, report: &mut Report) -> bool {
    let now = Instant::now();
    let mut open = read_side(held, progress);
    if open && held.dribbler && now >= held.next_byte {
        match (&held.socket).write(&[dribble_byte(held.sent)]) {
            Ok(_) => {
                held.sent += 1;
                held.next_byte = now + DRIBBLE_EVERY;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                // Whatever came before the reset is still there to read.
                read_side(held, progress);
                open = false;
            }
        }
    }
    if open {
        return true;
    }
    let lived = now - held.opened;
    if held.got.is_empty() {
        match held.dribbler {
            true => report.dribbler_closed.push((lived, held.sent)),
            false => report.silent_closed.push(lived),
        }
    } else if held.got.starts_with(b"HTTP/1.1 503") {
        report.refused += 1;
        report
            .first_refusal
            .get_or_insert_with(|| String::from_utf8_lossy(&held.got).into_owned());
    } else {
        report.unexpected.push(format!(
            "answer after {lived:?}: {:?}",
            String::from_utf8_lossy(&held.got)
        ));
    }
    false
}

/// Keeps [`HELD`] connections open to `server` ([`DRIBBLERS`] of them dribbling)
/// until told to stop, for at most 90 s; every connection closes when it returns.
fn hold(server: SocketAddr, progress: Arc<Progress>) -> Report {
    let mut report = Report::default();
    let mut held: Vec<Held> = Vec::with_capacity(HELD);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut first_round = true;
    while !progress.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        // All at once at first; then a bounded number of replacements per round.
        let mut budget = if first_round { HELD } else { REPLACE_PER_ROUND };
        first_round = false;
        while held.len() < HELD && budget > 0 {
            budget -= 1;
            let dribbler = held.iter().filter(|h| h.dribbler).count() < DRIBBLERS;
            match open(server, dribbler) {
                Ok(h) => held.push(h),
                Err(e) => {
                    report.unexpected.push(format!("connect: {e}"));
                    break;
                }
            }
            // Opening hundreds can take a while on a busy machine: the
            // dribblers keep dribbling meanwhile.
            if progress.opened.fetch_add(1, Ordering::Relaxed) % 16 == 15 {
                held.retain_mut(|h| poll(h, &progress, &mut report));
            }
        }
        held.retain_mut(|h| poll(h, &progress, &mut report));
        thread::sleep(Duration::from_millis(20));
    }
    report.oldest_unanswered = held
        .iter()
        .filter(|h| h.got.is_empty())
        .map(|h| h.opened.elapsed())
        .max()
        .unwrap_or_default();
    report
}

/// Open file descriptors of process `pid`.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/fd: {e}"))
        .count()
}

#[test]
fn held_connections_from_one_address_neither_exhaust_fds_nor_stall_another_download() {
    let test = "held_connections_from_one_address_neither_exhaust_fds_nor_stall_another_download";
    if !need_lab(test, &["curl"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let big = pseudo_random_bytes(0x4854_5450, 8 << 20);
    write_file(&root.join("big.bin"), &big);
    let config = write_tftp_config(
        dir.path(),
        &root,
        &format!(
            "[http]\n\
             max_connections_per_client = {PER_CLIENT}\n\
             header_timeout_ms = {}\n\
             idle_timeout_ms = 5000\n",
            HEADER_TIMEOUT.as_millis()
        ),
    );
    let lab = Lab::up();
    let add = lab.exec(
        &lab.cli(),
        10,
        &[
            "ip",
            "addr",
            "add",
            &format!("{HOLDER_IP}/24"),
            "dev",
            "br0",
        ],
    );
    assert!(add.success(), "add {HOLDER_IP}: {}", add.describe());
    let mut server = Server::start_in_config(&lab.srv(), &config, &[], None);
    let pid = server.pid();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "bootherd", "pid {pid} is not bootherd itself");
    let http = SocketAddr::V4(SocketAddrV4::new(SERVER_IP, 80));
    let url = format!("http://{SERVER_IP}/big.bin");
    let download = |name: &str| {
        let out_file = dir.path().join(name);
        let started = Instant::now();
        let out = lab.exec(
            &lab.cli(),
            90,
            &[
                "curl",
                "-sS",
                "--fail",
                "--interface",
                CURL_IP,
                "--max-time",
                "60",
                "-o",
                out_file.to_str().unwrap(),
                &url,
            ],
        );
        assert!(out.success(), "curl {url}: {}", out.describe());
        assert_file_eq(&out_file, &big, &format!("curl {url} ({name})"));
        started.elapsed()
    };
    // Once before the baseline, so that whatever the first request opens for good is in it.
    download("warm-up.bin");
    let baseline = fd_count(pid);

    let progress = Arc::new(Progress::default());
    let _stop_holder = StopOnDrop(Arc::clone(&progress));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        thread::spawn(move || {
            let mut most = 0;
            let deadline = Instant::now() + Duration::from_secs(120);
            while sampling.load(Ordering::Relaxed) && Instant::now() < deadline {
                most = most.max(fd_count(pid));
                thread::sleep(Duration::from_millis(25));
            }
            most
        })
    };
    let attack_started = Instant::now();
    let holder = {
        let progress = Arc::clone(&progress);
        in_netns(&lab.cli(), move || hold(http, progress))
    };
    assert!(
        wait_until(Duration::from_secs(30), || {
            progress.opened.load(Ordering::Relaxed) >= HELD
                && progress.refusals_seen.load(Ordering::Relaxed) > 0
        }),
        "the holder did not open {HELD} connections and see a refusal within 30 s ({} opened)",
        progress.opened.load(Ordering::Relaxed)
    );

    let took = download("during.bin");
    assert!(
        took < Duration::from_secs(30),
        "the download took {took:?} while {HOLDER_IP} held {HELD} connections"
    );
    // Long enough for the first connections to meet the header timeout several times.
    while attack_started.elapsed() < HEADER_TIMEOUT * 4 {
        thread::sleep(Duration::from_millis(50));
    }
    progress.stop.store(true, Ordering::Relaxed);
    let report = join(holder);
    let attack = attack_started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let most_fds = sampler.join().expect("fd sampler");

    let summary = format!(
        "{} refused, {} silent and {} dribbling connections closed by the server; \
         unexpected: {:?}",
        report.refused,
        report.silent_closed.len(),
        report.dribbler_closed.len(),
        report.unexpected
    );
    eprintln!(
        "{summary}; fds: baseline {baseline}, most {most_fds}; download took {took:?}; \
         dribblers {:?}",
        report.dribbler_closed
    );
    assert!(report.unexpected.is_empty(), "{summary}");
    assert_eq!(
        report.first_refusal.as_deref(),
        Some(REFUSED),
        "the connection past the cap got another answer; {summary}"
    );
    assert!(report.refused >= HELD - PER_CLIENT, "{summary}");
    let window = HEADER_TIMEOUT.mul_f32(0.9)..HEADER_TIMEOUT * 5;
    assert!(!report.silent_closed.is_empty(), "{summary}");
    for lived in &report.silent_closed {
        assert!(
            window.contains(lived),
            "a silent connection was closed after {lived:?}, not {window:?}; {summary}"
        );
    }
    for (lived, sent) in &report.dribbler_closed {
        assert!(
            window.contains(lived),
            "a connection dribbling its header ({sent} bytes sent) was closed after {lived:?}, \
             not {window:?}; {summary}"
        );
    }
    // Bytes kept coming (one per 100 ms) and still the header timeout cut it.
    assert!(
        report.dribbler_closed.iter().any(|&(_, sent)| sent >= 5),
        "no connection that kept dribbling its header was closed; {summary}"
    );
    assert!(
        report.oldest_unanswered < HEADER_TIMEOUT * 5,
        "a connection was still open without a request after {:?}; {summary}",
        report.oldest_unanswered
    );

    // The held connections cost at most the client's cap, the lingering refusals
    // and the download: far fewer than the HELD the holder kept open.
    let bound = baseline + PER_CLIENT + MAX_LINGERING + 16;
    assert!(
        most_fds <= bound,
        "bootherd held {most_fds} file descriptors (baseline {baseline}, bound {bound})"
    );
    let mut now_fds = fd_count(pid);
    assert!(
        wait_until(Duration::from_secs(10), || {
            now_fds = fd_count(pid);
            now_fds <= baseline + 2
        }),
        "bootherd still holds {now_fds} file descriptors 10 s after the holder left \
         (baseline {baseline})"
    );

    let lines = server.expect_lines(
        &[
            "http: connection refused with 503",
            "max_connections_per_client",
        ],
        1,
        Duration::from_secs(5),
        "no log line about the refused connections",
    );
    // One line per 10 s at most, for thousands of refusals.
    let most_lines = attack.as_secs() as usize / 10 + 1;
    assert!(
        lines.len() <= most_lines,
        "{} refusal lines in {attack:?}: {lines:#?}",
        lines.len()
    );
    assert!(
        server.is_running(),
        "bootherd exited:\n{}",
        server.log_text()
    );
}
