//! Replies leave from the address the request reached (README: "replies from the
//! address the request reached (the Pi fetches from there)"), on a server with
//! three addresses: 10.99.0.1 and 10.97.0.1 on eth0 (the lab bridge), 10.98.0.1
//! on a second interface eth1 joined to its own client port `lan2`.
//!
//! The requests are chosen so that the kernel's own choice of source address
//! (the routing table) would be wrong: a client on 10.97.0.100 asks the server's
//! 10.99.0.1 and the other way round, for a PXE REQUEST to port 4011 and for a
//! TFTP file (curl bound to its address), and a DISCOVER broadcast from
//! 10.97.0.100 arrives on eth0 whose primary address is 10.99.0.1. On the
//! second interface, udhcpc broadcasts from 0.0.0.0 as a Pi does, and the
//! reply must name and come from eth1's address. Every reply is checked on the
//! wire (tcpdump on the server's interfaces) or at the client's socket: its IP
//! source, and the server identifier (option 54) it carries. A generated file
//! (a machine's iPXE script, fetched over HTTP the same ways) must name the
//! address it was fetched from (ARCHITECTURE: "a multi-homed server names
//! itself correctly").

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use bootherd_proto::emulate::{discover, pxe_request, Emulated, Identity};
use bootherd_proto::wire::dhcp::{DhcpPacket, PXE_PORT};

use crate::dhcp_lab::write_tftp_config;
use crate::support::{
    assert_file_eq, dhcp_packets, need_lab, pseudo_random_bytes, temp_dir, udp_datagrams,
    write_file, Capture, DhcpClient, Frame, Lab, RunOutput, Server, BROADCAST_67,
};

/// eth0's second address, and the client's address in that subnet (on br0).
const SRV_B: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
const CLI_B: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 100);
/// eth1's address, and the client port `lan2` at the other end.
const SRV_C: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
const CLI_C: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 100);
/// The lab's own addresses.
const SRV_A: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const CLI_A: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

/// A machine with an iPXE profile, and its generated script.
const IPXE_MAC: &str = "52:54:00:12:34:56";
const IPXE_SCRIPT: &str = "m/52-54-00-12-34-56/boot.ipxe";

/// DHCP and PXE ports: what is not from these is TFTP.
const DHCP_PORTS: [u16; 3] = [67, 68, PXE_PORT];

fn run_ok(lab: &Lab, ns: &str, args: &[&str]) {
    let out = lab.exec(ns, 20, args);
    assert!(out.success(), "{args:?} in {ns}: {}", out.describe());
}

/// Adds 10.97.0.0/24 to both ends of the bridge and a second link
/// eth1 (10.98.0.1) <-> lan2 (10.98.0.100); everything goes with the namespaces.
fn make_multihomed(lab: &Lab) {
    let (srv, cli) = (lab.srv(), lab.cli());
    run_ok(
        lab,
        &srv,
        &["ip", "addr", "add", "10.97.0.1/24", "dev", "eth0"],
    );
    run_ok(
        lab,
        &cli,
        &["ip", "addr", "add", "10.97.0.100/24", "dev", "br0"],
    );
    run_ok(
        lab,
        &srv,
        &[
            "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "lan2", "netns", &cli,
        ],
    );
    run_ok(
        lab,
        &srv,
        &["ip", "addr", "add", "10.98.0.1/24", "dev", "eth1"],
    );
    run_ok(
        lab,
        &cli,
        &["ip", "addr", "add", "10.98.0.100/24", "dev", "lan2"],
    );
    run_ok(lab, &srv, &["ip", "link", "set", "eth1", "up"]);
    run_ok(lab, &cli, &["ip", "link", "set", "lan2", "up"]);
    for (ns, addr) in [(&cli, "10.98.0.1"), (&cli, "10.97.0.1")] {
        let out = lab.exec(ns, 10, &["ping", "-n", "-q", "-c1", "-W2", addr]);
        assert!(
            out.success(),
            "{addr} unreachable from {ns}: {}",
            out.describe()
        );
    }
}

/// What is wrong with a DHCP reply that should come from `want`: its IP source,
/// its server identifier, a nonzero siaddr naming another server.
fn reply_problems(what: &str, source: Ipv4Addr, p: &DhcpPacket, want: Ipv4Addr) -> Vec<String> {
    let mut problems = Vec::new();
    if source != want {
        problems.push(format!("{what}: IP source {source}, want {want}"));
    }
    if p.server_id() != Some(want) {
        problems.push(format!(
            "{what}: server identifier {:?}, want {want}",
            p.server_id()
        ));
    }
    if !p.siaddr.is_unspecified() && p.siaddr != want {
        problems.push(format!("{what}: siaddr {}, want {want}", p.siaddr));
    }
    problems
}

/// The TFTP datagrams (neither end on a DHCP port) sent to `client` in `frames`,
/// as their source addresses.
fn tftp_sources_to(frames: &[Frame], client: Ipv4Addr) -> Vec<Ipv4Addr> {
    udp_datagrams(frames)
        .into_iter()
        .filter(|u| *u.dst.ip() == client)
        .filter(|u| !DHCP_PORTS.contains(&u.src.port()) && !DHCP_PORTS.contains(&u.dst.port()))
        .map(|u| *u.src.ip())
        .collect()
}

