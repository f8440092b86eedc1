//! One validation path: every configuration `bootherd serve` refuses, `bootherd check`
//! refuses too, with the same message naming the file, the key and its line; and a
//! configuration `check` passes, `serve` starts with. Serve must refuse before it
//! binds anything: the ports it is given are held by the test, so a serve that binds
//! first fails with "address in use" instead of the expected message (and never
//! gets a DHCP socket).

use std::ffi::OsString;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

use crate::dhcp_lab::{add_client_port, owned_dhcp_section, start_dhcp_server, write_tftp_config};
use crate::support::{
    need_lab, run_bootherd, run_bounded, temp_dir, write_file, Lab, Server, BOOTHERD,
};

/// How long `serve` may take to refuse a configuration.
const REFUSAL_LIMIT: Duration = Duration::from_secs(20);

/// Marks the line a row's error must name.
const HERE: &str = "# <-";

/// Whose problem a row is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The file is wrong: both refuse, with the same message.
    File,
    /// The file does not fit this host: `serve` refuses, `check` warns and passes.
    Host,
}

struct Row {
    /// What is wrong, for the failure message.
    what: &'static str,
    /// The file; `{root}`, `{dhcp_port}` and `{pxe_port}` are filled in. The line
    /// with [`HERE`] is the one the message must name, when there is one.
    text: String,
    /// The key (or words) the message must contain.
    key: &'static str,
    kind: Kind,
    /// Pass `--listen 127.0.0.1` to serve (not for rows about `net.listen`).
    listen_flag: bool,
}

fn row(what: &'static str, text: String, key: &'static str) -> Row {
    Row {
        what,
        text,
        key,
        kind: Kind::File,
        listen_flag: true,
    }
}

/// `[tftp]` with the test's root, then `rest`.
fn tftp(rest: &str) -> String {
    format!("[tftp]\nroot = \"{{root}}\"\n{rest}")
}

/// A file with the DHCP server enabled on the test's held ports: `dhcp_keys` go in
/// `[dhcp]`, `tables` after it (pools, reservations, profiles, machines).
fn dhcp(dhcp_keys: &str, tables: &str) -> String {
    tftp(&format!(
        "[proxy]\nport = {{dhcp_port}}\npxe_port = {{pxe_port}}\n\
         [dhcp]\nenabled = true\nping_check = false\n{dhcp_keys}{tables}"
    ))
}

/// [`HERE`] after a value when `mark` names it.
fn here_if(mark: &str, what: &str) -> String {
    match mark == what {
        true => format!(" {HERE}"),
        false => String::new(),
    }
}

/// A good pool.
const POOL: &str =
    "[[dhcp.pool]]\nsubnet = \"10.250.0.0/24\"\nrange = [\"10.250.0.10\", \"10.250.0.20\"]\n";

/// A pool on `subnet` from `first` to `last`, marked as the line to name when `mark`
/// is `"subnet"` or `"range"`.
fn pool(subnet: &str, first: &str, last: &str, mark: &str) -> String {
    format!(
        "[[dhcp.pool]]\nsubnet = \"{subnet}\"{}\nrange = [\"{first}\", \"{last}\"]{}\n",
        here_if(mark, "subnet"),
        here_if(mark, "range")
    )
}

/// A U-Boot board profile and one machine of it with `machine_keys`.
fn board(machine_keys: &str) -> String {
    format!(
        "[profiles.board]\nkind = \"pxelinux\"\nkernel = \"Image\"\n\
         [[machines]]\nname = \"b1\"\nmac = \"52:54:00:00:00:0b\"\nprofile = \"board\"\n{machine_keys}"
    )
}

