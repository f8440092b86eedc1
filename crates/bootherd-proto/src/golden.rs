//! DHCP requests of real boot firmware, shared by the tests of
//! [`crate::wire::dhcp`], [`crate::client`] and [`crate::proxy`].
//!
//! Each packet is assembled from its wire bytes: the 44 header bytes up to
//! and including `chaddr` (op 1, Ethernet, hops 0, addresses zero, placed by
//! `header`), 192 zero bytes for `sname` and `file`, the magic cookie, then
//! the options written out byte by byte. Each says where it comes from: a packet rebuilt
//! from a capture quoted in a public issue says which issue; a packet built
//! from a firmware's source or documentation, because no capture was found,
//! says so.

/// `sname` and `file`, both empty.
const NO_NAMES: [u8; 192] = [0; 192];

/// The DHCP magic cookie.
const COOKIE: &[u8] = b"\x63\x82\x53\x63";

/// Option 60 of the Raspberry Pi ROM and EEPROM, and of BIOS iPXE.
const PXE_BIOS_CLASS: &[u8] = b"\x3c\x20PXEClient:Arch:00000:UNDI:002001";

fn packet(header: &[u8; 44], options: &[&[u8]]) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend_from_slice(&NO_NAMES);
    out.extend_from_slice(COOKIE);
    for part in options {
        out.extend_from_slice(part);
    }
    out
}

/// BOOTREQUEST header: op 1, Ethernet, hops 0, the given xid, secs and flags,
/// all addresses zero, `chaddr` = `mac` padded with zeros.
fn header(xid: u32, secs: u16, flags: u16, mac: [u8; 6]) -> [u8; 44] {
    let mut h = [0; 44];
    h[..4].copy_from_slice(&[1, 1, 6, 0]);
    h[4..8].copy_from_slice(&xid.to_be_bytes());
    h[8..10].copy_from_slice(&secs.to_be_bytes());
    h[10..12].copy_from_slice(&flags.to_be_bytes());
    h[28..34].copy_from_slice(&mac);
    h
}

/// MAC of the Raspberry Pi 3B in [`pi3_rom_discover`].
pub const PI3_MAC: [u8; 6] = [0xb8, 0x27, 0xeb, 0x1c, 0xff, 0x5b];

/// Option 97 of the Raspberry Pi 3B in [`pi3_rom_discover`]: type 0, then
/// sixteen `0x44` (`68` in tcpdump's decode). The 3B sends a constant here.
pub const PI3_UUID: &[u8] = &[
    0, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44,
];

/// Raspberry Pi 3B boot ROM DHCPDISCOVER.
///
/// Source: raspberrypi/firmware#859 (comment of 2017-09-08), a `tcpdump -v`
/// decode of a real capture: "Request from b8:27:eb:1c:ff:5b, length 320,
/// xid 0x26f30339, Flags [none]", options 53 Discover; 55 Vendor-Option,
/// Vendor-Class, BF, 128-135, TFTP; 93 = 0; 94 = 1.2.1; 97 = 0 and sixteen
/// 68s; 60 `PXEClient:Arch:00000:UNDI:002001`; end. The bytes are rebuilt
/// from that decode. They agree with the hex dump of another 3B's DISCOVER
/// in raspberrypi/firmware#862 (header `01 01 06 00 26 f3 03 39 00 00 00 00`,
/// UDP length 328 = 320 + 8) and with every offset the BPF filter of
/// openSUSE/netboot-rpi3b matches (option 93 at UDP offset 265, 94 at 269,
/// 97 at 271, 60 at 293, end at 327).
pub fn pi3_rom_discover() -> Vec<u8> {
    packet(
        &header(0x26f3_0339, 0, 0, PI3_MAC),
        &[
            b"\x35\x01\x01",
            b"\x37\x0c\x2b\x3c\x43\x80\x81\x82\x83\x84\x85\x86\x87\x42",
            b"\x5d\x02\x00\x00",
            b"\x5e\x03\x01\x02\x01",
            b"\x61\x11",
            PI3_UUID,
            PXE_BIOS_CLASS,
            b"\xff",
        ],
    )
}

/// MAC of the Raspberry Pi 4 in [`pi4_eeprom_discover`].
pub const PI4_MAC: [u8; 6] = [0xdc, 0xa6, 0x32, 0x27, 0x76, 0xbc];

