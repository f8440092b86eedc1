//! A throwaway PostgreSQL server ([`Postgres`]): `initdb` in a temporary
//! directory, the server listening on a Unix socket in that directory only (no
//! TCP), run as the `postgres` user (PostgreSQL refuses root). It stops and its
//! directory goes on drop, also while a test panics.
//!
//! A Unix socket is reachable from every network namespace of the host, so
//! bootherd servers in different lab namespaces share one database.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{run_bounded, temp_dir};

/// How long `initdb` and a server start may take.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The directory of PostgreSQL's programs (`/usr/lib/postgresql/N/bin`, the
/// highest N), if installed.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

/// A running PostgreSQL server of its own.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    server: Option<Child>,
}

impl Postgres {
    /// Creates a database cluster and starts its server; panics if it cannot.
    pub fn start() -> Postgres {
        let bin =
            postgres_bin().expect("PostgreSQL (Debian's postgresql package) is not installed");
        let dir = temp_dir();
        // The socket directory is reachable by anyone (bootherd may run as its
        // own user); the data directory is the postgres user's alone.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        let chown = run_bounded(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()),
            Duration::from_secs(10),
        )
        .expect("run chown");
        assert!(
            chown.success(),
            "chown postgres {}: {}",
            dir.path().display(),
            chown.describe()
        );
        let mut pg = Postgres {
            dir,
            bin,
            server: None,
        };
        let out = run_bounded(
            pg.as_postgres(&pg.bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            START_LIMIT,
        )
        .expect("run initdb");
        assert!(out.success(), "initdb: {}", out.describe());
        pg.run();
        pg
    }

    /// The URL bootherd connects with (`lease_db`).
    pub fn url(&self) -> String {
        format!(
            "postgres:///postgres?host={}&user=postgres",
            self.dir.path().display()
        )
    }

    /// Runs `sql` with psql; returns its output (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        let out = run_bounded(
            self.as_postgres(&self.bin.join("psql"))
                .arg("-h")
                .arg(self.dir.path())
                .args([
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    sql,
                ]),
            Duration::from_secs(30),
        )
        .expect("run psql");
        assert!(out.success(), "psql -c {sql:?}: {}", out.describe());
        out.stdout
    }

    /// Stops the server at once (immediate shutdown: every connection drops,
    /// nothing is flushed that was not committed). The data stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.server.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = kill(Pid::from_raw(-(child.id() as i32)), Signal::SIGKILL);
        let _ = child.wait();
    }

    /// Starts the server again on the same data (after [`Postgres::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn run(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).unwrap();
        let child = self
            .as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-k")
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "unix_socket_permissions=0777",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start postgres");
        self.server = Some(child);
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let ready = run_bounded(
                Command::new(self.bin.join("pg_isready"))
                    .arg("-h")
                    .arg(self.dir.path())
                    .args(["-U", "postgres", "-t", "2"]),
                Duration::from_secs(10),
            )
            .is_ok_and(|o| o.success());
            if ready {
                return;
            }
            if let Some(Ok(Some(status))) = self.server.as_mut().map(|c| c.try_wait()) {
                panic!("postgres exited ({status}) at start:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres not ready within {START_LIMIT:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// `program` run as the postgres user, from the temporary directory.
    fn as_postgres(&self, program: &Path) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(program)
            .current_dir(self.dir.path());
        cmd
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether PostgreSQL is installed, for a test that needs it. Prints `SKIP`
/// and returns false when not, except under `CI=true`, where it fails.
pub fn need_postgres(test: &str) -> bool {
    if postgres_bin().is_some() {
        return true;
    }
    let why = "PostgreSQL is not installed (/usr/lib/postgresql/*/bin; scripts/test installs Debian's postgresql)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run under CI=true: {why}");
    }
    eprintln!("SKIP {test}: {why}");
    false
}
