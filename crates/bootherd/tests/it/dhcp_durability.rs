//! The lease database survives SIGKILL: a lease is on disk before the ACK that
//! grants it leaves, so whatever a client was ACKed is still its own after a
//! crash, and no address is ever handed to two clients.
//!
//! A burst client written here (a thread that joined `NAME-cli` with `setns`, one
//! UDP socket on port 68 bound to br0) plays many DHCP clients at once, each with
//! its own MAC and vendor class `bh-load-client`, which bootherd owns through
//! `own_vendor_classes = ["bh-load*"]`. It runs DISCOVER/OFFER/REQUEST/ACK for 50
//! clients in flight, retransmitting like a client does. The test SIGKILLs
//! bootherd after the first ACKs, checks the database as the dead server left
//! it, restarts bootherd on it while the burst goes on, then has every client
//! ACKed before the crash ask for its address again (INIT-REBOOT) and new
//! clients take what is left of the pool, and SIGKILLs bootherd once more.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bootherd_proto::wire::dhcp::{code, DhcpPacket, MessageType, FLAG_BROADCAST};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use socket2::{Domain, Protocol, Socket, Type};

use crate::dhcp_lab::{in_netns, join, read_leases, start_dhcp_server, write_config, LeaseRow};
use crate::support::{need_root, temp_dir, Lab, Server};

pub(crate) const VENDOR_CLASS: &str = "bh-load-client";
pub(crate) const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 1);
pub(crate) const POOL_LAST: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 200);
const POOL_SIZE: usize = 200;
/// Clients in the first burst, and how many ACKs before the SIGKILL.
const FIRST_CLIENTS: usize = 150;
const KILL_AFTER_ACKS: usize = 60;
/// New clients after the restart: more than the pool has left.
const LATE_CLIENTS: usize = 60;
const IN_FLIGHT: usize = 50;
/// Retransmission interval of the burst client.
pub(crate) const RETRY: Duration = Duration::from_millis(500);

pub(crate) fn mac_of(i: usize) -> [u8; 6] {
    [0x02, 0xb0, 0x0d, 0x00, (i >> 8) as u8, i as u8]
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Offer,
    Ack,
    Nak,
}

/// One reply the burst client received.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) kind: Kind,
    pub(crate) mac: [u8; 6],
    pub(crate) ip: Ipv4Addr,
    pub(crate) at: Instant,
}

/// What a client is to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Job {
    /// DISCOVER, then REQUEST what was offered.
    Dora,
    /// INIT-REBOOT: REQUEST this address, no server identifier.
    Reboot(Ipv4Addr),
}

/// How a client ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Acked(Ipv4Addr),
    Naked,
    /// Nothing conclusive before its deadline.
    TimedOut(&'static str),
}

enum Phase {
    Selecting,
    Requesting {
        ip: Ipv4Addr,
        server: Option<Ipv4Addr>,
    },
}

struct Active {
    index: usize,
    mac: [u8; 6],
    job: Job,
    xid: u32,
    phase: Phase,
    sends: u32,
    next_send: Instant,
    deadline: Instant,
}

/// Many DHCP clients on one socket, in the client namespace.
pub(crate) struct Burst {
    socket: UdpSocket,
    events: Arc<Mutex<Vec<Event>>>,
    acks: Arc<AtomicUsize>,
    next_xid: u32,
}

