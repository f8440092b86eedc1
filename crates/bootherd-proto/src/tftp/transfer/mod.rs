//! One TFTP read transfer as a sans-IO state machine: options, windows, retransmission.
//!
//! The server side of a read request, from the option negotiation to the
//! last acknowledgement:
//! - options: RFC 2347 (negotiation), RFC 2348 (`blksize`), RFC 2349
//!   (`timeout`, `tsize`), RFC 7440 (`windowsize`);
//! - data: RFC 1350 section 6 (lock-step) generalised to windows by RFC 7440;
//! - retransmission only on timeout, never on a duplicate ACK (RFC 1123
//!   section 4.2.3.1, the Sorcerer's Apprentice bug).
//!
//! # Driving a transfer
//!
//! The shell owns the socket, the file and the clock. After
//! [`Transfer::new`] and after every `handle_*` call it drains
//! [`Transfer::poll_transmit`] until `None`, sending each [`Transmit`]. It
//! then sleeps until [`Transfer::poll_timeout`] or the next datagram from the
//! client's port, whichever comes first, and calls
//! [`Transfer::handle_timeout`] or [`Transfer::handle_datagram`]. When
//! [`Transfer::outcome`] is `Some`, the transfer is over and the socket can
//! be closed.
//!
//! ```
//! # use std::time::{Duration, Instant};
//! # use bootherd_proto::tftp::{Transfer, TransferConfig, Transmit, Outcome};
//! let t0 = Instant::now();
//! let mut transfer = Transfer::new(&[], 100, &TransferConfig::default(), t0);
//! assert_eq!(
//!     transfer.poll_transmit(),
//!     Some(Transmit::Data { block: 1, offset: 0, len: 100 })
//! );
//! assert_eq!(transfer.poll_transmit(), None);
//! assert_eq!(transfer.poll_timeout(), Some(t0 + Duration::from_secs(1)));
//! transfer.handle_datagram(t0 + Duration::from_millis(3), b"\x00\x04\x00\x01");
//! assert_eq!(
//!     transfer.outcome(),
//!     Some(&Outcome::Completed { bytes: 100, retransmits: 0 })
//! );
//! ```

use std::time::{Duration, Instant};

use crate::wire::tftp::{error_packet, oack_packet, ErrorCode, Packet};

/// Block size without a `blksize` option (RFC 1350 section 2).
pub const DEFAULT_BLKSIZE: u16 = 512;
/// Smallest `blksize` a client may ask for (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
/// Largest `blksize` a client may ask for (RFC 2348).
pub const MAX_BLKSIZE: u16 = 65464;
/// The retransmission interval backs off up to this, or up to the base
/// interval if that is longer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Largest client `timeout` accepted unless configured otherwise, in seconds.
pub const DEFAULT_MAX_CLIENT_TIMEOUT: u8 = 10;
/// How long a transfer may make no progress unless configured otherwise.
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(30);

/// Limits the server puts on a transfer.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Largest block size to answer, already clamped by the shell to the
    /// path MTU minus 32 and to its configuration. Never answered above this
    /// nor above what the client asked; values below 8 count as 8.
    pub max_blksize: u16,
    /// Largest window to answer (RFC 7440); values below 1 count as 1.
    pub max_windowsize: u16,
    /// Retransmission base when the client did not negotiate `timeout`.
    pub default_timeout: Duration,
    /// Consecutive timeouts before giving up: the transfer retransmits on
    /// the first `max_retries - 1` of them and ends on the last.
    pub max_retries: u32,
    /// Largest `timeout` option accepted, in seconds (RFC 2349 allows
    /// 1..=255). A larger one is declined: the OACK leaves it out and the
    /// retransmission base stays `default_timeout`.
    pub max_client_timeout: u8,
    /// How long a transfer may go without progress (an ACK that moves it
    /// forward), whatever `timeout` was negotiated. Past it the transfer
    /// sends an ERROR and ends as [`Outcome::Stalled`].
    pub stall_limit: Duration,
}

impl Default for TransferConfig {
    fn default() -> TransferConfig {
        TransferConfig {
            max_blksize: MAX_BLKSIZE,
            max_windowsize: 64,
            default_timeout: Duration::from_secs(1),
            max_retries: 5,
            max_client_timeout: DEFAULT_MAX_CLIENT_TIMEOUT,
            stall_limit: DEFAULT_STALL_LIMIT,
        }
    }
}

