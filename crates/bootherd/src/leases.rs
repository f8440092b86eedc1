//! Durable leases: the `LeaseStore` trait, its SQLite implementation (WAL, full sync),
//! and a group committer that makes many leases durable with one fsync.
//!
//! The rule the DHCP service keeps: a lease is on disk before the ACK that grants it
//! leaves. The committer batches every change queued while the previous commit was
//! running into one transaction, so durability costs one fsync per batch, not per lease.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;

use bootherd_proto::dhcp::{Lease, LeaseChange, LeaseState};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

/// Most changes written in one transaction.
const MAX_BATCH: usize = 4096;

/// A lease store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error("lease database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored row that does not make a lease.
    #[error("lease database: bad row for {ip}: {what}")]
    BadRow {
        /// The row's address column.
        ip: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A batch commit failed; the message is the database's.
    #[error("lease commit failed: {0}")]
    Commit(String),
    /// The committer task is gone (shutting down).
    #[error("lease committer stopped")]
    Stopped,
}

/// Where leases live. `apply` is atomic and durable when it returns.
pub trait LeaseStore: Send + Sync + 'static {
    /// Every stored lease.
    fn load(&self) -> impl Future<Output = Result<Vec<Lease>, StoreError>> + Send;
    /// Writes `changes` in order, all or none, durably.
    fn apply(&self, changes: &[LeaseChange])
        -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// SQLite lease store: one file, WAL journal, `synchronous = FULL`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        // One connection: SQLite has one writer anyway, and readers (`bootherd leases`)
        // open their own.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS leases (
                ip TEXT PRIMARY KEY NOT NULL,
                mac BLOB NOT NULL,
                client_id BLOB,
                hostname TEXT,
                state TEXT NOT NULL,
                starts INTEGER NOT NULL,
                ends INTEGER NOT NULL
            )",
        )
        .execute(&pool)
        .await?;
        // One empty commit now, so the WAL exists before the first lease needs it.
        pool.begin().await?.commit().await?;
        Ok(SqliteStore { pool })
    }

    /// Opens an existing database for reading only (for `bootherd leases`).
    pub async fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }
}

fn state_name(state: LeaseState) -> &'static str {
    match state {
        LeaseState::Offered => "offered",
        LeaseState::Bound => "bound",
        LeaseState::Released => "released",
        LeaseState::Declined => "declined",
    }
}

fn parse_state(s: &str) -> Option<LeaseState> {
    Some(match s {
        "offered" => LeaseState::Offered,
        "bound" => LeaseState::Bound,
        "released" => LeaseState::Released,
        "declined" => LeaseState::Declined,
        _ => return None,
    })
}

impl LeaseStore for SqliteStore {
    async fn load(&self) -> Result<Vec<Lease>, StoreError> {
        let rows = sqlx::query(
            "SELECT ip, mac, client_id, hostname, state, starts, ends FROM leases ORDER BY ip",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let ip_text: String = row.try_get("ip")?;
            let bad = |what| StoreError::BadRow {
                ip: ip_text.clone(),
                what,
            };
            let ip: Ipv4Addr = ip_text.parse().map_err(|_| bad("address"))?;
            let mac_bytes: Vec<u8> = row.try_get("mac")?;
            let mac: [u8; 6] = mac_bytes.try_into().map_err(|_| bad("mac"))?;
            let state: String = row.try_get("state")?;
            let starts: i64 = row.try_get("starts")?;
            let ends: i64 = row.try_get("ends")?;
            out.push(Lease {
                ip,
                mac,
                client_id: row.try_get("client_id")?,
                hostname: row.try_get("hostname")?,
                state: parse_state(&state).ok_or_else(|| bad("state"))?,
                starts: u64::try_from(starts).map_err(|_| bad("starts"))?,
                ends: u64::try_from(ends).map_err(|_| bad("ends"))?,
            });
        }
        Ok(out)
    }

