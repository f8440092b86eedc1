//! A DHCP client socket in a lab namespace ([`DhcpClient`]): sends one request,
//! retransmits it if asked, and returns the matching reply with where it came
//! from and when. The tests that need to see a reply's source address, time a
//! reply, or stop between OFFER and REQUEST use it; the packets come from
//! [`bootherd_proto::emulate`] (firmware) or [`owned_discover`] /
//! [`owned_request`] (a plain client of bootherd's DHCP server).

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use bootherd_proto::wire::dhcp::{code, DhcpPacket, MessageType, FLAG_BROADCAST};
use socket2::{Domain, Protocol, Socket, Type};

use crate::dhcp_lab::{in_netns, join};

/// A UDP socket in a lab namespace, bound to one interface.
pub struct DhcpClient {
    socket: UdpSocket,
}

/// A reply [`DhcpClient::exchange`] received.
#[derive(Debug, Clone)]
pub struct Answer {
    pub packet: DhcpPacket,
    /// Who sent it (source address and port of the datagram).
    pub from: SocketAddrV4,
    /// When the request was first sent.
    pub first_sent: SystemTime,
    /// When the reply came.
    pub received: SystemTime,
    /// `received` minus `first_sent`, on the monotonic clock.
    pub after_first: Duration,
}

impl DhcpClient {
    /// A socket in namespace `ns` bound to `bind` (`0.0.0.0:68`, or one of the
    /// namespace's addresses) on interface `iface`, allowed to broadcast.
    /// `SO_REUSEADDR` lets sockets on other addresses share the port.
    pub fn open(ns: &str, iface: &str, bind: SocketAddrV4) -> DhcpClient {
        let iface = iface.to_string();
        let socket = join(in_netns(ns, move || {
            let socket =
                Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
            socket.set_reuse_address(true).unwrap();
            socket.set_broadcast(true).unwrap();
            socket
                .bind_device(Some(iface.as_bytes()))
                .unwrap_or_else(|e| panic!("SO_BINDTODEVICE {iface}: {e}"));
            socket
                .bind(&bind.into())
                .unwrap_or_else(|e| panic!("bind {bind} on {iface}: {e}"));
            UdpSocket::from(socket)
        }));
        DhcpClient { socket }
    }

    /// Sends `request` to `to`, again every `resend` (never, when `None`), until
    /// a reply with its xid and MAC arrives or `patience` has passed.
    pub fn exchange(
        &self,
        request: &DhcpPacket,
        to: SocketAddrV4,
        resend: Option<Duration>,
        patience: Duration,
    ) -> Option<Answer> {
        let bytes = request.emit();
        let start = Instant::now();
        let first_sent = SystemTime::now();
        // A send can fail while nothing answers ARP; the resend covers it.
        let _ = self.socket.send_to(&bytes, to);
        let mut next_send = resend.map(|r| start + r);
        let mut buf = [0u8; 1500];
        loop {
            let now = Instant::now();
            if now >= start + patience {
                return None;
            }
            if let Some(at) = next_send.filter(|at| now >= *at) {
                let _ = self.socket.send_to(&bytes, to);
                next_send = resend.map(|r| at + r);
            }
            let wait = next_send
                .unwrap_or(start + patience)
                .min(start + patience)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            self.socket.set_read_timeout(Some(wait)).unwrap();
            let Ok((n, from)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let received = SystemTime::now();
            let after_first = start.elapsed();
            let Ok(packet) = DhcpPacket::parse(&buf[..n]) else {
                continue;
            };
            if packet.op != 2 || packet.xid != request.xid || packet.mac() != request.mac() {
                continue;
            }
            let std::net::SocketAddr::V4(from) = from else {
                continue;
            };
            return Some(Answer {
                packet,
                from,
                first_sent,
                received,
                after_first,
            });
        }
    }
}

/// Where DHCP requests are broadcast.
pub const BROADCAST_67: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);

/// A plain client's DISCOVER (broadcast flag, client id, no vendor class).
pub fn owned_discover(mac: [u8; 6], xid: u32) -> DhcpPacket {
    let mut p = DhcpPacket {
        xid,
        flags: FLAG_BROADCAST,
        ..DhcpPacket::default()
    };
    p.chaddr[..6].copy_from_slice(&mac);
    p.set_option(code::MESSAGE_TYPE, [MessageType::Discover.code()]);
    let mut client_id = vec![1];
    client_id.extend_from_slice(&mac);
    p.set_option(code::CLIENT_ID, client_id);
    p.set_option(code::PARAMETER_REQUEST_LIST, [1u8, 3, 6, 51, 54]);
    p
}

/// The REQUEST of a client SELECTING `offer` (options 50 and 54).
pub fn owned_request(mac: [u8; 6], xid: u32, offer: &DhcpPacket) -> DhcpPacket {
    let mut p = owned_discover(mac, xid);
    p.set_option(code::MESSAGE_TYPE, [MessageType::Request.code()]);
    p.set_option(code::REQUESTED_IP, offer.yiaddr.octets());
    if let Some(server) = offer.server_id() {
        p.set_option(code::SERVER_ID, server.octets());
    }
    p
}