/// Every refusal on serve's path that comes from the configuration.
fn rows() -> Vec<Row> {
    // A reservation; `mark` ("mac", "ip" or "") says which line the error names.
    let reservation = |mac: &str, ip: &str, extra: &str, mark: &str| {
        format!(
            "[[dhcp.reservation]]\nmac = \"{mac}\"{}\nip = \"{ip}\"{}\n{extra}",
            here_if(mark, "mac"),
            here_if(mark, "ip")
        )
    };
    vec![
        // Reading the file (toml: syntax, unknown keys, types).
        row("unknown key", tftp(&format!("rot = 1 {HERE}\n")), "rot"),
        row(
            "wrong type",
            tftp(&format!("port = \"sixty-nine\" {HERE}\n")),
            "port",
        ),
        row(
            "syntax",
            tftp(&format!("port = = 69 {HERE}\n")),
            "TOML parse error",
        ),
        // Values.
        row(
            "blksize",
            tftp(&format!("max_blksize = 4 {HERE}\n")),
            "tftp.max_blksize",
        ),
        row(
            "windowsize",
            tftp(&format!("max_windowsize = 0 {HERE}\n")),
            "tftp.max_windowsize",
        ),
        row(
            "transfers",
            tftp(&format!("max_transfers = 0 {HERE}\n")),
            "tftp.max_transfers",
        ),
        row(
            "timeout",
            tftp(&format!("timeout_ms = 5 {HERE}\n")),
            "tftp.timeout_ms",
        ),
        row(
            "retries",
            tftp(&format!("retries = 0 {HERE}\n")),
            "tftp.retries",
        ),
        row(
            "per-client transfers",
            tftp(&format!("max_transfers_per_client = 0 {HERE}\n")),
            "tftp.max_transfers_per_client",
        ),
        row(
            "client timeout",
            tftp(&format!("max_client_timeout_secs = 0 {HERE}\n")),
            "tftp.max_client_timeout_secs",
        ),
        row(
            "stall limit",
            tftp(&format!("stall_timeout_ms = 10 {HERE}\n")),
            "tftp.stall_timeout_ms",
        ),
        row(
            "busy poll",
            tftp(&format!("busy_poll_us = 5000 {HERE}\n")),
            "tftp.busy_poll_us",
        ),
        row(
            "rewrite pattern",
            tftp(&format!("[[tftp.rewrite]]\nfrom = '(' {HERE}\nto = ''\n")),
            "tftp.rewrite[0].from",
        ),
        row(
            "rewrite shape",
            tftp(&format!(
                "[[tftp.rewrite]] {HERE}\nlowercase = true\nfrom = 'a'\n"
            )),
            "tftp.rewrite[0]",
        ),
        row(
            "shutdown grace",
            tftp(&format!("[service]\nshutdown_grace_ms = 3600000 {HERE}\n")),
            "service.shutdown_grace_ms",
        ),
        row(
            "pi delay",
            tftp(&format!("[proxy]\nrpi_reply_delay_ms = 20000 {HERE}\n")),
            "proxy.rpi_reply_delay_ms",
        ),
        row(
            "tftp root",
            format!("[tftp]\nroot = \"{{root}}/missing\" {HERE}\n"),
            "tftp.root",
        ),
        row(
            "http root",
            tftp(&format!("[http]\nroot = \"{{root}}/missing\" {HERE}\n")),
            "http.root",
        ),
        row(
            "nothing to serve",
            tftp(&format!(
                "enabled = false {HERE}\n[http]\nenabled = false\n"
            )),
            "tftp.enabled",
        ),
        row(
            "templates",
            format!("templates = \"{{root}}/no-templates\"\n{}", tftp("")),
            "templates",
        ),
        // The inventory.
        row(
            "machine mac",
            tftp(&board("").replace("\"52:54:00:00:00:0b\"", &format!("\"zz\" {HERE}"))),
            "machine b1: mac",
        ),
        row(
            "machine profile",
            tftp(&board("").replace("profile = \"board\"", &format!("profile = \"nope\" {HERE}"))),
            "machine b1: profile",
        ),
        row(
            "profile kernel",
            tftp(&format!("[profiles.board] {HERE}\nkind = \"pxelinux\"\n")),
            "profile board: kernel",
        ),
        // proxyDHCP.
        row(
            "proxy ports",
            tftp(&format!(
                "[proxy]\nenabled = true\nport = {{dhcp_port}}\npxe_port = {{dhcp_port}} {HERE}\n"
            )),
            "proxy.pxe_port",
        ),
        // The DHCP server.
        row(
            "own mac",
            dhcp(&format!("own_macs = [\"not-a-mac\"] {HERE}\n"), POOL),
            "dhcp.own_macs[0]",
        ),
        row(
            "subnet prefix",
            dhcp("", &pool("10.0.0.0/99", "10.0.0.10", "10.0.0.20", "subnet")),
            "dhcp.pool[0].subnet",
        ),
        row(
            "subnet host bits",
            dhcp("", &pool("10.0.0.5/24", "10.0.0.10", "10.0.0.20", "subnet")),
            "dhcp.pool[0].subnet",
        ),
        row(
            "subnet too small",
            dhcp("", &pool("10.0.0.0/31", "10.0.0.0", "10.0.0.1", "subnet")),
            "dhcp.pool[0].subnet",
        ),
        row(
            "reversed range",
            dhcp("", &pool("10.0.0.0/24", "10.0.0.20", "10.0.0.10", "range")),
            "dhcp.pool[0].range",
        ),
        row(
            "range outside",
            dhcp("", &pool("10.0.0.0/24", "10.0.1.10", "10.0.1.20", "range")),
            "dhcp.pool[0].range",
        ),
        row(
            "range with network address",
            dhcp("", &pool("10.0.0.0/24", "10.0.0.0", "10.0.0.20", "range")),
            "dhcp.pool[0].range",
        ),
        row(
            "overlapping pools",
            dhcp(
                "",
                &format!(
                    "{POOL}{}",
                    pool("10.250.0.128/25", "10.250.0.130", "10.250.0.140", "subnet")
                ),
            ),
            "dhcp.pool[1].subnet",
        ),
        row(
            "zero lease",
            dhcp("", &format!("{POOL}lease_secs = 0 {HERE}\n")),
            "dhcp.pool[0].lease_secs",
        ),
        row(
            "huge lease",
            dhcp("", &format!("{POOL}lease_secs = 5000000000 {HERE}\n")),
            "dhcp.pool[0].lease_secs",
        ),
        row(
            "empty domain",
            dhcp("", &format!("{POOL}domain = \"\" {HERE}\n")),
            "dhcp.pool[0].domain",
        ),
        row(
            "reservation mac",
            dhcp(
                "",
                &format!("{POOL}{}", reservation("nope", "10.250.0.5", "", "mac")),
            ),
            "dhcp.reservation[0].mac",
        ),
        row(
            "reservation outside pools",
            dhcp(
                "",
                &format!(
                    "{POOL}{}",
                    reservation("52:54:00:00:00:01", "10.9.9.9", "", "ip")
                ),
            ),
            "dhcp.reservation[0].ip",
        ),
        row(
            "reservation of the broadcast address",
            dhcp(
                "",
                &format!(
                    "{POOL}{}",
                    reservation("52:54:00:00:00:01", "10.250.0.255", "", "ip")
                ),
            ),
            "dhcp.reservation[0].ip",
        ),
        row(
            "reservation mac twice",
            dhcp(
                "",
                &format!(
                    "{POOL}{}{}",
                    reservation("52:54:00:00:00:01", "10.250.0.5", "", ""),
                    reservation("52:54:00:00:00:01", "10.250.0.6", "", "mac")
                ),
            ),
            "dhcp.reservation[1].mac",
        ),
        row(
            "reservation ip twice",
            dhcp(
                "",
                &format!(
                    "{POOL}{}{}",
                    reservation("52:54:00:00:00:01", "10.250.0.5", "", ""),
                    reservation("52:54:00:00:00:02", "10.250.0.5", "", "ip")
                ),
            ),
            "dhcp.reservation[1].ip",
        ),
        row(
            "reservation hostname",
            dhcp(
                "",
                &format!(
                    "{POOL}{}",
                    reservation(
                        "52:54:00:00:00:01",
                        "10.250.0.5",
                        &format!("hostname = \"\" {HERE}\n"),
                        ""
                    )
                ),
            ),
            "dhcp.reservation[0].hostname",
        ),
        row(
            "vendor class",
            dhcp(
                &format!("own_vendor_classes = [\"U-Boot*\", \"\"] {HERE}\n"),
                POOL,
            ),
            "dhcp.own_vendor_classes[1]",
        ),
        row(
            "offer hold",
            dhcp(&format!("offer_hold_secs = 0 {HERE}\n"), POOL),
            "dhcp.offer_hold_secs",
        ),
        row(
            "lease database directory",
            dhcp(
                &format!("lease_db = \"{{root}}/no/such/dir/leases.sqlite\" {HERE}\n"),
                POOL,
            ),
            "dhcp.lease_db",
        ),
        row(
            "boot file",
            dhcp(
                "",
                &format!("[dhcp.boot]\nfile = \"{}\" {HERE}\n{POOL}", "x".repeat(128)),
            ),
            "dhcp.boot.file",
        ),
        row(
            "empty boot file",
            dhcp("", &format!("[dhcp.boot]\nfile = \"\" {HERE}\n{POOL}")),
            "dhcp.boot.file",
        ),
        row(
            "tftp server name",
            dhcp(
                "",
                &format!("[dhcp.boot]\ntftp_server_name = \"\" {HERE}\n{POOL}"),
            ),
            "dhcp.boot.tftp_server_name",
        ),
        row(
            "pxelinux config",
            dhcp(
                "",
                &format!("[dhcp.boot]\npxelinux_config = \"\" {HERE}\n{POOL}"),
            ),
            "dhcp.boot.pxelinux_config",
        ),
        row(
            "machine ip outside pools",
            dhcp(
                "",
                &format!("{POOL}{}", board(&format!("ip = \"10.251.0.5\" {HERE}\n"))),
            ),
            "machines[0].ip",
        ),
        row(
            "machine and reservation for one mac",
            dhcp(
                "",
                &format!(
                    "{POOL}{}{}",
                    reservation("52:54:00:00:00:0b", "10.250.0.5", "", ""),
                    board("ip = \"10.250.0.6\"\n").replace(
                        "mac = \"52:54:00:00:00:0b\"",
                        &format!("mac = \"52:54:00:00:00:0b\" {HERE}")
                    )
                ),
            ),
            "machines[0].mac",
        ),
        // What depends on the host.
        Row {
            kind: Kind::Host,
            ..row(
                "missing interface",
                tftp(&format!("[net]\ninterfaces = [\"bh-no-such0\"] {HERE}\n")),
                "net.interfaces[0]",
            )
        },
        Row {
            kind: Kind::Host,
            listen_flag: false,
            // 192.0.2.0/24 is TEST-NET-1: never a host's address.
            ..row(
                "foreign listen address",
                tftp(&format!("[net]\nlisten = [\"192.0.2.77\"] {HERE}\n")),
                "net.listen[0]",
            )
        },
    ]
}

