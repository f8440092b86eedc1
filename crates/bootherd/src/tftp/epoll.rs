//! A level-triggered epoll set with a wake-up eventfd, for the transfer loops.
//!
//! Hand-written (about a hundred lines on `libc`) because what the loops need is
//! one `epoll_wait` per round and nothing else: tokio's and mio's sockets are
//! edge-triggered (a second `recv` per packet to learn the socket is empty), and
//! the `polling` crate, tried first, adds four system calls to every wait (it arms
//! a timerfd and re-arms its notifier each time), which in a boot storm, where a
//! round often finds one ready socket, doubled the system calls per block.
//! bench's bootstorm borrows this file for the emulated boards' TFTP loop.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The key of the wake-up eventfd; never a transfer's key.
const WAKE_KEY: u64 = u64::MAX;

/// An epoll set: sockets registered with a key, and a wake-up any thread may ring.
#[derive(Debug)]
pub struct Epoll {
    epoll: OwnedFd,
    wake: OwnedFd,
}

/// What one wait found.
pub struct Ready {
    events: Vec<libc::epoll_event>,
    len: usize,
    /// The wake-up was rung.
    pub woken: bool,
}

impl Ready {
    pub fn with_capacity(capacity: usize) -> Ready {
        Ready {
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
            len: 0,
            woken: false,
        }
    }

    /// True when the last wait found nothing (no socket, no wake-up).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The keys of the ready sockets.
    pub fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.events[..self.len]
            .iter()
            .map(|e| e.u64)
            .filter(|&k| k != WAKE_KEY)
            .map(|k| k as usize)
    }
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain system calls; each result is checked before it is owned.
        let epoll = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let wake = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        let wake = unsafe { OwnedFd::from_raw_fd(wake) };
        let set = Epoll { epoll, wake };
        set.ctl(libc::EPOLL_CTL_ADD, set.wake.as_raw_fd(), WAKE_KEY, true)?;
        Ok(set)
    }

    /// Watches `fd` for reading (level-triggered) under `key`. The caller removes
    /// it ([`Epoll::delete`]) before closing it.
    pub fn add(&self, fd: &impl AsRawFd, key: usize) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd.as_raw_fd(), key as u64, true)
    }

    /// Watches `fd` for reading again, or stops (it stays in the set).
    pub fn watch(&self, fd: &impl AsRawFd, key: usize, readable: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd.as_raw_fd(), key as u64, readable)
    }

    pub fn delete(&self, fd: &impl AsRawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, false)
    }

    /// Rings the wake-up: the current or next [`Epoll::wait`] returns with `woken`.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local. A full counter (EAGAIN) means it is
        // rung already, which is all a wake-up needs.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Waits up to `timeout` (rounded up to a millisecond) for ready sockets.
    pub fn wait(&self, ready: &mut Ready, timeout: Duration) -> io::Result<()> {
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: the kernel writes at most `events.len()` entries into `events`.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                ready.events.as_mut_ptr(),
                ready.events.len() as i32,
                ms,
            )
        };
        ready.len = 0;
        ready.woken = false;
        let n = match cvt(n) {
            Ok(n) => n as usize,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(err),
        };
        ready.len = n;
        if ready.events[..n].iter().any(|e| e.u64 == WAKE_KEY) {
            ready.woken = true;
            let mut count: u64 = 0;
            // SAFETY: reads 8 bytes into a local; resets the counter.
            unsafe { libc::read(self.wake.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        }
        Ok(())
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, key: u64, readable: bool) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: if readable { libc::EPOLLIN as u32 } else { 0 },
            u64: key,
        };
        // SAFETY: `event` lives across the call; the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) }).map(|_| ())
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_ready_socket_stays_ready_until_read_and_a_wake_is_seen() {
        let set = Epoll::new().unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        set.add(&rx, 7).unwrap();
        let mut ready = Ready::with_capacity(8);
        set.wait(&mut ready, Duration::from_millis(1)).unwrap();
        assert_eq!(ready.keys().count(), 0);
        assert!(!ready.woken);
        tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
        for _ in 0..2 {
            // Level-triggered: still ready while unread.
            set.wait(&mut ready, Duration::from_secs(5)).unwrap();
            assert_eq!(ready.keys().collect::<Vec<_>>(), vec![7]);
        }
        set.watch(&rx, 7, false).unwrap();
        set.wait(&mut ready, Duration::from_millis(1)).unwrap();
        assert_eq!(ready.keys().count(), 0, "unwatched");
        set.watch(&rx, 7, true).unwrap();
        rx.recv(&mut [0u8; 8]).unwrap();
        set.wake();
        set.wait(&mut ready, Duration::from_secs(5)).unwrap();
        assert!(ready.woken);
        assert_eq!(ready.keys().count(), 0);
        // The wake-up was reset.
        set.wait(&mut ready, Duration::from_millis(1)).unwrap();
        assert!(!ready.woken);
        set.delete(&rx).unwrap();
    }
}
