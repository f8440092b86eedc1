//! [`PacketSocket`], the DHCP sockets' I/O: per-datagram interface and address
//! (`IP_PKTINFO`), batched receive and send (`recvmmsg`/`sendmmsg`).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

/// Asks for a receive buffer of `bytes` on `socket`: `SO_RCVBUFFORCE` where this
/// process may (CAP_NET_ADMIN), else `SO_RCVBUF`, which the kernel caps at
/// `net.core.rmem_max`. Returns what the kernel granted.
pub fn grow_receive_buffer(
    socket: &impl std::os::fd::AsFd,
    bytes: usize,
) -> io::Result<ReceiveBuffer> {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    let forced = setsockopt(socket, sockopt::RcvBufForce, &bytes).is_ok();
    if !forced {
        setsockopt(socket, sockopt::RcvBuf, &bytes).map_err(io::Error::from)?;
    }
    let bytes = getsockopt(socket, sockopt::RcvBuf).map_err(io::Error::from)?;
    Ok(ReceiveBuffer { bytes, forced })
}

/// What [`PacketSocket::set_receive_buffer`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveBuffer {
    /// The size the kernel reports (twice what it grants for data).
    pub bytes: usize,
    /// Whether `SO_RCVBUFFORCE` was permitted; else `SO_RCVBUF` applied, capped
    /// at `net.core.rmem_max`.
    pub forced: bool,
}

/// What [`PacketSocket::recv`] learned about one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes written into the buffer.
    pub len: usize,
    /// Who sent it.
    pub source: SocketAddrV4,
    /// The interface it arrived on.
    pub ifindex: u32,
    /// The local address to answer from: the address of that interface the
    /// kernel would use (`ipi_spec_dst`), also for broadcasts.
    pub local: Ipv4Addr,
    /// The destination address of the datagram (a broadcast address or ours).
    pub destination: Ipv4Addr,
}

/// The largest datagram [`PacketSocket::recv_batch`] keeps; longer ones are cut.
pub const DATAGRAM_MAX: usize = 1500;

/// How long [`PacketSocket::send_batch`] waits for room in the send buffer before it
/// gives up on a datagram.
pub(super) const SEND_WAIT_MS: libc::c_int = 200;

/// A UDP socket bound to a wildcard address that reports, for each datagram, the
/// interface and local address it arrived on (`IP_PKTINFO`), and sends from a chosen
/// interface and source address. DHCP needs this: requests are broadcasts, and a
/// Raspberry Pi fetches from whatever address the reply came from.
///
/// The file descriptor stays in blocking mode for [`PacketSocket::recv_batch`], which a
/// dedicated thread calls; every other call passes `MSG_DONTWAIT` and never blocks,
/// from any thread. The socket is registered with tokio's reactor only once
/// [`PacketSocket::recv`] is first awaited, so that a socket served by a thread does
/// not wake the runtime for every datagram.
#[derive(Debug)]
pub struct PacketSocket {
    socket: std::net::UdpSocket,
    /// A duplicate of the descriptor in tokio's reactor, for [`PacketSocket::recv`].
    readable: std::sync::OnceLock<tokio::io::unix::AsyncFd<std::net::UdpSocket>>,
}

