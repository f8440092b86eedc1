//! What bootherd shows of each boot (docs/API.md): an emulated Pi 4 booting
//! through the proxy and a U-Boot board owned by bootherd's DHCP server, in the
//! namespace lab; their timelines, stages, the unknown clients, `/metrics`
//! (checked with promtool), `bootherd status`, and the token the admin listener
//! asks for off loopback.
//!
//! The probes run in `NAME-cli`, dnsmasq (the LAN's DHCP server) in `NAME-lan`,
//! bootherd in `NAME-srv`; the API is read with curl inside `NAME-srv` (its
//! loopback), and from `NAME-cli` for the listener that is not on loopback.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::dhcp_lab::owned_dhcp_section;
use crate::support::{
    need_lab, pseudo_random_bytes, temp_dir, wait_until, write_file, Bg, Dnsmasq, Lab, RunOutput,
    Server, BOOTHERD,
};

pub(crate) const PI_MAC: &str = "dc:a6:32:aa:bb:01";
pub(crate) const PI_SERIAL: &str = "e1ffda08";
pub(crate) const UNKNOWN_PI_MAC: &str = "dc:a6:32:cc:dd:02";
pub(crate) const UNKNOWN_PI_SERIAL: &str = "0badc0de";
pub(crate) const BOARD_MAC: &str = "52:54:00:99:00:a1";
pub(crate) const ADMIN: &str = "127.0.0.1:9069";

pub(crate) fn config_text(root: &Path, db: &Path, extra: &str) -> String {
    format!(
        r#"[tftp]
root = {root:?}

[http]
enabled = false

[proxy]
enabled = true

[admin]
listen = "{ADMIN}"

[profiles.pi]
kind = "rpi"
kernel = "kernel8.img"
cmdline = "console=serial0,115200"

[profiles.rock]
kind = "pxelinux"
kernel = "Image"
cmdline = "console=ttyS2,1500000"

[[machines]]
name = "pi-known"
mac = "{PI_MAC}"
serial = "{PI_SERIAL}"
profile = "pi"

[[machines]]
name = "board"
mac = "{BOARD_MAC}"
profile = "rock"

{dhcp}
{extra}"#,
        root = root.display().to_string(),
        dhcp = owned_dhcp_section(db, &[BOARD_MAC], &[], ""),
    )
}

/// The shared Pi 4 firmware at the root, the board's kernel in its folder.
pub(crate) fn make_tree(root: &Path) {
    for (i, (name, len)) in [
        ("start4.elf", 200 * 1024),
        ("fixup4.dat", 5_446),
        ("kernel8.img", 130_002),
        ("bcm2711-rpi-4-b.dtb", 52_000),
        ("rock/5254009900a1/Image", 90_001),
    ]
    .into_iter()
    .enumerate()
    {
        write_file(&root.join(name), &pseudo_random_bytes(300 + i as u64, len));
    }
    write_file(&root.join("config.txt"), b"arm_64bit=1\n");
}

