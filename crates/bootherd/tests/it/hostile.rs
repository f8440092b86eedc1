//! A hostile neighbour: for several seconds one host sends mutated and random
//! DHCP to ports 67 and 4011 (broadcast and unicast), random TFTP requests and
//! stray packets to live transfer ports, and garbage HTTP. bootherd stays up,
//! logs no panic, keeps serving a real client on another address (tftp-hpa,
//! curl, and a DHCP lease for udhcpc), and its memory returns near idle.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bootherd_proto::wire::dhcp::{code, DhcpPacket, MessageType, FLAG_BROADCAST};
use socket2::{Domain, Protocol, Socket, Type};

use crate::dhcp_lab::{in_netns, join, owned_dhcp_section, start_dhcp_server, write_tftp_config};
use crate::support::{
    assert_file_eq, need_lab, pseudo_random_bytes, temp_dir, write_file, Lab, RunOutput,
    LAB_SERVER_IP, SERVER_IP,
};

const STORM: Duration = Duration::from_secs(8);
const FILE_LEN: usize = 2 << 20;

/// A small deterministic generator (splitmix64) for the storm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Up to `most` random bytes.
    fn bytes(&mut self, most: usize) -> Vec<u8> {
        let len = self.below(most);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Boot-client-shaped DHCP requests to mutate: a Pi 3 ROM, a Pi 4 with option
/// 97, BIOS and UEFI PXE, iPXE, U-Boot, a plain client.
fn dhcp_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let classes: [(&[u8], Option<u16>); 6] = [
        (b"PXEClient:Arch:00000:UNDI:002001", Some(0)),
        (b"PXEClient:Arch:00007:UNDI:003016", Some(7)),
        (b"PXEClient:Arch:00011:UNDI:003001", Some(11)),
        (b"HTTPClient:Arch:00016:UNDI:003001", Some(16)),
        (b"U-Boot.armv8", Some(22)),
        (b"udhcp 1.36.1", None),
    ];
    for (i, (class, arch)) in classes.iter().enumerate() {
        for kind in [MessageType::Discover, MessageType::Request] {
            let mut p = DhcpPacket {
                xid: 0x4057_1100 + i as u32,
                flags: FLAG_BROADCAST,
                ..DhcpPacket::default()
            };
            p.chaddr[..6].copy_from_slice(&[0x02, 0x66, 0x00, 0x00, 0x00, i as u8]);
            p.set_option(code::MESSAGE_TYPE, [kind.code()]);
            p.set_option(code::VENDOR_CLASS, *class);
            if let Some(arch) = arch {
                p.set_option(code::CLIENT_ARCH, arch.to_be_bytes());
                p.set_option(code::CLIENT_NDI, [1, 3, 1]);
                let mut uuid = vec![0];
                uuid.extend_from_slice(&[0x11; 16]);
                p.set_option(code::CLIENT_UUID, uuid);
            }
            p.set_option(code::PARAMETER_REQUEST_LIST, [1u8, 3, 43, 60, 66, 67, 97]);
            seeds.push(p.emit());
        }
    }
    // A Raspberry Pi 3 ROM-style DISCOVER (`PXEClient:Arch:00000:UNDI:002001`
    // from a b8:27:eb MAC).
    let mut pi = DhcpPacket {
        xid: 0x2604_0001,
        ..DhcpPacket::default()
    };
    pi.chaddr[..6].copy_from_slice(&[0xb8, 0x27, 0xeb, 0x12, 0x34, 0x56]);
    pi.set_option(code::MESSAGE_TYPE, [MessageType::Discover.code()]);
    pi.set_option(code::VENDOR_CLASS, &b"PXEClient:Arch:00000:UNDI:002001"[..]);
    pi.set_option(code::CLIENT_UUID, vec![0u8; 17]);
    seeds.push(pi.emit());
    seeds
}

/// A seed with random bytes flipped, cut short or grown, or pure noise.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut p = seeds[rng.below(seeds.len())].clone();
    match rng.below(5) {
        0 => return rng.bytes(1500),
        1 => p.truncate(rng.below(p.len())),
        2 => {
            p.extend(rng.bytes(600));
        }
        _ => {}
    }
    for _ in 0..1 + rng.below(12) {
        if p.is_empty() {
            break;
        }
        let at = rng.below(p.len());
        p[at] = rng.next() as u8;
    }
    p
}

