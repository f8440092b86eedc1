//! `bootherd serve` as systemd sees it, with the test playing the service
//! manager: a unix datagram socket named by `NOTIFY_SOCKET` (sd_notify(3))
//! receives READY=1 once every listener is bound (and never when one cannot
//! be), RELOADING=1 and READY=1 around a reload, STOPPING=1 at SIGTERM, and,
//! with `WATCHDOG_USEC` set, WATCHDOG=1 only while every service loop makes
//! progress: a DHCP receive thread stopped with ptrace (PTRACE_INTERRUPT stops
//! that one thread; the rest of bootherd runs on) stops the pings, and they
//! come back when it runs again. And `JOURNAL_STREAM`: stderr that is the
//! journal gets syslog priorities and no timestamps.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::ptrace;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::dhcp_lab::{in_netns, join};
use crate::support::{
    need_lab, run_bounded, temp_dir, wait_until, write_file, Lab, Server, BOOTHERD, LOCAL_SERVE,
};

/// The watchdog interval the tests ask for: bootherd pings every half second
/// and calls a loop wedged after 3 s without progress.
const WATCHDOG_USEC: &str = "2000000";

/// The service manager's end: every datagram, with when it arrived.
pub struct Manager {
    messages: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Manager {
    /// Binds `path` and reads every datagram sent to it until dropped.
    pub fn listen(path: &Path) -> Manager {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (messages, stop) = (messages.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        messages.lock().unwrap().push((Instant::now(), text));
                    }
                }
            })
        };
        Manager {
            messages,
            stop,
            reader: Some(reader),
        }
    }

    /// The messages containing `line` (one `KEY=VALUE` line of a datagram).
    pub fn with(&self, line: &str) -> Vec<(Instant, String)> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == line))
            .cloned()
            .collect()
    }

    fn all(&self) -> String {
        let messages = self.messages.lock().unwrap();
        messages
            .iter()
            .map(|(_, m)| m.replace('\n', " | "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits up to `limit` for `count` messages with `line`.
    fn expect(&self, line: &str, count: usize, limit: Duration, what: &str) {
        assert!(
            wait_until(limit, || self.with(line).len() >= count),
            "{what}: not {count} message(s) with {line} within {limit:?}; got:\n{}",
            self.all()
        );
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// What both lab tests start from: a temporary directory with a root holding
/// `ipxe.efi` (so that the proxy has a boot file), the notify socket's path, a
/// [`Manager`] listening on it, and a lab.
fn setup() -> (TempDir, PathBuf, PathBuf, Manager, Lab) {
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("ipxe.efi"), b"MZ");
    let notify = dir.path().join("notify");
    let manager = Manager::listen(&notify);
    let lab = Lab::up();
    (dir, root, notify, manager, lab)
}

/// `ip netns exec NS bootherd serve --root ROOT --proxy`, told where to notify.
fn serve_command(ns: &str, root: &Path, notify: &Path) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, BOOTHERD, "serve", "--root"])
        .arg(root)
        .arg("--proxy")
        .env("NOTIFY_SOCKET", notify)
        .env("WATCHDOG_USEC", WATCHDOG_USEC)
        .env_remove("WATCHDOG_PID");
    cmd
}

/// The id of the thread named `name` in process `pid`.
fn thread_named(pid: u32, name: &str) -> Option<i32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .filter_map(Result::ok)
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == name)
        })
        .and_then(|task| task.file_name().to_str()?.parse().ok())
}

