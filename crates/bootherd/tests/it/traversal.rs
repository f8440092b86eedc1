//! Hostile file names never leave the root: over TFTP (a raw client) and HTTP, on 127.0.0.1.
//!
//! Layout of each test's temp dir:
//! ```text
//! root/ok.txt  root/sub/inner.txt  root/inside-link -> ok.txt
//! root/escape -> /etc/passwd   root/outdir -> /etc   root/fifo (mkfifo)
//! root/abs-secret -> <tmp>/secret
//! secret                       (next to root)
//! root-sibling/secret          (shares the prefix "root")
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{run_bounded, temp_dir, write_file, Server, CANARY_VALUE};

const OK_TXT: &[u8] = b"ok: served from the root\n";
const INNER_TXT: &[u8] = b"inner: served from root/sub\n";
const SECRET: &[u8] = b"SECRET-7f3a91: outside the root\n";
const SIBLING_SECRET: &[u8] = b"SIBLING-SECRET-55c2e0: in root-sibling\n";

/// How long one request may wait for its first reply.
const REPLY_LIMIT: Duration = Duration::from_secs(3);

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = temp_dir();
        let root = dir.path().join("root");
        write_file(&root.join("ok.txt"), OK_TXT);
        write_file(&root.join("sub/inner.txt"), INNER_TXT);
        write_file(&dir.path().join("secret"), SECRET);
        write_file(&dir.path().join("root-sibling/secret"), SIBLING_SECRET);
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name))
                .unwrap_or_else(|e| panic!("symlink {name}: {e}"));
        };
        link(Path::new("ok.txt"), "inside-link");
        link(Path::new("/etc/passwd"), "escape");
        link(Path::new("/etc"), "outdir");
        link(&dir.path().join("secret"), "abs-secret");
        link(Path::new("../secret"), "rel-secret");
        let out = run_bounded(
            Command::new("mkfifo").arg(root.join("fifo")),
            Duration::from_secs(10),
        )
        .expect("run mkfifo");
        assert!(out.success(), "mkfifo: {}", out.describe());
        Tree { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

/// What came back first for one request.
// The fields are read through `Debug`, in failure messages.
#[allow(dead_code)]
#[derive(Debug)]
enum Reply {
    Data { block: u16, payload: Vec<u8> },
    Error { code: u16, message: String },
    Oack(Vec<u8>),
    Other(Vec<u8>),
    Timeout,
}

fn rrq(name: &[u8], mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut packet = vec![0, 1];
    packet.extend_from_slice(name);
    packet.push(0);
    packet.extend_from_slice(mode.as_bytes());
    packet.push(0);
    for (key, value) in options {
        packet.extend_from_slice(key.as_bytes());
        packet.push(0);
        packet.extend_from_slice(value.as_bytes());
        packet.push(0);
    }
    packet
}

fn parse_reply(packet: &[u8]) -> Reply {
    let opcode = packet.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let field = packet.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match (opcode, field) {
        (Some(3), Some(block)) => Reply::Data {
            block,
            payload: packet[4..].to_vec(),
        },
        (Some(5), Some(code)) => {
            let text = &packet[4..];
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            Reply::Error {
                code,
                message: String::from_utf8_lossy(&text[..end]).into_owned(),
            }
        }
        (Some(6), _) => Reply::Oack(packet[2..].to_vec()),
        _ => Reply::Other(packet.to_vec()),
    }
}

/// Sends one request packet from a fresh port and returns the first reply.
/// A transfer that did start is ended with an ERROR so the server stops sending.
fn request(server: SocketAddr, packet: &[u8]) -> Reply {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client socket");
    socket.send_to(packet, server).expect("send request");
    let deadline = Instant::now() + REPLY_LIMIT;
    let mut buf = vec![0u8; 65536 + 4];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Reply::Timeout;
        }
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                // Only the server's host may answer; anything else is noise.
                if from.ip() != server.ip() {
                    continue;
                }
                let reply = parse_reply(&buf[..n]);
                if !matches!(reply, Reply::Error { .. }) {
                    let mut abort = vec![0, 5, 0, 0];
                    abort.extend_from_slice(b"test client done\0");
                    let _ = socket.send_to(&abort, from);
                }
                return reply;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Reply::Timeout
            }
            Err(e) => panic!("receive reply: {e}"),
        }
    }
}

