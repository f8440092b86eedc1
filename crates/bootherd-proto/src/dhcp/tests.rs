use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;

use super::reply::opt;
use super::*;
use crate::golden;
use crate::testrng::XorShift;
use crate::wire::dhcp::{CLIENT_PORT, FLAG_BROADCAST, SERVER_PORT};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const RELAY: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 1);
const UBOOT: &[u8] = b"U-Boot.armv8";
const START: u64 = 1_700_000_000;

const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const C: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0c];
/// Owned by MAC, sends no vendor class.
const LISTED: [u8; 6] = [0x02, 0, 0, 0, 0, 0x1d];
/// Has a reservation.
const RESERVED: [u8; 6] = [0x02, 0, 0, 0, 0, 0x4e];

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, last)
}

fn lan_pool(first: u8, last: u8) -> Pool {
    Pool {
        subnet: Subnet::new(Ipv4Addr::new(192, 168, 1, 0), 24),
        first: ip(first),
        last: ip(last),
        router: Some(ip(1)),
        dns_servers: vec![ip(1), ip(2)],
        lease_secs: 3600,
        domain_name: Some("lab.example".into()),
    }
}

fn config_with_range(first: u8, last: u8) -> ServerConfig {
    ServerConfig {
        pools: vec![
            lan_pool(first, last),
            Pool {
                subnet: Subnet::new(Ipv4Addr::new(10, 20, 0, 0), 24),
                first: Ipv4Addr::new(10, 20, 0, 100),
                last: Ipv4Addr::new(10, 20, 0, 199),
                router: Some(RELAY),
                dns_servers: Vec::new(),
                lease_secs: 7200,
                domain_name: None,
            },
        ],
        reservations: vec![Reservation {
            mac: RESERVED,
            ip: ip(50),
            hostname: Some("rock64-1".into()),
            boot: None,
        }],
        owned: Ownership {
            macs: vec![LISTED],
            vendor_classes: vec!["U-Boot*".into()],
        },
        boot: BootOptions {
            siaddr: None,
            file: Some("boot/pxelinux.0".into()),
            tftp_server_name: Some("boot.lab.example".into()),
            bootfile: Some("boot/pxelinux.0".into()),
            pxelinux_config: Some("pxelinux.cfg/rock64".into()),
        },
        offer_hold_secs: 60,
        decline_hold_secs: 600,
        probe_new_addresses: true,
    }
}

fn config() -> ServerConfig {
    config_with_range(100, 109)
}

/// A request from `mac` sending U-Boot's vendor class (except [`LISTED`]).
fn packet(mac: [u8; 6], kind: MessageType, xid: u32) -> DhcpPacket {
    let mut chaddr = [0; 16];
    chaddr[..6].copy_from_slice(&mac);
    let mut packet = DhcpPacket {
        xid,
        chaddr,
        ..DhcpPacket::default()
    };
    packet.set_option(code::MESSAGE_TYPE, [kind.code()]);
    if mac != LISTED {
        packet.set_option(code::VENDOR_CLASS, UBOOT);
    }
    packet.set_option(code::PARAMETER_REQUEST_LIST, [1, 3, 6, 12, 17]);
    packet
}

fn discover(mac: [u8; 6]) -> DhcpPacket {
    packet(mac, MessageType::Discover, xid(mac))
}

fn xid(mac: [u8; 6]) -> u32 {
    0x5c6e_9a00 | u32::from(mac[5])
}

/// REQUEST in SELECTING state: option 54 and 50, `ciaddr` zero.
fn select(mac: [u8; 6], server: Ipv4Addr, requested: Ipv4Addr) -> DhcpPacket {
    let mut request = packet(mac, MessageType::Request, xid(mac));
    request.set_option(code::SERVER_ID, server.octets());
    request.set_option(code::REQUESTED_IP, requested.octets());
    request
}

/// REQUEST in INIT-REBOOT state: option 50, no 54, `ciaddr` zero.
fn init_reboot(mac: [u8; 6], requested: Ipv4Addr) -> DhcpPacket {
    let mut request = packet(mac, MessageType::Request, 0x1111_0000 | u32::from(mac[5]));
    request.set_option(code::REQUESTED_IP, requested.octets());
    request
}

/// REQUEST in RENEWING state: `ciaddr`, no 50 or 54, unicast.
fn renew(mac: [u8; 6], ciaddr: Ipv4Addr) -> DhcpPacket {
    DhcpPacket {
        ciaddr,
        ..packet(mac, MessageType::Request, 0x2222_0000 | u32::from(mac[5]))
    }
}

/// REQUEST in REBINDING state: like RENEWING, but broadcast.
fn rebind(mac: [u8; 6], ciaddr: Ipv4Addr) -> DhcpPacket {
    DhcpPacket {
        flags: FLAG_BROADCAST,
        ..renew(mac, ciaddr)
    }
}

fn release(mac: [u8; 6], ciaddr: Ipv4Addr) -> DhcpPacket {
    let mut request = DhcpPacket {
        ciaddr,
        ..packet(mac, MessageType::Release, 0x3333_0000)
    };
    request.set_option(code::SERVER_ID, SERVER.octets());
    request
}

fn decline(mac: [u8; 6], address: Ipv4Addr) -> DhcpPacket {
    let mut request = packet(mac, MessageType::Decline, 0x4444_0000);
    request.set_option(code::SERVER_ID, SERVER.octets());
    request.set_option(code::REQUESTED_IP, address.octets());
    request
}

fn inform(mac: [u8; 6], ciaddr: Ipv4Addr) -> DhcpPacket {
    DhcpPacket {
        ciaddr,
        ..packet(mac, MessageType::Inform, 0x5555_0000)
    }
}

/// A scripted shell: applies every change, answers probes from `busy`,
/// keeps the time by hand.
struct Shell {
    config: ServerConfig,
    leases: Leases,
    arrival: Arrival,
    now: u64,
    /// Addresses where some host answers a probe.
    busy: HashSet<Ipv4Addr>,
    /// Every address probed, in order.
    probed: Vec<Ipv4Addr>,
    /// Every change applied, in order.
    log: Vec<LeaseChange>,
}

