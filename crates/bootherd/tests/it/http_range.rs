//! Byte ranges over HTTP, fetched with curl from bootherd on 127.0.0.1: the
//! bytes asked for, 416 where nothing can be sent, and a suffix longer than
//! the file gives the whole file (RFC 9110 section 14.1.3).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{need_tools, run_bounded, temp_dir, write_file, Server};

const TEN: &[u8] = b"0123456789";

/// `curl -r RANGE` (no range when `None`): the status code and the body.
fn curl(addr: SocketAddr, path: &str, range: Option<&str>, out: &Path) -> (u16, Vec<u8>) {
    let _ = std::fs::remove_file(out);
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "-w", "%{http_code}", "-o"])
        .arg(out);
    if let Some(range) = range {
        cmd.args(["-r", range]);
    }
    cmd.arg(format!("http://{addr}/{path}"));
    let run = run_bounded(&mut cmd, Duration::from_secs(20)).expect("run curl");
    assert!(
        run.success(),
        "curl -r {range:?} {path}: {}",
        run.describe()
    );
    let code = run.stdout.trim().parse().expect("curl's %{http_code}");
    (code, std::fs::read(out).unwrap_or_default())
}

#[test]
fn curl_gets_the_ranges_it_asks_for() {
    if !need_tools("curl_gets_the_ranges_it_asks_for", &["curl"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("ten.bin"), TEN);
    write_file(&root.join("empty.bin"), b"");
    let server = Server::start_local(&root);
    let addr = server.http_addr();
    let out = dir.path().join("body");

    let cases: &[(&str, Option<&str>, u16, &[u8])] = &[
        ("ten.bin", None, 200, TEN),
        ("ten.bin", Some("2-5"), 206, b"2345"),
        ("ten.bin", Some("7-"), 206, b"789"),
        ("ten.bin", Some("-3"), 206, b"789"),
        ("ten.bin", Some("-100"), 206, TEN),
        ("ten.bin", Some("5-100"), 206, b"56789"),
        ("ten.bin", Some("10-"), 416, b""),
        ("empty.bin", None, 200, b""),
        // Once answered 206 with a Content-Length of 1 and no byte to send.
        ("empty.bin", Some("0-"), 416, b""),
        ("empty.bin", Some("-5"), 200, b""),
    ];
    let mut failures = Vec::new();
    for &(path, range, want_code, want_body) in cases {
        let (code, body) = curl(addr, path, range, &out);
        let body_ok = want_code == 416 || body == want_body;
        if code != want_code || !body_ok {
            failures.push(format!(
                "{path} -r {range:?}: {code} {:?}, expected {want_code} {:?}",
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(want_body)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n--- bootherd log ---\n{}",
        failures.join("\n"),
        server.log_text()
    );
}
