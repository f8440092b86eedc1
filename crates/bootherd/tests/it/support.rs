//! Test fixtures: the namespace lab, the server under test, bounded commands,
//! test files; background programs in a lab ([`Bg`]), dnsmasq as the LAN's DHCP
//! server ([`Dnsmasq`]) and tcpdump ([`Capture`]) in their own modules.
//!
//! Everything here cleans up after itself on drop, including while a test panics.

mod bg;
mod capture;
pub mod chromium;
mod dhcp_client;
mod dnsmasq;

pub use bg::{read_lossy, tail, wait_until, Bg};
pub use capture::{
    assert_classified, dhcp_packets, ipv4_source, key_fields, option_text, parse_mac,
    udp_datagrams, Capture, Frame, WireDhcp, BOOTHERD_DHCP_REPLIES,
};
pub use dhcp_client::{owned_discover, owned_request, Answer, DhcpClient, BROADCAST_67};
pub use dnsmasq::{Dnsmasq, LAN_DHCP_IP, LAN_RANGE};

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BOOTHERD: &str = env!("CARGO_BIN_EXE_bootherd");

/// How long the server may take to log that it listens.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);

/// The server's address inside a lab (`NAME-srv`, eth0).
pub const LAB_SERVER_IP: &str = "10.99.0.1";
/// [`LAB_SERVER_IP`] as an address.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// Whether `ip` lies in the inclusive range.
pub fn in_range(ip: Ipv4Addr, range: (Ipv4Addr, Ipv4Addr)) -> bool {
    (u32::from(range.0)..=u32::from(range.1)).contains(&u32::from(ip))
}

/// Environment variable put into the server's environment; no reply may ever contain it.
pub const CANARY_VAR: &str = "BOOTHERD_TEST_CANARY";
pub const CANARY_VALUE: &str = "canary-6b1f0c2e-do-not-serve";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lab_script() -> PathBuf {
    repo_root().join("lab/lab.sh")
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Effective uid from /proc, so the tests need no libc binding.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn namespaces_unusable() -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("not running as root".into());
    }
    if !lab_script().is_file() {
        return Some(format!("{} is missing", lab_script().display()));
    }
    match run_bounded(
        Command::new("ip").args(["netns", "list"]),
        Duration::from_secs(10),
    ) {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("`ip netns list` failed: {}", out.stderr.trim())),
        Err(err) => Some(format!("cannot run `ip netns list`: {err}")),
    }
}

/// Says a test did not run, on the real stderr: the test harness captures
/// `eprintln!` of passing tests, and a skip must stay visible.
fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

/// Whether `test` can run: true without a `reason` against it; else prints
/// `SKIP <test>: <reason>` and returns false, except under `CI=true`, where a
/// test that cannot run is a failure.
fn can_run(test: &str, reason: Option<String>) -> bool {
    let Some(reason) = reason else {
        return true;
    };
    if is_ci() {
        panic!("{test}: CI=true, but {reason}");
    }
    skip(test, &reason);
    false
}

/// The reason against a test when any of `items` is `absent`: `what: a, b (hint)`.
fn any_absent(
    items: &[&str],
    absent: impl Fn(&str) -> bool,
    what: &str,
    hint: &str,
) -> Option<String> {
    let missing: Vec<&str> = items.iter().copied().filter(|i| absent(i)).collect();
    (!missing.is_empty()).then(|| format!("{what}: {} ({hint})", missing.join(", ")))
}

