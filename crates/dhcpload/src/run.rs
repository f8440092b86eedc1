//! The load loop: one thread, one UDP socket, DISCOVERs paced in small
//! batches with `sendmmsg`, answers drained with `recvmmsg` between them.
//!
//! The loop sleeps until the next batch is due (at least a tick apart, 1 ms
//! by default), then sends every DISCOVER due by then and drains the socket.
//! It does not wake for each answer: the receive time of an answer is the
//! kernel's timestamp (`SO_TIMESTAMPNS`), so round trips are exact even
//! though the loop looks at the socket only once a tick. The socket's own
//! drops are read from `SO_RXQ_OVFL`.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ptr;

use crate::packet::{mac_at, scan_reply, Template, MAX_REQUEST_LEN};

/// What one run does.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the DISCOVERs go.
    pub server: SocketAddrV4,
    /// Our address: the socket is bound to it and it is the giaddr.
    pub relay: Ipv4Addr,
    /// Our UDP port (67 for a relay; 0 lets the kernel choose, for tests).
    pub local_port: u16,
    /// DISCOVERs per second; 0 = as fast as the loop can send.
    pub rate: u64,
    /// How long to send.
    pub seconds: f64,
    /// How long to listen after the last DISCOVER.
    pub wait_ms: u64,
    /// An answer later than this after its request counts as lost.
    pub timeout_ms: u64,
    /// The first client's MAC, as a number.
    pub mac_base: u64,
    /// The first client's xid; client n uses xid_base + n.
    pub xid_base: u32,
    /// Answer every OFFER that has an address with a REQUEST.
    pub dora: bool,
    /// Option 60 of every request.
    pub vendor_class: Vec<u8>,
    /// Receive buffer asked for, bytes.
    pub rcvbuf: usize,
    /// The pacing tick: DISCOVERs go out in batches at most this often.
    pub tick_ns: u64,
    /// Stop sending after this many DISCOVERs (bounds the memory).
    pub max_sent: u64,
}

/// How many packets one `sendmmsg`/`recvmmsg` moves at most.
const BATCH: usize = 64;
/// Receive buffer per packet.
const RX_LEN: usize = 2048;
/// Control buffer per packet: a timestamp and the drop counter.
const CTRL_LEN: usize = 128;
/// The longest the loop sleeps without looking at the socket.
const MAX_SLEEP_NS: u64 = 10_000_000;
/// How long after `seconds` the DISCOVERs still due may go out.
const END_GRACE_NS: u64 = 20_000_000;
/// `recvmmsg` calls in one turn at most.
const DRAINS_PER_TURN: usize = 64;
/// Batches sent in one turn before the socket is drained again.
const BATCHES_PER_TURN: usize = 4;

// Per-client flags.
const F_ANSWER: u8 = 1; // proxy: answered in time; DORA: offered in time
const F_LATE: u8 = 2; // the first answer came after the timeout
const F_REQ: u8 = 4; // DORA: REQUEST sent
const F_ACK: u8 = 8; // DORA: ACK in time
const F_ACK_LATE: u8 = 16; // DORA: ACK after the timeout
const F_NAK: u8 = 32; // DORA: NAK
const F_UNSENT: u8 = 64; // the DISCOVER could not be sent

