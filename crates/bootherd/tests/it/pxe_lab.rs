//! Fixtures for the proxyDHCP lab tests: QEMU guests whose serial console goes
//! to a file, the boot script whose `echo` lines are the test signal on that
//! console, and capture fixtures for `bootherd-proto`. Background programs,
//! dnsmasq and tcpdump are in [`crate::support`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{run_bounded, tail, Bg, Lab, SERVER_IP};

/// The MAC of `iface` in namespace `ns`.
pub fn interface_mac(lab: &Lab, ns: &str, iface: &str) -> String {
    let out = lab.exec(ns, 10, &["cat", &format!("/sys/class/net/{iface}/address")]);
    assert!(
        out.success(),
        "read MAC of {iface} in {ns}: {}",
        out.describe()
    );
    out.stdout.trim().to_ascii_lowercase()
}

/// Writes `payload` as a hex fixture for `crates/bootherd-proto/tests/captured.rs`
/// into `crates/bootherd-proto/tests/captures/` when `BOOTHERD_BLESS=1`.
pub fn maybe_write_capture(name: &str, description: &[String], payload: &[u8]) {
    if !crate::support::bless_requested() {
        return;
    }
    let dir = crate::support::repo_root().join("crates/bootherd-proto/tests/captures");
    std::fs::create_dir_all(&dir).expect("create capture dir");
    let mut text = String::new();
    for line in description {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    for chunk in payload.chunks(32) {
        for b in chunk {
            text.push_str(&format!("{b:02x}"));
        }
        text.push('\n');
    }
    let path = dir.join(format!("{name}.hex"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The first line of `cmd --version`-like output, or the Debian package version.
pub fn tool_version(args: &[&str]) -> String {
    run_bounded(
        Command::new(args[0]).args(&args[1..]),
        Duration::from_secs(10),
    )
    .ok()
    .and_then(|o| o.stdout.lines().next().map(str::to_string))
    .unwrap_or_else(|| "unknown".into())
}

pub fn package_version(pkg: &str) -> String {
    tool_version(&["dpkg-query", "-W", "-f=${Version}", pkg])
}

/// An iPXE script that proves both fetch paths on the serial console:
/// `BH-BEGIN-<tag> ip=<address>`, a TFTP fetch, `BH-TFTP-OK-<tag>`, an HTTP
/// fetch, `BH-HTTP-OK-<tag>`. A failed fetch ends the script before its marker.
pub fn boot_script(tag: &str, tftp_file: &str, http_file: &str) -> String {
    format!(
        "#!ipxe\n\
         echo BH-BEGIN-{tag} ip=${{ip}} mac=${{mac}}\n\
         imgfetch tftp://{SERVER_IP}/{tftp_file}\n\
         echo BH-TFTP-OK-{tag}\n\
         imgfetch http://{SERVER_IP}/{http_file}\n\
         echo BH-HTTP-OK-{tag}\n\
         poweroff ||\n\
         exit\n"
    )
}

/// Removes terminal escape sequences (`ESC [ ... letter`, `ESC ( B`, ...) and
/// carriage returns from a serial console log.
pub fn clean_console(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                    if let Some(&next) = chars.peek() {
                        if next.is_ascii_alphanumeric() {
                            chars.next();
                        }
                    }
                }
                None => {}
            },
            '\r' | '\u{8}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// A QEMU guest whose serial console goes to a file.
pub struct Guest {
    pub bg: Bg,
    pub serial: PathBuf,
    pub started: Instant,
}

impl Guest {
    /// Starts `qemu-system-x86_64` (TCG: iPXE hangs under KVM here) in the
    /// client namespace with the given machine arguments plus serial, display
    /// and monitor settings. `limit_secs` bounds it absolutely.
    pub fn start(lab: &Lab, dir: &Path, machine: &[String], limit_secs: u64) -> Guest {
        let serial = dir.join("serial.log");
        let mut args: Vec<String> = vec![
            "qemu-system-x86_64".into(),
            "-accel".into(),
            "tcg".into(),
            "-display".into(),
            "none".into(),
            "-monitor".into(),
            "none".into(),
            "-no-reboot".into(),
            "-serial".into(),
            format!("file:{}", serial.display()),
        ];
        args.extend(machine.iter().cloned());
        let bg = Bg::spawn(&lab.cli(), limit_secs, &args, dir, "qemu");
        Guest {
            bg,
            serial,
            started: Instant::now(),
        }
    }

    /// The serial console so far, cleaned of escape sequences.
    pub fn console(&self) -> String {
        clean_console(&std::fs::read(&self.serial).unwrap_or_default())
    }

    /// Waits up to `limit` for every marker to appear on the console, in order.
    /// Errors with the console tail when the guest exits or time runs out.
    pub fn wait_markers(&mut self, markers: &[&str], limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let console = self.console();
            let mut from = 0;
            let mut all = true;
            for m in markers {
                match console[from..].find(m) {
                    Some(at) => from += at + m.len(),
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            if all {
                return Ok(console);
            }
            if !self.bg.is_running() {
                return Err(format!(
                    "QEMU exited before the markers {markers:?} appeared: {}\n--- serial (tail) ---\n{}",
                    self.bg.describe(),
                    tail(&console, 4000)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "markers {markers:?} not all on the serial console within {limit:?}\n--- serial (tail) ---\n{}",
                    tail(&console, 4000)
                ));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn console_cleaning_drops_escapes() {
    let raw = b"\x1b[0m\x1b[1;37mBH-BEGIN-x\r\n\x1b(Bok\x08 done";
    assert_eq!(clean_console(raw), "BH-BEGIN-x\nok done");
}
