use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::client::{classify, Firmware, RpiModel};
use crate::golden;
use crate::proxy::{proxy_offer, ProxyAnswer};
use crate::wire::dhcp::BOOTREPLY;
use crate::wire::dhcp::{code, DhcpPacket, MessageType};

const LAN: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const PROXY: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const GIVEN: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 150);

fn machine(kind: Emulated) -> Identity {
    Identity::new(kind, default_mac(kind, [0xff, 0xda, 0x08]), None)
}

/// What the shell sends, checked against the emitter writing into a buffer
/// pre-filled with 0xa5, so that a byte the emitter forgets shows up.
fn emitted(m: &Identity, packet: &DhcpPacket) -> Vec<u8> {
    let mut out = vec![0xa5; 600];
    let len = packet.emit_into(&mut out).unwrap();
    let wire = wire_bytes(m, packet);
    assert!(len >= wire.len());
    assert_eq!(&out[..wire.len()], &wire[..]);
    wire
}

#[test]
fn rpi3_discover_is_the_captured_one() {
    let m = Identity::new(Emulated::Rpi3, golden::PI3_MAC, None);
    assert_eq!(m.xid, 0x26f3_0339);
    assert_eq!(emitted(&m, &discover(&m)), golden::pi3_rom_discover());
    assert_eq!(request(&m, &discover(&m)), None, "the ROM never REQUESTs");
}

#[test]
fn rpi4_discover_is_the_documented_fourcc_one() {
    let mut m = Identity::new(Emulated::Rpi4, golden::CM4_MAC, Some(0x9ffe_fdef));
    m.xid = 0x411f_f708;
    assert_eq!(
        emitted(&m, &discover(&m)),
        golden::pi4_eeprom_fourcc_discover()
    );
    assert_eq!(
        rpi_option97(&m),
        golden::rpi_option97(b"RPi4", golden::CM4_MAC)
    );
}

#[test]
fn rpi5_discover_says_rpi5() {
    let m = machine(Emulated::Rpi5);
    let packet = DhcpPacket::parse(&discover(&m).emit()).unwrap();
    assert_eq!(&packet.client_uuid().unwrap()[..5], b"\0RPi5");
    assert_eq!(
        classify(&packet).firmware,
        Firmware::RpiEeprom(Some(RpiModel::Pi5))
    );
}

#[test]
fn pxe_efi_discover_is_the_golden_ovmf_one() {
    let mut m = Identity::new(Emulated::PxeEfi, golden::QEMU_MAC, None);
    m.xid = 0x1c8a_3f5d;
    m.uuid.copy_from_slice(&golden::QEMU_UUID[1..]);
    assert_eq!(emitted(&m, &discover(&m)), golden::ovmf_discover());
}

#[test]
fn uboot_discover_is_the_golden_one() {
    let mut m = Identity::new(Emulated::UBoot, golden::ROCK64_MAC, None);
    m.xid = 0x5c6e_9a01;
    assert_eq!(
        emitted(&m, &discover(&m)),
        golden::uboot_discover(b"U-Boot.armv8", 22)
    );
    assert_eq!(
        wire_bytes(&m, &discover(&m)).len(),
        278,
        "not padded to 300"
    );
}

#[test]
fn every_discover_is_classified_as_its_firmware() {
    let expect = [
        (Emulated::Rpi3, Firmware::RpiRom),
        (Emulated::Rpi4, Firmware::RpiEeprom(Some(RpiModel::Pi4))),
        (Emulated::Rpi5, Firmware::RpiEeprom(Some(RpiModel::Pi5))),
        (Emulated::PxeBios, Firmware::BiosPxe),
        (Emulated::PxeEfi, Firmware::UefiPxe),
        (Emulated::UBoot, Firmware::UBoot),
    ];
    for (kind, firmware) in expect {
        let packet = DhcpPacket::parse(&discover(&machine(kind)).emit()).unwrap();
        assert_eq!(classify(&packet).firmware, firmware, "{kind:?}");
        assert_eq!(Emulated::from_id(kind.id()), Some(kind));
    }
}