/// Result of a run, printed as one `key=value` line.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub dora: bool,
    pub rate: u64,
    pub seconds: f64,
    /// DISCOVERs sent.
    pub sent: u64,
    /// Proxy: DISCOVERs answered (OFFER or ACK) within the timeout; DORA:
    /// ACKs within the timeout of their REQUEST.
    pub answered: u64,
    /// Answers after the timeout (counted as lost).
    pub late: u64,
    /// Second and later answers to one request.
    pub dup_answers: u64,
    /// Datagrams that answer none of our requests.
    pub stray: u64,
    /// DORA: offers (in time), REQUESTs sent, ACKs, NAKs.
    pub offers: u64,
    pub requests: u64,
    pub acks: u64,
    pub naks: u64,
    /// DORA: addresses offered to a second MAC.
    pub dup_addr: u64,
    pub send_errors: u64,
    /// Datagrams our own socket dropped (receive buffer full).
    pub sock_drops: u64,
    pub rcvbuf_bytes: usize,
    /// Seconds from the first DISCOVER to the last.
    pub send_secs: f64,
    /// How late the loop sent DISCOVERs at worst (µs after they were due),
    /// and in how many turns it was more than two ticks late (then it sent a
    /// larger batch than the rate asks).
    pub send_lag_max_us: u64,
    pub send_late_turns: u64,
    /// Seconds of the whole run, wait included.
    pub elapsed_secs: f64,
    pub rtt: Stats,
    /// DORA: DISCOVER to OFFER.
    pub offer_rtt: Stats,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
}

/// Round-trip times: average, median, 99th percentile, maximum, in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub avg: f64,
    pub p50: u32,
    pub p99: u32,
    pub max: u32,
}

impl Summary {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.answered)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: u64, d: u64| {
            if d > 0 {
                100.0 * n as f64 / d as f64
            } else {
                0.0
            }
        };
        let per_s = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        let cpu = self.cpu_user_s + self.cpu_sys_s;
        write!(
            f,
            "mode={} rate={} seconds={} sent={} answered={} lost={} lost_pct={:.3} \
             answers_per_s={:.0} send_per_s={:.0} rtt_avg_us={:.0} rtt_p50_us={} rtt_p99_us={} \
             rtt_max_us={} late={} dup_answers={} stray={} dup_addr={}",
            if self.dora { "dora" } else { "proxy" },
            self.rate,
            self.seconds,
            self.sent,
            self.answered,
            self.lost(),
            pct(self.lost(), self.sent),
            per_s(self.answered, self.seconds),
            per_s(
                self.sent,
                if self.send_secs > 0.0 {
                    self.send_secs
                } else {
                    self.seconds
                }
            ),
            self.rtt.avg,
            self.rtt.p50,
            self.rtt.p99,
            self.rtt.max,
            self.late,
            self.dup_answers,
            self.stray,
            self.dup_addr,
        )?;
        if self.dora {
            write!(
                f,
                " offers={} requests={} acks={} naks={} offer_rtt_avg_us={:.0} offer_rtt_p50_us={} \
                 offer_rtt_p99_us={} offer_rtt_max_us={}",
                self.offers,
                self.requests,
                self.acks,
                self.naks,
                self.offer_rtt.avg,
                self.offer_rtt.p50,
                self.offer_rtt.p99,
                self.offer_rtt.max
            )?;
        }
        write!(
            f,
            " send_lag_max_us={} send_late_turns={} send_errors={} sock_drops={} rcvbuf_bytes={} \
             elapsed_s={:.3} cpu_user_s={:.3} cpu_sys_s={:.3} cpu_us_per_sent={:.2}",
            self.send_lag_max_us,
            self.send_late_turns,
            self.send_errors,
            self.sock_drops,
            self.rcvbuf_bytes,
            self.elapsed_secs,
            self.cpu_user_s,
            self.cpu_sys_s,
            if self.sent > 0 {
                cpu * 1e6 / self.sent as f64
            } else {
                0.0
            }
        )
    }
}

/// Round trips in 1 µs buckets up to the timeout.
struct Hist {
    buckets: Vec<u32>,
    count: u64,
    sum: u64,
    max: u32,
}

