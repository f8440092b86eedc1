//! The DHCP service on UDP 67 and 4011: receive, then hand owned clients to the DHCP
//! server and everyone else to proxyDHCP, which classifies, asks the policy, builds
//! the reply with a pure function and sends it from the address the request came to.
//!
//! Each socket has its own OS thread that takes up to [`BATCH`] requests with one
//! `recvmmsg` and sends the batch's immediate proxy replies with one `sendmmsg`; no
//! tokio worker is woken per packet. Under load the thread pauses briefly between
//! batches ([`LOAD_PAUSE`]) so that a wake-up serves many requests. Delayed replies
//! (the Raspberry Pi 3 ROM's) wait on a tokio timer.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bootherd_proto::client::{classify, format_mac, Client, Firmware};
use bootherd_proto::proxy::{proxy_ack, proxy_offer, reply_destination, Destination};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, CLIENT_PORT};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, error, info, warn};

use arc_swap::ArcSwap;

use crate::config::{Config, ProxyConfig};
use crate::dhcp_server::DhcpServer;
use crate::inventory::{Kind, Scope};
use crate::net::{self, Datagram, PacketSocket, Received, RecvBatch, SendBatch};
use crate::policy::{self, Plan};
use crate::tree::LiveTree;
use crate::vfs::{clean_path, ClientInfo, FileSource};

/// Replies waiting out a reply delay at once; past it, delayed replies are dropped.
const MAX_PENDING_REPLIES: usize = 1024;

/// How long [`Proxy::exists`] trusts an answer: a boot file that appears or goes
/// away is noticed within this time.
const EXISTS_TTL: Duration = Duration::from_secs(1);

/// Past this many remembered answers, [`ExistsCache`] starts over (a bound against
/// clients that make the proxy look up many different paths).
const EXISTS_CACHE_MAX: usize = 4096;

/// Per path: when it was looked up and whether it existed.
type Lookups = HashMap<Box<str>, (Instant, bool)>;

/// Recent answers of [`Proxy::exists`], per (over HTTP, local address) and path.
#[derive(Debug, Default)]
struct ExistsCache {
    by_origin: HashMap<(bool, Ipv4Addr), Lookups>,
    entries: usize,
}

impl ExistsCache {
    /// The remembered answer, if it is younger than [`EXISTS_TTL`] at `now`.
    fn get(&self, over_http: bool, local: Ipv4Addr, path: &str, now: Instant) -> Option<bool> {
        let &(checked, found) = self.by_origin.get(&(over_http, local))?.get(path)?;
        (now.saturating_duration_since(checked) < EXISTS_TTL).then_some(found)
    }

    fn put(&mut self, over_http: bool, local: Ipv4Addr, path: &str, now: Instant, found: bool) {
        if self.entries >= EXISTS_CACHE_MAX {
            self.clear();
        }
        let paths = self.by_origin.entry((over_http, local)).or_default();
        if paths.insert(path.into(), (now, found)).is_none() {
            self.entries += 1;
        }
    }

    fn clear(&mut self) {
        self.by_origin.clear();
        self.entries = 0;
    }
}

/// Which socket a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    /// UDP 67: DISCOVERs (and REQUESTs naming this server).
    Dhcp,
    /// UDP 4011: PXE boot-server REQUESTs.
    Pxe,
}

/// Everything the proxy needs to answer, shared by both sockets.
pub struct Proxy {
    config: ArcSwap<ProxyConfig>,
    http_port: Option<u16>,
    tftp: Option<LiveTree>,
    http: Option<LiveTree>,
    interfaces: Vec<u32>,
    addresses: Vec<Ipv4Addr>,
    pending: Arc<Semaphore>,
    exists_cache: Mutex<ExistsCache>,
}

impl Proxy {
    /// Builds the proxy from the configuration, the served trees and the HTTP port
    /// actually bound (`None` when HTTP is off).
    pub fn new(
        config: &Config,
        tftp: Option<LiveTree>,
        http: Option<LiveTree>,
        http_port: Option<u16>,
    ) -> anyhow::Result<Self> {
        let mut interfaces = Vec::new();
        for name in &config.net.interfaces {
            let index = net::interface_index(name)
                .ok_or_else(|| anyhow::anyhow!("net.interfaces: no interface named {name}"))?;
            interfaces.push(index);
        }
        Ok(Proxy {
            config: ArcSwap::from_pointee(config.proxy.clone()),
            http_port,
            tftp,
            http,
            interfaces,
            addresses: config.net.listen.clone(),
            pending: Arc::new(Semaphore::new(MAX_PENDING_REPLIES)),
            exists_cache: Mutex::default(),
        })
    }