/// What the transfer settled on with the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Data bytes per block: 512 unless `blksize` was accepted.
    pub blksize: u16,
    /// Blocks sent before waiting for an ACK: 1 unless `windowsize` was
    /// accepted.
    pub windowsize: u16,
    /// The client's `timeout` in seconds, if accepted.
    pub timeout: Option<u8>,
    /// The file size announced for `tsize`, if the client asked for it.
    pub tsize: Option<u64>,
    /// Whether an OACK is (or was) sent: true when any option was accepted.
    pub oack: bool,
}

/// A datagram for the shell to send to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A complete OACK datagram.
    Oack(Vec<u8>),
    /// A DATA packet: [`data_header(block)`](crate::wire::tftp::data_header)
    /// followed by the file bytes `[offset, offset + len)`.
    Data { block: u16, offset: u64, len: usize },
    /// A complete ERROR datagram; the transfer is over after it. Sent when
    /// a transfer stalls ([`Outcome::Stalled`]).
    Error(Vec<u8>),
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The client acknowledged the last block.
    Completed {
        /// The file size.
        bytes: u64,
        /// DATA and OACK packets sent more than once.
        retransmits: u64,
    },
    /// The client sent an ERROR, for example code 8 in reply to the OACK,
    /// or an abort after probing block 1.
    ClientAborted {
        code: ErrorCode,
        message: String,
        acked_blocks: u64,
    },
    /// The client went silent for `max_retries` consecutive timeouts. Normal
    /// for a Raspberry Pi probing a file: drop the transfer quietly.
    TimedOut { acked_blocks: u64 },
    /// No progress for [`TransferConfig::stall_limit`]: the client kept the
    /// transfer alive without moving it forward (or asked for a long
    /// `timeout` and went silent). An ERROR told it so.
    Stalled { acked_blocks: u64 },
}

/// Where the transfer stands.
#[derive(Debug)]
enum State {
    /// The OACK went out (or is due); waiting for ACK 0 (RFC 2347).
    AwaitingOptionAck {
        oack: Vec<u8>,
        /// The OACK must be handed to the shell at the next poll.
        due: bool,
        /// It was handed out before, so the next one is a retransmission.
        sent: bool,
    },
    /// Sending data windows.
    Sending,
    Finished(Outcome),
}

/// One read transfer, from the RRQ's options to the final ACK.
///
/// Blocks are counted internally from 1 with a `u64`; on the wire the
/// number is that index modulo 65536, so block 65536 goes out as 0 and
/// files of more than 65535 blocks work with clients that roll over.
#[derive(Debug)]
pub struct Transfer {
    negotiated: Negotiated,
    file_size: u64,
    /// Blocks in the file: `file_size / blksize + 1`, the last one short.
    block_count: u64,
    /// Retransmission interval before any back-off.
    base_interval: Duration,
    max_retries: u32,
    state: State,
    /// Blocks acknowledged so far: blocks `1..=acked` are done.
    acked: u64,
    /// Next block of the current window to hand to the shell.
    next_send: u64,
    /// Last block of the current window.
    window_end: u64,
    /// Highest block ever handed out; blocks up to it may be ACKed.
    highest_sent: u64,
    /// Timeouts in a row without progress.
    retries: u32,
    /// When the transfer last moved forward (or started).
    last_progress: Instant,
    stall_limit: Duration,
    /// The ERROR to hand out once, after the transfer stalled.
    farewell: Option<Vec<u8>>,
    /// When the current window or OACK was (re)sent.
    last_send: Instant,
    retransmits: u64,
}

impl Transfer {
    /// Starts a transfer of a `file_size`-byte file for a read request
    /// carrying `options`, at time `now`.
    ///
    /// Options are negotiated here (RFC 2347): names are compared without
    /// case, unknown or out-of-range options are ignored, and a repeated
    /// option counts once, at its first occurrence. If none was accepted
    /// there is no OACK and DATA block 1 goes out at once (RFC 2347: the
    /// server then behaves as RFC 1350); otherwise the OACK goes out first
    /// and data starts after the client's ACK 0.
    ///
    /// For a netascii transfer, `file_size` is the size after
    /// [`to_netascii`](crate::wire::tftp::to_netascii), and the offsets of
    /// [`Transmit::Data`] point into the converted bytes.
    pub fn new(
        options: &[(String, String)],
        file_size: u64,
        config: &TransferConfig,
        now: Instant,
    ) -> Transfer {
        let (negotiated, answer) = negotiate(options, file_size, config);
        let state = if negotiated.oack {
            State::AwaitingOptionAck {
                oack: oack_packet(&answer),
                due: true,
                sent: false,
            }
        } else {
            State::Sending
        };
        let base_interval = negotiated.timeout.map_or(config.default_timeout, |secs| {
            Duration::from_secs(secs.into())
        });
        let block_count = file_size / u64::from(negotiated.blksize) + 1;
        let mut transfer = Transfer {
            negotiated,
            file_size,
            block_count,
            base_interval,
            max_retries: config.max_retries,
            state,
            acked: 0,
            next_send: 1,
            window_end: 0,
            highest_sent: 0,
            retries: 0,
            last_progress: now,
            stall_limit: config.stall_limit,
            farewell: None,
            last_send: now,
            retransmits: 0,
        };
        if !transfer.negotiated.oack {
            transfer.open_window(now);
        }
        transfer
    }