impl Hist {
    fn new(limit_us: u32) -> Hist {
        Hist {
            buckets: vec![0; limit_us as usize + 1],
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    fn add(&mut self, us: u32) {
        let i = (us as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum += u64::from(us);
        self.max = self.max.max(us);
    }

    fn quantile(&self, q: f64) -> u32 {
        if self.count == 0 {
            return 0;
        }
        let want = ((self.count as f64 * q).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (us, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= want {
                return us as u32;
            }
        }
        self.max
    }

    fn stats(&self) -> Stats {
        Stats {
            avg: if self.count > 0 {
                self.sum as f64 / self.count as f64
            } else {
                0.0
            },
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            max: self.max,
        }
    }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; clock_gettime only writes it.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn mono_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn real_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

fn sleep_until_mono(ns: u64) {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: ts is a valid timespec; an interruption just ends the sleep early.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            ptr::null_mut(),
        )
    };
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// The UDP socket, closed on drop.
struct Socket(libc::c_int);

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn setsockopt_int(fd: libc::c_int, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> bool {
    // SAFETY: v lives across the call; the length is its size.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

fn open_socket(cfg: &Config) -> io::Result<(Socket, usize)> {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = Socket(fd);
    let want = cfg.rcvbuf.min(i32::MAX as usize / 2) as libc::c_int;
    // SO_RCVBUFFORCE passes rmem_max (it needs CAP_NET_ADMIN); else the capped one.
    if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want) {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want);
    }
    if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20) {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 4 << 20);
    }
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1);
    let local = sockaddr(SocketAddrV4::new(cfg.relay, cfg.local_port));
    // SAFETY: local is a valid sockaddr_in of the given length.
    let rc = unsafe {
        libc::bind(
            fd,
            &local as *const libc::sockaddr_in as *const libc::sockaddr,
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot bind UDP {}:{}: {e}", cfg.relay, cfg.local_port),
        ));
    }
    let mut got: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: got and len are valid for getsockopt to write.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &mut got as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    Ok((sock, got.max(0) as usize))
}

/// Packets waiting to go out in one `sendmmsg`.
struct TxBatch {
    bufs: Vec<[u8; MAX_REQUEST_LEN]>,
    lens: [usize; BATCH],
    seqs: [u64; BATCH],
    n: usize,
}

impl TxBatch {
    fn new() -> TxBatch {
        TxBatch {
            bufs: vec![[0; MAX_REQUEST_LEN]; BATCH],
            lens: [0; BATCH],
            seqs: [0; BATCH],
            n: 0,
        }
    }

    fn full(&self) -> bool {
        self.n == BATCH
    }

    /// Sends the batch; returns the sequence numbers that could not be sent.
    fn flush(&mut self, fd: libc::c_int, dest: &libc::sockaddr_in) -> Vec<u64> {
        let mut iov: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        for i in 0..self.n {
            iov[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: self.lens[i],
            };
            hdrs[i].msg_hdr.msg_name = dest as *const libc::sockaddr_in as *mut libc::c_void;
            hdrs[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        let mut done = 0usize;
        let mut failed = Vec::new();
        while done < self.n {
            // SAFETY: hdrs[done..n] point at live buffers, iovecs and dest.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    hdrs.as_mut_ptr().add(done),
                    (self.n - done) as libc::c_uint,
                    0,
                )
            };
            if rc > 0 {
                done += rc as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The packet at `done` cannot go (ENOBUFS, EPERM, ...): count it
            // and try the rest.
            failed.push(self.seqs[done]);
            done += 1;
        }
        self.n = 0;
        failed
    }
}

/// Buffers for one `recvmmsg`.
struct RxBatch {
    bufs: Vec<[u8; RX_LEN]>,
    ctrl: Vec<[u8; CTRL_LEN]>,
    addrs: Vec<libc::sockaddr_in>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl RxBatch {
    fn new() -> RxBatch {
        RxBatch {
            bufs: vec![[0; RX_LEN]; BATCH],
            ctrl: vec![[0; CTRL_LEN]; BATCH],
            addrs: vec![unsafe { mem::zeroed() }; BATCH],
            iov: vec![unsafe { mem::zeroed() }; BATCH],
            hdrs: vec![unsafe { mem::zeroed() }; BATCH],
        }
    }

    /// Receives up to BATCH datagrams without blocking; 0 when none is waiting.
    fn recv(&mut self, fd: libc::c_int) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iov[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: RX_LEN,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.addrs[i] as *mut libc::sockaddr_in as *mut libc::c_void;
            h.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.ctrl[i].as_mut_ptr() as *mut libc::c_void;
            h.msg_controllen = CTRL_LEN as _;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        loop {
            // SAFETY: every header points at live buffers of the given sizes.
            let rc = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    ptr::null_mut(),
                )
            };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(0),
                // An ICMP error queued for the socket (e.g. port unreachable
                // on loopback): not an answer; read on.
                io::ErrorKind::ConnectionRefused => continue,
                _ => return Err(e),
            }
        }
    }

    /// The kernel's receive time (realtime, ns) and the socket's drop
    /// counter, from the control messages of datagram `i`.
    fn meta(&self, i: usize) -> (Option<u64>, Option<u32>) {
        let h = &self.hdrs[i].msg_hdr;
        let mut ts = None;
        let mut drops = None;
        // SAFETY: the kernel filled msg_control up to msg_controllen; the
        // CMSG macros stay inside it and the data is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                if (*c).cmsg_level == libc::SOL_SOCKET {
                    if (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                        let t: libc::timespec = ptr::read_unaligned(data as *const libc::timespec);
                        ts = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
                    } else if (*c).cmsg_type == libc::SO_RXQ_OVFL {
                        drops = Some(ptr::read_unaligned(data as *const u32));
                    }
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        (ts, drops)
    }
}

