//! What the README promises about the log: "one JSON object per line with
//! `--log-format json`. Every DHCP decision is one line saying what the client
//! is and what it was told, or why it was ignored (ordinary DHCP clients only
//! at `RUST_LOG=debug`)."
//!
//! - JSON: bootherd with proxyDHCP, its DHCP server, TFTP and HTTP in a lab, at
//!   debug level, meets a PXE ROM, a UEFI client it has no file for, an ordinary
//!   client, an owned client's DORA, a TFTP fetch, a TFTP refusal and an HTTP
//!   GET. Every line it writes parses as a JSON object with timestamp, level,
//!   message and target, and each decision line carries the fields the human
//!   format shows (mac, client, arch, delay_ms; ip; peer, file, bytes; ...).
//! - Ordinary clients: busybox udhcpc and ISC dhclient, each on its own port
//!   with its own MAC, get their lease from dnsmasq while bootherd (`--proxy`,
//!   at the default level, info) writes no line about them; a PXE request sent
//!   after them to the same socket is logged, so theirs were handled (one
//!   receive thread per socket, in arrival order), and tcpdump shows their
//!   DISCOVERs reached the server. At debug level the same udhcpc gets its line.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use bootherd_proto::emulate::{discover, Emulated, Identity};
use bootherd_proto::wire::dhcp::{MessageType, SERVER_PORT};
use serde_json::Value;

use crate::dhcp_lab::{add_client_port, owned_dhcp_section, write_tftp_config, OWNED_RANGE};
use crate::support::{
    dhclient_args, dhclient_leases, dhcp_packets, in_range, need_lab, owned_discover,
    owned_request, parse_mac, pseudo_random_bytes, read_lossy, temp_dir, wait_until, write_file,
    Bg, Capture, DhcpClient, Dnsmasq, Lab, Server, BROADCAST_67, LAB_SERVER_IP, LAN_DHCP_IP,
};

/// Owned by bootherd's DHCP server in the JSON test.
const OWNED_MAC: &str = "52:54:00:99:00:a1";
/// A PXE ROM, a UEFI PXE client (no `ipxe.efi` in the root), an ordinary client.
const PXE_MAC: [u8; 6] = [0x02, 0x10, 0x6a, 0, 0, 0x01];
const UEFI_MAC: [u8; 6] = [0x02, 0x10, 0x6a, 0, 0, 0x07];
const PLAIN_MAC: [u8; 6] = [0x02, 0x10, 0x6a, 0, 0, 0x0d];
/// The ordinary clients' ports in the debug-level test.
const UDHCPC_MAC: &str = "02:10:6a:00:01:01";
const DHCLIENT_MAC: &str = "02:10:6a:00:01:02";

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn client_on_br0(lab: &Lab) -> DhcpClient {
    DhcpClient::open(
        &lab.cli(),
        "br0",
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    )
}

/// The parsed lines whose message starts with `prefix`.
fn with_message<'a>(lines: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .collect()
}

/// A decision line to find: its message prefix, a (field, value) that picks
/// it, and the fields it must carry (value `None`: any).
type Decision<'a> = (&'a str, (&'a str, &'a str), Vec<(&'a str, Option<&'a str>)>);

/// The one line with message `prefix` whose `field` is `value`, checked to
/// carry every field of `want` (name, value; `None`: present, any value).
fn check_line(
    lines: &[Value],
    prefix: &str,
    key: (&str, &str),
    want: &[(&str, Option<&str>)],
    problems: &mut Vec<String>,
) {
    let found: Vec<&Value> = with_message(lines, prefix)
        .into_iter()
        .filter(|v| field_text(v, key.0).as_deref() == Some(key.1))
        .collect();
    let Some(line) = found.first() else {
        problems.push(format!(
            "no JSON line with message {prefix:?} and {}={}",
            key.0, key.1
        ));
        return;
    };
    for (name, value) in want {
        match (field_text(line, name), value) {
            (None, _) => problems.push(format!("{prefix:?} line has no field {name:?}: {line}")),
            (Some(got), Some(value)) if got != *value => problems.push(format!(
                "{prefix:?} line: {name} = {got:?}, want {value:?}: {line}"
            )),
            _ => {}
        }
    }
}

