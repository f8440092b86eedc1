//! The DHCP server core driven by a sequence of requests (built from a few
//! clients and addresses, or raw datagrams), probes finishing in any order,
//! and time jumping, on two small pools. After every outcome, applied as
//! the shell applies it:
//! - no change takes an address another client's offer, lease or decline
//!   still holds, and no client has two live records;
//! - every address offered, ACKed or probed lies in a pool's range or is
//!   the client's reservation;
//! - every reply re-parses, to the same bytes, as a BOOTREPLY for the
//!   request.
#![no_main]

use std::collections::HashSet;
use std::net::Ipv4Addr;

use arbitrary::Arbitrary;
use bootherd_proto::dhcp::{
    handle, probe_result, Action, Arrival, BootOptions, LeaseChange, LeaseState, Leases, Outcome,
    Ownership, Pool, Probe, Reservation, ServerConfig, Subnet,
};
use bootherd_proto::wire::dhcp::{code, DhcpPacket, MessageType, BOOTREPLY, FLAG_BROADCAST};
use libfuzzer_sys::fuzz_target;

const START: u64 = 1_700_000_000;
/// Probes the shell keeps waiting at once; a new one beyond drops the
/// oldest, as a shell may.
const MAX_PENDING: usize = 8;

fn lan(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

fn far(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, 0, last)
}

fn mac(i: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 1, i]
}

/// Clients 0..=5 are owned by MAC, 6 has a reservation inside the range, 7
/// one outside it, 8 is a stranger that owns itself by vendor class when
/// it sends `U-Boot`, 9 is a stranger.
const CLIENTS: u8 = 10;

fn config(probe_new_addresses: bool) -> ServerConfig {
    ServerConfig {
        pools: vec![
            Pool {
                subnet: Subnet::new(lan(0), 24),
                first: lan(10),
                last: lan(15),
                router: Some(lan(1)),
                dns_servers: vec![lan(1)],
                lease_secs: 600,
                domain_name: Some("lab.example".into()),
            },
            Pool {
                subnet: Subnet::new(far(0), 24),
                first: far(100),
                last: far(102),
                router: Some(far(1)),
                dns_servers: Vec::new(),
                lease_secs: 300,
                domain_name: None,
            },
        ],
        reservations: vec![
            Reservation {
                mac: mac(6),
                ip: lan(12),
                hostname: Some("inside".into()),
                boot: None,
            },
            Reservation {
                mac: mac(7),
                ip: lan(200),
                hostname: None,
                boot: None,
            },
        ],
        owned: Ownership {
            macs: (0..6).map(mac).collect(),
            vendor_classes: vec!["U-Boot*".into()],
        },
        boot: BootOptions {
            siaddr: None,
            file: Some("boot/pxelinux.0".into()),
            tftp_server_name: None,
            bootfile: Some("boot/pxelinux.0".into()),
            pxelinux_config: Some("pxelinux.cfg/default".into()),
        },
        offer_hold_secs: 60,
        decline_hold_secs: 300,
        probe_new_addresses,
    }
}

/// An address the fuzzer can name: mostly around the pools, or what the
/// client was told, as a real client would send it.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    Lan(u8),
    Far(u8),
    Any([u8; 4]),
    /// The last address offered to this client.
    Offered,
    /// The address last ACKed to this client.
    Held,
    /// The server identifier of the last reply this client got.
    Server,
}

/// What one client was told last.
#[derive(Debug, Default, Clone, Copy)]
struct Told {
    offered: Option<Ipv4Addr>,
    held: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
}

