//! The PostgreSQL lease store, shared by several bootherd servers (active-active).
//!
//! The database decides who holds an address: the address is the table's primary
//! key, and a write replaces a row only when that row is free (expired or
//! released), or is the same client's (and not declined) and the write comes
//! from the server that wrote the row, or binds (a renewal or a REQUEST
//! reaching the other server), or declines, or offers over an offer. So another
//! server can neither take a live address from its client nor release or
//! shorten a lease it did not write (a losing server withdrawing its offer
//! cannot undo the winner's ACK). A refused
//! write is reported to the caller with the row that won, so the server drops the
//! reply that depended on it and corrects its cache. Every statement has a fixed
//! text; values travel as bind parameters (arrays, unnested by the server).

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use bootherd_proto::dhcp::{Lease, LeaseChange};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;

use super::{final_changes, lease_of_row, state_name, Refusal, StoreError};

/// How long one commit, load or lookup may take before it counts as failed (the
/// database is unreachable or stuck); the pool reconnects on the next try.
const DB_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, in versions: sqlx records the applied ones in
/// `_sqlx_migrations` and holds an advisory lock while it applies, so two
/// servers starting at once apply each version once.
fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![Migration::new(
            1,
            "leases".into(),
            MigrationType::Simple,
            include_str!("migrations/0001_leases.sql").into(),
            false,
        )]),
        ..Migrator::DEFAULT
    }
}

/// A PostgreSQL lease store: a small connection pool, and this server's name,
/// written with each row it stores.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    server: Arc<str>,
}

/// Whether `db` names a PostgreSQL database rather than an SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `db` for the log: a URL's password replaced by `***`.
pub fn redact(db: &str) -> String {
    if !is_postgres_url(db) {
        return db.to_owned();
    }
    let (scheme, rest) = db.split_once("://").unwrap_or(("", db));
    let Some((userinfo, host)) = rest.split_once('@') else {
        return db.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => db.to_owned(),
    }
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date. `server` names this
    /// bootherd in the rows it writes.
    pub async fn connect(url: &str, server: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(DB_TIMEOUT)
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        // A commit is durable only if the server waits for its WAL flush.
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&pool)
            .await?;
        if sync == "off" {
            tracing::warn!("leases: the lease database has synchronous_commit = off: a lease ACKed just before a database crash can be lost; set it to on for bootherd's role or database");
        }
        Ok(PgStore {
            pool,
            server: server.into(),
        })
    }

    /// This server's name in the rows it writes.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Rows written by other servers with a sequence number above `seq`, and the
    /// highest sequence number among them (`seq` if none).
    pub async fn changed_since(&self, seq: i64) -> Result<(Vec<Lease>, i64), StoreError> {
        let rows = bounded(
            sqlx::query(
                "SELECT ip, mac, client_id, hostname, state, starts, ends, seq FROM leases
                 WHERE seq > $1 AND server <> $2 ORDER BY seq",
            )
            .bind(seq)
            .bind(&*self.server)
            .fetch_all(&self.pool),
        )
        .await?;
        let mut top = seq;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            top = top.max(row.try_get::<i64, _>("seq")?);
            out.push(lease_of(row)?);
        }
        Ok((out, top))
    }

    /// The rows of address `ip` and of client `mac`.
    pub async fn lookup(&self, ip: Ipv4Addr, mac: [u8; 6]) -> Result<Vec<Lease>, StoreError> {
        let rows = bounded(
            sqlx::query(
                "SELECT ip, mac, client_id, hostname, state, starts, ends FROM leases
                 WHERE ip = $1 OR mac = $2",
            )
            .bind(ip.to_string())
            .bind(&mac[..])
            .fetch_all(&self.pool),
        )
        .await?;
        rows.iter().map(lease_of).collect()
    }

    /// Every stored lease.
    pub async fn load(&self) -> Result<Vec<Lease>, StoreError> {
        let rows = bounded(
            sqlx::query("SELECT ip, mac, client_id, hostname, state, starts, ends FROM leases")
                .fetch_all(&self.pool),
        )
        .await?;
        rows.iter().map(lease_of).collect()
    }

    /// Writes `changes` in one transaction, durably (PostgreSQL's commit waits
    /// for its WAL flush). Returns the addresses whose writes the database
    /// refused, each with the row that holds it.
    pub async fn apply(
        &self,
        changes: &[LeaseChange],
        now: u64,
    ) -> Result<Vec<Refusal>, StoreError> {
        bounded(self.apply_unbounded(changes, now)).await
    }

    /// Copies `leases` as they are (for `bootherd leases migrate`): rows already
    /// there for the same address are replaced. One transaction.
    pub async fn import(&self, leases: &[Lease]) -> Result<(), StoreError> {
        let changes: Vec<LeaseChange> = leases.iter().cloned().map(LeaseChange::Upsert).collect();
        let mut tx = self.pool.begin().await?;
        let columns = Columns::of(changes.iter().filter_map(|c| match c {
            LeaseChange::Upsert(l) => Some(l),
            LeaseChange::Remove(_) => None,
        }));
        sqlx::query(
            "INSERT INTO leases (ip, mac, client_id, hostname, state, starts, ends, server)
             SELECT t.*, $8 FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::text[],
               $5::text[], $6::int8[], $7::int8[]) AS t(ip, mac, client_id, hostname, state, starts, ends)
             ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
               hostname = excluded.hostname, state = excluded.state, starts = excluded.starts,
               ends = excluded.ends, server = excluded.server, seq = nextval('lease_seq')",
        )
        .bind_columns(columns, &self.server)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn apply_unbounded(
        &self,
        changes: &[LeaseChange],
        now: u64,
    ) -> Result<Vec<Refusal>, StoreError> {
        let (upserts, removes) = final_changes(changes);
        if upserts.is_empty() && removes.is_empty() {
            return Ok(Vec::new());
        }
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let mut refused = Vec::new();
        if !upserts.is_empty() {
            let wanted: Vec<Ipv4Addr> = upserts.iter().map(|l| l.ip).collect();
            let columns = Columns::of(upserts.iter().copied());
            let written = sqlx::query(
                "INSERT INTO leases AS l (ip, mac, client_id, hostname, state, starts, ends, server)
                 SELECT t.*, $8 FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::text[],
                   $5::text[], $6::int8[], $7::int8[]) AS t(ip, mac, client_id, hostname, state, starts, ends)
                 ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac,
                   client_id = excluded.client_id, hostname = excluded.hostname,
                   state = excluded.state, starts = excluded.starts, ends = excluded.ends,
                   server = excluded.server, seq = nextval('lease_seq')
                 WHERE l.ends <= $9 OR l.state = 'released'
                    OR (l.mac = excluded.mac AND l.state <> 'declined'
                        AND (l.server = excluded.server
                             OR excluded.state IN ('bound', 'declined')
                             OR (excluded.state = 'offered' AND l.state = 'offered')))
                 RETURNING l.ip",
            )
            .bind_columns(columns, &self.server)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let written: HashSet<String> = written
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
            let lost: Vec<String> = wanted
                .iter()
                .map(|ip| ip.to_string())
                .filter(|ip| !written.contains(ip))
                .collect();
            if !lost.is_empty() {
                let rows = sqlx::query(
                    "SELECT ip, mac, client_id, hostname, state, starts, ends FROM leases
                     WHERE ip = ANY($1)",
                )
                .bind(&lost)
                .fetch_all(&mut *tx)
                .await?;
                let holders: Vec<Lease> = rows.iter().map(lease_of).collect::<Result<_, _>>()?;
                for ip in lost {
                    let ip: Ipv4Addr = ip.parse().map_err(|_| StoreError::BadRow {
                        ip: ip.clone(),
                        what: "address",
                    })?;
                    let holder = holders.iter().find(|l| l.ip == ip).cloned();
                    refused.push(Refusal { ip, holder });
                }
            }
        }
        if !removes.is_empty() {
            // Only our own rows, or rows nobody holds any more: another server
            // may have given the address out since.
            let ips: Vec<String> = removes.iter().map(|ip| ip.to_string()).collect();
            sqlx::query("DELETE FROM leases WHERE ip = ANY($1) AND (server = $2 OR ends <= $3)")
                .bind(ips)
                .bind(&*self.server)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(refused)
    }
}

