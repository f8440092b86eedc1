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
mod tests {
    use super::*;
    use crate::wire::tftp::{error_packet, Packet};

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn millis(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn config(max_blksize: u16, max_windowsize: u16) -> TransferConfig {
        TransferConfig {
            max_blksize,
            max_windowsize,
            ..TransferConfig::default()
        }
    }

    fn ack(block: u16) -> Vec<u8> {
        let mut out = Vec::new();
        Packet::Ack { block }.emit(&mut out);
        out
    }

    fn drain(transfer: &mut Transfer) -> Vec<Transmit> {
        std::iter::from_fn(|| transfer.poll_transmit()).collect()
    }

    /// The wire block numbers of a batch of DATA transmits.
    fn blocks(transmits: &[Transmit]) -> Vec<u16> {
        transmits
            .iter()
            .map(|transmit| match transmit {
                Transmit::Data { block, .. } => *block,
                other => panic!("expected DATA, got {other:?}"),
            })
            .collect()
    }

    /// The options of the single OACK in `transmits`.
    fn oack_options(transmits: &[Transmit]) -> Vec<(String, String)> {
        match transmits {
            [Transmit::Oack(bytes)] => match Packet::parse(bytes) {
                Ok(Packet::Oack { options }) => options,
                other => panic!("not an OACK: {other:?}"),
            },
            other => panic!("expected one OACK, got {other:?}"),
        }
    }

    fn data(block: u16, offset: u64, len: usize) -> Transmit {
        Transmit::Data { block, offset, len }
    }

    #[test]
    fn optionless_rrq_gets_data_1_directly() {
        // The Raspberry Pi 3 ROM asks for bootcode.bin without options.
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 1300, &TransferConfig::default(), t0);
        assert!(!transfer.negotiated().oack);
        assert_eq!(transfer.negotiated().blksize, 512);
        assert_eq!(transfer.negotiated().windowsize, 1);
        assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));

        transfer.handle_datagram(t0 + millis(1), &ack(1));
        assert_eq!(drain(&mut transfer), [data(2, 512, 512)]);
        assert_eq!(transfer.poll_timeout(), Some(t0 + millis(1) + secs(1)));
        transfer.handle_datagram(t0 + millis(2), &ack(2));
        assert_eq!(drain(&mut transfer), [data(3, 1024, 276)]);
        transfer.handle_datagram(t0 + millis(3), &ack(3));
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::Completed {
                bytes: 1300,
                retransmits: 0
            })
        );
        assert_eq!(transfer.poll_timeout(), None);
        assert_eq!(transfer.acked_blocks(), 3);
    }

    #[test]
    fn oack_lists_accepted_options_in_client_order() {
        let t0 = Instant::now();
        let asked = options(&[
            ("WindowSize", "8"),
            ("foo", "bar"),
            ("TSIZE", "0"),
            ("multicast", ""),
            ("Timeout", "3"),
            ("blksize", "1468"),
            ("BLKSIZE", "512"),
        ]);
        let mut transfer = Transfer::new(&asked, 5000, &config(1024, 4), t0);
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[
                ("windowsize", "4"),
                ("tsize", "5000"),
                ("timeout", "3"),
                ("blksize", "1024"),
            ])
        );
        assert_eq!(
            transfer.negotiated(),
            Negotiated {
                blksize: 1024,
                windowsize: 4,
                timeout: Some(3),
                tsize: Some(5000),
                oack: true,
            }
        );
        // Nothing else until ACK 0; then the first window.
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(3)));
        transfer.handle_datagram(t0 + millis(5), &ack(0));
        assert_eq!(
            drain(&mut transfer),
            [
                data(1, 0, 1024),
                data(2, 1024, 1024),
                data(3, 2048, 1024),
                data(4, 3072, 1024),
            ]
        );
    }

    #[test]
    fn oack_bytes_for_uboot_request() {
        // U-Boot: timeout 5, blksize 1468, tsize 0 (PROTOCOLS.md section 3).
        let t0 = Instant::now();
        let asked = options(&[("timeout", "5"), ("blksize", "1468"), ("tsize", "0")]);
        let mut transfer = Transfer::new(&asked, 123_456, &config(1468, 64), t0);
        assert_eq!(
            drain(&mut transfer),
            [Transmit::Oack(
                b"\x00\x06timeout\x005\x00blksize\x001468\x00tsize\x00123456\x00".to_vec()
            )]
        );
    }

    fn negotiated_blksize(asked: &str, max_blksize: u16) -> (u16, bool) {
        let asked = options(&[("blksize", asked)]);
        let transfer = Transfer::new(&asked, 0, &config(max_blksize, 64), Instant::now());
        (transfer.negotiated().blksize, transfer.negotiated().oack)
    }

    #[test]
    fn blksize_is_clamped_to_config() {
        assert_eq!(negotiated_blksize("1468", 1024), (1024, true));
    }

    #[test]
    fn blksize_below_config_is_kept() {
        assert_eq!(negotiated_blksize("512", 1468), (512, true));
        assert_eq!(negotiated_blksize("8", 1468), (8, true));
    }

    #[test]
    fn blksize_too_small_or_unparsable_is_ignored() {
        assert_eq!(negotiated_blksize("4", 1468), (512, false));
        assert_eq!(negotiated_blksize("7", 1468), (512, false));
        assert_eq!(negotiated_blksize("", 1468), (512, false));
        assert_eq!(negotiated_blksize("-1", 1468), (512, false));
        assert_eq!(negotiated_blksize("1k", 1468), (512, false));
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&options(&[("blksize", "4")]), 600, &config(1468, 64), t0);
        assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
    }

    #[test]
    fn blksize_above_rfc_limit_counts_as_65464() {
        assert_eq!(negotiated_blksize("65465", 65464), (65464, true));
        assert_eq!(negotiated_blksize("65535", 65535), (65464, true));
        assert_eq!(
            negotiated_blksize("99999999999999999999999", 65464),
            (65464, true)
        );
        assert_eq!(negotiated_blksize("70000", 1468), (1468, true));
    }

    #[test]
    fn timeout_is_echoed_exactly() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&options(&[("timeout", "5")]), 10, &config(1468, 64), t0);
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[("timeout", "5")])
        );
        assert_eq!(transfer.negotiated().timeout, Some(5));
        // The negotiated timeout is the retransmission base.
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(5)));

        // Up to the configured limit, which may be RFC 2349's 255.
        let patient = TransferConfig {
            max_client_timeout: 255,
            ..config(1468, 64)
        };
        let mut transfer = Transfer::new(&options(&[("timeout", "255")]), 10, &patient, t0);
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[("timeout", "255")])
        );
        // Leading zeros are normalised to the integer.
        let mut transfer = Transfer::new(&options(&[("timeout", "05")]), 10, &config(1468, 64), t0);
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[("timeout", "5")])
        );
    }

    #[test]
    fn timeout_out_of_range_is_ignored() {
        let t0 = Instant::now();
        for asked in ["0", "256", "1000", "x", ""] {
            let mut transfer =
                Transfer::new(&options(&[("timeout", asked)]), 10, &config(1468, 64), t0);
            assert_eq!(transfer.negotiated().timeout, None, "{asked}");
            assert_eq!(drain(&mut transfer), [data(1, 0, 10)], "{asked}");
            assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)), "{asked}");
        }
    }

    #[test]
    fn tsize_only_rrq_gets_oack_with_size() {
        // bootcode.bin's own RRQs carry only `tsize 0` (fw#1041, fw#745).
        let t0 = Instant::now();
        let asked = options(&[("tsize", "0")]);
        let mut transfer = Transfer::new(&asked, 52_456, &TransferConfig::default(), t0);
        assert_eq!(
            drain(&mut transfer),
            [Transmit::Oack(b"\x00\x06tsize\x0052456\x00".to_vec())]
        );
        assert_eq!(transfer.negotiated().tsize, Some(52_456));
        assert_eq!(transfer.negotiated().blksize, 512);
        transfer.handle_datagram(t0 + millis(1), &ack(0));
        assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
    }

    #[test]
    fn tsize_answers_file_size_whatever_was_sent() {
        let t0 = Instant::now();
        let mut transfer =
            Transfer::new(&options(&[("tsize", "garbage")]), 7, &config(1468, 64), t0);
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[("tsize", "7")])
        );
    }

    #[test]
    fn windowsize_is_clamped_and_range_checked() {
        let t0 = Instant::now();
        let window = |asked: &str, max: u16| {
            Transfer::new(
                &options(&[("windowsize", asked)]),
                0,
                &config(1468, max),
                t0,
            )
            .negotiated()
        };
        assert_eq!(window("16", 64).windowsize, 16);
        assert_eq!(window("200", 64).windowsize, 64);
        assert_eq!(window("1", 64).windowsize, 1);
        assert!(window("1", 64).oack);
        assert!(!window("0", 64).oack);
        assert!(!window("65536", 64).oack);
        assert_eq!(window("65536", 64).windowsize, 1);
    }

    #[test]
    fn empty_file_is_one_empty_block() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 0, &TransferConfig::default(), t0);
        assert_eq!(transfer.block_count(), 1);
        assert_eq!(drain(&mut transfer), [data(1, 0, 0)]);
        transfer.handle_datagram(t0 + millis(1), &ack(1));
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::Completed {
                bytes: 0,
                retransmits: 0
            })
        );
    }

    #[test]
    fn exact_multiple_size_ends_with_empty_block() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 1024, &TransferConfig::default(), t0);
        assert_eq!(transfer.block_count(), 3);
        assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
        transfer.handle_datagram(t0 + millis(1), &ack(1));
        assert_eq!(drain(&mut transfer), [data(2, 512, 512)]);
        transfer.handle_datagram(t0 + millis(2), &ack(2));
        assert_eq!(drain(&mut transfer), [data(3, 1024, 0)]);
        assert_eq!(transfer.outcome(), None);
        transfer.handle_datagram(t0 + millis(3), &ack(3));
        assert!(matches!(
            transfer.outcome(),
            Some(Outcome::Completed { bytes: 1024, .. })
        ));
    }

    #[test]
    fn block_numbers_roll_over_past_65535() {
        // 70000 blocks of 8 bytes, the last one 3 bytes long.
        let t0 = Instant::now();
        let size = 69_999 * 8 + 3;
        let mut transfer =
            Transfer::new(&options(&[("blksize", "8")]), size, &config(1468, 64), t0);
        assert_eq!(transfer.block_count(), 70_000);
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[("blksize", "8")])
        );
        transfer.handle_datagram(t0, &ack(0));

        let mut wire_numbers = Vec::new();
        for index in 1..=70_000u64 {
            let now = t0 + millis(index);
            let sent = drain(&mut transfer);
            let expected_len = if index == 70_000 { 3 } else { 8 };
            assert_eq!(sent, [data(index as u16, (index - 1) * 8, expected_len)]);
            let block = blocks(&sent)[0];
            if (65_534..=65_538).contains(&index) {
                wire_numbers.push(block);
            }
            transfer.handle_datagram(now, &ack(block));
        }
        assert_eq!(wire_numbers, [65_534, 65_535, 0, 1, 2]);
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::Completed {
                bytes: size,
                retransmits: 0
            })
        );
        assert_eq!(transfer.acked_blocks(), 70_000);
    }

    #[test]
    fn windows_roll_over_past_65535() {
        // A window straddling the wrap is acknowledged by its wire number.
        let t0 = Instant::now();
        let asked = options(&[("blksize", "8"), ("windowsize", "64")]);
        let mut transfer = Transfer::new(&asked, 70_000 * 8, &config(1468, 64), t0);
        drain(&mut transfer);
        transfer.handle_datagram(t0, &ack(0));
        let mut last = 0u16;
        while transfer.outcome().is_none() {
            let sent = blocks(&drain(&mut transfer));
            assert_eq!(sent.first(), Some(&last.wrapping_add(1)));
            last = *sent.last().unwrap();
            transfer.handle_datagram(t0 + secs(1), &ack(last));
        }
        // An exact multiple of blksize: 70001 blocks, the last one empty.
        assert_eq!(last, (70_001u64 % 65_536) as u16);
        assert!(matches!(
            transfer.outcome(),
            Some(Outcome::Completed { .. })
        ));
    }

    #[test]
    fn window_resends_from_the_gap() {
        // windowsize 4; block 3 is lost, the client ACKs 2 (RFC 7440).
        let t0 = Instant::now();
        let asked = options(&[("windowsize", "4")]);
        let mut transfer = Transfer::new(&asked, 512 * 10, &TransferConfig::default(), t0);
        drain(&mut transfer);
        transfer.handle_datagram(t0, &ack(0));
        assert_eq!(blocks(&drain(&mut transfer)), [1, 2, 3, 4]);

        transfer.handle_datagram(t0 + millis(10), &ack(2));
        assert_eq!(transfer.acked_blocks(), 2);
        assert_eq!(blocks(&drain(&mut transfer)), [3, 4, 5, 6]);
        assert_eq!(transfer.poll_timeout(), Some(t0 + millis(10) + secs(1)));

        transfer.handle_datagram(t0 + millis(20), &ack(6));
        assert_eq!(blocks(&drain(&mut transfer)), [7, 8, 9, 10]);
        transfer.handle_datagram(t0 + millis(30), &ack(10));
        assert_eq!(blocks(&drain(&mut transfer)), [11]);
        transfer.handle_datagram(t0 + millis(40), &ack(11));
        // Blocks 3 and 4 went out twice.
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::Completed {
                bytes: 5120,
                retransmits: 2
            })
        );
    }

    #[test]
    fn window_is_cut_at_the_last_block() {
        let t0 = Instant::now();
        let asked = options(&[("windowsize", "8")]);
        let mut transfer = Transfer::new(&asked, 1000, &TransferConfig::default(), t0);
        drain(&mut transfer);
        transfer.handle_datagram(t0, &ack(0));
        assert_eq!(drain(&mut transfer), [data(1, 0, 512), data(2, 512, 488)]);
    }

    #[test]
    fn duplicate_ack_causes_no_transmit() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
        drain(&mut transfer);
        transfer.handle_datagram(t0 + millis(1), &ack(1));
        assert_eq!(blocks(&drain(&mut transfer)), [2]);
        let deadline = transfer.poll_timeout();

        transfer.handle_datagram(t0 + millis(2), &ack(1));
        assert!(drain(&mut transfer).is_empty());
        // The timer is not restarted either.
        assert_eq!(transfer.poll_timeout(), deadline);
        assert_eq!(transfer.acked_blocks(), 1);

        transfer.handle_datagram(t0 + millis(3), &ack(2));
        assert_eq!(blocks(&drain(&mut transfer)), [3]);
    }

    #[test]
    fn duplicate_ack_0_after_oack_is_ignored() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(
            &options(&[("tsize", "0")]),
            5000,
            &TransferConfig::default(),
            t0,
        );
        drain(&mut transfer);
        transfer.handle_datagram(t0, &ack(0));
        assert_eq!(blocks(&drain(&mut transfer)), [1]);
        transfer.handle_datagram(t0 + millis(1), &ack(0));
        assert!(drain(&mut transfer).is_empty());
    }

    #[test]
    fn reordered_old_ack_is_ignored() {
        let t0 = Instant::now();
        let asked = options(&[("windowsize", "4")]);
        let mut transfer = Transfer::new(&asked, 512 * 20, &TransferConfig::default(), t0);
        drain(&mut transfer);
        transfer.handle_datagram(t0, &ack(0));
        assert_eq!(blocks(&drain(&mut transfer)), [1, 2, 3, 4]);
        transfer.handle_datagram(t0 + millis(1), &ack(4));
        assert_eq!(blocks(&drain(&mut transfer)), [5, 6, 7, 8]);

        // An ACK 2 that was overtaken by ACK 4 arrives late.
        transfer.handle_datagram(t0 + millis(2), &ack(2));
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(transfer.acked_blocks(), 4);
    }

    #[test]
    fn ack_for_unsent_block_is_ignored() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
        drain(&mut transfer);
        for block in [2, 3, 9, 65_535] {
            transfer.handle_datagram(t0 + millis(1), &ack(block));
            assert!(drain(&mut transfer).is_empty());
        }
        assert_eq!(transfer.acked_blocks(), 0);
    }

    #[test]
    fn other_datagrams_are_ignored() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
        drain(&mut transfer);
        for datagram in [
            &b""[..],
            b"\x00",
            b"\x00\x03\x00\x01data",
            b"\x00\x01file\x00octet\x00",
            b"\x00\x02file\x00octet\x00",
            b"\x00\x06tsize\x000\x00",
            b"\x00\x09",
        ] {
            transfer.handle_datagram(t0 + millis(1), datagram);
            assert!(drain(&mut transfer).is_empty());
            assert_eq!(transfer.outcome(), None);
        }
    }

    #[test]
    fn timeout_resends_window_backs_off_and_gives_up() {
        let t0 = Instant::now();
        let asked = options(&[("windowsize", "3")]);
        let mut transfer = Transfer::new(&asked, 512 * 10, &TransferConfig::default(), t0);
        drain(&mut transfer);
        transfer.handle_datagram(t0, &ack(0));
        assert_eq!(blocks(&drain(&mut transfer)), [1, 2, 3]);
        transfer.handle_datagram(t0, &ack(1));
        assert_eq!(blocks(&drain(&mut transfer)), [2, 3, 4]);

        // Silence: resend after 1 s, then 2, 4, 8, and give up on the
        // fifth timeout (max_retries 5), 10 s after the fourth resend.
        let mut now = t0;
        for interval in [1, 2, 4, 8] {
            now += secs(interval);
            assert_eq!(transfer.poll_timeout(), Some(now));
            transfer.handle_timeout(now);
            assert_eq!(blocks(&drain(&mut transfer)), [2, 3, 4]);
        }
        now += secs(10);
        assert_eq!(transfer.poll_timeout(), Some(now));
        transfer.handle_timeout(now);
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::TimedOut { acked_blocks: 1 })
        );
        assert_eq!(transfer.poll_timeout(), None);

        // Late packets change nothing.
        transfer.handle_datagram(now + secs(1), &ack(4));
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::TimedOut { acked_blocks: 1 })
        );
    }

    #[test]
    fn backoff_is_capped_at_the_negotiated_timeout_if_longer() {
        let t0 = Instant::now();
        let asked = options(&[("timeout", "30")]);
        let config = TransferConfig {
            max_retries: 10,
            max_client_timeout: 30,
            stall_limit: secs(300),
            ..TransferConfig::default()
        };
        let mut transfer = Transfer::new(&asked, 100, &config, t0);
        drain(&mut transfer);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(30)));
        transfer.handle_timeout(t0 + secs(30));
        assert_eq!(drain(&mut transfer).len(), 1);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(60)));
    }

    #[test]
    fn a_timeout_past_the_limit_is_declined() {
        let t0 = Instant::now();
        let limited = TransferConfig {
            max_client_timeout: 10,
            ..config(1468, 64)
        };
        let asked = options(&[("timeout", "255"), ("tsize", "0")]);
        let mut transfer = Transfer::new(&asked, 10, &limited, t0);
        // Declined: left out of the OACK, and the base stays the default.
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[("tsize", "10")])
        );
        assert_eq!(transfer.negotiated().timeout, None);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));
        // At the limit it is accepted.
        let mut transfer = Transfer::new(&options(&[("timeout", "10")]), 10, &limited, t0);
        assert_eq!(
            oack_options(&drain(&mut transfer)),
            options(&[("timeout", "10")])
        );
    }

    #[test]
    fn a_transfer_without_progress_stalls_with_an_error() {
        let t0 = Instant::now();
        let config = TransferConfig {
            max_retries: 100,
            max_client_timeout: 10,
            stall_limit: secs(25),
            ..TransferConfig::default()
        };
        let mut transfer = Transfer::new(&options(&[("timeout", "10")]), 5000, &config, t0);
        drain(&mut transfer);
        // ACK 0, then block 1 is acknowledged at 3 s: progress.
        transfer.handle_datagram(t0 + secs(1), &ack(0));
        drain(&mut transfer);
        transfer.handle_datagram(t0 + secs(3), &ack(1));
        assert_eq!(blocks(&drain(&mut transfer)), [2]);
        // Duplicate ACKs keep arriving but move nothing: no progress.
        let mut now = t0 + secs(3);
        while transfer.outcome().is_none() {
            let deadline = transfer.poll_timeout().expect("running");
            assert!(deadline <= t0 + secs(28), "ran past the stall limit");
            transfer.handle_datagram(now, &ack(1));
            now = deadline;
            transfer.handle_timeout(now);
            for transmit in drain(&mut transfer) {
                if let Transmit::Error(bytes) = transmit {
                    match Packet::parse(&bytes) {
                        Ok(Packet::Error { code, message }) => {
                            assert_eq!(code, ErrorCode::NotDefined);
                            assert!(message.contains("no acknowledgement for 25 s"), "{message}");
                        }
                        other => panic!("not an ERROR: {other:?}"),
                    }
                    assert_eq!(now, t0 + secs(28));
                }
            }
        }
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::Stalled { acked_blocks: 1 })
        );
        assert_eq!(transfer.poll_timeout(), None);
        assert_eq!(transfer.poll_transmit(), None, "the ERROR goes out once");
    }

    #[test]
    fn an_unacknowledged_oack_stalls_too() {
        let t0 = Instant::now();
        let config = TransferConfig {
            max_retries: 1000,
            stall_limit: secs(30),
            ..TransferConfig::default()
        };
        let mut transfer = Transfer::new(&options(&[("tsize", "0")]), 5000, &config, t0);
        let mut sent_error = false;
        for _ in 0..100 {
            let Some(deadline) = transfer.poll_timeout() else {
                break;
            };
            transfer.handle_timeout(deadline);
            sent_error |= drain(&mut transfer)
                .iter()
                .any(|t| matches!(t, Transmit::Error(_)));
        }
        assert!(sent_error);
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::Stalled { acked_blocks: 0 })
        );
    }

    #[test]
    fn progress_resets_backoff() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
        drain(&mut transfer);
        transfer.handle_timeout(t0 + secs(1));
        assert_eq!(blocks(&drain(&mut transfer)), [1]);
        transfer.handle_timeout(t0 + secs(3));
        assert_eq!(blocks(&drain(&mut transfer)), [1]);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(7)));

        transfer.handle_datagram(t0 + secs(4), &ack(1));
        assert_eq!(blocks(&drain(&mut transfer)), [2]);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(5)));
        // Four more timeouts in a row are allowed again.
        let mut now = t0 + secs(4);
        for interval in [1, 2, 4, 8] {
            now += secs(interval);
            transfer.handle_timeout(now);
            assert_eq!(blocks(&drain(&mut transfer)), [2]);
        }
        assert_eq!(transfer.outcome(), None);
        transfer.handle_datagram(now, &ack(2));
        assert_eq!(blocks(&drain(&mut transfer)), [3]);
    }

    #[test]
    fn early_timeout_call_is_ignored() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
        drain(&mut transfer);
        transfer.handle_timeout(t0 + millis(999));
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));
    }

    #[test]
    fn client_error_after_block_1_aborts() {
        // The Pi probes a file by reading block 1 and aborting.
        let t0 = Instant::now();
        let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
        assert_eq!(blocks(&drain(&mut transfer)), [1]);
        transfer.handle_datagram(t0 + millis(1), &ack(1));
        assert_eq!(blocks(&drain(&mut transfer)), [2]);
        let abort = error_packet(ErrorCode::NotDefined, "probe done");
        transfer.handle_datagram(t0 + millis(2), &abort);
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::ClientAborted {
                code: ErrorCode::NotDefined,
                message: "probe done".to_owned(),
                acked_blocks: 1,
            })
        );
        assert_eq!(transfer.poll_timeout(), None);
        transfer.handle_timeout(t0 + secs(60));
        assert!(drain(&mut transfer).is_empty());
    }

    #[test]
    fn client_error_in_reply_to_oack_aborts() {
        // U-Boot refuses an OACK it does not like with ERROR 8.
        let t0 = Instant::now();
        let asked = options(&[("timeout", "5"), ("blksize", "1468")]);
        let mut transfer = Transfer::new(&asked, 5000, &config(1024, 64), t0);
        drain(&mut transfer);
        let refusal = error_packet(ErrorCode::OptionRejected, "");
        transfer.handle_datagram(t0 + millis(1), &refusal);
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::ClientAborted {
                code: ErrorCode::OptionRejected,
                message: String::new(),
                acked_blocks: 0,
            })
        );
    }

    #[test]
    fn lost_oack_is_resent_on_timeout() {
        let t0 = Instant::now();
        let asked = options(&[("tsize", "0")]);
        let mut transfer = Transfer::new(&asked, 700, &TransferConfig::default(), t0);
        let first = drain(&mut transfer);
        assert_eq!(oack_options(&first), options(&[("tsize", "700")]));
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));

        transfer.handle_timeout(t0 + secs(1));
        assert_eq!(drain(&mut transfer), first);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(3)));

        // An ACK other than 0 does not accept the OACK.
        transfer.handle_datagram(t0 + secs(2), &ack(1));
        assert!(drain(&mut transfer).is_empty());

        transfer.handle_datagram(t0 + secs(2), &ack(0));
        assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(3)));
        transfer.handle_datagram(t0 + secs(2), &ack(1));
        assert_eq!(drain(&mut transfer), [data(2, 512, 188)]);
        transfer.handle_datagram(t0 + secs(2), &ack(2));
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::Completed {
                bytes: 700,
                retransmits: 1
            })
        );
    }

    #[test]
    fn silent_client_after_oack_times_out() {
        let t0 = Instant::now();
        let mut transfer = Transfer::new(
            &options(&[("tsize", "0")]),
            700,
            &TransferConfig::default(),
            t0,
        );
        drain(&mut transfer);
        while let Some(deadline) = transfer.poll_timeout() {
            transfer.handle_timeout(deadline);
            drain(&mut transfer);
        }
        assert_eq!(
            transfer.outcome(),
            Some(&Outcome::TimedOut { acked_blocks: 0 })
        );
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("1468"), Some(1468));
        assert_eq!(parse_decimal("007"), Some(7));
        assert_eq!(parse_decimal("99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal(" 5"), None);
        assert_eq!(parse_decimal("+5"), None);
    }
}
