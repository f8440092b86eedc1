//! A lock-step TFTP read (RFC 1350, options RFC 2347-2349) as a board's firmware
//! makes it: one packet in flight, one second per try, five retries.
//! The data is hashed as it arrives (SHA-256) and kept only for small files
//! (the configs the firmware parses), so 200 boards fit in memory.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use bootherd_proto::emulate::{Fetch, Read, EARLY_TERMINATE};
use bootherd_proto::wire::tftp::{self, ErrorCode, Packet};
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

/// One read in progress: the board's socket and where the read stands. Driven by
/// [`crate::tftp_loop`], which feeds it datagrams and timeouts; each step
/// answers as the firmware would (an ACK, the last packet again) and says when
/// the read is over.
pub struct TftpRead {
    pub socket: UdpSocket,
    read: Read,
    server: SocketAddr,
    peer: Option<SocketAddr>,
    last: Vec<u8>,
    blksize: usize,
    tsize: Option<u64>,
    expected: u16,
    received: u64,
    hash: Sha256,
    kept: Vec<u8>,
    tries: u32,
    /// When the last packet is sent again if nothing came.
    pub deadline: Instant,
    pub resends: Resends,
}

impl TftpRead {
    /// Sends the request for `fetch` to port 69 of its server, from `local`.
    pub fn start(fetch: &Fetch, local: Ipv4Addr) -> io::Result<TftpRead> {
        let socket = UdpSocket::bind(SocketAddrV4::new(local, 0))?;
        socket.set_nonblocking(true)?;
        let server = SocketAddr::V4(SocketAddrV4::new(fetch.server, 69));
        let rrq = fetch.request();
        socket.send_to(&rrq, server)?;
        Ok(TftpRead {
            socket,
            read: fetch.read,
            server,
            peer: None,
            last: rrq,
            blksize: 512,
            tsize: None,
            expected: 1,
            received: 0,
            hash: Sha256::new(),
            kept: Vec::new(),
            tries: 0,
            deadline: Instant::now() + PACKET_TIMEOUT,
            resends: Resends::default(),
        })
    }

    /// Nothing came before the deadline: the last packet again, or the end.
    pub fn timeout(&mut self) -> io::Result<Option<Got>> {
        self.tries += 1;
        if self.tries > RETRIES {
            let what = if self.peer.is_none() {
                "no answer to the request"
            } else {
                "the server stopped sending"
            };
            return Ok(Some(Got::Failed(format!(
                "{what} after {} tries",
                RETRIES + 1
            ))));
        }
        self.resends.by_client += 1;
        self.send_last(self.peer.unwrap_or(self.server))?;
        Ok(None)
    }

    /// A datagram from `from`; `Some` when the read is over.
    pub fn datagram(&mut self, datagram: &[u8], from: SocketAddr) -> io::Result<Option<Got>> {
        if from.ip() != self.server.ip() {
            return Ok(None);
        }
        match self.peer {
            None => self.peer = Some(from),
            Some(p) if p != from => {
                let error = tftp::error_packet(ErrorCode::UnknownTid, "unknown transfer ID");
                let _ = self.socket.send_to(&error, from);
                return Ok(None);
            }
            Some(_) => {}
        }
        let Ok(packet) = Packet::parse(datagram) else {
            return Ok(None);
        };
        match packet {
            Packet::Error { code, message } => {
                if self.expected == 1 && self.received == 0 && code == ErrorCode::FileNotFound {
                    return Ok(Some(Got::NotFound));
                }
                Ok(Some(Got::Failed(format!(
                    "server sent ERROR {} \"{message}\"",
                    code.code()
                ))))
            }
            Packet::Oack { options } if self.expected == 1 && self.received == 0 => {
                for (name, value) in &options {
                    match name.to_ascii_lowercase().as_str() {
                        "tsize" => self.tsize = value.parse().ok(),
                        "blksize" => match value.parse::<usize>() {
                            Ok(size) if (8..=65464).contains(&size) => self.blksize = size,
                            _ => return Ok(Some(Got::Failed(format!("OACK blksize {value:?}")))),
                        },
                        _ => {}
                    }
                }
                self.last = ack(0);
                self.progress(from)?;
                Ok(None)
            }
            Packet::Data { block, payload } if block == self.expected => {
                let blksize = self.blksize;
                if payload.len() > blksize {
                    return Ok(Some(Got::Failed(format!(
                        "DATA block {block} carries {} bytes, more than the block size {blksize}",
                        payload.len()
                    ))));
                }
                if self.read == Read::Probe {
                    let error = tftp::error_packet(ErrorCode::NotDefined, EARLY_TERMINATE);
                    let _ = self.socket.send_to(&error, from);
                    let size = self
                        .tsize
                        .or((payload.len() < blksize).then_some(payload.len() as u64));
                    return Ok(Some(Got::Found {
                        size,
                        sha256: None,
                        data: None,
                    }));
                }
                self.hash.update(payload);
                self.received += payload.len() as u64;
                if self.received as usize <= KEEP_LIMIT {
                    self.kept.extend_from_slice(payload);
                }
                if self.received > MAX_FILE {
                    let error = tftp::error_packet(ErrorCode::DiskFull, "file too large");
                    let _ = self.socket.send_to(&error, from);
                    return Ok(Some(Got::Failed("file larger than 4 GiB".into())));
                }
                self.last = ack(block);
                self.progress(from)?;
                if payload.len() < blksize {
                    let received = self.received;
                    if let Some(t) = self.tsize.filter(|&t| t != received) {
                        return Ok(Some(Got::Failed(format!(
                            "OACK said tsize {t} but {received} bytes came"
                        ))));
                    }
                    let small = received as usize <= KEEP_LIMIT;
                    let hash = std::mem::take(&mut self.hash);
                    return Ok(Some(Got::Found {
                        size: Some(received),
                        sha256: Some(hash.finalize().into()),
                        data: small.then(|| std::mem::take(&mut self.kept)),
                    }));
                }
                self.expected = self.expected.wrapping_add(1);
                Ok(None)
            }
            Packet::Data { block, .. } if block == self.expected.wrapping_sub(1) => {
                // The server sent the block again (our ACK was lost, or it timed
                // out): acknowledge again, never more (RFC 1123 4.2.3.1).
                self.resends.by_server += 1;
                self.send_last(from)?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// The read moved on: the new last packet goes out, the tries start over.
    fn progress(&mut self, to: SocketAddr) -> io::Result<()> {
        self.tries = 0;
        self.deadline = Instant::now() + PACKET_TIMEOUT;
        self.send_last(to)
    }

    fn send_last(&self, to: SocketAddr) -> io::Result<()> {
        match self.socket.send_to(&self.last, to) {
            // A full send buffer loses the packet as the network would; the
            // timeout sends it again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

fn ack(block: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    Packet::Ack { block }.emit(&mut out);
    out
}