/// The line with [`HERE`], 1-based.
fn marked_line(text: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(HERE)).map(|i| i + 1)
}

/// From the first `bootherd: ` on: the error as main prints it.
fn error_text(stderr: &str) -> Option<&str> {
    stderr.find("bootherd: ").map(|at| stderr[at..].trim_end())
}

/// Ports the test holds so that a serve that binds before it refuses fails
/// differently: TFTP (UDP) and HTTP (TCP) on 127.0.0.1, and two UDP ports on
/// 127.0.0.1 for the DHCP sockets, which bootherd binds on 0.0.0.0 (the kernel
/// refuses a wildcard bind of a port a specific address holds).
struct HeldPorts {
    _sockets: Vec<UdpSocket>,
    _listener: TcpListener,
    tftp: u16,
    http: u16,
    dhcp: u16,
    pxe: u16,
}

impl HeldPorts {
    fn new() -> HeldPorts {
        let udp = || UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port on 127.0.0.1");
        let sockets = vec![udp(), udp(), udp()];
        let port = |s: &UdpSocket| s.local_addr().unwrap().port();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port on 127.0.0.1");
        HeldPorts {
            tftp: port(&sockets[0]),
            dhcp: port(&sockets[1]),
            pxe: port(&sockets[2]),
            http: listener.local_addr().unwrap().port(),
            _sockets: sockets,
            _listener: listener,
        }
    }
}