fn lan_offer(m: &Identity) -> Reply {
    let request = discover(m);
    let mut offer = DhcpPacket::new_reply(&request);
    offer.yiaddr = GIVEN;
    offer.set_option(code::MESSAGE_TYPE, [MessageType::Offer.code()]);
    offer.set_option(code::SERVER_ID, LAN.octets());
    Reply {
        source: LAN,
        packet: offer,
    }
}

fn proxy_reply(m: &Identity, answer: &ProxyAnswer) -> Reply {
    Reply {
        source: PROXY,
        packet: proxy_offer(&discover(m), PROXY, answer),
    }
}

#[test]
fn rpi3_needs_both_an_address_and_the_menu_text() {
    let m = machine(Emulated::Rpi3);
    let lan = lan_offer(&m);
    let proxy = proxy_reply(&m, &ProxyAnswer::RaspberryPi);
    assert!(proxy.has_rpi_boot() && proxy.has_rpi_boot_spaces());

    let only_lan = [lan.clone()];
    let choice = choose(Emulated::Rpi3, &only_lan);
    assert!(!choice.is_final());
    let problem = choice.problem(&only_lan).unwrap();
    assert_eq!(problem, Problem::NoRpiBoot { servers: vec![LAN] });
    assert!(problem
        .to_string()
        .starts_with("offer had no \"Raspberry Pi Boot\" in option 43"));

    let only_proxy = [proxy.clone()];
    let problem = choose(Emulated::Rpi3, &only_proxy)
        .problem(&only_proxy)
        .unwrap();
    assert!(matches!(problem, Problem::NoAddress { .. }));
    assert!(problem
        .to_string()
        .starts_with("no DHCP server offered an address"));

    let both = [lan, proxy];
    let choice = choose(Emulated::Rpi3, &both);
    assert!(choice.is_final());
    assert_eq!((choice.address, choice.boot), (Some(0), Some(1)));
    assert_eq!(choice.problem(&both), None);
    assert_eq!(choice.target(&both), Some(BootTarget::RpiTftp(PROXY)));

    assert_eq!(
        choose(Emulated::Rpi3, &[]).problem(&[]),
        Some(Problem::NoReply {
            kind: Emulated::Rpi3
        })
    );
}

#[test]
fn rpi_tftp_server_is_the_reply_source_not_siaddr() {
    let m = machine(Emulated::Rpi3);
    let mut proxy = proxy_reply(&m, &ProxyAnswer::RaspberryPi);
    proxy.packet.siaddr = Ipv4Addr::new(192, 0, 2, 9);
    proxy.packet.set_option(code::SERVER_ID, [192, 0, 2, 9]);
    proxy
        .packet
        .set_option(code::TFTP_SERVER_NAME, b"192.0.2.10".to_vec());
    let replies = [lan_offer(&m), proxy.clone()];
    let choice = choose(Emulated::Rpi3, &replies);
    assert_eq!(choice.target(&replies), Some(BootTarget::RpiTftp(PROXY)));
    // The Pi 4 EEPROM parses option 66 as an address (ee#72).
    let choice = choose(Emulated::Rpi4, &replies);
    assert_eq!(
        choice.target(&replies),
        Some(BootTarget::RpiTftp(Ipv4Addr::new(192, 0, 2, 10)))
    );
}

#[test]
fn rpi_match_is_a_substring_and_first_reply_wins() {
    let m = machine(Emulated::Rpi4);
    let mut other = proxy_reply(&m, &ProxyAnswer::RaspberryPi);
    other.source = Ipv4Addr::new(10, 99, 0, 7);
    // dnsmasq's form, without the three spaces.
    other.packet.set_option(
        code::VENDOR_SPECIFIC,
        b"\x06\x01\x03\x0a\x04\x00PXE\x09\x14\x00\x00\x11Raspberry Pi Boot\xff".to_vec(),
    );
    assert!(other.has_rpi_boot() && !other.has_rpi_boot_spaces());
    let replies = [
        other,
        proxy_reply(&m, &ProxyAnswer::RaspberryPi),
        lan_offer(&m),
    ];
    let choice = choose(Emulated::Rpi4, &replies);
    assert_eq!((choice.address, choice.boot), (Some(2), Some(0)));
}

