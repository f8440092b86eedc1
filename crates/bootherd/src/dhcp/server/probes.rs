//! Address checks before an offer: ICMP echo and ARP for one DISCOVER, and the
//! ahead-of-time checks of each pool's next free addresses.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use bootherd_proto::client::format_mac;
use bootherd_proto::dhcp::{self as core, Probe};
use tracing::{debug, warn};

use crate::net::{self, PacketSocket, Received};

use super::*;

impl DhcpServer {
    /// Finds out whether the probed address is free and resumes the DISCOVER: at
    /// once when no check is to be made or an ahead-of-time check found it free,
    /// else after an ICMP echo on the runtime.
    pub(super) fn resolve_probe(
        self: &Arc<Self>,
        socket: Arc<PacketSocket>,
        mut probe: Probe,
        rx: Received,
        mut probes: u8,
    ) {
        loop {
            if probes >= MAX_PROBES {
                warn!(
                    mac = %format_mac(&probe.mac),
                    "dhcp: no reply: gave up after {MAX_PROBES} candidate addresses in a row (each found in use, or taken meanwhile by another client); is a router answering ICMP for the whole subnet?"
                );
                return;
            }
            let wait = match self.ping_timeout {
                Some(wait) if !self.recently_checked_free(probe.ip) => wait,
                _ => {
                    debug!(ip = %probe.ip, "dhcp: address known free");
                    let now = unix_now();
                    match self.decide(&socket, &rx, probe.mac, None, |config, leases| {
                        core::probe_result(config, leases, &probe, false, now)
                    }) {
                        Some(next) => {
                            probe = next;
                            probes += 1;
                            continue;
                        }
                        None => return,
                    }
                }
            };
            let key = (probe.mac, probe.ip);
            let fresh = self
                .probing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key);
            if !fresh {
                debug!(ip = %probe.ip, mac = %format_mac(&probe.mac), "dhcp: already checking this address for this client");
                return;
            }
            let server = self.clone();
            self.runtime.spawn(async move {
                // On the client's own link (not relayed) ARP asks too: it finds
                // hosts that ignore ICMP echo. The client itself answering (it
                // still holds the address from before) is no conflict.
                let link = (probe.request.giaddr.is_unspecified() && rx.ifindex != 0)
                    .then_some(rx.ifindex);
                let (icmp, arp) = tokio::join!(
                    net::icmp_in_use(probe.ip, wait),
                    arp_holder(link, probe.ip, wait)
                );
                let icmp = icmp.unwrap_or_else(|err| {
                    warn!(%err, ip = %probe.ip, "dhcp: cannot check the address with ICMP echo");
                    false
                });
                let arp = arp.filter(|holder| *holder != probe.mac);
                if let Some(holder) = arp {
                    debug!(ip = %probe.ip, holder = %format_mac(&holder), "dhcp: address answers ARP");
                }
                let in_use = icmp || arp.is_some();
                server
                    .probing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                debug!(ip = %probe.ip, in_use, "dhcp: address checked");
                let now = unix_now();
                let next = server.decide(&socket, &rx, probe.mac, None, |config, leases| {
                    core::probe_result(config, leases, &probe, in_use, now)
                });
                if let Some(next) = next {
                    server.resolve_probe(socket, next, rx, probes + 1);
                }
            });
            return;
        }
    }

    /// Checks, ahead of any request, the lowest free addresses of each pool, forever
    /// (only with `ping_check`).
    pub async fn precheck_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PRECHECK_EVERY);
        tick.tick().await; // the first tick is immediate: `open` just ran a round
        loop {
            tick.tick().await;
            self.precheck().await;
        }
    }

    /// One round of ahead-of-time checks.
    pub(super) async fn precheck(&self) {
        let Some(wait) = self.ping_timeout else {
            return;
        };
        {
            let mut checks = tokio::task::JoinSet::new();
            for (ip, link) in self.free_candidates() {
                checks.spawn(async move {
                    let (icmp, arp) =
                        tokio::join!(net::icmp_in_use(ip, wait), arp_holder(link, ip, wait));
                    // Any ARP answer counts here: the client is not known yet, and
                    // the request-time check decides with its MAC.
                    (ip, icmp.map(|in_use| in_use || arp.is_some()))
                });
            }
            while let Some(Ok((ip, result))) = checks.join_next().await {
                debug!(%ip, ?result, "dhcp: ahead-of-time check (in use?)");
                let mut free = self.checked_free.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(false) => {
                        free.insert(ip, std::time::Instant::now());
                    }
                    // In use, or no ICMP here: the request-time check decides.
                    _ => {
                        free.remove(&ip);
                    }
                }
            }
        }
    }

    /// The addresses of each pool that a new client would be offered next, in
    /// the order the core picks them: never used, lowest first, then those whose
    /// last client has been gone longest. Nobody holds or has reserved them.
    pub(super) fn free_candidates(&self) -> Vec<(Ipv4Addr, Option<u32>)> {
        let config = self.config.load();
        let local = net::ipv4_networks().unwrap_or_default();
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        let mut out = Vec::new();
        for pool in &config.pools {
            let mut found: Vec<Ipv4Addr> = Vec::new();
            let fits = |ip: Ipv4Addr, found: &[Ipv4Addr]| {
                !pool.subnet.is_network_or_broadcast(ip)
                    && config.reservation_at(ip).is_none()
                    && Some(ip) != pool.router
                    && !found.contains(&ip)
            };
            while found.len() < PRECHECKED_PER_POOL {
                match leases.first_unrecorded(pool.first, pool.last, |ip| fits(ip, &found)) {
                    Some(ip) => found.push(ip),
                    None => break,
                }
            }
            while found.len() < PRECHECKED_PER_POOL {
                let next = leases
                    .ended_longest_ago(pool.first, pool.last, now, |l| fits(l.ip, &found))
                    .map(|l| l.ip);
                match next {
                    Some(ip) => found.push(ip),
                    None => break,
                }
            }
            // The interface on the pool's subnet, for ARP; none for relayed pools.
            let link = local
                .iter()
                .find(|(_, addr)| pool.subnet.contains(*addr))
                .map(|(ifindex, _)| *ifindex);
            out.extend(found.into_iter().map(|ip| (ip, link)));
        }
        out
    }

    /// Whether `ip` was found free recently enough to offer without another check.
    /// (Once offered, the core does not pick it for anyone else while it is held.)
    pub(super) fn recently_checked_free(&self, ip: Ipv4Addr) -> bool {
        let free = self.checked_free.lock().unwrap_or_else(|e| e.into_inner());
        free.get(&ip)
            .is_some_and(|at| at.elapsed() < PRECHECK_VALID)
    }
}

/// Who answers an ARP probe for `ip` on interface `link` within `wait`, if
/// anyone; `None` too when there is no link (a relayed pool) or no ARP here (no
/// `CAP_NET_RAW`), which is logged at debug level: ICMP echo still checks.
pub(super) async fn arp_holder(link: Option<u32>, ip: Ipv4Addr, wait: Duration) -> Option<[u8; 6]> {
    let ifindex = link?;
    match tokio::task::spawn_blocking(move || crate::arp::probe(ifindex, ip, wait)).await {
        Ok(Ok(holder)) => holder,
        Ok(Err(err)) => {
            debug!(%ip, ifindex, %err, "dhcp: cannot check the address with ARP");
            None
        }
        Err(_) => None,
    }
}