/// Runs one row; returns what went wrong, if anything.
fn run_row(row: &Row, dir: &Path, root: &Path, ports: &HeldPorts, n: usize) -> Result<(), String> {
    let text = row
        .text
        .replace("{root}", &root.display().to_string())
        .replace("{dhcp_port}", &ports.dhcp.to_string())
        .replace("{pxe_port}", &ports.pxe.to_string());
    let config = dir.join(format!("row{n}.toml"));
    write_file(&config, text.as_bytes());
    let file = config.display().to_string();
    let fail = |why: String| {
        Err(format!(
            "{} ({}): {why}\n--- {file} ---\n{text}",
            row.what, row.key
        ))
    };

    let check = run_bootherd([
        OsString::from("check"),
        "--config".into(),
        config.clone().into(),
    ]);
    let mut serve_args: Vec<OsString> = vec![
        "serve".into(),
        "--config".into(),
        config.clone().into(),
        "--tftp-port".into(),
        ports.tftp.to_string().into(),
        "--http-port".into(),
        ports.http.to_string().into(),
    ];
    if row.listen_flag {
        serve_args.extend(["--listen".into(), "127.0.0.1".into()]);
    }
    let serve = run_bounded(
        std::process::Command::new(BOOTHERD)
            .args(&serve_args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1"),
        REFUSAL_LIMIT,
    )
    .expect("run bootherd serve");

    if serve.timed_out || serve.status.success() {
        return fail(format!("serve did not refuse it: {}", serve.describe()));
    }
    if serve.stderr.contains("listening on") {
        return fail(format!(
            "serve bound sockets before refusing: {}",
            serve.describe()
        ));
    }
    let Some(refused) = error_text(&serve.stderr) else {
        return fail(format!("serve printed no error: {}", serve.describe()));
    };
    if !refused.contains(&file) || !refused.contains(row.key) {
        return fail(format!(
            "serve's error does not name {file} and {}: {refused}",
            row.key
        ));
    }
    if let Some(line) = marked_line(&text) {
        if !refused.contains(&format!("{file}:{line}:"))
            && !refused.contains(&format!("line {line}"))
        {
            return fail(format!(
                "serve's error does not name line {line}: {refused}"
            ));
        }
    }
    match row.kind {
        Kind::File => {
            if check.success() || check.timed_out {
                return fail(format!("check passed it: {}", check.describe()));
            }
            if error_text(&check.stderr) != Some(refused) {
                return fail(format!(
                    "check and serve say different things:\n  check: {:?}\n  serve: {refused:?}",
                    error_text(&check.stderr)
                ));
            }
        }
        Kind::Host => {
            // `check` warns with the same message and passes: the file may be
            // meant for another host.
            let message = refused.trim_start_matches("bootherd: ");
            if !check.success() || !check.stderr.contains(&format!("warning: {message}")) {
                return fail(format!(
                    "check should pass with the warning {message:?}: {}",
                    check.describe()
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn check_and_serve_refuse_the_same_configurations_naming_file_key_and_line() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let ports = HeldPorts::new();
    let nonlocal_bind = std::fs::read_to_string("/proc/sys/net/ipv4/ip_nonlocal_bind")
        .is_ok_and(|v| v.trim() == "1");
    let mut failures = Vec::new();
    let rows = rows();
    for (n, row) in rows.iter().enumerate() {
        if nonlocal_bind && row.key.starts_with("net.listen") {
            eprintln!(
                "SKIP row {:?}: net.ipv4.ip_nonlocal_bind is 1 here",
                row.what
            );
            continue;
        }
        if let Err(failure) = run_row(row, dir.path(), &root, &ports, n) {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_configuration_check_passes_serve_starts_with() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("board/52540000000b/Image"), b"kernel");
    let config = dir.path().join("bootherd.toml");
    // Every section, the DHCP server's included but off (its port needs a lab).
    let text = format!(
        "[tftp]\nroot = \"{}\"\nmax_blksize = 1468\n[http]\nport = 8080\n\
         [proxy]\nrpi_reply_delay_ms = 1500\n\
         [dhcp]\nown_macs = [\"52:54:00:00:00:0c\"]\n{POOL}\n{}",
        root.display(),
        board("ip = \"10.250.0.5\"\n")
    );
    write_file(&config, text.as_bytes());
    let check = run_bootherd([
        OsString::from("check"),
        "--config".into(),
        config.clone().into(),
    ]);
    assert!(
        check.success(),
        "check refused a good file:\n{text}\n{}",
        check.describe()
    );
    assert!(
        check.stderr.is_empty(),
        "check warned about a good file: {}",
        check.describe()
    );
    // Starts, and logs where it listens (or the test fails); dropping it kills it.
    let server = Server::start_local_config(&config);
    assert!(!server.tftp.is_empty() && !server.http.is_empty());
}

const CLIENT_MAC: &str = "52:54:00:99:0d:01";

/// The DHCP server's half of the promise, in a lab: a `[dhcp]` section `check`
/// passes starts the server and gets a client a lease; a reload with a section
/// `check` refuses is refused, naming the key, and the old one keeps serving.
#[test]
fn a_dhcp_section_check_passes_serves_and_a_refused_reload_keeps_it() {
    if !need_lab(
        "refusals::a_dhcp_section_check_passes_serves_and_a_refused_reload_keeps_it",
        &["busybox"],
    ) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let db = dir.path().join("leases.sqlite");
    let good = owned_dhcp_section(&db, &[CLIENT_MAC], &[], "ping_check = false");
    let config = write_tftp_config(dir.path(), &root, &good);
    let check = || {
        run_bootherd([
            OsString::from("check"),
            "--config".into(),
            config.clone().into(),
        ])
    };
    let out = check();
    assert!(
        out.success(),
        "check refused the good section: {}",
        out.describe()
    );

    let lab = Lab::up();
    add_client_port(&lab, "udv0", CLIENT_MAC);
    let server = start_dhcp_server(&lab.srv(), &config, &[]);
    let got_lease = || {
        let out = lab.udhcpc_once("udv0", 3, &[]);
        let said = format!("{}{}", out.stdout, out.stderr);
        (out.success() && said.contains("obtained"), out.describe())
    };
    let (ok, said) = got_lease();
    assert!(
        ok,
        "udhcpc got no lease from the good section: {said}\n{}",
        server.log_text()
    );

    // The client's MAC replaced by a broken one: applied, the client would be
    // left alone; refused, it is still served.
    std::thread::sleep(Duration::from_millis(1100)); // a new mtime second
    let broken = good.replace(&format!("\"{CLIENT_MAC}\""), "\"not-a-mac\"");
    assert_ne!(broken, good);
    write_tftp_config(dir.path(), &root, &broken);
    let out = check();
    assert!(
        !out.success() && out.stderr.contains("dhcp.own_macs[0]"),
        "check should refuse the broken section naming dhcp.own_macs[0]: {}",
        out.describe()
    );
    server.expect_log(
        &[
            "configuration NOT reloaded",
            "dhcp.own_macs[0]",
            "not-a-mac",
        ],
        Duration::from_secs(15),
        "the reload with a broken [dhcp] section was not refused naming the key",
    );
    let (ok, said) = got_lease();
    assert!(
        ok,
        "after the refused reload the client got no lease: {said}\n{}",
        server.log_text()
    );

    // What depends on the host is not the reload's business (`[net]` waits for a
    // restart): the reload goes through, and the log warns about the next start.
    std::thread::sleep(Duration::from_millis(1100));
    let elsewhere = format!("{good}[net]\ninterfaces = [\"bh-no-such0\"]\n");
    write_tftp_config(dir.path(), &root, &elsewhere);
    server.expect_log(
        &["net.interfaces[0]", "the next start would refuse this"],
        Duration::from_secs(15),
        "a reload naming a missing interface did not warn about it",
    );
    server.expect_log(
        &["configuration reloaded"],
        Duration::from_secs(5),
        "a reload naming a missing interface was refused",
    );
}
