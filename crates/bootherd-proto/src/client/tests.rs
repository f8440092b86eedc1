use super::*;
use crate::golden;
use crate::wire::dhcp::RawOption;

fn classify_bytes(bytes: &[u8]) -> Client {
    classify(&DhcpPacket::parse(bytes).unwrap())
}

#[test]
fn pi3_rom_discover_is_the_rpi_rom() {
    assert_eq!(
        classify_bytes(&golden::pi3_rom_discover()),
        Client {
            mac: golden::PI3_MAC,
            xid: 0x26f3_0339,
            message_type: Some(MessageType::Discover),
            firmware: Firmware::RpiRom,
            arch: Some(Arch::BiosX86),
            vendor_class: Some("PXEClient:Arch:00000:UNDI:002001".into()),
            uuid: Some(golden::PI3_UUID.to_vec()),
            relay: None,
        }
    );
}

#[test]
fn pi4_eeprom_with_fourcc_is_a_pi4() {
    let client = classify_bytes(&golden::pi4_eeprom_fourcc_discover());
    assert_eq!(client.firmware, Firmware::RpiEeprom(Some(RpiModel::Pi4)));
    assert_eq!(client.firmware.name(), "Raspberry Pi 4 EEPROM");
    assert_eq!(client.mac, golden::CM4_MAC);
    assert_eq!(client.xid, 0x411f_f708);
    assert_eq!(client.arch, Some(Arch::BiosX86));
}

#[test]
fn pi_serial_is_the_last_word_of_option_97() {
    let client = classify_bytes(&golden::pi4_eeprom_fourcc_discover());
    assert_eq!(client.rpi_serial(), Some(0x9ffe_fdef));
    assert_eq!(rpi_serial_folder(0x9ffe_fdef), "9ffefdef");
    assert_eq!(rpi_mac_folder(&golden::CM4_MAC), "e4-5f-01-b7-9d-f1");
    // DHCP_OPTION97=0: the serial four times.
    let mut legacy = client.clone();
    let mut uuid = vec![0];
    for _ in 0..4 {
        uuid.extend_from_slice(&0x0123_abcd_u32.to_le_bytes());
    }
    legacy.uuid = Some(uuid);
    assert_eq!(legacy.rpi_serial(), Some(0x0123_abcd));
    // No serial where option 97 has another shape, or for other firmware.
    legacy.uuid = Some(vec![0; 9]);
    assert_eq!(legacy.rpi_serial(), None);
    legacy.uuid = None;
    assert_eq!(legacy.rpi_serial(), None);
    let pc = classify_bytes(&golden::ovmf_discover());
    assert_eq!(pc.rpi_serial(), None);
}

/// The 2019 capture predates the FourCC: only the OUI tells.
#[test]
fn pi4_eeprom_without_fourcc_is_known_by_its_oui() {
    let client = classify_bytes(&golden::pi4_eeprom_discover());
    assert_eq!(client.firmware, Firmware::RpiEeprom(None));
    assert_eq!(client.mac, golden::PI4_MAC);
}

#[test]
fn ipxe_bios_rom_is_ipxe() {
    let client = classify_bytes(&golden::ipxe_bios_discover());
    assert_eq!(client.firmware, Firmware::Ipxe);
    assert_eq!(client.arch, Some(Arch::BiosX86));
    assert_eq!(client.mac, golden::IPXE_MAC);
}

#[test]
fn ovmf_is_uefi_pxe_x64() {
    let client = classify_bytes(&golden::ovmf_discover());
    assert_eq!(client.firmware, Firmware::UefiPxe);
    assert_eq!(client.arch, Some(Arch::UefiX64));
    assert_eq!(client.uuid.as_deref(), Some(golden::QEMU_UUID));
}

#[test]
fn uefi_http_boot_is_uefi_http() {
    let client = classify_bytes(&golden::uefi_http_discover());
    assert_eq!(client.firmware, Firmware::UefiHttp);
    assert_eq!(client.arch, Some(Arch::UefiX64Http));
}

#[test]
fn u_boot_is_u_boot() {
    let client = classify_bytes(&golden::uboot_discover(b"U-Boot.armv8", 22));
    assert_eq!(client.firmware, Firmware::UBoot);
    assert_eq!(client.arch, Some(Arch::UBootArm64));
    assert_eq!(client.mac, golden::ROCK64_MAC);
}