#[test]
fn rpi4_request_names_the_offer_and_drops_option_60() {
    let m = machine(Emulated::Rpi4);
    let offer = lan_offer(&m);
    let req = request(&m, &offer.packet).unwrap();
    assert_eq!(req.message_type(), Some(MessageType::Request));
    assert_eq!(req.requested_ip(), Some(GIVEN));
    assert_eq!(req.server_id(), Some(LAN));
    assert_eq!(req.vendor_class(), None);
    assert_eq!(req.xid, m.xid);
}

#[test]
fn uboot_drops_offers_without_an_address() {
    let m = machine(Emulated::UBoot);
    let mut proxy = lan_offer(&m);
    proxy.packet.yiaddr = Ipv4Addr::UNSPECIFIED;
    proxy.source = PROXY;
    proxy.packet.siaddr = PROXY;
    proxy.packet.set_file("pxelinux.0").unwrap();
    let replies = [proxy.clone(), proxy];
    let choice = choose(Emulated::UBoot, &replies);
    assert!(!choice.is_final());
    let text = choice.problem(&replies).unwrap().to_string();
    assert_eq!(
        text,
        "U-Boot drops offers without an address: only proxy offers (yiaddr 0) arrived \
         (from 10.99.0.1); use the DHCP-server mode or a U-Boot with a fixed serverip"
    );

    let mut lan = lan_offer(&m);
    lan.packet.siaddr = PROXY;
    let replies = [replies[0].clone(), lan.clone(), lan_offer(&m)];
    let choice = choose(Emulated::UBoot, &replies);
    assert_eq!((choice.address, choice.boot), (Some(1), Some(1)));
    assert!(choice.is_final());
    let req = request(&m, &replies[1].packet).unwrap();
    let codes: Vec<u8> = req.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, [53, 57, 54, 50, 93, 94, 60, 55]);

    // serverip: the ACK's siaddr, else the offer's; neither is a problem.
    let mut ack = lan.clone();
    ack.packet.siaddr = Ipv4Addr::UNSPECIFIED;
    assert_eq!(uboot_target(&lan, &ack), Ok((PROXY, None)));
    let bare = lan_offer(&m);
    assert_eq!(
        uboot_target(&bare, &bare),
        Err(Problem::NoNextServer { server: LAN })
    );
}

#[test]
fn pxe_bios_takes_the_proxy_file_and_efi_asks_4011() {
    let bios = machine(Emulated::PxeBios);
    let file = ProxyAnswer::PxeDirect {
        file: "undionly.kpxe".into(),
    };
    let replies = [proxy_reply(&bios, &file), lan_offer(&bios)];
    let choice = choose(Emulated::PxeBios, &replies);
    assert!(choice.is_final());
    assert_eq!((choice.address, choice.boot), (Some(1), Some(0)));
    assert_eq!(
        choice.target(&replies),
        Some(BootTarget::Tftp {
            server: PROXY,
            file: Some("undionly.kpxe".into())
        })
    );

    let efi = machine(Emulated::PxeEfi);
    let via = ProxyAnswer::PxeVia4011 {
        file: "ipxe.efi".into(),
    };
    let replies = [lan_offer(&efi), proxy_reply(&efi, &via)];
    let choice = choose(Emulated::PxeEfi, &replies);
    assert_eq!(
        choice.target(&replies),
        Some(BootTarget::AskPort4011(PROXY))
    );
    let req = pxe_request(&efi, Ipv4Addr::new(10, 99, 0, 100));
    assert_eq!(req.message_type(), Some(MessageType::Request));
    assert_eq!(req.ciaddr, Ipv4Addr::new(10, 99, 0, 100));
    assert_eq!(classify(&req).firmware, Firmware::UefiPxe);

    let only_lan = [lan_offer(&efi)];
    assert!(matches!(
        choose(Emulated::PxeEfi, &only_lan).problem(&only_lan),
        Some(Problem::NoBootFile { .. })
    ));
}