    async fn apply(&self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for change in changes {
            match change {
                LeaseChange::Upsert(l) => {
                    sqlx::query(
                        "INSERT INTO leases (ip, mac, client_id, hostname, state, starts, ends)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT(ip) DO UPDATE SET mac = ?2, client_id = ?3,
                           hostname = ?4, state = ?5, starts = ?6, ends = ?7",
                    )
                    .bind(l.ip.to_string())
                    .bind(&l.mac[..])
                    .bind(l.client_id.as_deref())
                    .bind(l.hostname.as_deref())
                    .bind(state_name(l.state))
                    .bind(i64::try_from(l.starts).unwrap_or(i64::MAX))
                    .bind(i64::try_from(l.ends).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
                }
                LeaseChange::Remove(ip) => {
                    sqlx::query("DELETE FROM leases WHERE ip = ?1")
                        .bind(ip.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

type Ticket = (Vec<LeaseChange>, oneshot::Sender<Result<(), String>>);

/// Funnels lease changes from many requests into batched, durable commits.
#[derive(Debug, Clone)]
pub struct GroupCommitter {
    tx: mpsc::UnboundedSender<Ticket>,
}

impl GroupCommitter {
    /// Starts the committer task over `store`.
    pub fn spawn<S: LeaseStore>(store: S) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(commit_loop(store, rx));
        GroupCommitter { tx }
    }

    /// Queues `changes` (in order, after everything queued before) and returns a
    /// handle that resolves once they are durable. Queuing never waits, so callers
    /// can queue while holding the lock that orders their changes.
    pub fn submit(&self, changes: Vec<LeaseChange>) -> Durable {
        let (done, wait) = oneshot::channel();
        let _ = self.tx.send((changes, done));
        Durable(wait)
    }

    /// Returns once `changes` are durable (or failed to be).
    pub async fn persist(&self, changes: Vec<LeaseChange>) -> Result<(), StoreError> {
        self.submit(changes).await
    }
}

/// Resolves when the changes it stands for are on disk.
#[derive(Debug)]
pub struct Durable(oneshot::Receiver<Result<(), String>>);

impl Durable {
    /// Waits for the commit.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(StoreError::Commit(msg)),
            Err(_) => Err(StoreError::Stopped),
        }
    }
}

impl std::future::IntoFuture for Durable {
    type Output = Result<(), StoreError>;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

async fn commit_loop<S: LeaseStore>(store: S, mut rx: mpsc::UnboundedReceiver<Ticket>) {
    let mut batch: Vec<Ticket> = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let changes: Vec<LeaseChange> = batch.iter().flat_map(|(c, _)| c.iter().cloned()).collect();
        let result = store.apply(&changes).await.map_err(|e| e.to_string());
        if let Err(err) = &result {
            error!(%err, leases = changes.len(), "leases: commit failed; the replies that needed it are not sent");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(last: u8, mac_last: u8, state: LeaseState) -> Lease {
        Lease {
            ip: Ipv4Addr::new(10, 0, 0, last),
            mac: [0x52, 0x54, 0, 0, 0, mac_last],
            client_id: Some(vec![1, 0x52, 0x54, 0, 0, 0, mac_last]),
            hostname: Some(format!("host{mac_last}")),
            state,
            starts: 1_700_000_000,
            ends: 1_700_003_600,
        }
    }

    #[tokio::test]
    async fn group_commits_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.sqlite");
        let store = SqliteStore::open(&path).await.unwrap();
        let committer = GroupCommitter::spawn(store);
        // Many submissions in flight at once end up in few transactions.
        let waits: Vec<_> = (1..=200u8)
            .map(|i| committer.submit(vec![LeaseChange::Upsert(lease(i, i, LeaseState::Offered))]))
            .collect();
        for w in waits {
            w.await.unwrap();
        }
        committer
            .persist(vec![
                LeaseChange::Upsert(lease(7, 7, LeaseState::Bound)),
                LeaseChange::Remove(Ipv4Addr::new(10, 0, 0, 9)),
            ])
            .await
            .unwrap();
        drop(committer);

        let reopened = SqliteStore::open_read_only(&path).await.unwrap();
        let leases = reopened.load().await.unwrap();
        assert_eq!(leases.len(), 199);
        let seven = leases
            .iter()
            .find(|l| l.ip == Ipv4Addr::new(10, 0, 0, 7))
            .unwrap();
        assert_eq!(seven, &lease(7, 7, LeaseState::Bound));
        assert!(leases.iter().all(|l| l.ip != Ipv4Addr::new(10, 0, 0, 9)));
    }

    #[tokio::test]
    async fn a_bad_row_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.sqlite");
        let store = SqliteStore::open(&path).await.unwrap();
        sqlx::query("INSERT INTO leases VALUES ('10.0.0.1', x'0102', NULL, NULL, 'bound', 0, 0)")
            .execute(&store.pool)
            .await
            .unwrap();
        let err = store.load().await.unwrap_err().to_string();
        assert!(err.contains("10.0.0.1") && err.contains("mac"), "{err}");
    }
}
