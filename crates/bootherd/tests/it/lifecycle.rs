//! The process lifecycle: SIGTERM stops bootherd within its shutdown grace (plus
//! a second) however much work is in flight, and every lease it ACKed is on
//! disk afterwards.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::dhcp_durability::{
    assert_acks_on_disk, burst_dhcp_section, mac_of, wait_for_acks, Burst, Event, Job, Kind,
};
use crate::dhcp_lab::{in_netns, join, read_leases, start_dhcp_server, write_config};
use crate::support::{need_root, pseudo_random_bytes, temp_dir, write_file, Lab, SERVER_IP};

/// Abandoned TFTP transfers held open by one client while the server stops.
const ABANDONED: usize = 50;
const GRACE_MS: u64 = 2000;
/// DHCP clients in the burst that is in flight at the SIGTERM.
const CLIENTS: usize = 150;
const SIGTERM_AFTER_ACKS: usize = 20;

fn config_text(root: &std::path::Path, db: &std::path::Path) -> String {
    format!(
        "[service]\n\
         shutdown_grace_ms = {GRACE_MS}\n\
         [tftp]\n\
         root = {root:?}\n\
         max_transfers_per_client = 64\n\
         retries = 100\n\
         {}",
        burst_dhcp_section(db),
        root = root.display().to_string(),
    )
}

/// Opens `count` TFTP read requests that are never acknowledged, each on its own
/// socket, and returns the sockets once each has received its first packet.
fn abandoned_transfers(count: usize) -> Vec<UdpSocket> {
    (0..count)
        .map(|i| {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind a client port");
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            socket
                .send_to(
                    b"\x00\x01big.img\x00octet\x00timeout\x00255\x00blksize\x001400\x00",
                    SocketAddrV4::new(SERVER_IP, 69),
                )
                .expect("send RRQ");
            let mut buf = [0u8; 2048];
            let (n, _) = socket
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("transfer {i}: no first packet: {e}"));
            assert!(
                matches!(buf[..n], [0, 3 | 6, ..]),
                "transfer {i}: expected DATA or OACK, got {:?}",
                &buf[..n.min(40)]
            );
            socket
        })
        .collect()
}

/// Reads what is left on an abandoned transfer's socket: whether an ERROR came.
fn got_error(socket: &UdpSocket, containing: &str) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buf) {
        if buf[..n].starts_with(&[0, 5]) && String::from_utf8_lossy(&buf[4..n]).contains(containing)
        {
            return true;
        }
    }
    false
}

#[test]
fn sigterm_stops_within_the_grace_and_keeps_every_acked_lease() {
    let test = "lifecycle::sigterm_stops_within_the_grace_and_keeps_every_acked_lease";
    if !need_root(test) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    write_file(&root.join("big.img"), &pseudo_random_bytes(7, 4 << 20));
    let db = dir.path().join("leases.sqlite");
    let config = write_config(dir.path(), "bootherd.toml", &config_text(&root, &db));
    let lab = Lab::up();
    let mut server = start_dhcp_server(&lab.srv(), &config, &[]);

    // 50 transfers that the client never acknowledges, held open.
    let holder = in_netns(&lab.cli(), || abandoned_transfers(ABANDONED));
    let held = join(holder);

    // A DHCP burst, SIGTERM once some are ACKed while the rest are in flight.
    let events: Arc<Mutex<Vec<Event>>> = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let burst = {
        let (events, acks) = (events.clone(), acks.clone());
        in_netns(&lab.cli(), move || {
            let mut burst = Burst::open(events, acks);
            let jobs: Vec<([u8; 6], Job)> = (0..CLIENTS).map(|i| (mac_of(i), Job::Dora)).collect();
            let _ = done_tx.send(burst.run(&jobs, 50, Duration::from_secs(8)));
        })
    };
    wait_for_acks(&acks, SIGTERM_AFTER_ACKS, &server);
    let signalled = Instant::now();
    kill(Pid::from_raw(server.pid() as i32), Signal::SIGTERM).expect("SIGTERM bootherd");
    let limit = Duration::from_millis(GRACE_MS + 1000);
    let status = server.wait_exit(limit + Duration::from_secs(10));
    let took = signalled.elapsed();
    let log = server.log_text();
    let status =
        status.unwrap_or_else(|| panic!("bootherd still runs 10 s past grace + 1 s; log:\n{log}"));
    assert!(
        took <= limit,
        "bootherd took {took:?} to exit after SIGTERM (grace {GRACE_MS} ms + 1 s); log:\n{log}"
    );
    assert!(
        status.success(),
        "exit status {status} after SIGTERM; log:\n{log}"
    );
    assert!(
        log.contains("shutdown grace over: cancelling the work still in flight"),
        "the abandoned transfers were not what held the stop; log:\n{log}"
    );
    let cancelled = held
        .iter()
        .filter(|s| got_error(s, "server shutting down"))
        .count();
    assert_eq!(
        cancelled, ABANDONED,
        "transfers told `server shutting down`: {cancelled} of {ABANDONED}; log:\n{log}"
    );

    let outcomes = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the burst did not finish");
    join(burst);
    let events = events.lock().unwrap().clone();
    let acked = events.iter().filter(|e| e.kind == Kind::Ack).count();
    let leases = read_leases(&db);
    assert_acks_on_disk(&events, &leases, "after SIGTERM", &format!("\nlog:\n{log}"));
    eprintln!(
        "lifecycle: exit {took:?} after SIGTERM (grace {GRACE_MS} ms) with {ABANDONED} transfers and \
         {} DHCP clients in flight; {acked} ACKs, all on disk ({} records)",
        outcomes.len(),
        leases.len()
    );
}