impl PacketSocket {
    /// Binds `addr` with `IP_PKTINFO` and `SO_BROADCAST` set.
    pub fn bind(addr: SocketAddrV4) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_broadcast(true)?;
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv4PacketInfo, &true)
            .map_err(io::Error::from)?;
        Ok(PacketSocket {
            socket,
            readable: std::sync::OnceLock::new(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.socket.local_addr()
    }

    /// Asks for a receive buffer of `bytes`: `SO_RCVBUFFORCE` where permitted (root,
    /// CAP_NET_ADMIN), else `SO_RCVBUF`, which the kernel caps at
    /// `net.core.rmem_max`. Returns what the kernel reports it has now (it doubles the
    /// request for its own bookkeeping) and whether the forced request was taken.
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<ReceiveBuffer> {
        grow_receive_buffer(&self.socket, bytes)
    }

    /// How long [`PacketSocket::recv_batch`] waits for a first datagram (`SO_RCVTIMEO`);
    /// `None` waits for ever.
    pub fn set_receive_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// Receives one datagram with its arrival facts.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let fd = match self.readable.get() {
            Some(fd) => fd,
            None => {
                let dup = self.socket.try_clone()?;
                // SAFETY: `dup` owns its descriptor, which stays open and the same
                // until the AsyncFd (its owner) is dropped.
                let fd = unsafe {
                    tokio::io::unix::AsyncFd::register_with_interest(
                        dup,
                        tokio::io::Interest::READABLE,
                    )
                }?;
                // Another caller may have won the race; either registration works.
                let _ = self.readable.set(fd);
                self.readable.get().expect("set just above")
            }
        };
        loop {
            let mut ready = fd.readable().await?;
            match ready.try_io(|_| self.recv_now(buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// One `recvmsg` that does not wait.
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<Received> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
        let mut iov = [io::IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
        let msg = recvmsg::<SockaddrIn>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let source = msg
            .address
            .map(|a| SocketAddrV4::new(a.ip(), a.port()))
            .unwrap_or_else(|| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        let mut info = None;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::Ipv4PacketInfo(pi) = c {
                info = Some(pi);
            }
        }
        let pi = info.ok_or_else(|| io::Error::other("datagram without IP_PKTINFO"))?;
        Ok(received(msg.bytes, source, &pi))
    }

    /// Sends `buf` to `dest` out of interface `ifindex` with source address `source`,
    /// waiting (a millisecond at a time) while the send buffer is full.
    pub async fn send(
        &self,
        buf: &[u8],
        dest: SocketAddrV4,
        ifindex: u32,
        source: Ipv4Addr,
    ) -> io::Result<()> {
        // Not registered for writability: being woken for every datagram that
        // leaves would cost more than this rare wait. A socket that takes nothing
        // for a second is given up on (a DHCP or TFTP client retransmits).
        for _ in 0..1000 {
            match self.try_send(buf, dest, ifindex, source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await
                }
                other => return other,
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "send buffer stayed full for a second",
        ))
    }

    /// Like [`PacketSocket::send`], without waiting: `WouldBlock` when the socket
    /// cannot take the datagram now. Callable from any thread. Saves a task hop where
    /// latency matters (the first DHCP offer to arrive wins).
    pub fn try_send(
        &self,
        buf: &[u8],
        dest: SocketAddrV4,
        ifindex: u32,
        source: Ipv4Addr,
    ) -> io::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn};
        let pi = pktinfo(ifindex, source);
        let to = SockaddrIn::from(dest);
        sendmsg(
            self.socket.as_raw_fd(),
            &[io::IoSlice::new(buf)],
            &[ControlMessage::Ipv4PacketInfo(&pi)],
            MsgFlags::MSG_DONTWAIT,
            Some(&to),
        )
        .map_err(io::Error::from)
        .map(|_| ())
    }

    /// Blocks until at least one datagram arrives or the receive timeout passes, then
    /// takes as many as are queued, up to the batch's capacity, with one `recvmmsg`.
    /// Returns how many datagrams `batch` now holds (0 after a timeout or a signal).
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.received.clear();
        let slots = batch.headers.len();
        // Raw pointers from the start: the headers keep them across the loop.
        let data = batch.data.as_mut_ptr();
        let names = batch.names.as_mut_ptr();
        let controls = batch.controls.as_mut_ptr();
        let iovecs = batch.iovecs.as_mut_ptr();
        let headers = batch.headers.as_mut_ptr();
        for i in 0..slots {
            // SAFETY: each vector has `slots` elements (`data` `slots * DATAGRAM_MAX`
            // bytes), so every pointer formed here is in bounds; nothing else
            // borrows them meanwhile.
            unsafe {
                iovecs.add(i).write(libc::iovec {
                    iov_base: data.add(i * DATAGRAM_MAX).cast(),
                    iov_len: DATAGRAM_MAX,
                });
                point_header(
                    &mut *headers.add(i),
                    names.add(i),
                    iovecs.add(i),
                    controls.add(i),
                    std::mem::size_of::<ControlBuf>(),
                );
            }
        }
        // SAFETY: every header points into `batch`'s buffers (name, one iovec, control
        // space) with the lengths set just above; those buffers are not touched until
        // the call returns. MSG_WAITFORONE: block for the first datagram only.
        let rc = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                headers,
                slots as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        for slot in 0..rc as usize {
            let header = &batch.headers[slot];
            let name = &batch.names[slot];
            let source = match name.sin_family as libc::c_int {
                libc::AF_INET => SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr)),
                    u16::from_be(name.sin_port),
                ),
                _ => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            };
            // SAFETY: the kernel filled the control buffer and set msg_controllen; the
            // CMSG_* macros stay within it.
            let info = unsafe { find_pktinfo(&header.msg_hdr) };
            match info {
                Some(pi) => {
                    let len = (header.msg_len as usize).min(DATAGRAM_MAX);
                    batch.received.push((slot, received(len, source, &pi)));
                }
                None => batch.unusable += 1,
            }
        }
        Ok(batch.received.len())
    }

    /// Sends every datagram of `batch` with as few `sendmmsg` calls as the kernel
    /// allows, each from its own source address and interface (see
    /// [`PacketSocket::send`]), and empties it. A datagram the kernel refuses, or
    /// cannot take within 200 ms, is handed to `failed` with the error; the rest are
    /// still sent.
    pub fn send_batch(&self, batch: &mut SendBatch, mut failed: impl FnMut(&Datagram, io::Error)) {
        let count = batch.datagrams.len();
        batch.prepare();
        let mut next = 0;
        // Waits for buffer room since the last progress: bounded, so a socket that
        // claims room and still refuses cannot keep the thread here.
        let mut waits = 0;
        while next < count {
            // SAFETY: `prepare` pointed every header at `batch`'s own buffers (bytes of
            // the datagram, address, control message with its length), which stay
            // untouched until the call returns.
            let rc = unsafe {
                libc::sendmmsg(
                    self.socket.as_raw_fd(),
                    batch.headers[next..count].as_mut_ptr(),
                    (count - next) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc > 0 {
                next += rc as usize;
                waits = 0;
                continue;
            }
            // The first datagram of the rest failed (rc is never 0 for vlen > 0).
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if waits < 5 && self.wait_writable() => {
                    waits += 1;
                    continue;
                }
                _ => {
                    failed(&batch.datagrams[next], err);
                    next += 1;
                    waits = 0;
                }
            }
        }
        batch.datagrams.clear();
    }

    /// Waits up to [`SEND_WAIT_MS`] for room in the send buffer.
    fn wait_writable(&self) -> bool {
        let mut fd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, count 1.
        let rc = unsafe { libc::poll(&mut fd, 1, SEND_WAIT_MS) };
        rc > 0 && fd.revents & libc::POLLOUT != 0
    }
}

