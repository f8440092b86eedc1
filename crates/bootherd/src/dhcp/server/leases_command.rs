//! `bootherd leases`: the lease database read and printed as a table or JSON.

use std::path::Path;

use bootherd_proto::client::format_mac;
use bootherd_proto::dhcp::{self as core};

use crate::leases::{LeaseStore, SqliteStore};

/// Reads the lease database at `path` (for `bootherd leases`).
pub async fn read_leases(path: &Path) -> anyhow::Result<Vec<core::Lease>> {
    let store = SqliteStore::open_read_only(path)
        .await
        .map_err(|e| anyhow::anyhow!("opening lease database {}: {e}", path.display()))?;
    Ok(store.load().await?)
}

/// Renders leases as an aligned table or a JSON array (for `bootherd leases`).
pub fn format_leases(leases: &[&core::Lease], now: u64, json: bool) -> String {
    let state = |l: &core::Lease| match l.state {
        core::LeaseState::Offered => "offered",
        core::LeaseState::Bound => "bound",
        core::LeaseState::Released => "released",
        core::LeaseState::Declined => "declined",
    };
    if json {
        let rows: Vec<serde_json::Value> = leases
            .iter()
            .map(|l| {
                serde_json::json!({
                    "ip": l.ip.to_string(),
                    "mac": format_mac(&l.mac),
                    "hostname": l.hostname,
                    "state": state(l),
                    "starts": l.starts,
                    "ends": l.ends,
                    "live": l.is_live(now),
                })
            })
            .collect();
        return format!("{}\n", serde_json::Value::Array(rows));
    }
    let mut out = format!(
        "{:<15}  {:<17}  {:<8}  {:>10}  {}\n",
        "IP", "MAC", "STATE", "EXPIRES IN", "HOSTNAME"
    );
    for l in leases {
        let left = match l.ends.checked_sub(now) {
            Some(secs) => format!("{secs}s"),
            None => "expired".into(),
        };
        out.push_str(&format!(
            "{:<15}  {:<17}  {:<8}  {:>10}  {}\n",
            l.ip.to_string(),
            format_mac(&l.mac),
            state(l),
            left,
            l.hostname.as_deref().unwrap_or("-")
        ));
    }
    out
}
