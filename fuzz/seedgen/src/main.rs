//! Writes the seed corpora of the fuzz targets into `fuzz/seeds/<target>/`:
//! - `dhcp_proxy`: the golden firmware requests of
//!   `crates/bootherd-proto/src/golden.rs` (included here as is), and each
//!   DISCOVER turned into a REQUEST;
//! - `tftp_packet`: requests as real clients send them, and every other kind;
//! - `config_load`: the TOML examples of README.md and docs/EXAMPLES.md, and
//!   the inventory test fixture;
//! - `clean_path`, `http_range`: a few paths and headers.
//!
//! `dhcp_server` and `tftp_transfer` take structured input (the `arbitrary`
//! crate) and start from an empty corpus.
//!
//! Run from anywhere: `cargo run --manifest-path fuzz/seedgen/Cargo.toml`.
//! It empties each seed directory first, so the files always match this
//! program.

#[allow(dead_code)]
#[path = "../../../crates/bootherd-proto/src/golden.rs"]
mod golden;

use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes `seeds` as `fuzz/seeds/<target>/<name>`, replacing what was there.
fn write(target: &str, seeds: &[(String, Vec<u8>)]) {
    let dir = repo().join("fuzz/seeds").join(target);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the seed directory");
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes).expect("write a seed");
    }
    println!("{target}: {} seeds", seeds.len());
}

/// A file name from a description: lowercase words joined by `-`.
fn slug(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

fn dhcp() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, bytes) in golden::all_requests() {
        // Option 53 comes first in every golden request.
        if bytes.get(240..243) == Some(&[53, 1, 1][..]) {
            let mut request = bytes.clone();
            request[242] = 3;
            out.push((format!("{}-request", slug(name)), request));
        }
        out.push((slug(name), bytes));
    }
    out
}

fn tftp_request(op: u8, file: &str, mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0, op];
    for field in [file, mode]
        .into_iter()
        .chain(options.iter().flat_map(|&(n, v)| [n, v]))
    {
        out.extend_from_slice(field.as_bytes());
        out.push(0);
    }
    out
}

fn tftp() -> Vec<(String, Vec<u8>)> {
    let rrq = |file, mode, options| tftp_request(1, file, mode, options);
    vec![
        ("rrq-plain".into(), rrq("pxelinux.0", "octet", &[])),
        (
            // tftp-hpa with `-m binary` and options
            "rrq-tftp-hpa".into(),
            rrq(
                "boot/vmlinuz",
                "octet",
                &[("tsize", "0"), ("blksize", "1468"), ("timeout", "1")],
            ),
        ),
        (
            // curl 7.88
            "rrq-curl".into(),
            rrq(
                "ok.txt",
                "octet",
                &[("tsize", "0"), ("blksize", "512"), ("timeout", "6")],
            ),
        ),
        (
            "rrq-windowsize".into(),
            rrq(
                "bootcode.bin",
                "OCTET",
                &[("blksize", "1024"), ("windowsize", "16")],
            ),
        ),
        (
            "rrq-netascii".into(),
            rrq("pxelinux.cfg/default", "netascii", &[]),
        ),
        ("wrq".into(), tftp_request(2, "upload.bin", "octet", &[])),
        ("data".into(), [&[0, 3, 0, 1][..], b"hello"].concat()),
        ("ack".into(), vec![0, 4, 0, 7]),
        (
            "error".into(),
            [&[0, 5, 0, 8][..], b"option refused\0"].concat(),
        ),
        (
            "oack".into(),
            b"\x00\x06blksize\x001468\x00tsize\x004096\x00".to_vec(),
        ),
    ]
}

/// Every ```toml block of a Markdown file.
fn toml_blocks(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn config() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for doc in ["README.md", "docs/EXAMPLES.md"] {
        for (i, block) in toml_blocks(&repo().join(doc)).into_iter().enumerate() {
            out.push((format!("{}-{i}.toml", slug(doc)), block.into_bytes()));
        }
    }
    let fixture = "crates/bootherd/tests/fixtures/inventory/inventory.toml";
    let text = fs::read(repo().join(fixture)).expect("the inventory fixture");
    out.push(("inventory-fixture.toml".into(), text));
    out
}

fn paths() -> Vec<(String, Vec<u8>)> {
    [
        "pxelinux.0",
        "rpi/1234abcd/start4.elf",
        "a//b/./c",
        "../etc/passwd",
        "sub/../../secret",
        "/etc/passwd",
        "..\\secret",
        "ok.txt\0/../../secret",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| (format!("path-{i}"), p.as_bytes().to_vec()))
    .collect()
}

/// The `http_range` layout: one length byte below 128, else 0x80 and the
/// length in 8 bytes; then the header.
fn ranges() -> Vec<(String, Vec<u8>)> {
    let small = |len: u8, header: &str| [&[len][..], header.as_bytes()].concat();
    let large =
        |len: u64, header: &str| [&[0x80][..], &len.to_be_bytes()[..], header.as_bytes()].concat();
    vec![
        ("ten-2-5".into(), small(10, "bytes=2-5")),
        ("ten-suffix".into(), small(10, "bytes=-3")),
        ("ten-open".into(), small(10, "bytes=7-")),
        ("ten-two-ranges".into(), small(10, "bytes=0-1, 4-5")),
        ("empty-from-0".into(), small(0, "bytes=0-")),
        (
            "huge-last-byte".into(),
            large(u64::MAX, "bytes=18446744073709551614-"),
        ),
    ]
}

fn main() {
    write("dhcp_proxy", &dhcp());
    write("tftp_packet", &tftp());
    write("config_load", &config());
    write("clean_path", &paths());
    write("http_range", &ranges());
}