/// Points one `mmsghdr` at its address, its single iovec and `control_len` bytes
/// of control space, and clears its lengths and flags.
///
/// # Safety
/// The three pointers must stay valid (and unborrowed elsewhere) until the
/// `recvmmsg`/`sendmmsg` call that uses `header` returns; `control` must hold at
/// least `control_len` bytes.
pub(super) unsafe fn point_header(
    header: &mut libc::mmsghdr,
    name: *mut libc::sockaddr_in,
    iovec: *mut libc::iovec,
    control: *mut ControlBuf,
    control_len: usize,
) {
    header.msg_len = 0;
    let msg = &mut header.msg_hdr;
    msg.msg_name = name.cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = iovec;
    msg.msg_iovlen = 1;
    msg.msg_control = control.cast();
    msg.msg_controllen = control_len as _;
    msg.msg_flags = 0;
}

/// The `IP_PKTINFO` that sends from `source` out of `ifindex` (0: as routed).
pub(super) fn pktinfo(ifindex: u32, source: Ipv4Addr) -> libc::in_pktinfo {
    libc::in_pktinfo {
        ipi_ifindex: ifindex as libc::c_int,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(source).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    }
}

pub(super) fn received(len: usize, source: SocketAddrV4, pi: &libc::in_pktinfo) -> Received {
    Received {
        len,
        source,
        ifindex: pi.ipi_ifindex as u32,
        local: Ipv4Addr::from(u32::from_be(pi.ipi_spec_dst.s_addr)),
        destination: Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr)),
    }
}