impl Burst {
    pub(crate) fn open(events: Arc<Mutex<Vec<Event>>>, acks: Arc<AtomicUsize>) -> Burst {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
        socket.set_reuse_address(true).unwrap();
        socket.set_broadcast(true).unwrap();
        socket
            .bind_device(Some(b"br0"))
            .expect("SO_BINDTODEVICE br0");
        socket
            .bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())
            .expect("bind 0.0.0.0:68 in the client namespace");
        let socket: UdpSocket = socket.into();
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        Burst {
            socket,
            events,
            acks,
            next_xid: 0x0b00_0000,
        }
    }

    fn send(&self, client: &Active) {
        let mut p = DhcpPacket {
            xid: client.xid,
            flags: FLAG_BROADCAST,
            ..DhcpPacket::default()
        };
        p.chaddr[..6].copy_from_slice(&client.mac);
        let (kind, ip, server) = match client.phase {
            Phase::Selecting => (MessageType::Discover, None, None),
            Phase::Requesting { ip, server } => (MessageType::Request, Some(ip), server),
        };
        p.set_option(code::MESSAGE_TYPE, [kind.code()]);
        if let Some(ip) = ip {
            p.set_option(code::REQUESTED_IP, ip.octets());
        }
        if let Some(server) = server {
            p.set_option(code::SERVER_ID, server.octets());
        }
        let mut client_id = vec![1];
        client_id.extend_from_slice(&client.mac);
        p.set_option(code::CLIENT_ID, client_id);
        p.set_option(code::VENDOR_CLASS, VENDOR_CLASS.as_bytes());
        p.set_option(code::PARAMETER_REQUEST_LIST, [1u8, 3, 6, 51, 54]);
        // A send can fail while nothing answers ARP; the retry covers it.
        let _ = self
            .socket
            .send_to(&p.emit(), SocketAddrV4::new(Ipv4Addr::BROADCAST, 67));
    }

    fn fresh_xid(&mut self) -> u32 {
        self.next_xid = self.next_xid.wrapping_add(1);
        self.next_xid
    }

    /// Runs `jobs` (`(mac, job)`), `in_flight` at a time, each with `patience`
    /// to finish; returns each one's outcome in order.
    pub(crate) fn run(
        &mut self,
        jobs: &[([u8; 6], Job)],
        in_flight: usize,
        patience: Duration,
    ) -> Vec<Outcome> {
        self.run_with(jobs, in_flight, patience, None)
    }

    /// [`Burst::run`]; with `full`, once every address of that pool has been
    /// ACKed (in this run or before), a client still waiting for an offer gets
    /// at most `full.grace` more.
    fn run_with(
        &mut self,
        jobs: &[([u8; 6], Job)],
        in_flight: usize,
        patience: Duration,
        full: Option<PoolFull>,
    ) -> Vec<Outcome> {
        let in_pool = |ip: Ipv4Addr| {
            full.is_some_and(|f| (u32::from(f.first)..=u32::from(f.last)).contains(&u32::from(ip)))
        };
        let mut acked_in_pool: BTreeSet<Ipv4Addr> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == Kind::Ack && in_pool(e.ip))
            .map(|e| e.ip)
            .collect();
        let mut full_since: Option<Instant> = None;
        let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
        let mut pending: VecDeque<usize> = (0..jobs.len()).collect();
        let mut active: Vec<Active> = Vec::new();
        let mut by_xid: HashMap<u32, usize> = HashMap::new();
        let mut buf = vec![0u8; 1500];
        while !pending.is_empty() || !active.is_empty() {
            while active.len() < in_flight {
                let Some(index) = pending.pop_front() else {
                    break;
                };
                let (mac, job) = jobs[index];
                let now = Instant::now();
                let phase = match job {
                    Job::Dora => Phase::Selecting,
                    Job::Reboot(ip) => Phase::Requesting { ip, server: None },
                };
                let client = Active {
                    index,
                    mac,
                    job,
                    xid: self.fresh_xid(),
                    phase,
                    sends: 1,
                    next_send: now + RETRY,
                    deadline: now + patience,
                };
                self.send(&client);
                active.push(client);
            }
            by_xid.clear();
            for (slot, c) in active.iter().enumerate() {
                by_xid.insert(c.xid, slot);
            }
            // Replies.
            let mut finished: Vec<(usize, Outcome)> = Vec::new();
            while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                let Ok(reply) = DhcpPacket::parse(&buf[..n]) else {
                    continue;
                };
                let Some(mac) = reply.mac() else { continue };
                let kind = match reply.message_type() {
                    Some(MessageType::Offer) => Kind::Offer,
                    Some(MessageType::Ack) => Kind::Ack,
                    Some(MessageType::Nak) => Kind::Nak,
                    _ => continue,
                };
                if reply.op != 2 || mac[..3] != [0x02, 0xb0, 0x0d] {
                    continue;
                }
                self.events.lock().unwrap().push(Event {
                    kind,
                    mac,
                    ip: reply.yiaddr,
                    at: Instant::now(),
                });
                if kind == Kind::Ack {
                    self.acks.fetch_add(1, Ordering::SeqCst);
                    if in_pool(reply.yiaddr) {
                        acked_in_pool.insert(reply.yiaddr);
                    }
                }
                let Some(&slot) = by_xid.get(&reply.xid) else {
                    continue;
                };
                let client = &mut active[slot];
                if client.mac != mac || finished.iter().any(|(s, _)| *s == slot) {
                    continue;
                }
                match (kind, &client.phase) {
                    (Kind::Offer, Phase::Selecting) => {
                        client.phase = Phase::Requesting {
                            ip: reply.yiaddr,
                            server: reply.server_id(),
                        };
                        client.sends = 1;
                        client.next_send = Instant::now() + RETRY;
                        self.send(client);
                    }
                    (Kind::Ack, Phase::Requesting { .. }) => {
                        finished.push((slot, Outcome::Acked(reply.yiaddr)));
                    }
                    (Kind::Nak, Phase::Requesting { .. }) => match client.job {
                        Job::Reboot(_) => finished.push((slot, Outcome::Naked)),
                        Job::Dora => {
                            client.phase = Phase::Selecting;
                            client.xid = self.fresh_xid();
                            client.sends = 1;
                            client.next_send = Instant::now() + RETRY;
                            self.send(client);
                        }
                    },
                    _ => {}
                }
            }
            // Timers.
            let now = Instant::now();
            if let Some(f) = full {
                let total = u32::from(f.last) - u32::from(f.first) + 1;
                if full_since.is_none() && acked_in_pool.len() == total as usize {
                    full_since = Some(now);
                }
                if let Some(since) = full_since {
                    for client in active.iter_mut() {
                        if matches!(client.phase, Phase::Selecting) {
                            // From the pool's filling up, or from the client's
                            // start if it came later.
                            let started = client.deadline - patience;
                            client.deadline = client.deadline.min(started.max(since) + f.grace);
                        }
                    }
                }
            }
            for (slot, client) in active.iter_mut().enumerate() {
                if finished.iter().any(|(s, _)| *s == slot) || client.next_send > now {
                    continue;
                }
                if now >= client.deadline {
                    let why = match client.phase {
                        Phase::Selecting => "no offer",
                        Phase::Requesting { .. } => "no ack",
                    };
                    finished.push((slot, Outcome::TimedOut(why)));
                    continue;
                }
                // A selecting client that heard nothing to four REQUESTs starts over.
                if matches!(client.phase, Phase::Requesting { .. })
                    && matches!(client.job, Job::Dora)
                    && client.sends >= 4
                {
                    client.phase = Phase::Selecting;
                    client.xid = self.fresh_xid();
                    client.sends = 0;
                }
                client.sends += 1;
                client.next_send = now + RETRY;
                self.send(client);
            }
            finished.sort_by_key(|(slot, _)| std::cmp::Reverse(*slot));
            for (slot, outcome) in finished {
                let client = active.swap_remove(slot);
                outcomes[client.index] = Some(outcome);
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every job ends"))
            .collect()
    }
}