/// Leases as one array per column, for `UNNEST`.
struct Columns {
    ips: Vec<String>,
    macs: Vec<Vec<u8>>,
    client_ids: Vec<Option<Vec<u8>>>,
    hostnames: Vec<Option<String>>,
    states: Vec<String>,
    starts: Vec<i64>,
    ends: Vec<i64>,
}

/// Binds a lease batch's columns as `$1`..`$7` and the writing server as `$8`,
/// the parameters of both upserts.
trait BindColumns<'q> {
    fn bind_columns(self, columns: Columns, server: &'q str) -> Self;
}

impl<'q> BindColumns<'q> for sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    fn bind_columns(self, c: Columns, server: &'q str) -> Self {
        self.bind(c.ips)
            .bind(c.macs)
            .bind(c.client_ids)
            .bind(c.hostnames)
            .bind(c.states)
            .bind(c.starts)
            .bind(c.ends)
            .bind(server)
    }
}

impl Columns {
    fn of<'a>(leases: impl Iterator<Item = &'a Lease>) -> Columns {
        let mut c = Columns {
            ips: Vec::new(),
            macs: Vec::new(),
            client_ids: Vec::new(),
            hostnames: Vec::new(),
            states: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
        };
        for l in leases {
            c.ips.push(l.ip.to_string());
            c.macs.push(l.mac.to_vec());
            c.client_ids.push(l.client_id.clone());
            c.hostnames.push(l.hostname.clone());
            c.states.push(state_name(l.state).to_owned());
            c.starts.push(i64::try_from(l.starts).unwrap_or(i64::MAX));
            c.ends.push(i64::try_from(l.ends).unwrap_or(i64::MAX));
        }
        c
    }
}

/// Fails `work` once it has taken [`DB_TIMEOUT`].
async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, impl Into<StoreError>>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(DB_TIMEOUT, work).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(StoreError::Commit(format!(
            "no answer from the database within {}s",
            DB_TIMEOUT.as_secs()
        ))),
    }
}

fn lease_of(row: &PgRow) -> Result<Lease, StoreError> {
    lease_of_row(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths_and_passwords_stay_out_of_the_log() {
        assert!(is_postgres_url("postgres://db/leases"));
        assert!(is_postgres_url("postgresql:///leases?host=/run/postgresql"));
        assert!(!is_postgres_url("/var/lib/bootherd/leases.sqlite"));
        assert!(!is_postgres_url("postgres.sqlite"));
        assert_eq!(
            redact("postgres://boot:s3cret@db.example:5432/leases"),
            "postgres://boot:***@db.example:5432/leases"
        );
        assert_eq!(
            redact("postgres://boot@db/leases"),
            "postgres://boot@db/leases"
        );
        assert_eq!(redact("leases.sqlite"), "leases.sqlite");
    }
}
