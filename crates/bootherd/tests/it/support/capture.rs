//! tcpdump in a lab namespace ([`Capture`]), and a pcap reader that yields the
//! DHCP packets seen on the wire.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use bootherd_proto::client::{classify, Arch, Firmware};
use bootherd_proto::wire::dhcp::DhcpPacket;

use super::{run_bounded, wait_until, Bg, Lab, SERVER_IP};

/// The filter for what leaves bootherd's DHCP port (in `NAME-srv`, on eth0).
pub const BOOTHERD_DHCP_REPLIES: &str = "udp and src host 10.99.0.1 and src port 67";

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

    /// tcpdump on eth0 in `NAME-srv`, bootherd's side of the lab.
    pub fn on_server(lab: &Lab, filter: &str, dir: &Path, tag: &str) -> Capture {
        Capture::start(&lab.srv(), "eth0", filter, dir, tag)
    }

    /// Waits `settle` for late packets, stops tcpdump and fails the test unless
    /// it captured nothing: `what` says who must have stayed silent, and why.
    pub fn expect_silent(&mut self, settle: Duration, what: &str) {
        thread::sleep(settle);
        let frames = self.stop();
        assert!(
            frames.is_empty(),
            "{what}, but the capture holds {} packet(s):\n{}",
            frames.len(),
            self.decode()
        );
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
    bootherd_proto::client::parse_mac(mac).unwrap_or_else(|| panic!("not a MAC: {mac}"))
}

/// Option `code` of `p` as text, lossy.
pub fn option_text(p: &DhcpPacket, code: u8) -> Option<String> {
    p.option(code)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// Asserts that bootherd's classifier takes `p` for `firmware` on `arch`;
/// `what` names the packet in the failure message.
pub fn assert_classified(p: &DhcpPacket, firmware: Firmware, arch: Arch, what: &str) {
    let client = classify(p);
    assert_eq!(
        (client.firmware, client.arch),
        (firmware, Some(arch)),
        "{what}: {}",
        key_fields(p)
    );
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