    /// Answers with `config` from now on (configuration reload).
    pub fn update(&self, config: &ProxyConfig) {
        self.config.store(Arc::new(config.clone()));
        // The trees were replaced just before: check the files again.
        self.lock_exists().clear();
    }

    /// What the answer to `client` depends on besides the packet: the boot files
    /// (the configured ones, with the inventory's per-machine answers in place for a
    /// machine it lists: an iPXE machine gets its own script, an EFI machine its own
    /// binary) and whether the inventory lists it. The configuration is shared, not
    /// copied, unless the inventory overrides it for this machine.
    fn view_for(&self, client: &Client) -> (Arc<ProxyConfig>, bool) {
        let shared = self.config.load_full();
        let Some(tree) = self.http.as_ref().or(self.tftp.as_ref()) else {
            return (shared, false);
        };
        let tree = tree.current();
        let inventory = tree.inventory();
        let Some(machine) = inventory.by_mac(&client.mac) else {
            return (shared, false);
        };
        let profile = inventory.profile_of(machine);
        let config = match (&profile.kind, &profile.kernel) {
            (Kind::Ipxe, _) => {
                let mut config = ProxyConfig::clone(&shared);
                config.ipxe_script = inventory.request_path(machine, Scope::Machine, "boot.ipxe");
                Arc::new(config)
            }
            (Kind::Efi, Some(kernel)) => {
                let mut config = ProxyConfig::clone(&shared);
                let path = inventory.request_path(machine, Scope::Machine, kernel);
                for file in [
                    &mut config.uefi_x64,
                    &mut config.uefi_ia32,
                    &mut config.uefi_arm64,
                    &mut config.http_x64,
                    &mut config.http_arm64,
                ] {
                    file.clone_from(&path);
                }
                Arc::new(config)
            }
            (Kind::Efi, None) | (Kind::Rpi | Kind::Pxelinux, _) => shared,
        };
        (config, true)
    }

    fn serves(&self, rx: &Received) -> bool {
        (self.interfaces.is_empty() || self.interfaces.contains(&rx.ifindex))
            && (self.addresses.is_empty() || self.addresses.contains(&rx.local))
    }

    /// Whether a boot file exists where the client will fetch it from `local`. The
    /// answer is remembered for [`EXISTS_TTL`]: a DISCOVER storm costs one open per
    /// file and second, not one per packet.
    fn exists(&self, path: &str, over_http: bool, local: Ipv4Addr) -> bool {
        let source = if over_http { &self.http } else { &self.tftp };
        let Some(source) = source else { return false };
        let now = Instant::now();
        if let Some(known) = self.lock_exists().get(over_http, local, path, now) {
            return known;
        }
        let source: &dyn FileSource = source;
        let client = ClientInfo {
            addr: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT).into(),
            local: SocketAddrV4::new(local, 0).into(),
        };
        let found = clean_path(path.as_bytes())
            .and_then(|p| source.open(&client, &p))
            .is_ok();
        self.lock_exists().put(over_http, local, path, now, found);
        found
    }

    fn lock_exists(&self) -> std::sync::MutexGuard<'_, ExistsCache> {
        // The cache holds no invariant a panic could break: keep using it.
        self.exists_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides the reply to one request: `None` to stay silent.
    fn decide(
        &self,
        packet: &DhcpPacket,
        client: &Client,
        port: Port,
        local: Ipv4Addr,
    ) -> Option<(DhcpPacket, Duration)> {
        let kind = client.message_type;
        let offer = match (port, kind) {
            (Port::Dhcp, Some(MessageType::Discover)) => true,
            (Port::Dhcp, Some(MessageType::Request)) if packet.server_id() == Some(local) => false,
            (Port::Pxe, Some(MessageType::Request | MessageType::Inform)) => false,
            _ => {
                debug!(mac = %format_mac(&client.mac), ?kind, ?port, "proxy: not a message the proxy answers");
                return None;
            }
        };
        let http_tree = matches!(client.firmware, Firmware::Ipxe | Firmware::UefiHttp);
        let exists = |p: &str| self.exists(p, http_tree, local);
        let (config, known) = self.view_for(client);
        let server = policy::Server {
            addr: local,
            http_port: self.http_port,
            exists: &exists,
            known,
        };
        let what = if offer { "offer" } else { "ack" };
        match policy::plan(client, &config, &server) {
            Plan::Ignore(reason) => {
                if client.firmware == Firmware::NotBoot {
                    debug!(mac = %format_mac(&client.mac), xid = format_args!("{:#010x}", client.xid), "proxy: ignored: {reason}");
                } else {
                    info!(
                        mac = %format_mac(&client.mac),
                        client = client.firmware.name(),
                        arch = ?client.arch,
                        "proxy: ignored: {reason}"
                    );
                }
                None
            }
            Plan::Answer { answer, delay } => {
                info!(
                    mac = %format_mac(&client.mac),
                    client = client.firmware.name(),
                    arch = ?client.arch,
                    delay_ms = delay.as_millis() as u64,
                    "proxy: {what}: {}",
                    policy::Summary { answer: &answer, server: local }
                );
                let reply = if offer {
                    proxy_offer(packet, local, &answer)
                } else {
                    proxy_ack(packet, local, &answer)
                };
                Some((reply, delay))
            }
        }
    }
}

