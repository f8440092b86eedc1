//! dhcpload against a small responder on 127.0.0.1: the counting is right.

use std::net::{Ipv4Addr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bootherd_proto::wire::dhcp::{code, DhcpPacket, MessageType};

/// How the responder answers.
#[derive(Clone, Copy)]
enum Mode {
    /// Proxy OFFER (no address) for every DISCOVER except every `n`th.
    ProxyDropEvery(u64),
    /// OFFER a distinct address per DISCOVER, except that the 6th DISCOVER
    /// gets the 5th one's address again; ACK every REQUEST.
    Dora,
}

struct Responder {
    port: u16,
    stop: Arc<AtomicBool>,
    counts: Counts,
    thread: Option<JoinHandle<()>>,
}

/// What the responder received and answered (the kernel may drop datagrams
/// at its socket while it is held off the CPU, so these can be below what
/// dhcpload sent).
#[derive(Clone, Default)]
struct Counts {
    discovers: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    answers: Arc<AtomicU64>,
}

/// The responder's final counts.
#[derive(Debug, Clone, Copy)]
struct Final {
    discovers: u64,
    requests: u64,
    answers: u64,
}

impl Responder {
    fn start(mode: Mode) -> Responder {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Counts::default();
        let (s, c) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(req) = DhcpPacket::parse(&buf[..n]) else {
                    continue;
                };
                let mut reply = DhcpPacket::new_reply(&req);
                reply.set_option(code::SERVER_ID, [127, 0, 0, 1]);
                match req.message_type() {
                    Some(MessageType::Discover) => {
                        let k = c.discovers.fetch_add(1, Ordering::Relaxed) + 1;
                        reply.set_option(code::MESSAGE_TYPE, [MessageType::Offer.code()]);
                        match mode {
                            Mode::ProxyDropEvery(every) => {
                                if k % every == 0 {
                                    continue;
                                }
                                reply.set_option(code::VENDOR_CLASS, b"PXEClient".to_vec());
                            }
                            Mode::Dora => {
                                let k = if k == 6 { 5 } else { k } as u32;
                                reply.yiaddr = Ipv4Addr::from(0x0a00_0000 + k);
                            }
                        }
                    }
                    Some(MessageType::Request) => {
                        c.requests.fetch_add(1, Ordering::Relaxed);
                        reply.yiaddr = req.requested_ip().unwrap_or(Ipv4Addr::UNSPECIFIED);
                        reply.set_option(code::MESSAGE_TYPE, [MessageType::Ack.code()]);
                    }
                    _ => continue,
                }
                if sock.send_to(&reply.emit(), from).is_ok() {
                    c.answers.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Responder {
            port,
            stop,
            counts,
            thread: Some(thread),
        }
    }

    /// Stops the responder and returns its counts, which then no longer change.
    fn finish(self) -> Final {
        let counts = self.counts.clone();
        drop(self);
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Final {
            discovers: get(&counts.discovers),
            requests: get(&counts.requests),
            answers: get(&counts.answers),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// The tests that send run one at a time: a flood next to a paced run would
/// make the paced one late on a 2-core machine.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn dhcpload(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dhcpload"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of `key=` in the summary line.
fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap()
}

/// For the runs whose counts are compared with the responder's: dhcpload
/// listens 1 s after its last DISCOVER and counts answers up to 5 s late, so
/// that a responder held off the CPU for a while on a busy machine is still
/// counted in full.
const PATIENT: [&str; 4] = ["--wait-ms", "1000", "--timeout-ms", "5000"];

/// dhcpload sends rate x seconds DISCOVERs, fewer only when it was held off
/// the CPU through the last 20 ms of the run (then the rest are not sent):
/// `sent` must be in `floor..=rate x seconds`, with `floor` a tenth below.
fn assert_sent(line: &str, expected: u64) -> u64 {
    let sent = field(line, "sent") as u64;
    assert!(
        (expected - expected / 10..=expected).contains(&sent),
        "sent {sent}, expected {expected}: {line}"
    );
    sent
}

fn loopback_args(port: u16, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--server",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--relay",
        "127.0.0.1",
        "--local-port",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn proxy_counts_a_tenth_lost_when_every_tenth_is_dropped() {
    let _serial = one_at_a_time();
    let r = Responder::start(Mode::ProxyDropEvery(10));
    let mut extra = vec!["--rate", "2000", "--seconds", "1"];
    extra.extend(PATIENT);
    let args = loopback_args(r.port, &extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rc, out, err) = dhcpload(&args);
    let got = r.finish();
    assert_eq!(rc, 0, "stderr: {err}");
    let line = out.trim();
    assert_eq!(out.lines().count(), 1, "{out}");
    let sent = assert_sent(line, 2000);
    // Never more arrive than were sent; the responder drops every 10th of
    // those that arrive, and dhcpload counts every answer it got.
    assert!((1..=sent).contains(&got.discovers), "{got:?} {line}");
    assert_eq!(got.answers, got.discovers - got.discovers / 10, "{got:?}");
    assert_eq!(
        field(line, "answered") as u64,
        got.answers,
        "{got:?} {line}"
    );
    assert_eq!(field(line, "lost") as u64, sent - got.answers, "{line}");
    let lost_pct = 100.0 * (sent - got.answers) as f64 / sent as f64;
    assert!(
        (field(line, "lost_pct") - lost_pct).abs() < 0.001,
        "lost_pct, expected {lost_pct:.3}: {line}"
    );
    // answers_per_s is the answers over the 1 s of load.
    assert_eq!(field(line, "answers_per_s"), got.answers as f64, "{line}");
    assert_eq!(field(line, "stray"), 0.0, "{line}");
    assert_eq!(field(line, "late"), 0.0, "{line}");
    assert_eq!(field(line, "dup_answers"), 0.0, "{line}");
    let (p50, p99, max) = (
        field(line, "rtt_p50_us"),
        field(line, "rtt_p99_us"),
        field(line, "rtt_max_us"),
    );
    assert!(field(line, "rtt_avg_us") > 0.0, "{line}");
    assert!(p50 <= p99 && p99 <= max && max <= 5_000_000.0, "{line}");
}

#[test]
fn dora_requests_every_offer_and_sees_a_duplicate_address() {
    let _serial = one_at_a_time();
    let r = Responder::start(Mode::Dora);
    let mut extra = vec![
        "--rate",
        "1000",
        "--seconds",
        "0.5",
        "--dora",
        "--mac-base",
        "02:00:00:00:00:00",
    ];
    extra.extend(PATIENT);
    let args = loopback_args(r.port, &extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rc, out, err) = dhcpload(&args);
    let got = r.finish();
    assert_eq!(rc, 0, "stderr: {err}");
    let line = out.trim();
    assert!(line.starts_with("mode=dora"), "{line}");
    let sent = assert_sent(line, 500);
    // The responder offers every DISCOVER that reaches it, dhcpload requests
    // every offer, the responder ACKs every REQUEST that reaches it.
    let offers = field(line, "offers") as u64;
    let requests = field(line, "requests") as u64;
    assert!(
        got.discovers >= 6 && got.discovers <= sent,
        "{got:?} {line}"
    );
    assert_eq!(offers, got.discovers, "{got:?} {line}");
    assert_eq!(requests, offers, "{line}");
    assert!(got.requests <= requests, "{got:?} {line}");
    assert_eq!(got.answers, got.discovers + got.requests, "{got:?}");
    assert_eq!(field(line, "acks") as u64, got.requests, "{got:?} {line}");
    assert_eq!(
        field(line, "answered") as u64,
        got.requests,
        "{got:?} {line}"
    );
    assert_eq!(field(line, "lost") as u64, sent - got.requests, "{line}");
    // The 6th DISCOVER to arrive was offered the 5th one's address.
    assert_eq!(field(line, "dup_addr"), 1.0, "{line}");
    assert_eq!(field(line, "naks"), 0.0, "{line}");
    let (p50, p99, max) = (
        field(line, "offer_rtt_p50_us"),
        field(line, "offer_rtt_p99_us"),
        field(line, "offer_rtt_max_us"),
    );
    assert!(field(line, "offer_rtt_avg_us") > 0.0, "{line}");
    assert!(p50 <= p99 && p99 <= max && max <= 5_000_000.0, "{line}");
}

#[test]
fn a_flood_ends_on_time() {
    let _serial = one_at_a_time();
    let r = Responder::start(Mode::ProxyDropEvery(u64::MAX));
    let args = loopback_args(
        r.port,
        &["--rate", "0", "--seconds", "0.2", "--wait-ms", "200"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = Instant::now();
    let (rc, out, err) = dhcpload(&args);
    let took = t.elapsed();
    drop(r);
    assert_eq!(rc, 0, "stderr: {err}");
    let line = out.trim();
    assert!(field(line, "sent") > 0.0, "{line}");
    assert!(field(line, "answered") > 0.0, "{line}");
    assert!(field(line, "answered") <= field(line, "sent"), "{line}");
    // 0.2 s of load and 0.2 s of wait, plus start-up.
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn nothing_listening_means_everything_lost() {
    let _serial = one_at_a_time();
    // A port nobody listens on: bind one, note it, close it.
    let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = loopback_args(
        port,
        &["--rate", "500", "--seconds", "0.2", "--wait-ms", "200"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rc, out, err) = dhcpload(&args);
    assert_eq!(rc, 0, "stderr: {err}");
    let line = out.trim();
    assert_sent(line, 100);
    assert_eq!(field(line, "answered"), 0.0, "{line}");
    assert_eq!(field(line, "lost_pct"), 100.0, "{line}");
}

#[test]
fn non_loopback_targets_need_a_test_namespace() {
    // --dry-run: the checks run, nothing is ever sent.
    let base = ["--relay", "127.0.0.1", "--local-port", "0", "--dry-run"];
    let with = |server: &str| {
        let mut a = vec!["--server", server];
        a.extend_from_slice(&base);
        dhcpload(&a)
    };
    assert_eq!(with("127.0.0.1").1.trim(), "ok");
    let (rc, out, err) = with("10.99.0.1");
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata("/proc/self/ns/net").map(|m| (m.dev(), m.ino()));
    let init = std::fs::metadata("/proc/1/ns/net").map(|m| (m.dev(), m.ino()));
    let in_initial = match (&own, &init) {
        (Ok(a), Ok(b)) => a == b,
        // PID 1 hidden: the initial namespace has a fixed inode since 6.18.
        (Ok(a), Err(_)) => a.1 == 0xEFFF_FFF9,
        _ => true,
    };
    if in_initial {
        assert_eq!(rc, 2, "{out}");
        assert!(err.contains("refusing to send to 10.99.0.1"), "{err}");
        assert!(out.is_empty());
    } else {
        // The tests run in some other namespace: allowed, or refused with
        // a reason (PID 1 hidden and the namespace not a named one).
        assert!(
            (rc, out.trim()) == (0, "ok") || (rc == 2 && err.contains("refusing")),
            "{rc} {out} {err}"
        );
    }
    let (rc, _, err) = with("255.255.255.255");
    assert_eq!(rc, 2);
    assert!(err.contains("refusing"), "{err}");
}

#[test]
fn bad_arguments_are_refused() {
    for extra in [
        &["--seconds", "0"][..],
        &["--seconds", "4000"],
        &["--wait-ms", "70000"],
        &["--mac-base", "nope"],
        &["--timeout-ms", "0"],
    ] {
        let mut a = vec!["--server", "127.0.0.1", "--relay", "127.0.0.1", "--dry-run"];
        a.extend_from_slice(extra);
        let (rc, _, _) = dhcpload(&a);
        assert_eq!(rc, 2, "{extra:?}");
    }
}
