//! The socket and its batched I/O: clocks, `sendmmsg`/`recvmmsg` buffers with
//! kernel timestamps and the drop counter.

use std::io;
use std::mem;
use std::net::SocketAddrV4;
use std::ptr;

use crate::packet::MAX_REQUEST_LEN;

use super::*;

pub(super) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; clock_gettime only writes it.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub(super) fn mono_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

pub(super) fn real_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

pub(super) fn sleep_until_mono(ns: u64) {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: ts is a valid timespec; an interruption just ends the sleep early.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            ptr::null_mut(),
        )
    };
}

pub(super) fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// The UDP socket, closed on drop.
pub(super) struct Socket(pub(super) libc::c_int);

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

pub(super) fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> bool {
    // SAFETY: v lives across the call; the length is its size.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

pub(super) fn open_socket(cfg: &Config) -> io::Result<(Socket, usize)> {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = Socket(fd);
    let want = cfg.rcvbuf.min(i32::MAX as usize / 2) as libc::c_int;
    // SO_RCVBUFFORCE passes rmem_max (it needs CAP_NET_ADMIN); else the capped one.
    if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want) {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want);
    }
    if !setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20) {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 4 << 20);
    }
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1);
    let local = sockaddr(SocketAddrV4::new(cfg.relay, cfg.local_port));
    // SAFETY: local is a valid sockaddr_in of the given length.
    let rc = unsafe {
        libc::bind(
            fd,
            &local as *const libc::sockaddr_in as *const libc::sockaddr,
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot bind UDP {}:{}: {e}", cfg.relay, cfg.local_port),
        ));
    }
    let mut got: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: got and len are valid for getsockopt to write.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &mut got as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    Ok((sock, got.max(0) as usize))
}

/// Packets waiting to go out in one `sendmmsg`.
pub(super) struct TxBatch {
    pub(super) bufs: Vec<[u8; MAX_REQUEST_LEN]>,
    pub(super) lens: [usize; BATCH],
    pub(super) seqs: [u64; BATCH],
    pub(super) n: usize,
}

impl TxBatch {
    pub(super) fn new() -> TxBatch {
        TxBatch {
            bufs: vec![[0; MAX_REQUEST_LEN]; BATCH],
            lens: [0; BATCH],
            seqs: [0; BATCH],
            n: 0,
        }
    }

    pub(super) fn full(&self) -> bool {
        self.n == BATCH
    }

    /// Sends the batch; returns the sequence numbers that could not be sent.
    pub(super) fn flush(&mut self, fd: libc::c_int, dest: &libc::sockaddr_in) -> Vec<u64> {
        let mut iov: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        for i in 0..self.n {
            iov[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: self.lens[i],
            };
            hdrs[i].msg_hdr.msg_name = dest as *const libc::sockaddr_in as *mut libc::c_void;
            hdrs[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        let mut done = 0usize;
        let mut failed = Vec::new();
        while done < self.n {
            // SAFETY: hdrs[done..n] point at live buffers, iovecs and dest.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    hdrs.as_mut_ptr().add(done),
                    (self.n - done) as libc::c_uint,
                    0,
                )
            };
            if rc > 0 {
                done += rc as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The packet at `done` cannot go (ENOBUFS, EPERM, ...): count it
            // and try the rest.
            failed.push(self.seqs[done]);
            done += 1;
        }
        self.n = 0;
        failed
    }
}

/// Buffers for one `recvmmsg`.
pub(super) struct RxBatch {
    pub(super) bufs: Vec<[u8; RX_LEN]>,
    pub(super) ctrl: Vec<[u8; CTRL_LEN]>,
    pub(super) addrs: Vec<libc::sockaddr_in>,
    pub(super) iov: Vec<libc::iovec>,
    pub(super) hdrs: Vec<libc::mmsghdr>,
}

impl RxBatch {
    pub(super) fn new() -> RxBatch {
        RxBatch {
            bufs: vec![[0; RX_LEN]; BATCH],
            ctrl: vec![[0; CTRL_LEN]; BATCH],
            addrs: vec![unsafe { mem::zeroed() }; BATCH],
            iov: vec![unsafe { mem::zeroed() }; BATCH],
            hdrs: vec![unsafe { mem::zeroed() }; BATCH],
        }
    }

    /// Receives up to BATCH datagrams without blocking; 0 when none is waiting.
    pub(super) fn recv(&mut self, fd: libc::c_int) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iov[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: RX_LEN,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.addrs[i] as *mut libc::sockaddr_in as *mut libc::c_void;
            h.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.ctrl[i].as_mut_ptr() as *mut libc::c_void;
            h.msg_controllen = CTRL_LEN as _;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        loop {
            // SAFETY: every header points at live buffers of the given sizes.
            let rc = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    ptr::null_mut(),
                )
            };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(0),
                // An ICMP error queued for the socket (e.g. port unreachable
                // on loopback): not an answer; read on.
                io::ErrorKind::ConnectionRefused => continue,
                _ => return Err(e),
            }
        }
    }

    /// The kernel's receive time (realtime, ns) and the socket's drop
    /// counter, from the control messages of datagram `i`.
    pub(super) fn meta(&self, i: usize) -> (Option<u64>, Option<u32>) {
        let h = &self.hdrs[i].msg_hdr;
        let mut ts = None;
        let mut drops = None;
        // SAFETY: the kernel filled msg_control up to msg_controllen; the
        // CMSG macros stay inside it and the data is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                if (*c).cmsg_level == libc::SOL_SOCKET {
                    if (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                        let t: libc::timespec = ptr::read_unaligned(data as *const libc::timespec);
                        ts = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
                    } else if (*c).cmsg_type == libc::SO_RXQ_OVFL {
                        drops = Some(ptr::read_unaligned(data as *const u32));
                    }
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        (ts, drops)
    }
}