/// The per-client record and the counters.
struct State {
    cfg: Config,
    timeout_us: u32,
    start_real: u64,
    sent_us: Vec<u32>,
    req_us: Vec<u32>,
    flags: Vec<u8>,
    rtt: Hist,
    offer_rtt: Hist,
    offered_to: HashMap<u32, u64>,
    s: Summary,
}

impl State {
    fn us_since_start(&self, real: u64) -> u32 {
        (real.saturating_sub(self.start_real) / 1000).min(u64::from(u32::MAX)) as u32
    }

    /// One datagram received at `rx_us`, from `src`; a REQUEST to send, if any.
    fn on_datagram(
        &mut self,
        buf: &[u8],
        rx_us: u32,
        src: [u8; 4],
    ) -> Option<(u64, [u8; 4], [u8; 4])> {
        let Some(r) = scan_reply(buf) else {
            self.s.stray += 1;
            return None;
        };
        let seq = u64::from(r.xid.wrapping_sub(self.cfg.xid_base));
        let i = seq as usize;
        if i >= self.flags.len()
            || self.flags[i] & F_UNSENT != 0
            || r.mac != mac_at(self.cfg.mac_base, seq)
        {
            self.s.stray += 1;
            return None;
        }
        const OFFER: u8 = 2;
        const ACK: u8 = 5;
        const NAK: u8 = 6;
        match (self.cfg.dora, r.kind) {
            (false, Some(OFFER | ACK)) => {
                self.first_answer(i, rx_us);
                None
            }
            (true, Some(OFFER)) => {
                if !self.first_answer(i, rx_us) {
                    return None;
                }
                self.s.offers += 1;
                if r.yiaddr == [0; 4] {
                    return None;
                }
                let addr = u32::from_be_bytes(r.yiaddr);
                match self.offered_to.get(&addr) {
                    Some(&other) if other != seq => self.s.dup_addr += 1,
                    Some(_) => {}
                    None => {
                        self.offered_to.insert(addr, seq);
                    }
                }
                Some((seq, r.yiaddr, r.server_id.unwrap_or(src)))
            }
            (true, Some(ACK)) => {
                let f = self.flags[i];
                if f & F_REQ == 0 {
                    self.s.stray += 1;
                } else if f & (F_ACK | F_ACK_LATE) != 0 {
                    self.s.dup_answers += 1;
                } else {
                    let rtt = rx_us.saturating_sub(self.req_us[i]);
                    if rtt > self.timeout_us {
                        self.flags[i] |= F_ACK_LATE;
                        self.s.late += 1;
                    } else {
                        self.flags[i] |= F_ACK;
                        self.s.acks += 1;
                        self.s.answered += 1;
                        self.rtt.add(rtt);
                    }
                }
                None
            }
            (true, Some(NAK)) => {
                if self.flags[i] & F_NAK == 0 {
                    self.flags[i] |= F_NAK;
                    self.s.naks += 1;
                } else {
                    self.s.dup_answers += 1;
                }
                None
            }
            _ => {
                self.s.stray += 1;
                None
            }
        }
    }

