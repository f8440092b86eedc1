//! The TFTP read-transfer state machine under arbitrary options, file size,
//! limits, and a sequence of datagrams, timeouts and time jumps. Every
//! transmit is checked as it is drained:
//! - a DATA block never reaches past the end of the file
//!   (`offset + len <= size`, block index <= block count), and only the
//!   last block is short;
//! - never more than `windowsize` blocks past the last ACK, and never a
//!   block already acknowledged;
//! - no resend on an ACK that acknowledges nothing new (RFC 1123 4.2.3.1);
//! - negotiated values stay within the client's ask and the server's limits.
//!
//! At the end, with no more ACKs, the transfer ends after at most
//! `max_retries` timeouts at `poll_timeout`.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bootherd_proto::tftp::transfer::{DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE};
use bootherd_proto::tftp::{Outcome, Transfer, TransferConfig, Transmit};
use bootherd_proto::wire::tftp::{error_packet, ErrorCode, Packet};
use libfuzzer_sys::fuzz_target;

/// Transmits one input may drain before it stops; keeps an input with a
/// huge window from taking seconds.
const MAX_TRANSMITS: u64 = 200_000;

#[derive(Arbitrary, Debug)]
enum Name {
    Blksize,
    Timeout,
    Tsize,
    Windowsize,
    /// A known name in another case.
    Shouted(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Number(u64),
    Small(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Size {
    Bytes(u16),
    /// An exact number of blocks of 512 (the last block empty).
    Blocks512(u8),
    Large(u64),
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// ACK of a block, by wire number.
    Ack(u16),
    /// ACK 0, which accepts an OACK.
    AckOack,
    /// ACK of the last block sent, as a client that got everything.
    AckLast,
    /// ACK of a block of the current window (`n` modulo the window), as a
    /// client that lost the rest.
    AckInWindow(u8),
    /// ACK of the `n`th block after the last acknowledged one.
    AckAhead(u8),
    /// A client that gets everything, for `n` rounds: ACK 0 to an OACK,
    /// then the last block of each window.
    GoodClient(u8),
    Error(u16, String),
    Raw(Vec<u8>),
    /// `handle_timeout` at `poll_timeout`.
    Timeout,
    /// `handle_timeout` at an arbitrary time: early calls are ignored.
    TimeoutAt(u32),
    /// Time passes (milliseconds) before the next step.
    Wait(u32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    blksize: Option<Value>,
    windowsize: Option<Value>,
    timeout: Option<Value>,
    tsize: Option<Value>,
    /// More options after those four: other cases, repeats, unknown names.
    options: Vec<(Name, Value)>,
    size: Size,
    max_blksize: u16,
    max_windowsize: u16,
    default_timeout_ms: u16,
    max_retries: u8,
    max_client_timeout: u8,
    stall_limit_ms: u32,
    steps: Vec<Step>,
}

fn name(n: &Name) -> String {
    const KNOWN: [&str; 4] = ["blksize", "timeout", "tsize", "windowsize"];
    match n {
        Name::Blksize => KNOWN[0].into(),
        Name::Timeout => KNOWN[1].into(),
        Name::Tsize => KNOWN[2].into(),
        Name::Windowsize => KNOWN[3].into(),
        Name::Shouted(i) => KNOWN[usize::from(*i) % 4].to_ascii_uppercase(),
        Name::Other(s) => s.clone(),
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::Small(n) => n.to_string(),
        Value::Text(s) => s.clone(),
    }
}

fn ack(block: u16) -> Vec<u8> {
    let mut out = Vec::new();
    Packet::Ack { block }.emit(&mut out);
    out
}

struct Check {
    transfer: Transfer,
    size: u64,
    /// Any DATA handed out yet.
    data_started: bool,
    /// An ACK 0 was fed, which accepts an OACK (RFC 2347).
    ack0_seen: bool,
    /// Wire number of the last DATA handed out.
    last_block: u16,
    transmits: u64,
}

impl Check {
    /// Drains every transmit, checking each; returns how many there were.
    fn drain(&mut self) -> u64 {
        let n = self.transfer.negotiated();
        let mut count = 0;
        while let Some(transmit) = self.transfer.poll_transmit() {
            count += 1;
            self.transmits += 1;
            match transmit {
                Transmit::Oack(bytes) => {
                    assert!(n.oack, "an OACK for a transfer without options");
                    assert!(!self.data_started, "an OACK after DATA");
                    assert!(matches!(Packet::parse(&bytes), Ok(Packet::Oack { .. })));
                }
                Transmit::Data { block, offset, len } => {
                    assert!(!n.oack || self.ack0_seen, "DATA before the OACK's ACK 0");
                    self.data_started = true;
                    self.last_block = block;
                    let blksize = u64::from(n.blksize);
                    let len = len as u64;
                    assert_eq!(offset % blksize, 0, "offset {offset} not on a block");
                    let index = offset / blksize + 1;
                    assert_eq!(block, index as u16, "wire number of block {index}");
                    assert!(
                        index <= self.transfer.block_count(),
                        "block {index} of {}",
                        self.transfer.block_count()
                    );
                    let end = offset.checked_add(len).expect("offset + len overflows");
                    assert!(
                        end <= self.size,
                        "DATA to {end} of a {}-byte file",
                        self.size
                    );
                    assert!(len <= blksize);
                    if index < self.transfer.block_count() {
                        assert_eq!(len, blksize, "short block {index} before the last");
                    } else {
                        assert_eq!(end, self.size, "the last block ends the file");
                    }
                    let acked = self.transfer.acked_blocks();
                    assert!(index > acked, "block {index} resent after ACK {acked}");
                    assert!(
                        index <= acked + u64::from(n.windowsize),
                        "block {index} beyond ACK {acked} + window {}",
                        n.windowsize
                    );
                }
                Transmit::Error(_) => {}
            }
        }
        if self.transfer.outcome().is_some() {
            assert!(self.transfer.poll_timeout().is_none());
        }
        count
    }
}

fuzz_target!(|input: Input| {
    let known = [
        (Name::Blksize, &input.blksize),
        (Name::Windowsize, &input.windowsize),
        (Name::Timeout, &input.timeout),
        (Name::Tsize, &input.tsize),
    ];
    let options: Vec<(String, String)> = known
        .iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (name(n), value(v))))
        .chain(input.options.iter().map(|(n, v)| (name(n), value(v))))
        .collect();
    let size = match input.size {
        Size::Bytes(n) => u64::from(n),
        Size::Blocks512(n) => u64::from(n) * 512,
        Size::Large(n) => n,
    };
    let config = TransferConfig {
        max_blksize: input.max_blksize,
        max_windowsize: input.max_windowsize,
        default_timeout: Duration::from_millis(input.default_timeout_ms.into()),
        max_retries: u32::from(input.max_retries % 16),
        max_client_timeout: input.max_client_timeout,
        stall_limit: Duration::from_millis(input.stall_limit_ms.into()),
    };
    let mut now = Instant::now();
    let transfer = Transfer::new(&options, size, &config, now);
    let n = transfer.negotiated();
    // 512 is RFC 1350's size when no `blksize` was accepted, whatever the limit.
    let most = config.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE);
    assert!(n.blksize == DEFAULT_BLKSIZE || (MIN_BLKSIZE..=most).contains(&n.blksize));
    assert!(n.windowsize >= 1 && n.windowsize <= config.max_windowsize.max(1));
    assert!(n.tsize.is_none_or(|t| t == size), "tsize is the file size");
    assert_eq!(transfer.block_count(), size / u64::from(n.blksize) + 1);
    let mut check = Check {
        transfer,
        size,
        data_started: false,
        ack0_seen: false,
        last_block: 0,
        transmits: 0,
    };
    check.drain();

    for step in &input.steps {
        if check.transmits > MAX_TRANSMITS {
            return;
        }
        let before = check.transfer.acked_blocks();
        let was_started = check.data_started;
        let acked_block = match step {
            Step::Ack(block) => {
                check.transfer.handle_datagram(now, &ack(*block));
                Some(*block)
            }
            Step::AckOack => {
                check.transfer.handle_datagram(now, &ack(0));
                Some(0)
            }
            Step::AckLast => {
                let block = check.last_block;
                check.transfer.handle_datagram(now, &ack(block));
                Some(block)
            }
            Step::AckInWindow(k) => {
                let window = u64::from(check.transfer.negotiated().windowsize);
                let block = (before + 1 + u64::from(*k) % window) as u16;
                check.transfer.handle_datagram(now, &ack(block));
                Some(block)
            }
            Step::GoodClient(rounds) => {
                for _ in 0..*rounds {
                    if check.transfer.outcome().is_some() {
                        break;
                    }
                    let before = check.transfer.acked_blocks();
                    let block = check.last_block;
                    check.ack0_seen |= block == 0;
                    check.transfer.handle_datagram(now, &ack(block));
                    if check.drain() == 0 && check.transfer.acked_blocks() == before {
                        break;
                    }
                }
                None
            }
            Step::AckAhead(k) => {
                let block = (before + 1 + u64::from(*k)) as u16;
                check.transfer.handle_datagram(now, &ack(block));
                Some(block)
            }
            Step::Error(code, text) => {
                let bytes = error_packet(ErrorCode::from(*code), text);
                let running = check.transfer.outcome().is_none();
                check.transfer.handle_datagram(now, &bytes);
                if running {
                    assert!(matches!(
                        check.transfer.outcome(),
                        Some(Outcome::ClientAborted { .. })
                    ));
                }
                None
            }
            Step::Raw(bytes) => {
                check.transfer.handle_datagram(now, bytes);
                match Packet::parse(bytes) {
                    Ok(Packet::Ack { block }) => Some(block),
                    _ => None,
                }
            }
            Step::Timeout => {
                if let Some(at) = check.transfer.poll_timeout() {
                    now = now.max(at);
                    check.transfer.handle_timeout(now);
                }
                None
            }
            Step::TimeoutAt(ms) => {
                let at = now + Duration::from_millis((*ms).into());
                let deadline = check.transfer.poll_timeout();
                check.transfer.handle_timeout(at);
                if deadline.is_some_and(|d| at < d) {
                    assert_eq!(check.drain(), 0, "a resend before the deadline");
                }
                now = at;
                None
            }
            Step::Wait(ms) => {
                now += Duration::from_millis((*ms).into());
                None
            }
        };
        let after = check.transfer.acked_blocks();
        assert!(after >= before);
        check.ack0_seen |= acked_block == Some(0);
        let sent = check.drain();
        if let Some(block) = acked_block {
            let starts_data = !was_started && block == 0;
            if after == before && !starts_data {
                assert_eq!(
                    sent, 0,
                    "resent on ACK {block} that acknowledged nothing new"
                );
            }
        }
        match check.transfer.outcome() {
            Some(Outcome::Completed { bytes, .. }) => {
                assert_eq!(*bytes, size);
                assert_eq!(after, check.transfer.block_count());
            }
            Some(_) | None => assert!(after < check.transfer.block_count()),
        }
    }

    // Silence from here on: the transfer ends within max_retries timeouts.
    let mut timeouts = 0;
    while let Some(at) = check.transfer.poll_timeout() {
        assert!(
            timeouts < config.max_retries.max(1),
            "still running after {timeouts} timeouts with max_retries {}",
            config.max_retries
        );
        now = now.max(at);
        check.transfer.handle_timeout(now);
        timeouts += 1;
        check.drain();
    }
    assert!(
        check.transfer.outcome().is_some(),
        "no deadline, yet running"
    );
});
