//! HTTP Range support (README: "an HTTP server with Range support on the same
//! tree"), checked with curl against the real binary on 127.0.0.1: a single
//! range, a suffix range, an open-ended range, a range past the end (clamped),
//! an unsatisfiable range (416 with `Content-Range: bytes */LEN`), no range
//! (200 with `Accept-Ranges: bytes`), and HEAD (the length, no body). Each for
//! a file on disk and for a file bootherd generates (a machine's iPXE script),
//! which it serves from memory; every body is compared byte for byte.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::dhcp_lab::write_config;
use crate::support::{need_tools, pseudo_random_bytes, run_bounded, temp_dir, write_file, Server};

const LEN: usize = 10_000;
const MACHINE_SCRIPT: &str = "m/52-54-00-12-34-56/boot.ipxe";

/// What curl saw: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `curl -sS EXTRA URL`, headers and body kept apart.
fn curl(dir: &Path, tag: &str, url: &str, extra: &[&str]) -> Reply {
    let headers = dir.join(format!("{tag}.headers"));
    let body = dir.join(format!("{tag}.body"));
    let out = run_bounded(
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "-D"])
            .arg(&headers)
            .arg("-o")
            .arg(&body)
            .args(["-w", "%{http_code}"])
            .args(extra)
            .arg(url),
        Duration::from_secs(30),
    )
    .expect("run curl");
    assert!(out.success(), "curl {extra:?} {url}: {}", out.describe());
    let status = out
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl printed no status: {}", out.describe()));
    let text = std::fs::read_to_string(&headers).unwrap_or_default();
    let headers = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

/// Checks every Range case on `url`, whose whole content is `data`.
fn check_ranges(dir: &Path, name: &str, url: &str, data: &[u8]) -> Vec<String> {
    let len = data.len();
    let mut problems = Vec::new();
    let mut expect =
        |what: String, got: &Reply, status: u16, range: Option<String>, body: &[u8]| {
            if got.status != status {
                problems.push(format!("{what}: status {}, want {status}", got.status));
            }
            if got.header("content-range").map(str::to_string) != range {
                problems.push(format!(
                    "{what}: Content-Range {:?}, want {range:?}",
                    got.header("content-range")
                ));
            }
            if got.body != body {
                problems.push(format!(
                    "{what}: {} body bytes, want {} ({})",
                    got.body.len(),
                    body.len(),
                    if got.body.len() == body.len() {
                        "same length, other bytes"
                    } else {
                        "another length"
                    }
                ));
            }
            if status != 416 && got.header("content-length") != Some(&body.len().to_string()) {
                problems.push(format!(
                    "{what}: Content-Length {:?}, want {}",
                    got.header("content-length"),
                    body.len()
                ));
            }
        };
    let cases: Vec<(&str, String, usize, usize)> = vec![
        ("single", "10-99".into(), 10, 99),
        ("suffix", "-100".into(), len - 100, len - 1),
        ("open-ended", "100-".into(), 100, len - 1),
        (
            "past the end",
            format!("{}-{}", len - 10, len + 5000),
            len - 10,
            len - 1,
        ),
        ("one byte", "0-0".into(), 0, 0),
    ];
    for (case, range, first, last) in cases {
        let got = curl(dir, &format!("{name}-{case}"), url, &["-r", &range]);
        expect(
            format!("{name}: {case} range {range}"),
            &got,
            206,
            Some(format!("bytes {first}-{last}/{len}")),
            &data[first..=last],
        );
    }
    for range in [format!("{len}-"), format!("{}-{}", len + 10, len + 20)] {
        let got = curl(dir, &format!("{name}-unsatisfiable"), url, &["-r", &range]);
        expect(
            format!("{name}: unsatisfiable range {range}"),
            &got,
            416,
            Some(format!("bytes */{len}")),
            b"",
        );
    }
    let whole = curl(dir, &format!("{name}-whole"), url, &[]);
    expect(format!("{name}: no range"), &whole, 200, None, data);
    // HEAD: curl -I writes the headers where a body would go; none is read.
    let head = curl(dir, &format!("{name}-head"), url, &["-I"]);
    if head.status != 200 {
        problems.push(format!("{name}: HEAD status {}, want 200", head.status));
    }
    if head.header("content-range").is_some() {
        problems.push(format!("{name}: HEAD has a Content-Range"));
    }
    if head.header("content-length") != Some(&len.to_string()) {
        problems.push(format!(
            "{name}: HEAD Content-Length {:?}, want {len}",
            head.header("content-length")
        ));
    }
    for (what, reply) in [("GET", &whole), ("HEAD", &head)] {
        if reply.header("accept-ranges") != Some("bytes") {
            problems.push(format!(
                "{name}: {what} Accept-Ranges {:?}, want \"bytes\"",
                reply.header("accept-ranges")
            ));
        }
    }
    problems
}

#[test]
fn ranges_heads_and_unsatisfiable_ranges_as_curl_sees_them() {
    let test = "http_range::ranges_heads_and_unsatisfiable_ranges_as_curl_sees_them";
    if !need_tools(test, &["curl"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let data = pseudo_random_bytes(5, LEN);
    write_file(&root.join("disk.bin"), &data);
    let config = write_config(
        dir.path(),
        "bootherd.toml",
        &format!(
            "[tftp]\nroot = {:?}\n\
             [profiles.pc]\nkind = \"ipxe\"\nkernel = \"vmlinuz\"\ninitrd = \"initrd.img\"\n\
             cmdline = \"console=tty0 console=ttyS0,115200n8 root=/dev/nfs nfsroot=10.0.0.5:/srv/nfs/pc,ro rw ip=dhcp rootwait\"\n\
             [[machines]]\nname = \"office-pc\"\nmac = \"52:54:00:12:34:56\"\nprofile = \"pc\"\n",
            root.display().to_string()
        ),
    );
    let server = Server::start_local_config(&config);
    let base = format!("http://{}", server.http_addr());
    let out = dir.path().join("curl");
    std::fs::create_dir_all(&out).unwrap();

    let mut problems = check_ranges(&out, "disk.bin", &format!("{base}/disk.bin"), &data);
    // The generated script: its content is whatever a plain GET returns.
    let script_url = format!("{base}/{MACHINE_SCRIPT}");
    let script = curl(&out, "script-plain", &script_url, &[]);
    assert!(
        script.status == 200 && script.body.starts_with(b"#!ipxe") && script.body.len() > 200,
        "GET {script_url}: status {}, {} bytes:\n{}\n{}",
        script.status,
        script.body.len(),
        String::from_utf8_lossy(&script.body),
        server.log_text()
    );
    problems.extend(check_ranges(
        &out,
        "boot.ipxe (generated)",
        &script_url,
        &script.body,
    ));
    assert!(
        problems.is_empty(),
        "HTTP Range problems:\n{}\n--- bootherd ---\n{}",
        problems.join("\n"),
        server.log_text()
    );
}

// Edge cases of the Range decision (`http_range::plan`), found while fuzzing it:
// an empty file, a suffix longer than the file.

const TEN: &[u8] = b"0123456789";

/// `curl -r RANGE` (no range when `None`): the status code and the body.
fn curl_range(addr: SocketAddr, path: &str, range: Option<&str>, out: &Path) -> (u16, Vec<u8>) {
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
        let (code, body) = curl_range(addr, path, range, &out);
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
