//! `bootherd leases`: the lease database read and printed as a table or JSON.

use std::path::Path;

use bootherd_proto::client::format_mac;
use bootherd_proto::dhcp::{self as core};

use crate::leases::{is_postgres_url, redact, LeaseStore, PgStore, SqliteStore};

/// Reads the lease database at `path`, an SQLite file or a `postgres://` URL
/// (for `bootherd leases`).
pub async fn read_leases(path: &Path) -> anyhow::Result<Vec<core::Lease>> {
    let shown = redact(&path.to_string_lossy());
    let opened = match path.to_str().filter(|p| is_postgres_url(p)) {
        Some(url) => match PgStore::connect(url, "bootherd-leases").await {
            Ok(store) => store.load().await,
            Err(e) => Err(e),
        },
        None => match SqliteStore::open_read_only(path).await {
            Ok(store) => store.load().await,
            Err(e) => Err(e),
        },
    };
    opened.map_err(|e| anyhow::anyhow!("reading lease database {shown}: {e}"))
}

/// Copies every lease of the SQLite database at `from` into the PostgreSQL
/// database at `to` (creating its schema if needed), as they are: the site's
/// servers then start on `to` with every lease the old one granted. Returns how
/// many were copied. The rows name this host (the default `server_name`) as
/// their writer. Stop the server on `from` first: leases it grants during the
/// copy would be left behind.
pub async fn migrate_leases(from: &Path, to: &str) -> anyhow::Result<usize> {
    if !is_postgres_url(to) {
        anyhow::bail!("--to {to:?} is not a postgres:// URL");
    }
    let source = SqliteStore::open_read_only(from)
        .await
        .map_err(|e| anyhow::anyhow!("opening lease database {}: {e}", from.display()))?;
    let leases = source.load().await?;
    // The rows are this host's server's, as if it had written them.
    let target = PgStore::connect(to, &super::shared::host_name())
        .await
        .map_err(|e| anyhow::anyhow!("opening lease database {}: {e}", redact(to)))?;
    target.import(&leases).await?;
    Ok(leases.len())
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