/// The receive buffer asked for on the DHCP sockets: a burst of thousands of
/// requests waits there while bootherd is not scheduled. Each small datagram
/// costs about 2 KiB of buffer (the kernel counts what it allocated), so 16 MiB
/// holds ~40 ms at 200,000 requests/s: on the benchmark VM, 4 MiB overflowed in
/// 20 ms scheduling stalls at 175,000/s while the server had CPU to spare. It is a
/// limit, not memory taken up front.
const RECEIVE_BUFFER: usize = 16 << 20;

/// Datagrams taken from a socket with one `recvmmsg`.
const BATCH: usize = 32;

/// How long a receive thread waits for a datagram before it looks whether it
/// should stop: the longest a dropped [`Service`] keeps its threads.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// Under load, how long a receive thread waits after a batch before it takes the
/// next one, so that one wake-up serves many requests instead of one: at 20,000
/// requests/s on the benchmark rig this halves the CPU time per answer. It delays the replies to requests
/// that arrive meanwhile by at most this much.
const LOAD_PAUSE: Duration = Duration::from_micros(500);

/// Batches less than this apart count as load (see [`LOAD_PAUSE`]); slower traffic is
/// answered as soon as it arrives.
const LOAD_GAP: Duration = Duration::from_millis(1);

/// When a receive thread pauses between batches (see [`LOAD_PAUSE`]).
#[derive(Debug, Default)]
struct Pacing {
    last_batch: Option<Instant>,
}