/// Whether a test that needs root and network namespaces can run here.
///
/// Prints `SKIP <test>: <reason>` and returns false when it cannot, except under
/// `CI=true`, where a test that cannot run is a failure.
pub fn need_root(test: &str) -> bool {
    can_run(
        test,
        namespaces_unusable().map(|r| format!("it needs root and network namespaces, and {r}")),
    )
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Whether every program in `tools` is installed, for a test that needs no
/// root. Prints `SKIP` and returns false when not, except under `CI=true`.
pub fn need_tools(test: &str, tools: &[&str]) -> bool {
    can_run(
        test,
        any_absent(
            tools,
            |t| !on_path(t),
            "not installed",
            "scripts/test installs them",
        ),
    )
}

/// Whether every program in `tools` is installed and every file in `files`
/// exists (such as the packages `scripts/package` builds), for a test that
/// needs no root. Prints `SKIP` and returns false when not, except under
/// `CI=true`.
pub fn need_files(test: &str, tools: &[&str], files: &[&Path]) -> bool {
    let missing_files = || {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        any_absent(
            &names,
            |f| !Path::new(f).is_file(),
            "missing",
            "scripts/test builds them with scripts/package",
        )
    };
    need_tools(test, tools) && can_run(test, missing_files())
}

/// Held by tests that install bootherd's Debian package on this machine, or
/// depend on what it installs (/var/lib/bootherd), so that they never overlap.
pub static HOST_PACKAGE: Mutex<()> = Mutex::new(());

/// [`HOST_PACKAGE`], also when a test that held it panicked.
pub fn lock_host_package() -> std::sync::MutexGuard<'static, ()> {
    HOST_PACKAGE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`need_root`], and every client program in `tools` installed (`scripts/test`
/// installs them). Prints `SKIP` and returns false when not, except under `CI=true`.
pub fn need_lab(test: &str, tools: &[&str]) -> bool {
    need_lab_files(test, tools, &[])
}

/// [`need_lab`], and every file in `files` present (firmware images and boot
/// programs from Debian packages that `scripts/test` installs). Prints `SKIP` and
/// returns false when not, except under `CI=true`.
pub fn need_lab_files(test: &str, tools: &[&str], files: &[&str]) -> bool {
    let missing_tools = || {
        any_absent(
            tools,
            |t| !on_path(t),
            "not installed",
            "scripts/test installs them",
        )
    };
    let missing_files = || {
        any_absent(
            files,
            |f| !Path::new(f).is_file(),
            "missing",
            "scripts/test installs the packages",
        )
    };
    need_root(test) && can_run(test, missing_tools().or_else(missing_files))
}

/// `bootherd show --config CONFIG MACHINE --server` [`LAB_SERVER_IP`]: the
/// files bootherd serves that machine in a lab, each under `==> PATH <==`.
pub fn show_in_lab(config: &Path, machine: &str) -> String {
    let out = run_bootherd([
        "show".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        machine.as_ref(),
        "--server".as_ref(),
        LAB_SERVER_IP.as_ref(),
    ]);
    assert!(out.success(), "{}", out.describe());
    out.stdout
}

/// What a finished (or killed) command left behind.
#[derive(Debug)]
pub struct RunOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    /// Everything a failure message needs.
    pub fn describe(&self) -> String {
        format!(
            "status {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            if self.timed_out {
                " (killed: timed out)"
            } else {
                ""
            },
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// Runs `cmd` with no stdin, collecting its output; kills it after `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> std::io::Result<RunOutput> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let text = |h: JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Ok(RunOutput {
        status,
        stdout: text(stdout),
        stderr: text(stderr),
        timed_out,
    })
}

/// Runs the binary under test with `args`, bounded.
pub fn run_bootherd<I, S>(args: I) -> RunOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BOOTHERD);
    cmd.args(args);
    run_bounded(&mut cmd, Duration::from_secs(30)).expect("run bootherd")
}

/// ISC dhclient's arguments for `iface`, `more` flags first, with private files
/// in `dir`: an empty `dhclient.conf`, script `script`, the lease file
/// [`dhclient_leases`] and a pid file.
pub fn dhclient_args(dir: &Path, script: &Path, iface: &str, more: &[&str]) -> Vec<String> {
    let conf = dir.join("dhclient.conf");
    std::fs::write(&conf, "").unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
    let mut args: Vec<String> = vec!["dhclient".into()];
    args.extend(more.iter().map(|s| s.to_string()));
    for (flag, path) in [
        ("-cf", conf),
        ("-sf", script.to_path_buf()),
        ("-lf", dhclient_leases(dir, iface)),
        ("-pf", dir.join(format!("dhclient-{iface}.pid"))),
    ] {
        args.push(flag.into());
        args.push(path.display().to_string());
    }
    args.push(iface.into());
    args
}

/// The lease file of [`dhclient_args`].
pub fn dhclient_leases(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("dhclient-{iface}.leases"))
}

/// Runs `lab/lab.sh ARGS`, killed after `limit`; fails the test unless it succeeds.
fn lab_sh(args: &[&str], limit: Duration) {
    let out = run_bounded(Command::new(lab_script()).args(args), limit)
        .unwrap_or_else(|e| panic!("run lab/lab.sh {}: {e}", args.join(" ")));
    assert!(
        out.success(),
        "lab/lab.sh {} failed: {}",
        args.join(" "),
        out.describe()
    );
}

static LAB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Three network namespaces from `lab/lab.sh up`, torn down on drop.
pub struct Lab {
    name: String,
}

impl Lab {
    pub fn up() -> Lab {
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        // Constructed before `up` runs, so a half-built lab is torn down too.
        let lab = Lab {
            name: format!("bh-{}-{n}", std::process::id()),
        };
        lab_sh(&["up", &lab.name], Duration::from_secs(60));
        lab
    }

    /// The namespace holding the server under test.
    pub fn srv(&self) -> String {
        format!("{}-srv", self.name)
    }

