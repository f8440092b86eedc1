//! Headless Chromium inside a lab namespace, driven over the Chrome DevTools
//! Protocol on a pipe (`--remote-debugging-pipe`: commands on its fd 3, answers
//! on its fd 4, one JSON message each, NUL-terminated), so it opens no port.
//!
//! [`Chromium`] has its own profile in a temporary directory; on drop (also while
//! a test panics) its whole process group is killed and the profile removed.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A headless Chromium with one page attached.
pub struct Chromium {
    child: Child,
    commands: File,
    answers: Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl Chromium {
    /// Starts Chromium in namespace `ns` with a fresh profile and attaches to
    /// its page. Its stderr goes to `dir/chromium.err`.
    pub fn start(ns: &str, dir: &Path) -> Chromium {
        let profile = tempfile::Builder::new()
            .prefix("bootherd-chromium-")
            .tempdir()
            .expect("a temporary profile directory");
        // Close-on-exec: only Chromium gets them (as fds 3 and 4), not the
        // programs other tests start meanwhile.
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        let (to_chromium_read, to_chromium_write) = pipe();
        let (from_chromium_read, from_chromium_write) = pipe();
        let log = dir.join("chromium.err");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "chromium"])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--window-size=1280,1200",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .env("HOME", profile.path())
            .env("XDG_CONFIG_HOME", profile.path().join("config"))
            .env("XDG_CACHE_HOME", profile.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("chromium.err"))
            .process_group(0);
        let (child_read, child_write) = (
            to_chromium_read.as_raw_fd(),
            from_chromium_write.as_raw_fd(),
        );
        // SAFETY: only async-signal-safe calls (dup, dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Copies first (above 4), so that placing one cannot close the other;
                // dup2's copies have no close-on-exec.
                let read = libc::fcntl(child_read, libc::F_DUPFD, 10);
                let write = libc::fcntl(child_write, libc::F_DUPFD, 10);
                if read < 0 || write < 0 || libc::dup2(read, 3) < 0 || libc::dup2(write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        drop((to_chromium_read, from_chromium_write));
        let answers = reader(from_chromium_read);
        let mut chromium = Chromium {
            child,
            commands: File::from(to_chromium_write),
            answers,
            next_id: 0,
            session: String::new(),
            _profile: profile,
            log,
        };
        let targets = chromium.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .unwrap_or_else(|| panic!("no page target: {targets}"))
            .to_owned();
        let attached = chromium.call(
            "Target.attachToTarget",
            json!({ "targetId": page, "flatten": true }),
        );
        chromium.session = attached["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("not attached: {attached}"))
            .to_owned();
        chromium.call("Page.enable", json!({}));
        chromium.call("Runtime.enable", json!({}));
        chromium
    }

    /// Sends a command (to the page once attached) and waits (bounded) for its
    /// answer's `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = self.session.clone().into();
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        if let Err(err) = self.commands.write_all(&bytes) {
            panic!("{method}: writing to chromium: {err}\n{}", self.log_text());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(answer) if answer["id"] == id => {
                    if let Some(error) = answer.get("error") {
                        panic!("{method}: {error}");
                    }
                    return answer["result"].clone();
                }
                Ok(_) => continue, // an event, or another session's answer
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{method}: no answer from chromium in 30 s\n{}",
                        self.log_text()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{method}: chromium went away\n{}", self.log_text())
                }
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its
    /// value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        let result = self.call("Page.navigate", json!({ "url": url }));
        if let Some(error) = result.get("errorText") {
            panic!("navigating to {url}: {error}\n{}", self.log_text());
        }
    }

    /// The page as PNG bytes.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": false }),
        );
        let data = shot["data"].as_str().expect("screenshot data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64 PNG")
    }

    pub fn log_text(&self) -> String {
        super::read_lossy(&self.log)
    }
}

/// Chromium's answers and events, one JSON value each, from a thread that ends
/// when the pipe closes.
fn reader(from_chromium: OwnedFd) -> Receiver<Value> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut input = BufReader::new(File::from(from_chromium));
        let mut message = Vec::new();
        loop {
            message.clear();
            match input.read_until(0, &mut message) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if message.last() == Some(&0) {
                message.pop();
            }
            if let Ok(value) = serde_json::from_slice(&message) {
                if send.send(value).is_err() {
                    return;
                }
            }
        }
    });
    receive
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Every process Chromium started is in its group.
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Renderers may outlive the leader for a moment; the profile goes after.
        std::thread::sleep(Duration::from_millis(200));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    }
}