/// A pool the clients of a [`Burst`] share, and how long a client still
/// waiting for an offer keeps asking once all of it is ACKed.
#[derive(Debug, Clone, Copy)]
struct PoolFull {
    first: Ipv4Addr,
    last: Ipv4Addr,
    grace: Duration,
}

/// Orders for the burst thread.
enum Order {
    Run {
        jobs: Vec<([u8; 6], Job)>,
        patience: Duration,
        full: Option<PoolFull>,
    },
    Stop,
}

fn config_text(root: &std::path::Path, db: &std::path::Path) -> String {
    format!(
        "[tftp]\nroot = {root:?}\n{}[dhcp.boot]\nfile = \"pxelinux.0\"\n",
        burst_dhcp_section(db),
        root = root.display().to_string(),
    )
}

/// `[dhcp]` owning the burst's clients (vendor class `bh-load*`): leases in `db`,
/// no address check, the pool [`POOL_FIRST`]..=[`POOL_LAST`].
pub(crate) fn burst_dhcp_section(db: &std::path::Path) -> String {
    format!(
        "[dhcp]\n\
         enabled = true\n\
         lease_db = {db:?}\n\
         own_vendor_classes = [\"bh-load*\"]\n\
         ping_check = false\n\
         [[dhcp.pool]]\n\
         subnet = \"10.99.0.0/16\"\n\
         range = [\"{POOL_FIRST}\", \"{POOL_LAST}\"]\n\
         lease_secs = 3600\n",
        db = db.display().to_string(),
    )
}

