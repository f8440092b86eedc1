//! A blocking lock-step TFTP read (RFC 1350, options RFC 2347-2349) as a board's
//! firmware makes it: one packet in flight, one second per try, five retries.
//! The data is hashed as it arrives (SHA-256) and kept only for small files
//! (the configs the firmware parses), so 200 boards fit in memory.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use bootherd_proto::emulate::{Fetch, Read, EARLY_TERMINATE};
use bootherd_proto::wire::tftp::{self, ErrorCode, Mode, Packet, Request};
use sha2::{Digest, Sha256};

/// How long a board waits for each packet before sending its last one again.
const PACKET_TIMEOUT: Duration = Duration::from_secs(1);
/// How many times it sends again before giving up.
const RETRIES: u32 = 5;
/// Files up to this size are kept in memory (config.txt, pxelinux configs).
const KEEP_LIMIT: usize = 1 << 20;
/// The largest file a board reads.
const MAX_FILE: u64 = 4 << 30;

/// What one read got.
#[derive(Debug)]
pub enum Got {
    /// The file (or, for a probe, its first block): size, SHA-256 of a whole read,
    /// contents of a small whole read.
    Found {
        size: Option<u64>,
        sha256: Option<[u8; 32]>,
        data: Option<Vec<u8>>,
    },
    /// ERROR 1.
    NotFound,
    /// Any other error or a timeout.
    Failed(String),
}

/// Retransmission counts of one read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Resends {
    /// Packets this board sent again after a timeout.
    pub by_client: u64,
    /// DATA blocks that arrived twice (the server sent again).
    pub by_server: u64,
}

/// Reads `fetch` from port 69 of its server, from `local`.
pub fn tftp_get(fetch: &Fetch, local: Ipv4Addr, resends: &mut Resends) -> io::Result<Got> {
    let socket = UdpSocket::bind(SocketAddrV4::new(local, 0))?;
    socket.set_read_timeout(Some(PACKET_TIMEOUT))?;
    let server = SocketAddr::V4(SocketAddrV4::new(fetch.server, 69));
    let mut rrq = Vec::new();
    Packet::Rrq(Request {
        filename: fetch.path.as_bytes().to_vec(),
        mode: Mode::Octet,
        options: fetch.options.clone(),
    })
    .emit(&mut rrq);
    let mut peer: Option<SocketAddr> = None;
    let mut last = rrq;
    let mut blksize = 512usize;
    let mut tsize: Option<u64> = None;
    let mut expected: u16 = 1;
    let mut received: u64 = 0;
    let mut hash = Sha256::new();
    let mut kept: Vec<u8> = Vec::new();
    let mut tries = 0;
    let mut buf = vec![0u8; 65536];
    socket.send_to(&last, server)?;
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                tries += 1;
                if tries > RETRIES {
                    let what = if peer.is_none() {
                        "no answer to the request"
                    } else {
                        "the server stopped sending"
                    };
                    return Ok(Got::Failed(format!("{what} after {} tries", RETRIES + 1)));
                }
                resends.by_client += 1;
                socket.send_to(&last, peer.unwrap_or(server))?;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Ok(Got::Failed(format!("nothing listens on {server}")));
            }
            Err(e) => return Err(e),
        };
        if from.ip() != server.ip() {
            continue;
        }
        match peer {
            None => peer = Some(from),
            Some(p) if p != from => {
                let error = tftp::error_packet(ErrorCode::UnknownTid, "unknown transfer ID");
                let _ = socket.send_to(&error, from);
                continue;
            }
            Some(_) => {}
        }
        let Ok(packet) = Packet::parse(&buf[..len]) else {
            continue;
        };
        match packet {
            Packet::Error { code, message } => {
                if expected == 1 && received == 0 && code == ErrorCode::FileNotFound {
                    return Ok(Got::NotFound);
                }
                return Ok(Got::Failed(format!(
                    "server sent ERROR {} \"{message}\"",
                    code.code()
                )));
            }
            Packet::Oack { options } if expected == 1 && received == 0 => {
                for (name, value) in &options {
                    match name.to_ascii_lowercase().as_str() {
                        "tsize" => tsize = value.parse().ok(),
                        "blksize" => match value.parse::<usize>() {
                            Ok(size) if (8..=65464).contains(&size) => blksize = size,
                            _ => return Ok(Got::Failed(format!("OACK blksize {value:?}"))),
                        },
                        _ => {}
                    }
                }
                tries = 0;
                last = ack(0);
                socket.send_to(&last, from)?;
            }
            Packet::Data { block, payload } if block == expected => {
                tries = 0;
                if payload.len() > blksize {
                    return Ok(Got::Failed(format!(
                        "DATA block {block} carries {} bytes, more than the block size {blksize}",
                        payload.len()
                    )));
                }
                if fetch.read == Read::Probe {
                    let error = tftp::error_packet(ErrorCode::NotDefined, EARLY_TERMINATE);
                    let _ = socket.send_to(&error, from);
                    let size = tsize.or((payload.len() < blksize).then_some(payload.len() as u64));
                    return Ok(Got::Found {
                        size,
                        sha256: None,
                        data: None,
                    });
                }
                hash.update(payload);
                received += payload.len() as u64;
                if received as usize <= KEEP_LIMIT {
                    kept.extend_from_slice(payload);
                }
                if received > MAX_FILE {
                    let error = tftp::error_packet(ErrorCode::DiskFull, "file too large");
                    let _ = socket.send_to(&error, from);
                    return Ok(Got::Failed("file larger than 4 GiB".into()));
                }
                last = ack(block);
                socket.send_to(&last, from)?;
                if payload.len() < blksize {
                    if let Some(t) = tsize.filter(|&t| t != received) {
                        return Ok(Got::Failed(format!(
                            "OACK said tsize {t} but {received} bytes came"
                        )));
                    }
                    let small = received as usize <= KEEP_LIMIT;
                    return Ok(Got::Found {
                        size: Some(received),
                        sha256: Some(hash.finalize().into()),
                        data: small.then_some(kept),
                    });
                }
                expected = expected.wrapping_add(1);
            }
            Packet::Data { block, .. } if block == expected.wrapping_sub(1) => {
                // The server sent the block again (our ACK was lost, or it timed
                // out): acknowledge again, never more (RFC 1123 4.2.3.1).
                resends.by_server += 1;
                socket.send_to(&last, from)?;
            }
            _ => {}
        }
    }
}

fn ack(block: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    Packet::Ack { block }.emit(&mut out);
    out
}
