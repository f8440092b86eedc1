//! Durable leases: the `LeaseStore` trait, its SQLite implementation (WAL, full sync),
//! and a group committer that makes many leases durable with one fsync.
//!
//! `postgres.rs` holds the PostgreSQL store that several servers share.
//!
//! The rule the DHCP service keeps: a lease is on disk before the ACK that grants it
//! leaves. The committer batches every change queued while the previous commit was
//! running into one transaction, so durability costs one fsync per batch, not per lease.

use std::collections::HashMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bootherd_proto::dhcp::{Lease, LeaseChange, LeaseState};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{error, info};

mod postgres;

pub use postgres::{is_postgres_url, redact, PgStore};

/// Most requests whose changes are written in one transaction.
const MAX_BATCH: usize = 4096;
/// Most rows in one multi-row statement (a power of two; 7 parameters a row stays
/// under SQLite's 32,766). Chunks are padded to a power of two, so only a few
/// distinct statements are ever prepared and all stay in the statement cache.
const MAX_ROWS: usize = 512;

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
    /// The schema could not be brought up to date.
    #[error("lease database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A write the database refused because another server's row holds the
/// address, and that row (`None` if it went away meanwhile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address.
    pub ip: Ipv4Addr,
    /// The row that holds it now.
    pub holder: Option<Lease>,
}

/// Where leases live. `apply` is atomic and durable when it returns.
pub trait LeaseStore: Send + Sync + 'static {
    /// Every stored lease.
    fn load(&self) -> impl Future<Output = Result<Vec<Lease>, StoreError>> + Send;
    /// Writes `changes` in order, durably: all of them, except the upserts a
    /// shared store refuses because another server holds the address (returned).
    fn apply(
        &self,
        changes: &[LeaseChange],
    ) -> impl Future<Output = Result<Vec<Refusal>, StoreError>> + Send;
}

/// The store `[dhcp] lease_db` names: an SQLite file, or a PostgreSQL database
/// shared with other servers.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// An SQLite file, this server's alone.
    Sqlite(SqliteStore),
    /// A PostgreSQL database, possibly shared.
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens the store `db` names: a `postgres://` URL, else an SQLite path.
    /// `server` names this bootherd in a shared store's rows.
    pub async fn open(db: &Path, server: &str) -> Result<Self, StoreError> {
        match db.to_str().filter(|d| is_postgres_url(d)) {
            Some(url) => Ok(AnyStore::Postgres(PgStore::connect(url, server).await?)),
            None => Ok(AnyStore::Sqlite(SqliteStore::open(db).await?)),
        }
    }

    /// The PostgreSQL store, if this is one.
    pub fn shared(&self) -> Option<&PgStore> {
        match self {
            AnyStore::Postgres(pg) => Some(pg),
            AnyStore::Sqlite(_) => None,
        }
    }
}

impl LeaseStore for AnyStore {
    async fn load(&self) -> Result<Vec<Lease>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.load().await,
            AnyStore::Postgres(p) => p.load().await,
        }
    }

    async fn apply(&self, changes: &[LeaseChange]) -> Result<Vec<Refusal>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.apply(changes).await,
            AnyStore::Postgres(p) => p.apply(changes, unix_now()).await,
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The final state of each address `changes` touch, once all are applied in
/// order: the records to write (by address) and the addresses to delete.
fn final_changes(changes: &[LeaseChange]) -> (Vec<&Lease>, Vec<Ipv4Addr>) {
    let mut last: HashMap<Ipv4Addr, Option<&Lease>> = HashMap::with_capacity(changes.len());
    for change in changes {
        match change {
            LeaseChange::Upsert(l) => last.insert(l.ip, Some(l)),
            LeaseChange::Remove(ip) => last.insert(*ip, None),
        };
    }
    let mut upserts: Vec<&Lease> = last.values().filter_map(|l| *l).collect();
    upserts.sort_by_key(|l| l.ip);
    let mut removes: Vec<Ipv4Addr> = last
        .iter()
        .filter(|(_, l)| l.is_none())
        .map(|(ip, _)| *ip)
        .collect();
    removes.sort();
    (upserts, removes)
}

/// SQLite lease store: one file, WAL journal, `synchronous = FULL`. One
/// connection, owned by the store: SQLite has one writer anyway, and readers
/// (`bootherd leases`) open their own.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<SqliteConnection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let mut conn = SqliteConnection::connect_with(&options).await?;
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
        .execute(&mut conn)
        .await?;
        // One empty commit now, so the WAL exists before the first lease needs it.
        conn.begin().await?.commit().await?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Opens an existing database for reading only (for `bootherd leases`).
    pub async fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .read_only(true);
        let conn = SqliteConnection::connect_with(&options).await?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }
}