fn describe_fetch(what: &str, out: &RunOutput) -> String {
    format!("{what}: {}", out.describe())
}

#[test]
fn replies_leave_from_the_address_the_request_reached() {
    let test = "multihomed::replies_leave_from_the_address_the_request_reached";
    if !need_lab(test, &["tcpdump", "busybox", "curl", "tftp", "ping"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let file = pseudo_random_bytes(97, 20_000);
    write_file(&root.join("undionly.kpxe"), b"not really undionly.kpxe");
    write_file(&root.join("ipxe.efi"), b"MZ not really ipxe.efi");
    write_file(&root.join("multi.bin"), &file);
    let config = write_tftp_config(
        dir.path(),
        &root,
        &format!(
            "[proxy]\nenabled = true\n\
             [profiles.pc]\nkind = \"ipxe\"\nkernel = \"vmlinuz\"\n\
             [[machines]]\nname = \"pc\"\nmac = \"{IPXE_MAC}\"\nprofile = \"pc\"\n"
        ),
    );
    let lab = Lab::up();
    make_multihomed(&lab);
    // Started after the addresses exist: it listens on all of them.
    let server = Server::start_in_config(&lab.srv(), &config, &[], None);
    server.expect_log(
        &["proxy listening on "],
        Duration::from_secs(10),
        "bootherd did not log `proxy listening on`",
    );
    for addr in [SRV_A, SRV_B, SRV_C] {
        assert!(
            server.tftp.contains(&SocketAddrV4::new(addr, 69)),
            "bootherd does not listen on {addr}:69: {:?}\n{}",
            server.tftp,
            server.log_text()
        );
    }
    let mut eth0 = Capture::start(&lab.srv(), "eth0", "udp", dir.path(), "eth0");
    let mut eth1 = Capture::start(&lab.srv(), "eth1", "udp", dir.path(), "eth1");
    let mut problems: Vec<String> = Vec::new();

    // 1. A PXE-class udhcpc on the second link, from 0.0.0.0 like boot firmware.
    let udhcpc = lab.udhcpc_once(
        "lan2",
        1,
        &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"],
    );
    server.expect_log(
        &["proxy: offer: TFTP undionly.kpxe"],
        Duration::from_secs(10),
        &format!(
            "bootherd did not offer to udhcpc on the second link: {}",
            udhcpc.describe()
        ),
    );

    // 2. A BIOS PXE DISCOVER broadcast from 10.97.0.100 onto eth0 (primary 10.99.0.1).
    let bios = Identity::new(Emulated::PxeBios, [0x02, 0x4d, 0x48, 0, 0, 0x0b], None);
    {
        let client = DhcpClient::open(&lab.cli(), "br0", SocketAddrV4::new(CLI_B, 68));
        // Its reply is a broadcast, which a socket bound to an address does not
        // receive: the capture on eth0 checks it.
        let _ = client.exchange(
            &discover(&bios),
            BROADCAST_67,
            None,
            Duration::from_millis(300),
        );
    }

    // 3. UEFI PXE REQUESTs to port 4011 across subnets, answered by unicast.
    let efi = Identity::new(Emulated::PxeEfi, [0x02, 0x4d, 0x48, 0, 0, 0x0e], None);
    for (client_ip, server_ip) in [(CLI_B, SRV_A), (CLI_A, SRV_B), (CLI_C, SRV_C)] {
        let iface = if client_ip == CLI_C { "lan2" } else { "br0" };
        let client = DhcpClient::open(&lab.cli(), iface, SocketAddrV4::new(client_ip, 68));
        let request = pxe_request(&efi, client_ip);
        let what = format!("PXE REQUEST from {client_ip} to {server_ip}:{PXE_PORT}");
        match client.exchange(
            &request,
            SocketAddrV4::new(server_ip, PXE_PORT),
            Some(Duration::from_millis(500)),
            Duration::from_secs(4),
        ) {
            Some(answer) => {
                problems.extend(reply_problems(
                    &what,
                    *answer.from.ip(),
                    &answer.packet,
                    server_ip,
                ));
                if answer.from.port() != PXE_PORT {
                    problems.push(format!("{what}: reply from port {}", answer.from.port()));
                }
            }
            None => problems.push(format!("{what}: no reply")),
        }
    }

    // 4. TFTP: curl bound to one subnet's address asks the other subnet's, and
    //    tftp-hpa on the second link.
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    for (client_ip, server_ip) in [(CLI_B, SRV_A), (CLI_A, SRV_B)] {
        let local = out_dir.join(format!("curl-{client_ip}"));
        let url = format!("tftp://{server_ip}/multi.bin");
        let what = format!("curl --interface {client_ip} {url}");
        let out = lab.exec(
            &lab.cli(),
            40,
            &[
                "curl",
                "-sS",
                "--max-time",
                "30",
                "--interface",
                &client_ip.to_string(),
                "-o",
                local.to_str().unwrap(),
                &url,
            ],
        );
        assert!(out.success(), "{}", describe_fetch(&what, &out));
        assert_file_eq(&local, &file, &what);
    }
    let local = out_dir.join("tftp-hpa-lan2");
    let out = lab.exec(
        &lab.cli(),
        40,
        &[
            "tftp",
            "-m",
            "binary",
            &SRV_C.to_string(),
            "-c",
            "get",
            "multi.bin",
            local.to_str().unwrap(),
        ],
    );
    assert!(
        out.success() && !out.stdout.contains("Error") && !out.stderr.contains("Error"),
        "{}",
        describe_fetch("tftp-hpa from 10.98.0.1", &out)
    );
    assert_file_eq(&local, &file, "tftp-hpa from 10.98.0.1");

    // 5. A generated file names the address it was fetched from: a machine's
    //    iPXE script over HTTP, asked across subnets and on the second link.
    for (client_ip, server_ip) in [(CLI_B, SRV_A), (CLI_A, SRV_B), (CLI_C, SRV_C)] {
        let url = format!("http://{server_ip}/{IPXE_SCRIPT}");
        let out = lab.exec(
            &lab.cli(),
            30,
            &[
                "curl",
                "-sS",
                "--max-time",
                "20",
                "--interface",
                &client_ip.to_string(),
                &url,
            ],
        );
        assert!(out.success(), "{}", describe_fetch(&url, &out));
        let want = format!("http://{server_ip}/m/");
        let named: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("kernel "))
            .collect();
        if named.is_empty() || !named.iter().all(|l| l.contains(&want)) {
            problems.push(format!(
                "{url} fetched from {client_ip} does not name {server_ip}:\n{}",
                out.stdout
            ));
        }
    }

    let on_eth0 = eth0.stop();
    let on_eth1 = eth1.stop();

    // The DISCOVER from 10.97.0.100 got its offer from 10.97.0.1.
    let offers_b: Vec<_> = dhcp_packets(&on_eth0)
        .into_iter()
        .filter(|w| w.packet.op == 2 && w.packet.xid == bios.xid)
        .collect();
    if offers_b.is_empty() {
        problems.push(format!(
            "no proxy offer on eth0 to the BIOS PXE DISCOVER from {CLI_B}"
        ));
    }
    for w in &offers_b {
        problems.extend(reply_problems(
            &format!("offer to the DISCOVER from {CLI_B} on eth0"),
            *w.udp.src.ip(),
            &w.packet,
            SRV_B,
        ));
    }
    // Everything bootherd said on eth1 came from, and named, 10.98.0.1.
    let replies_c: Vec<_> = dhcp_packets(&on_eth1)
        .into_iter()
        .filter(|w| w.packet.op == 2)
        .collect();
    if !replies_c
        .iter()
        .any(|w| w.udp.dst.port() == 68 && w.udp.src.port() == 67)
    {
        problems.push("no proxy reply to udhcpc on eth1".into());
    }
    for w in &replies_c {
        problems.extend(reply_problems(
            &format!("reply xid {:#010x} to {} on eth1", w.packet.xid, w.udp.dst),
            *w.udp.src.ip(),
            &w.packet,
            SRV_C,
        ));
    }
    // TFTP data to each client came from the address it asked.
    for (frames, client_ip, server_ip) in [
        (&on_eth0, CLI_B, SRV_A),
        (&on_eth0, CLI_A, SRV_B),
        (&on_eth1, CLI_C, SRV_C),
    ] {
        let sources = tftp_sources_to(frames, client_ip);
        if sources.is_empty() {
            problems.push(format!("no TFTP datagram to {client_ip} captured"));
        }
        let wrong: Vec<_> = sources.iter().filter(|s| **s != server_ip).collect();
        if !wrong.is_empty() {
            problems.push(format!(
                "{} of {} TFTP datagrams to {client_ip} (which asked {server_ip}) came from {:?}",
                wrong.len(),
                sources.len(),
                wrong.iter().collect::<std::collections::BTreeSet<_>>()
            ));
        }
    }
    eprintln!(
        "multihomed: {} offer(s) to {CLI_B} on eth0, {} reply(ies) on eth1, TFTP datagrams: {} to {CLI_B}, {} to {CLI_A}, {} to {CLI_C}",
        offers_b.len(),
        replies_c.len(),
        tftp_sources_to(&on_eth0, CLI_B).len(),
        tftp_sources_to(&on_eth0, CLI_A).len(),
        tftp_sources_to(&on_eth1, CLI_C).len(),
    );
    assert!(
        problems.is_empty(),
        "replies that did not leave from the address the request reached:\n{}\n--- eth0 ---\n{}\n--- eth1 ---\n{}\n--- bootherd ---\n{}",
        problems.join("\n"),
        decode_dhcp(&eth0.file),
        decode_dhcp(&eth1.file),
        server.log_text()
    );
}

/// The DHCP part of a capture, decoded, for failure messages.
fn decode_dhcp(file: &Path) -> String {
    let out = crate::support::run_bounded(
        std::process::Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(file)
            .args(["port 67 or port 68 or port 4011"]),
        Duration::from_secs(20),
    );
    out.map(|o| o.stdout).unwrap_or_default()
}
