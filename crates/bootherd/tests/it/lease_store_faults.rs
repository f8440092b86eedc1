//! A failed lease commit sends no reply (ARCHITECTURE: a lease is on disk
//! before the reply that depends on it leaves), and the server lives through it.
//!
//! The lease database lives on a small tmpfs the test mounts under its temp
//! dir (and unmounts, also on failure). Once a first client is ACKed, a second
//! one is OFFERed an address; then the test fills the tmpfs to the last page,
//! so that SQLite's next commit (a WAL append) fails with "database or disk is
//! full". The second client's REQUEST then gets no ACK (nor NAK), a third
//! client's DISCOVER no OFFER, and bootherd logs the failed commit and keeps
//! running. Once the filler file is removed, both clients are ACKed, and their
//! leases are in the database.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType};

use crate::dhcp_lab::{lease_of, owned_dhcp_section, start_dhcp_server, write_tftp_config};
use crate::support::{
    key_fields, need_root, owned_discover, owned_request, run_bounded, temp_dir, DhcpClient, Lab,
    Server, BROADCAST_67,
};

const MAC_A: [u8; 6] = [0x52, 0x54, 0x00, 0xdb, 0x00, 0x0a];
const MAC_B: [u8; 6] = [0x52, 0x54, 0x00, 0xdb, 0x00, 0x0b];
const MAC_C: [u8; 6] = [0x52, 0x54, 0x00, 0xdb, 0x00, 0x0c];
/// How long a client goes on asking: eight retransmissions.
const PATIENCE: Duration = Duration::from_secs(4);
const RESEND: Duration = Duration::from_millis(500);

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let out = run_bounded(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size},mode=0700"))
                .arg("bootherd-test")
                .arg(path),
            Duration::from_secs(10),
        )
        .expect("run mount");
        assert!(
            out.success(),
            "mount tmpfs on {}: {}",
            path.display(),
            out.describe()
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    /// Writes `filler` until the file system has no page left; returns its size.
    fn fill(&self, filler: &Path) -> u64 {
        let mut file = std::fs::File::create(filler).expect("create filler");
        let chunk = vec![0x5au8; 64 * 1024];
        let mut written = 0u64;
        let mut size = chunk.len();
        // Smaller and smaller writes take the last partial chunk too.
        while size > 0 {
            match file.write(&chunk[..size]) {
                Ok(0) => size /= 2,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => size /= 2,
                Err(e) => panic!("write {}: {e}", filler.display()),
            }
            assert!(written < 1 << 30, "the tmpfs does not fill up");
        }
        let _ = file.sync_all();
        written
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut cmd = Command::new("umount");
            if lazy {
                cmd.arg("-l");
            }
            run_bounded(cmd.arg(&self.path), Duration::from_secs(10)).is_ok_and(|o| o.success())
        };
        if !umount(false) && !umount(true) {
            eprintln!("cannot unmount the test tmpfs {}", self.path.display());
        }
    }
}

/// One DHCP exchange: the reply to `request`, retransmitted, if any came.
fn ask(client: &DhcpClient, request: &DhcpPacket) -> Option<DhcpPacket> {
    client
        .exchange(request, BROADCAST_67, Some(RESEND), PATIENCE)
        .map(|a| a.packet)
}

fn expect_reply(
    client: &DhcpClient,
    server: &Server,
    request: &DhcpPacket,
    kind: MessageType,
    what: &str,
) -> DhcpPacket {
    let reply = ask(client, request).unwrap_or_else(|| {
        panic!(
            "{what}: no reply in {PATIENCE:?}; log:\n{}",
            server.log_text()
        )
    });
    assert_eq!(
        reply.message_type(),
        Some(kind),
        "{what}: {}\n{}",
        key_fields(&reply),
        server.log_text()
    );
    reply
}

fn assert_bound(db: &Path, mac: &[u8; 6], ip: Ipv4Addr, what: &str) {
    let lease = lease_of(db, &mac_text(mac));
    assert!(
        lease
            .as_ref()
            .is_some_and(|l| l.ip == ip && l.state == "bound"),
        "{what}: ACKed {ip}, but the database has {lease:?}"
    );
}