/// The statement that writes `rows` records (a power of two).
fn upsert_sql(rows: usize) -> &'static str {
    static CACHE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    sized(&CACHE, rows, |n| {
        format!(
            "INSERT INTO leases (ip, mac, client_id, hostname, state, starts, ends)
             VALUES {}
             ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac,
               client_id = excluded.client_id, hostname = excluded.hostname,
               state = excluded.state, starts = excluded.starts, ends = excluded.ends",
            vec!["(?, ?, ?, ?, ?, ?, ?)"; n].join(", ")
        )
    })
}

/// The statement that deletes `rows` addresses (a power of two).
fn delete_sql(rows: usize) -> &'static str {
    static CACHE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    sized(&CACHE, rows, |n| {
        format!(
            "DELETE FROM leases WHERE ip IN ({})",
            vec!["?"; n].join(", ")
        )
    })
}

/// The text `make` gives for `rows` (a power of two up to [`MAX_ROWS`]), made once
/// for every size.
fn sized(
    cache: &'static std::sync::OnceLock<Vec<String>>,
    rows: usize,
    make: impl Fn(usize) -> String,
) -> &'static str {
    let all = cache.get_or_init(|| {
        std::iter::successors(Some(1), |n| Some(n * 2))
            .take_while(|&n| n <= MAX_ROWS)
            .map(make)
            .collect()
    });
    &all[rows.trailing_zeros() as usize]
}

/// Runs the multi-row statements for `upserts` and `removes` on `conn`.
async fn write_rows(
    conn: &mut SqliteConnection,
    upserts: &[&Lease],
    removes: &[Ipv4Addr],
) -> Result<(), StoreError> {
    // Each chunk is padded to a power of two by repeating its last row, so only a
    // few statements are ever prepared.
    for chunk in upserts.chunks(MAX_ROWS) {
        let size = chunk.len().next_power_of_two();
        let mut query = sqlx::query(upsert_sql(size));
        for i in 0..size {
            let l = chunk[i.min(chunk.len() - 1)];
            query = query
                .bind(l.ip.to_string())
                .bind(&l.mac[..])
                .bind(l.client_id.as_deref())
                .bind(l.hostname.as_deref())
                .bind(state_name(l.state))
                .bind(i64::try_from(l.starts).unwrap_or(i64::MAX))
                .bind(i64::try_from(l.ends).unwrap_or(i64::MAX));
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in removes.chunks(MAX_ROWS) {
        let size = chunk.len().next_power_of_two();
        let mut query = sqlx::query(delete_sql(size));
        for i in 0..size {
            query = query.bind(chunk[i.min(chunk.len() - 1)].to_string());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
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

/// One `leases` row as a [`Lease`], the same for every store's database.
pub(super) fn lease_of_row<'r, R>(row: &'r R) -> Result<Lease, StoreError>
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
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
    Ok(Lease {
        ip,
        mac,
        client_id: row.try_get("client_id")?,
        hostname: row.try_get("hostname")?,
        state: parse_state(&state).ok_or_else(|| bad("state"))?,
        starts: u64::try_from(starts).map_err(|_| bad("starts"))?,
        ends: u64::try_from(ends).map_err(|_| bad("ends"))?,
    })
}

impl LeaseStore for SqliteStore {
    async fn load(&self) -> Result<Vec<Lease>, StoreError> {
        let mut conn = self.conn.lock().await;
        let rows = sqlx::query(
            "SELECT ip, mac, client_id, hostname, state, starts, ends FROM leases ORDER BY ip",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(lease_of_row(row)?);
        }
        Ok(out)
    }

    /// Writes the final state of each address the changes touch: one multi-row
    /// upsert (and one multi-row delete, if any) per chunk, in one transaction
    /// when there is more than one statement, else as that statement's own.
    async fn apply(&self, changes: &[LeaseChange]) -> Result<Vec<Refusal>, StoreError> {
        // Only the last change of each address matters once all are applied.
        let (upserts, removes) = final_changes(changes);
        let statements = upserts.len().div_ceil(MAX_ROWS) + removes.len().div_ceil(MAX_ROWS);
        if statements == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.lock().await;
        if statements > 1 {
            let mut tx = conn.begin().await?;
            write_rows(&mut tx, &upserts, &removes).await?;
            tx.commit().await?;
        } else {
            write_rows(&mut conn, &upserts, &removes).await?;
        }
        Ok(Vec::new())
    }
}

/// What to do once a ticket's changes are durable (or failed to be).
pub type Then = Box<dyn FnOnce(Result<(), &str>) + Send>;

enum Done {
    Notify(oneshot::Sender<Result<(), String>>),
    Call(Then),
}

struct Ticket {
    changes: Vec<LeaseChange>,
    done: Done,
}

/// Told the refusals of each commit, before the tickets that wanted those
/// addresses hear they failed (the DHCP server corrects its cache with it).
pub type OnRefused = Box<dyn Fn(&[Refusal]) + Send + Sync>;

/// Funnels lease changes from many requests into batched, durable commits.
#[derive(Clone)]
pub struct GroupCommitter {
    tx: mpsc::UnboundedSender<Ticket>,
    queued: Arc<AtomicUsize>,
    on_refused: Arc<std::sync::OnceLock<OnRefused>>,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter")
            .field("queued", &self.queued())
            .finish()
    }
}

impl GroupCommitter {
    /// Starts the committer task over `store`, on the current tokio runtime.
    pub fn spawn<S: LeaseStore>(store: S) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let on_refused = Arc::new(std::sync::OnceLock::new());
        tokio::spawn(commit_loop(store, rx, queued.clone(), on_refused.clone()));
        GroupCommitter {
            tx,
            queued,
            on_refused,
        }
    }

    /// Calls `hook` with the refusals of every later commit that has some (once
    /// set, it stays).
    pub fn on_refused(&self, hook: OnRefused) {
        let _ = self.on_refused.set(hook);
    }

    /// Queues `changes` (in order, after everything queued before) and returns a
    /// handle that resolves once they are durable. Queuing never waits, so callers
    /// can queue while holding the lock that orders their changes.
    pub fn submit(&self, changes: Vec<LeaseChange>) -> Durable {
        let (done, wait) = oneshot::channel();
        self.queue(changes, Done::Notify(done));
        Durable(wait)
    }

    /// Queues `changes` like [`GroupCommitter::submit`] and runs `then` on the
    /// committer's task once they are durable (`Ok`) or failed (`Err`), in queue
    /// order, right after the commit: no task or wake-up per request.
    pub fn submit_then(&self, changes: Vec<LeaseChange>, then: Then) {
        self.queue(changes, Done::Call(then));
    }

    fn queue(&self, changes: Vec<LeaseChange>, done: Done) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(ticket)) = self.tx.send(Ticket { changes, done }) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            finish(ticket.done, Err("lease committer stopped"));
        }
    }

    /// Requests queued and not yet committed: how far the disk is behind.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Returns once `changes` are durable (or failed to be).
    pub async fn persist(&self, changes: Vec<LeaseChange>) -> Result<(), StoreError> {
        self.submit(changes).await
    }
}

