//! Fixtures for the proxyDHCP lab tests: background programs inside a lab's
//! namespaces (dnsmasq as the LAN's DHCP server, tcpdump, QEMU), a pcap reader
//! that yields the DHCP packets seen on the wire, and the boot script whose
//! `echo` lines are the test signal on a guest's serial console.
//!
//! Every background program runs under `timeout` in its own process group and
//! is stopped (TERM, a bounded wait, then KILL to the whole group) when its
//! guard drops, also while a test panics; `lab/lab.sh down` kills whatever a
//! namespace still holds after that.

use std::ffi::OsStr;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bootherd_proto::wire::dhcp::DhcpPacket;

use crate::support::{run_bounded, Lab};

/// dnsmasq's address pool on the lab LAN.
pub const LAN_POOL: (u8, u8) = (150, 199);
/// The LAN DHCP server (dnsmasq in `NAME-lan`).
pub const LAN_DHCP_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
/// bootherd's address (`NAME-srv`).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

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

/// dnsmasq in `NAME-lan` as the LAN's DHCP server: pool 10.99.0.150-199, no
/// DNS, no ping before offering, lease file and log in `dir`.
pub struct LanDhcp {
    /// Keeps dnsmasq running; stops it on drop.
    _process: Bg,
    pub leases: PathBuf,
    pub log: PathBuf,
}

impl LanDhcp {
    /// Starts dnsmasq and waits until it has bound its DHCP socket.
    ///
    /// With `router_adverts`, IPv6 is turned on for `NAME-lan` only and dnsmasq
    /// also sends router advertisements (`ra-only`, no DHCPv6): iPXE otherwise
    /// waits about 15 s for a router before it runs its script, on every boot.
    pub fn start(lab: &Lab, dir: &Path, router_adverts: bool) -> LanDhcp {
        let ns = lab.lan();
        let leases = dir.join("dnsmasq.leases");
        let log = dir.join("dnsmasq.log");
        let mut args: Vec<String> = [
            "dnsmasq",
            "-k",
            "--conf-file=/dev/null",
            "--port=0",
            "--no-ping",
            "--user=root",
            "--bind-interfaces",
            "--interface=eth0",
            "--dhcp-range=10.99.0.150,10.99.0.199,255.255.255.0,10m",
            "--log-dhcp",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--dhcp-leasefile={}", leases.display()));
        args.push(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
        args.push(format!("--log-facility={}", log.display()));
        if router_adverts {
            for cmd in [
                vec!["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"],
                vec!["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"],
                vec!["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0"],
                vec!["ip", "addr", "add", "fd99::2/64", "dev", "eth0", "nodad"],
            ] {
                let out = lab.exec(&ns, 10, &cmd);
                assert!(out.success(), "{cmd:?} in {ns}: {}", out.describe());
            }
            args.push("--enable-ra".into());
            args.push("--dhcp-range=fd99::,ra-only,64".into());
        }
        let mut bg = Bg::spawn(&ns, 900, &args, dir, "dnsmasq");
        let ready = wait_until(Duration::from_secs(10), || {
            read_lossy(&log).contains("DHCP, sockets bound exclusively to interface eth0")
                || !bg.is_running()
        });
        assert!(
            ready && bg.is_running(),
            "dnsmasq did not start in {ns}: {}\n--- log ---\n{}",
            bg.describe(),
            read_lossy(&log)
        );
        LanDhcp {
            _process: bg,
            leases,
            log,
        }
    }

    pub fn log_text(&self) -> String {
        read_lossy(&self.log)
    }

    pub fn leases_text(&self) -> String {
        read_lossy(&self.leases)
    }

    /// The address dnsmasq leased to `mac`, from its lease file.
    pub fn lease_of(&self, mac: &str) -> Option<Ipv4Addr> {
        self.leases_text().lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 3 && fields[1].eq_ignore_ascii_case(mac))
                .then(|| fields[2].parse().ok())
                .flatten()
        })
    }
}

/// tcpdump writing a pcap file, confirmed listening before `start` returns.
pub struct Capture {
    bg: Bg,
    pub file: PathBuf,
}

