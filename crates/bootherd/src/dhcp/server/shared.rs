//! A lease table shared with other servers through PostgreSQL: this server's
//! table is a cache, and the database decides. The cache is corrected three ways:
//! - a write the database refuses comes back with the row that holds the
//!   address, which replaces the cached one; the reply that needed the write is
//!   dropped and the request decided again from the corrected cache (another
//!   address), up to [`MAX_ATTEMPTS`] times, then left to the client's
//!   retransmission;
//! - a REQUEST for an address the cache has no record of for that client reads
//!   the client's rows first (a renewal or rebinding reaching this server for a
//!   lease another server granted is then honoured);
//! - every [`REFRESH_EVERY`] the rows other servers wrote since the last look are
//!   read, and all of them every [`FULL_REFRESH_EVERY`] refreshes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bootherd_proto::client::format_mac;
use bootherd_proto::dhcp::{Lease, LeaseChange};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType};
use tracing::{debug, info, warn};

use super::DhcpServer;
use crate::leases::{PgStore, Refusal};
use crate::net::{PacketSocket, Received};

/// Most decisions of one request a shared database may refuse before the
/// request is left to the client's retransmission.
pub(super) const MAX_ATTEMPTS: u8 = 8;

/// How often the rows other servers wrote are read.
pub(super) const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// Every this many refreshes, all rows are read (a write that committed after a
/// later-numbered one is not missed for long).
pub(super) const FULL_REFRESH_EVERY: u32 = 15;

/// This machine's host name, the default `server_name`.
pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "bootherd".into())
}

/// Reads what other servers wrote, for as long as the server lives.
pub(super) async fn refresh_loop(server: Weak<DhcpServer>, store: PgStore) {
    let mut seq = 0;
    // Refreshes until the next full one.
    let mut to_full = 0;
    loop {
        tokio::time::sleep(REFRESH_EVERY).await;
        let since = if to_full == 0 { 0 } else { seq };
        to_full = if to_full == 0 {
            FULL_REFRESH_EVERY - 1
        } else {
            to_full - 1
        };
        let result = store.changed_since(since).await;
        let Some(server) = server.upgrade() else {
            return;
        };
        match result {
            Ok((rows, top)) => {
                seq = seq.max(top);
                server.merge(rows);
            }
            // The commits say when the database is down; this is a read.
            Err(err) => debug!(%err, "dhcp: lease cache refresh failed"),
        }
    }
}

impl DhcpServer {
    /// Puts the database's rows for refused writes in the cache.
    pub(super) fn correct(&self, refusals: &[Refusal]) {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        for refusal in refusals {
            match &refusal.holder {
                Some(holder) => {
                    info!(ip = %refusal.ip, holder = %format_mac(&holder.mac), "dhcp: another server holds {} in the lease database; reply dropped, cache corrected", refusal.ip);
                    leases.apply(&LeaseChange::Upsert(holder.clone()));
                }
                None => leases.apply(&LeaseChange::Remove(refusal.ip)),
            }
        }
    }

    /// Puts rows read from the database in the cache, each unless the cached
    /// record of its address was written later (a change of ours on its way
    /// to the database).
    pub(super) fn merge(&self, rows: Vec<Lease>) {
        if rows.is_empty() {
            return;
        }
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        for row in rows {
            let newer = match leases.get_by_ip(row.ip) {
                Some(cached) => cached != &row && cached.starts <= row.starts,
                None => true,
            };
            if newer {
                leases.apply(&LeaseChange::Upsert(row));
            }
        }
    }

    /// With a shared database, a REQUEST for an address the cache knows no
    /// record of for that client is handled once the client's rows are read
    /// (returns true: the request is on its way there).
    pub(super) fn look_up_first(
        self: &Arc<Self>,
        socket: &Arc<PacketSocket>,
        packet: &DhcpPacket,
        rx: Received,
    ) -> bool {
        let Some(store) = &self.shared else {
            return false;
        };
        if packet.message_type() != Some(MessageType::Request) {
            return false;
        }
        if packet.server_id().is_some_and(|id| id != rx.local) {
            return false;
        }
        let (Some(mac), Some(ip)) = (
            packet.mac(),
            packet
                .requested_ip()
                .or(Some(packet.ciaddr).filter(|a| !a.is_unspecified())),
        ) else {
            return false;
        };
        let known = {
            let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            leases.get_by_ip(ip).is_some_and(|l| l.belongs_to(mac))
        };
        if known {
            return false;
        }
        let (server, socket, packet, store) =
            (self.clone(), socket.clone(), packet.clone(), store.clone());
        self.runtime.spawn(async move {
            match store.lookup(ip, mac).await {
                Ok(rows) => server.merge(rows),
                Err(err) => {
                    warn!(%err, %ip, mac = %format_mac(&mac), "dhcp: cannot read the lease database; request not answered");
                    return;
                }
            }
            server.handle_cached(&socket, &packet, rx, true, 0);
        });
        true
    }
}