#[test]
fn replies_to_others_are_not_ours() {
    let m = machine(Emulated::Rpi3);
    let offer = lan_offer(&m).packet;
    assert!(is_for(&m, &offer));
    let mut other = offer.clone();
    other.xid ^= 1;
    assert!(!is_for(&m, &other));
    let mut request = offer;
    request.op = 1;
    assert!(!is_for(&m, &request));
    assert_eq!(lan_offer(&m).packet.op, BOOTREPLY);
}

#[test]
fn schedules_shrink_with_the_timeout() {
    let secs = Duration::from_secs;
    let (sends, end) = dhcp_schedule(Emulated::Rpi3, None);
    assert_eq!(sends, [0, 5, 10, 15, 20].map(secs));
    assert_eq!(end, secs(25));
    let (sends, end) = dhcp_schedule(Emulated::Rpi3, Some(secs(5)));
    assert_eq!(sends, [0, 1, 2, 3, 4].map(secs));
    assert_eq!(end, secs(5));
    let (sends, end) = dhcp_schedule(Emulated::UBoot, Some(secs(100)));
    assert_eq!(sends.len(), 17);
    assert_eq!(end, secs(100));
}

#[test]
fn describes_offers_for_people() {
    let m = machine(Emulated::Rpi3);
    assert_eq!(
        lan_offer(&m).describe(Emulated::Rpi3),
        "offer from 10.99.0.2: address 10.99.0.150, no boot options"
    );
    assert_eq!(
        proxy_reply(&m, &ProxyAnswer::RaspberryPi).describe(Emulated::Rpi3),
        "offer from 10.99.0.1: proxy, option 43 has \"Raspberry Pi Boot\""
    );
}

// --- file plans ------------------------------------------------------------

fn found(data: &[u8]) -> Fetched {
    Fetched::Found {
        size: Some(data.len() as u64),
        data: Some(data.to_vec()),
    }
}

/// Runs a plan against a set of files that exist; returns the paths asked.
fn run(plan: &mut FilePlan, files: &[(&str, &[u8])]) -> Vec<String> {
    let mut asked = Vec::new();
    while let Some(fetch) = plan.next_fetch() {
        asked.push(fetch.path.clone());
        let result = match files.iter().find(|(name, _)| *name == fetch.path) {
            Some((_, data)) => found(data),
            None => Fetched::NotFound,
        };
        plan.record(&fetch, result);
        assert!(asked.len() < 100, "plan does not end");
    }
    asked
}

fn pi3(serial: u32) -> Identity {
    Identity::new(Emulated::Rpi3, golden::PI3_MAC, Some(serial))
}

#[test]
fn rpi3_with_a_serial_directory_keeps_the_prefix() {
    let m = pi3(0xe1ff_da08);
    let mut plan = FilePlan::rpi(&m, PROXY);
    let files: &[(&str, &[u8])] = &[
        ("bootcode.bin", b"b"),
        ("e1ffda08/start.elf", b"s"),
        (
            "e1ffda08/config.txt",
            b"[pi4]\nkernel=nope.img\n[all]\narm_64bit=1\n",
        ),
        ("e1ffda08/fixup.dat", b"f"),
        ("e1ffda08/kernel8.img", b"k"),
        ("e1ffda08/bcm2710-rpi-3-b.dtb", b"d"),
    ];
    let asked = run(&mut plan, files);
    assert_eq!(
        asked,
        [
            "bootcode.bin",
            "bootsig.bin",
            "e1ffda08/start.elf",
            "e1ffda08/autoboot.txt",
            "e1ffda08/config.txt",
            "e1ffda08/recovery.elf",
            "e1ffda08/start.elf",
            "e1ffda08/fixup.dat",
            "e1ffda08/dt-blob.bin",
            "e1ffda08/bootcfg.txt",
            "e1ffda08/cmdline.txt",
            "e1ffda08/kernel8.img",
            "e1ffda08/bcm2710-rpi-3-b.dtb",
        ]
    );
    assert_eq!(plan.verdict(), Ok(()));
    assert_eq!(plan.prefix(), "e1ffda08/");
    // The ROM's own requests carry no options; bootcode.bin's carry tsize 0.
    assert!(plan.log()[0].fetch.options.is_empty());
    assert_eq!(plan.log()[2].fetch.options, [("tsize".into(), "0".into())]);
    assert_eq!(plan.log()[2].fetch.read, Read::Probe);
}

