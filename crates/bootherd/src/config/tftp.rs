//! `[tftp]`: the TFTP service and its path rewrites.

use std::path::PathBuf;

use bootherd_proto::tftp::transfer::MAX_BLKSIZE;
use serde::Deserialize;

/// TFTP service settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TftpConfig {
    /// Serve TFTP at all.
    pub enabled: bool,
    /// The directory served.
    pub root: PathBuf,
    /// UDP port (69).
    pub port: u16,
    /// Transfers in flight at once; requests past it get a TFTP error.
    pub max_transfers: usize,
    /// Largest block size granted (RFC 2348); also clamped to the path MTU unless
    /// `allow_fragmentation` is set.
    pub max_blksize: u16,
    /// Grant block sizes above the path MTU, sending IP-fragmented datagrams (as
    /// tftpd-hpa does). Faster for clients that ask for 64 KiB blocks on a clean LAN,
    /// but one lost fragment loses the whole block, and some firmware cannot
    /// reassemble: off by default.
    pub allow_fragmentation: bool,
    /// Largest window granted (RFC 7440).
    pub max_windowsize: u16,
    /// Retransmission base when the client does not ask for a timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Consecutive retransmissions before a transfer is dropped.
    pub retries: u32,
    /// Transfers in flight at once from one client address; past it the client
    /// gets a TFTP error, so one host cannot take every slot.
    pub max_transfers_per_client: usize,
    /// Largest `timeout` option (RFC 2349) accepted, in seconds; a larger one is
    /// declined (left out of the OACK) and `timeout_ms` applies.
    pub max_client_timeout_secs: u8,
    /// How long a transfer may make no progress (no ACK moving it forward) before
    /// it ends with a TFTP error, whatever timeout was negotiated, in milliseconds.
    pub stall_timeout_ms: u64,
    /// How long a transfer loop keeps polling its sockets before it sleeps, while
    /// transfers are in flight, in microseconds (0: never). Waking a sleeping
    /// thread (and, on a VM, a halted vCPU) can take longer than a lock-step
    /// block's whole round trip; polling briefly catches the next ACK awake. Costs
    /// at most this much CPU per idle gap, and nothing when no transfer runs.
    pub busy_poll_us: u32,
    /// Request-name rewrites, applied in order before the name is checked and
    /// looked up (`rewrite.rs`); none by default.
    #[serde(rename = "rewrite")]
    pub rewrites: Vec<RewriteConfig>,
}

/// One `[[tftp.rewrite]]` rule: either `from` (a regular expression) and `to` (its
/// replacement, `$1` for groups), or `lowercase = true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// Pattern whose every match is replaced.
    pub from: Option<String>,
    /// Replacement for `from`.
    pub to: Option<String>,
    /// Lower-case the whole name (ASCII).
    #[serde(default)]
    pub lowercase: bool,
}

impl Default for TftpConfig {
    fn default() -> Self {
        TftpConfig {
            enabled: true,
            root: PathBuf::from("./tftp-root"),
            port: 69,
            max_transfers: 256,
            max_blksize: MAX_BLKSIZE,
            allow_fragmentation: false,
            max_windowsize: 64,
            timeout_ms: 1000,
            retries: 5,
            max_transfers_per_client: 16,
            max_client_timeout_secs: 10,
            stall_timeout_ms: 30_000,
            busy_poll_us: 50,
            rewrites: Vec::new(),
        }
    }
}
