use std::net::Ipv4Addr;

use super::*;
use crate::inventory::tests::parse;

const PI: Mac = Mac([0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2]);
const BOARD: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

fn inventory() -> Inventory {
    parse(
        r#"
[profiles.pi]
kind = "rpi"
cmdline = "console=tty1"
[profiles.rock]
kind = "pxelinux"
kernel = "Image"
cmdline = "console=ttyS2"
[[machines]]
name = "pi-a"
serial = "9ffefdef"
profile = "pi"
[[machines]]
name = "rock-a"
mac = "52:54:00:12:34:56"
profile = "rock"
"#,
    )
    .unwrap()
}

fn request(serial: Option<&str>) -> What {
    What::DhcpRequest {
        via: Via::Proxy,
        message: "DISCOVER",
        client: "Raspberry Pi 4 EEPROM",
        arch: Some("BiosX86".into()),
        vendor_class: Some("PXEClient:Arch:00000:UNDI:002001".into()),
        rpi_serial: serial.map(str::to_owned),
        rpi_model: Some("pi4"),
        relay: None,
    }
}

fn event(at_ms: u64, what: What) -> Event {
    Event {
        at_ms,
        mac: None,
        addr: None,
        what,
    }
}

fn served(path: &str) -> What {
    What::FileServed {
        protocol: Protocol::Tftp,
        path: path.into(),
        bytes: 10,
        ms: 1,
        retransmits: 0,
    }
}

fn refused(path: &str) -> What {
    What::FileRefused {
        protocol: Protocol::Tftp,
        path: path.into(),
        reason: "file not found".into(),
    }
}

fn answer() -> What {
    What::DhcpAnswer {
        via: Via::Proxy,
        message: "offer".into(),
        detail: "tftp 10.0.0.5".into(),
    }
}

#[test]
fn a_serial_folder_links_to_the_pi_seen_in_dhcp_with_that_serial() {
    let inventory = inventory();
    let mut store = Store::default();
    store.seen_dhcp(PI, None, &request(Some("9ffefdef")), 1);
    let from = Ipv4Addr::new(10, 0, 0, 77);
    // Listed by serial only: the inventory knows the folder, DHCP the MAC.
    assert_eq!(
        store.link(&inventory, from, "9ffefdef/start4.elf"),
        Some(PI)
    );
    // A root file from an address nobody was seen with links to nothing.
    assert_eq!(store.link(&inventory, from, "start4.elf"), None);
}

#[test]
fn an_unknown_pis_serial_folder_links_to_its_mac() {
    let inventory = inventory();
    let mut store = Store::default();
    store.seen_dhcp(PI, None, &request(Some("12345678")), 1);
    let from = Ipv4Addr::new(10, 0, 0, 77);
    assert_eq!(
        store.link(&inventory, from, "12345678/config.txt"),
        Some(PI)
    );
}

#[test]
fn pxelinux_and_m_paths_link_by_the_mac_they_name() {
    let inventory = inventory();
    let mut store = Store::default();
    let from = Ipv4Addr::new(10, 0, 0, 9);
    assert_eq!(
        store.link(&inventory, from, "pxelinux.cfg/01-52-54-00-12-34-56"),
        Some(BOARD)
    );
    assert_eq!(
        store.link(&inventory, from, "/rock/525400123456/Image"),
        Some(BOARD)
    );
}

#[test]
fn root_files_link_by_the_address_of_the_lease_or_the_dhcp_conversation() {
    let inventory = inventory();
    let mut store = Store::default();
    let lease = Ipv4Addr::new(10, 0, 0, 50);
    store.seen_address(BOARD, lease);
    assert_eq!(store.link(&inventory, lease, "boot.scr"), Some(BOARD));
    let proxied = Ipv4Addr::new(10, 0, 0, 51);
    store.seen_dhcp(PI, Some(proxied), &request(None), 1);
    assert_eq!(store.link(&inventory, proxied, "bootcode.bin"), Some(PI));
    assert_eq!(store.get(&PI).unwrap().identity.addr, Some(proxied));
}

#[test]
fn rings_are_bounded_per_machine_and_globally() {
    let mut store = Store::default();
    for i in 0..(GLOBAL_EVENTS as u64 + 10) {
        let mut e = event(i, served("x"));
        e.mac = Some(if i % 2 == 0 { PI } else { BOARD });
        store.push(e);
    }
    assert_eq!(store.global().count(), GLOBAL_EVENTS);
    assert_eq!(
        store.global().next().unwrap().at_ms,
        10,
        "oldest dropped first"
    );
    let pi = store.get(&PI).unwrap();
    assert_eq!(pi.events.len(), MACHINE_EVENTS);
    assert_eq!(pi.events.back().unwrap().at_ms, GLOBAL_EVENTS as u64 + 8);
}

#[test]
fn machines_are_bounded_forgetting_those_seen_longest_ago() {
    let mut store = Store::default();
    for i in 0..(MAX_MACHINES as u64 + 1) {
        let b = i.to_be_bytes();
        let mac = Mac([2, 0, b[4], b[5], b[6], b[7]]);
        store.seen_dhcp(mac, None, &request(None), i + 1);
    }
    assert!(store.machines().count() <= MAX_MACHINES);
    assert!(
        store.get(&Mac([2, 0, 0, 0, 0, 0])).is_none(),
        "oldest forgotten"
    );
    let newest = (MAX_MACHINES as u64).to_be_bytes();
    assert!(store
        .get(&Mac([2, 0, newest[4], newest[5], newest[6], newest[7]]))
        .is_some());
}