/// A field as text: strings as they are, numbers and the rest as JSON.
fn field_text(line: &Value, name: &str) -> Option<String> {
    match line.get(name)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Parses every line of `log`; the ones that are not a JSON object with
/// timestamp, level and target (and, from bootherd itself, a message) go
/// into `problems`.
fn parse_all(log: &str, problems: &mut Vec<String>) -> Vec<Value> {
    let mut lines = Vec::new();
    for line in log.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => {
                // Other crates' events (sqlx's query spans) may have no message.
                let ours = v["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("bootherd"));
                let keys: &[&str] = match ours {
                    true => &["timestamp", "level", "target", "message"],
                    false => &["timestamp", "level", "target"],
                };
                for key in keys {
                    if v.get(key).is_none() {
                        problems.push(format!("JSON line without {key:?}: {line}"));
                    }
                }
                lines.push(v);
            }
            Ok(_) => problems.push(format!("JSON but not an object: {line}")),
            Err(err) => problems.push(format!("not JSON ({err}): {line}")),
        }
    }
    lines
}

#[test]
fn json_log_lines_parse_and_carry_the_decision_fields() {
    let test = "logging::json_log_lines_parse_and_carry_the_decision_fields";
    if !need_lab(test, &["tftp", "curl"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("undionly.kpxe"), b"not really undionly.kpxe");
    write_file(&root.join("file.bin"), &pseudo_random_bytes(6, 3000));
    let db = dir.path().join("leases.sqlite");
    let config = write_tftp_config(
        dir.path(),
        &root,
        &format!(
            "[proxy]\nenabled = true\n{}",
            owned_dhcp_section(&db, &[OWNED_MAC], &[], "ping_check = false")
        ),
    );
    let lab = Lab::up();
    let server = Server::start_in_config(
        &lab.srv(),
        &config,
        &["--log-format", "json"],
        Some("debug"),
    );
    server.expect_log(
        &["dhcp server listening on 0.0.0.0:67"],
        Duration::from_secs(10),
        "bootherd did not log that its DHCP server listens",
    );
    let client = client_on_br0(&lab);
    let patience = Duration::from_secs(4);
    let resend = Some(Duration::from_millis(500));

    // proxyDHCP: an offer, a boot client ignored, an ordinary client ignored.
    let pxe = Identity::new(Emulated::PxeBios, PXE_MAC, None);
    assert!(
        client
            .exchange(&discover(&pxe), BROADCAST_67, resend, patience)
            .is_some(),
        "no proxy offer to the PXE ROM; log:\n{}",
        server.log_text()
    );
    let uefi = Identity::new(Emulated::PxeEfi, UEFI_MAC, None);
    let _ = client.exchange(
        &discover(&uefi),
        BROADCAST_67,
        None,
        Duration::from_millis(300),
    );
    let _ = client.exchange(
        &owned_discover(PLAIN_MAC, 0x0d0d_0d0d),
        BROADCAST_67,
        None,
        Duration::from_millis(300),
    );
    // The DHCP server: DISCOVER, OFFER, REQUEST, ACK.
    let owned = parse_mac(OWNED_MAC);
    let offer = client
        .exchange(
            &owned_discover(owned, 0x0a1a_0001),
            BROADCAST_67,
            resend,
            patience,
        )
        .unwrap_or_else(|| panic!("no offer to the owned client; log:\n{}", server.log_text()));
    let ip = offer.packet.yiaddr;
    assert!(in_range(ip, OWNED_RANGE), "offered {ip}");
    let ack = client
        .exchange(
            &owned_request(owned, 0x0a1a_0002, &offer.packet),
            BROADCAST_67,
            resend,
            patience,
        )
        .unwrap_or_else(|| panic!("no ack to the owned client; log:\n{}", server.log_text()));
    assert_eq!(ack.packet.message_type(), Some(MessageType::Ack));
    // TFTP, a file and a refusal; HTTP.
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    for (remote, local) in [("file.bin", "got.bin"), ("missing.bin", "missing.bin")] {
        let local = out.join(local);
        let run = lab.exec(
            &lab.cli(),
            30,
            &[
                "tftp",
                "-m",
                "binary",
                LAB_SERVER_IP,
                "-c",
                "get",
                remote,
                local.to_str().unwrap(),
            ],
        );
        assert!(run.success(), "tftp get {remote}: {}", run.describe());
    }
    let run = lab.exec(
        &lab.cli(),
        30,
        &[
            "curl",
            "-sS",
            "-o",
            out.join("http.bin").to_str().unwrap(),
            &format!("http://{LAB_SERVER_IP}/file.bin"),
        ],
    );
    assert!(run.success(), "curl: {}", run.describe());
    server.expect_log(&["http: request"], Duration::from_secs(5), "no HTTP line");
    server.expect_log(
        &["tftp: refused"],
        Duration::from_secs(5),
        "no TFTP refusal line",
    );
    server.expect_log(&["tftp: sent"], Duration::from_secs(5), "no TFTP line");

    let mut problems = Vec::new();
    let log = server.log_text();
    let lines = parse_all(&log, &mut problems);
    let pxe_mac = mac_text(&PXE_MAC);
    let uefi_mac = mac_text(&UEFI_MAC);
    let plain_mac = mac_text(&PLAIN_MAC);
    let ip_text = ip.to_string();
    let checks: Vec<Decision> = vec![
        (
            "proxy: offer: TFTP undionly.kpxe",
            ("mac", &pxe_mac),
            vec![
                ("level", Some("INFO")),
                ("client", Some("BIOS PXE ROM")),
                ("arch", Some("Some(BiosX86)")),
                ("delay_ms", Some("0")),
            ],
        ),
        (
            "proxy: ignored: ",
            ("mac", &uefi_mac),
            vec![
                ("level", Some("INFO")),
                ("client", Some("UEFI PXE")),
                ("arch", None),
            ],
        ),
        (
            "proxy: ignored: not a boot client",
            ("mac", &plain_mac),
            vec![("level", Some("DEBUG")), ("xid", Some("0x0d0d0d0d"))],
        ),
        (
            "dhcp: offer",
            ("mac", OWNED_MAC),
            vec![("level", Some("INFO")), ("ip", Some(&ip_text))],
        ),
        (
            "dhcp: ack",
            ("mac", OWNED_MAC),
            vec![("level", Some("INFO")), ("ip", Some(&ip_text))],
        ),
        (
            "tftp: sent",
            ("file", "file.bin"),
            vec![
                ("peer", None),
                ("bytes", Some("3000")),
                ("blksize", None),
                ("windowsize", None),
                ("retransmits", None),
            ],
        ),
        (
            "tftp: refused",
            ("file", "missing.bin"),
            vec![("peer", None), ("reason", None)],
        ),
        (
            "http: request",
            ("path", "/file.bin"),
            vec![
                ("peer", None),
                ("method", Some("GET")),
                ("status", Some("200")),
            ],
        ),
    ];
    for (prefix, key, want) in &checks {
        check_line(&lines, prefix, *key, want, &mut problems);
    }
    eprintln!(
        "json log: {} lines, all parsed: {}; {} decision lines checked",
        log.lines().count(),
        problems.is_empty(),
        checks.len()
    );
    assert!(
        problems.is_empty(),
        "--log-format json:\n{}\n--- log ---\n{log}",
        problems.join("\n")
    );
}

/// Runs ISC dhclient once on `iface` until dnsmasq's lease is in its lease file.
fn dhclient_once(lab: &Lab, dir: &Path, iface: &str) {
    let args = dhclient_args(dir, Path::new("/bin/true"), iface, &["-1", "-d", "-v"]);
    let leases = dhclient_leases(dir, iface);
    let mut dhclient = Bg::spawn(&lab.cli(), 40, &args, dir, &format!("dhclient-{iface}"));
    let want = format!("dhcp-server-identifier {LAN_DHCP_IP};");
    let bound = wait_until(Duration::from_secs(30), || {
        read_lossy(&leases).contains(&want) || !dhclient.is_running()
    });
    dhclient.stop(Duration::from_secs(3));
    assert!(
        bound && read_lossy(&leases).contains(&want),
        "dhclient on {iface} got no lease from dnsmasq: {}",
        dhclient.describe()
    );
}

/// udhcpc once on `iface`, which must get its lease from dnsmasq.
fn udhcpc_once(lab: &Lab, iface: &str) {
    let out = lab.udhcpc_once(iface, 3, &[]);
    assert!(
        out.success()
            && format!("{}{}", out.stdout, out.stderr)
                .contains(&format!("obtained from {LAN_DHCP_IP}")),
        "udhcpc on {iface} got no lease from dnsmasq: {}",
        out.describe()
    );
}

/// Sends a PXE ROM's DISCOVER and waits until bootherd logs its offer: every
/// request that reached the DHCP socket before it has been handled by then.
fn pxe_sentinel(lab: &Lab, server: &Server, last: u8) {
    let machine = Identity::new(Emulated::PxeBios, [0x02, 0x10, 0x6a, 0, 2, last], None);
    let mac = mac_text(&machine.mac);
    let answer = client_on_br0(lab).exchange(
        &discover(&machine),
        BROADCAST_67,
        Some(Duration::from_millis(500)),
        Duration::from_secs(4),
    );
    assert!(answer.is_some(), "no proxy offer to the PXE sentinel");
    server.expect_log(
        &["proxy: offer", &format!("mac={mac}")],
        Duration::from_secs(5),
        "bootherd did not log the PXE sentinel's offer",
    );
}

#[test]
fn ordinary_dhcp_clients_are_logged_only_at_debug_level() {
    let test = "logging::ordinary_dhcp_clients_are_logged_only_at_debug_level";
    if !need_lab(test, &["dnsmasq", "tcpdump", "busybox", "dhclient"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("undionly.kpxe"), b"not really undionly.kpxe");
    let lab = Lab::up();
    let _dnsmasq = Dnsmasq::lan(&lab, dir.path(), "10m", &[]);
    add_client_port(&lab, "ord0", UDHCPC_MAC);
    add_client_port(&lab, "ord1", DHCLIENT_MAC);
    let mut requests = Capture::on_server(
        &lab,
        &format!("udp dst port {SERVER_PORT}"),
        dir.path(),
        "requests",
    );

    // At the default level, info: not a word about either client.
    let server = Server::start_in_with(&lab.srv(), &root, &["--proxy", "--no-http"], Some("info"));
    udhcpc_once(&lab, "ord0");
    dhclient_once(&lab, dir.path(), "ord1");
    pxe_sentinel(&lab, &server, 1);
    let arrived = dhcp_packets(&requests.stop());
    for (mac, who) in [(UDHCPC_MAC, "udhcpc"), (DHCLIENT_MAC, "dhclient")] {
        let macb = parse_mac(mac);
        assert!(
            arrived.iter().any(|p| p.packet.mac() == Some(macb)
                && p.packet.message_type() == Some(MessageType::Discover)),
            "no DISCOVER from {who} ({mac}) reached the server's namespace:\n{}",
            requests.decode()
        );
        let said = server.log_lines_with(&[mac]);
        assert!(
            said.is_empty(),
            "at RUST_LOG=info bootherd logged about the ordinary client {who} ({mac}):\n{}",
            said.join("\n")
        );
    }
    drop(server);

    // At debug level, one line: what the client is, and why it was ignored.
    let server = Server::start_in_with(&lab.srv(), &root, &["--proxy", "--no-http"], Some("debug"));
    udhcpc_once(&lab, "ord0");
    let line = server.expect_log(
        &[
            "proxy: ignored: not a boot client",
            &format!("mac={UDHCPC_MAC}"),
        ],
        Duration::from_secs(10),
        "at RUST_LOG=debug bootherd did not log the ordinary udhcpc",
    );
    assert!(line.contains(" DEBUG "), "not a debug line: {line}");
}
