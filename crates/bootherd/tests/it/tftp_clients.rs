//! Real TFTP clients (tftp-hpa, atftp, curl, busybox) fetch files from bootherd
//! across a bridge in a namespace lab, and every byte is compared.
//!
//! What each Debian 12 client can ask for (seen on the wire):
//! - tftp-hpa 5.2: no options at all (512-byte blocks only); `-m netascii` decodes;
//!   exits 0 even when the server sends an error, printing `Error code N: ...`.
//! - atftp 0.8.0: `--option "blksize N"`, `"windowsize N"`, `"tsize 0"` (its
//!   `"tsize enable"` puts the literal string `enable` on the wire); netascii only
//!   through its interactive `mode netascii`, and it decodes.
//! - curl 7.88.1: always sends `tsize 0 blksize 512 timeout 6` unless
//!   `--tftp-no-options`; `--tftp-blksize N`; `;mode=netascii` in the URL sends
//!   netascii but writes the wire bytes undecoded. It rejects an OACK carrying
//!   `tsize 0` ("invalid tsize"), so an empty file is fetched without options.
//! - busybox 1.35 tftp: sends `tsize 0`, plus `blksize N` with `-b N`; octet only.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use crate::support::{
    assert_file_eq, need_lab, pseudo_random_bytes, temp_dir, write_file, Lab, RunOutput, Server,
    LAB_SERVER_IP,
};

/// A lab with bootherd running in `NAME-srv` on a root holding `files`.
/// Fields drop in order: server first, then the lab, then the files.
struct LabServer {
    server: Server,
    lab: Lab,
    dir: tempfile::TempDir,
    port: u16,
}

