//! The DHCP sockets' front door: one OS thread per port takes batches of requests,
//! hands owned clients to the DHCP server and the rest to the proxy, and sends the
//! batch's immediate replies at once.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bootherd_proto::client::{classify, format_mac};
use bootherd_proto::proxy::{reply_destination, Destination};
use bootherd_proto::wire::dhcp::{DhcpPacket, CLIENT_PORT};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::dhcp::server::DhcpServer;
use crate::net::{Datagram, PacketSocket, Received, RecvBatch, SendBatch};

use super::*;

/// The receive buffer asked for on the DHCP sockets: a burst of thousands of
/// requests waits there while bootherd is not scheduled. Each small datagram
/// costs about 2 KiB of buffer (the kernel counts what it allocated), so 16 MiB
/// holds ~40 ms at 200,000 requests/s: on the benchmark VM, 4 MiB overflowed in
/// 20 ms scheduling stalls at 175,000/s while the server had CPU to spare. It is a
/// limit, not memory taken up front.
pub(super) const RECEIVE_BUFFER: usize = 16 << 20;

/// Datagrams taken from a socket with one `recvmmsg`.
pub(super) const BATCH: usize = 32;

/// How long a receive thread waits for a datagram before it looks whether it
/// should stop: the longest a dropped [`Service`] keeps its threads.
pub(super) const STOP_CHECK: Duration = Duration::from_millis(200);

/// Under load, how long a receive thread waits after a batch before it takes the
/// next one, so that one wake-up serves many requests instead of one: at 20,000
/// requests/s on the benchmark rig this halves the CPU time per answer. It delays the replies to requests
/// that arrive meanwhile by at most this much.
pub(super) const LOAD_PAUSE: Duration = Duration::from_micros(500);

/// Batches less than this apart count as load (see [`LOAD_PAUSE`]); slower traffic is
/// answered as soon as it arrives.
pub(super) const LOAD_GAP: Duration = Duration::from_millis(1);

/// When a receive thread pauses between batches (see [`LOAD_PAUSE`]).
#[derive(Debug, Default)]
pub(super) struct Pacing {
    pub(super) last_batch: Option<Instant>,
}

impl Pacing {
    /// After a batch of `received` requests taken at `now`: how long to wait before
    /// the next receive. No pause for the first batch after a quiet spell, nor after
    /// a full batch (more are waiting already).
    pub(super) fn pause_after(&mut self, received: usize, now: Instant) -> Option<Duration> {
        let busy = self
            .last_batch
            .is_some_and(|last| now.saturating_duration_since(last) < LOAD_GAP);
        self.last_batch = Some(now);
        (busy && received < BATCH).then_some(LOAD_PAUSE)
    }
}

/// Binds a wildcard DHCP socket on `port` and enlarges its receive buffer to
/// [`RECEIVE_BUFFER`] (as far as the kernel lets it).
pub fn bind(port: u16) -> anyhow::Result<PacketSocket> {
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let socket = PacketSocket::bind(addr).map_err(|e| crate::tftp::bind_error("DHCP", addr, e))?;
    match socket.set_receive_buffer(RECEIVE_BUFFER) {
        // The kernel reports twice what it grants, for its bookkeeping.
        Ok(got) if !got.forced && got.bytes < 2 * RECEIVE_BUFFER => info!(
            port,
            asked = RECEIVE_BUFFER,
            got = got.bytes / 2,
            "dhcp: receive buffer limited by net.core.rmem_max: SO_RCVBUFFORCE needs CAP_NET_ADMIN, so SO_RCVBUF applies (raise net.core.rmem_max for large bursts of requests)"
        ),
        Ok(got) => debug!(
            port,
            asked = RECEIVE_BUFFER,
            got = got.bytes,
            forced = got.forced,
            "dhcp: receive buffer (the kernel doubles the size asked, for its bookkeeping)"
        ),
        Err(err) => debug!(port, %err, "dhcp: cannot enlarge the receive buffer"),
    }
    Ok(socket)
}

/// Who answers on the DHCP sockets.
pub struct Responders {
    /// proxyDHCP for boot clients, if enabled.
    pub proxy: Option<Arc<Proxy>>,
    /// The DHCP server for owned clients, if enabled.
    pub server: Option<Arc<DhcpServer>>,
}

/// The running DHCP service: one OS thread per socket (`dhcp-67`, `dhcp-4011`).
/// Dropping it stops the threads within [`STOP_CHECK`].
pub struct Service {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) ended: mpsc::UnboundedReceiver<String>,
}

/// Starts answering on port 67 (and 4011 when given). Must be called from inside the
/// tokio runtime: delayed replies and the DHCP server's own work run on it.
pub fn start(
    dhcp: PacketSocket,
    pxe: Option<PacketSocket>,
    responders: Responders,
) -> std::io::Result<Service> {
    let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
    let responders = Arc::new(responders);
    let (ended_tx, ended) = mpsc::unbounded_channel();
    // Made first: if a later thread cannot start, dropping it stops the earlier ones.
    let service = Service {
        stop: Arc::new(AtomicBool::new(false)),
        ended,
    };
    for (socket, port) in [(Some(dhcp), Port::Dhcp), (pxe, Port::Pxe)] {
        let Some(socket) = socket else { continue };
        socket.set_receive_timeout(Some(STOP_CHECK))?;
        let name = format!("dhcp-{}", socket.local_addr()?.port());
        let receiver = Receiver {
            socket: Arc::new(socket),
            port,
            responders: responders.clone(),
            runtime: runtime.clone(),
            stop: service.stop.clone(),
        };
        let ended = Ended {
            name: name.clone(),
            tell: ended_tx.clone(),
        };
        std::thread::Builder::new().name(name).spawn(move || {
            let _ended = ended;
            receiver.run();
        })?;
    }
    Ok(service)
}