    /// The first answer to client `i`'s DISCOVER: true when it came in time.
    fn first_answer(&mut self, i: usize, rx_us: u32) -> bool {
        if self.flags[i] & (F_ANSWER | F_LATE) != 0 {
            self.s.dup_answers += 1;
            return false;
        }
        let rtt = rx_us.saturating_sub(self.sent_us[i]);
        if rtt > self.timeout_us {
            self.flags[i] |= F_LATE;
            self.s.late += 1;
            return false;
        }
        self.flags[i] |= F_ANSWER;
        if self.cfg.dora {
            self.offer_rtt.add(rtt);
        } else {
            self.s.answered += 1;
            self.rtt.add(rtt);
        }
        true
    }
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: ru is a valid rusage for getrusage to fill.
    let mut ru: libc::rusage = unsafe { mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// Runs the load and returns what happened. Always ends after
/// `seconds + wait_ms` (plus one tick).
pub fn run(cfg: Config) -> io::Result<Summary> {
    let (sock, rcvbuf) = open_socket(&cfg)?;
    let fd = sock.0;
    let dest = sockaddr(cfg.server);
    let discover = Template::discover(cfg.relay, &cfg.vendor_class);
    let request = Template::request(cfg.relay, &cfg.vendor_class);
    let timeout_us = (cfg.timeout_ms.saturating_mul(1000)).min(u64::from(u32::MAX - 1)) as u32;

    let expected = if cfg.rate > 0 {
        ((cfg.rate as f64 * cfg.seconds).round() as u64).min(cfg.max_sent)
    } else {
        cfg.max_sent
    };
    let reserve = if cfg.rate > 0 {
        expected.min(20_000_000)
    } else {
        4_000_000
    } as usize;
    let mut st = State {
        timeout_us,
        start_real: 0,
        sent_us: Vec::with_capacity(reserve),
        req_us: if cfg.dora {
            Vec::with_capacity(reserve)
        } else {
            Vec::new()
        },
        flags: Vec::with_capacity(reserve),
        rtt: Hist::new(timeout_us),
        offer_rtt: Hist::new(if cfg.dora { timeout_us } else { 0 }),
        offered_to: HashMap::new(),
        s: Summary {
            dora: cfg.dora,
            rate: cfg.rate,
            seconds: cfg.seconds,
            rcvbuf_bytes: rcvbuf,
            ..Summary::default()
        },
        cfg,
    };
    let cfg = st.cfg.clone();

    let mut tx = TxBatch::new();
    let mut req_tx = TxBatch::new();
    let mut rx = RxBatch::new();
    let mut pending_req: Vec<(u64, [u8; 4], [u8; 4])> = Vec::with_capacity(BATCH);

    let start = mono_ns();
    st.start_real = real_ns();
    let send_end = start + (cfg.seconds * 1e9) as u64;
    let mut wait_end: Option<u64> = None;
    let mut last_send = start;
    let mut seq: u64 = 0; // DISCOVERs built so far

    loop {
        let now = mono_ns();
        let sending = wait_end.is_none();
        if sending {
            // With a rate, the last DISCOVERs are due just before the end
            // and the tick may wake a little after it: a short grace lets
            // them go, so that a run sends rate x seconds unless the loop
            // fell behind.
            let stop_at = if cfg.rate == 0 {
                send_end
            } else {
                send_end + END_GRACE_NS
            };
            let due = if now >= stop_at || seq >= expected {
                seq
            } else if cfg.rate == 0 {
                seq + BATCH as u64
            } else {
                let elapsed = u128::from(now - start);
                let d = (elapsed * u128::from(cfg.rate) / 1_000_000_000) as u64 + 1;
                d.min(expected)
            };
            if cfg.rate > 0 && seq < due {
                // The first DISCOVER due in this turn was due at seq / rate.
                let at = start + (u128::from(seq) * 1_000_000_000 / u128::from(cfg.rate)) as u64;
                let lag = now.saturating_sub(at);
                st.s.send_lag_max_us = st.s.send_lag_max_us.max(lag / 1000);
                if lag > 2 * cfg.tick_ns {
                    st.s.send_late_turns += 1;
                }
            }
            let mut batches = 0;
            while seq < due && batches < BATCHES_PER_TURN {
                let t_us = st.us_since_start(real_ns());
                while seq < due && !tx.full() {
                    let mac = mac_at(cfg.mac_base, seq);
                    let xid = cfg.xid_base.wrapping_add(seq as u32);
                    let n = tx.n;
                    tx.lens[n] = discover.write(&mut tx.bufs[n], mac, xid);
                    tx.seqs[n] = seq;
                    tx.n += 1;
                    st.sent_us.push(t_us);
                    st.flags.push(0);
                    if cfg.dora {
                        st.req_us.push(0);
                    }
                    seq += 1;
                }
                for failed in tx.flush(fd, &dest) {
                    st.flags[failed as usize] |= F_UNSENT;
                    st.s.send_errors += 1;
                }
                batches += 1;
                last_send = mono_ns();
            }
            if seq >= expected || mono_ns() >= stop_at {
                wait_end = Some(last_send.max(start) + cfg.wait_ms * 1_000_000);
                st.s.send_secs = (last_send - start) as f64 / 1e9;
            }
        }

        // Drain the socket; in DORA mode answer offers as they come. At
        // most DRAINS_PER_TURN batches, so that the clock is looked at again
        // however fast answers come.
        for _ in 0..DRAINS_PER_TURN {
            let n = rx.recv(fd)?;
            if n == 0 {
                break;
            }
            let fallback = real_ns();
            for i in 0..n {
                let (ts, drops) = rx.meta(i);
                if let Some(d) = drops {
                    st.s.sock_drops = st.s.sock_drops.max(u64::from(d));
                }
                let rx_us = st.us_since_start(ts.unwrap_or(fallback));
                let len = rx.hdrs[i].msg_len as usize;
                let src = u32::from_be(rx.addrs[i].sin_addr.s_addr).to_be_bytes();
                if let Some(r) = st.on_datagram(&rx.bufs[i][..len.min(RX_LEN)], rx_us, src) {
                    pending_req.push(r);
                }
            }
            if !pending_req.is_empty() {
                let t_us = st.us_since_start(real_ns());
                for (seq, addr, server) in pending_req.drain(..) {
                    let mac = mac_at(cfg.mac_base, seq);
                    let xid = cfg.xid_base.wrapping_add(seq as u32);
                    let k = req_tx.n;
                    req_tx.lens[k] =
                        request.write_request(&mut req_tx.bufs[k], mac, xid, addr, server);
                    req_tx.seqs[k] = seq;
                    req_tx.n += 1;
                    st.req_us[seq as usize] = t_us;
                    st.flags[seq as usize] |= F_REQ;
                    st.s.requests += 1;
                    if req_tx.full() {
                        for failed in req_tx.flush(fd, &dest) {
                            st.flags[failed as usize] &= !F_REQ;
                            st.s.requests -= 1;
                            st.s.send_errors += 1;
                        }
                    }
                }
                if req_tx.n > 0 {
                    for failed in req_tx.flush(fd, &dest) {
                        st.flags[failed as usize] &= !F_REQ;
                        st.s.requests -= 1;
                        st.s.send_errors += 1;
                    }
                }
            }
            if n < BATCH {
                break;
            }
        }

        let now = mono_ns();
        match wait_end {
            Some(end) => {
                if now >= end {
                    break;
                }
                sleep_until_mono(end.min(now + cfg.tick_ns));
            }
            None => {
                if cfg.rate == 0 {
                    continue;
                }
                let next_due = start
                    + (u128::from(seq) * 1_000_000_000 / u128::from(cfg.rate))
                        .min(u128::from(u64::MAX / 2)) as u64;
                if next_due <= now {
                    continue; // behind: send at once
                }
                let wake = next_due.max(now + cfg.tick_ns).min(now + MAX_SLEEP_NS);
                sleep_until_mono(wake);
            }
        }
    }

    st.s.elapsed_secs = (mono_ns() - start) as f64 / 1e9;
    // The DISCOVERs that could not be sent are not "sent" (failed REQUESTs
    // were taken off `requests` already).
    let unsent = st.flags.iter().filter(|&&f| f & F_UNSENT != 0).count() as u64;
    st.s.sent = seq - unsent;
    st.s.rtt = st.rtt.stats();
    st.s.offer_rtt = st.offer_rtt.stats();
    let (u, s) = cpu_times();
    st.s.cpu_user_s = u;
    st.s.cpu_sys_s = s;
    drop(sock);
    Ok(st.s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let mut h = Hist::new(1000);
        for us in 1..=100 {
            h.add(us);
        }
        let s = h.stats();
        assert_eq!(s.p50, 50);
        assert_eq!(s.p99, 99);
        assert_eq!(s.max, 100);
        assert!((s.avg - 50.5).abs() < 1e-9);
        assert_eq!(Hist::new(10).stats(), Stats::default());
        // Beyond the limit: counted in the last bucket, max kept.
        let mut h = Hist::new(10);
        h.add(50);
        assert_eq!(h.stats().p99, 10);
        assert_eq!(h.stats().max, 50);
    }

    fn state(dora: bool, n: usize) -> State {
        let cfg = Config {
            server: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6767),
            relay: Ipv4Addr::LOCALHOST,
            local_port: 0,
            rate: 1000,
            seconds: 1.0,
            wait_ms: 300,
            timeout_ms: 1000,
            mac_base: 0x000c_0300_0000,
            xid_base: 0xffff_fff0,
            dora,
            vendor_class: crate::packet::PXE_BIOS_CLASS.as_bytes().to_vec(),
            rcvbuf: 1 << 20,
            tick_ns: 1_000_000,
            max_sent: 1000,
        };
        State {
            timeout_us: 1_000_000,
            start_real: 0,
            sent_us: vec![100; n],
            req_us: vec![0; n],
            flags: vec![0; n],
            rtt: Hist::new(1_000_000),
            offer_rtt: Hist::new(1_000_000),
            offered_to: HashMap::new(),
            s: Summary {
                dora,
                ..Summary::default()
            },
            cfg,
        }
    }

    fn answer(st: &State, seq: u64, kind: u8, yiaddr: [u8; 4]) -> Vec<u8> {
        use bootherd_proto::wire::dhcp::{code, DhcpPacket};
        let mac = mac_at(st.cfg.mac_base, seq);
        let req = crate::packet::pxe_request(
            st.cfg.relay,
            &st.cfg.vendor_class,
            mac,
            st.cfg.xid_base.wrapping_add(seq as u32),
            None,
        );
        let mut r = DhcpPacket::new_reply(&req);
        r.yiaddr = Ipv4Addr::from(yiaddr);
        r.set_option(code::MESSAGE_TYPE, [kind]);
        r.set_option(code::SERVER_ID, [127, 0, 0, 1]);
        r.emit()
    }

    #[test]
    fn proxy_answers_are_matched_by_xid_and_mac() {
        let mut st = state(false, 4);
        // xids wrap around: client 0 has xid 0xfffffff0, client 3 0xfffffff3.
        assert!(st
            .on_datagram(&answer(&st, 0, 2, [0; 4]), 300, [127, 0, 0, 1])
            .is_none());
        assert_eq!(st.s.answered, 1);
        // An ACK answers too; a second answer is a duplicate, not counted.
        st.on_datagram(&answer(&st, 1, 5, [0; 4]), 400, [0; 4]);
        st.on_datagram(&answer(&st, 1, 2, [0; 4]), 500, [0; 4]);
        assert_eq!((st.s.answered, st.s.dup_answers), (2, 1));
        // Late: more than the timeout after the DISCOVER.
        st.on_datagram(&answer(&st, 2, 2, [0; 4]), 100 + 1_000_001, [0; 4]);
        assert_eq!((st.s.answered, st.s.late), (2, 1));
        // Unknown client (xid beyond what was sent), wrong MAC, not DHCP.
        st.on_datagram(&answer(&st, 9, 2, [0; 4]), 300, [0; 4]);
        let mut wrong = answer(&st, 3, 2, [0; 4]);
        wrong[33] ^= 1;
        st.on_datagram(&wrong, 300, [0; 4]);
        st.on_datagram(b"hello", 300, [0; 4]);
        assert_eq!(st.s.stray, 3);
        assert_eq!(st.s.answered, 2);
        // Round trips: 200 and 300 µs.
        let s = st.rtt.stats();
        assert_eq!((s.avg, s.max), (250.0, 300));
    }

    #[test]
    fn dora_requests_acks_and_duplicate_addresses() {
        let mut st = state(true, 3);
        let r = st.on_datagram(&answer(&st, 0, 2, [10, 0, 0, 5]), 200, [9, 9, 9, 9]);
        assert_eq!(r, Some((0, [10, 0, 0, 5], [127, 0, 0, 1])));
        assert_eq!(
            (st.s.offers, st.s.answered),
            (1, 0),
            "an offer is not the answer counted"
        );
        // An offer without an address is counted, no REQUEST.
        assert_eq!(
            st.on_datagram(&answer(&st, 1, 2, [0; 4]), 200, [0; 4]),
            None
        );
        // The same address to another client: a duplicate.
        assert!(st
            .on_datagram(&answer(&st, 2, 2, [10, 0, 0, 5]), 200, [0; 4])
            .is_some());
        assert_eq!(st.s.dup_addr, 1);
        // An ACK without a REQUEST sent is stray; after it, it counts.
        st.on_datagram(&answer(&st, 0, 5, [10, 0, 0, 5]), 300, [0; 4]);
        assert_eq!((st.s.acks, st.s.stray), (0, 1));
        st.flags[0] |= F_REQ;
        st.req_us[0] = 250;
        st.on_datagram(&answer(&st, 0, 5, [10, 0, 0, 5]), 300, [0; 4]);
        st.on_datagram(&answer(&st, 0, 5, [10, 0, 0, 5]), 310, [0; 4]);
        assert_eq!((st.s.acks, st.s.answered, st.s.dup_answers), (1, 1, 1));
        assert_eq!(st.rtt.stats().max, 50);
        st.on_datagram(&answer(&st, 2, 6, [0; 4]), 300, [0; 4]);
        assert_eq!(st.s.naks, 1);
    }

    #[test]
    fn summary_line_has_every_key() {
        let s = Summary {
            rate: 1000,
            seconds: 2.0,
            sent: 2000,
            answered: 1800,
            send_secs: 2.0,
            ..Summary::default()
        };
        let line = s.to_string();
        for key in [
            "mode=proxy",
            "sent=2000",
            "answered=1800",
            "lost=200",
            "lost_pct=10.000",
            "answers_per_s=900",
            "rtt_avg_us=",
            "rtt_p99_us=",
            "late=0",
            "dup_addr=0",
            "cpu_user_s=",
            "cpu_sys_s=",
            "sock_drops=0",
        ] {
            assert!(line.contains(key), "{key} missing in {line}");
        }
        assert!(!line.contains('\n'));
        let d = Summary { dora: true, ..s };
        assert!(d.to_string().contains("mode=dora"));
        assert!(d.to_string().contains("acks=0"));
    }
}