#[test]
fn a_failed_lease_commit_sends_no_reply_and_the_server_recovers() {
    let test = "lease_store_faults::a_failed_lease_commit_sends_no_reply_and_the_server_recovers";
    if !need_root(test) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let tmpfs = Tmpfs::mount(&dir.path().join("db"), "2m");
    let db = tmpfs.path.join("leases.sqlite");
    let macs: Vec<String> = [MAC_A, MAC_B, MAC_C].iter().map(mac_text).collect();
    let macs: Vec<&str> = macs.iter().map(String::as_str).collect();
    let config = write_tftp_config(
        dir.path(),
        &root,
        &owned_dhcp_section(&db, &macs, &[], "ping_check = false"),
    );
    let lab = Lab::up();
    let mut server = start_dhcp_server(&lab.srv(), &config, &["--no-http"]);
    let client = DhcpClient::open(
        &lab.cli(),
        "br0",
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    );

    // The disk works: A is ACKed and on disk; B is OFFERed an address.
    let offer = expect_reply(
        &client,
        &server,
        &owned_discover(MAC_A, 0xa1),
        MessageType::Offer,
        "A DISCOVER",
    );
    let ack = expect_reply(
        &client,
        &server,
        &owned_request(MAC_A, 0xa2, &offer),
        MessageType::Ack,
        "A REQUEST",
    );
    assert_bound(&db, &MAC_A, ack.yiaddr, "A before the disk filled");
    let offer_b = expect_reply(
        &client,
        &server,
        &owned_discover(MAC_B, 0xb1),
        MessageType::Offer,
        "B DISCOVER",
    );

    // The disk fills up.
    let filler = tmpfs.path.join("filler");
    let filled = tmpfs.fill(&filler);
    let request_b = owned_request(MAC_B, 0xb2, &offer_b);
    let got = ask(&client, &request_b).map(|p| key_fields(&p));
    assert!(
        got.is_none(),
        "B's REQUEST was answered although its lease could not be stored ({filled} bytes of filler): {got:?}\n{}",
        server.log_text()
    );
    let got = ask(&client, &owned_discover(MAC_C, 0xc1)).map(|p| key_fields(&p));
    assert!(
        got.is_none(),
        "C's DISCOVER was answered although its offer could not be stored: {got:?}\n{}",
        server.log_text()
    );
    server.expect_log(
        &["leases: commit failed", "full"],
        Duration::from_secs(5),
        "bootherd did not log the failed commit",
    );
    server.expect_log(
        &["dhcp: lease not stored, so the reply is not sent"],
        Duration::from_secs(5),
        "bootherd did not log the reply it held back",
    );
    assert!(
        server.is_running(),
        "bootherd stopped on a full disk:\n{}",
        server.log_text()
    );

    // Room again: B and C are ACKed, and their leases are on disk.
    std::fs::remove_file(&filler).unwrap();
    let ack_b = expect_reply(
        &client,
        &server,
        &owned_request(MAC_B, 0xb3, &offer_b),
        MessageType::Ack,
        "B REQUEST once the disk has room",
    );
    assert_eq!(ack_b.yiaddr, offer_b.yiaddr, "B was ACKed another address");
    assert_bound(&db, &MAC_B, ack_b.yiaddr, "B after the disk recovered");
    let offer_c = expect_reply(
        &client,
        &server,
        &owned_discover(MAC_C, 0xc2),
        MessageType::Offer,
        "C DISCOVER once the disk has room",
    );
    let ack_c = expect_reply(
        &client,
        &server,
        &owned_request(MAC_C, 0xc3, &offer_c),
        MessageType::Ack,
        "C REQUEST once the disk has room",
    );
    assert_bound(&db, &MAC_C, ack_c.yiaddr, "C after the disk recovered");
    assert_bound(&db, &MAC_A, ack.yiaddr, "A after it all");
    assert!(
        server.is_running(),
        "bootherd stopped:\n{}",
        server.log_text()
    );
    let failures = server.log_lines_with(&["leases: commit failed"]).len();
    eprintln!(
        "lease store faults: {filled} bytes filled the tmpfs; {failures} failed commit(s) logged; B and C ACKed and stored once it had room"
    );
}