#[test]
fn linux_and_windows_are_not_boot_clients() {
    for bytes in [
        golden::linux_discover(),
        golden::pi_linux_discover(),
        golden::windows_discover(),
    ] {
        let client = classify_bytes(&bytes);
        assert_eq!(client.firmware, Firmware::NotBoot, "{client:?}");
        assert_eq!(client.arch, None);
    }
}

/// A request to classify: a Discover with a MAC and the given options.
fn request(mac: [u8; 6], options: &[(u8, &[u8])]) -> DhcpPacket {
    let mut packet = DhcpPacket::default();
    packet.chaddr[..6].copy_from_slice(&mac);
    packet.options.push(RawOption::new(53, [1]));
    for (code, data) in options {
        packet.options.push(RawOption::new(*code, *data));
    }
    packet
}

const PC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4b, 0x5c];
const PI3: [u8; 6] = [0xb8, 0x27, 0xeb, 0x01, 0x02, 0x03];
const PI4: [u8; 6] = [0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2];
const PI400: [u8; 6] = [0xe4, 0x5f, 0x01, 0x11, 0x22, 0x33];
const PI5: [u8; 6] = [0x2c, 0xcf, 0x67, 0x11, 0x22, 0x33];
const CM4: [u8; 6] = [0x28, 0xcd, 0xc1, 0x11, 0x22, 0x33];
const PI4_2: [u8; 6] = [0xd8, 0x3a, 0xdd, 0x11, 0x22, 0x33];

const BIOS: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
const ARCH0: &[u8] = &[0, 0];

