//! Each client's record and what an answer does to it.

use std::collections::HashMap;

use crate::packet::{mac_at, scan_reply};

use super::*;

/// The per-client record and the counters.
pub(super) struct State {
    pub(super) cfg: Config,
    pub(super) timeout_us: u32,
    pub(super) start_real: u64,
    pub(super) sent_us: Vec<u32>,
    pub(super) req_us: Vec<u32>,
    pub(super) flags: Vec<u8>,
    pub(super) rtt: Hist,
    pub(super) offer_rtt: Hist,
    pub(super) offered_to: HashMap<u32, u64>,
    pub(super) s: Summary,
}

impl State {
    pub(super) fn us_since_start(&self, real: u64) -> u32 {
        (real.saturating_sub(self.start_real) / 1000).min(u64::from(u32::MAX)) as u32
    }

    /// One datagram received at `rx_us`, from `src`; a REQUEST to send, if any.
    pub(super) fn on_datagram(
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
    pub(super) fn first_answer(&mut self, i: usize, rx_us: u32) -> bool {
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