fn curl_in(lab: &Lab, ns: &str, args: &[&str]) -> RunOutput {
    let argv: Vec<&str> = ["curl", "-sS", "--max-time", "10"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    lab.exec(ns, 20, &argv)
}

/// GET `path` of the admin listener in `NAME-srv`, as JSON.
fn api(lab: &Lab, path: &str) -> Value {
    let out = curl_in(
        lab,
        &lab.srv(),
        &["--fail", &format!("http://{ADMIN}{path}")],
    );
    assert!(out.status.success(), "GET {path}: {}", out.describe());
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {}", out.stdout))
}

pub(crate) fn probe(lab: &Lab, args: &[&str]) -> RunOutput {
    let mut argv = vec![BOOTHERD, "probe", "--interface", "br0"];
    argv.extend(args);
    lab.exec(&lab.cli(), 60, &argv)
}

fn kinds_and_paths(machine: &Value) -> Vec<(String, String)> {
    machine["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events: {machine}"))
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn served(machine: &Value, path: &str) -> bool {
    kinds_and_paths(machine)
        .iter()
        .any(|(k, p)| k == "file_served" && p == path)
}

#[test]
fn each_boot_is_on_its_machines_timeline_and_the_api_metrics_and_status_show_it() {
    if !need_lab(
        "each_boot_is_on_its_machines_timeline_and_the_api_metrics_and_status_show_it",
        &["dnsmasq", "curl", "promtool", "tftp"],
    ) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    make_tree(&root);
    let config = dir.path().join("bootherd.toml");
    let db = dir.path().join("leases.sqlite");
    write_file(&config, config_text(&root, &db, "").as_bytes());
    let lab = Lab::up();
    let _dnsmasq = Dnsmasq::lan(&lab, dir.path(), "1h", &[BOARD_MAC]);
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], Some("info"));
    server.expect_log(
        &["admin listening on http://127.0.0.1:9069"],
        Duration::from_secs(15),
        "no admin listener",
    );
    let fail = |what: &str, run: &RunOutput| -> ! {
        panic!(
            "{what}\n{}\n--- bootherd ---\n{}",
            run.describe(),
            server.log_text()
        )
    };

    // Before any boot: every machine is listed, never seen.
    let fleet = api(&lab, "/api/v1/machines");
    assert_eq!(fleet.as_array().map(Vec::len), Some(2), "{fleet}");
    assert_eq!(fleet[0]["stage"]["stage"], "never_seen", "{fleet}");

    // watch: the Pi's boot step by step, as it happens.
    let mut watch = Bg::spawn(
        &lab.srv(),
        120,
        &[BOOTHERD, "watch", "pi-known", "--admin", ADMIN],
        dir.path(),
        "watch",
    );
    assert!(
        wait_until(Duration::from_secs(10), || watch
            .stderr_text()
            .contains("watching pi-known")),
        "{}",
        watch.describe()
    );

    let pi = probe(
        &lab,
        &[
            "--as",
            "rpi4",
            "--mac",
            PI_MAC,
            "--serial",
            PI_SERIAL,
            "--timeout",
            "8",
        ],
    );
    if !pi.stdout.contains("VERDICT: boots") {
        fail("the known Pi 4 does not boot", &pi);
    }
    let board = probe(
        &lab,
        &["--as", "uboot", "--mac", BOARD_MAC, "--timeout", "8"],
    );
    if !board.stdout.contains("VERDICT: boots") {
        fail("the board does not boot", &board);
    }
    // The unknown Pi need not boot: bootherd only has to see it.
    let _ = probe(
        &lab,
        &[
            "--as",
            "rpi4",
            "--mac",
            UNKNOWN_PI_MAC,
            "--serial",
            UNKNOWN_PI_SERIAL,
            "--timeout",
            "4",
        ],
    );

    // watch printed the Pi's boot, one line per event, and nothing of the others.
    let kernel_line = format!("pi-known  TFTP served {PI_SERIAL}/kernel8.img (130002 bytes");
    assert!(
        wait_until(Duration::from_secs(10), || watch
            .stdout_text()
            .contains(&kernel_line)),
        "{}",
        watch.describe()
    );
    let watched = watch.stdout_text();
    for line in [
        "pi-known  DHCP DISCOVER from Raspberry Pi 4 EEPROM (proxy), serial e1ffda08".to_owned(),
        "pi-known  DHCP offer (proxy): ".to_owned(),
        format!("pi-known  TFTP asks for {PI_SERIAL}/start4.elf"),
        format!("pi-known  TFTP served {PI_SERIAL}/start4.elf (204800 bytes"),
    ] {
        assert!(watched.contains(&line), "no {line:?} in\n{watched}");
    }
    assert!(
        watched.lines().all(|l| l.contains("  pi-known  ")),
        "{watched}"
    );
    // Ctrl-C ends it cleanly.
    watch.interrupt();
    let status = watch.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?} {}",
        watch.describe()
    );
    // A server that is not there is a clear error.
    let nobody = lab.exec(
        &lab.srv(),
        20,
        &[BOOTHERD, "watch", "--admin", "127.0.0.1:1"],
    );
    assert!(
        !nobody.status.success()
            && nobody
                .stderr
                .contains("connecting to the admin listener at 127.0.0.1:1"),
        "{}",
        nobody.describe()
    );

    // The Pi's fetches are on its own timeline, from the DHCP answer to the kernel.
    let pi = api(&lab, "/api/v1/machines/pi-known");
    let events = kinds_and_paths(&pi);
    assert!(
        events.iter().any(|(k, _)| k == "dhcp_request")
            && events.iter().any(|(k, _)| k == "dhcp_answer"),
        "no DHCP on the Pi's timeline: {pi:#}"
    );
    assert!(served(&pi, &format!("{PI_SERIAL}/start4.elf")), "{pi:#}");
    assert!(served(&pi, &format!("{PI_SERIAL}/kernel8.img")), "{pi:#}");
    assert_eq!(pi["stage"]["stage"], "handed_to_kernel", "{pi:#}");
    assert_eq!(pi["stage"]["kernel"], format!("{PI_SERIAL}/kernel8.img"));
    assert_eq!(pi["seen"]["rpi_serial"], PI_SERIAL, "{pi:#}");
    assert_eq!(pi["seen"]["rpi_model"], "pi4", "{pi:#}");
    // Found by MAC and by serial too.
    assert_eq!(
        api(&lab, &format!("/api/v1/machines/{PI_MAC}"))["name"],
        "pi-known"
    );

    // The board: its lease and its pxelinux file; the emulation stops at
    // `pxe get`, so it is loading files.
    let board = api(&lab, "/api/v1/machines/board");
    let events = kinds_and_paths(&board);
    assert!(
        events.iter().any(|(k, _)| k == "lease"),
        "no lease on the board's timeline: {board:#}"
    );
    let pxelinux = "pxelinux.cfg/01-52-54-00-99-00-a1";
    assert!(served(&board, pxelinux), "{board:#}");
    assert_eq!(board["stage"]["stage"], "loading_files", "{board:#}");
    // Then `pxe boot`: the kernel its pxelinux file names, fetched over TFTP.
    let saved = dir.path().join("pxelinux.txt");
    let kernel = {
        let get = |remote: &str, local: &Path| {
            let out = lab.exec(
                &lab.cli(),
                20,
                &[
                    "tftp",
                    "10.99.0.1",
                    "-m",
                    "binary",
                    "-c",
                    "get",
                    remote,
                    local.to_str().unwrap(),
                ],
            );
            assert!(
                out.status.success() && local.exists(),
                "tftp get {remote}: {}",
                out.describe()
            );
        };
        get(pxelinux, &saved);
        let text = std::fs::read_to_string(&saved).unwrap();
        let kernel = text
            .lines()
            .filter_map(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .get(..2)
                    .map(<[_]>::to_vec)
            })
            .find(|w| w[0].eq_ignore_ascii_case("kernel") || w[0].eq_ignore_ascii_case("linux"))
            .map(|w| w[1].trim_start_matches('/').to_owned())
            .unwrap_or_else(|| panic!("no kernel line in\n{text}"));
        get(&kernel, &dir.path().join("kernel"));
        kernel
    };
    assert_eq!(kernel, "rock/5254009900a1/Image");
    let board = api(&lab, "/api/v1/machines/board");
    assert!(served(&board, &kernel), "{board:#}");
    assert_eq!(board["stage"]["stage"], "handed_to_kernel", "{board:#}");
    let events = kinds_and_paths(&board);
    // No file of one machine is on the other's timeline.
    assert!(!kinds_and_paths(&pi)
        .iter()
        .any(|(_, p)| p.contains("pxelinux")));
    assert!(!events.iter().any(|(_, p)| p.contains(PI_SERIAL)));

    let leases = api(&lab, "/api/v1/leases");
    assert!(
        leases
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["mac"] == BOARD_MAC && l["state"] == "bound" && l["machine"] == "board"),
        "{leases:#}"
    );

    // The unknown Pi, with what it said and an entry to paste.
    let unknown = api(&lab, "/api/v1/unknown");
    let entry = unknown
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["mac"] == UNKNOWN_PI_MAC)
        .unwrap_or_else(|| panic!("the unknown Pi is not listed: {unknown:#}"));
    assert_eq!(entry["rpi_serial"], UNKNOWN_PI_SERIAL, "{entry:#}");
    assert_eq!(entry["client"], "Raspberry Pi 4 EEPROM", "{entry:#}");
    assert!(entry["vendor_class"].as_str().is_some(), "{entry:#}");
    let snippet = entry["machines_entry"].as_str().unwrap().to_owned();
    assert!(snippet.contains("profile = \"pi\""), "{snippet}");
    assert!(
        unknown
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["mac"] != PI_MAC && u["mac"] != BOARD_MAC),
        "known machines listed as unknown: {unknown:#}"
    );

    // status: the fleet table in the terminal.
    let status = lab.exec(&lab.srv(), 20, &[BOOTHERD, "status", "--admin", ADMIN]);
    assert!(status.status.success(), "{}", status.describe());
    let row = |name: &str| {
        status
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {}", status.stdout))
            .to_owned()
    };
    assert!(
        row("pi-known ").contains("handed to the kernel"),
        "{}",
        status.stdout
    );
    assert!(row("board ").contains("pxelinux"), "{}", status.stdout);
    assert!(status.stdout.contains(UNKNOWN_PI_MAC), "{}", status.stdout);

    // Pasting the entry moves the Pi to the fleet, without a restart.
    std::thread::sleep(Duration::from_millis(1100)); // a new mtime second
    write_file(&config, config_text(&root, &db, &snippet).as_bytes());
    let name = format!("pi-{UNKNOWN_PI_SERIAL}");
    let moved = wait_until(Duration::from_secs(15), || {
        let fleet = api(&lab, "/api/v1/machines");
        let listed = fleet
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == name.as_str() && m["stage"]["stage"] != "never_seen");
        let unknown = api(&lab, "/api/v1/unknown");
        listed
            && unknown
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["mac"] != UNKNOWN_PI_MAC)
    });
    assert!(
        moved,
        "the pasted machine did not move to the fleet\n{}",
        server.log_text()
    );

    // /metrics passes promtool and counts what happened.
    let metrics_file = dir.path().join("metrics.txt");
    let out = curl_in(
        &lab,
        &lab.srv(),
        &[
            "--fail",
            "-o",
            metrics_file.to_str().unwrap(),
            &format!("http://{ADMIN}/metrics"),
        ],
    );
    assert!(out.status.success(), "{}", out.describe());
    let metrics = std::fs::read_to_string(&metrics_file).unwrap();
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics_file).unwrap())
        .output()
        .expect("run promtool");
    assert!(
        check.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{metrics}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    for line in [
        "bootherd_dhcp_requests_total{service=\"proxy\",client=\"rpi_eeprom\",decision=\"answered\"}",
        "bootherd_dhcp_requests_total{service=\"server\",client=\"owned\",decision=\"answered\"}",
        "bootherd_file_transfers_total{protocol=\"tftp\",outcome=\"served\"}",
        "bootherd_file_sent_bytes_total{protocol=\"tftp\"}",
        "bootherd_file_transfer_duration_seconds_count{protocol=\"tftp\"}",
        "bootherd_dhcp_pool_addresses{pool=\"10.99.0.0/24\",state=\"in_use\"} 1",
        "bootherd_config_reloads_total{result=\"ok\"} 1",
        "bootherd_build_info{version=",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
}

#[test]
fn off_loopback_the_admin_listener_wants_its_token() {
    if !need_lab("off_loopback_the_admin_listener_wants_its_token", &["curl"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("hello.txt"), b"hello\n");
    let token_file = dir.path().join("admin.token");
    write_file(&token_file, b"s3cret-token\n");
    let config = dir.path().join("bootherd.toml");
    write_file(
        &config,
        format!(
            "[tftp]\nroot = {:?}\n[http]\nenabled = false\n\
             [admin]\nlisten = \"10.99.0.1:9070\"\ntoken_file = {:?}\n\
             [[machines]]\nname = \"secret-board\"\nmac = \"{BOARD_MAC}\"\nprofile = \"rock\"\n\
             [profiles.rock]\nkind = \"pxelinux\"\nkernel = \"Image\"\ncmdline = \"\"\n",
            root.display().to_string(),
            token_file.display().to_string()
        )
        .as_bytes(),
    );
    // Without a token, a listener off loopback is refused at start.
    let no_token = dir.path().join("no-token.toml");
    write_file(
        &no_token,
        format!(
            "[tftp]\nroot = {:?}\n[admin]\nlisten = \"10.99.0.1:9070\"\n",
            root.display().to_string()
        )
        .as_bytes(),
    );
    let refused = crate::support::run_bootherd(["check", "--config", no_token.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    assert!(
        refused.stdout.contains("admin.listen") || refused.stderr.contains("admin.listen"),
        "{}",
        refused.describe()
    );

    let lab = Lab::up();
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], Some("info"));
    server.expect_log(
        &["admin listening on http://10.99.0.1:9070"],
        Duration::from_secs(15),
        "no admin listener",
    );
    for path in [
        "/",
        "/page.js",
        "/metrics",
        "/api/v1/machines",
        "/api/v1/machines/secret-board",
        "/api/v1/unknown",
        "/api/v1/leases",
    ] {
        let url = format!("http://10.99.0.1:9070{path}");
        for auth in [None, Some("Authorization: Bearer wrong")] {
            let mut args = vec!["-w", "\n%{http_code}"];
            if let Some(auth) = auth {
                args.extend(["-H", auth]);
            }
            args.push(&url);
            let out = curl_in(&lab, &lab.cli(), &args);
            assert!(out.status.success(), "{}", out.describe());
            let (body, code) = out.stdout.rsplit_once('\n').unwrap();
            assert_eq!(code, "401", "{path} {auth:?}: {}", out.stdout);
            assert!(
                !body.contains("secret-board") && !body.contains("bootherd_"),
                "{body}"
            );
        }
        let out = curl_in(
            &lab,
            &lab.cli(),
            &["--fail", "-H", "Authorization: Bearer s3cret-token", &url],
        );
        assert!(
            out.status.success(),
            "{path} with the token: {}",
            out.describe()
        );
    }
    // The event stream too (its answer with the token never ends: not read here).
    let out = curl_in(
        &lab,
        &lab.cli(),
        &[
            "-w",
            "\n%{http_code}",
            "http://10.99.0.1:9070/api/v1/events",
        ],
    );
    assert!(out.stdout.ends_with("\n401"), "{}", out.describe());
    // A browser: /?token= once sets a cookie, which then opens the page.
    let jar = dir.path().join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let out = curl_in(
        &lab,
        &lab.cli(),
        &[
            "-c",
            jar,
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            "http://10.99.0.1:9070/?token=s3cret-token",
        ],
    );
    assert_eq!(out.stdout, "303", "{}", out.describe());
    let out = curl_in(
        &lab,
        &lab.cli(),
        &["--fail", "-b", jar, "http://10.99.0.1:9070/"],
    );
    assert!(
        out.status.success() && out.stdout.contains("secret-board"),
        "{}",
        out.describe()
    );
    let out = curl_in(
        &lab,
        &lab.cli(),
        &["-w", "\n%{http_code}", "http://10.99.0.1:9070/?token=wrong"],
    );
    assert!(
        out.stdout.ends_with("\n401") && !out.stdout.contains("secret-board"),
        "{}",
        out.describe()
    );
    // status reads it with the token too.
    let status = lab.exec(
        &lab.cli(),
        20,
        &[
            BOOTHERD,
            "status",
            "--admin",
            "10.99.0.1:9070",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
    );
    assert!(
        status.status.success() && status.stdout.contains("secret-board"),
        "{}",
        status.describe()
    );
    let status = lab.exec(
        &lab.cli(),
        20,
        &[BOOTHERD, "status", "--admin", "10.99.0.1:9070"],
    );
    assert!(
        !status.status.success() && status.stderr.contains("401"),
        "{}",
        status.describe()
    );
    // watch too: without the token, a clear 401 and an exit.
    let watch = lab.exec(
        &lab.cli(),
        20,
        &[BOOTHERD, "watch", "--admin", "10.99.0.1:9070"],
    );
    assert!(
        !watch.status.success()
            && watch
                .stderr
                .contains("401: the admin listener wants a token"),
        "{}",
        watch.describe()
    );
}