impl Service {
    /// Returns when a receive thread has ended, which only a panic (or
    /// [`Service::stop`]) makes it do.
    pub async fn wait(&mut self) {
        if let Some(name) = self.ended.recv().await {
            error!(thread = name, "dhcp: receive thread ended");
        }
    }

    /// Stops the receive threads and returns once they have ended (at most
    /// [`STOP_CHECK`] plus the request each may be handling), so no request is
    /// handled after it.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let ended = async { while self.ended.recv().await.is_some() {} };
        if tokio::time::timeout(STOP_CHECK * 5, ended).await.is_err() {
            warn!("dhcp: a receive thread did not stop in time");
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Tells the [`Service`] that its thread ended, normally or by a panic.
pub(super) struct Ended {
    pub(super) name: String,
    pub(super) tell: mpsc::UnboundedSender<String>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.tell.send(std::mem::take(&mut self.name));
    }
}

/// One socket's receive thread: takes a batch of requests with one `recvmmsg`,
/// handles each, and sends the batch's immediate proxy replies with one `sendmmsg`.
pub(super) struct Receiver {
    pub(super) socket: Arc<PacketSocket>,
    pub(super) port: Port,
    pub(super) responders: Arc<Responders>,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) stop: Arc<AtomicBool>,
}

impl Receiver {
    pub(super) fn run(self) {
        // The DHCP server spawns tokio tasks from `handle`.
        let _runtime = self.runtime.enter();
        let mut batch = RecvBatch::new(BATCH);
        let mut replies = SendBatch::new();
        let mut unusable = 0;
        let mut pacing = Pacing::default();
        // Beats at least every STOP_CHECK while the thread goes round.
        let heartbeat = crate::liveness::register(std::thread::current().name().unwrap_or("dhcp"));
        while !self.stop.load(Ordering::Relaxed) {
            heartbeat.beat();
            let pause = match self.socket.recv_batch(&mut batch) {
                Ok(0) => continue,
                Ok(n) => pacing.pause_after(n, Instant::now()),
                Err(err) => {
                    debug!(%err, "proxy: receive error");
                    continue;
                }
            };
            if batch.unusable() != unusable {
                unusable = batch.unusable();
                debug!("proxy: receive error: datagram without IP_PKTINFO");
            }
            for (bytes, rx) in batch.iter() {
                self.handle(bytes, rx, &mut replies);
            }
            if !replies.is_empty() {
                self.socket.send_batch(
                    &mut replies,
                    |datagram, err| warn!(dest = %datagram.dest, %err, "proxy: cannot send reply"),
                );
            }
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
        }
    }

    /// Handles one request; an immediate proxy reply goes into `replies`.
    pub(super) fn handle(&self, bytes: &[u8], rx: Received, replies: &mut SendBatch) {
        let packet = match DhcpPacket::parse(bytes) {
            Ok(p) if p.op == 1 => p,
            Ok(_) => return,
            Err(err) => {
                debug!(source = %rx.source, %err, "dhcp: malformed packet dropped");
                return;
            }
        };
        if let Some(server) = &self.responders.server {
            if self.port == Port::Dhcp && server.owns(&packet) {
                server.handle(&self.socket, &packet, rx);
                return;
            }
        }
        let Some(proxy) = &self.responders.proxy else {
            debug!(
                mac = %packet.mac().map_or_else(|| "-".into(), |m| format_mac(&m)),
                xid = format_args!("{:#010x}", packet.xid),
                kind = ?packet.message_type(),
                "dhcp: ignored: not an owned client, and the proxy is off"
            );
            return;
        };
        if !proxy.serves(&rx) {
            return;
        }
        let client = classify(&packet);
        let Some((reply, delay)) = proxy.decide(&packet, &client, self.port, rx.local) else {
            return;
        };
        let dest = match reply_destination(&packet, rx.source) {
            Destination::Relay(a) | Destination::Unicast(a) => a,
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
        };
        let datagram = Datagram {
            bytes: reply.emit(),
            dest,
            // Broadcasts leave through the interface the request came in on; unicasts
            // (relays, port 4011) follow the routing table but keep our source address.
            ifindex: if dest.ip().is_broadcast() {
                rx.ifindex
            } else {
                0
            },
            source: rx.local,
        };
        if delay.is_zero() {
            replies.push(datagram);
            return;
        }
        let Ok(permit) = proxy.pending.clone().try_acquire_owned() else {
            warn!("proxy: too many delayed replies pending; dropping one");
            return;
        };
        let socket = self.socket.clone();
        self.runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            let Datagram {
                bytes,
                dest,
                ifindex,
                source,
            } = &datagram;
            if let Err(err) = socket.send(bytes, *dest, *ifindex, *source).await {
                warn!(%dest, %err, "proxy: cannot send reply");
            }
            drop(permit);
        });
    }
}