/// Every rule of the module documentation, one row each.
#[test]
fn classification_table() {
    let rpi4_uuid = golden::rpi_option97(b"RPi4", PC);
    let rpi5_uuid = golden::rpi_option97(b"RPi5", PC);
    let rpi5_no_type = rpi5_uuid[1..].to_vec();
    let rpi4_reversed = {
        let mut uuid = rpi4_uuid.clone();
        uuid[1..5].copy_from_slice(b"4iPR");
        uuid
    };
    let serial_uuid: Vec<u8> = [0]
        .into_iter()
        .chain([0x43, 0x72, 0xee, 0x6a].repeat(4))
        .collect();

    #[rustfmt::skip]
    let rows: Vec<(&str, DhcpPacket, Firmware, Option<Arch>)> = vec![
        // Raspberry Pi by option 97, whatever the MAC (MAC_ADDRESS may override it).
        ("fourcc RPi4", request(PC, &[(93, ARCH0), (97, &rpi4_uuid), (60, BIOS)]),
            Firmware::RpiEeprom(Some(RpiModel::Pi4)), Some(Arch::BiosX86)),
        ("fourcc RPi5", request(PI5, &[(93, ARCH0), (97, &rpi5_uuid), (60, BIOS)]),
            Firmware::RpiEeprom(Some(RpiModel::Pi5)), Some(Arch::BiosX86)),
        ("fourcc without type byte", request(PC, &[(97, &rpi5_no_type)]),
            Firmware::RpiEeprom(Some(RpiModel::Pi5)), None),
        ("fourcc byte-swapped", request(PC, &[(97, &rpi4_reversed), (60, BIOS)]),
            Firmware::RpiEeprom(Some(RpiModel::Pi4)), Some(Arch::BiosX86)),
        ("fourcc, REQUEST without 60", request(PI4, &[(93, ARCH0), (97, &rpi4_uuid)]),
            Firmware::RpiEeprom(Some(RpiModel::Pi4)), Some(Arch::BiosX86)),
        // Raspberry Pi by OUI, with the Pi's PXE signature.
        ("pi3 oui", request(PI3, &[(93, ARCH0), (60, BIOS)]),
            Firmware::RpiRom, Some(Arch::BiosX86)),
        ("pi3 oui, arch only in 60", request(PI3, &[(60, BIOS)]),
            Firmware::RpiRom, Some(Arch::BiosX86)),
        ("pi4 oui, serial uuid", request(PI4, &[(93, ARCH0), (97, &serial_uuid), (60, BIOS)]),
            Firmware::RpiEeprom(None), Some(Arch::BiosX86)),
        ("pi400 oui", request(PI400, &[(93, ARCH0), (60, BIOS)]),
            Firmware::RpiEeprom(None), Some(Arch::BiosX86)),
        ("cm4 oui", request(CM4, &[(93, ARCH0), (60, BIOS)]),
            Firmware::RpiEeprom(None), Some(Arch::BiosX86)),
        ("pi4 second oui", request(PI4_2, &[(93, ARCH0), (60, BIOS)]),
            Firmware::RpiEeprom(None), Some(Arch::BiosX86)),
        ("pi5 oui", request(PI5, &[(93, ARCH0), (60, BIOS)]),
            Firmware::RpiEeprom(None), Some(Arch::BiosX86)),
        ("eeprom REQUEST without 60 (rpi-eeprom#82)", request(PI4, &[(93, ARCH0)]),
            Firmware::RpiEeprom(None), Some(Arch::BiosX86)),
        // A Pi that is not booting its ROM or EEPROM.
        ("pi4 running linux", request(PI4, &[(60, b"dhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:BCM2835")]),
            Firmware::NotBoot, None),
        ("pi3 running dhclient", request(PI3, &[(55, &[1, 3, 6])]),
            Firmware::NotBoot, None),
        ("pi4 with EDK2 UEFI firmware", request(PI4, &[(93, &[0, 11]), (60, b"PXEClient:Arch:00011:UNDI:003000"), (94, &[1, 3, 0])]),
            Firmware::UefiPxe, Some(Arch::UefiArm64)),
        ("pi4 with EDK2 HTTP boot", request(PI4, &[(93, &[0, 19]), (60, b"HTTPClient:Arch:00019:UNDI:003000")]),
            Firmware::UefiHttp, Some(Arch::UefiArm64Http)),
        ("pi4 with u-boot", request(PI4, &[(93, &[0, 22]), (60, b"U-Boot.armv8")]),
            Firmware::UBoot, Some(Arch::UBootArm64)),
        // iPXE, both forms of option 77, and before everything else.
        ("ipxe raw user class", request(PC, &[(93, ARCH0), (60, BIOS), (77, b"iPXE")]),
            Firmware::Ipxe, Some(Arch::BiosX86)),
        ("ipxe rfc 3004 user class", request(PC, &[(93, &[0, 7]), (60, b"PXEClient:Arch:00007:UNDI:003016"), (77, b"\x04iPXE")]),
            Firmware::Ipxe, Some(Arch::UefiX64)),
        ("ipxe on a pi", request(PI4, &[(93, &[0, 11]), (77, b"iPXE")]),
            Firmware::Ipxe, Some(Arch::UefiArm64)),
        ("other user class", request(PC, &[(93, ARCH0), (60, BIOS), (77, b"\x05hello")]),
            Firmware::BiosPxe, Some(Arch::BiosX86)),
        // PXE by architecture.
        ("bios pxe", request(PC, &[(93, ARCH0), (60, BIOS)]),
            Firmware::BiosPxe, Some(Arch::BiosX86)),
        ("bios pxe, no option 93", request(PC, &[(60, b"PXEClient")]),
            Firmware::BiosPxe, None),
        ("uefi ia32", request(PC, &[(93, &[0, 6]), (60, b"PXEClient:Arch:00006:UNDI:003000")]),
            Firmware::UefiPxe, Some(Arch::UefiIa32)),
        ("uefi x64", request(PC, &[(93, &[0, 7]), (60, b"PXEClient:Arch:00007:UNDI:003000")]),
            Firmware::UefiPxe, Some(Arch::UefiX64)),
        ("uefi ebc", request(PC, &[(93, &[0, 9]), (60, b"PXEClient:Arch:00009:UNDI:003000")]),
            Firmware::UefiPxe, Some(Arch::UefiEbc)),
        ("uefi arm32", request(PC, &[(93, &[0, 10]), (60, b"PXEClient:Arch:00010:UNDI:003000")]),
            Firmware::UefiPxe, Some(Arch::UefiArm32)),
        ("uefi arm64", request(PC, &[(93, &[0, 11]), (60, b"PXEClient:Arch:00011:UNDI:003000"), (94, &[1, 3, 0])]),
            Firmware::UefiPxe, Some(Arch::UefiArm64)),
        ("uefi riscv32", request(PC, &[(93, &[0, 25]), (60, b"PXEClient:Arch:00025:UNDI:003000")]),
            Firmware::UefiPxe, Some(Arch::UefiRiscV32)),
        ("uefi riscv64", request(PC, &[(93, &[0, 27]), (60, b"PXEClient:Arch:00027:UNDI:003000")]),
            Firmware::UefiPxe, Some(Arch::UefiRiscV64)),
        ("arch from 60 only", request(PC, &[(60, b"PXEClient:Arch:00007:UNDI:003000")]),
            Firmware::UefiPxe, Some(Arch::UefiX64)),
        ("several archs: the first counts", request(PC, &[(93, &[0, 7, 0, 0]), (60, b"PXEClient")]),
            Firmware::UefiPxe, Some(Arch::UefiX64)),
        ("unknown arch is not answered", request(PC, &[(93, &[0, 2]), (60, b"PXEClient:Arch:00002:UNDI:002001")]),
            Firmware::NotBoot, Some(Arch::Unknown(2))),
        ("pxe class with http arch", request(PC, &[(93, &[0, 16]), (60, b"PXEClient")]),
            Firmware::NotBoot, Some(Arch::UefiX64Http)),
        // U-Boot.
        ("u-boot armv7", request(PC, &[(93, &[0, 21]), (94, &[1, 0, 0]), (60, b"U-Boot.armv7")]),
            Firmware::UBoot, Some(Arch::UBootArm32)),
        ("u-boot x86, no 93", request(PC, &[(94, &[1, 0, 0]), (60, b"U-Boot")]),
            Firmware::UBoot, None),
        ("u-boot with pxe class and arch 22", request(PC, &[(93, &[0, 22]), (60, b"PXEClient:Arch:00011:UNDI:003000")]),
            Firmware::UBoot, Some(Arch::UBootArm64)),
        ("u-boot distro efi dhcp, arm64", request(PC, &[(93, &[0, 11]), (94, &[1, 0, 0]), (60, b"PXEClient:Arch:00011:UNDI:003000")]),
            Firmware::UBoot, Some(Arch::UefiArm64)),
        ("u-boot distro efi dhcp, x86", request(PC, &[(93, &[0, 7]), (94, &[1, 0, 0]), (60, b"PXEClient:Arch:00007:UNDI:003000")]),
            Firmware::UBoot, Some(Arch::UefiX64)),
        // UEFI HTTP.
        ("http boot", request(PC, &[(93, &[0, 16]), (60, b"HTTPClient:Arch:00016:UNDI:003000")]),
            Firmware::UefiHttp, Some(Arch::UefiX64Http)),
        ("http boot, arch from 60", request(PC, &[(60, b"HTTPClient:Arch:00019:UNDI:003000")]),
            Firmware::UefiHttp, Some(Arch::UefiArm64Http)),
        // Not boot clients.
        ("no options", request(PC, &[]), Firmware::NotBoot, None),
        ("windows", request(PC, &[(60, b"MSFT 5.0")]), Firmware::NotBoot, None),
        ("android", request(PC, &[(60, b"android-dhcp-13")]), Firmware::NotBoot, None),
        ("lowercase pxeclient", request(PC, &[(60, b"pxeclient")]), Firmware::NotBoot, None),
        ("arch 0 without 60 off a pi", request(PC, &[(93, ARCH0)]), Firmware::NotBoot, Some(Arch::BiosX86)),
    ];
    for (name, packet, firmware, arch) in rows {
        let client = classify(&packet);
        assert_eq!((client.firmware, client.arch), (firmware, arch), "{name}");
    }
}

