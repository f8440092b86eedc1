//! The load loop: one thread, one UDP socket, DISCOVERs paced in small
//! batches with `sendmmsg`, answers drained with `recvmmsg` between them.
//!
//! The loop sleeps until the next batch is due (at least a tick apart, 1 ms
//! by default), then sends every DISCOVER due by then and drains the socket.
//! It does not wake for each answer: the receive time of an answer is the
//! kernel's timestamp (`SO_TIMESTAMPNS`), so round trips are exact even
//! though the loop looks at the socket only once a tick. The socket's own
//! drops are read from `SO_RXQ_OVFL`.
//!
//! The parts: `socket.rs` (the socket and its batches), `state.rs` (each client's
//! record), `summary.rs` (what is printed); this file runs the loop.

use std::collections::HashMap;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::packet::{mac_at, Template};

mod socket;
mod state;
mod summary;

use socket::*;
use state::*;
pub use summary::*;

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
pub(super) const BATCH: usize = 64;
/// Receive buffer per packet.
pub(super) const RX_LEN: usize = 2048;
/// Control buffer per packet: a timestamp and the drop counter.
pub(super) const CTRL_LEN: usize = 128;
/// The longest the loop sleeps without looking at the socket.
pub(super) const MAX_SLEEP_NS: u64 = 10_000_000;
/// How long after `seconds` the DISCOVERs still due may go out.
pub(super) const END_GRACE_NS: u64 = 20_000_000;
/// `recvmmsg` calls in one turn at most.
pub(super) const DRAINS_PER_TURN: usize = 64;
/// Batches sent in one turn before the socket is drained again.
pub(super) const BATCHES_PER_TURN: usize = 4;

// Per-client flags.
pub(super) const F_ANSWER: u8 = 1; // proxy: answered in time; DORA: offered in time
pub(super) const F_LATE: u8 = 2; // the first answer came after the timeout
pub(super) const F_REQ: u8 = 4; // DORA: REQUEST sent
pub(super) const F_ACK: u8 = 8; // DORA: ACK in time
pub(super) const F_ACK_LATE: u8 = 16; // DORA: ACK after the timeout
pub(super) const F_NAK: u8 = 32; // DORA: NAK
pub(super) const F_UNSENT: u8 = 64; // the DISCOVER could not be sent

pub(super) fn cpu_times() -> (f64, f64) {
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
mod tests;