/// The `IP_PKTINFO` control message of a received message, if there is one.
///
/// # Safety
/// `msg.msg_control` must point to `msg.msg_controllen` readable bytes of control
/// messages as the kernel wrote them.
pub(super) unsafe fn find_pktinfo(msg: &libc::msghdr) -> Option<libc::in_pktinfo> {
    let mut cmsg = libc::CMSG_FIRSTHDR(msg);
    while !cmsg.is_null() {
        let c = &*cmsg;
        if c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_PKTINFO {
            return Some(std::ptr::read_unaligned(
                libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>(),
            ));
        }
        cmsg = libc::CMSG_NXTHDR(msg, cmsg);
    }
    None
}

/// Room for one message's control data (`IP_PKTINFO` needs 32 bytes), aligned for
/// `cmsghdr`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub(super) struct ControlBuf([u8; 64]);

/// Buffers for up to `capacity` datagrams and their arrival facts, filled by
/// [`PacketSocket::recv_batch`] and reused from one call to the next.
pub struct RecvBatch {
    data: Vec<u8>,
    names: Vec<libc::sockaddr_in>,
    controls: Vec<ControlBuf>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// (slot in `data`, what arrived there) for each usable datagram of the last call.
    received: Vec<(usize, Received)>,
    /// Datagrams received without `IP_PKTINFO` (none expected), since the start.
    unusable: u64,
}

impl RecvBatch {
    /// Room for `capacity` datagrams of up to [`DATAGRAM_MAX`] bytes each.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // SAFETY: sockaddr_in, iovec and mmsghdr are plain C structs for which all
        // zeroes (null pointers, zero lengths) is a valid value.
        let (name, iovec, header) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed(), std::mem::zeroed()) };
        RecvBatch {
            data: vec![0; capacity * DATAGRAM_MAX],
            names: vec![name; capacity],
            controls: vec![ControlBuf([0; 64]); capacity],
            iovecs: vec![iovec; capacity],
            headers: vec![header; capacity],
            received: Vec::with_capacity(capacity),
            unusable: 0,
        }
    }

    /// The datagrams of the last [`PacketSocket::recv_batch`], in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Received)> + '_ {
        self.received.iter().map(|&(slot, rx)| {
            let start = slot * DATAGRAM_MAX;
            (&self.data[start..start + rx.len], rx)
        })
    }

    /// How many datagrams came without `IP_PKTINFO` and were dropped, in all.
    pub fn unusable(&self) -> u64 {
        self.unusable
    }
}

/// One datagram to send: where to, out of which interface (0: as routed), from
/// which source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The payload.
    pub bytes: Vec<u8>,
    /// Where to.
    pub dest: SocketAddrV4,
    /// The interface to leave through, 0 to follow the routing table.
    pub ifindex: u32,
    /// The source address.
    pub source: Ipv4Addr,
}