/// A read request with a random name and options, or random bytes after an
/// RRQ/WRQ opcode.
fn tftp_request(rng: &mut Rng) -> Vec<u8> {
    let names: [&[u8]; 6] = [
        b"big.img",
        b"../../etc/passwd",
        b"/big.img",
        b"nonexistent/start4.elf",
        b"big.img\0netascii",
        b"",
    ];
    let mut p = vec![0, 1 + rng.below(2) as u8];
    if rng.below(4) == 0 {
        p.extend(rng.bytes(700));
        return p;
    }
    p.extend_from_slice(names[rng.below(names.len())]);
    p.push(0);
    p.extend_from_slice([&b"octet"[..], b"netascii", b"mail", b"xyz"][rng.below(4)]);
    p.push(0);
    for (name, value) in [
        ("blksize", rng.below(70000).to_string()),
        ("timeout", rng.below(300).to_string()),
        ("windowsize", rng.below(70000).to_string()),
        ("tsize", "0".into()),
    ] {
        if rng.below(2) == 0 {
            p.extend_from_slice(name.as_bytes());
            p.push(0);
            p.extend_from_slice(value.as_bytes());
            p.push(0);
        }
    }
    p
}

/// Garbage for the HTTP port: random bytes, bad request lines, huge headers,
/// truncated requests, odd methods and paths.
fn http_garbage(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => rng.bytes(4000),
        1 => b"GET /big.img HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999-1\r\n\r\n".to_vec(),
        2 => {
            let mut p = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
            p.extend(std::iter::repeat_n(b'a', 64 * 1024));
            p.extend_from_slice(b"\r\n\r\n");
            p
        }
        3 => b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.0\r\n\r\n".to_vec(),
        4 => b"BREW /pot HTTP/1.1\r\nContent-Length: 999999\r\n\r\nabc".to_vec(),
        _ => b"GET /big.img HTTP/1.1\r\nHost: ".to_vec(),
    }
}

/// The storm, from the namespace it runs in, until `stop` or [`STORM`] (each
/// loop turn sends a handful of packets; about 5,000 turns a second at most).
fn storm(stop: &AtomicBool, sent: &AtomicU64) {
    let mut rng = Rng(0x5eed);
    let seeds = dhcp_seeds();
    let dhcp = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
    dhcp.set_broadcast(true).unwrap();
    dhcp.bind_device(Some(b"eth0"))
        .expect("SO_BINDTODEVICE eth0");
    dhcp.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())
        .expect("bind :68");
    let dhcp: UdpSocket = dhcp.into();
    let tftp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
    tftp.set_nonblocking(true).unwrap();
    let mut transfer_ports: Vec<SocketAddr> = Vec::new();
    let mut buf = [0u8; 2048];
    let started = Instant::now();
    let mut turn: u64 = 0;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < STORM {
        let packet = mutate(&mut rng, &seeds);
        let targets = [
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 4011),
            SocketAddrV4::new(SERVER_IP, 67),
            SocketAddrV4::new(SERVER_IP, 4011),
        ];
        let _ = dhcp.send_to(&packet, targets[rng.below(targets.len())]);
        let _ = tftp.send_to(&tftp_request(&mut rng), SocketAddrV4::new(SERVER_IP, 69));
        while let Ok((_, from)) = tftp.recv_from(&mut buf) {
            if from.port() != 69 && transfer_ports.len() < 64 && !transfer_ports.contains(&from) {
                transfer_ports.push(from);
            }
        }
        if !transfer_ports.is_empty() {
            let port = transfer_ports[rng.below(transfer_ports.len())];
            let stray = match rng.below(3) {
                0 => vec![0, 4, rng.next() as u8, rng.next() as u8],
                1 => vec![0, 5, 0, 0],
                _ => rng.bytes(600),
            };
            let _ = tftp.send_to(&stray, port);
        }
        if turn.is_multiple_of(20) {
            if let Ok(mut conn) = TcpStream::connect_timeout(
                &SocketAddr::from((SERVER_IP, 80)),
                Duration::from_millis(200),
            ) {
                let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = conn.write_all(&http_garbage(&mut rng));
            }
        }
        turn += 1;
        if turn.is_multiple_of(8) {
            thread::sleep(Duration::from_micros(1500));
        }
    }
    sent.store(turn, Ordering::Relaxed);
}

