//! Background programs inside a lab namespace ([`Bg`]), and the small helpers
//! every bounded wait on them uses.
//!
//! A [`Bg`] runs under `timeout` in its own process group and is stopped (TERM,
//! a bounded wait, then KILL to the whole group) when it drops, also while a
//! test panics; `lab/lab.sh down` kills whatever a namespace still holds after that.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::run_bounded;

/// A program running in a lab namespace, stopped on drop.
pub struct Bg {
    child: Child,
    what: String,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Bg {
    /// Starts `args` in namespace `ns`, killed by `timeout` after `limit_secs`
    /// whatever happens to this process. Output goes to `dir/tag.out` and
    /// `dir/tag.err`.
    pub fn spawn<S: AsRef<OsStr>>(
        ns: &str,
        limit_secs: u64,
        args: &[S],
        dir: &Path,
        tag: &str,
    ) -> Bg {
        let stdout = dir.join(format!("{tag}.out"));
        let stderr = dir.join(format!("{tag}.err"));
        let mut cmd = Command::new("timeout");
        cmd.args([
            "-k",
            "5",
            &limit_secs.to_string(),
            "ip",
            "netns",
            "exec",
            ns,
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("create stdout file"))
        .stderr(File::create(&stderr).expect("create stderr file"))
        .process_group(0);
        let what = format!(
            "{tag} ({})",
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {what}: {e}"));
        Bg {
            child,
            what,
            stdout,
            stderr,
            status: None,
        }
    }

    /// Whether the program still runs.
    pub fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    fn signal_group(&self, sig: &str) {
        let _ = run_bounded(
            Command::new("kill").args(["-s", sig, "--", &format!("-{}", self.child.id())]),
            Duration::from_secs(5),
        );
    }

    /// Waits up to `limit` for the program to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while self.is_running() {
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.status
    }

    /// SIGINT to the process group, as Ctrl-C in a terminal would.
    pub fn interrupt(&self) {
        self.signal_group("INT");
    }

    /// TERM to the process group, up to `grace` to exit, then KILL. Idempotent.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.is_running() {
            self.signal_group("TERM");
            if self.wait_exit(grace).is_none() {
                self.signal_group("KILL");
                let _ = self.child.kill();
                self.status = self.child.wait().ok();
            }
        }
        // Whatever the group leader left behind (it may have died first).
        self.signal_group("KILL");
        self.status
    }

    pub fn stdout_text(&self) -> String {
        read_lossy(&self.stdout)
    }

    pub fn stderr_text(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// Everything a failure message needs.
    pub fn describe(&self) -> String {
        format!(
            "{}: status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.status,
            tail(&self.stdout_text(), 3000),
            tail(&self.stderr_text(), 3000)
        )
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `max` bytes of `text` (at a character boundary).
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Polls `cond` every 50 ms for up to `limit`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}