#[test]
fn rpi3_without_the_directory_falls_back_to_the_root() {
    let mut plan = FilePlan::rpi(&pi3(0xe1ff_da08), PROXY);
    let files: &[(&str, &[u8])] = &[
        ("bootcode.bin", b"b"),
        ("start.elf", b"s"),
        ("fixup.dat", b"f"),
        ("kernel7.img", b"k"),
        ("bcm2710-rpi-3-b.dtb", b"d"),
    ];
    let asked = run(&mut plan, files);
    assert_eq!(asked[2], "e1ffda08/start.elf");
    assert_eq!(asked[3], "autoboot.txt");
    assert_eq!(asked.last().unwrap(), "bcm2710-rpi-3-b.dtb");
    assert_eq!(plan.verdict(), Ok(()));
    assert_eq!(plan.prefix(), "");
}

#[test]
fn rpi3_without_start_elf_names_both_places() {
    let mut plan = FilePlan::rpi(&pi3(0xe1ff_da08), PROXY);
    let asked = run(&mut plan, &[("bootcode.bin", b"b")]);
    assert_eq!(asked.last().unwrap(), "start.elf");
    assert_eq!(
        plan.verdict().unwrap_err().to_string(),
        "start.elf not found under e1ffda08/ nor at the TFTP root of 10.99.0.1; copy it from \
         the Raspberry Pi firmware's boot files"
    );
}

#[test]
fn rpi3_missing_kernel_says_what_config_txt_chose() {
    let mut plan = FilePlan::rpi(&pi3(1), PROXY);
    let files: &[(&str, &[u8])] = &[
        ("bootcode.bin", b"b"),
        ("start.elf", b"s"),
        ("fixup.dat", b"f"),
        ("kernel8.img", b"k"),
    ];
    run(&mut plan, files);
    assert_eq!(
        plan.verdict().unwrap_err().to_string(),
        "kernel7.img not found at the TFTP root of 10.99.0.1; config.txt has no kernel= \
         (arm_64bit=1 would select kernel8.img)"
    );
}

#[test]
fn rpi3_stops_at_a_missing_bootcode() {
    let mut plan = FilePlan::rpi(&pi3(1), PROXY);
    assert_eq!(run(&mut plan, &[]), ["bootcode.bin"]);
    assert!(matches!(plan.verdict(), Err(Problem::Missing { .. })));
}

#[test]
fn rpi4_with_tftp_prefix_2_uses_its_mac_folder() {
    let mut m = Identity::new(Emulated::Rpi4, golden::PI4_MAC, Some(0xab5a_4158));
    m.tftp_prefix = TftpPrefix::Mac;
    let mut plan = FilePlan::rpi(&m, PROXY);
    let files: &[(&str, &[u8])] = &[
        ("dc-a6-32-27-76-bc/start4.elf", b"s"),
        ("dc-a6-32-27-76-bc/fixup4.dat", b"f"),
        ("dc-a6-32-27-76-bc/bcm2711-rpi-4-b.dtb", b"d"),
        ("dc-a6-32-27-76-bc/kernel8.img", b"k"),
        ("ab5a4158/start4.elf", b"not this one"),
    ];
    let asked = run(&mut plan, files);
    assert_eq!(asked[0], "dc-a6-32-27-76-bc/start4.elf");
    assert!(
        asked.iter().all(|a| a.starts_with("dc-a6-32-27-76-bc/")),
        "{asked:?}"
    );
    assert_eq!(plan.verdict(), Ok(()));
}