/// Raspberry Pi 4 EEPROM DHCPDISCOVER with the original option 97 (the
/// serial number repeated four times, before `DHCP_OPTION97` existed).
///
/// Source: raspberrypi/rpi-eeprom#58 (comment of 2019-11-25), a Wireshark
/// decode of a real capture: frame of 364 bytes (so 322 BOOTP bytes), source
/// dc:a6:32:27:76:bc, xid 0x5ad50db4, options 55 (…66, 67, 128-135), 93 =
/// IA x86 PC (0), 94 = 1 / 2.1, 97 shown as the GUID
/// `6aee7243-7243-6aee-4372-ee6a4372ee6a` (the bytes `43 72 ee 6a` four
/// times, printed little-endian), 60 `PXEClient:Arch:00000:UNDI:002001`,
/// end. The part of the decode quoted before option 55 was not available:
/// option 53 first, `secs` 0 and `flags` 0 are taken from the Pi 4B
/// DISCOVER decoded in TechnitiumSoftware/DnsServer#183, and the 14 codes
/// of option 55 from raspberrypi/rpi-eeprom#69. With those, the options add
/// up to exactly the 322 bytes of the capture.
pub fn pi4_eeprom_discover() -> Vec<u8> {
    packet(
        &header(0x5ad5_0db4, 0, 0, PI4_MAC),
        &[
            b"\x35\x01\x01",
            b"\x37\x0e\x01\x03\x2b\x3c\x42\x43\x80\x81\x82\x83\x84\x85\x86\x87",
            b"\x5d\x02\x00\x00",
            b"\x5e\x03\x01\x02\x01",
            b"\x61\x11\x00",
            b"\x43\x72\xee\x6a\x43\x72\xee\x6a\x43\x72\xee\x6a\x43\x72\xee\x6a",
            PXE_BIOS_CLASS,
            b"\xff",
        ],
    )
}

/// MAC of the Compute Module 4 in [`pi4_eeprom_fourcc_discover`].
pub const CM4_MAC: [u8; 6] = [0xe4, 0x5f, 0x01, 0xb7, 0x9d, 0xf1];

/// Option 97 in the `DHCP_OPTION97` format with the `RPi4` FourCC.
pub fn rpi_option97(fourcc: &[u8; 4], mac: [u8; 6]) -> Vec<u8> {
    let mut uuid = vec![0];
    uuid.extend_from_slice(fourcc);
    uuid.extend_from_slice(&0x00c0_3111_u32.to_le_bytes());
    uuid.extend_from_slice(&mac[2..]);
    uuid.extend_from_slice(&0x9ffe_fdef_u32.to_le_bytes());
    uuid
}

/// Raspberry Pi 4 EEPROM DHCPDISCOVER with the `RPi4` FourCC in option 97.
///
/// Built, not captured: no full dump with the new option 97 was found. The
/// MAC e4:5f:01:b7:9d:f1 and xid 1092613896 (0x411ff708) are those of the
/// CM4 in raspberrypi/cmprovision#16, whose dnsmasq log shows the same
/// requested options as the 2019 capture and a client-machine-id starting
/// `00:52:50:69:34`, i.e. type 0 then `RPi4`. The rest of option 97 follows
/// the bootloader documentation of `DHCP_OPTION97` (raspberrypi/documentation
/// pull 2447): FourCC 0x34695052 little-endian, board revision (the
/// documented example 0x00c03111), the four low bytes of the MAC, the serial
/// (here 0x9ffefdef); the byte order of the last three is not documented and
/// is assumed little-endian like the FourCC. The other options are those of
/// [`pi4_eeprom_discover`].
pub fn pi4_eeprom_fourcc_discover() -> Vec<u8> {
    let uuid = rpi_option97(b"RPi4", CM4_MAC);
    packet(
        &header(0x411f_f708, 0, 0, CM4_MAC),
        &[
            b"\x35\x01\x01",
            b"\x37\x0e\x01\x03\x2b\x3c\x42\x43\x80\x81\x82\x83\x84\x85\x86\x87",
            b"\x5d\x02\x00\x00",
            b"\x5e\x03\x01\x02\x01",
            b"\x61\x11",
            &uuid,
            PXE_BIOS_CLASS,
            b"\xff",
        ],
    )
}

/// MAC of the QEMU guest in [`ipxe_bios_discover`].
pub const IPXE_MAC: [u8; 6] = [0x02, 0x00, 0x10, 0xad, 0x4a, 0x47];