impl LabServer {
    fn start(files: &[(&str, &[u8])]) -> LabServer {
        let dir = temp_dir();
        for (name, contents) in files {
            write_file(&dir.path().join("root").join(name), contents);
        }
        std::fs::create_dir(dir.path().join("out")).expect("create out dir");
        let lab = Lab::up();
        let server = Server::start_in(&lab.srv(), &dir.path().join("root"));
        let lab_ip: Ipv4Addr = LAB_SERVER_IP.parse().unwrap();
        let port = server
            .tftp
            .iter()
            .find(|a| *a.ip() == lab_ip || a.ip().is_unspecified())
            .map(SocketAddrV4::port)
            .unwrap_or_else(|| {
                panic!(
                    "bootherd in {} does not listen for TFTP on {LAB_SERVER_IP}: {:?}",
                    lab.srv(),
                    server.tftp
                )
            });
        assert_eq!(port, 69, "default TFTP port");
        LabServer {
            server,
            lab,
            dir,
            port,
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join("out").join(name)
    }

    /// Runs a client command in the client namespace, killed after `secs`.
    fn client(&self, secs: u64, args: &[&str]) -> RunOutput {
        self.lab.exec(&self.lab.cli(), secs, args)
    }

    /// tftp-hpa in batch mode: the words after `-c` are one prompt command.
    fn tftp_hpa(&self, secs: u64, mode: &str, remote: &str, local: &Path) -> RunOutput {
        let port = self.port_arg();
        self.client(
            secs,
            &[
                "tftp",
                "-m",
                mode,
                LAB_SERVER_IP,
                &port,
                "-c",
                "get",
                remote,
                path_str(local),
            ],
        )
    }

    fn port_arg(&self) -> String {
        self.port.to_string()
    }

    fn url(&self, remote: &str) -> String {
        format!("tftp://{LAB_SERVER_IP}:{}/{remote}", self.port)
    }

    /// Runs a client that fetches into `local`; fails unless it succeeded and
    /// `local` holds exactly `want`. Returns the client's output.
    fn fetch(&self, secs: u64, args: &[&str], local: &Path, want: &[u8], what: &str) -> RunOutput {
        let out = self.client(secs, args);
        if !out.success() {
            self.fail(what, &out);
        }
        assert_file_eq(local, want, what);
        out
    }

    /// [`LabServer::tftp_hpa`], checked like [`LabServer::fetch`]; tftp-hpa exits
    /// 0 after an error packet too, and its output says so.
    fn tftp_hpa_fetch(
        &self,
        secs: u64,
        mode: &str,
        remote: &str,
        local: &Path,
        want: &[u8],
        what: &str,
    ) {
        let out = self.tftp_hpa(secs, mode, remote, local);
        if !out.success() || out.stdout.contains("Error") || out.stderr.contains("Error") {
            self.fail(what, &out);
        }
        assert_file_eq(local, want, what);
    }

    /// Panics with the client's output and the server's log.
    fn fail(&self, what: &str, out: &RunOutput) -> ! {
        panic!(
            "{what}: {}\n--- bootherd log ---\n{}",
            out.describe(),
            self.server.log_text()
        )
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// The files most tests fetch: sizes around block and window boundaries.
struct Corpus {
    small: Vec<u8>,
    exact512: Vec<u8>,
    exact1468x8: Vec<u8>,
    nested: Vec<u8>,
}

impl Corpus {
    fn new() -> Corpus {
        Corpus {
            // 195 full 512-byte blocks and a partial one; 68 full 1468-byte blocks.
            small: pseudo_random_bytes(1, 100_000),
            // A multiple of the block size needs a final empty DATA block.
            exact512: pseudo_random_bytes(2, 512 * 8),
            // Ends exactly at a window boundary for blksize 1468, windowsize 8.
            exact1468x8: pseudo_random_bytes(3, 1468 * 8),
            nested: pseudo_random_bytes(4, 3000),
        }
    }

    fn files(&self) -> Vec<(&'static str, &[u8])> {
        vec![
            ("small.bin", &self.small[..]),
            ("empty.bin", &[][..]),
            ("exact512.bin", &self.exact512[..]),
            ("exact1468x8.bin", &self.exact1468x8[..]),
            ("pxelinux.cfg/dir/nested.bin", &self.nested[..]),
        ]
    }
}

#[test]
fn tftp_hpa_fetches_files_at_512_byte_blocks() {
    if !need_lab("tftp_hpa_fetches_files_at_512_byte_blocks", &["tftp"]) {
        return;
    }
    let corpus = Corpus::new();
    let lab = LabServer::start(&corpus.files());
    for (i, (remote, contents)) in corpus.files().into_iter().enumerate() {
        let local = lab.out(&format!("hpa-{i}"));
        let what = format!("tftp-hpa get {remote}");
        lab.tftp_hpa_fetch(60, "octet", remote, &local, contents, &what);
    }
}

#[test]
fn atftp_fetches_with_and_without_blksize_tsize_windowsize() {
    if !need_lab(
        "atftp_fetches_with_and_without_blksize_tsize_windowsize",
        &["atftp"],
    ) {
        return;
    }
    let corpus = Corpus::new();
    let lab = LabServer::start(&corpus.files());
    let variants: [&[&str]; 2] = [
        &[],
        &[
            "--option",
            "blksize 1468",
            "--option",
            "tsize 0",
            "--option",
            "windowsize 8",
        ],
    ];
    for (v, options) in variants.iter().enumerate() {
        for (i, (remote, contents)) in corpus.files().into_iter().enumerate() {
            let local = lab.out(&format!("atftp-{v}-{i}"));
            let port = lab.port_arg();
            let mut args = vec!["atftp", "--get", "-r", remote, "-l", path_str(&local)];
            args.extend_from_slice(options);
            args.extend_from_slice(&["--trace", LAB_SERVER_IP, &port]);
            let what = format!("atftp {options:?} get {remote}");
            let out = lab.fetch(60, &args, &local, contents, &what);
            if !options.is_empty() {
                // The server acknowledged every option it was offered.
                let oack = out
                    .stdout
                    .lines()
                    .chain(out.stderr.lines())
                    .find(|l| l.contains("received OACK"))
                    .unwrap_or_else(|| lab.fail(&format!("{what}: no OACK"), &out))
                    .to_string();
                for want in [
                    "blksize: 1468".to_string(),
                    "windowsize: 8".to_string(),
                    format!("tsize: {}", contents.len()),
                ] {
                    assert!(oack.contains(&want), "{what}: OACK lacks `{want}`: {oack}");
                }
            }
        }
    }
}

#[test]
fn curl_fetches_plain_and_with_blksize_1468() {
    if !need_lab("curl_fetches_plain_and_with_blksize_1468", &["curl"]) {
        return;
    }
    let corpus = Corpus::new();
    let lab = LabServer::start(&corpus.files());
    let variants: [&[&str]; 2] = [&[], &["--tftp-blksize", "1468"]];
    for (v, options) in variants.iter().enumerate() {
        for (i, (remote, contents)) in corpus.files().into_iter().enumerate() {
            // curl 7.88 refuses an OACK with `tsize 0` (lib/tftp.c: "invalid
            // tsize"), which is what a correct server answers for an empty file.
            let options: &[&str] = if contents.is_empty() {
                &["--tftp-no-options"]
            } else {
                options
            };
            let local = lab.out(&format!("curl-{v}-{i}"));
            let url = lab.url(remote);
            let mut args = vec!["curl", "-sS", "--max-time", "50"];
            args.extend_from_slice(options);
            args.extend_from_slice(&["-o", path_str(&local), &url]);
            let what = format!("curl {options:?} {url}");
            lab.fetch(60, &args, &local, contents, &what);
        }
    }
}

#[test]
fn curl_fetches_over_http_on_port_80() {
    if !need_lab("curl_fetches_over_http_on_port_80", &["curl"]) {
        return;
    }
    let corpus = Corpus::new();
    let lab = LabServer::start(&corpus.files());
    let lab_ip: Ipv4Addr = LAB_SERVER_IP.parse().unwrap();
    assert!(
        lab.server
            .http
            .iter()
            .any(|a| a.port() == 80 && (*a.ip() == lab_ip || a.ip().is_unspecified())),
        "bootherd does not listen for HTTP on {LAB_SERVER_IP}:80: {:?}",
        lab.server.http
    );
    for (i, (remote, contents)) in corpus.files().into_iter().enumerate() {
        let local = lab.out(&format!("http-{i}"));
        let url = format!("http://{LAB_SERVER_IP}/{remote}");
        let args = [
            "curl",
            "-sS",
            "--fail",
            "--max-time",
            "50",
            "-o",
            path_str(&local),
            &url,
        ];
        lab.fetch(60, &args, &local, contents, &format!("curl {url}"));
    }
    let url = format!("http://{LAB_SERVER_IP}/missing.bin");
    let out = lab.client(
        60,
        &[
            "curl",
            "-sS",
            "--max-time",
            "50",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ],
    );
    assert_eq!(
        out.stdout.trim(),
        "404",
        "GET /missing.bin: {}",
        out.describe()
    );
}

#[test]
fn busybox_tftp_fetches_with_and_without_blksize() {
    if !need_lab(
        "busybox_tftp_fetches_with_and_without_blksize",
        &["busybox"],
    ) {
        return;
    }
    let corpus = Corpus::new();
    let lab = LabServer::start(&corpus.files());
    let variants: [&[&str]; 2] = [&[], &["-b", "1468"]];
    for (v, options) in variants.iter().enumerate() {
        for (i, (remote, contents)) in corpus.files().into_iter().enumerate() {
            let local = lab.out(&format!("busybox-{v}-{i}"));
            let port = lab.port_arg();
            let mut args = vec![
                "busybox",
                "tftp",
                "-g",
                "-r",
                remote,
                "-l",
                path_str(&local),
            ];
            args.extend_from_slice(options);
            args.extend_from_slice(&[LAB_SERVER_IP, &port]);
            let what = format!("busybox tftp {options:?} get {remote}");
            lab.fetch(60, &args, &local, contents, &what);
        }
    }
}

#[test]
fn large_file_crosses_block_number_rollover() {
    if !need_lab(
        "large_file_crosses_block_number_rollover",
        &["tftp", "atftp"],
    ) {
        return;
    }
    // 65,561 blocks of 512 bytes: the block number wraps past 65535.
    let big = pseudo_random_bytes(5, 32 * 1024 * 1024 + 12345);
    assert!(big.len() / 512 > 65535);
    let lab = LabServer::start(&[("big.bin", &big)]);
    let port = lab.port_arg();

    let local = lab.out("hpa-big");
    let what = "tftp-hpa get big.bin (512-byte blocks)";
    lab.tftp_hpa_fetch(240, "octet", "big.bin", &local, &big, what);
    std::fs::remove_file(&local).expect("remove received copy");

    let local = lab.out("atftp-big");
    let args = [
        "atftp",
        "--get",
        "-r",
        "big.bin",
        "-l",
        path_str(&local),
        "--option",
        "blksize 1468",
        "--option",
        "windowsize 8",
        "--option",
        "tsize 0",
        LAB_SERVER_IP,
        &port,
    ];
    let what = "atftp get big.bin (blksize 1468, windowsize 8)";
    lab.fetch(240, &args, &local, &big, what);
}

/// Windowed transfers go out a window per system call (`sendmmsg`, the file bytes
/// read once per window): atftp must still get every byte, in order, at several
/// window and block sizes, with 2% of the DATA and ACK packets lost (nftables
/// rules in the lab's namespaces; the server itself drops nothing). Each lost DATA or ACK makes the window start again from the block
/// after the last one acknowledged (RFC 7440), so every resend path is crossed.
#[test]
fn windowed_transfers_deliver_every_byte_through_loss() {
    if !need_lab(
        "windowed_transfers_deliver_every_byte_through_loss",
        &["atftp", "nft"],
    ) {
        return;
    }
    // Not a multiple of any block size below; 5 to 200 windows long.
    let data = pseudo_random_bytes(9, 400_000 + 777);
    let lab = LabServer::start(&[("win.bin", &data)]);
    // 2% of the DATA packets and 2% of the ACKs (but ACK 0) are dropped at
    // random on arrival (nftables `numgen random` on the input hook: the kernel
    // here has no netem qdisc, and a drop on output would fail the sender's
    // send() with EPERM rather than lose the packet). The option exchange is
    // spared: atftp aborts on a repeated OACK ("unexpected OACK"). The rules go
    // with the namespaces.
    let chain = "{ type filter hook input priority 0; }";
    // The TFTP opcode and block number are the 4 bytes after the UDP header.
    let data_only = ["@th,64,16", "3"];
    let ack = ["@th,64,16", "4", "@th,80,16", "!=", "0"];
    for (ns, which) in [(lab.lab.cli(), &data_only[..]), (lab.lab.srv(), &ack[..])] {
        let mut drop = vec![
            "add", "rule", "inet", "loss", "in", "udp", "sport", "!=", "0",
        ];
        drop.extend_from_slice(which);
        drop.extend_from_slice(&["numgen", "random", "mod", "100", "<", "2", "drop"]);
        for rule in [
            &["add", "table", "inet", "loss"][..],
            &["add", "chain", "inet", "loss", "in", chain],
            &drop,
        ] {
            let mut args = vec!["nft"];
            args.extend_from_slice(rule);
            let out = lab.lab.exec(&ns, 10, &args);
            assert!(out.success(), "nft {rule:?} in {ns}: {}", out.describe());
        }
    }
    let port = lab.port_arg();
    for (blksize, windowsize) in [(512, 4), (1024, 8), (1468, 16), (1468, 64)] {
        let local = lab.out(&format!("win-{blksize}-{windowsize}"));
        let (b, w) = (
            format!("blksize {blksize}"),
            format!("windowsize {windowsize}"),
        );
        let args = [
            "atftp",
            "--get",
            "-r",
            "win.bin",
            "-l",
            path_str(&local),
            "--option",
            &b,
            "--option",
            &w,
            LAB_SERVER_IP,
            &port,
        ];
        let what = format!("atftp get win.bin ({b}, {w}, 2% loss each way)");
        lab.fetch(180, &args, &local, &data, &what);
    }
    // The loss was real: the server had to send again.
    let log = lab.server.log_text();
    let resent: u64 = log
        .lines()
        .filter(|l| l.contains("tftp: sent"))
        .filter_map(|l| {
            // `retransmits=N` (text log) or `"retransmits":N` (JSON).
            let rest = &l[l.find("retransmits")? + "retransmits".len()..];
            let rest = rest.trim_start_matches(['"', ':', '=']);
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(resent > 0, "no retransmits logged with 2% loss:\n{log}");
}

/// A text file whose netascii form puts a CR LF pair and a CR NUL pair across
/// 512-byte block boundaries, with a bare CR and a CR LF in the original.
fn netascii_sample() -> Vec<u8> {
    let mut text = Vec::new();
    // Encoded: 511 letters, CR ends block 1, LF starts block 2.
    text.extend_from_slice(&[b'a'; 511]);
    text.push(b'\n');
    // Encoded so far 513 bytes; a bare CR at encoded offset 1023: CR | NUL.
    text.extend_from_slice(&[b'b'; 510]);
    text.extend_from_slice(b"\rafter a bare CR\n");
    text.extend_from_slice(b"a DOS line\r\n\n");
    for i in 0..200 {
        text.extend_from_slice(format!("line {i}: {}\n", "xy".repeat(i % 37)).as_bytes());
    }
    text.extend_from_slice(b"no newline at the end");
    text
}

/// RFC 764 / 1350 netascii: LF becomes CR LF, CR becomes CR NUL.
fn netascii_encode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for &b in text {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            _ => out.push(b),
        }
    }
    out
}

#[test]
fn netascii_text_is_encoded_on_the_wire_and_decoded_by_clients() {
    if !need_lab(
        "netascii_text_is_encoded_on_the_wire_and_decoded_by_clients",
        &["tftp", "atftp", "curl"],
    ) {
        return;
    }
    let text = netascii_sample();
    let lab = LabServer::start(&[("notes.txt", &text)]);
    let port = lab.port_arg();

    let local = lab.out("hpa-notes");
    let what = "tftp-hpa netascii get (decoded)";
    lab.tftp_hpa_fetch(60, "netascii", "notes.txt", &local, &text, what);

    // atftp has no batch-mode switch for the mode; drive its prompt.
    let local = lab.out("atftp-notes");
    let args = [
        "sh",
        "-c",
        r#"printf 'mode netascii\nget %s %s\nquit\n' "$1" "$2" | atftp "$3" "$4""#,
        "sh",
        "notes.txt",
        path_str(&local),
        LAB_SERVER_IP,
        &port,
    ];
    lab.fetch(60, &args, &local, &text, "atftp netascii get (decoded)");

    // curl writes what came over the wire: exactly the netascii encoding.
    let local = lab.out("curl-notes");
    let url = format!("{};mode=netascii", lab.url("notes.txt"));
    let args = [
        "curl",
        "-sS",
        "--max-time",
        "50",
        "--tftp-no-options",
        "-o",
        path_str(&local),
        &url,
    ];
    let wire = netascii_encode(&text);
    lab.fetch(60, &args, &local, &wire, "curl netascii get (wire bytes)");
}

#[test]
fn missing_file_gives_each_client_an_error() {
    if !need_lab(
        "missing_file_gives_each_client_an_error",
        &["tftp", "atftp", "curl", "busybox"],
    ) {
        return;
    }
    let lab = LabServer::start(&[("present.bin", b"present")]);
    let port = lab.port_arg();
    let url = lab.url("missing.bin");
    let local = |name: &str| lab.out(name).to_str().unwrap().to_string();

    let out = lab.tftp_hpa(30, "octet", "missing.bin", &lab.out("hpa"));
    // tftp-hpa exits 0 and prints the server's error code and text.
    assert!(
        out.stdout.contains("Error code 1") || out.stderr.contains("Error code 1"),
        "tftp-hpa should report TFTP error 1 (file not found): {}",
        out.describe()
    );

    let out = lab.client(
        30,
        &[
            "atftp",
            "--get",
            "-r",
            "missing.bin",
            "-l",
            &local("atftp"),
            LAB_SERVER_IP,
            &port,
        ],
    );
    assert!(
        !out.success() && out.stderr.contains("error received from server"),
        "atftp should fail with the server's error: {}",
        out.describe()
    );

    let out = lab.client(
        30,
        &[
            "curl",
            "-sS",
            "--max-time",
            "20",
            "-o",
            &local("curl"),
            &url,
        ],
    );
    // 68: CURLE_TFTP_NOTFOUND, what curl makes of TFTP error 1.
    assert_eq!(
        out.status.code(),
        Some(68),
        "curl should exit 68 (TFTP file not found): {}",
        out.describe()
    );

    let out = lab.client(
        30,
        &[
            "busybox",
            "tftp",
            "-g",
            "-r",
            "missing.bin",
            "-l",
            &local("busybox"),
            LAB_SERVER_IP,
            &port,
        ],
    );
    assert!(
        !out.success() && out.stderr.contains("server error: (1)"),
        "busybox tftp should fail with server error 1: {}",
        out.describe()
    );
}