impl Shell {
    fn new(config: ServerConfig) -> Shell {
        assert_eq!(config.check(), Ok(()));
        Shell {
            config,
            leases: Leases::new(),
            arrival: Arrival { local: SERVER },
            now: START,
            busy: HashSet::new(),
            probed: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Handles `request` as the real shell would: persist (here: apply),
    /// probe, resume, until there is something other than a probe to do.
    fn send(&mut self, request: &DhcpPacket) -> Action {
        let mut outcome = handle(&self.config, &self.leases, &self.arrival, request, self.now);
        loop {
            for change in &outcome.changes {
                self.leases.apply(change);
                self.log.push(change.clone());
            }
            match outcome.action {
                Action::Probe(probe) => {
                    self.probed.push(probe.ip);
                    let in_use = self.busy.contains(&probe.ip);
                    outcome = probe_result(&self.config, &self.leases, &probe, in_use, self.now);
                }
                action => return action,
            }
        }
    }

    /// Sends and expects an OFFER or ACK.
    fn reply(&mut self, request: &DhcpPacket) -> (DhcpPacket, Destination) {
        match self.send(request) {
            Action::Reply { packet, dest } => (packet, dest),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn silent(&mut self, request: &DhcpPacket) -> Reason {
        match self.send(request) {
            Action::NoReply(reason) => reason,
            other => panic!("expected no reply, got {other:?}"),
        }
    }

    fn nak(&mut self, request: &DhcpPacket) -> (DhcpPacket, Destination, Reason) {
        match self.send(request) {
            Action::Nak {
                packet,
                dest,
                reason,
            } => (packet, dest, reason),
            other => panic!("expected a NAK, got {other:?}"),
        }
    }

    /// DISCOVER then REQUEST: the bound address.
    fn dora(&mut self, mac: [u8; 6]) -> Ipv4Addr {
        let (offer, _) = self.reply(&discover(mac));
        let (ack, _) = self.reply(&select(mac, SERVER, offer.yiaddr));
        assert_eq!(ack.message_type(), Some(MessageType::Ack));
        assert_eq!(ack.yiaddr, offer.yiaddr);
        ack.yiaddr
    }

    fn lease(&self, ip: Ipv4Addr) -> &Lease {
        self.leases.get_by_ip(ip).expect("a lease record")
    }
}

fn u32_option(packet: &DhcpPacket, code: u8) -> Option<u32> {
    let data = packet.option(code)?;
    Some(u32::from_be_bytes(data.as_ref().try_into().ok()?))
}

fn codes(packet: &DhcpPacket) -> Vec<u8> {
    packet.options.iter().map(|o| o.code).collect()
}

/// The boot and network fields every OFFER and ACK carries with [`config`].
fn assert_boot_fields(reply: &DhcpPacket) {
    assert_eq!(reply.siaddr, SERVER);
    assert_eq!(reply.file_name(), "boot/pxelinux.0");
    assert_eq!(reply.server_id(), Some(SERVER));
    assert_eq!(
        reply.option(code::SUBNET_MASK).as_deref(),
        Some(&[255, 255, 255, 0][..])
    );
    assert_eq!(
        reply.option(code::ROUTER).as_deref(),
        Some(&[192, 168, 1, 1][..])
    );
    assert_eq!(
        reply.option(code::DNS_SERVER).as_deref(),
        Some(&[192, 168, 1, 1, 192, 168, 1, 2][..])
    );
    assert_eq!(
        reply.option(opt::DOMAIN_NAME).as_deref(),
        Some(&b"lab.example"[..])
    );
    assert_eq!(
        reply.option(code::TFTP_SERVER_NAME).as_deref(),
        Some(&b"boot.lab.example"[..])
    );
    assert_eq!(
        reply.option(code::BOOTFILE_NAME).as_deref(),
        Some(&b"boot/pxelinux.0"[..])
    );
    assert_eq!(
        reply.option(opt::PXELINUX_CONFIG).as_deref(),
        Some(&b"pxelinux.cfg/rock64"[..])
    );
}

#[test]
fn full_dora() {
    let mut shell = Shell::new(config());
    let request = discover(A);

    // The first answer is a probe of the lowest address.
    let outcome = handle(
        &shell.config,
        &shell.leases,
        &shell.arrival,
        &request,
        shell.now,
    );
    assert_eq!(outcome.changes, []);
    let Action::Probe(probe) = outcome.action else {
        panic!("expected a probe, got {:?}", outcome.action);
    };
    assert_eq!((probe.ip, probe.mac), (ip(100), A));

    // Nobody answers: the offer, and an offered lease to persist first.
    let outcome = probe_result(&shell.config, &shell.leases, &probe, false, shell.now);
    let [LeaseChange::Upsert(offered)] = &outcome.changes[..] else {
        panic!("expected one upsert, got {:?}", outcome.changes);
    };
    assert_eq!(offered.ip, ip(100));
    assert_eq!(offered.mac, A);
    assert_eq!(offered.state, LeaseState::Offered);
    assert_eq!(offered.ends, START + 60);
    let Action::Reply {
        packet: offer,
        dest,
    } = &outcome.action
    else {
        panic!("expected an offer, got {:?}", outcome.action);
    };
    assert_eq!(*dest, Destination::Broadcast);
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.op, crate::wire::dhcp::BOOTREPLY);
    assert_eq!(offer.xid, request.xid);
    assert_eq!(offer.chaddr, request.chaddr);
    assert_eq!(offer.yiaddr, ip(100));
    assert_eq!(offer.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(u32_option(offer, code::LEASE_TIME), Some(3600));
    assert_eq!(u32_option(offer, opt::RENEWAL_TIME), Some(1800));
    assert_eq!(u32_option(offer, opt::REBINDING_TIME), Some(3150));
    assert_boot_fields(offer);
    // No reservation, so no host name.
    assert_eq!(offer.option(code::HOST_NAME), None);
    assert_eq!(
        codes(offer),
        [53, 54, 51, 58, 59, 1, 3, 6, 15, 66, 67, 209],
        "option order"
    );
    for change in &outcome.changes {
        shell.leases.apply(change);
    }

    // REQUEST for it: ACK, bound for the lease time.
    shell.now += 2;
    let (ack, dest) = shell.reply(&select(A, SERVER, ip(100)));
    assert_eq!(dest, Destination::Broadcast);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, ip(100));
    assert_eq!(u32_option(&ack, code::LEASE_TIME), Some(3600));
    assert_boot_fields(&ack);
    let lease = shell.lease(ip(100));
    assert_eq!(lease.state, LeaseState::Bound);
    assert_eq!((lease.starts, lease.ends), (START + 2, START + 2 + 3600));
    assert_eq!(shell.leases.get_by_mac(A), Some(lease));

    // The REQUEST needed no probe.
    assert!(shell.probed.is_empty());
}

/// U-Boot's own DISCOVER (`golden::uboot_discover`) is owned by `U-Boot*`
/// and gets an address and its boot file.
#[test]
fn uboot_discover_gets_an_address_and_boot_file() {
    let mut shell = Shell::new(config());
    let request = DhcpPacket::parse(&golden::uboot_discover(UBOOT, 22)).unwrap();
    assert!(owns(&shell.config, &request));
    let (offer, _) = shell.reply(&request);
    assert_eq!(offer.yiaddr, ip(100));
    assert_boot_fields(&offer);
    assert_eq!(shell.lease(ip(100)).mac, golden::ROCK64_MAC);
}

#[test]
fn retransmitted_discover_gets_the_same_offer_and_no_second_address() {
    let mut shell = Shell::new(config());
    let (first, _) = shell.reply(&discover(A));
    shell.now += 4;
    let (second, _) = shell.reply(&discover(A));
    assert_eq!(second, first);
    assert_eq!(shell.leases.len(), 1);
    // Probed once; the repeat finds its live offer.
    assert_eq!(shell.probed, [ip(100)]);
    // The offer hold restarts from the repeat.
    assert_eq!(shell.lease(ip(100)).ends, START + 4 + 60);

    // A retransmitted REQUEST is ACKed again, still one lease.
    let (ack1, _) = shell.reply(&select(A, SERVER, first.yiaddr));
    let (ack2, _) = shell.reply(&select(A, SERVER, first.yiaddr));
    assert_eq!(ack1, ack2);
    assert_eq!(shell.leases.len(), 1);

    // A DISCOVER while bound offers the bound address and keeps the lease.
    shell.now += 100;
    let (again, _) = shell.reply(&discover(A));
    assert_eq!(again.yiaddr, ip(100));
    assert_eq!(shell.lease(ip(100)).state, LeaseState::Bound);
    assert_eq!(shell.lease(ip(100)).ends, START + 4 + 3600);
}

#[test]
fn request_for_another_servers_offer_releases_ours() {
    let mut shell = Shell::new(config());
    let (offer, _) = shell.reply(&discover(A));
    shell.now += 1;
    let reason = shell.silent(&select(A, OTHER_SERVER, Ipv4Addr::new(192, 168, 1, 77)));
    assert_eq!(
        reason,
        Reason::OfferWithdrawn {
            ip: offer.yiaddr,
            server: OTHER_SERVER
        }
    );
    let lease = shell.lease(offer.yiaddr);
    assert_eq!(lease.state, LeaseState::Released);
    assert!(!lease.holds_address(shell.now));

    // Nothing of ours left: the next one is only logged.
    let reason = shell.silent(&select(A, OTHER_SERVER, Ipv4Addr::new(192, 168, 1, 77)));
    assert_eq!(
        reason,
        Reason::OtherServer {
            server: OTHER_SERVER
        }
    );

    // The client comes back later: its old address first.
    let (offer, _) = shell.reply(&discover(A));
    assert_eq!(offer.yiaddr, ip(100));
}

#[test]
fn renew_extends_the_lease_by_unicast() {
    let mut shell = Shell::new(config());
    let address = shell.dora(A);
    shell.now += 1800;
    let (ack, dest) = shell.reply(&renew(A, address));
    assert_eq!(
        dest,
        Destination::Unicast(SocketAddrV4::new(address, CLIENT_PORT))
    );
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!((ack.yiaddr, ack.ciaddr), (address, address));
    assert_boot_fields(&ack);
    assert_eq!(shell.lease(address).ends, shell.now + 3600);
}

#[test]
fn rebind_extends_the_lease() {
    let mut shell = Shell::new(config());
    let address = shell.dora(A);
    shell.now += 3300; // past T2 (3150 s)
    let (ack, dest) = shell.reply(&rebind(A, address));
    // ciaddr set: unicast, whatever the broadcast flag says (RFC 2131 4.1).
    assert_eq!(
        dest,
        Destination::Unicast(SocketAddrV4::new(address, CLIENT_PORT))
    );
    assert_eq!(ack.yiaddr, address);
    assert_eq!(shell.lease(address).ends, shell.now + 3600);
}

#[test]
fn renew_of_an_address_that_is_not_the_clients_is_naked() {
    let mut shell = Shell::new(config());
    let a = shell.dora(A);
    shell.dora(B);
    let (nak, dest, reason) = shell.nak(&renew(B, a));
    assert_eq!(reason, Reason::NotYourAddress { ip: a });
    assert_eq!(dest, Destination::Broadcast);
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    let zero = Ipv4Addr::UNSPECIFIED;
    assert_eq!((nak.yiaddr, nak.ciaddr, nak.siaddr), (zero, zero, zero));
    // The NAK does not touch A's lease.
    assert_eq!(shell.lease(a).mac, A);
}

#[test]
fn release_frees_the_address() {
    let mut shell = Shell::new(config_with_range(100, 100));
    let address = shell.dora(A);
    assert_eq!(
        shell.silent(&discover(B)),
        Reason::PoolExhausted {
            subnet: lan_pool(100, 100).subnet
        }
    );
    shell.now += 10;
    assert_eq!(
        shell.silent(&release(A, address)),
        Reason::Released { ip: address }
    );
    let lease = shell.lease(address);
    assert_eq!((lease.state, lease.ends), (LeaseState::Released, shell.now));
    // Released twice: nothing more to do.
    assert_eq!(
        shell.silent(&release(A, address)),
        Reason::NoLease { ip: address }
    );
    // Someone else's release does nothing either.
    shell.dora(C);
    assert_eq!(
        shell.silent(&release(A, address)),
        Reason::NoLease { ip: address }
    );
    assert_eq!(shell.lease(address).mac, C);
}

#[test]
fn decline_holds_the_address_out_then_reuses_it() {
    let mut shell = Shell::new(config_with_range(100, 101));
    let declined = shell.dora(A);
    assert_eq!(declined, ip(100));
    shell.now += 5;
    assert_eq!(
        shell.silent(&decline(A, declined)),
        Reason::Declined { ip: declined }
    );
    assert!(Reason::Declined { ip: declined }.needs_attention());
    let lease = shell.lease(declined);
    assert_eq!(lease.state, LeaseState::Declined);
    assert_eq!(lease.ends, shell.now + 600);
    assert_eq!(shell.leases.get_by_mac(A), None);

    // The decliner gets the other address; nobody gets the declined one.
    assert_eq!(shell.dora(A), ip(101));
    assert!(matches!(
        shell.silent(&discover(B)),
        Reason::PoolExhausted { .. }
    ));
    // It cannot be requested either.
    let (_, _, reason) = shell.nak(&init_reboot(B, declined));
    assert_eq!(reason, Reason::NotYourAddress { ip: declined });

    // After the hold it is back in the pool.
    shell.now += 600;
    let (offer, _) = shell.reply(&discover(B));
    assert_eq!(offer.yiaddr, declined);
}

#[test]
fn decline_of_someone_elses_address_is_ignored() {
    let mut shell = Shell::new(config());
    let a = shell.dora(A);
    assert_eq!(shell.silent(&decline(B, a)), Reason::NoLease { ip: a });
    assert_eq!(shell.lease(a).state, LeaseState::Bound);
    let mut elsewhere = decline(A, a);
    elsewhere.set_option(code::SERVER_ID, OTHER_SERVER.octets());
    assert_eq!(
        shell.silent(&elsewhere),
        Reason::OtherServer {
            server: OTHER_SERVER
        }
    );
}

#[test]
fn inform_gets_an_ack_without_address_or_lease_time() {
    let mut shell = Shell::new(config());
    let ciaddr = ip(77);
    let (ack, dest) = shell.reply(&inform(A, ciaddr));
    assert_eq!(
        dest,
        Destination::Unicast(SocketAddrV4::new(ciaddr, CLIENT_PORT))
    );
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.ciaddr, ciaddr);
    for absent in [code::LEASE_TIME, opt::RENEWAL_TIME, opt::REBINDING_TIME] {
        assert_eq!(ack.option(absent), None, "option {absent}");
    }
    assert_boot_fields(&ack);
    assert!(shell.leases.is_empty());
    // From another network: silence.
    assert!(matches!(
        shell.silent(&inform(A, Ipv4Addr::new(172, 16, 0, 5))),
        Reason::WrongSubnet { .. }
    ));
}

#[test]
fn expired_leases_and_offers_return_to_the_pool() {
    let mut shell = Shell::new(config_with_range(100, 100));
    let address = shell.dora(A);
    shell.now += 3599;
    assert!(matches!(
        shell.silent(&discover(B)),
        Reason::PoolExhausted { .. }
    ));
    shell.now += 1;
    let (offer, _) = shell.reply(&discover(B));
    assert_eq!(offer.yiaddr, address);
    // B never requests; its offer expires after the hold.
    shell.now += 59;
    assert!(matches!(
        shell.silent(&discover(C)),
        Reason::PoolExhausted { .. }
    ));
    shell.now += 1;
    let (offer, _) = shell.reply(&discover(C));
    assert_eq!(offer.yiaddr, address);
    // A's expired lease is now C's offer: A is refused it.
    let (_, _, reason) = shell.nak(&renew(A, address));
    assert_eq!(reason, Reason::NotYourAddress { ip: address });
}

#[test]
fn an_expired_offer_is_still_acked_if_nobody_took_it() {
    let mut shell = Shell::new(config());
    let (offer, _) = shell.reply(&discover(A));
    shell.now += 120;
    let (ack, _) = shell.reply(&select(A, SERVER, offer.yiaddr));
    assert_eq!(ack.yiaddr, offer.yiaddr);
}

#[test]
fn pool_exhaustion_ignores_the_third_client() {
    let mut shell = Shell::new(config_with_range(100, 101));
    assert_eq!(shell.dora(A), ip(100));
    assert_eq!(shell.dora(B), ip(101));
    let reason = shell.silent(&discover(C));
    assert_eq!(
        reason,
        Reason::PoolExhausted {
            subnet: Subnet::new(Ipv4Addr::new(192, 168, 1, 0), 24)
        }
    );
    assert!(reason.needs_attention());
    assert_eq!(reason.to_string(), "pool 192.168.1.0/24 exhausted");
    assert_eq!(shell.leases.len(), 2);
}

#[test]
fn a_reservation_always_gets_its_address_and_nobody_else_does() {
    // The reservation (.50) inside a range of .48 to .52.
    let mut shell = Shell::new(config_with_range(48, 52));
    shell.busy.insert(ip(50)); // even a probe would not matter: none is made
    let others: Vec<Ipv4Addr> = [A, B, C, LISTED].iter().map(|&m| shell.dora(m)).collect();
    assert_eq!(others, [ip(48), ip(49), ip(51), ip(52)]);
    assert!(matches!(
        shell.silent(&discover([0x02, 0, 0, 0, 0, 0x99])),
        Reason::PoolExhausted { .. }
    ));
    let (_, _, reason) = shell.nak(&init_reboot(A, ip(50)));
    assert_eq!(reason, Reason::ReservedForOther { ip: ip(50) });

    let (offer, _) = shell.reply(&discover(RESERVED));
    assert_eq!(offer.yiaddr, ip(50));
    assert_eq!(
        offer.option(code::HOST_NAME).as_deref(),
        Some(&b"rock64-1"[..])
    );
    assert!(!shell.probed.contains(&ip(50)));
    let (ack, _) = shell.reply(&select(RESERVED, SERVER, ip(50)));
    assert_eq!(ack.yiaddr, ip(50));
    assert_eq!(
        ack.option(code::HOST_NAME).as_deref(),
        Some(&b"rock64-1"[..])
    );
    assert_eq!(shell.lease(ip(50)).hostname.as_deref(), Some("rock64-1"));

    // INIT-REBOOT straight to the reserved address, no lease record: ACK.
    let mut fresh = Shell::new(config());
    let (ack, _) = fresh.reply(&init_reboot(RESERVED, ip(50)));
    assert_eq!(ack.yiaddr, ip(50));
}

#[test]
fn a_client_whose_reservation_moved_is_naked_then_offered_the_new_address() {
    let mut shell = Shell::new(config());
    assert_eq!(shell.dora(RESERVED), ip(50));
    shell.config.reservations[0].ip = ip(60);
    shell.now += 100;

    let (nak, _, reason) = shell.nak(&renew(RESERVED, ip(50)));
    assert_eq!(
        reason,
        Reason::ReservationMoved {
            ip: ip(50),
            reserved: ip(60)
        }
    );
    assert_eq!(
        nak.option(opt::MESSAGE).as_deref(),
        Some(&b"192.168.1.50 refused: the client's reservation is 192.168.1.60"[..])
    );
    assert_eq!(shell.leases.get_by_ip(ip(50)), None);

    let (offer, _) = shell.reply(&discover(RESERVED));
    assert_eq!(offer.yiaddr, ip(60));
    let (ack, _) = shell.reply(&select(RESERVED, SERVER, ip(60)));
    assert_eq!(ack.yiaddr, ip(60));

    // Moved again while bound: the DISCOVER moves it and drops the old record.
    shell.config.reservations[0].ip = ip(61);
    let (offer, _) = shell.reply(&discover(RESERVED));
    assert_eq!(offer.yiaddr, ip(61));
    assert_eq!(shell.leases.get_by_ip(ip(60)), None);
    assert_eq!(shell.leases.len(), 1);
    // And an INIT-REBOOT for an old address is NAKed.
    let (_, _, reason) = shell.nak(&init_reboot(RESERVED, ip(60)));
    assert!(matches!(reason, Reason::ReservationMoved { .. }));
}

#[test]
fn a_reservation_held_by_an_older_lease_waits_for_it() {
    let mut shell = Shell::new(config_with_range(50, 50));
    shell.config.reservations.clear();
    assert_eq!(shell.dora(A), ip(50));
    shell.config.reservations.push(Reservation {
        mac: RESERVED,
        ip: ip(50),
        hostname: None,
        boot: None,
    });
    let reason = shell.silent(&discover(RESERVED));
    assert_eq!(
        reason,
        Reason::ReservedAddressInUse {
            ip: ip(50),
            holder: A
        }
    );
    assert!(reason.needs_attention());
    // The holder's renewal is refused, which frees the address.
    let (_, _, reason) = shell.nak(&renew(A, ip(50)));
    assert_eq!(reason, Reason::ReservedForOther { ip: ip(50) });
    let (offer, _) = shell.reply(&discover(RESERVED));
    assert_eq!(offer.yiaddr, ip(50));
}

#[test]
fn clients_not_owned_get_nothing() {
    let mut shell = Shell::new(config());
    for (name, bytes) in [
        ("linux", golden::linux_discover()),
        ("windows", golden::windows_discover()),
        ("pi3", golden::pi3_rom_discover()),
        ("uefi", golden::ovmf_discover()),
    ] {
        let request = DhcpPacket::parse(&bytes).unwrap();
        assert!(!owns(&shell.config, &request), "{name}");
        assert_eq!(shell.silent(&request), Reason::NotOwned, "{name}");
    }
    let mut stranger = discover([0x02, 0, 0, 0, 0, 0x77]);
    stranger.set_option(code::VENDOR_CLASS, b"U-Boo".to_vec());
    assert_eq!(shell.silent(&stranger), Reason::NotOwned);
    stranger.set_option(
        code::VENDOR_CLASS,
        b"PXEClient:Arch:00000:UNDI:002001".to_vec(),
    );
    assert_eq!(shell.silent(&stranger), Reason::NotOwned);
    // A REQUEST or INFORM from them is not ours either.
    stranger.remove_option(code::VENDOR_CLASS);
    let mut request = init_reboot([0x02, 0, 0, 0, 0, 0x77], ip(100));
    request.remove_option(code::VENDOR_CLASS);
    assert_eq!(shell.silent(&request), Reason::NotOwned);
    assert!(shell.leases.is_empty());
    assert!(shell.probed.is_empty());
}

#[test]
fn ownership_by_mac_reservation_and_vendor_class() {
    let config = config();
    let mut listed = discover(LISTED);
    assert_eq!(listed.vendor_class(), None);
    assert!(owns(&config, &listed));
    listed.chaddr[5] = 0x1e;
    assert!(!owns(&config, &listed));
    let mut reserved = discover(RESERVED);
    reserved.remove_option(code::VENDOR_CLASS);
    assert!(owns(&config, &reserved));
    for class in ["U-Boot.armv8", "U-Boot.armv7", "U-Boot.arm", "U-Boot"] {
        let mut request = discover([0x02, 0, 0, 0, 0, 0x77]);
        request.set_option(code::VENDOR_CLASS, class.as_bytes());
        assert!(owns(&config, &request), "{class}");
    }
}

#[test]
fn glob_patterns() {
    assert!(glob_match("U-Boot*", "U-Boot.armv8"));
    assert!(glob_match("U-Boot*", "U-Boot"));
    assert!(glob_match("U-Boot.armv8", "U-Boot.armv8"));
    assert!(!glob_match("U-Boot.armv8", "U-Boot.armv7"));
    assert!(!glob_match("U-Boot*", "u-boot.armv8"), "case-sensitive");
    assert!(!glob_match("U-Boot*", "xU-Boot"));
    assert!(glob_match("*armv8", "U-Boot.armv8"));
    assert!(glob_match("U-*.arm*", "U-Boot.armv8"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "aXbYbZc"));
    assert!(!glob_match("a*b*c", "aXbYbZ"));
    assert!(glob_match("**a", "a"));
    assert!(!glob_match("", "a"));
}

#[test]
fn relayed_discover_uses_the_relays_pool_and_answers_the_relay() {
    let mut shell = Shell::new(config());
    let mut request = discover(A);
    request.giaddr = RELAY;
    request.hops = 1;
    let (offer, dest) = shell.reply(&request);
    assert_eq!(
        dest,
        Destination::Relay(SocketAddrV4::new(RELAY, SERVER_PORT))
    );
    assert_eq!(offer.yiaddr, Ipv4Addr::new(10, 20, 0, 100));
    assert_eq!(offer.giaddr, RELAY);
    assert_eq!(offer.server_id(), Some(SERVER));
    assert_eq!(
        offer.option(code::ROUTER).as_deref(),
        Some(&RELAY.octets()[..])
    );
    assert_eq!(u32_option(&offer, code::LEASE_TIME), Some(7200));
    assert_eq!(offer.option(code::DNS_SERVER), None);

    let mut request = select(A, SERVER, offer.yiaddr);
    request.giaddr = RELAY;
    let (ack, dest) = shell.reply(&request);
    assert_eq!(
        dest,
        Destination::Relay(SocketAddrV4::new(RELAY, SERVER_PORT))
    );
    assert_eq!(ack.yiaddr, offer.yiaddr);

    // A relayed NAK goes to the relay, broadcast bit set.
    let mut request = init_reboot(B, Ipv4Addr::new(10, 20, 0, 100));
    request.giaddr = RELAY;
    let (nak, dest, _) = shell.nak(&request);
    assert_eq!(
        dest,
        Destination::Relay(SocketAddrV4::new(RELAY, SERVER_PORT))
    );
    assert_eq!(nak.flags & FLAG_BROADCAST, FLAG_BROADCAST);

    // A relay on a subnet without a pool: nothing.
    let mut request = discover(A);
    request.giaddr = Ipv4Addr::new(172, 16, 0, 1);
    let reason = shell.silent(&request);
    assert_eq!(
        reason,
        Reason::NoPool {
            via: Ipv4Addr::new(172, 16, 0, 1)
        }
    );
}

#[test]
fn siaddr_can_name_another_boot_server() {
    let mut config = config();
    config.boot.siaddr = Some(ip(20));
    config.boot.tftp_server_name = None;
    config.boot.pxelinux_config = None;
    let mut shell = Shell::new(config);
    let (offer, _) = shell.reply(&discover(A));
    assert_eq!(offer.siaddr, ip(20));
    assert_eq!(offer.server_id(), Some(SERVER));
    assert_eq!(offer.option(code::TFTP_SERVER_NAME), None);
    assert_eq!(offer.option(opt::PXELINUX_CONFIG), None);
    let (ack, _) = shell.reply(&select(A, SERVER, offer.yiaddr));
    assert_eq!(ack.siaddr, ip(20));
}

#[test]
fn a_reservation_with_its_own_boot_file_gets_it_and_http_boot_gets_a_url() {
    let shim = "m/02-00-00-00-00-4e/bootnetx64.efi";
    let mut with_http = config();
    with_http.reservations[0].boot = Some(ReservedBoot {
        tftp_file: shim.into(),
        http: Some((8080, shim.into())),
    });
    let mut shell = Shell::new(with_http.clone());
    // A PXE client (here any vendor class but HTTPClient): the TFTP path, in the
    // file field and option 67, no option 209 and no option 60.
    let (offer, _) = shell.reply(&discover(RESERVED));
    assert_eq!(offer.yiaddr, ip(50));
    assert_eq!(offer.file_name(), shim);
    assert_eq!(
        offer.option(code::BOOTFILE_NAME).as_deref(),
        Some(shim.as_bytes())
    );
    assert_eq!(offer.option(opt::PXELINUX_CONFIG), None);
    assert_eq!(offer.option(code::VENDOR_CLASS), None);
    assert_eq!(offer.siaddr, SERVER);
    let (ack, _) = shell.reply(&select(RESERVED, SERVER, ip(50)));
    assert_eq!(ack.file_name(), shim);
    // Others keep the shared boot file.
    let (other, _) = shell.reply(&discover(A));
    assert_boot_fields(&other);

    // A UEFI HTTP boot client: the URL on the server identifier, and option 60.
    let http_discover = |kind, xid| {
        let mut p = packet(RESERVED, kind, xid);
        p.set_option(code::VENDOR_CLASS, *b"HTTPClient:Arch:00016:UNDI:003001");
        p
    };
    let mut shell = Shell::new(with_http);
    let (offer, _) = shell.reply(&http_discover(MessageType::Discover, 7));
    let url = format!("http://{SERVER}:8080/{shim}");
    assert_eq!(offer.file_name(), url);
    assert_eq!(
        offer.option(code::BOOTFILE_NAME).as_deref(),
        Some(url.as_bytes())
    );
    assert_eq!(
        offer.option(code::VENDOR_CLASS).as_deref(),
        Some(&b"HTTPClient"[..])
    );
    let mut request = http_discover(MessageType::Request, 7);
    request.set_option(code::SERVER_ID, SERVER.octets());
    request.set_option(code::REQUESTED_IP, ip(50).octets());
    let (ack, _) = shell.reply(&request);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.file_name(), url);

    // Port 80 is left out of the URL; without an HTTP path an HTTP boot
    // client gets the TFTP path and no option 60.
    let mut port80 = config();
    port80.reservations[0].boot = Some(ReservedBoot {
        tftp_file: shim.into(),
        http: Some((80, shim.into())),
    });
    let (offer, _) = Shell::new(port80).reply(&http_discover(MessageType::Discover, 8));
    assert_eq!(offer.file_name(), format!("http://{SERVER}/{shim}"));
    let mut tftp_only = config();
    tftp_only.reservations[0].boot = Some(ReservedBoot {
        tftp_file: shim.into(),
        http: None,
    });
    let (offer, _) = Shell::new(tftp_only.clone()).reply(&http_discover(MessageType::Discover, 9));
    assert_eq!(offer.file_name(), shim);
    assert_eq!(offer.option(code::VENDOR_CLASS), None);

    // A boot file that does not fit the file field is refused at load.
    tftp_only.reservations[0].boot = Some(ReservedBoot {
        tftp_file: "x".repeat(200),
        http: None,
    });
    assert!(matches!(
        tftp_only.check_fields(),
        Err((Field::ReservationBoot(0), ConfigError::BadFile(_)))
    ));
}

#[test]
fn an_address_in_use_is_declined_and_the_next_is_probed() {
    let shell = Shell::new(config());
    let outcome = handle(
        &shell.config,
        &shell.leases,
        &shell.arrival,
        &discover(A),
        shell.now,
    );
    let Action::Probe(probe) = outcome.action else {
        panic!("expected a probe");
    };
    assert_eq!(probe.ip, ip(100));
    let outcome = probe_result(&shell.config, &shell.leases, &probe, true, shell.now);
    assert_eq!(
        outcome.changes,
        [LeaseChange::Upsert(Lease {
            ip: ip(100),
            mac: [0; 6],
            client_id: None,
            hostname: None,
            state: LeaseState::Declined,
            starts: START,
            ends: START + 600,
        })]
    );
    let Action::Probe(next) = &outcome.action else {
        panic!("expected the next probe, got {:?}", outcome.action);
    };
    assert_eq!(next.ip, ip(101));

    // Through the scripted shell: two busy addresses, the third is offered.
    let mut shell = Shell::new(config_with_range(100, 102));
    shell.busy.extend([ip(100), ip(101)]);
    let (offer, _) = shell.reply(&discover(A));
    assert_eq!(offer.yiaddr, ip(102));
    assert_eq!(shell.probed, [ip(100), ip(101), ip(102)]);
    assert_eq!(shell.lease(ip(100)).state, LeaseState::Declined);
    assert_eq!(shell.lease(ip(101)).state, LeaseState::Declined);
    shell.reply(&select(A, SERVER, ip(102)));
    // After the hold, the conflicts are candidates again.
    shell.busy.clear();
    shell.now += 600;
    let (offer, _) = shell.reply(&discover(B));
    assert_eq!(offer.yiaddr, ip(100));
}

#[test]
fn a_host_on_the_clients_previous_address_is_a_conflict_too() {
    let mut shell = Shell::new(config());
    let old = shell.dora(A);
    shell.silent(&release(A, old));
    shell.busy.insert(old);
    let (offer, _) = shell.reply(&discover(A));
    assert_eq!(offer.yiaddr, ip(101));
    // Probed once for the first DORA, then the old address, then the next.
    assert_eq!(shell.probed, [old, old, ip(101)]);
    // The conflict replaced A's old record and stays for the hold.
    assert!(shell.lease(old).is_conflict());
    assert_eq!(shell.leases.get_by_mac(A).map(|l| l.ip), Some(ip(101)));
}

#[test]
fn a_probe_result_resumes_on_the_table_as_it_is_then() {
    let mut shell = Shell::new(config());
    let probe_for = |shell: &Shell, mac| match handle(
        &shell.config,
        &shell.leases,
        &shell.arrival,
        &discover(mac),
        shell.now,
    )
    .action
    {
        Action::Probe(probe) => probe,
        other => panic!("expected a probe, got {other:?}"),
    };
    // A and B are both probed for .100; A's answer comes first.
    let probe_a = probe_for(&shell, A);
    let probe_b = probe_for(&shell, B);
    assert_eq!((probe_a.ip, probe_b.ip), (ip(100), ip(100)));
    let outcome = probe_result(&shell.config, &shell.leases, &probe_a, false, shell.now);
    for change in &outcome.changes {
        shell.leases.apply(change);
    }
    // B's clear probe of .100 no longer gives it .100: it probes .101.
    let outcome = probe_result(&shell.config, &shell.leases, &probe_b, false, shell.now);
    assert_eq!(outcome.changes, []);
    let Action::Probe(next) = outcome.action else {
        panic!("expected a probe");
    };
    assert_eq!(next.ip, ip(101));
    // An "in use" answer for .100, now A's offer, is stale: no conflict
    // recorded over A's offer.
    let outcome = probe_result(&shell.config, &shell.leases, &probe_b, true, shell.now);
    assert_eq!(outcome.changes, []);
    assert_eq!(shell.lease(ip(100)).mac, A);
    // And for A itself, a late duplicate "in use" re-offers its address.
    let outcome = probe_result(&shell.config, &shell.leases, &probe_a, true, shell.now);
    let Action::Reply { packet, .. } = outcome.action else {
        panic!("expected the offer again");
    };
    assert_eq!(packet.yiaddr, ip(100));
}

#[test]
fn a_client_prefers_its_previous_then_requested_address() {
    let mut shell = Shell::new(config());
    let a = shell.dora(A);
    shell.dora(B);
    shell.silent(&release(A, a));
    shell.now += 10;
    // A's old address first, even though it asks for another.
    let mut request = discover(A);
    request.set_option(code::REQUESTED_IP, ip(105).octets());
    let (offer, _) = shell.reply(&request);
    assert_eq!(offer.yiaddr, a);
    // C asks for .105: free, so it gets it.
    let mut request = discover(C);
    request.set_option(code::REQUESTED_IP, ip(105).octets());
    let (offer, _) = shell.reply(&request);
    assert_eq!(offer.yiaddr, ip(105));
    // A request for a taken or out-of-range address falls back to the lowest.
    let mut request = discover(LISTED);
    request.set_option(code::REQUESTED_IP, ip(200).octets());
    let (offer, _) = shell.reply(&request);
    assert_eq!(offer.yiaddr, ip(102));
}

#[test]
fn unused_addresses_go_before_those_other_clients_had() {
    let mut shell = Shell::new(config_with_range(100, 102));
    assert_eq!(shell.dora(A), ip(100));
    shell.silent(&release(A, ip(100)));
    // .100 was A's: B and C get the never-used ones first.
    assert_eq!(shell.dora(B), ip(101));
    assert_eq!(shell.dora(C), ip(102));
    // Then the pool reuses A's.
    assert_eq!(shell.dora(LISTED), ip(100));
}

#[test]
fn selecting_request_for_an_offer_no_longer_ours_is_naked() {
    let mut shell = Shell::new(config_with_range(100, 100));
    let (offer, _) = shell.reply(&discover(A));
    shell.now += 61;
    let (offer_b, _) = shell.reply(&discover(B));
    assert_eq!(offer_b.yiaddr, offer.yiaddr);
    let (nak, dest, reason) = shell.nak(&select(A, SERVER, offer.yiaddr));
    assert_eq!(reason, Reason::NotYourAddress { ip: offer.yiaddr });
    assert_eq!(dest, Destination::Broadcast);
    assert_eq!(nak.server_id(), Some(SERVER));
    assert_eq!(nak.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(nak.siaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(nak.file_name(), "");
    assert_eq!(codes(&nak), [53, 54, 56]);
    assert_eq!(shell.lease(offer.yiaddr).mac, B);
}

#[test]
fn init_reboot_acks_the_clients_own_naks_ours_ignores_the_rest() {
    let mut shell = Shell::new(config());
    let a = shell.dora(A);
    shell.now += 4000; // expired, but nobody took it
    let (ack, dest) = shell.reply(&init_reboot(A, a));
    assert_eq!(ack.yiaddr, a);
    assert_eq!(dest, Destination::Broadcast);
    assert_eq!(shell.lease(a).ends, shell.now + 3600);

    // In our range but not theirs: NAK.
    let (_, _, reason) = shell.nak(&init_reboot(B, a));
    assert_eq!(reason, Reason::NotYourAddress { ip: a });
    let (_, _, reason) = shell.nak(&init_reboot(B, ip(105)));
    assert_eq!(reason, Reason::NotYourAddress { ip: ip(105) });
    // A client we know asking for an address outside our range: NAK.
    let (_, _, reason) = shell.nak(&init_reboot(A, ip(77)));
    assert_eq!(reason, Reason::NotYourAddress { ip: ip(77) });
    assert_eq!(shell.leases.get_by_mac(A).map(|l| l.ip), Some(a));
    // A client we do not know, outside our range (the LAN server's): silent.
    assert_eq!(
        shell.silent(&init_reboot(B, ip(77))),
        Reason::UnknownClient { ip: ip(77) }
    );
    // Another subnet: silent.
    let elsewhere = Ipv4Addr::new(172, 16, 0, 5);
    assert_eq!(
        shell.silent(&init_reboot(A, elsewhere)),
        Reason::WrongSubnet {
            ip: elsewhere,
            subnet: lan_pool(100, 109).subnet
        }
    );
    // No address at all.
    let mut request = init_reboot(A, a);
    request.remove_option(code::REQUESTED_IP);
    assert!(matches!(shell.silent(&request), Reason::Malformed(_)));
}

#[test]
fn nak_drops_the_clients_record_of_the_refused_address() {
    let mut shell = Shell::new(config_with_range(100, 104));
    let a = shell.dora(A);
    // The range shrinks below A's address.
    shell.config.pools[0].first = ip(101);
    let (_, _, reason) = shell.nak(&renew(A, a));
    assert_eq!(reason, Reason::NotInRange { ip: a });
    assert_eq!(shell.leases.get_by_ip(a), None);
}

#[test]
fn requests_that_are_not_for_a_server() {
    let mut shell = Shell::new(config());
    let mut reply = discover(A);
    reply.op = crate::wire::dhcp::BOOTREPLY;
    assert_eq!(shell.silent(&reply), Reason::NotRequest);
    let mut bootp = discover(A);
    bootp.remove_option(code::MESSAGE_TYPE);
    assert_eq!(shell.silent(&bootp), Reason::Bootp);
    let offer = packet(A, MessageType::Offer, 1);
    assert_eq!(
        shell.silent(&offer),
        Reason::UnexpectedType(MessageType::Offer)
    );
    let mut token_ring = discover(A);
    token_ring.htype = 6;
    assert!(matches!(shell.silent(&token_ring), Reason::Malformed(_)));
    assert!(shell.leases.is_empty());
}

#[test]
fn client_identifier_is_recorded_and_echoed() {
    let mut shell = Shell::new(config());
    let mut request = discover(A);
    request.set_option(code::CLIENT_ID, [1, 2, 0, 0, 0, 0, 0x0a]);
    request.set_option(code::HOST_NAME, b"board".to_vec());
    let (offer, _) = shell.reply(&request);
    assert_eq!(
        offer.option(code::CLIENT_ID).as_deref(),
        Some(&[1, 2, 0, 0, 0, 0, 0x0a][..])
    );
    // Option 12 goes back only for a reservation; the client's is recorded.
    assert_eq!(offer.option(code::HOST_NAME), None);
    let lease = shell.lease(offer.yiaddr);
    assert_eq!(
        lease.client_id.as_deref(),
        Some(&[1, 2, 0, 0, 0, 0, 0x0a][..])
    );
    assert_eq!(lease.hostname.as_deref(), Some("board"));
}

#[test]
fn replies_fit_u_boots_576_byte_limit() {
    let mut shell = Shell::new(config());
    let (offer, _) = shell.reply(&discover(RESERVED));
    // U-Boot sends option 57 = 576: IP and UDP headers take 28 bytes.
    assert!(offer.emit().len() <= 576 - 28, "{}", offer.emit().len());
    let parsed = DhcpPacket::parse(&offer.emit()).unwrap();
    assert_eq!(parsed, offer);
}

#[test]
fn leases_table_indexes() {
    let lease = |last: u8, mac: [u8; 6], state, starts| Lease {
        ip: ip(last),
        mac,
        client_id: None,
        hostname: None,
        state,
        starts,
        ends: starts + 100,
    };
    let mut leases = Leases::load(vec![
        lease(100, A, LeaseState::Bound, 10),
        lease(101, B, LeaseState::Released, 5),
        lease(102, B, LeaseState::Bound, 20), // B's newer record wins the index
        lease(103, C, LeaseState::Declined, 30),
    ]);
    assert_eq!(leases.len(), 4);
    assert_eq!(leases.get_by_mac(A).map(|l| l.ip), Some(ip(100)));
    assert_eq!(leases.get_by_mac(B).map(|l| l.ip), Some(ip(102)));
    assert_eq!(
        leases.get_by_mac(C),
        None,
        "declined records are not indexed"
    );
    assert_eq!(leases.get_by_ip(ip(103)).map(|l| l.mac), Some(C));

    // An upsert over another client's record moves the address.
    leases.apply(&LeaseChange::Upsert(lease(100, C, LeaseState::Offered, 40)));
    assert_eq!(leases.get_by_mac(A), None);
    assert_eq!(leases.get_by_mac(C).map(|l| l.ip), Some(ip(100)));
    leases.apply(&LeaseChange::Remove(ip(100)));
    assert_eq!(leases.get_by_mac(C), None);
    assert_eq!(leases.get_by_ip(ip(100)), None);
    // Removing an address without a record changes nothing.
    leases.apply(&LeaseChange::Remove(ip(7)));
    assert_eq!(
        leases.iter().map(|l| l.ip).collect::<Vec<_>>(),
        [ip(101), ip(102), ip(103)]
    );
    assert_eq!(leases.clone().iter().cloned().collect::<Leases>(), leases);

    let live = lease(100, A, LeaseState::Bound, 10);
    assert!(live.is_live(109) && !live.is_live(110));
    let offered = lease(100, A, LeaseState::Offered, 10);
    assert!(offered.holds_address(109) && !offered.holds_address(110));
    let declined = lease(100, A, LeaseState::Declined, 10);
    assert!(!declined.is_live(50) && declined.holds_address(50));
    assert!(!declined.belongs_to(A));
    assert!(!declined.is_conflict());
    assert!(Lease {
        mac: [0; 6],
        ..declined
    }
    .is_conflict());
    let released = lease(100, A, LeaseState::Released, 10);
    assert!(!released.holds_address(50) && released.belongs_to(A));
}

#[test]
fn config_check() {
    assert_eq!(config().check(), Ok(()));
    let refused = |change: &dyn Fn(&mut ServerConfig)| {
        let mut config = config();
        change(&mut config);
        config.check().unwrap_err()
    };
    assert!(matches!(
        refused(&|c| c.pools[0].subnet.network = ip(5)),
        ConfigError::BadSubnet(_)
    ));
    assert!(matches!(
        refused(&|c| c.pools[0].subnet.prefix_len = 31),
        ConfigError::BadSubnet(_)
    ));
    assert!(matches!(
        refused(&|c| c.pools[1].subnet = Subnet::new(Ipv4Addr::new(192, 168, 0, 0), 16)),
        ConfigError::OverlappingPools(..)
    ));
    assert!(matches!(
        refused(&|c| c.pools[0].first = ip(110)),
        ConfigError::BadRange { .. }
    ));
    assert!(matches!(
        refused(&|c| c.pools[0].last = ip(255)),
        ConfigError::BadRange { .. }
    ));
    assert!(matches!(
        refused(&|c| c.pools[0].first = ip(0)),
        ConfigError::BadRange { .. }
    ));
    assert!(matches!(
        refused(&|c| c.pools[0].lease_secs = 0),
        ConfigError::ZeroLease(_)
    ));
    assert!(matches!(
        refused(&|c| c.reservations[0].ip = Ipv4Addr::new(172, 16, 0, 5)),
        ConfigError::ReservationOutsidePools { .. }
    ));
    assert!(matches!(
        refused(&|c| c.reservations[0].ip = ip(255)),
        ConfigError::ReservationNotHost { .. }
    ));
    assert!(matches!(
        refused(&|c| {
            let mut again = c.reservations[0].clone();
            again.ip = ip(51);
            c.reservations.push(again);
        }),
        ConfigError::DuplicateReservationMac(_)
    ));
    assert!(matches!(
        refused(&|c| {
            let mut again = c.reservations[0].clone();
            again.mac = A;
            c.reservations.push(again);
        }),
        ConfigError::DuplicateReservationIp(_)
    ));
    assert!(matches!(
        refused(&|c| c.owned.vendor_classes.push(String::new())),
        ConfigError::EmptyPattern
    ));
    assert!(matches!(
        refused(&|c| c.boot.file = Some("x".repeat(128))),
        ConfigError::BadFile(_)
    ));
    assert!(matches!(
        refused(&|c| c.boot.pxelinux_config = Some(String::new())),
        ConfigError::BadOptionLength { .. }
    ));
    assert!(matches!(
        refused(&|c| c.offer_hold_secs = 0),
        ConfigError::ZeroOfferHold
    ));
    let error = refused(&|c| c.pools[0].first = ip(110));
    assert_eq!(
        error.to_string(),
        "pool 192.168.1.0/24: range 192.168.1.110..=192.168.1.109 must lie inside the subnet, \
         first <= last, without the network and broadcast addresses"
    );
}

#[test]
fn config_check_names_the_field() {
    let field = |change: &dyn Fn(&mut ServerConfig)| {
        let mut config = config();
        change(&mut config);
        let (field, error) = config.check_fields().unwrap_err();
        assert_eq!(
            config.check(),
            Err(error),
            "check and check_fields disagree"
        );
        field
    };
    assert_eq!(
        field(&|c| c.pools[1].subnet.prefix_len = 31),
        Field::PoolSubnet(1)
    );
    assert_eq!(
        field(&|c| c.pools[1].subnet = Subnet::new(Ipv4Addr::new(192, 168, 0, 0), 16)),
        Field::PoolSubnet(1)
    );
    assert_eq!(field(&|c| c.pools[0].first = ip(110)), Field::PoolRange(0));
    assert_eq!(field(&|c| c.pools[0].lease_secs = 0), Field::PoolLease(0));
    assert_eq!(
        field(&|c| c.pools[0].domain_name = Some(String::new())),
        Field::PoolDomain(0)
    );
    assert_eq!(
        field(&|c| c.reservations[0].ip = ip(255)),
        Field::ReservationIp(0)
    );
    assert_eq!(
        field(&|c| {
            let mut again = c.reservations[0].clone();
            again.ip = ip(51);
            c.reservations.push(again);
        }),
        Field::ReservationMac(1)
    );
    assert_eq!(
        field(&|c| c.reservations[0].hostname = Some("h".repeat(256))),
        Field::ReservationHostname(0)
    );
    assert_eq!(
        field(&|c| c.owned.vendor_classes.push(String::new())),
        Field::VendorClass(config().owned.vendor_classes.len())
    );
    assert_eq!(field(&|c| c.boot.file = Some("x".repeat(128))), Field::File);
    assert_eq!(
        field(&|c| c.boot.tftp_server_name = Some(String::new())),
        Field::TftpServerName
    );
    assert_eq!(
        field(&|c| c.boot.pxelinux_config = Some(String::new())),
        Field::PxelinuxConfig
    );
    assert_eq!(field(&|c| c.offer_hold_secs = 0), Field::OfferHold);
}

#[test]
fn subnet_arithmetic() {
    let subnet = Subnet::new(Ipv4Addr::new(10, 1, 2, 0), 23);
    assert_eq!(subnet.mask(), Ipv4Addr::new(255, 255, 254, 0));
    assert_eq!(subnet.broadcast(), Ipv4Addr::new(10, 1, 3, 255));
    assert!(subnet.contains(Ipv4Addr::new(10, 1, 3, 7)));
    assert!(!subnet.contains(Ipv4Addr::new(10, 1, 4, 0)));
    assert!(subnet.is_network_or_broadcast(Ipv4Addr::new(10, 1, 2, 0)));
    assert!(!subnet.is_network_or_broadcast(Ipv4Addr::new(10, 1, 2, 255)));
    assert_eq!(subnet.to_string(), "10.1.2.0/23");
    assert_eq!(
        Subnet::new(Ipv4Addr::UNSPECIFIED, 0).mask(),
        Ipv4Addr::UNSPECIFIED
    );
    assert_eq!(
        Subnet::new(ip(7), 32).mask(),
        Ipv4Addr::new(255, 255, 255, 255)
    );
}

#[test]
fn reasons_read_as_log_lines() {
    let lines = [
        (Reason::NotOwned, "client not owned by this server"),
        (
            Reason::ReservedAddressInUse {
                ip: ip(50),
                holder: A,
            },
            "reserved address 192.168.1.50 still held by 02:00:00:00:00:0a",
        ),
        (
            Reason::OfferWithdrawn {
                ip: ip(100),
                server: OTHER_SERVER,
            },
            "client chose server 192.168.1.1; offer of 192.168.1.100 withdrawn",
        ),
        (
            Reason::NoPool { via: RELAY },
            "no pool for the subnet of 10.20.0.1",
        ),
    ];
    for (reason, line) in lines {
        assert_eq!(reason.to_string(), line);
    }
    assert!(!Reason::NotOwned.needs_attention());
}

// ---- property test ----

/// What one simulated client believes.
#[derive(Debug, Default, Clone)]
struct Believes {
    /// The address it uses, and until when (from the ACK's option 51).
    holds: Option<(Ipv4Addr, u64)>,
    /// The last offer it received.
    offered: Option<Ipv4Addr>,
    /// The address it had last, for INIT-REBOOT.
    last: Option<Ipv4Addr>,
}

/// A shell with many clients, where probes take time: some wait while other
/// requests (retransmissions included) are handled, and finish in any order.
struct Fleet {
    config: ServerConfig,
    arrival: Arrival,
    leases: Leases,
    now: u64,
    macs: Vec<[u8; 6]>,
    clients: Vec<Believes>,
    /// Probes under way.
    pending: Vec<Probe>,
    rng: XorShift,
    counts: HashMap<&'static str, usize>,
    step: usize,
}

impl Fleet {
    fn count(&mut self, key: &'static str) {
        *self.counts.entry(key).or_default() += 1;
    }

    /// Whether an address may be offered or ACKed to `mac` at all.
    fn in_bounds(&self, mac: [u8; 6], ip: Ipv4Addr) -> bool {
        self.config.pools[0].in_range(ip)
            || self.config.reservation_of(mac).is_some_and(|r| r.ip == ip)
    }

    /// Persists and performs an outcome for client `who`, parking or
    /// finishing probes.
    fn drive(&mut self, who: usize, mut outcome: Outcome, informing: bool) {
        let step = self.step;
        let mac = self.macs[who];
        let action = loop {
            for change in &outcome.changes {
                self.leases.apply(change);
            }
            match outcome.action {
                Action::Probe(probe) => {
                    assert!(
                        self.in_bounds(mac, probe.ip),
                        "step {step}: probed {}",
                        probe.ip
                    );
                    if self.rng.below(3) == 0 {
                        self.pending.push(probe);
                        self.count("parked probe");
                        return;
                    }
                    outcome = self.finish_probe(&probe);
                }
                action => break action,
            }
        };
        match action {
            Action::Reply { packet, .. } => {
                let kind = packet.message_type().unwrap();
                if informing {
                    assert_eq!(kind, MessageType::Ack);
                    assert_eq!(packet.yiaddr, Ipv4Addr::UNSPECIFIED);
                    self.count("inform");
                    return;
                }
                let yiaddr = packet.yiaddr;
                assert!(
                    self.in_bounds(mac, yiaddr),
                    "step {step}: {kind:?} of {yiaddr}"
                );
                let record = self
                    .leases
                    .get_by_ip(yiaddr)
                    .expect("a record of the address");
                assert_eq!(record.mac, mac, "step {step}");
                assert!(record.is_live(self.now), "step {step}: {record:?}");
                let bound = record.state == LeaseState::Bound;
                let client = &mut self.clients[who];
                match kind {
                    // A bound client ignores offers (a probe finishing
                    // late can answer an old DISCOVER).
                    MessageType::Offer if client.holds.is_some() => self.count("late offer"),
                    MessageType::Offer => {
                        client.offered = Some(yiaddr);
                        self.count("offer");
                    }
                    MessageType::Ack => {
                        assert!(bound, "step {step}");
                        let secs = u32_option(&packet, code::LEASE_TIME).unwrap();
                        client.holds = Some((yiaddr, self.now + u64::from(secs)));
                        client.last = Some(yiaddr);
                        client.offered = None;
                        self.count("ack");
                    }
                    other => panic!("step {step}: unexpected {other:?}"),
                }
            }
            Action::Nak { .. } => {
                self.clients[who].holds = None;
                self.clients[who].offered = None;
                self.count("nak");
            }
            Action::NoReply(reason) => self.count(match reason {
                Reason::PoolExhausted { .. } => "exhausted",
                Reason::NotOwned => "not owned",
                Reason::Declined { .. } => "declined",
                Reason::Released { .. } => "released",
                Reason::OfferWithdrawn { .. } => "withdrawn",
                _ => "other silence",
            }),
            Action::Probe(_) => unreachable!(),
        }
    }

    /// The probe's answer: a client using the address answers it; otherwise
    /// now and then a host the server does not know.
    fn finish_probe(&mut self, probe: &Probe) -> Outcome {
        let used = self
            .clients
            .iter()
            .any(|c| c.holds.is_some_and(|(ip, _)| ip == probe.ip));
        let in_use = used || self.rng.below(8) == 0;
        if used {
            self.count("stale probe");
        }
        probe_result(&self.config, &self.leases, probe, in_use, self.now)
    }

    /// No two clients use one address, each one's address is its bound
    /// lease in the table until at least when the client stops, and no
    /// client has two live records.
    fn check(&self) {
        let step = self.step;
        let mut used = HashSet::new();
        for (i, believes) in self.clients.iter().enumerate() {
            if let Some((held, until)) = believes.holds {
                assert!(used.insert(held), "step {step}: {held} used twice");
                let record = self
                    .leases
                    .get_by_ip(held)
                    .expect("a record of a used address");
                assert_eq!(record.mac, self.macs[i], "step {step}: {held}");
                assert_eq!(record.state, LeaseState::Bound, "step {step}: {held}");
                assert!(record.ends >= until, "step {step}: {record:?}");
            }
        }
        let mut live = HashSet::new();
        for lease in self.leases.iter().filter(|l| l.is_live(self.now)) {
            assert!(live.insert(lease.mac), "step {step}: two live records");
        }
    }

    /// One random event: a request from a random client, a probe finishing,
    /// or time passing.
    fn event(&mut self) {
        if !self.pending.is_empty() && self.rng.below(4) == 0 {
            let at = self.rng.below(self.pending.len() as u64) as usize;
            let probe = self.pending.swap_remove(at);
            let who = self.macs.iter().position(|&m| m == probe.mac).unwrap();
            let outcome = self.finish_probe(&probe);
            self.drive(who, outcome, false);
            return;
        }
        let who = self.rng.below(self.macs.len() as u64) as usize;
        let mac = self.macs[who];
        let me = self.clients[who].clone();
        let server = self.arrival.local;
        let op = self.rng.below(10);
        let mut request = match op {
            0 | 1 => {
                // A retransmission keeps its xid; a client in INIT has no
                // address.
                self.clients[who].holds = None;
                let mut request = packet(mac, MessageType::Discover, xid(mac));
                if self.rng.below(3) == 0 {
                    let wanted = Ipv4Addr::new(10, 0, 0, 8 + self.rng.below(12) as u8);
                    request.set_option(code::REQUESTED_IP, wanted.octets());
                }
                request
            }
            2 | 3 => {
                let Some(offered) = me.offered else { return };
                let chosen = if self.rng.below(5) == 0 {
                    self.clients[who].offered = None;
                    Ipv4Addr::new(10, 0, 0, 1)
                } else {
                    server
                };
                select(mac, chosen, offered)
            }
            4 => {
                let Some((held, _)) = me.holds else { return };
                if self.rng.below(2) == 0 {
                    renew(mac, held)
                } else {
                    rebind(mac, held)
                }
            }
            5 => {
                let Some(last) = me.last else { return };
                self.clients[who].holds = None;
                init_reboot(mac, last)
            }
            6 => {
                let Some((held, _)) = me.holds else { return };
                self.clients[who].holds = None;
                release(mac, held)
            }
            7 => {
                let Some((held, _)) = me.holds else { return };
                self.clients[who].holds = None;
                decline(mac, held)
            }
            8 => {
                let Some((held, _)) = me.holds else { return };
                inform(mac, held)
            }
            _ => {
                self.now += match self.rng.below(10) {
                    0 => 1000,
                    1..=3 => 0,
                    _ => 1 + self.rng.below(120),
                };
                let now = self.now;
                for client in &mut self.clients {
                    if client.holds.is_some_and(|(_, until)| until <= now) {
                        client.holds = None;
                    }
                }
                return;
            }
        };
        request.remove_option(code::VENDOR_CLASS);
        if request.server_id().is_some() && op >= 6 {
            request.set_option(code::SERVER_ID, server.octets());
        }
        let outcome = handle(
            &self.config,
            &self.leases,
            &self.arrival,
            &request,
            self.now,
        );
        self.drive(who, outcome, op == 8);
    }
}

/// Many clients doing random things against a small pool, with probes that
/// take time and sometimes find a host, and time that jumps. After every
/// event: no two clients use one address, every address a client uses is
/// its bound lease in the table, and every address offered or ACKed lies in
/// the range or is the client's reservation.
#[test]
fn random_clients_never_share_an_address() {
    let host = |last: u8| Ipv4Addr::new(10, 0, 0, last);
    let macs: Vec<[u8; 6]> = (0..14).map(|i| [0x02, 0, 0, 0, 1, i]).collect();
    let config = ServerConfig {
        pools: vec![Pool {
            subnet: Subnet::new(host(0), 24),
            first: host(10),
            last: host(17),
            router: Some(host(1)),
            dns_servers: vec![host(1)],
            lease_secs: 600,
            domain_name: None,
        }],
        reservations: vec![
            Reservation {
                mac: macs[0],
                ip: host(12),
                hostname: None,
                boot: None,
            },
            Reservation {
                mac: macs[1],
                ip: host(200),
                hostname: Some("outside-range".into()),
                boot: None,
            },
        ],
        owned: Ownership {
            macs: macs[..13].to_vec(), // the last one is a stranger
            vendor_classes: Vec::new(),
        },
        boot: BootOptions::default(),
        offer_hold_secs: 60,
        decline_hold_secs: 300,
        probe_new_addresses: true,
    };
    assert_eq!(config.check(), Ok(()));
    let runs = [
        (0x2545_f491_4f6c_dd1d, true),
        (0x9e37_79b9_7f4a_7c15, true),
        (7, true),
        (0x2545_f491_4f6c_dd1d, false),
        (11, false),
    ];
    for (seed, probe_new_addresses) in runs {
        let mut fleet = Fleet {
            config: ServerConfig {
                probe_new_addresses,
                ..config.clone()
            },
            arrival: Arrival { local: host(2) },
            leases: Leases::new(),
            now: START,
            clients: vec![Believes::default(); macs.len()],
            macs: macs.clone(),
            pending: Vec::new(),
            rng: XorShift(seed),
            counts: HashMap::new(),
            step: 0,
        };
        for step in 0..20_000 {
            fleet.step = step;
            fleet.event();
            fleet.check();
        }
        // The walk went through every kind of outcome.
        for key in [
            "offer",
            "ack",
            "nak",
            "inform",
            "exhausted",
            "not owned",
            "declined",
            "released",
            "withdrawn",
            "parked probe",
            "stale probe",
        ] {
            if !probe_new_addresses && key.ends_with("probe") {
                continue;
            }
            let count = fleet.counts.get(key).copied().unwrap_or(0);
            assert!(count > 0, "seed {seed}: no {key}: {:?}", fleet.counts);
        }
    }
}

#[test]
fn first_unrecorded_steps_over_records_and_refusals() {
    let ip = |n: u8| Ipv4Addr::new(10, 0, 0, n);
    let lease = |n: u8| Lease {
        ip: ip(n),
        mac: [2, 0, 0, 0, 0, n],
        client_id: None,
        hostname: None,
        state: LeaseState::Bound,
        starts: 0,
        ends: 100,
    };
    let table: Leases = [10, 11, 12, 14, 20].into_iter().map(lease).collect();
    assert_eq!(
        table.first_unrecorded(ip(10), ip(20), |_| true),
        Some(ip(13))
    );
    assert_eq!(
        table.first_unrecorded(ip(10), ip(20), |a| a != ip(13)),
        Some(ip(15))
    );
    assert_eq!(table.first_unrecorded(ip(5), ip(20), |_| true), Some(ip(5)));
    assert_eq!(table.first_unrecorded(ip(10), ip(12), |_| true), None);
    assert_eq!(table.first_unrecorded(ip(20), ip(20), |_| true), None);
    assert_eq!(
        table.first_unrecorded(
            Ipv4Addr::new(255, 255, 255, 255),
            Ipv4Addr::new(255, 255, 255, 255),
            |_| true
        ),
        Some(Ipv4Addr::new(255, 255, 255, 255))
    );
}

/// With no way to check addresses, a new client is offered the lowest free
/// address straight away, and the next client the one after it.
#[test]
fn without_probing_a_discover_is_offered_at_once() {
    let mut shell = Shell::new(ServerConfig {
        probe_new_addresses: false,
        ..config()
    });
    for (mac, want) in [(A, 100), (B, 101)] {
        let outcome = handle(
            &shell.config,
            &shell.leases,
            &shell.arrival,
            &discover(mac),
            shell.now,
        );
        let Action::Reply { packet, .. } = &outcome.action else {
            panic!("expected an offer, got {:?}", outcome.action);
        };
        assert_eq!(packet.message_type(), Some(MessageType::Offer));
        assert_eq!(packet.yiaddr, ip(want));
        let [LeaseChange::Upsert(offered)] = &outcome.changes[..] else {
            panic!("expected one upsert, got {:?}", outcome.changes);
        };
        assert_eq!((offered.ip, offered.state), (ip(want), LeaseState::Offered));
        for change in &outcome.changes {
            shell.leases.apply(change);
        }
    }
}

/// The two indexes of the table agree with a plain scan of its records after
/// any sequence of upserts and removes, including at the ends of the
/// address space.
#[test]
fn lease_indexes_agree_with_a_scan() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let bases = [0u32, 0x0a00_0000, u32::MAX - 40];
    for base in bases {
        let mut table = Leases::new();
        for step in 0..4000 {
            let at = Ipv4Addr::from(base + rng.below(41) as u32);
            if rng.below(3) == 0 {
                table.apply(&LeaseChange::Remove(at));
            } else {
                table.apply(&LeaseChange::Upsert(Lease {
                    ip: at,
                    mac: [2, 0, 0, 0, 0, u32::from(at) as u8],
                    client_id: None,
                    hostname: None,
                    state: LeaseState::Bound,
                    starts: 0,
                    ends: rng.below(100),
                }));
            }
            let first = base + rng.below(41) as u32;
            let last = first.saturating_add(rng.below(41) as u32);
            let refused = base + rng.below(41) as u32;
            let ok = |ip: Ipv4Addr| u32::from(ip) != refused;
            let scan = (first..=last)
                .map(Ipv4Addr::from)
                .find(|&ip| table.get_by_ip(ip).is_none() && ok(ip));
            assert_eq!(
                table.first_unrecorded(Ipv4Addr::from(first), Ipv4Addr::from(last), ok),
                scan,
                "step {step}, base {base:#x}"
            );
            let now = rng.below(100);
            let mut ended: Vec<&Lease> = table
                .iter()
                .filter(|l| (first..=last).contains(&u32::from(l.ip)) && l.ends <= now)
                .filter(|l| ok(l.ip))
                .collect();
            ended.sort_by_key(|l| (l.ends, l.ip));
            assert_eq!(
                table.ended_longest_ago(Ipv4Addr::from(first), Ipv4Addr::from(last), now, |l| ok(
                    l.ip
                )),
                ended.first().copied(),
                "step {step}, base {base:#x}"
            );
        }
        // Loading the same records builds the same indexes.
        let reloaded = Leases::load(table.iter().cloned());
        assert_eq!(reloaded, table);
    }
}