    /// The options in force for this transfer.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// Blocks in the file, the last one short (possibly empty).
    pub fn block_count(&self) -> u64 {
        self.block_count
    }

    /// Feeds a datagram that came from the client's transfer port.
    ///
    /// Only ACK and ERROR mean anything here; anything else, malformed or
    /// not, is ignored. An ACK that does not acknowledge a new block (a
    /// duplicate, a stale reordered one, or one for a block not yet sent)
    /// changes nothing and, above all, triggers no resend (RFC 1123
    /// 4.2.3.1). An ERROR ends the transfer as [`Outcome::ClientAborted`].
    ///
    /// Checking the source address and port (RFC 1350 section 4, answering
    /// strangers with ERROR 5) is the shell's job.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if matches!(self.state, State::Finished(_)) {
            return;
        }
        match Packet::parse(datagram) {
            Ok(Packet::Ack { block }) => self.handle_ack(now, block),
            Ok(Packet::Error { code, message }) => {
                self.state = State::Finished(Outcome::ClientAborted {
                    code,
                    message,
                    acked_blocks: self.acked,
                });
            }
            _ => {}
        }
    }

    /// Tells the transfer that `now` has reached [`Transfer::poll_timeout`].
    ///
    /// Resends the OACK, or the whole outstanding window from the first
    /// unacknowledged block, and doubles the interval (up to
    /// [`MAX_BACKOFF`] or the base interval if longer). The `max_retries`th
    /// timeout in a row ends the transfer as [`Outcome::TimedOut`] without
    /// sending anything. Reaching the stall limit ends it as
    /// [`Outcome::Stalled`] with an ERROR to send. A call before the
    /// deadline is ignored.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => {}
            _ => return,
        }
        if now >= self.stall_deadline() {
            let secs = self.stall_limit.as_secs_f64();
            let message = format!("transfer abandoned: no acknowledgement for {secs:.0} s");
            self.farewell = Some(error_packet(ErrorCode::NotDefined, &message));
            self.state = State::Finished(Outcome::Stalled {
                acked_blocks: self.acked,
            });
            return;
        }
        self.retries += 1;
        if self.retries >= self.max_retries {
            self.state = State::Finished(Outcome::TimedOut {
                acked_blocks: self.acked,
            });
            return;
        }
        self.last_send = now;
        match &mut self.state {
            State::AwaitingOptionAck { due, .. } => *due = true,
            State::Sending => self.next_send = self.acked + 1,
            State::Finished(_) => {}
        }
    }

    /// The next datagram to send, if any. Drain until `None` after
    /// [`Transfer::new`] and after every `handle_*` call.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        match &mut self.state {
            State::Finished(_) => self.farewell.take().map(Transmit::Error),
            State::AwaitingOptionAck { oack, due, sent } => {
                if !*due {
                    return None;
                }
                *due = false;
                if *sent {
                    self.retransmits += 1;
                }
                *sent = true;
                Some(Transmit::Oack(oack.clone()))
            }
            State::Sending => {
                if self.next_send > self.window_end {
                    return None;
                }
                let index = self.next_send;
                self.next_send += 1;
                if index <= self.highest_sent {
                    self.retransmits += 1;
                } else {
                    self.highest_sent = index;
                }
                Some(self.data(index))
            }
        }
    }

    /// When [`Transfer::handle_timeout`] should be called: the last send
    /// plus the current retransmission interval, or the stall limit if that
    /// comes first. `None` once finished.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Finished(_) => None,
            _ => Some(
                self.last_send
                    .checked_add(self.interval())
                    .map_or(self.stall_deadline(), |t| t.min(self.stall_deadline())),
            ),
        }
    }

    /// When the transfer stalls if nothing moves it forward before.
    fn stall_deadline(&self) -> Instant {
        self.last_progress
            .checked_add(self.stall_limit)
            .unwrap_or(self.last_progress)
    }

    /// How the transfer ended; `None` while it runs.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Finished(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Data blocks the client has acknowledged so far.
    pub fn acked_blocks(&self) -> u64 {
        self.acked
    }

    /// The retransmission interval after `retries` timeouts in a row:
    /// base × 2^retries, capped at the larger of the base and
    /// [`MAX_BACKOFF`].
    fn interval(&self) -> Duration {
        let cap = self.base_interval.max(MAX_BACKOFF);
        self.base_interval
            .saturating_mul(1 << self.retries.min(16))
            .min(cap)
    }

    fn handle_ack(&mut self, now: Instant, block: u16) {
        match self.state {
            State::AwaitingOptionAck { .. } => {
                // RFC 2347: the client accepts the OACK with ACK 0.
                if block == 0 {
                    self.state = State::Sending;
                    self.open_window(now);
                }
            }
            State::Sending => {
                // Map the 16-bit number onto the blocks sent but not yet
                // acknowledged. At most 65535 of those are outstanding,
                // so at most one block index matches.
                let ahead = u64::from(block.wrapping_sub(self.acked as u16));
                if ahead == 0 || self.acked + ahead > self.highest_sent {
                    return;
                }
                self.acked += ahead;
                if self.acked == self.block_count {
                    self.state = State::Finished(Outcome::Completed {
                        bytes: self.file_size,
                        retransmits: self.retransmits,
                    });
                } else {
                    // RFC 7440: the next window starts after the block
                    // acknowledged, even if later ones were sent already.
                    self.open_window(now);
                }
            }
            State::Finished(_) => {}
        }
    }

    /// Schedules the window after the last acknowledged block and resets
    /// the back-off: called on progress.
    fn open_window(&mut self, now: Instant) {
        self.next_send = self.acked + 1;
        self.window_end = self
            .acked
            .saturating_add(self.negotiated.windowsize.into())
            .min(self.block_count);
        self.retries = 0;
        self.last_send = now;
        self.last_progress = now;
    }

    /// The DATA transmit of block `index` (counted from 1).
    fn data(&self, index: u64) -> Transmit {
        let blksize = u64::from(self.negotiated.blksize);
        let offset = (index - 1) * blksize;
        let len = blksize.min(self.file_size - offset);
        Transmit::Data {
            // The wire number is the index modulo 65536.
            block: index as u16,
            offset,
            // len <= blksize <= u16::MAX, so it fits.
            len: len as usize,
        }
    }
}