#[test]
fn rpi4_tries_start4_then_start_under_the_serial() {
    let m = Identity::new(Emulated::Rpi4, golden::PI4_MAC, Some(0xab5a_4158));
    let mut plan = FilePlan::rpi(&m, PROXY);
    let files: &[(&str, &[u8])] = &[
        ("ab5a4158/start.elf", b"old"),
        ("ab5a4158/start4.elf", b"s"),
        ("ab5a4158/fixup4.dat", b"f"),
        ("ab5a4158/bcm2711-rpi-4-b.dtb", b"d"),
        ("ab5a4158/kernel8.img", b"k"),
    ];
    let asked = run(&mut plan, files);
    assert_eq!(
        asked,
        [
            "ab5a4158/start4.elf",
            "ab5a4158/config.txt",
            "ab5a4158/start4.elf",
            "ab5a4158/fixup4.dat",
            "ab5a4158/bcm2711-rpi-4-b.dtb",
            "ab5a4158/cmdline.txt",
            "ab5a4158/kernel8.img",
        ]
    );
    assert_eq!(plan.verdict(), Ok(()));
    assert_eq!(
        plan.log()[0].fetch.options,
        [
            ("tsize".to_string(), "0".to_string()),
            ("blksize".to_string(), "1024".to_string())
        ]
    );

    // Neither start file under the serial: the root.
    let mut plan = FilePlan::rpi(&m, PROXY);
    let asked = run(&mut plan, &[("start4.elf", b"s")]);
    assert_eq!(
        asked,
        [
            "ab5a4158/start4.elf",
            "ab5a4158/start.elf",
            "config.txt",
            "start4.elf",
            "fixup4.dat",
        ]
    );
    assert_eq!(
        plan.verdict().unwrap_err().to_string(),
        "fixup4.dat not found at the TFTP root of 10.99.0.1; copy it from the Raspberry Pi \
         firmware's boot files"
    );
}

#[test]
fn rpi5_asks_the_doubled_slash_and_falls_back_to_kernel8() {
    let m = Identity::new(
        Emulated::Rpi5,
        [0x2c, 0xcf, 0x67, 1, 2, 3],
        Some(0x0102_0304),
    );
    let mut plan = FilePlan::rpi(&m, PROXY);
    let files: &[(&str, &[u8])] = &[
        ("01020304/config.txt", b"x"),
        ("01020304//config.txt", b"x"),
        ("01020304/kernel8.img", b"k"),
        ("01020304/bcm2712-rpi-5-b.dtb", b"d"),
    ];
    let asked = run(&mut plan, files);
    assert_eq!(
        asked,
        [
            "01020304/config.txt",
            "01020304//config.txt",
            "01020304/kernel_2712.img",
            "01020304/kernel8.img",
            "01020304/bcm2712-rpi-5-b.dtb",
            "01020304/cmdline.txt",
        ]
    );
    assert_eq!(plan.verdict(), Ok(()));

    let mut plan = FilePlan::rpi(&m, PROXY);
    run(&mut plan, &[("config.txt", b"kernel=vmlinuz\n")]);
    assert_eq!(
        plan.verdict().unwrap_err().to_string(),
        "vmlinuz not found at the TFTP root of 10.99.0.1; config.txt names it with kernel="
    );
}

#[test]
fn uboot_pxe_get_order() {
    let m = Identity::new(Emulated::UBoot, [0x52, 0x54, 0x00, 0x99, 0x00, 0xa1], None);
    let ip = Ipv4Addr::new(10, 99, 0, 160);
    let mut plan = FilePlan::uboot(&m, PROXY, ip, None, None);
    let asked = run(&mut plan, &[]);
    assert_eq!(
        asked,
        [
            "pxelinux.cfg/01-52-54-00-99-00-a1",
            "pxelinux.cfg/0A6300A0",
            "pxelinux.cfg/0A6300A",
            "pxelinux.cfg/0A6300",
            "pxelinux.cfg/0A630",
            "pxelinux.cfg/0A63",
            "pxelinux.cfg/0A6",
            "pxelinux.cfg/0A",
            "pxelinux.cfg/0",
            "pxelinux.cfg/default-arm",
            "pxelinux.cfg/default",
        ]
    );
    assert!(matches!(plan.verdict(), Err(Problem::NoPxeConfig { .. })));

    let mut plan = FilePlan::uboot(&m, PROXY, ip, Some("boot/pxelinux.0"), None);
    let asked = run(&mut plan, &[("boot/pxelinux.cfg/0A63", b"default x")]);
    assert_eq!(asked.len(), 6);
    assert_eq!(plan.verdict(), Ok(()));
    assert_eq!(
        plan.log()[0].fetch.options,
        [
            ("timeout".to_string(), "5".to_string()),
            ("blksize".to_string(), "1468".to_string())
        ]
    );

    let mut plan = FilePlan::uboot(&m, PROXY, ip, None, Some("cfg/rock64"));
    assert_eq!(run(&mut plan, &[]), ["cfg/rock64"]);
}

