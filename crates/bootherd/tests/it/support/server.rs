//! The server under test: [`Server`], a `bootherd serve` on loopback or in a
//! lab namespace, its log read as it runs, killed and reaped on drop.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// How long the server may take to log that it listens.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);

/// Environment variable put into the server's environment; no reply may ever contain it.
pub const CANARY_VAR: &str = "BOOTHERD_TEST_CANARY";
pub const CANARY_VALUE: &str = "canary-6b1f0c2e-do-not-serve";

/// A running `bootherd serve`, killed and reaped on drop.
pub struct Server {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// Addresses from the `tftp listening on` line.
    pub tftp: Vec<SocketAddrV4>,
    /// Addresses from the `http listening on` line.
    pub http: Vec<SocketAddrV4>,
}

/// `serve` flags for 127.0.0.1 with kernel-chosen ports.
pub const LOCAL_SERVE: [&str; 6] = [
    "--listen",
    "127.0.0.1",
    "--tftp-port",
    "0",
    "--http-port",
    "0",
];

impl Server {
    /// `bootherd serve SOURCE PATH EXTRA...` (`SOURCE` is `--root` or
    /// `--config`), inside namespace `ns` when given, at log level `rust_log`
    /// when given.
    fn serve(
        ns: Option<&str>,
        source: &str,
        path: &Path,
        extra: &[&str],
        rust_log: Option<&str>,
    ) -> Command {
        let mut cmd = match ns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, BOOTHERD]);
                cmd
            }
            None => Command::new(BOOTHERD),
        };
        cmd.args(["serve", source]).arg(path).args(extra);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        cmd
    }

    /// Starts the server on 127.0.0.1 with kernel-chosen ports.
    pub fn start_local(root: &Path) -> Server {
        Server::spawn(Server::serve(None, "--root", root, &LOCAL_SERVE, None))
    }

    /// Starts the server on 127.0.0.1 with kernel-chosen ports and `config`.
    pub fn start_local_config(config: &Path) -> Server {
        Server::spawn(Server::serve(None, "--config", config, &LOCAL_SERVE, None))
    }

    /// The child's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the server inside namespace `ns` with its default addresses and ports.
    pub fn start_in(ns: &str, root: &Path) -> Server {
        Server::start_in_with(ns, root, &[], None)
    }

    /// Like [`Server::start_in`], with more `serve` flags (such as `--proxy`,
    /// `--no-http` or `--config FILE`) and, when `rust_log` is given, that log
    /// level instead of the default. With `--proxy` among the flags it also waits
    /// for `proxy listening on`.
    pub fn start_in_with(ns: &str, root: &Path, extra: &[&str], rust_log: Option<&str>) -> Server {
        let server = Server::spawn(Server::serve(Some(ns), "--root", root, extra, rust_log));
        if extra.contains(&"--proxy") {
            server.expect_log(
                &["proxy listening on "],
                STARTUP_LIMIT,
                "bootherd serve --proxy did not log `proxy listening on`",
            );
        }
        server
    }

    /// Starts `bootherd serve --config CONFIG` with `extra` flags inside namespace
    /// `ns`, at log level `rust_log` when given. Returns once TFTP and HTTP listen;
    /// waiting for the DHCP lines is the caller's business.
    pub fn start_in_config(
        ns: &str,
        config: &Path,
        extra: &[&str],
        rust_log: Option<&str>,
    ) -> Server {
        Server::spawn(Server::serve(Some(ns), "--config", config, extra, rust_log))
    }

    /// [`Server::start_in_config`] with the server run under `wrapper` (a
    /// program and its arguments, such as `strace -f -o FILE`), which must exec
    /// or run the command that follows it. [`Server::pid`] is then the
    /// wrapper's, or bootherd's when the wrapper execs it (`setpriv`).
    pub fn start_in_config_under(
        ns: &str,
        wrapper: &[&str],
        config: &Path,
        extra: &[&str],
        rust_log: Option<&str>,
    ) -> Server {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .args(wrapper)
            .arg(BOOTHERD)
            .args(["serve", "--config"])
            .arg(config)
            .args(extra);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        Server::spawn(cmd)
    }

    /// Starts `cmd`, a `bootherd serve` of any making (another binary, under
    /// an emulator, with more environment), and waits as [`Server::spawn`] does.
    pub fn start(cmd: Command) -> Server {
        Server::spawn(cmd)
    }

    /// Runs `cmd` and waits until the server logs where TFTP and (unless
    /// `--no-http` is among the arguments) HTTP listen.
    fn spawn(mut cmd: Command) -> Server {
        let want_http = !cmd.get_args().any(|a| a == "--no-http");
        let level = cmd
            .get_envs()
            .find(|(k, _)| *k == "RUST_LOG")
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .or_else(|| std::env::var("BOOTHERD_TEST_RUST_LOG").ok())
            .unwrap_or_else(|| "info".into());
        cmd.env("RUST_LOG", level)
            .env("NO_COLOR", "1")
            .env(CANARY_VAR, CANARY_VALUE)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn bootherd serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, lines_rx) = mpsc::channel::<String>();

        // stdout is kept too, in case something is logged there by mistake.
        for (pipe, tag, tx) in [
            (
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                "stdout: ",
                None,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                "",
                Some(lines_tx),
            ),
        ] {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let Some(pipe) = pipe else { return };
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let line = strip_ansi(&line);
                    if let Some(tx) = &tx {
                        let _ = tx.send(line.clone());
                    }
                    log.lock().unwrap().push(format!("{tag}{line}"));
                }
            });
        }

        let mut server = Server {
            child,
            log,
            tftp: Vec::new(),
            http: Vec::new(),
        };
        let deadline = Instant::now() + STARTUP_LIMIT;
        let listening = |s: &Server| !s.tftp.is_empty() && (!want_http || !s.http.is_empty());
        while !listening(&server) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(addrs) = listening_addrs(&line, "tftp listening on ") {
                        server.tftp = addrs;
                    }
                    if let Some(addrs) = listening_addrs(&line, "http listening on ") {
                        server.http = addrs;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait();
                    panic!(
                        "bootherd serve exited before listening ({status:?}); log:\n{}",
                        server.log_text()
                    );
                }
            }
            if !listening(&server) {
                if let Ok(Some(status)) = server.child.try_wait() {
                    thread::sleep(Duration::from_millis(100));
                    panic!(
                        "bootherd serve exited before listening ({status}); log:\n{}",
                        server.log_text()
                    );
                }
                if Instant::now() >= deadline {
                    panic!(
                        "bootherd serve did not log `tftp listening on`{} within {STARTUP_LIMIT:?}; log:\n{}",
                        if want_http { " and `http listening on`" } else { "" },
                        server.log_text()
                    );
                }
            }
        }
        server
    }

    /// The first TFTP address.
    pub fn tftp_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.tftp[0])
    }

    /// The first HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.http[0])
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the server to exit; its status, or `None` if it
    /// still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to `limit` for the server's resident memory to come back within
    /// `slack_kib` of `idle_kib`; fails the test with `what` and the figures if
    /// it does not. Returns the last reading.
    pub fn expect_rss_near(
        &self,
        idle_kib: u64,
        slack_kib: u64,
        limit: Duration,
        what: &str,
    ) -> u64 {
        let settled = wait_until(limit, || {
            self.rss_kib()
                .is_some_and(|rss| rss <= idle_kib + slack_kib)
        });
        let end = self.rss_kib().unwrap_or(0);
        assert!(
            settled,
            "{what}: RSS {end} KiB after {limit:?}, {idle_kib} KiB idle (allowed {slack_kib} KiB more)"
        );
        end
    }

    /// The server's resident memory in KiB (`VmRSS` in /proc), `None` once it is gone.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// The logged lines so far that contain every one of `needles`.
    pub fn log_lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.log
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|line| needles.iter().all(|n| line.contains(n)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits up to `limit` for a logged line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        self.wait_for_lines(&[needle], 1, limit)
    }

    /// Waits up to `limit` until at least `count` logged lines contain every one of `needles`.
    pub fn wait_for_lines(&self, needles: &[&str], count: usize, limit: Duration) -> bool {
        wait_until(limit, || self.log_lines_with(needles).len() >= count)
    }

    /// [`Server::wait_for_lines`], failing the test with `what` and the log
    /// when the lines do not come; returns every line with all of `needles`.
    pub fn expect_lines(
        &self,
        needles: &[&str],
        count: usize,
        limit: Duration,
        what: &str,
    ) -> Vec<String> {
        assert!(
            self.wait_for_lines(needles, count, limit),
            "{what} (waited {limit:?} for {count} line(s) with {needles:?}); log:\n{}",
            self.log_text()
        );
        self.log_lines_with(needles)
    }

    /// [`Server::expect_lines`] for one line, which it returns (the first).
    pub fn expect_log(&self, needles: &[&str], limit: Duration, what: &str) -> String {
        self.expect_lines(needles, 1, limit, what).remove(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- bootherd log ---\n{}\n--- end of bootherd log ---",
                self.log_text()
            );
        }
    }
}

/// Removes terminal colour sequences (`ESC [ ... letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses `ADDR:PORT[, ADDR:PORT...]` after `marker` in a log line.
fn listening_addrs(line: &str, marker: &str) -> Option<Vec<SocketAddrV4>> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let mut addrs = Vec::new();
    for item in rest.split(',') {
        let token: String = item
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        match token.parse() {
            Ok(addr) => addrs.push(addr),
            Err(_) => break,
        }
    }
    (!addrs.is_empty()).then_some(addrs)
}

#[test]
fn listening_line_parses_one_or_more_addresses() {
    let line =
        "2026-01-01T00:00:00Z  INFO bootherd: tftp listening on 127.0.0.1:4069, 10.99.0.1:69";
    assert_eq!(
        listening_addrs(line, "tftp listening on "),
        Some(vec![
            "127.0.0.1:4069".parse().unwrap(),
            "10.99.0.1:69".parse().unwrap()
        ])
    );
    let clean = strip_ansi("\u{1b}[32m INFO\u{1b}[0m http listening on 0.0.0.0:80");
    assert_eq!(
        listening_addrs(&clean, "http listening on "),
        Some(vec!["0.0.0.0:80".parse().unwrap()])
    );
}