/// Raw RRQ packets that must each be answered with an ERROR, never DATA or OACK.
fn hostile_requests(tree: &Tree) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<Vec<u8>> = [
        "../secret",
        "../../../../etc/passwd",
        "/etc/passwd",
        "//etc/passwd",
        "sub/../../secret",
        "sub/./../../secret",
        "./../secret",
        "..",
        ".",
        "",
        "/",
        "sub/..//../secret",
        "../root-sibling/secret",
        "sub/inner.txt/../../../secret",
        "..\\secret",
        "sub\\..\\..\\secret",
        "..\\..\\..\\..\\etc\\passwd",
        "C:\\windows",
        "C:\\..\\secret",
        "\\\\server\\share\\secret",
        "%2e%2e/secret",
        "%2e%2e%2fsecret",
        "..%2fsecret",
        "%2E%2E/secret",
        "\u{2025}/secret",
        "\u{FF0E}\u{FF0E}/secret",
        "\u{2024}\u{2024}/secret",
        "ok.txt\n",
        "..\r/secret",
        "ok\u{1}.txt",
        "\u{1b}[31m../secret",
        "sub",
        "sub/",
        "escape",
        "outdir",
        "outdir/passwd",
        "abs-secret",
        "rel-secret",
        "fifo",
        "/dev/null",
        "/dev/zero",
        "/proc/self/environ",
        "../../../../../../proc/self/environ",
        "/dev/../etc/passwd",
        // A leading `/` is the root, never the host's `/`.
        "/../secret",
        "//../secret",
        "/./../secret",
        "/sub/../../secret",
        "/escape",
        "/outdir/passwd",
        "/fifo",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // Overlong UTF-8 for '.', which a lax decoder turns into "../secret".
    names.push(b"\xc0\xae\xc0\xae/secret".to_vec());
    names.push(b"\xff\xfe../secret".to_vec());
    // Absolute paths to the secrets and around the root.
    names.push(tree.path("secret").into_bytes());
    names.push(tree.path("root-sibling/secret").into_bytes());
    names.push(format!("{}/../secret", tree.path("root")).into_bytes());
    // An over-long name, and one long enough to climb out of any root.
    names.push(vec![b'a'; 2000]);
    names.push(format!("{}etc/passwd", "../".repeat(600)).into_bytes());

    let mut requests: Vec<(String, Vec<u8>)> = names
        .into_iter()
        .map(|name| {
            let label = format!("RRQ {:?}", String::from_utf8_lossy(&name));
            (label, rrq(&name, "octet", &[]))
        })
        .collect();
    // Options must not be answered (an OACK's tsize would leak the size) before
    // the name is refused.
    for name in ["../secret", "escape", "../root-sibling/secret", "fifo"] {
        requests.push((
            format!("RRQ {name:?} with tsize/blksize"),
            rrq(
                name.as_bytes(),
                "octet",
                &[("tsize", "0"), ("blksize", "1468")],
            ),
        ));
    }
    for name in ["../secret", "escape"] {
        requests.push((
            format!("RRQ {name:?} netascii"),
            rrq(name.as_bytes(), "netascii", &[]),
        ));
    }
    // A NUL inside the name: the field ends at "ok.txt", "../secret" is the mode.
    requests.push((
        "RRQ ok.txt\\0../secret\\0octet".into(),
        b"\0\x01ok.txt\0../secret\0octet\0".to_vec(),
    ));
    requests
}

fn leaked(bytes: &[u8]) -> Option<&'static str> {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if contains(&SECRET[..16]) {
        Some("the secret next to the root")
    } else if contains(&SIBLING_SECRET[..16]) {
        Some("the secret in root-sibling")
    } else if contains(b"root:x:0:0") || contains(b"root:*:0:0") {
        Some("/etc/passwd")
    } else if contains(CANARY_VALUE.as_bytes()) {
        Some("the server's environment")
    } else {
        None
    }
}

#[test]
fn tftp_refuses_hostile_names_with_an_error() {
    let tree = Tree::new();
    let mut server = Server::start_local(&tree.root());
    let addr = server.tftp_addr();

    let mut failures = Vec::new();
    for (label, packet) in hostile_requests(&tree) {
        let started = Instant::now();
        match request(addr, &packet) {
            Reply::Error { .. } => {}
            Reply::Data { block, payload } => failures.push(format!(
                "{label}: DATA block {block} ({} bytes){}",
                payload.len(),
                leaked(&payload)
                    .map(|w| format!(", leaking {w}"))
                    .unwrap_or_default()
            )),
            Reply::Timeout => {
                failures.push(format!("{label}: no reply within {:?}", started.elapsed()))
            }
            other => failures.push(format!("{label}: {other:?} instead of ERROR")),
        }
        assert!(
            server.is_running(),
            "bootherd died after {label}; log:\n{}",
            server.log_text()
        );
    }
    assert!(
        failures.is_empty(),
        "{} hostile requests were not refused:\n{}\n--- bootherd log ---\n{}",
        failures.len(),
        failures.join("\n"),
        server.log_text()
    );

    // And the server still serves after all that.
    assert_served(addr, b"ok.txt", OK_TXT);
}

fn assert_served(addr: SocketAddr, name: &[u8], want: &[u8]) {
    match request(addr, &rrq(name, "octet", &[])) {
        Reply::Data { block: 1, payload } => assert_eq!(
            payload,
            want,
            "RRQ {:?}: wrong contents",
            String::from_utf8_lossy(name)
        ),
        other => panic!(
            "RRQ {:?}: expected DATA block 1, got {other:?}",
            String::from_utf8_lossy(name)
        ),
    }
}

#[test]
fn tftp_serves_legitimate_names() {
    let tree = Tree::new();
    let server = Server::start_local(&tree.root());
    let addr = server.tftp_addr();
    for (name, want) in [
        ("ok.txt", OK_TXT),
        ("sub/inner.txt", INNER_TXT),
        ("inside-link", OK_TXT),
        ("sub//inner.txt", INNER_TXT),
    ] {
        assert_served(addr, name.as_bytes(), want);
    }
}

