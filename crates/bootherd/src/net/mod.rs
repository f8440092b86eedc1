//! Host network facts the services need (which IPv4 addresses to listen on, path
//! MTUs) and [`PacketSocket`], the DHCP sockets' I/O: per-datagram interface and
//! address, batched receive and send (`recvmmsg`/`sendmmsg`); ICMP echo; and [`send_gathered`],
//! a TFTP window in one `sendmmsg`.
//!
//! The parts: `addrs.rs`, `packet_socket.rs`, `icmp.rs`, `gather_send.rs`.

mod addrs;
mod gather_send;
mod icmp;
mod packet_socket;

pub use addrs::*;
pub use gather_send::*;
pub use icmp::*;
pub use packet_socket::*;

/// Two loopback UDP sockets for tests: `(rx, tx)`, tx connected to rx, rx with a
/// 5 s receive timeout.
#[cfg(test)]
pub(crate) fn loopback_pair() -> (std::net::UdpSocket, std::net::UdpSocket) {
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.connect(rx.local_addr().unwrap()).unwrap();
    (rx, tx)
}
