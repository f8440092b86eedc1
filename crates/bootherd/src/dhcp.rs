//! The DHCP service on UDP 67 and 4011: receive, then hand owned clients to the DHCP
//! server and everyone else to proxyDHCP, which classifies, asks the policy, builds
//! the reply with a pure function and sends it from the address the request came to.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

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
        })
    }

    /// Answers with `config` from now on (configuration reload).
    pub fn update(&self, config: &ProxyConfig) {
        self.config.store(Arc::new(config.clone()));
    }

    /// The boot files for `client`: the configured ones, with the inventory's
    /// per-machine answers in place for a machine it lists (an iPXE machine gets its
    /// own script, an EFI machine its own binary).
    fn config_for(&self, client: &Client) -> ProxyConfig {
        let mut config = (**self.config.load()).clone();
        let Some(tree) = self.http.as_ref().or(self.tftp.as_ref()) else {
            return config;
        };
        let tree = tree.current();
        let inventory = tree.inventory();
        let Some(machine) = inventory.by_mac(&client.mac) else {
            return config;
        };
        let profile = inventory.profile_of(machine);
        match profile.kind {
            Kind::Ipxe => {
                config.ipxe_script = inventory.request_path(machine, Scope::Machine, "boot.ipxe");
            }
            Kind::Efi => {
                if let Some(kernel) = &profile.kernel {
                    let path = inventory.request_path(machine, Scope::Machine, kernel);
                    for file in [
                        &mut config.uefi_x64,
                        &mut config.uefi_ia32,
                        &mut config.uefi_arm64,
                        &mut config.http_x64,
                        &mut config.http_arm64,
                    ] {
                        *file = path.clone();
                    }
                }
            }
            Kind::Rpi | Kind::Pxelinux => {}
        }
        config
    }

    /// Whether the inventory lists `client`'s MAC.
    fn knows(&self, client: &Client) -> bool {
        self.http
            .as_ref()
            .or(self.tftp.as_ref())
            .is_some_and(|tree| tree.current().inventory().by_mac(&client.mac).is_some())
    }

    fn serves(&self, rx: &Received) -> bool {
        (self.interfaces.is_empty() || self.interfaces.contains(&rx.ifindex))
            && (self.addresses.is_empty() || self.addresses.contains(&rx.local))
    }

    /// Whether a boot file exists where the client will fetch it from `local`.
    fn exists(&self, path: &str, over_http: bool, local: Ipv4Addr) -> bool {
        let source = if over_http { &self.http } else { &self.tftp };
        let Some(source) = source else { return false };
        let source: &dyn FileSource = source;
        let client = ClientInfo {
            addr: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT).into(),
            local: SocketAddrV4::new(local, 0).into(),
        };
        clean_path(path.as_bytes())
            .and_then(|p| source.open(&client, &p))
            .is_ok()
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
        let server = policy::Server {
            addr: local,
            http_port: self.http_port,
            exists: &exists,
            known: self.knows(client),
        };
        let what = if offer { "offer" } else { "ack" };
        match policy::plan(client, &self.config_for(client), &server) {
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
            Plan::Answer {
                answer,
                delay,
                summary,
            } => {
                info!(
                    mac = %format_mac(&client.mac),
                    client = client.firmware.name(),
                    arch = ?client.arch,
                    delay_ms = delay.as_millis() as u64,
                    "proxy: {what}: {summary}"
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

/// Binds a wildcard DHCP socket on `port`.
pub fn bind(port: u16) -> anyhow::Result<PacketSocket> {
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    PacketSocket::bind(addr).map_err(|e| crate::tftp::bind_error("DHCP", addr, e))
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