impl Capture {
    pub fn start(ns: &str, iface: &str, filter: &str, dir: &Path, tag: &str) -> Capture {
        let file = dir.join(format!("{tag}.pcap"));
        let file_arg = file.display().to_string();
        // -Z root: writing into the test's private temp dir must not drop privileges.
        // --immediate-mode: packets still in the kernel ring when tcpdump is
        // stopped would be lost (seen: a capture missing its last second).
        let mut bg = Bg::spawn(
            ns,
            900,
            &[
                "tcpdump",
                "-Z",
                "root",
                "-U",
                "--immediate-mode",
                "-n",
                "-i",
                iface,
                "-w",
                &file_arg,
                filter,
            ],
            dir,
            tag,
        );
        let listening = wait_until(Duration::from_secs(10), || {
            bg.stderr_text().contains("listening on") || !bg.is_running()
        });
        assert!(
            listening && bg.is_running(),
            "tcpdump did not start in {ns}: {}",
            bg.describe()
        );
        Capture { bg, file }
    }

    /// Stops tcpdump (which flushes the file) and returns the frames captured.
    pub fn stop(&mut self) -> Vec<Frame> {
        // Packets on their way through the bridge still land.
        thread::sleep(Duration::from_millis(300));
        self.bg.stop(Duration::from_secs(5));
        read_pcap(&self.file)
    }

    /// How many packets `tcpdump -r` reads back from the file (after [`Capture::stop`]).
    pub fn tcpdump_count(&self) -> usize {
        let out = run_bounded(
            Command::new("tcpdump").arg("-n").arg("-r").arg(&self.file),
            Duration::from_secs(20),
        )
        .expect("run tcpdump -r");
        assert!(out.success(), "tcpdump -r: {}", out.describe());
        out.stdout.lines().filter(|l| !l.trim().is_empty()).count()
    }

    /// `tcpdump -r -n -vv` of the file, for failure messages and reports.
    pub fn decode(&self) -> String {
        run_bounded(
            Command::new("tcpdump")
                .args(["-n", "-vv", "-r"])
                .arg(&self.file),
            Duration::from_secs(20),
        )
        .map(|o| o.stdout)
        .unwrap_or_default()
    }
}

/// One captured Ethernet frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time, microseconds since the epoch.
    pub micros: u64,
    pub data: Vec<u8>,
}

/// Reads a classic pcap file with Ethernet frames (microsecond or nanosecond
/// timestamps, either byte order). A missing or empty file reads as no frames.
pub fn read_pcap(path: &Path) -> Vec<Frame> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    if bytes.len() < 24 {
        return Vec::new();
    }
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        other => panic!("{}: not a pcap file (magic {other:#x})", path.display()),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(
        u32_at(20),
        1,
        "{}: link type is not Ethernet",
        path.display()
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let secs = u64::from(u32_at(at));
        let frac = u64::from(u32_at(at + 4));
        let caplen = u32_at(at + 8) as usize;
        at += 16;
        if at + caplen > bytes.len() {
            break; // a record cut short by the capture being stopped
        }
        frames.push(Frame {
            micros: secs * 1_000_000 + if nanos { frac / 1000 } else { frac },
            data: bytes[at..at + caplen].to_vec(),
        });
        at += caplen;
    }
    frames
}

