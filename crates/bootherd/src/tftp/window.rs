//! The DATA packets one round of `poll_transmit` asked for, sent together. Their
//! file bytes come from one buffer, `cache`, that holds a stretch of the file:
//! a window's blocks are consecutive, so one read fills it (one `pread` per
//! window, or per [`READ_AHEAD`] bytes for a lock-step transfer, which sends one
//! block per round). The packets go out with one `sendmmsg` (one `sendmsg` for a
//! lone block), each gathered from its 4-byte header and its slice of the cache.
//!
//! Sending is split from reading so that a transfer loop can read without
//! waiting ([`super::read_now`]) or hand the read to a thread that may wait:
//! [`Window::missing`] names the bytes to read, [`Window::filled`] takes them.

use std::io;

use bootherd_proto::wire::tftp as wire;

use crate::net;

/// The most file bytes one window holds; a larger window is sent in parts, so a
/// transfer with 64 KiB blocks and windowsize 64 does not hold 4 MiB.
pub const WINDOW_BYTES: usize = 256 << 10;
/// File bytes read at once, at most, beyond what the blocks need: a lock-step
/// transfer alone on its loop reads every dozen blocks, not every block.
pub const READ_AHEAD: usize = 16 << 10;
/// The read-ahead of all transfers on one loop together: bytes read ahead are
/// sent a whole round of the loop later, and with 200 lock-step transfers 16
/// KiB each (3 MiB) no longer stayed in the CPU's cache: a pread per block was
/// cheaper than the cache misses. Each transfer reads ahead its share of this.
pub const READ_AHEAD_PER_LOOP: usize = 512 << 10;

/// The read-ahead of each of `transfers` transfers on one loop.
pub fn read_ahead(transfers: usize) -> usize {
    (READ_AHEAD_PER_LOOP / transfers.max(1)).min(READ_AHEAD)
}

/// A file's bytes to read: where, how many (never past the end of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    pub offset: u64,
    pub len: usize,
}

/// Blocks queued to send, a control packet (OACK or ERROR) to send after them,
/// and the file bytes they come from.
#[derive(Debug)]
pub struct Window {
    blksize: usize,
    /// Blocks queued: number, file offset, length.
    blocks: Vec<(u16, u64, usize)>,
    /// Sent after the blocks.
    then: Option<Vec<u8>>,
    headers: Vec<[u8; 4]>,
    /// File bytes from `cache_at`.
    cache: Vec<u8>,
    cache_at: u64,
}

impl Window {
    pub fn new(blksize: u16) -> Window {
        Window {
            blksize: usize::from(blksize),
            blocks: Vec::new(),
            then: None,
            headers: Vec::new(),
            cache: Vec::new(),
            cache_at: 0,
        }
    }

    /// True when one more block would not fit: send what is queued first.
    pub fn is_full(&self) -> bool {
        !self.blocks.is_empty() && (self.blocks.len() + 1) * self.blksize > WINDOW_BYTES
    }