fn fetches_ok(lab: &Lab, dir: &std::path::Path, want: &[u8], round: usize) -> Result<(), String> {
    let check = |what: &str, out: RunOutput, path: &std::path::Path| -> Result<(), String> {
        if !out.success() || out.stdout.contains("Error") || out.stderr.contains("Error") {
            return Err(format!("{what} (round {round}): {}", out.describe()));
        }
        assert_file_eq(path, want, what);
        std::fs::remove_file(path).unwrap();
        Ok(())
    };
    let tftp_out = dir.join("tftp.img");
    let out = lab.exec(
        &lab.cli(),
        60,
        &[
            "tftp",
            LAB_SERVER_IP,
            "-m",
            "octet",
            "-c",
            "get",
            "big.img",
            tftp_out.to_str().unwrap(),
        ],
    );
    check("tftp-hpa get", out, &tftp_out)?;
    let http_out = dir.join("http.img");
    let url = format!("http://{LAB_SERVER_IP}/big.img");
    let out = lab.exec(
        &lab.cli(),
        60,
        &[
            "curl",
            "-sSf",
            "--max-time",
            "30",
            "-o",
            http_out.to_str().unwrap(),
            &url,
        ],
    );
    check("curl get", out, &http_out)
}

#[test]
fn a_hostile_neighbour_cannot_break_the_server_or_starve_a_client() {
    let test = "hostile::a_hostile_neighbour_cannot_break_the_server_or_starve_a_client";
    if !need_lab(test, &["tftp", "curl", "busybox"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let want = pseudo_random_bytes(21, FILE_LEN);
    write_file(&root.join("big.img"), &want);
    write_file(&root.join("undionly.kpxe"), b"not really a boot loader");
    write_file(&root.join("pxelinux.0"), b"not really pxelinux");
    let db = dir.path().join("leases.sqlite");
    let config = write_tftp_config(
        dir.path(),
        &root,
        &format!(
            "stall_timeout_ms = 5000\n{}",
            owned_dhcp_section(&db, &[], &["bh-real-client"], "ping_check = false")
        ),
    );
    let lab = Lab::up();
    let mut server = start_dhcp_server(&lab.srv(), &config, &["--proxy"]);
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    fetches_ok(&lab, &out_dir, &want, 0).expect("fetches on a quiet server");
    let idle_rss = server.rss_kib().expect("server runs");

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (stop, sent) = (stop.clone(), sent.clone());
        in_netns(&lab.lan(), move || storm(&stop, &sent))
    };
    // During the storm, the real client on 10.99.0.100 is served.
    thread::sleep(Duration::from_secs(1));
    let mut failures = Vec::new();
    for round in 1..=2 {
        if let Err(e) = fetches_ok(&lab, &out_dir, &want, round) {
            failures.push(e);
        }
    }
    let lease = lab.udhcpc_once("br0", 3, &["-V", "bh-real-client"]);
    let peak_rss = server.rss_kib().unwrap_or(0);
    join(attacker);
    stop.store(true, Ordering::Relaxed);
    let log = server.log_text();
    assert!(
        server.is_running(),
        "bootherd died in the storm; log:\n{log}"
    );
    assert!(
        failures.is_empty(),
        "the real client was not served: {failures:?}"
    );
    let said = format!("{}{}", lease.stdout, lease.stderr);
    assert!(
        lease.success() && said.contains("obtained from 10.99.0.1"),
        "udhcpc got no lease from bootherd during the storm: {}",
        lease.describe()
    );
    assert!(
        !log.contains("panicked"),
        "bootherd logged a panic in the storm; log:\n{log}"
    );

    // Memory goes back near idle once the storm's transfers have ended.
    let end_rss = server.expect_rss_near(
        idle_rss,
        8 * 1024,
        Duration::from_secs(30),
        &format!("after the storm (peak {peak_rss} KiB)"),
    );
    // And it still serves.
    fetches_ok(&lab, &out_dir, &want, 3).expect("fetches after the storm");
    eprintln!(
        "hostile: {} storm turns in {STORM:?}; RSS idle {idle_rss} KiB, peak {peak_rss}, after {end_rss}; \
         {} log lines",
        sent.load(Ordering::Relaxed),
        log.lines().count()
    );
}