/// Waits (at most 30 s) until the burst has seen `count` ACKs; fails the test
/// with the server's log otherwise.
pub(crate) fn wait_for_acks(acks: &AtomicUsize, count: usize, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while acks.load(Ordering::SeqCst) < count {
        assert!(
            Instant::now() < deadline,
            "only {} ACKs in 30 s; log:\n{}",
            acks.load(Ordering::SeqCst),
            server.log_text()
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// SIGKILL to the server process (bootherd itself: `ip netns exec` execs it),
/// then a moment for its last log lines.
fn crash(server: Server) -> String {
    kill(Pid::from_raw(server.pid() as i32), Signal::SIGKILL).expect("SIGKILL bootherd");
    thread::sleep(Duration::from_millis(200));
    let log = server.log_text();
    drop(server);
    log
}

/// Asserts that every ACK in `events` is a bound record of that MAC in `leases`,
/// the database as read `when` ("after SIGKILL"); `context` (such as the log)
/// ends the failure message.
pub(crate) fn assert_acks_on_disk(
    events: &[Event],
    leases: &[LeaseRow],
    when: &str,
    context: &str,
) {
    let acked = events.iter().filter(|e| e.kind == Kind::Ack).count();
    let missing = missing_acks(events, leases);
    assert!(
        missing.is_empty(),
        "{} of {acked} ACKed leases are not in the database {when}:\n{}{context}",
        missing.len(),
        missing.join("\n")
    );
}

/// Every ACK in `events` is a bound record of that MAC in `leases`; returns the
/// problems.
pub(crate) fn missing_acks(events: &[Event], leases: &[LeaseRow]) -> Vec<String> {
    let by_ip: HashMap<Ipv4Addr, &LeaseRow> = leases.iter().map(|l| (l.ip, l)).collect();
    let acked: BTreeSet<([u8; 6], Ipv4Addr)> = events
        .iter()
        .filter(|e| e.kind == Kind::Ack)
        .map(|e| (e.mac, e.ip))
        .collect();
    acked
        .iter()
        .filter_map(|(mac, ip)| match by_ip.get(ip) {
            Some(l) if l.mac == mac_text(mac) && l.state == "bound" => None,
            other => Some(format!(
                "{} ACKed {ip}, database has {other:?}",
                mac_text(mac)
            )),
        })
        .collect()
}

/// Addresses handed to more than one MAC by replies of `kind`.
fn shared_addresses(events: &[Event], kind: Kind) -> Vec<String> {
    let mut macs: BTreeMap<Ipv4Addr, BTreeSet<String>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == kind) {
        macs.entry(e.ip).or_default().insert(mac_text(&e.mac));
    }
    macs.into_iter()
        .filter(|(_, m)| m.len() > 1)
        .map(|(ip, m)| format!("{ip} to {m:?}"))
        .collect()
}

#[test]
fn acked_leases_survive_sigkill_and_no_address_goes_to_two_clients() {
    let test = "dhcp_durability::acked_leases_survive_sigkill_and_no_address_goes_to_two_clients";
    if !need_root(test) {
        return;
    }
    let started = Instant::now();
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let db = dir.path().join("leases.sqlite");
    let config = write_config(dir.path(), "bootherd.toml", &config_text(&root, &db));
    let lab = Lab::up();
    let server = start_dhcp_server(&lab.srv(), &config, &[]);

    let events = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let (order_tx, order_rx) = mpsc::channel::<Order>();
    let (done_tx, done_rx) = mpsc::channel::<Vec<Outcome>>();
    let burst = {
        let (events, acks) = (events.clone(), acks.clone());
        in_netns(&lab.cli(), move || {
            let mut burst = Burst::open(events, acks);
            while let Ok(Order::Run {
                jobs,
                patience,
                full,
            }) = order_rx.recv()
            {
                let outcomes = burst.run_with(&jobs, IN_FLIGHT, patience, full);
                if done_tx.send(outcomes).is_err() {
                    break;
                }
            }
        })
    };
    // Stops the burst thread however the test ends.
    struct StopBurst(mpsc::Sender<Order>);
    impl Drop for StopBurst {
        fn drop(&mut self) {
            let _ = self.0.send(Order::Stop);
        }
    }
    let stopper = StopBurst(order_tx.clone());

    // First burst; SIGKILL after the first ACKs, while clients are in flight.
    let first: Vec<([u8; 6], Job)> = (0..FIRST_CLIENTS).map(|i| (mac_of(i), Job::Dora)).collect();
    order_tx
        .send(Order::Run {
            jobs: first.clone(),
            patience: Duration::from_secs(30),
            full: None,
        })
        .unwrap();
    wait_for_acks(&acks, KILL_AFTER_ACKS, &server);
    let t_kill = started.elapsed();
    let log1 = crash(server);
    let before_kill: Vec<Event> = events.lock().unwrap().clone();
    let acked_before = before_kill.iter().filter(|e| e.kind == Kind::Ack).count();

    // The database as the dead server left it.
    let t_read = Instant::now();
    let leases_at_crash = read_leases(&db);
    let read_ms = t_read.elapsed().as_millis();
    assert_acks_on_disk(
        &before_kill,
        &leases_at_crash,
        "after SIGKILL",
        &format!("\n--- bootherd (killed) ---\n{log1}"),
    );

    // Restart on the same database while the burst goes on.
    let server = start_dhcp_server(&lab.srv(), &config, &[]);
    let t_restart = started.elapsed();
    let first_outcomes = done_rx
        .recv_timeout(Duration::from_secs(90))
        .expect("the first burst did not finish");
    let not_acked: Vec<String> = first
        .iter()
        .zip(&first_outcomes)
        .filter(|(_, o)| !matches!(o, Outcome::Acked(_)))
        .map(|((mac, _), o)| format!("{}: {o:?}", mac_text(mac)))
        .collect();
    assert!(
        not_acked.is_empty(),
        "{} of {FIRST_CLIENTS} clients of the first burst got no lease across the restart: {not_acked:?}\n--- bootherd (restarted) ---\n{}",
        not_acked.len(),
        server.log_text()
    );
    let t_first = started.elapsed();

    // Every client ACKed before the crash asks again for its address; new ones
    // take what is left of the pool.
    let mut before_by_mac: BTreeMap<[u8; 6], Ipv4Addr> = BTreeMap::new();
    for e in before_kill.iter().filter(|e| e.kind == Kind::Ack) {
        before_by_mac.insert(e.mac, e.ip);
    }
    let mut second: Vec<([u8; 6], Job)> = before_by_mac
        .iter()
        .map(|(mac, ip)| (*mac, Job::Reboot(*ip)))
        .collect();
    let late_from = second.len();
    second.extend((0..LATE_CLIENTS).map(|i| (mac_of(1000 + i), Job::Dora)));
    order_tx
        .send(Order::Run {
            jobs: second.clone(),
            // The clients that must be served get as long as those of the
            // first burst. The new ones the pool has no room for cannot get
            // anything: once every address is ACKed they keep asking 3 s more
            // (6 DISCOVERs), in which a server with an address to spare, or one
            // that handed an address out twice, would have offered it.
            patience: Duration::from_secs(30),
            full: Some(PoolFull {
                first: POOL_FIRST,
                last: POOL_LAST,
                grace: Duration::from_secs(3),
            }),
        })
        .unwrap();
    let second_outcomes = done_rx
        .recv_timeout(Duration::from_secs(90))
        .expect("the second burst did not finish");
    drop(stopper);
    join(burst);
    let log2 = crash(server);

    let reboots: Vec<String> = second[..late_from]
        .iter()
        .zip(&second_outcomes[..late_from])
        .filter_map(|((mac, job), o)| match (job, o) {
            (Job::Reboot(ip), Outcome::Acked(got)) if got == ip => None,
            _ => Some(format!("{} asked for {job:?}: {o:?}", mac_text(mac))),
        })
        .collect();
    assert!(
        reboots.is_empty(),
        "the restarted server did not ACK {} of {late_from} old clients their address:\n{}\n--- bootherd (second run) ---\n{log2}",
        reboots.len(),
        reboots.join("\n")
    );
    let late_acked = second_outcomes[late_from..]
        .iter()
        .filter(|o| matches!(o, Outcome::Acked(_)))
        .count();

    let all: Vec<Event> = events.lock().unwrap().clone();
    let twice_acked = shared_addresses(&all, Kind::Ack);
    assert!(
        twice_acked.is_empty(),
        "addresses ACKed to two clients: {twice_acked:?}\n--- first run ---\n{log1}\n--- second run ---\n{log2}"
    );
    let mut ips_by_mac: BTreeMap<[u8; 6], BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for e in all.iter().filter(|e| e.kind == Kind::Ack) {
        ips_by_mac.entry(e.mac).or_default().insert(e.ip);
    }
    let moved: Vec<String> = ips_by_mac
        .iter()
        .filter(|(_, ips)| ips.len() > 1)
        .map(|(mac, ips)| format!("{} got {ips:?}", mac_text(mac)))
        .collect();
    assert!(
        moved.is_empty(),
        "clients ACKed more than one address: {moved:?}"
    );

    // After the second SIGKILL: every ACK of both runs is on disk.
    let leases = read_leases(&db);
    assert_acks_on_disk(&all, &leases, "after the second SIGKILL", "");
    let bound = leases
        .iter()
        .filter(|l| l.state == "bound" && l.live)
        .count();
    assert!(
        leases
            .iter()
            .all(|l| (u32::from(POOL_FIRST)..=u32::from(POOL_LAST)).contains(&u32::from(l.ip))),
        "a lease outside the pool: {leases:?}"
    );
    // The pool is exactly used up: nothing leaked, nothing given twice.
    assert_eq!(
        FIRST_CLIENTS + late_acked,
        POOL_SIZE,
        "{late_acked} of {LATE_CLIENTS} new clients got one of the {} addresses the first burst left",
        POOL_SIZE - FIRST_CLIENTS
    );
    assert_eq!(bound, POOL_SIZE, "bound leases in the database: {bound}");
    let naks = all.iter().filter(|e| e.kind == Kind::Nak).count();
    let first_ack = all.iter().find(|e| e.kind == Kind::Ack).map(|e| e.at);
    eprintln!(
        "durability: SIGKILL at {:.2} s after {acked_before} ACKs (database read in {read_ms} ms: {} records); \
         restarted at {:.2} s; first burst of {FIRST_CLIENTS} done at {:.2} s; \
         {late_from} old clients re-ACKed; {late_acked}/{LATE_CLIENTS} new clients leased (pool {POOL_SIZE}); \
         {} ACKs, {} offers, {naks} NAKs in all; whole test {:.1} s (first ACK {:?} after start)",
        t_kill.as_secs_f64(),
        leases_at_crash.len(),
        t_restart.as_secs_f64(),
        t_first.as_secs_f64(),
        all.iter().filter(|e| e.kind == Kind::Ack).count(),
        all.iter().filter(|e| e.kind == Kind::Offer).count(),
        started.elapsed().as_secs_f64(),
        first_ack.map(|t| t.duration_since(started)),
    );
    // Last, as the least harmful breach: an address offered to a second client
    // while the first one's offer holds it (the client that asks second gets a
    // NAK and starts over).
    let twice_offered = shared_addresses(&all, Kind::Offer);
    assert!(
        twice_offered.is_empty(),
        "addresses offered to two clients at once: {twice_offered:?}\n--- first run ---\n{log1}\n--- second run ---\n{log2}"
    );
}