/// A UDP datagram from a captured frame.
#[derive(Debug, Clone)]
pub struct Udp {
    pub micros: u64,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// The IPv4 source address of a frame, if it carries IPv4.
pub fn ipv4_source(frame: &Frame) -> Option<Ipv4Addr> {
    let d = &frame.data;
    if d.len() < 34 || d[12..14] != [0x08, 0x00] {
        return None;
    }
    Some(Ipv4Addr::new(d[26], d[27], d[28], d[29]))
}

/// The unfragmented IPv4/UDP datagrams among `frames` (Ethernet II, no VLAN tag).
pub fn udp_datagrams(frames: &[Frame]) -> Vec<Udp> {
    let mut out = Vec::new();
    for frame in frames {
        let d = &frame.data;
        if d.len() < 14 + 20 + 8 || d[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &d[14..];
        if ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let frag = u16::from_be_bytes([ip[6], ip[7]]);
        if ihl < 20 || total > ip.len() || total < ihl + 8 || frag & 0x3fff != 0 {
            continue;
        }
        let udp = &ip[ihl..total];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        if udp_len < 8 || udp_len > udp.len() {
            continue;
        }
        let addr = |a: &[u8], port: &[u8]| {
            SocketAddrV4::new(
                Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                u16::from_be_bytes([port[0], port[1]]),
            )
        };
        out.push(Udp {
            micros: frame.micros,
            src: addr(&ip[12..16], &udp[0..2]),
            dst: addr(&ip[16..20], &udp[2..4]),
            payload: udp[8..udp_len].to_vec(),
        });
    }
    out
}

/// A DHCP packet seen on the wire, with its UDP envelope.
#[derive(Debug, Clone)]
pub struct WireDhcp {
    pub udp: Udp,
    pub packet: DhcpPacket,
}

/// The DHCP/BOOTP packets (ports 67, 68, 4011) among `frames` that parse.
pub fn dhcp_packets(frames: &[Frame]) -> Vec<WireDhcp> {
    udp_datagrams(frames)
        .into_iter()
        .filter(|u| {
            [67, 68, 4011].contains(&u.src.port()) || [67, 68, 4011].contains(&u.dst.port())
        })
        .filter_map(|udp| {
            let packet = DhcpPacket::parse(&udp.payload).ok()?;
            Some(WireDhcp { udp, packet })
        })
        .collect()
}

/// `aa:bb:cc:dd:ee:ff` into bytes.
pub fn parse_mac(mac: &str) -> [u8; 6] {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex MAC byte"))
        .collect();
    bytes.try_into().expect("six MAC bytes")
}

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

/// Option `code` of `p` as text, lossy.
pub fn option_text(p: &DhcpPacket, code: u8) -> Option<String> {
    p.option(code)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// A one-line summary of the options a capture fixture is about.
pub fn key_fields(p: &DhcpPacket) -> String {
    let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut parts = vec![format!(
        "op {} xid {:#010x} flags {:#06x} ciaddr {} yiaddr {} siaddr {} file {:?}",
        p.op,
        p.xid,
        p.flags,
        p.ciaddr,
        p.yiaddr,
        p.siaddr,
        p.file_name()
    )];
    for code in [53u8, 54, 50, 60, 93, 94, 77, 97, 55, 43, 67, 175] {
        if let Some(v) = p.option(code) {
            let shown = match code {
                60 | 67 => format!("{:?}", String::from_utf8_lossy(&v)),
                55 => v.iter().map(u8::to_string).collect::<Vec<_>>().join(","),
                77 => format!("{:?} ({})", String::from_utf8_lossy(&v), hex(&v)),
                _ => hex(&v),
            };
            parts.push(format!("opt {code} = {shown}"));
        }
    }
    parts.join("; ")
}

/// Writes `payload` as a hex fixture for `crates/bootherd-proto/tests/captured.rs`
/// when `BOOTHERD_WRITE_CAPTURES` is set: to that directory, or with `1` to
/// `crates/bootherd-proto/tests/captures/` in this repository.
pub fn maybe_write_capture(name: &str, description: &[String], payload: &[u8]) {
    let Ok(target) = std::env::var("BOOTHERD_WRITE_CAPTURES") else {
        return;
    };
    let dir = if target == "1" {
        crate::support::repo_root().join("crates/bootherd-proto/tests/captures")
    } else {
        PathBuf::from(target)
    };
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

#[test]
fn pcap_reader_finds_a_udp_datagram() {
    // One Ethernet/IPv4/UDP frame 10.99.0.1:67 -> 255.255.255.255:68 carrying "hi".
    let mut frame = vec![0xff; 6];
    frame.extend([0x52, 0x54, 0, 0x99, 0, 1, 0x08, 0x00]);
    frame.extend([0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    frame.extend([10, 99, 0, 1, 255, 255, 255, 255]);
    frame.extend([0, 67, 0, 68, 0, 10, 0, 0, b'h', b'i']);
    let mut file = Vec::new();
    file.extend(0xa1b2_c3d4u32.to_le_bytes());
    file.extend([2, 0, 4, 0]);
    file.extend([0; 8]);
    file.extend(65535u32.to_le_bytes());
    file.extend(1u32.to_le_bytes());
    file.extend(7u32.to_le_bytes());
    file.extend(5u32.to_le_bytes());
    file.extend((frame.len() as u32).to_le_bytes());
    file.extend((frame.len() as u32).to_le_bytes());
    file.extend(&frame);
    let dir = crate::support::temp_dir();
    let path = dir.path().join("one.pcap");
    std::fs::write(&path, file).unwrap();
    let frames = read_pcap(&path);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].micros, 7_000_005);
    assert_eq!(ipv4_source(&frames[0]), Some(SERVER_IP));
    let udp = udp_datagrams(&frames);
    assert_eq!(udp.len(), 1);
    assert_eq!(udp[0].src, SocketAddrV4::new(SERVER_IP, 67));
    assert_eq!(udp[0].dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(udp[0].payload, b"hi");
}
