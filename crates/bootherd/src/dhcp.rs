//! The DHCP service on UDP 67 and 4011: receive, then hand owned clients to the DHCP
//! server and everyone else to proxyDHCP, which classifies, asks the policy, builds
//! the reply with a pure function and sends it from the address the request came to.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bootherd_proto::client::{classify, format_mac, Client, Firmware};
use bootherd_proto::proxy::{proxy_ack, proxy_offer, reply_destination, Destination};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, CLIENT_PORT};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use arc_swap::ArcSwap;

use crate::config::{Config, ProxyConfig};
use crate::dhcp_server::DhcpServer;
use crate::inventory::{Kind, Scope};
use crate::net::{self, PacketSocket, Received};
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
/// requests waits there while bootherd is not scheduled.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Binds a wildcard DHCP socket on `port` and enlarges its receive buffer to
/// [`RECEIVE_BUFFER`] (as far as the kernel lets it).
pub fn bind(port: u16) -> anyhow::Result<PacketSocket> {
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let socket = PacketSocket::bind(addr).map_err(|e| crate::tftp::bind_error("DHCP", addr, e))?;
    match socket.set_receive_buffer(RECEIVE_BUFFER) {
        Ok(got) => debug!(
            port,
            asked = RECEIVE_BUFFER,
            got,
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

/// Answers on port 67 (and 4011 when given) until the task is dropped.
pub async fn run(dhcp: PacketSocket, pxe: Option<PacketSocket>, responders: Responders) {
    let responders = Arc::new(responders);
    let dhcp = serve(Arc::new(dhcp), Port::Dhcp, responders.clone());
    match pxe {
        Some(pxe) => {
            tokio::join!(dhcp, serve(Arc::new(pxe), Port::Pxe, responders));
        }
        None => dhcp.await,
    }
}

async fn serve(socket: Arc<PacketSocket>, port: Port, responders: Arc<Responders>) {
    let mut buf = vec![0u8; 1500];
    loop {
        let rx = match socket.recv(&mut buf).await {
            Ok(rx) => rx,
            Err(err) => {
                debug!(%err, "proxy: receive error");
                continue;
            }
        };
        let packet = match DhcpPacket::parse(&buf[..rx.len]) {
            Ok(p) if p.op == 1 => p,
            Ok(_) => continue,
            Err(err) => {
                debug!(source = %rx.source, %err, "dhcp: malformed packet dropped");
                continue;
            }
        };
        if let Some(server) = &responders.server {
            if port == Port::Dhcp && server.owns(&packet) {
                server.handle(&socket, &packet, rx);
                continue;
            }
        }
        let Some(proxy) = &responders.proxy else {
            continue;
        };
        if !proxy.serves(&rx) {
            continue;
        }
        let client = classify(&packet);
        let Some((reply, delay)) = proxy.decide(&packet, &client, port, rx.local) else {
            continue;
        };
        let dest = match reply_destination(&packet, rx.source) {
            Destination::Relay(a) | Destination::Unicast(a) => a,
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
        };
        let bytes = reply.emit();
        if delay.is_zero() {
            send(&socket, &bytes, dest, &rx).await;
            continue;
        }
        let Ok(permit) = proxy.pending.clone().try_acquire_owned() else {
            warn!("proxy: too many delayed replies pending; dropping one");
            continue;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            send(&socket, &bytes, dest, &rx).await;
            drop(permit);
        });
    }
}

async fn send(socket: &PacketSocket, bytes: &[u8], dest: SocketAddrV4, rx: &Received) {
    // Broadcasts leave through the interface the request came in on; unicasts
    // (relays, port 4011) follow the routing table but keep our source address.
    let ifindex = if dest.ip().is_broadcast() {
        rx.ifindex
    } else {
        0
    };
    if let Err(err) = socket.send(bytes, dest, ifindex, rx.local).await {
        warn!(%dest, %err, "proxy: cannot send reply");
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
        let origin = std::path::Path::new("<test>");
        let root = tempfile::tempdir().unwrap();
        let tree = crate::tree::BootTree::new(
            root.path(),
            Arc::new(config.inventory(origin).unwrap()),
            Arc::new(config.renderer(origin).unwrap()),
            None,
        )
        .unwrap();
        let proxy = Proxy::new(&config, Some(LiveTree::new(tree)), None, None).unwrap();
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