fn finish(done: Done, result: Result<(), &str>) {
    match done {
        Done::Notify(tx) => {
            let _ = tx.send(result.map_err(str::to_owned));
        }
        Done::Call(then) => then(result),
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

/// What a ticket whose address the database refused hears.
pub const REFUSED: &str = "address held by another server in the lease database";

async fn commit_loop<S: LeaseStore>(
    store: S,
    mut rx: mpsc::UnboundedReceiver<Ticket>,
    queued: Arc<AtomicUsize>,
    on_refused: Arc<std::sync::OnceLock<OnRefused>>,
) {
    let mut batch: Vec<Ticket> = Vec::new();
    let mut changes: Vec<LeaseChange> = Vec::new();
    // Where each ticket's changes sit in `changes`.
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    let mut up = true;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        for ticket in &mut batch {
            let start = changes.len();
            changes.append(&mut ticket.changes);
            spans.push(start..changes.len());
        }
        let result = store.apply(&changes).await.map_err(|e| e.to_string());
        match &result {
            Err(err) => {
                if up {
                    error!(%err, "leases: lease database unreachable or failing; no offer or ack leaves until it is back");
                }
                error!(%err, leases = changes.len(), "leases: commit failed; the replies that needed it are not sent");
            }
            Ok(_) if !up => info!("leases: lease database back; commits resume"),
            Ok(_) => {}
        }
        if up != result.is_ok() {
            up = result.is_ok();
            crate::events::hub().metrics().set_lease_db_up(up);
        }
        let refused: std::collections::HashSet<Ipv4Addr> = match &result {
            Ok(refusals) if !refusals.is_empty() => {
                if let Some(hook) = on_refused.get() {
                    hook(refusals);
                }
                refusals.iter().map(|r| r.ip).collect()
            }
            _ => Default::default(),
        };
        let count = batch.len();
        for (ticket, span) in batch.drain(..).zip(spans.drain(..)) {
            let lost = !refused.is_empty()
                && changes[span].iter().any(|c| match c {
                    LeaseChange::Upsert(l) => refused.contains(&l.ip),
                    LeaseChange::Remove(_) => false,
                });
            let outcome = match &result {
                Err(err) => Err(err.as_str()),
                Ok(_) if lost => Err(REFUSED),
                Ok(_) => Ok(()),
            };
            finish(ticket.done, outcome);
        }
        changes.clear();
        queued.fetch_sub(count, Ordering::Relaxed);
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

    /// A batch larger than one statement, padded chunks, an address written
    /// twice and removed in one batch, removes mixed in: the database ends as
    /// the changes applied in order would leave it.
    #[tokio::test]
    async fn large_batches_store_the_final_state_of_each_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.sqlite");
        let store = SqliteStore::open(&path).await.unwrap();
        let mut changes = Vec::new();
        let mut want = std::collections::BTreeMap::new();
        for n in 0..1300u32 {
            let ip = Ipv4Addr::from(0x0a01_0000 + n);
            let lease = Lease {
                ip,
                mac: [2, 0, 0, 0, (n >> 8) as u8, n as u8],
                client_id: None,
                hostname: (n % 3 == 0).then(|| format!("h{n}")),
                state: LeaseState::Offered,
                starts: 1,
                ends: 2 + u64::from(n),
            };
            changes.push(LeaseChange::Upsert(lease.clone()));
            want.insert(ip, lease);
        }
        for n in (0..1300u32).step_by(7) {
            let ip = Ipv4Addr::from(0x0a01_0000 + n);
            changes.push(LeaseChange::Remove(ip));
            want.remove(&ip);
        }
        for n in (0..1300u32).step_by(14) {
            let ip = Ipv4Addr::from(0x0a01_0000 + n);
            let lease = Lease {
                ip,
                mac: [2, 1, 0, 0, (n >> 8) as u8, n as u8],
                client_id: Some(vec![1, 2, 3]),
                hostname: None,
                state: LeaseState::Bound,
                starts: 5,
                ends: 600,
            };
            changes.push(LeaseChange::Upsert(lease.clone()));
            want.insert(ip, lease);
        }
        store.apply(&changes).await.unwrap();
        // One more batch of three rows: padded to four in one statement.
        let three: Vec<_> = (0..3u32)
            .map(|n| {
                let mut l = want[&Ipv4Addr::from(0x0a01_0001 + n)].clone();
                l.state = LeaseState::Released;
                want.insert(l.ip, l.clone());
                LeaseChange::Upsert(l)
            })
            .collect();
        store.apply(&three).await.unwrap();
        let got = store.load().await.unwrap();
        assert_eq!(got.len(), want.len());
        for lease in got {
            assert_eq!(Some(&lease), want.get(&lease.ip));
        }
    }

    /// A store that holds every commit until the test lets it go.
    struct Gate(
        Arc<tokio::sync::Semaphore>,
        Arc<std::sync::Mutex<Vec<usize>>>,
    );

    impl LeaseStore for Gate {
        async fn load(&self) -> Result<Vec<Lease>, StoreError> {
            Ok(Vec::new())
        }
        async fn apply(&self, changes: &[LeaseChange]) -> Result<Vec<Refusal>, StoreError> {
            self.0.acquire().await.unwrap().forget();
            self.1.lock().unwrap().push(changes.len());
            Ok(Vec::new())
        }
    }

    /// `queued` counts what waits for the disk; callbacks run in queue order after
    /// their batch is committed, and requests queued during a commit share the next.
    #[tokio::test]
    async fn the_backlog_is_counted_and_callbacks_run_in_order() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let committer = GroupCommitter::spawn(Gate(gate.clone(), batches.clone()));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..10u8 {
            let order = order.clone();
            committer.submit_then(
                vec![LeaseChange::Upsert(lease(i, i, LeaseState::Offered))],
                Box::new(move |r| {
                    assert!(r.is_ok());
                    order.lock().unwrap().push(i);
                }),
            );
        }
        assert_eq!(committer.queued(), 10);
        gate.add_permits(2);
        for _ in 0..200 {
            if committer.queued() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(committer.queued(), 0);
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 10, "{batches:?}");
        assert!(batches.len() <= 2, "{batches:?}");
    }

    #[test]
    fn statements_have_a_power_of_two_rows() {
        assert!(upsert_sql(4).matches('?').count() == 28);
        assert!(delete_sql(8).matches('?').count() == 8);
    }

    #[tokio::test]
    async fn a_bad_row_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.sqlite");
        let store = SqliteStore::open(&path).await.unwrap();
        sqlx::query("INSERT INTO leases VALUES ('10.0.0.1', x'0102', NULL, NULL, 'bound', 0, 0)")
            .execute(&mut *store.conn.lock().await)
            .await
            .unwrap();
        let err = store.load().await.unwrap_err().to_string();
        assert!(err.contains("10.0.0.1") && err.contains("mac"), "{err}");
    }
}