/// BIOS iPXE DHCPDISCOVER (iPXE as the PXE ROM, or chainloaded by one).
///
/// Built on a capture: ltsp/ltsp pull 108 quotes a decoded DHCPREQUEST of
/// BIOS iPXE (MAC 02:00:10:ad:4a:47, xid bc417532, secs 11, flags 0) with
/// options 53, 57 = 1472, 93 = 0000, 94 = 010201, 60
/// `PXEClient:Arch:00000:UNDI:002001`, 77 = `69505845` (`iPXE`, raw, without
/// the RFC 3004 length byte; tcpdump calls it "invalid" in ipxe/ipxe#1374),
/// then 55 with 23 codes of which the quote shows 1, 3, 6, 7, 12, 15, 17,
/// 26, 43. This packet turns it into the DISCOVER: message type 1 and no
/// server or requested-address options. The remaining codes of option 55 are
/// completed from iPXE's request option list (60, 66, 67, 119, 128-135, 175,
/// 203), and the options iPXE sends after 55 (175, 61, 97) are left out
/// because the quote does not show them.
pub fn ipxe_bios_discover() -> Vec<u8> {
    packet(
        &header(0xbc41_7532, 11, 0, IPXE_MAC),
        &[
            b"\x35\x01\x01",
            b"\x39\x02\x05\xc0",
            b"\x5d\x02\x00\x00",
            b"\x5e\x03\x01\x02\x01",
            PXE_BIOS_CLASS,
            b"\x4d\x04iPXE",
            b"\x37\x17\x01\x03\x06\x07\x0c\x0f\x11\x1a\x2b\x3c\x42\x43\x77",
            b"\x80\x81\x82\x83\x84\x85\x86\x87\xaf\xcb",
            b"\xff",
        ],
    )
}

/// MAC of the QEMU guests below.
pub const QEMU_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// SMBIOS UUID of the QEMU guests below (type byte 0 first).
pub const QEMU_UUID: &[u8] = &[
    0, 0x8b, 0x3f, 0x2e, 0xf5, 0xa1, 0xf4, 0x54, 0x47, 0x96, 0x39, 0x02, 0xd3, 0xa7, 0x0e, 0xed,
    0x17,
];

/// OVMF (EDK2 UEFI PXE, x64) DHCPDISCOVER.
///
/// Built from documented fields, no capture: option 93 = 7 (x64 UEFI, the
/// corrected RFC 4578 table of PROTOCOLS.md section 4), 94 = UNDI 3.0, 97 =
/// type 0 and the SMBIOS UUID, 60 `PXEClient:Arch:00007:UNDI:003000` as EDK2
/// formats it, 57 = 1472, broadcast flag set. The list in option 55 is a
/// plausible PXE list, not EDK2's verbatim.
pub fn ovmf_discover() -> Vec<u8> {
    packet(
        &header(0x1c8a_3f5d, 0, 0x8000, QEMU_MAC),
        &[
            b"\x35\x01\x01",
            b"\x39\x02\x05\xc0",
            b"\x37\x23\x01\x02\x03\x04\x05\x06\x0c\x0d\x0f\x11\x12\x16\x17\x1c\x28\x29\x2a",
            b"\x2b\x32\x33\x36\x3a\x3b\x3c\x42\x43\x61\x80\x81\x82\x83\x84\x85\x86\x87",
            b"\x61\x11",
            QEMU_UUID,
            b"\x5e\x03\x01\x03\x00",
            b"\x5d\x02\x00\x07",
            b"\x3c\x20PXEClient:Arch:00007:UNDI:003000",
            b"\xff",
        ],
    )
}

/// EDK2 UEFI HTTP boot (x64) DHCPDISCOVER.
///
/// Built from EDK2's source, no capture: `HttpBootBuildDhcp4Options` in
/// `NetworkPkg/HttpBootDxe/HttpBootDhcp4.c` appends 55 (27 codes), 97, 94,
/// 93 and 60 `HTTPClient:Arch:00016:UNDI:003000` in that order, after the
/// message type the DHCP driver puts first. The stored version of that
/// function never fills entry 24 of its option 55 list; it is 0 here.
pub fn uefi_http_discover() -> Vec<u8> {
    packet(
        &header(0x7e21_c0a4, 0, 0x8000, QEMU_MAC),
        &[
            b"\x35\x01\x01",
            b"\x37\x1b\x01\x02\x03\x04\x05\x06\x0c\x0d\x0f\x11\x12\x16\x17\x1c",
            b"\x28\x29\x2a\x2b\x32\x33\x36\x3a\x3b\x3c\x00\x43\x61",
            b"\x61\x11",
            QEMU_UUID,
            b"\x5e\x03\x01\x03\x00",
            b"\x5d\x02\x00\x10",
            b"\x3c\x21HTTPClient:Arch:00016:UNDI:003000",
            b"\xff",
        ],
    )
}