#[test]
fn only_requests_with_an_ethernet_mac() {
    let mut reply = request(PI3, &[(93, ARCH0), (60, BIOS)]);
    reply.op = 2;
    assert_eq!(classify(&reply).firmware, Firmware::NotBoot);

    let mut no_mac = request(PI3, &[(93, ARCH0), (60, BIOS)]);
    no_mac.htype = 6;
    let client = classify(&no_mac);
    assert_eq!(client.firmware, Firmware::NotBoot);
    assert_eq!(client.mac, [0; 6]);

    no_mac.htype = 1;
    no_mac.hlen = 0;
    assert_eq!(classify(&no_mac).firmware, Firmware::NotBoot);
}

#[test]
fn relay_and_message_type_are_reported() {
    let mut packet = request(PC, &[(93, ARCH0), (60, BIOS)]);
    packet.giaddr = Ipv4Addr::new(10, 1, 0, 1);
    packet.set_option(53, [3]);
    packet.xid = 7;
    let client = classify(&packet);
    assert_eq!(client.relay, Some(Ipv4Addr::new(10, 1, 0, 1)));
    assert_eq!(client.message_type, Some(MessageType::Request));
    assert_eq!(client.xid, 7);
    assert_eq!(client.mac, PC);
}

#[test]
fn arch_codes_round_trip() {
    for code in 0..=300u16 {
        assert_eq!(Arch::from(code).code(), code);
    }
    // The corrected RFC 4578 table (PROTOCOLS.md section 4).
    assert_eq!(Arch::from(6), Arch::UefiIa32);
    assert_eq!(Arch::from(7), Arch::UefiX64);
    assert_eq!(Arch::from(9), Arch::UefiEbc);
    assert_eq!(Arch::from(41), Arch::RpiBoot);
    assert_eq!(Arch::from(8), Arch::Unknown(8));
}