impl Pacing {
    /// After a batch of `received` requests taken at `now`: how long to wait before
    /// the next receive. No pause for the first batch after a quiet spell, nor after
    /// a full batch (more are waiting already).
    fn pause_after(&mut self, received: usize, now: Instant) -> Option<Duration> {
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
    stop: Arc<AtomicBool>,
    ended: mpsc::UnboundedReceiver<String>,
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
struct Ended {
    name: String,
    tell: mpsc::UnboundedSender<String>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.tell.send(std::mem::take(&mut self.name));
    }
}

/// One socket's receive thread: takes a batch of requests with one `recvmmsg`,
/// handles each, and sends the batch's immediate proxy replies with one `sendmmsg`.
struct Receiver {
    socket: Arc<PacketSocket>,
    port: Port,
    responders: Arc<Responders>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn run(self) {
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
    fn handle(&self, bytes: &[u8], rx: Received, replies: &mut SendBatch) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    #[test]
    fn exists_answers_expire_after_the_ttl() {
        let mut cache = ExistsCache::default();
        let t0 = Instant::now();
        assert_eq!(cache.get(false, LOCAL, "ipxe.efi", t0), None);
        cache.put(false, LOCAL, "ipxe.efi", t0, true);
        assert_eq!(cache.get(false, LOCAL, "ipxe.efi", t0), Some(true));
        let later = t0 + EXISTS_TTL - Duration::from_millis(1);
        assert_eq!(cache.get(false, LOCAL, "ipxe.efi", later), Some(true));
        assert_eq!(cache.get(false, LOCAL, "ipxe.efi", t0 + EXISTS_TTL), None);
        // Another tree or another local address is another question.
        assert_eq!(cache.get(true, LOCAL, "ipxe.efi", t0), None);
        assert_eq!(cache.get(false, Ipv4Addr::LOCALHOST, "ipxe.efi", t0), None);
    }

    /// A proxy serving `root` by TFTP with `config`'s inventory.
    fn proxy_over(config: &Config, root: &std::path::Path) -> Proxy {
        let origin = std::path::Path::new("<test>");
        let tree = crate::tree::BootTree::new(
            root,
            Arc::new(config.inventory(origin).unwrap()),
            Arc::new(config.renderer(origin).unwrap()),
            None,
        )
        .unwrap();
        Proxy::new(config, Some(LiveTree::new(tree)), None, None).unwrap()
    }

    fn client(mac: [u8; 6]) -> Client {
        Client {
            mac,
            xid: 1,
            message_type: Some(MessageType::Discover),
            firmware: Firmware::UefiPxe,
            arch: None,
            vendor_class: None,
            uuid: None,
            relay: None,
        }
    }

    #[test]
    fn configuration_is_shared_unless_the_inventory_overrides_it() {
        let config = Config::parse(
            "[profiles.grub]\nkind = \"efi\"\nkernel = \"grubnetx64.efi\"\n\
             [profiles.pi]\nkind = \"rpi\"\n\
             [[machines]]\nname = \"pc\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"grub\"\n\
             [[machines]]\nname = \"pi\"\nmac = \"02:00:00:00:00:02\"\nserial = \"1\"\nprofile = \"pi\"\n",
        )
        .unwrap();
        let root = tempfile::tempdir().unwrap();
        let proxy = proxy_over(&config, root.path());
        let configured = proxy.config.load_full();

        let (unknown, known) = proxy.view_for(&client([2, 0, 0, 0, 0, 9]));
        assert!(Arc::ptr_eq(&unknown, &configured) && !known);
        let (pi, known) = proxy.view_for(&client([2, 0, 0, 0, 0, 2]));
        assert!(Arc::ptr_eq(&pi, &configured) && known);
        let (pc, known) = proxy.view_for(&client([2, 0, 0, 0, 0, 1]));
        assert!(!Arc::ptr_eq(&pc, &configured) && known);
        assert!(pc.uefi_x64.ends_with("grubnetx64.efi"), "{}", pc.uefi_x64);
        assert_eq!(pc.bios, configured.bios);
        assert_ne!(configured.uefi_x64, pc.uefi_x64);
    }

    #[tokio::test]
    async fn service_answers_on_loopback_and_stops_when_dropped() {
        use bootherd_proto::emulate::{pxe_request, Emulated, Machine};
        let config = Config::parse("").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("ipxe.efi"), b"MZ").unwrap();
        let proxy = proxy_over(&config, root.path());
        let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let dhcp = PacketSocket::bind(loopback).unwrap();
        let pxe = PacketSocket::bind(loopback).unwrap();
        let pxe_addr = pxe.local_addr().unwrap();
        let responders = Responders {
            proxy: Some(Arc::new(proxy)),
            server: None,
        };
        let service = start(dhcp, Some(pxe), responders).unwrap();

        // A UEFI PXE client's REQUEST to port 4011 is answered back to its source.
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let machine = Machine::new(Emulated::PxeEfi, [2, 0, 0, 0, 0, 1], None);
        let request = pxe_request(&machine, Ipv4Addr::LOCALHOST);
        for _ in 0..3 {
            client.send_to(&request.emit(), pxe_addr).unwrap();
        }
        let mut buf = [0u8; 1500];
        for _ in 0..3 {
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(from, pxe_addr);
            let ack = DhcpPacket::parse(&buf[..n]).unwrap();
            assert_eq!(ack.op, 2);
            assert_eq!(ack.xid, request.xid);
            assert_eq!(ack.message_type(), Some(MessageType::Ack));
            assert_eq!(ack.file_name(), "ipxe.efi");
        }

        // Dropped, the threads end and close the sockets: the port is free again.
        drop(service);
        let deadline = Instant::now() + STOP_CHECK * 10;
        while std::net::UdpSocket::bind(pxe_addr).is_err() {
            assert!(Instant::now() < deadline, "the dhcp thread did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn pacing_pauses_only_under_load() {
        let mut pacing = Pacing::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Quiet: every request is handled at once.
        assert_eq!(pacing.pause_after(1, t0), None);
        assert_eq!(pacing.pause_after(1, ms(5)), None);
        // Batches close together: pause, unless the batch was full.
        let busy = ms(5) + LOAD_GAP / 2;
        assert_eq!(pacing.pause_after(1, busy), Some(LOAD_PAUSE));
        assert_eq!(pacing.pause_after(BATCH, busy + LOAD_GAP / 2), None);
        assert_eq!(pacing.pause_after(3, busy + LOAD_GAP), Some(LOAD_PAUSE));
        // Quiet again.
        assert_eq!(pacing.pause_after(1, ms(100)), None);
    }

    #[test]
    fn exists_cache_is_bounded() {
        let mut cache = ExistsCache::default();
        let now = Instant::now();
        for i in 0..EXISTS_CACHE_MAX {
            cache.put(false, LOCAL, &format!("f{i}"), now, false);
        }
        assert_eq!(cache.entries, EXISTS_CACHE_MAX);
        cache.put(false, LOCAL, "f0", now, true);
        assert_eq!(cache.entries, 1);
        assert_eq!(cache.get(false, LOCAL, "f0", now), Some(true));
        assert_eq!(cache.get(false, LOCAL, "f1", now), None);
    }
}
