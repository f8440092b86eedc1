//! What a run measured: the counters, round-trip statistics and their
//! `key=value` line.

use std::fmt;

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
pub(super) struct Hist {
    pub(super) buckets: Vec<u32>,
    pub(super) count: u64,
    pub(super) sum: u64,
    pub(super) max: u32,
}

impl Hist {
    pub(super) fn new(limit_us: u32) -> Hist {
        Hist {
            buckets: vec![0; limit_us as usize + 1],
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    pub(super) fn add(&mut self, us: u32) {
        let i = (us as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum += u64::from(us);
        self.max = self.max.max(us);
    }

    pub(super) fn quantile(&self, q: f64) -> u32 {
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

    pub(super) fn stats(&self) -> Stats {
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
