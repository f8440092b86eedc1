//! The namespace lab of `lab/lab.sh` ([`Lab`]: server, client and LAN
//! namespaces on one bridge), torn down on drop, and its addresses.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// The server's address inside a lab (`NAME-srv`, eth0).
pub const LAB_SERVER_IP: &str = "10.99.0.1";
/// [`LAB_SERVER_IP`] as an address.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// Whether `ip` lies in the inclusive range.
pub fn in_range(ip: Ipv4Addr, range: (Ipv4Addr, Ipv4Addr)) -> bool {
    (u32::from(range.0)..=u32::from(range.1)).contains(&u32::from(ip))
}

pub(super) fn lab_script() -> PathBuf {
    repo_root().join("lab/lab.sh")
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
