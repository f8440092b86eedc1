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
