//! Host network facts the services need: which IPv4 addresses to listen on, and path MTUs.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use crate::config::NetConfig;

/// One IPv4 address of a local interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// Interface name, such as `eth0`.
    pub interface: String,
    /// The address.
    pub addr: Ipv4Addr,
}

/// Every IPv4 address of every interface that is up, in the kernel's order.
pub fn ipv4_addresses() -> io::Result<Vec<LocalAddr>> {
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        if !ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(sin) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            continue;
        };
        let local = LocalAddr {
            interface: ifa.interface_name.clone(),
            addr: sin.ip(),
        };
        if !out.contains(&local) {
            out.push(local);
        }
    }
    Ok(out)
}

/// The addresses to serve on, from the `[net]` settings and the host's interfaces.
///
/// Explicit `listen` addresses are used as given (binding fails later if one is not
/// local); otherwise every address of the chosen interfaces (all, by default).
pub fn listen_addresses(net: &NetConfig) -> io::Result<Vec<Ipv4Addr>> {
    if !net.listen.is_empty() {
        return Ok(net.listen.clone());
    }
    let all = ipv4_addresses()?;
    let chosen: Vec<Ipv4Addr> = all
        .iter()
        .filter(|a| net.interfaces.is_empty() || net.interfaces.contains(&a.interface))
        .map(|a| a.addr)
        .collect();
    if chosen.is_empty() {
        let what = if net.interfaces.is_empty() {
            "this host has no interface with an IPv4 address".to_string()
        } else {
            format!(
                "no IPv4 address on interface(s) {}",
                net.interfaces.join(", ")
            )
        };
        return Err(io::Error::new(io::ErrorKind::NotFound, what));
    }
    Ok(chosen)
}

