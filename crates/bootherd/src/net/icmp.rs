//! ICMP echo, for the DHCP server's check that an address is free.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

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
            Err(_) => {
                tracing::debug!(%ip, raw, "icmp check: no echo reply in time");
                return Ok(false);
            }
            Ok(Ok(n)) => {
                let icmp = if raw {
                    let header = usize::from(buf[0] & 0x0f) * 4;
                    buf.get(header..n).unwrap_or(&[])
                } else {
                    &buf[..n]
                };
                // Type 0 = echo reply; anything else (errors) does not prove a host.
                if icmp.first() == Some(&0) {
                    tracing::debug!(%ip, raw, "icmp check: echo reply");
                    return Ok(true);
                }
            }
            // Host unreachable and the like: nobody there.
            Ok(Err(err)) => {
                tracing::debug!(%ip, %err, raw, "icmp check: receive error");
                return Ok(false);
            }
        }
    }
}

/// The Internet checksum (RFC 1071) of an ICMP message whose checksum field is 0.
pub(super) fn icmp_checksum(data: &[u8]) -> u16 {
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
mod tests {
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
