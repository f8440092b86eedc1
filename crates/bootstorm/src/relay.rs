//! The boards' DHCP goes through one relay (RFC 1542), as perfdhcp and dhcpload
//! do: a board's packet leaves from `RELAY:67` with `giaddr = RELAY` and `hops = 1`,
//! and every server answers to `RELAY:67`. One socket serves all boards; a
//! receiving thread hands each answer to the board whose `xid` it carries. The
//! packets themselves are the firmware's own (`bootherd_proto::emulate`).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

use bootherd_proto::emulate::{self, Identity, Reply};
use bootherd_proto::wire::dhcp::{DhcpPacket, SERVER_PORT};

/// Receive buffer: a storm's answers arrive in bursts.
const RECEIVE_BUFFER: libc::c_int = 8 << 20;

pub struct Relay {
    socket: UdpSocket,
    addr: Ipv4Addr,
    boards: Mutex<HashMap<u32, Sender<Reply>>>,
}

impl Relay {
    /// Binds `addr:67`.
    pub fn bind(addr: Ipv4Addr) -> io::Result<Relay> {
        let socket = UdpSocket::bind(SocketAddrV4::new(addr, SERVER_PORT))?;
        // SAFETY: setsockopt with a valid int option value and its size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&RECEIVE_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Relay {
            socket,
            addr,
            boards: Mutex::new(HashMap::new()),
        })
    }

    /// The answers for transaction `xid` from now on.
    pub fn register(&self, xid: u32) -> Receiver<Reply> {
        let (tx, rx) = channel();
        self.boards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(xid, tx);
        rx
    }

    /// Relays `packet` of `machine` to `server:67`.
    pub fn send(
        &self,
        machine: &Identity,
        packet: &DhcpPacket,
        server: Ipv4Addr,
    ) -> io::Result<()> {
        let mut packet = packet.clone();
        packet.giaddr = self.addr;
        packet.hops = 1;
        let bytes = emulate::wire_bytes(machine, &packet);
        self.socket
            .send_to(&bytes, SocketAddrV4::new(server, SERVER_PORT))
            .map(|_| ())
    }

    /// Hands answers to their boards until `stop`.
    pub fn run(&self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(packet) = DhcpPacket::parse(&buf[..len]) else {
                continue;
            };
            let std::net::SocketAddr::V4(from) = from else {
                continue;
            };
            let boards = self.boards.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(board) = boards.get(&packet.xid) {
                let _ = board.send(Reply {
                    source: *from.ip(),
                    packet,
                });
            }
        }
    }
}