/// Datagrams waiting for [`PacketSocket::send_batch`], with the buffers the call
/// needs, reused from one batch to the next.
#[derive(Default)]
pub struct SendBatch {
    datagrams: Vec<Datagram>,
    names: Vec<libc::sockaddr_in>,
    controls: Vec<ControlBuf>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl SendBatch {
    /// An empty batch.
    pub fn new() -> Self {
        SendBatch::default()
    }

    /// Adds a datagram.
    pub fn push(&mut self, datagram: Datagram) {
        self.datagrams.push(datagram);
    }

    /// How many datagrams wait.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Fills the headers for `sendmmsg`, one per datagram.
    fn prepare(&mut self) {
        let count = self.datagrams.len();
        // SAFETY: as in `RecvBatch::new`, all zeroes is valid for these C structs.
        let (name, iovec, header) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed(), std::mem::zeroed()) };
        self.names.resize(count, name);
        self.controls.resize(count, ControlBuf([0; 64]));
        self.iovecs.resize(count, iovec);
        self.headers.resize(count, header);
        // SAFETY: CMSG_SPACE/CMSG_LEN only compute sizes.
        let (space, len) = unsafe {
            let size = std::mem::size_of::<libc::in_pktinfo>() as libc::c_uint;
            (
                libc::CMSG_SPACE(size) as usize,
                libc::CMSG_LEN(size) as usize,
            )
        };
        assert!(space <= std::mem::size_of::<ControlBuf>());
        let names = self.names.as_mut_ptr();
        let controls = self.controls.as_mut_ptr();
        let iovecs = self.iovecs.as_mut_ptr();
        let headers = self.headers.as_mut_ptr();
        for (i, datagram) in self.datagrams.iter().enumerate() {
            // SAFETY: every vector was just sized to `count` > i elements, and nothing
            // else borrows them meanwhile. sendmmsg only reads through `iov_base`.
            let msg = unsafe {
                names.add(i).write(libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: datagram.dest.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*datagram.dest.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                });
                iovecs.add(i).write(libc::iovec {
                    iov_base: datagram.bytes.as_ptr() as *mut libc::c_void,
                    iov_len: datagram.bytes.len(),
                });
                let header = &mut *headers.add(i);
                point_header(header, names.add(i), iovecs.add(i), controls.add(i), space);
                &mut header.msg_hdr
            };
            // SAFETY: msg_control points to `space` writable, aligned bytes, enough for
            // one cmsghdr and an in_pktinfo (checked above).
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(msg);
                (*cmsg).cmsg_len = len as _;
                (*cmsg).cmsg_level = libc::IPPROTO_IP;
                (*cmsg).cmsg_type = libc::IP_PKTINFO;
                std::ptr::write_unaligned(
                    libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>(),
                    pktinfo(datagram.ifindex, datagram.source),
                );
            }
        }
    }
}

#[cfg(test)]
mod packet_socket_tests {
    use super::*;
    use crate::net::interface_index;