#[test]
fn pxe_plan_is_one_file() {
    let m = machine(Emulated::PxeBios);
    let mut plan = FilePlan::pxe(&m, PROXY, "undionly.kpxe");
    assert_eq!(
        run(&mut plan, &[("undionly.kpxe", b"x")]),
        ["undionly.kpxe"]
    );
    assert_eq!(plan.verdict(), Ok(()));
    let mut plan = FilePlan::pxe(&m, PROXY, "undionly.kpxe");
    run(&mut plan, &[]);
    assert!(plan.verdict().is_err());
}

#[test]
fn transfer_failure_of_a_required_file_stops() {
    let mut plan = FilePlan::rpi(&pi3(1), PROXY);
    let fetch = plan.next_fetch().unwrap();
    plan.record(&fetch, Fetched::Failed("timed out".into()));
    assert_eq!(plan.next_fetch(), None);
    assert_eq!(
        plan.verdict().unwrap_err().to_string(),
        "TFTP transfer of bootcode.bin from 10.99.0.1 failed: timed out"
    );
}

#[test]
fn a_failed_optional_transfer_stops_too() {
    let mut plan = FilePlan::rpi(&pi3(1), PROXY);
    for _ in 0..2 {
        let fetch = plan.next_fetch().unwrap();
        plan.record(&fetch, found(b"x"));
    }
    let fetch = plan.next_fetch().unwrap();
    assert_eq!(fetch.need, Need::Optional);
    plan.record(&fetch, Fetched::Failed("server sent ERROR 2".into()));
    assert_eq!(plan.next_fetch(), None);
    assert!(matches!(plan.verdict(), Err(Problem::Transfer { .. })));
}

#[test]
fn pxe_lines_show_the_boot_file_and_server() {
    let m = machine(Emulated::PxeBios);
    let file = ProxyAnswer::PxeDirect {
        file: "undionly.kpxe".into(),
    };
    assert_eq!(
        proxy_reply(&m, &file).describe(Emulated::PxeBios),
        "offer from 10.99.0.1: proxy, PXE option 43 (discovery control 8), boot file \
         undionly.kpxe, next server 10.99.0.1"
    );
}

#[test]
fn config_txt_sections() {
    let text =
        b"# c\nkernel=a.img\n[pi4]\nkernel=b.img\n[none]\ndevice_tree=x.dtb\n[all]\narm_64bit=1\n";
    let pi3 = ConfigTxt::parse(Emulated::Rpi3, text);
    assert_eq!(pi3.kernel.as_deref(), Some("a.img"));
    assert_eq!(pi3.device_tree, None);
    assert!(pi3.arm_64bit);
    assert_eq!(
        ConfigTxt::parse(Emulated::Rpi4, text).kernel.as_deref(),
        Some("b.img")
    );
}

#[test]
fn mac_and_serial_parsing() {
    assert_eq!(
        parse_mac("b8:27:EB:ff:da:08"),
        Some([0xb8, 0x27, 0xeb, 0xff, 0xda, 0x08])
    );
    assert_eq!(
        parse_mac("b8-27-eb-ff-da-08"),
        parse_mac("b8:27:eb:ff:da:08")
    );
    assert_eq!(parse_mac("b8:27:eb:ff:da"), None);
    assert_eq!(parse_mac("b8:27:eb:ff:da:0g"), None);
    assert_eq!(parse_serial("e1ffda08"), Some(0xe1ff_da08));
    assert_eq!(parse_serial("00000000e1ffda08"), Some(0xe1ff_da08));
    assert_eq!(parse_serial("xyz"), None);
    assert_eq!(default_serial(golden::PI3_MAC), 0x001c_ff5b);
    assert_eq!(pi3(0xe1ff_da08).serial_dir(), "e1ffda08");
}