#[test]
fn ready_after_binding_and_the_watchdog_stops_while_a_dhcp_thread_is_wedged() {
    let test = "ready_after_binding_and_the_watchdog_stops_while_a_dhcp_thread_is_wedged";
    if !need_lab(test, &[]) {
        return;
    }
    let (_dir, root, notify, manager, lab) = setup();
    let mut server = Server::start(serve_command(&lab.srv(), &root, &notify));
    server.expect_log(&["proxy listening on"], Duration::from_secs(10), "no proxy");
    manager.expect("READY=1", 1, Duration::from_secs(10), "start");
    let ready = &manager.with("READY=1")[0].1;
    assert!(
        ready.contains("STATUS=serving TFTP, HTTP, proxyDHCP"),
        "{ready}"
    );
    let watchdog = server.expect_log(
        &["systemd watchdog: fed while every service loop makes progress"],
        Duration::from_secs(5),
        "no watchdog",
    );
    assert!(watchdog.contains("interval_ms=2000"), "{watchdog}");
    manager.expect("WATCHDOG=1", 3, Duration::from_secs(5), "a healthy server");

    // Wedge the DHCP receive thread on port 67, and only it.
    let tid = thread_named(server.pid(), "dhcp-67")
        .unwrap_or_else(|| panic!("no thread dhcp-67 in bootherd ({})", server.pid()));
    let tid = Pid::from_raw(tid);
    ptrace::seize(tid, ptrace::Options::empty()).expect("PTRACE_SEIZE the dhcp-67 thread");
    ptrace::interrupt(tid).expect("PTRACE_INTERRUPT");
    waitpid(tid, Some(WaitPidFlag::__WALL)).expect("wait for the thread to stop");
    let wedged_at = Instant::now();
    let wedged = server.expect_log(
        &["systemd watchdog: no progress", "dhcp-67"],
        Duration::from_secs(10),
        "the wedged thread went unnoticed",
    );
    assert!(
        !wedged.contains("dhcp-4011") && !wedged.contains("tftp") && !wedged.contains("http"),
        "only dhcp-67 is wedged: {wedged}"
    );
    manager.expect(
        "STATUS=wedged: dhcp-67",
        1,
        Duration::from_secs(5),
        "status",
    );
    // No ping once the wedge is past the 3 s bound and a look (0.5 s); a
    // generous margin for a busy machine.
    let quiet_after = Duration::from_secs(6);
    let until = wedged_at + quiet_after + Duration::from_secs(2);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    let late: Vec<_> = manager
        .with("WATCHDOG=1")
        .into_iter()
        .filter(|(at, _)| at.duration_since(wedged_at) > quiet_after)
        .collect();
    assert!(
        late.is_empty(),
        "{} WATCHDOG=1 more than {quiet_after:?} after the wedge",
        late.len()
    );

    // Running again, it is fed again.
    let before = manager.with("WATCHDOG=1").len();
    ptrace::detach(tid, None).expect("PTRACE_DETACH");
    server.expect_log(
        &["every service loop makes progress again"],
        Duration::from_secs(5),
        "no recovery",
    );
    manager.expect(
        "WATCHDOG=1",
        before + 2,
        Duration::from_secs(5),
        "after the wedge",
    );

    // A reload says RELOADING=1, then READY=1 again; SIGTERM says STOPPING=1.
    let pid = Pid::from_raw(server.pid() as i32);
    kill(pid, Signal::SIGHUP).unwrap();
    manager.expect("RELOADING=1", 1, Duration::from_secs(5), "reload");
    manager.expect("READY=1", 2, Duration::from_secs(5), "reload");
    kill(pid, Signal::SIGTERM).unwrap();
    manager.expect("STOPPING=1", 1, Duration::from_secs(5), "stop");
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[test]
fn no_ready_when_a_listener_cannot_be_bound() {
    if !need_lab("no_ready_when_a_listener_cannot_be_bound", &[]) {
        return;
    }
    let (_dir, root, notify, manager, lab) = setup();
    // Port 4011 is taken: bootherd binds HTTP, TFTP and 67, then fails.
    let taken = join(in_netns(&lab.srv(), || {
        std::net::UdpSocket::bind("0.0.0.0:4011").expect("bind 4011 in the lab")
    }));
    let out = run_bounded(
        &mut serve_command(&lab.srv(), &root, &notify),
        Duration::from_secs(30),
    )
    .expect("run bootherd serve");
    assert!(
        !out.success() && out.stderr.contains("0.0.0.0:4011"),
        "{}",
        out.describe()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        manager.with("READY=1").is_empty(),
        "READY=1 though a listener failed: {}",
        manager.all()
    );
    drop(taken);
}

#[test]
fn stderr_that_is_the_journal_gets_priorities_and_no_timestamps() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let config = dir.path().join("bootherd.toml");
    write_file(&config, format!("[tftp]\nroot = {root:?}\n").as_bytes());
    let (read, write) = nix::unistd::pipe().expect("pipe");
    let stat = nix::sys::stat::fstat(write.as_raw_fd()).expect("fstat the pipe");
    let mut cmd = Command::new(BOOTHERD);
    cmd.args(["serve", "--config"])
        .arg(&config)
        .args(LOCAL_SERVE)
        .env("JOURNAL_STREAM", format!("{}:{}", stat.st_dev, stat.st_ino))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write));
    let mut child = cmd.spawn().expect("spawn bootherd");
    drop(cmd);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(std::fs::File::from(read)).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        })
    };
    let has = |needle: &str| lines.lock().unwrap().iter().any(|l| l.contains(needle));
    let started = wait_until(Duration::from_secs(10), || has("http listening on"));
    // A broken file and SIGHUP: an error line.
    write_file(&config, b"[tftp\n");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    let refused = wait_until(Duration::from_secs(10), || {
        has("configuration NOT reloaded")
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let lines = lines.lock().unwrap().clone();
    assert!(started && refused, "{lines:#?}");
    for line in &lines {
        let (priority, rest) = line
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .unwrap_or_else(|| panic!("no <priority> in {line:?}"));
        assert!(
            matches!(priority, "3" | "4" | "6" | "7"),
            "priority {priority} in {line:?}"
        );
        // No timestamp, no colours; an event's first line has its level word
        // at once (later lines of a multi-line message carry its priority too).
        assert!(
            !rest.starts_with("20") && !line.contains('\u{1b}'),
            "{line:?}"
        );
        if line.contains("bootherd::") {
            let level = rest.split_whitespace().next().unwrap_or_default();
            assert!(
                ["ERROR", "WARN", "INFO", "DEBUG"].contains(&level),
                "{line:?}"
            );
        }
    }
    let error = lines
        .iter()
        .position(|l| l.contains("configuration NOT reloaded"))
        .unwrap();
    assert!(lines[error].starts_with("<3>ERROR"), "{}", lines[error]);
    // The parse error's own lines follow, each an error too.
    assert!(
        lines.len() > error + 1 && lines[error + 1].starts_with("<3>"),
        "{lines:#?}"
    );
    let listening = lines
        .iter()
        .find(|l| l.contains("tftp listening on"))
        .unwrap();
    assert!(listening.starts_with("<6>"), "{listening}");
}

#[test]
fn stderr_that_is_not_the_journal_keeps_timestamps() {
    let dir = temp_dir();
    let mut cmd = Command::new(BOOTHERD);
    cmd.args(["serve", "--root"])
        .arg(dir.path())
        .args(LOCAL_SERVE)
        // A service's stderr sent elsewhere keeps the variable: it names
        // another file than stderr.
        .env("JOURNAL_STREAM", "1:1");
    let server = Server::start(cmd);
    let line = server.expect_log(&["tftp listening on"], Duration::from_secs(5), "start");
    assert!(
        line.starts_with("20") && line.contains('T') && !line.starts_with('<'),
        "{line}"
    );
}