    #[tokio::test]
    async fn pktinfo_reports_interface_and_local_address() {
        let server = PacketSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"hello", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 64];
        let got = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..got.len], b"hello");
        assert_eq!(got.ifindex, interface_index("lo").unwrap());
        assert_eq!(got.local, Ipv4Addr::LOCALHOST);
        assert_eq!(got.destination, Ipv4Addr::LOCALHOST);
        let client_addr = match client.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        assert_eq!(got.source, client_addr);
        server
            .send(b"back", got.source, got.ifindex, got.local)
            .await
            .unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"back");
        assert_eq!(from.port(), port);
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::net::interface_index;
    use std::time::{Duration, Instant};

    fn v4(addr: std::net::SocketAddr) -> SocketAddrV4 {
        match addr {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        }
    }

    /// A socket on 127.0.0.1 with receive timeout `timeout`, and its port.
    fn loopback_server(timeout: Option<Duration>) -> (PacketSocket, u16) {
        let server = PacketSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        if timeout.is_some() {
            server.set_receive_timeout(timeout).unwrap();
        }
        let port = server.local_addr().unwrap().port();
        (server, port)
    }

    #[test]
    fn recvmmsg_takes_queued_datagrams_in_one_batch() {
        let (server, port) = loopback_server(Some(Duration::from_secs(2)));
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for i in 0..5u8 {
            let client = &clients[usize::from(i) % clients.len()];
            client.send_to(&[i; 10], ("127.0.0.1", port)).unwrap();
        }
        // Longer than a slot: cut to DATAGRAM_MAX, as recvmsg would.
        clients[0]
            .send_to(&[9; DATAGRAM_MAX + 100], ("127.0.0.1", port))
            .unwrap();
        let mut batch = RecvBatch::new(8);
        assert_eq!(server.recv_batch(&mut batch).unwrap(), 6);
        let lo = interface_index("lo").unwrap();
        for (i, (bytes, rx)) in batch.iter().enumerate() {
            let client = &clients[if i < 5 { i % clients.len() } else { 0 }];
            if i < 5 {
                assert_eq!(bytes, &[i as u8; 10]);
            } else {
                assert_eq!(bytes.len(), DATAGRAM_MAX);
            }
            assert_eq!(rx.len, bytes.len());
            assert_eq!(rx.source, v4(client.local_addr().unwrap()));
            assert_eq!(rx.ifindex, lo);
            assert_eq!(rx.local, Ipv4Addr::LOCALHOST);
            assert_eq!(rx.destination, Ipv4Addr::LOCALHOST);
        }
        assert_eq!(batch.unusable(), 0);
    }

    #[test]
    fn recvmmsg_takes_at_most_its_capacity_and_times_out_empty() {
        let (server, port) = loopback_server(Some(Duration::from_millis(50)));
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            client.send_to(&[i], ("127.0.0.1", port)).unwrap();
        }
        let mut batch = RecvBatch::new(2);
        let mut got = Vec::new();
        for expected in [2, 2, 1] {
            assert_eq!(server.recv_batch(&mut batch).unwrap(), expected);
            got.extend(batch.iter().map(|(bytes, _)| bytes[0]));
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        let started = Instant::now();
        assert_eq!(server.recv_batch(&mut batch).unwrap(), 0);
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert_eq!(batch.iter().count(), 0);
    }

    #[test]
    fn sendmmsg_sends_every_datagram_from_its_source() {
        let (server, port) = loopback_server(None);
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let lo = interface_index("lo").unwrap();
        let mut batch = SendBatch::new();
        for (i, to) in [&a, &b, &a].into_iter().enumerate() {
            batch.push(Datagram {
                bytes: vec![i as u8; 300 + i],
                dest: v4(to.local_addr().unwrap()),
                ifindex: if i == 1 { lo } else { 0 },
                source: Ipv4Addr::LOCALHOST,
            });
        }
        // Port 0 is refused by the kernel; the others still go.
        batch.push(Datagram {
            bytes: vec![7; 10],
            dest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            ifindex: 0,
            source: Ipv4Addr::LOCALHOST,
        });
        batch.push(Datagram {
            bytes: vec![3; 303],
            dest: v4(b.local_addr().unwrap()),
            ifindex: 0,
            source: Ipv4Addr::LOCALHOST,
        });
        let mut failed = Vec::new();
        server.send_batch(&mut batch, |d, err| failed.push((d.dest, err.kind())));
        assert!(batch.is_empty());
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0.port(), 0);
        let mut buf = [0u8; 1500];
        for (socket, expected) in [(&a, [0u8, 2]), (&b, [1, 3])] {
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            for e in expected {
                let (n, from) = socket.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..n], &vec![e; 300 + usize::from(e)][..]);
                assert_eq!(v4(from), SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
            }
        }
    }

    #[test]
    fn try_send_works_from_a_plain_thread() {
        let server = PacketSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = v4(client.local_addr().unwrap());
        std::thread::spawn(move || server.try_send(b"hi", to, 0, Ipv4Addr::LOCALHOST))
            .join()
            .unwrap()
            .unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 8];
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
    }

    #[test]
    fn receive_buffer_grows() {
        use nix::sys::socket::{getsockopt, setsockopt, sockopt};
        let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // More than rmem_max: only SO_RCVBUFFORCE gets all of it.
        let ask = rmem_max * 2 + 4096;
        // Whether the kernel lets this process force a size, asked on a
        // socket of its own.
        let scratch = PacketSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        let may_force = setsockopt(&scratch.socket, sockopt::RcvBufForce, &ask).is_ok();
        let server = PacketSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        let before = getsockopt(&server.socket, sockopt::RcvBuf).unwrap();
        let got = server.set_receive_buffer(ask).unwrap().bytes;
        // The kernel reports twice what it granted: all of it when forced,
        // else what rmem_max allows.
        let want = if may_force { 2 * ask } else { 2 * rmem_max };
        assert_eq!(
            got, want,
            "asked {ask}, rmem_max {rmem_max}, may force: {may_force}, before {before}"
        );
        assert_eq!(getsockopt(&server.socket, sockopt::RcvBuf).unwrap(), got);
    }
}
