//! proxyDHCP's shell: which configuration applies to a client, whether its boot
//! file exists (cached), and the reply the policy chose, built and timed.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bootherd_proto::client::{format_mac, Client, Firmware};
use bootherd_proto::proxy::{proxy_ack, proxy_offer};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, CLIENT_PORT};
use tokio::sync::Semaphore;
use tracing::{debug, info};

use arc_swap::ArcSwap;

use crate::config::{Config, ProxyConfig};
use crate::dhcp::policy::Plan;
use crate::events::Via;
use crate::inventory::{Kind, Scope};
use crate::net::{self, Received};
use crate::tree::LiveTree;
use crate::vfs::{clean_path, ClientInfo, FileSource};

use super::*;

/// Replies waiting out a reply delay at once; past it, delayed replies are dropped.
pub(super) const MAX_PENDING_REPLIES: usize = 1024;

/// How long [`Proxy::exists`] trusts an answer: a boot file that appears or goes
/// away is noticed within this time.
pub(super) const EXISTS_TTL: Duration = Duration::from_secs(1);

/// Past this many remembered answers, [`ExistsCache`] starts over (a bound against
/// clients that make the proxy look up many different paths).
pub(super) const EXISTS_CACHE_MAX: usize = 4096;

/// Per path: when it was looked up and whether it existed.
pub(super) type Lookups = HashMap<Box<str>, (Instant, bool)>;

/// Recent answers of [`Proxy::exists`], per (over HTTP, local address) and path.
#[derive(Debug, Default)]
pub(super) struct ExistsCache {
    pub(super) by_origin: HashMap<(bool, Ipv4Addr), Lookups>,
    pub(super) entries: usize,
}

impl ExistsCache {
    /// The remembered answer, if it is younger than [`EXISTS_TTL`] at `now`.
    pub(super) fn get(
        &self,
        over_http: bool,
        local: Ipv4Addr,
        path: &str,
        now: Instant,
    ) -> Option<bool> {
        let &(checked, found) = self.by_origin.get(&(over_http, local))?.get(path)?;
        (now.saturating_duration_since(checked) < EXISTS_TTL).then_some(found)
    }

    pub(super) fn put(
        &mut self,
        over_http: bool,
        local: Ipv4Addr,
        path: &str,
        now: Instant,
        found: bool,
    ) {
        if self.entries >= EXISTS_CACHE_MAX {
            self.clear();
        }
        let paths = self.by_origin.entry((over_http, local)).or_default();
        if paths.insert(path.into(), (now, found)).is_none() {
            self.entries += 1;
        }
    }

    pub(super) fn clear(&mut self) {
        self.by_origin.clear();
        self.entries = 0;
    }
}

/// Which socket a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Port {
    /// UDP 67: DISCOVERs (and REQUESTs naming this server).
    Dhcp,
    /// UDP 4011: PXE boot-server REQUESTs.
    Pxe,
}

/// Everything the proxy needs to answer, shared by both sockets.
pub struct Proxy {
    pub(super) config: ArcSwap<ProxyConfig>,
    pub(super) http_port: Option<u16>,
    pub(super) tftp: Option<LiveTree>,
    pub(super) http: Option<LiveTree>,
    pub(super) interfaces: Vec<u32>,
    pub(super) addresses: Vec<Ipv4Addr>,
    pub(super) pending: Arc<Semaphore>,
    pub(super) exists_cache: Mutex<ExistsCache>,
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
    /// binary, a grub machine its shim, though GRUB cannot go on from a proxy
    /// answer) and whether the inventory lists it. The configuration is shared,
    /// not copied, unless the inventory overrides it for this machine.
    pub(super) fn view_for(&self, client: &Client) -> (Arc<ProxyConfig>, bool) {
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
            (Kind::Grub, _) => match &profile.shim {
                // Only x64: Debian's signed shim and GRUB are x64.
                Some(shim) => {
                    let mut config = ProxyConfig::clone(&shared);
                    let path = inventory.request_path(machine, Scope::Machine, shim);
                    config.uefi_x64.clone_from(&path);
                    config.http_x64 = path;
                    Arc::new(config)
                }
                None => shared,
            },
            (Kind::Efi, None) | (Kind::Rpi | Kind::Pxelinux, _) => shared,
        };
        (config, true)
    }

    pub(super) fn serves(&self, rx: &Received) -> bool {
        (self.interfaces.is_empty() || self.interfaces.contains(&rx.ifindex))
            && (self.addresses.is_empty() || self.addresses.contains(&rx.local))
    }

    /// Whether a boot file exists where the client will fetch it from `local`. The
    /// answer is remembered for [`EXISTS_TTL`]: a DISCOVER storm costs one open per
    /// file and second, not one per packet.
    pub(super) fn exists(&self, path: &str, over_http: bool, local: Ipv4Addr) -> bool {
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

    pub(super) fn lock_exists(&self) -> std::sync::MutexGuard<'_, ExistsCache> {
        // The cache holds no invariant a panic could break: keep using it.
        self.exists_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides the reply to one request: `None` to stay silent.
    pub(super) fn decide(
        &self,
        packet: &DhcpPacket,
        client: &Client,
        port: Port,
        local: Ipv4Addr,
    ) -> Option<(DhcpPacket, Duration)> {
        let kind = client.message_type;
        let events = crate::events::hub();
        let label = crate::events::firmware_label(client.firmware);
        // Boot clients only, within the events budget.
        let recorded = client.firmware != Firmware::NotBoot && {
            let addr = Some(packet.ciaddr)
                .filter(|a| !a.is_unspecified())
                .or_else(|| packet.requested_ip());
            events.dhcp_request(Via::Proxy, client, addr)
        };
        let offer = match (port, kind) {
            (Port::Dhcp, Some(MessageType::Discover)) => true,
            (Port::Dhcp, Some(MessageType::Request)) if packet.server_id() == Some(local) => false,
            (Port::Pxe, Some(MessageType::Request | MessageType::Inform)) => false,
            _ => {
                debug!(mac = %format_mac(&client.mac), ?kind, ?port, "proxy: not a message the proxy answers");
                // Not on the timeline: the client talks to another server.
                let reason = "not a message the proxy answers";
                events.dhcp_decision(Via::Proxy, client.mac, label, false, Err(&reason));
                return None;
            }
        };
        let http_tree = matches!(client.firmware, Firmware::Ipxe | Firmware::UefiHttp);
        let exists = |p: &str| self.exists(p, http_tree, local);
        let (config, known) = self.view_for(client);
        let server = policy::ServerView {
            addr: local,
            http_port: self.http_port,
            exists: &exists,
            known,
        };
        let what = if offer { "offer" } else { "ack" };
        match policy::plan(client, &config, &server) {
            Plan::Ignore(reason) => {
                events.dhcp_decision(Via::Proxy, client.mac, label, recorded, Err(&reason));
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
                let summary = policy::Summary {
                    answer: &answer,
                    server: local,
                };
                events.dhcp_decision(
                    Via::Proxy,
                    client.mac,
                    label,
                    recorded,
                    Ok((what, &summary)),
                );
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