    /// The namespace holding the clients (and the bridge).
    pub fn cli(&self) -> String {
        format!("{}-cli", self.name)
    }

    /// The namespace holding the LAN's own DHCP server (10.99.0.2).
    pub fn lan(&self) -> String {
        format!("{}-lan", self.name)
    }

    /// Adds tap device `tap` to the bridge in the client namespace (`lab/lab.sh tap`),
    /// for a QEMU guest; it goes away with the namespace.
    pub fn add_tap(&self, tap: &str) {
        lab_sh(&["tap", &self.name, tap], Duration::from_secs(30));
    }

    /// Runs `args` inside namespace `ns`, killed after `secs` seconds (by
    /// `timeout`, and by this process should `timeout` itself hang).
    pub fn exec<S: AsRef<OsStr>>(&self, ns: &str, secs: u64, args: &[S]) -> RunOutput {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", &secs.to_string(), "ip", "netns", "exec", ns]);
        cmd.args(args);
        run_bounded(&mut cmd, Duration::from_secs(secs + 15)).expect("run timeout/ip netns exec")
    }

    /// busybox udhcpc once in the client namespace on `iface`: in the foreground,
    /// quitting with a lease or after `tries` DISCOVERs 2 s apart, with script
    /// `/bin/true` (which leaves the interface alone); `extra` goes last. Killed
    /// after 30 s.
    pub fn udhcpc_once(&self, iface: &str, tries: u32, extra: &[&str]) -> RunOutput {
        let tries = tries.to_string();
        let mut args = vec![
            "busybox",
            "udhcpc",
            "-f",
            "-q",
            "-n",
            "-t",
            &tries,
            "-T",
            "2",
            "-i",
            iface,
            "-s",
            "/bin/true",
        ];
        args.extend_from_slice(extra);
        self.exec(&self.cli(), 30, &args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        match run_bounded(
            Command::new(lab_script()).args(["down", &self.name]),
            Duration::from_secs(60),
        ) {
            Ok(out) if out.success() => {}
            Ok(out) => eprintln!("lab/lab.sh down {} failed: {}", self.name, out.describe()),
            Err(err) => eprintln!("lab/lab.sh down {}: {err}", self.name),
        }
    }
}

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
const LOCAL: [&str; 6] = [
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
        Server::spawn(Server::serve(None, "--root", root, &LOCAL, None))
    }

    /// Starts the server on 127.0.0.1 with kernel-chosen ports and `config`.
    pub fn start_local_config(config: &Path) -> Server {
        Server::spawn(Server::serve(None, "--config", config, &LOCAL, None))
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

/// Whether to rewrite golden files and fixtures: `BOOTHERD_BLESS=1` does; unset,
/// empty or `0` compares; any other value stops the test, so that a typo neither
/// blesses nor quietly compares. The one rule of every golden file in the project
/// (`render.rs`'s unit tests follow it too).
pub fn bless_requested() -> bool {
    match std::env::var("BOOTHERD_BLESS").as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("" | "0") => false,
        Ok("1") => true,
        Ok(other) => panic!(
            "BOOTHERD_BLESS={other:?}: set it to 1 to rewrite the expected files, or to 0 (or \
             unset it) to compare"
        ),
        Err(err) => panic!("BOOTHERD_BLESS: {err}"),
    }
}

/// Deterministic pseudo-random bytes (splitmix64), different for each seed.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `contents` to `path`, creating parent directories.
pub fn write_file(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directory");
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Asserts the file at `got` holds exactly `want`, reporting the first difference
/// instead of dumping megabytes.
pub fn assert_file_eq(got: &Path, want: &[u8], what: &str) {
    let data = std::fs::read(got)
        .unwrap_or_else(|e| panic!("{what}: cannot read received file {}: {e}", got.display()));
    if data == want {
        return;
    }
    let first = data.iter().zip(want).position(|(a, b)| a != b);
    panic!(
        "{what}: received {} bytes, expected {}; first difference at byte {}",
        data.len(),
        want.len(),
        first.map_or_else(
            || "(one is a prefix of the other)".into(),
            |p| p.to_string()
        )
    );
}

/// A temporary directory, removed on drop. The name carries this process's id
/// so `lab/lab.sh sweep` can remove what a killed run left.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("bootherd-it-{}-", std::process::id()))
        .tempdir()
        .expect("create temp dir")
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

#[test]
fn pseudo_random_bytes_are_deterministic() {
    assert_eq!(pseudo_random_bytes(7, 1000), pseudo_random_bytes(7, 1000));
    assert_ne!(pseudo_random_bytes(7, 64), pseudo_random_bytes(8, 64));
    assert_eq!(pseudo_random_bytes(7, 13).len(), 13);
}