#[test]
fn arch_from_vendor_class() {
    assert_eq!(arch_from_class("PXEClient:Arch:00007:UNDI:003000"), Some(7));
    assert_eq!(
        arch_from_class("HTTPClient:Arch:00016:UNDI:003000"),
        Some(16)
    );
    assert_eq!(arch_from_class("PXEClient:Arch:00011"), Some(11));
    assert_eq!(arch_from_class("PXEClient"), None);
    assert_eq!(arch_from_class("PXEClient:Arch::UNDI:003000"), None);
    assert_eq!(arch_from_class("PXEClient:Arch:99999:UNDI"), None);
    assert_eq!(arch_from_class("PXEClient:Arch:123456:UNDI"), None);
    assert_eq!(arch_from_class("PXEClient:Arch:+7:UNDI"), None);
}

#[test]
fn names_for_logs() {
    assert_eq!(Firmware::RpiRom.name(), "Raspberry Pi 3 boot ROM");
    assert_eq!(
        Firmware::RpiEeprom(Some(RpiModel::Pi5)).name(),
        "Raspberry Pi 5 EEPROM"
    );
    assert_eq!(Firmware::RpiEeprom(None).name(), "Raspberry Pi EEPROM");
    assert_eq!(Firmware::NotBoot.name(), "not a boot client");
    assert_eq!(
        format_mac(&[0xb8, 0x27, 0xeb, 0x1c, 0xff, 0x5b]),
        "b8:27:eb:1c:ff:5b"
    );
    assert_eq!(format_mac(&[0; 6]), "00:00:00:00:00:00");
}

/// Classification never panics on any parseable input.
#[test]
fn classify_never_panics() {
    let mut state: u64 = 0x1234_5678_9abc_def1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = golden::pi3_rom_discover();
    for _ in 0..20_000 {
        let mut bytes = base.clone();
        for _ in 0..1 + next() % 8 {
            let at = 240 + (next() as usize) % (bytes.len() - 240);
            bytes[at] = next() as u8;
        }
        let at = (next() as usize) % 40;
        bytes[at] = next() as u8;
        if let Ok(packet) = DhcpPacket::parse(&bytes) {
            let _ = classify(&packet);
        }
    }
}

#[test]
fn macs_parse_in_every_spelling_and_round_trip() {
    let want = [0x52, 0x54, 0, 0xab, 0xcd, 0x0f];
    for text in [
        "52:54:00:AB:cd:0f",
        "52-54-00-ab-cd-0f",
        "525400abcd0f",
        " 52:54:00:ab:cd:0f ",
    ] {
        assert_eq!(parse_mac(text), Some(want), "{text}");
    }
    for bad in [
        "",
        "52:54:00:ab:cd",
        "52:54:00:ab:cd:0f:00",
        "5:54:00:ab:cd:0f",
        "zz:54:00:ab:cd:0f",
        "525400abcd0",
        "52:54-00:ab:cd:0f",
    ] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
    assert_eq!(parse_mac(&format_mac(&want)), Some(want));
}