/// Applies RFC 2347/2348/2349/7440 to the client's options. Returns what
/// was settled and the OACK's options: the accepted ones, in the client's
/// order, with lowercase names and normalised values.
fn negotiate(
    options: &[(String, String)],
    file_size: u64,
    config: &TransferConfig,
) -> (Negotiated, Vec<(String, String)>) {
    let mut negotiated = Negotiated {
        blksize: DEFAULT_BLKSIZE,
        windowsize: 1,
        timeout: None,
        tsize: None,
        oack: false,
    };
    let mut answer: Vec<(String, String)> = Vec::new();
    for (name, value) in options {
        let name = name.to_ascii_lowercase();
        if answer.iter().any(|(accepted, _)| *accepted == name) {
            continue;
        }
        let accepted = match name.as_str() {
            // RFC 2348: 8..=65464; the server may answer less, never more.
            "blksize" => parse_decimal(value)
                .filter(|&asked| asked >= u64::from(MIN_BLKSIZE))
                .map(|asked| {
                    let most = config.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE);
                    let size = asked.min(u64::from(most)) as u16;
                    negotiated.blksize = size;
                    size.to_string()
                }),
            // RFC 2349: 1..=255 seconds, echoed unchanged; past our limit
            // declined (left out of the OACK), which the RFC allows.
            "timeout" => parse_decimal(value)
                .and_then(|asked| u8::try_from(asked).ok())
                .filter(|&secs| secs >= 1 && secs <= config.max_client_timeout)
                .map(|secs| {
                    negotiated.timeout = Some(secs);
                    secs.to_string()
                }),
            // RFC 2349: the client sends 0 in an RRQ; answer the size.
            "tsize" => {
                negotiated.tsize = Some(file_size);
                Some(file_size.to_string())
            }
            // RFC 7440: 1..=65535 blocks; the server may answer less.
            "windowsize" => parse_decimal(value)
                .and_then(|asked| u16::try_from(asked).ok())
                .filter(|&blocks| blocks >= 1)
                .map(|asked| {
                    let blocks = asked.min(config.max_windowsize.max(1));
                    negotiated.windowsize = blocks;
                    blocks.to_string()
                }),
            _ => None,
        };
        if let Some(value) = accepted {
            answer.push((name, value));
        }
    }
    negotiated.oack = !answer.is_empty();
    (negotiated, answer)
}

/// Reads a non-empty string of ASCII digits, saturating at `u64::MAX` so
/// that an absurdly large number still counts as large.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |number, digit| {
        number
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

#[cfg(test)]
mod tests;