impl Addr {
    fn ip(self, told: &Told) -> Ipv4Addr {
        let or_zero = |ip: Option<Ipv4Addr>| ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        match self {
            Addr::Lan(n) => lan(n),
            Addr::Far(n) => far(n),
            Addr::Any(o) => Ipv4Addr::from(o),
            Addr::Offered => or_zero(told.offered),
            Addr::Held => or_zero(told.held),
            Addr::Server => told.server.unwrap_or(SERVER),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Request {
    client: u8,
    /// Option 53; `None` sends none (plain BOOTP).
    kind: Option<u8>,
    requested: Option<Addr>,
    server_id: Option<Addr>,
    ciaddr: Option<Addr>,
    giaddr: Option<Addr>,
    broadcast: bool,
    reply_op: bool,
    uboot: bool,
    client_id: Option<Vec<u8>>,
    hostname: Option<Vec<u8>>,
    /// Which of our addresses it arrived on.
    local: Option<Addr>,
}

/// What a well-behaved client does next, built as a real client builds it
/// from what it was told.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Move {
    Discover,
    /// REQUEST of the offered address from the server that offered it.
    Select,
    /// REQUEST naming another server: it took another offer.
    SelectOther,
    /// REQUEST by unicast from the held address.
    Renew,
    /// REQUEST by broadcast from the held address.
    Rebind,
    /// REQUEST of the held address, without `ciaddr` or server.
    InitReboot,
    Release,
    Decline,
    Inform,
}

#[derive(Arbitrary, Debug)]
enum Event {
    Client {
        client: u8,
        how: Move,
        relayed: bool,
    },
    /// Any request, field by field.
    Request(Request),
    /// A whole datagram, through the parser.
    Raw(Vec<u8>, Option<Addr>),
    ProbeDone {
        which: u8,
        in_use: bool,
    },
    /// Every probe waiting comes back.
    ProbeAll {
        in_use: bool,
    },
    Wait(u16),
    LongWait(u32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    probe_new_addresses: bool,
    events: Vec<Event>,
}

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

struct Shell {
    config: ServerConfig,
    leases: Leases,
    now: u64,
    pending: Vec<Probe>,
    told: [Told; CLIENTS as usize],
}

impl Shell {
    fn told(&self, mac: [u8; 6]) -> Told {
        self.client(mac)
            .map_or_else(Told::default, |i| self.told[i])
    }

    fn client(&self, mac: [u8; 6]) -> Option<usize> {
        (0..CLIENTS).position(|i| self::mac(i) == mac)
    }

    /// Whether `ip` may be given to `mac` at all.
    fn in_bounds(&self, mac: [u8; 6], ip: Ipv4Addr) -> bool {
        self.config.pools.iter().any(|p| p.in_range(ip))
            || self.config.reservation_of(mac).is_some_and(|r| r.ip == ip)
    }

    /// Applies the changes as the shell does, checking that none takes an
    /// address someone else still holds.
    fn apply(&mut self, changes: &[LeaseChange]) {
        for change in changes {
            if let LeaseChange::Upsert(new) = change {
                if let Some(old) = self.leases.get_by_ip(new.ip) {
                    let takes = new.mac != old.mac && old.holds_address(self.now);
                    assert!(
                        !takes,
                        "{new:?} overwrites {old:?}, still held at {}",
                        self.now
                    );
                }
                if matches!(new.state, LeaseState::Offered | LeaseState::Bound) {
                    assert!(self.in_bounds(new.mac, new.ip), "{new:?} outside the pools");
                }
            }
            self.leases.apply(change);
        }
        self.check_table();
    }

    /// No two live records for one client; the indexes agree with a scan.
    fn check_table(&self) {
        let mut clients = HashSet::new();
        let mut addresses = HashSet::new();
        for lease in self.leases.iter() {
            assert!(addresses.insert(lease.ip), "two records of {}", lease.ip);
            assert_eq!(self.leases.get_by_ip(lease.ip), Some(lease));
            if lease.is_live(self.now) {
                assert!(
                    clients.insert(lease.mac),
                    "two live records of {:02x?}",
                    lease.mac
                );
                assert_eq!(self.leases.get_by_mac(lease.mac), Some(lease));
            }
        }
    }

    fn run(&mut self, outcome: Outcome, request: &DhcpPacket) {
        self.apply(&outcome.changes);
        let mac = request.mac().unwrap_or([0; 6]);
        match outcome.action {
            Action::Reply { packet, .. } => {
                // Options over 255 bytes go out split (RFC 3396), so compare
                // wire forms: the emitted reply re-parses to the same bytes.
                let bytes = packet.emit();
                let parsed = DhcpPacket::parse(&bytes).expect("a reply parses");
                assert_eq!(parsed.emit(), bytes);
                assert_eq!(packet.op, BOOTREPLY);
                assert_eq!(packet.xid, request.xid);
                assert_eq!(packet.chaddr, request.chaddr);
                let kind = packet.message_type().expect("option 53");
                let inform = request.message_type() == Some(MessageType::Inform);
                match kind {
                    MessageType::Ack if inform => {
                        assert_eq!(packet.yiaddr, Ipv4Addr::UNSPECIFIED)
                    }
                    MessageType::Offer | MessageType::Ack => {
                        let ip = packet.yiaddr;
                        assert!(self.in_bounds(mac, ip), "{kind:?} of {ip} to {mac:02x?}");
                        let record = self.leases.get_by_ip(ip).expect("a record of the address");
                        assert_eq!(record.mac, mac, "{kind:?} of {ip}: {record:?}");
                        assert!(record.is_live(self.now), "{kind:?} of {ip}: {record:?}");
                        if kind == MessageType::Ack {
                            assert_eq!(record.state, LeaseState::Bound);
                        }
                        if let Some(i) = self.client(mac) {
                            let told = &mut self.told[i];
                            told.server = packet.server_id();
                            match kind {
                                MessageType::Ack => told.held = Some(ip),
                                _ => told.offered = Some(ip),
                            }
                        }
                    }
                    other => panic!("reply of type {other:?}"),
                }
            }
            Action::Nak { packet, .. } => {
                assert_eq!(packet.op, BOOTREPLY);
                assert_eq!(packet.message_type(), Some(MessageType::Nak));
                assert_eq!(packet.yiaddr, Ipv4Addr::UNSPECIFIED);
            }
            Action::Probe(probe) => {
                assert!(self.in_bounds(probe.mac, probe.ip), "probe of {}", probe.ip);
                assert!(self.config.probe_new_addresses, "a probe with probing off");
                if self.pending.len() == MAX_PENDING {
                    self.pending.remove(0);
                }
                self.pending.push(probe);
            }
            Action::NoReply(_) => {}
        }
    }
}

fn build(r: &Request, shell: &Shell) -> DhcpPacket {
    let client = r.client % CLIENTS;
    let told = shell.told[usize::from(client)];
    let ip = |a: Addr| a.ip(&told);
    let mut chaddr = [0; 16];
    chaddr[..6].copy_from_slice(&mac(client));
    let mut flags = 0;
    if r.broadcast {
        flags |= FLAG_BROADCAST;
    }
    let mut packet = DhcpPacket {
        op: if r.reply_op { BOOTREPLY } else { 1 },
        xid: u32::from(client) << 8 | 0x5a,
        flags,
        chaddr,
        ciaddr: r.ciaddr.map_or(Ipv4Addr::UNSPECIFIED, ip),
        giaddr: r.giaddr.map_or(Ipv4Addr::UNSPECIFIED, ip),
        ..DhcpPacket::default()
    };
    if let Some(kind) = r.kind {
        // Mostly the eight real types.
        let kind = if kind < 200 { kind % 8 + 1 } else { kind };
        packet.set_option(code::MESSAGE_TYPE, [kind]);
    }
    if let Some(a) = r.requested {
        packet.set_option(code::REQUESTED_IP, ip(a).octets());
    }
    if let Some(a) = r.server_id {
        packet.set_option(code::SERVER_ID, ip(a).octets());
    }
    if r.uboot {
        packet.set_option(code::VENDOR_CLASS, *b"U-Boot.armv8");
    }
    if let Some(id) = &r.client_id {
        packet.set_option(code::CLIENT_ID, id.clone());
    }
    if let Some(name) = &r.hostname {
        packet.set_option(code::HOST_NAME, name.clone());
    }
    packet
}

fn client_move(client: u8, how: Move, relayed: bool, shell: &Shell) -> Request {
    let r = |kind: u8| Request {
        client,
        // `build` maps 0..=199 onto types 1..=8.
        kind: Some(kind - 1),
        requested: None,
        server_id: None,
        ciaddr: None,
        giaddr: relayed.then_some(Addr::Far(1)),
        broadcast: true,
        reply_op: false,
        uboot: client % CLIENTS == 8,
        client_id: None,
        hostname: None,
        local: None,
    };
    let held = shell.told[usize::from(client % CLIENTS)].held.is_some();
    match how {
        Move::Discover => r(1),
        Move::Select => Request {
            requested: Some(Addr::Offered),
            server_id: Some(Addr::Server),
            ..r(3)
        },
        Move::SelectOther => Request {
            requested: Some(Addr::Offered),
            server_id: Some(Addr::Lan(1)),
            ..r(3)
        },
        Move::Renew | Move::Rebind => Request {
            ciaddr: Some(Addr::Held),
            broadcast: matches!(how, Move::Rebind),
            giaddr: None,
            ..r(3)
        },
        Move::InitReboot => Request {
            requested: Some(Addr::Held),
            ..r(3)
        },
        Move::Release => Request {
            ciaddr: Some(Addr::Held),
            server_id: Some(Addr::Server),
            broadcast: false,
            ..r(7)
        },
        Move::Decline => Request {
            requested: Some(if held { Addr::Held } else { Addr::Offered }),
            server_id: Some(Addr::Server),
            ..r(4)
        },
        Move::Inform => Request {
            ciaddr: Some(Addr::Held),
            ..r(8)
        },
    }
}

fn request(shell: &mut Shell, r: &Request) {
    let request = build(r, shell);
    let told = shell.told[usize::from(r.client % CLIENTS)];
    let arrival = Arrival {
        local: r.local.map_or(SERVER, |a| a.ip(&told)),
    };
    let outcome = handle(&shell.config, &shell.leases, &arrival, &request, shell.now);
    shell.run(outcome, &request);
}

fn finish_probe(shell: &mut Shell, at: usize, in_use: bool) {
    let probe = shell.pending.remove(at);
    let outcome = probe_result(&shell.config, &shell.leases, &probe, in_use, shell.now);
    shell.run(outcome, &probe.request);
}

fuzz_target!(|input: Input| {
    let mut shell = Shell {
        config: config(input.probe_new_addresses),
        leases: Leases::new(),
        now: START,
        pending: Vec::new(),
        told: [Told::default(); CLIENTS as usize],
    };
    assert_eq!(shell.config.check(), Ok(()));
    for event in input.events {
        match event {
            Event::Client {
                client,
                how,
                relayed,
            } => {
                let r = client_move(client, how, relayed, &shell);
                request(&mut shell, &r);
            }
            Event::Request(r) => request(&mut shell, &r),
            Event::Raw(bytes, local) => {
                let Ok(request) = DhcpPacket::parse(&bytes) else {
                    continue;
                };
                let told = request.mac().map_or_else(Told::default, |m| shell.told(m));
                let arrival = Arrival {
                    local: local.map_or(SERVER, |a| a.ip(&told)),
                };
                let outcome = handle(&shell.config, &shell.leases, &arrival, &request, shell.now);
                shell.run(outcome, &request);
            }
            Event::ProbeDone { which, in_use } => {
                if !shell.pending.is_empty() {
                    let at = usize::from(which) % shell.pending.len();
                    finish_probe(&mut shell, at, in_use);
                }
            }
            Event::ProbeAll { in_use } => {
                // Probes finishing may start new ones: bounded rounds.
                for _ in 0..2 * MAX_PENDING {
                    if shell.pending.is_empty() {
                        break;
                    }
                    finish_probe(&mut shell, 0, in_use);
                }
            }
            Event::Wait(secs) => {
                shell.now += u64::from(secs % 700);
                shell.check_table();
            }
            Event::LongWait(secs) => {
                shell.now += u64::from(secs);
                shell.check_table();
            }
        }
    }
});
