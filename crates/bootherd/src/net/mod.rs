//! Host network facts the services need (which IPv4 addresses to listen on, path
//! MTUs) and [`PacketSocket`], the DHCP sockets' I/O: per-datagram interface and
//! address, batched receive and send (`recvmmsg`/`sendmmsg`); and ICMP echo.
//!
//! The parts: `addrs.rs`, `packet_socket.rs`, `icmp.rs`.

mod addrs;
mod icmp;
mod packet_socket;

pub use addrs::*;
pub use icmp::*;
pub use packet_socket::*;