#[test]
fn asked_paths_are_remembered_once_each_and_bounded() {
    let mut store = Store::default();
    for i in 0..(ASKED_PATHS + 5) {
        for _ in 0..2 {
            let mut e = event(
                1,
                What::FileRequested {
                    protocol: Protocol::Tftp,
                    path: format!("f{i}"),
                },
            );
            e.mac = Some(PI);
            store.push(e);
        }
    }
    let asked = &store.get(&PI).unwrap().identity.asked;
    assert_eq!(asked.len(), ASKED_PATHS);
    assert_eq!(asked[0], "f0");
}

#[test]
fn stages_follow_a_boot_from_dhcp_to_the_kernel() {
    assert_eq!(stage([], &[], 0), Stage::NeverSeen);
    let mut events = vec![event(1, request(None)), event(2, answer())];
    assert_eq!(stage(&events, &[], 3), Stage::DhcpAnswered);
    events.push(event(3, served("9ffefdef/start4.elf")));
    events.push(event(4, served("9ffefdef/fixup4.dat")));
    assert_eq!(
        stage(&events, &[], 5),
        Stage::LoadingFiles {
            files: vec!["9ffefdef/start4.elf".into(), "9ffefdef/fixup4.dat".into()]
        }
    );
    events.push(event(5, served("9ffefdef/kernel8.img")));
    events.push(event(6, served("9ffefdef/bcm2711-rpi-4-b.dtb")));
    assert_eq!(
        stage(&events, &[], 100_000),
        Stage::HandedToKernel {
            kernel: "9ffefdef/kernel8.img".into(),
            last_file: "9ffefdef/bcm2711-rpi-4-b.dtb".into()
        }
    );
    // A new DHCP answer is a new boot.
    events.push(event(7, answer()));
    assert_eq!(stage(&events, &[], 8), Stage::DhcpAnswered);
}

#[test]
fn the_profiles_kernel_name_counts_as_the_kernel() {
    let events = [
        event(1, answer()),
        event(2, served("rock/525400123456/my-vmlinux")),
    ];
    assert!(matches!(
        stage(&events, &["my-vmlinux"], 3),
        Stage::HandedToKernel { .. }
    ));
    assert!(matches!(stage(&events, &[], 3), Stage::LoadingFiles { .. }));
}

#[test]
fn a_machine_is_stuck_only_once_quiet_after_a_refusal_and_says_where() {
    let events = vec![
        event(1, answer()),
        event(2, refused("9ffefdef/start4.elf")),
        event(3, refused("start4.elf")),
    ];
    // Pis probe missing files and go on: not stuck while it may still ask.
    assert!(matches!(stage(&events, &[], 4), Stage::DhcpAnswered));
    assert_eq!(
        stage(&events, &[], 3 + STUCK_AFTER_MS),
        Stage::Stuck {
            detail: "asked for start4.elf, not found in 9ffefdef/ or the root".into()
        }
    );
    // A file served after the refusals: not stuck.
    let mut went_on = events.clone();
    went_on.push(event(4, served("9ffefdef/start.elf")));
    assert!(matches!(
        stage(&went_on, &[], 100_000),
        Stage::LoadingFiles { .. }
    ));
}

#[test]
fn an_abandoned_file_says_after_how_many_blocks() {
    let events = vec![
        event(1, answer()),
        event(
            2,
            What::FileAbandoned {
                protocol: Protocol::Tftp,
                path: "9ffefdef/start4.elf".into(),
                acked_blocks: 3,
                reason: "client went silent".into(),
            },
        ),
    ];
    assert_eq!(
        stage(&events, &[], 2 + STUCK_AFTER_MS).describe(),
        "stuck: asked for start4.elf, abandoned after 3 blocks in 9ffefdef/"
    );
}

#[test]
fn events_serialize_with_their_kind_and_mac_as_text() {
    let mut e = event(5, refused("a/b"));
    e.mac = Some(PI);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["kind"], "file_refused");
    assert_eq!(json["mac"], "dc:a6:32:01:36:c2");
    assert_eq!(json["protocol"], "tftp");
    assert_eq!(json["path"], "a/b");
}

#[test]
fn a_pi3_listed_by_serial_only_is_known_by_the_mac_its_address_links_to() {
    // The Pi 3 ROM sends no serial in DHCP: its address links its first fetch,
    // and from then on its serial names that MAC.
    let inventory = inventory();
    let mut store = Store::default();
    let pi3 = Mac([0xb8, 0x27, 0xeb, 0xfe, 0xfd, 0xef]);
    let addr = Ipv4Addr::new(10, 0, 0, 60);
    store.seen_dhcp(pi3, Some(addr), &request(None), 1);
    assert_eq!(store.mac_of_serial("9ffefdef"), None);
    assert_eq!(
        store.link(&inventory, addr, "9ffefdef/start.elf"),
        Some(pi3)
    );
    assert_eq!(store.mac_of_serial("9ffefdef"), Some(pi3));
    // Another address now fetching from that folder is the same Pi.
    let elsewhere = Ipv4Addr::new(10, 0, 0, 61);
    assert_eq!(
        store.link(&inventory, elsewhere, "9ffefdef/kernel7.img"),
        Some(pi3)
    );
}

#[test]
fn the_budget_admits_so_many_dhcp_events_a_second() {
    let budget = Budget::new();
    let admitted = (0..DHCP_EVENTS_PER_SECOND * 2)
        .filter(|_| budget.admit())
        .count() as u32;
    // Unless the test straddled a second, exactly the budget.
    assert!(
        (DHCP_EVENTS_PER_SECOND..=DHCP_EVENTS_PER_SECOND * 2).contains(&admitted),
        "{admitted}"
    );
    assert!(admitted == DHCP_EVENTS_PER_SECOND || budget.started.elapsed().as_secs() >= 1);
}