#[test]
fn tftp_refuses_writes_and_creates_nothing() {
    let tree = Tree::new();
    let server = Server::start_local(&tree.root());
    let addr = server.tftp_addr();
    let before = list_tree(tree.dir.path());
    for name in ["new.txt", "ok.txt", "../written", "sub/new.txt"] {
        let mut wrq = rrq(name.as_bytes(), "octet", &[]);
        wrq[1] = 2;
        match request(addr, &wrq) {
            Reply::Error { .. } => {}
            other => panic!("WRQ {name:?}: expected ERROR, got {other:?}"),
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        list_tree(tree.dir.path()),
        before,
        "a WRQ changed the files"
    );
    assert_eq!(std::fs::read(tree.root().join("ok.txt")).unwrap(), OK_TXT);
}

/// Every path under `dir` with its size (symlinks not followed), sorted.
fn list_tree(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            out.push((entry.path(), meta.len()));
        }
    }
    out.sort();
    out
}

/// A raw HTTP/1.1 GET: status code and body, bounded in time.
fn http_get(addr: SocketAddr, target: &str) -> Result<(u16, Vec<u8>), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, REPLY_LIMIT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16384];
    loop {
        if Instant::now() >= deadline {
            return Err("hang: response not complete within 10 s".into());
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err(format!(
                    "hang: no data for 5 s after {} bytes",
                    response.len()
                ))
            }
            Err(e) => return Err(format!("read: {e} after {} bytes", response.len())),
        }
    }
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            format!(
                "no end of headers in {:?}",
                String::from_utf8_lossy(&response)
            )
        })?;
    let head = String::from_utf8_lossy(&response[..head_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let body = response[head_end + 4..].to_vec();
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked { dechunk(&body)? } else { body };
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[test]
fn http_serves_the_root_and_nothing_outside_it() {
    let tree = Tree::new();
    let server = Server::start_local(&tree.root());
    let addr = server.http_addr();

    for (target, want) in [
        ("/ok.txt", OK_TXT),
        ("/sub/inner.txt", INNER_TXT),
        ("/inside-link", OK_TXT),
    ] {
        match http_get(addr, target) {
            Ok((200, body)) => assert_eq!(body, want, "GET {target}: wrong body"),
            other => panic!(
                "GET {target}: expected 200, got {other:?}\n--- bootherd log ---\n{}",
                server.log_text()
            ),
        }
    }

    // README: names with `..`, backslashes, NUL or control characters,
    // symlinks that lead out of the root, directories and FIFOs are refused
    // with 403; a name that is simply not there is 404.
    let mut failures = Vec::new();
    for (target, want) in [
        ("/../secret", 403),
        ("/%2e%2e/secret", 403),
        ("/%2E%2E/secret", 403),
        ("/..%2fsecret", 403),
        ("/%2e%2e%2fsecret", 403),
        ("/sub/../../secret", 403),
        ("/sub/%2e%2e/%2e%2e/secret", 403),
        ("/..\\secret", 403),
        ("/..%5csecret", 403),
        ("/../root-sibling/secret", 403),
        ("/%2e%2e/root-sibling/secret", 403),
        // A doubled slash is tolerated: this is `etc/passwd` under the root,
        // which is not there.
        ("//etc/passwd", 404),
        // An encoded slash decodes to a leading `/`, which names the root too
        // (as tftpd-hpa and dnsmasq read it): `etc/passwd` under the root, absent.
        ("/%2fetc%2fpasswd", 404),
        ("/escape", 403),
        ("/outdir/passwd", 403),
        ("/abs-secret", 403),
        ("/rel-secret", 403),
        ("/fifo", 403),
        ("/sub", 403),
        ("/sub/", 403),
        ("/", 403),
        ("/%01ok.txt", 403),
        ("/%00../secret", 403),
        ("/ok.txt%00/../../secret", 403),
        ("/%c0%ae%c0%ae/secret", 403),
        ("/../../../../proc/self/environ", 403),
        ("/not-there.txt", 404),
        ("/sub/not-there.txt", 404),
    ] {
        match http_get(addr, target) {
            Ok((status, body)) => {
                if let Some(what) = leaked(&body) {
                    failures.push(format!("GET {target}: {status}, leaking {what}"));
                } else if status != want {
                    failures.push(format!("GET {target}: status {status}, expected {want}"));
                }
            }
            Err(e) => failures.push(format!("GET {target}: {e}, expected {want}")),
        }
    }
    // Nothing above took the server down.
    match http_get(addr, "/ok.txt") {
        Ok((200, body)) if body == OK_TXT => {}
        other => failures.push(format!("GET /ok.txt afterwards: {other:?}")),
    }
    assert!(
        failures.is_empty(),
        "{} HTTP requests did not get the promised status:\n{}\n--- bootherd log ---\n{}",
        failures.len(),
        failures.join("\n"),
        server.log_text()
    );
}