    /// True when nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.then.is_none()
    }

    pub fn push(&mut self, block: u16, offset: u64, len: usize) {
        self.blocks.push((block, offset, len));
    }

    /// Queues a control packet to go out after the queued blocks.
    pub fn then(&mut self, packet: Vec<u8>) {
        self.then = Some(packet);
    }

    /// The file bytes the queued blocks need that the cache does not hold, from
    /// the first block's offset to the last block's end, at least `read_ahead`
    /// bytes, never past `file_len`.
    pub fn missing(&self, file_len: u64, read_ahead: usize) -> Option<Stretch> {
        let start = self.blocks.iter().map(|b| b.1).min()?;
        let end = self.blocks.iter().map(|b| b.1 + b.2 as u64).max()?;
        let held = self.cache_at..self.cache_at + self.cache.len() as u64;
        if held.start <= start && end <= held.end {
            return None;
        }
        let want = (end - start).max(read_ahead as u64);
        let len = want.min(file_len.saturating_sub(start)).max(end - start);
        Some(Stretch {
            offset: start,
            len: len as usize,
        })
    }

    /// The buffer to read `stretch` into (the cache, emptied), taken out of the
    /// window so that another thread can fill it; give it back to [`Window::filled`].
    pub fn take_buffer(&mut self, stretch: Stretch) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.cache);
        buf.resize(stretch.len, 0);
        buf
    }

    /// The cache now holds `buf`, the bytes of `stretch`. An empty `buf` (a failed
    /// read) leaves the cache empty.
    pub fn filled(&mut self, stretch: Stretch, buf: Vec<u8>) {
        self.cache = buf;
        self.cache_at = stretch.offset;
    }

    /// Sends the queued blocks, then the control packet; the cache must hold the
    /// blocks' bytes ([`Window::missing`] is `None`). A datagram the socket buffer
    /// has no room for is dropped as the network would drop it (the transfer's
    /// timeout resends it); any other error is returned.
    pub fn send(&mut self, socket: &std::net::UdpSocket) -> io::Result<()> {
        let blocks = std::mem::take(&mut self.blocks);
        let result = self.send_blocks(socket, &blocks);
        self.blocks = blocks;
        self.blocks.clear();
        result?;
        if let Some(packet) = self.then.take() {
            match socket.send(&packet) {
                Err(err) if err.kind() != io::ErrorKind::WouldBlock => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }

    fn send_blocks(
        &mut self,
        socket: &std::net::UdpSocket,
        blocks: &[(u16, u64, usize)],
    ) -> io::Result<()> {
        if blocks.is_empty() {
            return Ok(());
        }
        self.headers.clear();
        self.headers
            .extend(blocks.iter().map(|b| wire::data_header(b.0)));
        let cache = &self.cache;
        let at = self.cache_at;
        let datagrams: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .zip(blocks)
            .map(|(header, &(_, offset, len))| {
                let from = (offset - at) as usize;
                (&header[..], &cache[from..from + len])
            })
            .collect();
        match net::send_gathered(socket, &datagrams) {
            Err(err) if err.kind() != io::ErrorKind::WouldBlock => Err(err),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_its_blocks_once_and_lock_step_reads_ahead() {
        let mut w = Window::new(512);
        w.push(1, 0, 512);
        // One lock-step block: READ_AHEAD bytes (here the file is larger).
        let s = w.missing(100_000, READ_AHEAD).unwrap();
        assert_eq!(
            s,
            Stretch {
                offset: 0,
                len: READ_AHEAD
            }
        );
        let buf = w.take_buffer(s);
        w.filled(s, buf);
        assert_eq!(w.missing(100_000, READ_AHEAD), None);
        w.blocks.clear();
        // Blocks 2..=32 are in the cache; 33 is not.
        w.push(32, 31 * 512, 512);
        assert_eq!(w.missing(100_000, READ_AHEAD), None);
        w.blocks.clear();
        w.push(33, 32 * 512, 512);
        assert_eq!(w.missing(100_000, READ_AHEAD).unwrap().offset, 32 * 512);
        w.blocks.clear();
        // A window of 40 blocks: all of them, in one stretch.
        for b in 0..40u16 {
            w.push(b + 100, u64::from(b + 99) * 512, 512);
        }
        let s = w.missing(100_000, READ_AHEAD).unwrap();
        assert_eq!(
            s,
            Stretch {
                offset: 99 * 512,
                len: 40 * 512
            }
        );
        w.blocks.clear();
        // Near the end of the file: never past it; the last block is short.
        w.push(195, 194 * 512, 100_000 - 194 * 512);
        let s = w.missing(100_000, READ_AHEAD).unwrap();
        assert_eq!(s.offset + s.len as u64, 100_000);
    }

    #[test]
    fn many_transfers_on_a_loop_read_ahead_less() {
        assert_eq!(read_ahead(1), READ_AHEAD);
        assert_eq!(read_ahead(32), READ_AHEAD);
        assert_eq!(read_ahead(200), READ_AHEAD_PER_LOOP / 200);
        let mut w = Window::new(1468);
        w.push(1, 0, 1468);
        // Below one block: the block itself.
        assert_eq!(w.missing(1 << 20, read_ahead(1000)).unwrap().len, 1468);
    }

    #[test]
    fn blocks_then_the_control_packet_arrive_in_order() {
        let (rx, tx) = crate::net::loopback_pair();
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut w = Window::new(1000);
        for b in 0..3u16 {
            w.push(b + 1, u64::from(b) * 1000, 1000);
        }
        w.then(b"\0\x05\0\0bye\0".to_vec());
        let s = w.missing(3000, READ_AHEAD).unwrap();
        let mut buf = w.take_buffer(s);
        buf.copy_from_slice(&data[..s.len]);
        w.filled(s, buf);
        w.send(&tx).unwrap();
        assert!(w.is_empty());
        let mut got = [0u8; 2048];
        for b in 0..3usize {
            let n = rx.recv(&mut got).unwrap();
            assert_eq!(&got[..4], &wire::data_header(b as u16 + 1));
            assert_eq!(&got[4..n], &data[b * 1000..(b + 1) * 1000]);
        }
        let n = rx.recv(&mut got).unwrap();
        assert_eq!(&got[..n], b"\0\x05\0\0bye\0");
    }
}