/// The MTU of the route a connected socket uses (`IP_MTU`), if the kernel tells.
pub fn path_mtu(socket: &impl AsRawFd) -> Option<u32> {
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `mtu` and `len` are valid for writes of the sizes passed; the fd is open
    // for the duration of the borrow.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU,
            (&mut mtu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0 && mtu > 0).then_some(mtu as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let addrs = ipv4_addresses().unwrap();
        assert!(addrs.iter().any(|a| a.addr == Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn explicit_listen_wins() {
        let net = NetConfig {
            interfaces: vec!["does-not-exist".into()],
            listen: vec![Ipv4Addr::LOCALHOST],
        };
        assert_eq!(listen_addresses(&net).unwrap(), [Ipv4Addr::LOCALHOST]);
    }

    #[test]
    fn unknown_interface_is_an_error() {
        let net = NetConfig {
            interfaces: vec!["does-not-exist0".into()],
            listen: vec![],
        };
        assert!(listen_addresses(&net).is_err());
    }

    #[test]
    fn loopback_mtu_is_known() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect("127.0.0.1:9").unwrap();
        assert!(path_mtu(&s).unwrap() >= 1500);
    }
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

/// A UDP socket bound to a wildcard address that reports, for each datagram, the
/// interface and local address it arrived on (`IP_PKTINFO`), and sends from a chosen
/// interface and source address. DHCP needs this: requests are broadcasts, and a
/// Raspberry Pi fetches from whatever address the reply came from.
#[derive(Debug)]
pub struct PacketSocket {
    inner: tokio::net::UdpSocket,
}

impl PacketSocket {
    /// Binds `addr` with `IP_PKTINFO` and `SO_BROADCAST` set.
    pub fn bind(addr: SocketAddrV4) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_broadcast(true)?;
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv4PacketInfo, &true)
            .map_err(io::Error::from)?;
        socket.set_nonblocking(true)?;
        Ok(PacketSocket {
            inner: tokio::net::UdpSocket::from_std(socket)?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }

    /// Receives one datagram with its arrival facts.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
        loop {
            self.inner.readable().await?;
            let result = self.inner.try_io(tokio::io::Interest::READABLE, || {
                let mut iov = [io::IoSliceMut::new(buf)];
                let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
                let msg = recvmsg::<SockaddrIn>(
                    self.inner.as_raw_fd(),
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
                Ok(Received {
                    len: msg.bytes,
                    source,
                    ifindex: pi.ipi_ifindex as u32,
                    local: Ipv4Addr::from(u32::from_be(pi.ipi_spec_dst.s_addr)),
                    destination: Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr)),
                })
            });
            match result {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Sends `buf` to `dest` out of interface `ifindex` with source address `source`.
    pub async fn send(
        &self,
        buf: &[u8],
        dest: SocketAddrV4,
        ifindex: u32,
        source: Ipv4Addr,
    ) -> io::Result<()> {
        loop {
            match self.try_send(buf, dest, ifindex, source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.inner.writable().await?,
                other => return other,
            }
        }
    }

    /// Like [`PacketSocket::send`], without waiting: `WouldBlock` when the socket
    /// cannot take the datagram now. Saves a task hop where latency matters (the
    /// first DHCP offer to arrive wins).
    pub fn try_send(
        &self,
        buf: &[u8],
        dest: SocketAddrV4,
        ifindex: u32,
        source: Ipv4Addr,
    ) -> io::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn};
        let pi = libc::in_pktinfo {
            ipi_ifindex: ifindex as libc::c_int,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(source).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        let to = SockaddrIn::from(dest);
        self.inner
            .try_io(tokio::io::Interest::WRITABLE, || {
                sendmsg(
                    self.inner.as_raw_fd(),
                    &[io::IoSlice::new(buf)],
                    &[ControlMessage::Ipv4PacketInfo(&pi)],
                    MsgFlags::MSG_DONTWAIT,
                    Some(&to),
                )
                .map_err(io::Error::from)
            })
            .map(|_| ())
    }
}

/// The index of interface `name`, if it exists.
pub fn interface_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

#[cfg(test)]
mod packet_socket_tests {
    use super::*;

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

/// Whether something answers ICMP echo at `ip` within `wait` (a DHCP server's check
/// that an address is free before offering it). Uses a ping socket where
/// `net.ipv4.ping_group_range` allows one, else a raw socket (root or CAP_NET_RAW).
/// `Err` when neither can be opened, so the caller can say so once.
pub async fn icmp_in_use(ip: Ipv4Addr, wait: std::time::Duration) -> io::Result<bool> {
    use socket2::{Domain, Protocol, Socket, Type};
    let open = |ty| -> io::Result<Socket> {
        let socket = Socket::new(Domain::IPV4, ty, Some(Protocol::ICMPV4))?;
        socket.set_nonblocking(true)?;
        // Connected: the kernel passes up only packets from `ip`.
        socket.connect(&SocketAddrV4::new(ip, 0).into())?;
        Ok(socket)
    };
    // A ping socket gets only replies to its own echoes, without the IP header; a raw
    // socket gets every ICMP packet from `ip`, with the IP header.
    let (socket, raw) = match open(Type::DGRAM) {
        Ok(s) => (s, false),
        Err(_) => (open(Type::RAW)?, true),
    };
    let socket = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
    let id = (std::process::id() as u16).to_be_bytes();
    let mut echo = [8u8, 0, 0, 0, id[0], id[1], 0, 1, b'b', b'h', b'd', b'p'];
    let sum = icmp_checksum(&echo);
    echo[2..4].copy_from_slice(&sum.to_be_bytes());
    socket.send(&echo).await?;
    let mut buf = [0u8; 1500];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => return Ok(false),
            Ok(Ok(n)) => {
                let icmp = if raw {
                    let header = usize::from(buf[0] & 0x0f) * 4;
                    buf.get(header..n).unwrap_or(&[])
                } else {
                    &buf[..n]
                };
                // Type 0 = echo reply; anything else (errors) does not prove a host.
                if icmp.first() == Some(&0) {
                    return Ok(true);
                }
            }
            // Host unreachable and the like: nobody there.
            Ok(Err(_)) => return Ok(false),
        }
    }
}

/// The Internet checksum (RFC 1071) of an ICMP message whose checksum field is 0.
fn icmp_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod icmp_tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc_1071_example() {
        // Echo request, id 0x1234, seq 1, no payload: checksum 0xe5ca.
        assert_eq!(icmp_checksum(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]), 0xe5ca);
    }

    #[tokio::test]
    async fn loopback_answers_echo() {
        match icmp_in_use(Ipv4Addr::LOCALHOST, std::time::Duration::from_secs(2)).await {
            Ok(in_use) => assert!(in_use, "127.0.0.1 did not answer ICMP echo"),
            // Not root and not in ping_group_range: nothing to test here.
            Err(err) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIP loopback_answers_echo: cannot open a ping socket: {err}")
            }
            Err(err) => panic!("cannot open a ping socket under CI: {err}"),
        }
    }
}
