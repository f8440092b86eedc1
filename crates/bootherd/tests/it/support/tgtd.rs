//! Debian's user-space iSCSI target (`tgtd`, package `tgt`) inside a lab namespace.
//!
//! tgtd's control socket lives in `/var/run/tgtd/`, which every namespace shares, so
//! each [`Tgtd`] gets its own control port (the socket's name). tgtd ignores
//! SIGTERM: the guard stops it with `tgtadm --op delete --mode system`, and its
//! [`Bg`] kills what is left, also while a test panics.

use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use super::{wait_until, Bg, Lab, RunOutput};

static NEXT: AtomicU16 = AtomicU16::new(0);

/// tgtd in a lab namespace, stopped on drop.
pub struct Tgtd {
    ns: String,
    port: String,
    bg: Bg,
}

impl Tgtd {
    /// Starts tgtd in namespace `ns` with its iSCSI portal on `portal` (`ADDR:PORT`),
    /// and waits (bounded) until it answers on its control port.
    pub fn start(ns: &str, portal: &str, dir: &Path) -> Tgtd {
        // Per process and per guard, within tgtd's limit (32767): 1024..=31023.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (1_024 + (std::process::id() % 3_000) * 10 + u32::from(n % 10)).to_string();
        let bg = Bg::spawn(
            ns,
            600,
            &[
                "tgtd",
                "-f",
                "-C",
                &port,
                "--iscsi",
                &format!("portal={portal}"),
            ],
            dir,
            "tgtd",
        );
        let mut tgtd = Tgtd {
            ns: ns.to_owned(),
            port,
            bg,
        };
        let ready = wait_until(Duration::from_secs(20), || {
            tgtd.admin(&["--mode", "sys", "--op", "show"]).success()
        });
        assert!(ready, "tgtd did not answer: {}", tgtd.bg.describe());
        assert!(tgtd.bg.is_running(), "{}", tgtd.bg.describe());
        tgtd
    }

    /// `tgtadm -C PORT ARGS` in the namespace.
    pub fn admin(&self, args: &[&str]) -> RunOutput {
        let mut cmd = vec!["tgtadm", "-C", &self.port];
        cmd.extend_from_slice(args);
        super::run_bounded(
            std::process::Command::new("ip")
                .args(["netns", "exec", &self.ns])
                .args(&cmd),
            Duration::from_secs(20),
        )
        .expect("run tgtadm")
    }

    /// `tgt-admin --execute --conf CONF` against this tgtd: the way a storage server
    /// loads its `targets.conf`.
    pub fn load_config(&self, lab: &Lab, conf: &Path) -> RunOutput {
        lab.exec(
            &self.ns,
            30,
            &[
                "tgt-admin",
                "-C",
                &self.port,
                "--execute",
                "--verbose",
                "--conf",
                &conf.display().to_string(),
            ],
        )
    }

    /// `tgtadm --mode target --op show`: targets, LUNs, nexuses and ACLs.
    pub fn show(&self) -> String {
        let out = self.admin(&["--lld", "iscsi", "--mode", "target", "--op", "show"]);
        assert!(out.success(), "tgtadm show: {}", out.describe());
        out.stdout
    }

    /// tgtd's own output so far.
    pub fn describe(&self) -> String {
        self.bg.describe()
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        if self.bg.is_running() {
            let _ = self.admin(&["--op", "delete", "--mode", "system"]);
            self.bg.wait_exit(Duration::from_secs(5));
        }
        self.bg.stop(Duration::from_millis(100));
        for suffix in ["", ".lock"] {
            let _ = std::fs::remove_file(format!("/var/run/tgtd/socket.{}{suffix}", self.port));
        }
    }
}