/// MAC of the ROCK64 in the U-Boot packets.
pub const ROCK64_MAC: [u8; 6] = [0x62, 0x03, 0xb0, 0xd6, 0xdc, 0xb3];

/// U-Boot DHCPDISCOVER with the given vendor class and architecture.
///
/// Built from U-Boot's source, no capture: `dhcp_extended` in `net/bootp.c`
/// writes 53, 57 = 576, 93 (only when the architecture is not 0), 94 = UNDI
/// 1.0.0 (hard-coded), 97 (only with `pxeuuid`), 60 (`bootp_vci`, default
/// `U-Boot.armv8` on arm64), then 55 with the codes the board's config
/// enables (here 1, 3, 6, 12, 17).
pub fn uboot_discover(vendor_class: &[u8], arch: u16) -> Vec<u8> {
    let arch = [0x5d, 2, (arch >> 8) as u8, arch as u8];
    let class_header = [0x3c, vendor_class.len() as u8];
    packet(
        &header(0x5c6e_9a01, 0, 0, ROCK64_MAC),
        &[
            b"\x35\x01\x01",
            b"\x39\x02\x02\x40",
            &arch,
            b"\x5e\x03\x01\x00\x00",
            &class_header,
            vendor_class,
            b"\x37\x05\x01\x03\x06\x0c\x11",
            b"\xff",
        ],
    )
}

/// A Linux DHCP client's DHCPDISCOVER (a QEMU guest).
///
/// Source: rapid7/metasploit-framework pull 20960, `tcpdump -vvv` decode of
/// a real capture: "Request from 52:54:00:12:34:56, length 300, xid
/// 0x6ed96918, Flags [none]", options 53 Discover, 55 = 1, 28, 2, 3, 15, 6,
/// 12, 42, end, then 46 pad bytes. No option 60.
pub fn linux_discover() -> Vec<u8> {
    let mut out = packet(
        &header(0x6ed9_6918, 0, 0, QEMU_MAC),
        &[
            b"\x35\x01\x01",
            b"\x37\x08\x01\x1c\x02\x03\x0f\x06\x0c\x2a",
            b"\xff",
        ],
    );
    out.resize(300, 0);
    out
}

/// The same Linux client, running on a Raspberry Pi 4 (dhcpcd's vendor
/// class). Built, no capture: shows that a Pi OUI alone is not a boot client.
pub fn pi_linux_discover() -> Vec<u8> {
    packet(
        &header(0x0b7e_11d2, 0, 0, PI4_MAC),
        &[
            b"\x35\x01\x01",
            b"\x3d\x07\x01\xdc\xa6\x32\x27\x76\xbc",
            b"\x3c\x2ddhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:BCM2835",
            b"\x37\x08\x01\x79\x21\x03\x06\x0c\x0f\x1a",
            b"\xff",
        ],
    )
}

/// A Windows DHCPDISCOVER: option 60 `MSFT 5.0`.
///
/// Built from Windows' documented behaviour, no capture: client identifier
/// type 1 with the MAC, requested address, host name, vendor class
/// `MSFT 5.0`, parameter request list.
pub fn windows_discover() -> Vec<u8> {
    let mac = [0x00, 0x15, 0x5d, 0x01, 0x02, 0x03];
    packet(
        &header(0x3903_f326, 0, 0, mac),
        &[
            b"\x35\x01\x01",
            b"\x3d\x07\x01\x00\x15\x5d\x01\x02\x03",
            b"\x32\x04\xc0\xa8\x01\x17",
            b"\x0c\x07DESKTOP",
            b"\x3c\x08MSFT 5.0",
            b"\x37\x0e\x01\x03\x06\x0f\x1f\x21\x2b\x2c\x2e\x2f\x77\x79\xf9\xfc",
            b"\xff",
        ],
    )
}

/// Every golden request, named, for tests that must hold for all of them.
pub fn all_requests() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("pi3 rom", pi3_rom_discover()),
        ("pi4 eeprom", pi4_eeprom_discover()),
        ("pi4 eeprom fourcc", pi4_eeprom_fourcc_discover()),
        ("ipxe bios", ipxe_bios_discover()),
        ("ovmf", ovmf_discover()),
        ("uefi http", uefi_http_discover()),
        ("u-boot", uboot_discover(b"U-Boot.armv8", 22)),
        (
            "u-boot efi",
            uboot_discover(b"PXEClient:Arch:00011:UNDI:003000", 11),
        ),
        ("linux", linux_discover()),
        ("pi linux", pi_linux_discover()),
        ("windows", windows_discover()),
    ]
}
