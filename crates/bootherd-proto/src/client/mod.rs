//! Who is asking: tell the boot firmware behind a DHCP request from its
//! options ([`classify`]).
//!
//! The rules, in the order they are tried (PROTOCOLS.md sections 1 to 4):
//!
//! 1. Only a BOOTREQUEST (op 1) with an Ethernet MAC can be a boot client.
//! 2. **iPXE**: option 77 contains `iPXE`. iPXE sends the bare text, without
//!    the RFC 3004 length byte; both forms match.
//! 3. **Raspberry Pi, by option 97**: the EEPROM bootloader of the Pi 4/5
//!    puts the FourCC `RPi4`/`RPi5` after the type byte of option 97
//!    (`DHCP_OPTION97`, raspberrypi/cmprovision#16 shows `00:52:50:69:34`).
//!    The FourCC is accepted at offset 1 or 0 and in either byte order.
//! 4. **Raspberry Pi, by MAC OUI**: a Pi says option 93 = 0 like a BIOS PC,
//!    so the OUI decides. `b8:27:eb` is the Pi 3/3B+/2B v1.2 boot ROM; the
//!    later OUIs are EEPROM bootloaders of unknown model. This needs the Pi's
//!    own signature too: option 60 starting with `PXEClient` and architecture
//!    0 (a Pi 4 running EDK2 UEFI firmware has the same OUI and is a UEFI
//!    client), or, for the EEPROM's REQUEST that lacks option 60
//!    (raspberrypi/rpi-eeprom#82), option 93 = 0 without option 60. A Pi
//!    running Linux (dhcpcd, dhclient) has neither and is not a boot client.
//! 5. **UEFI HTTP boot**: option 60 starts with `HTTPClient`.
//! 6. **U-Boot**: option 60 starts with `U-Boot`.
//! 7. **PXE**: option 60 starts with `PXEClient`. Architecture 21/22
//!    (U-Boot's own) is U-Boot. U-Boot's distro boot also sends
//!    `PXEClient:Arch:00011:UNDI:003000` with option 93 = 11 (arm64; 10 on
//!    arm, 7 on x86: `include/config_distro_bootcmd.h`), but its option 94 is
//!    hard-coded to UNDI 1.0.0 (`net/bootp.c`), which no UEFI firmware that
//!    claims UNDI 3.0 sends: that pair is U-Boot too. Otherwise architecture
//!    0 (or none) is a BIOS PXE ROM, the UEFI architectures 6, 7, 9, 10, 11,
//!    25, 27 are UEFI PXE, and any other architecture is not answered.
//! 8. Anything else (no option 60, `MSFT 5.0`, `android-dhcp-…`,
//!    `dhcpcd-…`) is not a boot client.
//!
//! The architecture is the first entry of option 93, or else the number in a
//! `PXEClient:Arch:NNNNN` / `HTTPClient:Arch:NNNNN` vendor class. For a
//! Raspberry Pi it is what the Pi claims: [`Arch::BiosX86`].

use std::net::Ipv4Addr;

use crate::mac::Mac;
use crate::wire::dhcp::{code, DhcpPacket, MessageType, BOOTREQUEST};

mod rpi_files;

pub use rpi_files::{files_for, firmware_file, start_file, Place, RpiFile};

/// Processor architecture from option 93 (the IANA "Processor Architecture
/// Types" registry, RFC 4578 section 2.1 as corrected by its erratum:
/// 6 is x86 UEFI, 7 x64 UEFI, 9 EBC; PROTOCOLS.md section 4).
///
/// Codes this list does not name are kept as [`Arch::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// 0: x86 BIOS. Raspberry Pi boot ROMs and EEPROMs claim it too.
    BiosX86,
    /// 6: x86 (32-bit) UEFI.
    UefiIa32,
    /// 7: x64 UEFI.
    UefiX64,
    /// 9: EFI byte code.
    UefiEbc,
    /// 10: ARM 32-bit UEFI.
    UefiArm32,
    /// 11: ARM 64-bit UEFI.
    UefiArm64,
    /// 15: x86 UEFI HTTP boot.
    UefiX86Http,
    /// 16: x64 UEFI HTTP boot.
    UefiX64Http,
    /// 18: ARM 32-bit UEFI HTTP boot.
    UefiArm32Http,
    /// 19: ARM 64-bit UEFI HTTP boot.
    UefiArm64Http,
    /// 20: x86 BIOS HTTP boot.
    BiosHttp,
    /// 21: ARM 32-bit U-Boot.
    UBootArm32,
    /// 22: ARM 64-bit U-Boot.
    UBootArm64,
    /// 25: RISC-V 32-bit UEFI.
    UefiRiscV32,
    /// 27: RISC-V 64-bit UEFI.
    UefiRiscV64,
    /// 41: Raspberry Pi rpiboot (seen in DHCPv6 from the Pi EEPROM).
    RpiBoot,
    /// Any other code, kept as sent.
    Unknown(u16),
}

impl Arch {
    /// The code as sent in option 93.
    pub fn code(self) -> u16 {
        match self {
            Arch::BiosX86 => 0,
            Arch::UefiIa32 => 6,
            Arch::UefiX64 => 7,
            Arch::UefiEbc => 9,
            Arch::UefiArm32 => 10,
            Arch::UefiArm64 => 11,
            Arch::UefiX86Http => 15,
            Arch::UefiX64Http => 16,
            Arch::UefiArm32Http => 18,
            Arch::UefiArm64Http => 19,
            Arch::BiosHttp => 20,
            Arch::UBootArm32 => 21,
            Arch::UBootArm64 => 22,
            Arch::UefiRiscV32 => 25,
            Arch::UefiRiscV64 => 27,
            Arch::RpiBoot => 41,
            Arch::Unknown(code) => code,
        }
    }

    /// Whether this is a UEFI PXE architecture (6, 7, 9, 10, 11, 25, 27):
    /// the clients that get their boot file through port 4011.
    pub fn is_uefi_pxe(self) -> bool {
        matches!(
            self,
            Arch::UefiIa32
                | Arch::UefiX64
                | Arch::UefiEbc
                | Arch::UefiArm32
                | Arch::UefiArm64
                | Arch::UefiRiscV32
                | Arch::UefiRiscV64
        )
    }
}

impl From<u16> for Arch {
    fn from(code: u16) -> Arch {
        match code {
            0 => Arch::BiosX86,
            6 => Arch::UefiIa32,
            7 => Arch::UefiX64,
            9 => Arch::UefiEbc,
            10 => Arch::UefiArm32,
            11 => Arch::UefiArm64,
            15 => Arch::UefiX86Http,
            16 => Arch::UefiX64Http,
            18 => Arch::UefiArm32Http,
            19 => Arch::UefiArm64Http,
            20 => Arch::BiosHttp,
            21 => Arch::UBootArm32,
            22 => Arch::UBootArm64,
            25 => Arch::UefiRiscV32,
            27 => Arch::UefiRiscV64,
            41 => Arch::RpiBoot,
            other => Arch::Unknown(other),
        }
    }
}

/// Which Raspberry Pi: the firmware files it asks for, and what an EEPROM
/// bootloader says in option 97. One type for the classifier and the inventory
/// (`model = "pi4"` in a profile, with the `serde` feature).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum RpiModel {
    /// Pi 3B / 3B+ / 2B v1.2 boot ROM: `bootcode.bin` from the root, then `start.elf`.
    Pi3,
    /// Pi 4 / 400 / CM4 EEPROM (FourCC `RPi4`): `start4.elf`, `fixup4.dat`.
    #[default]
    Pi4,
    /// Pi 5 / CM5 EEPROM (FourCC `RPi5`): the firmware is in the EEPROM, no `start*.elf`.
    Pi5,
}

impl RpiModel {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            RpiModel::Pi3 => "pi3",
            RpiModel::Pi4 => "pi4",
            RpiModel::Pi5 => "pi5",
        }
    }
}

/// The boot firmware behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// Raspberry Pi 3B/3B+/2B v1.2 boot ROM (PROTOCOLS.md section 1).
    RpiRom,
    /// Raspberry Pi 4/5 EEPROM bootloader (PROTOCOLS.md section 2).
    /// `None`: known only by its OUI (an old EEPROM, or `DHCP_OPTION97` changed).
    RpiEeprom(Option<RpiModel>),
    /// A BIOS PXE ROM (PROTOCOLS.md section 4).
    BiosPxe,
    /// UEFI PXE firmware (PROTOCOLS.md section 4).
    UefiPxe,
    /// iPXE, as ROM or chainloaded (PROTOCOLS.md section 4).
    Ipxe,
    /// UEFI HTTP boot (PROTOCOLS.md section 4).
    UefiHttp,
    /// U-Boot's DHCP client (PROTOCOLS.md section 3).
    UBoot,
    /// Not a boot client, or one this crate cannot boot: never answered.
    NotBoot,
}

impl Firmware {
    /// A name for log lines.
    pub fn name(&self) -> &'static str {
        match self {
            Firmware::RpiRom => "Raspberry Pi 3 boot ROM",
            Firmware::RpiEeprom(Some(RpiModel::Pi4)) => "Raspberry Pi 4 EEPROM",
            Firmware::RpiEeprom(Some(RpiModel::Pi5)) => "Raspberry Pi 5 EEPROM",
            Firmware::RpiEeprom(Some(RpiModel::Pi3) | None) => "Raspberry Pi EEPROM",
            Firmware::BiosPxe => "BIOS PXE ROM",
            Firmware::UefiPxe => "UEFI PXE",
            Firmware::Ipxe => "iPXE",
            Firmware::UefiHttp => "UEFI HTTP boot",
            Firmware::UBoot => "U-Boot",
            Firmware::NotBoot => "not a boot client",
        }
    }
}

/// What a request says about the client that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Ethernet address from `chaddr`; zeros when the request has no
    /// Ethernet address (`htype` 1, `hlen` 6), which makes it
    /// [`Firmware::NotBoot`].
    pub mac: [u8; 6],
    /// Transaction ID.
    pub xid: u32,
    /// Option 53.
    pub message_type: Option<MessageType>,
    /// The boot firmware, by the rules of the module documentation.
    pub firmware: Firmware,
    /// First architecture of option 93, else the one in the vendor class.
    pub arch: Option<Arch>,
    /// Option 60 as text.
    pub vendor_class: Option<String>,
    /// Option 97 as sent.
    pub uuid: Option<Vec<u8>>,
    /// The relay agent (`giaddr`), if the request was relayed.
    pub relay: Option<Ipv4Addr>,
}

impl Client {
    /// The Raspberry Pi serial in option 97, for an EEPROM bootloader
    /// (PROTOCOLS.md section 2): 17 bytes, a type byte 0, then four 32-bit
    /// little-endian words. By default (`DHCP_OPTION97` = the FourCC) they are
    /// the FourCC, the board revision, the MAC's four low bytes and the
    /// serial; with `DHCP_OPTION97=0` the serial four times. A custom prefix
    /// replaces only the first word, so the serial is always the last one.
    pub fn rpi_serial(&self) -> Option<u32> {
        if !matches!(self.firmware, Firmware::RpiEeprom(_)) {
            return None;
        }
        match self.uuid.as_deref()? {
            [0, words @ ..] if words.len() == 16 => {
                let last: [u8; 4] = words[12..16].try_into().ok()?;
                Some(u32::from_le_bytes(last))
            }
            _ => None,
        }
    }
}

/// The folder a Raspberry Pi 4/5 looks in with `TFTP_PREFIX=0`: its serial as 8
/// lowercase hex digits, e.g. `9ffefdef`.
pub fn rpi_serial_folder(serial: u32) -> String {
    format!("{serial:08x}")
}

/// The folder a Raspberry Pi 4/5 looks in with `TFTP_PREFIX=2`: its MAC with
/// dashes, e.g. `dc-a6-32-01-36-c2` (lowercase, as the bootloader asks).
pub fn rpi_mac_folder(mac: &[u8; 6]) -> String {
    Mac(*mac).dashes()
}

/// MAC OUI of the Raspberry Pi 3B/3B+/2B v1.2, whose boot ROM is
/// [`Firmware::RpiRom`].
const RPI_ROM_OUI: [u8; 3] = [0xb8, 0x27, 0xeb];

/// Later Raspberry Pi OUIs, boards with an EEPROM bootloader
/// (PROTOCOLS.md section 2).
const RPI_EEPROM_OUIS: [[u8; 3]; 5] = [
    [0xdc, 0xa6, 0x32],
    [0xe4, 0x5f, 0x01],
    [0x28, 0xcd, 0xc1],
    [0xd8, 0x3a, 0xdd],
    [0x2c, 0xcf, 0x67],
];

/// Tells the firmware behind `packet`; see the module documentation.
pub fn classify(packet: &DhcpPacket) -> Client {
    let vendor_class = packet.vendor_class();
    let archs = packet.client_archs();
    let arch = archs
        .first()
        .copied()
        .or_else(|| vendor_class.as_deref().and_then(arch_from_class))
        .map(Arch::from);
    let uuid = packet.client_uuid();
    let mac = packet.mac();
    let firmware = match mac {
        Some(mac) if packet.op == BOOTREQUEST => {
            firmware(packet, mac, vendor_class.as_deref(), arch, uuid.as_deref())
        }
        _ => Firmware::NotBoot,
    };
    Client {
        mac: mac.unwrap_or([0; 6]),
        xid: packet.xid,
        message_type: packet.message_type(),
        firmware,
        arch,
        vendor_class,
        uuid,
        relay: (!packet.giaddr.is_unspecified()).then_some(packet.giaddr),
    }
}

fn firmware(
    packet: &DhcpPacket,
    mac: [u8; 6],
    class: Option<&str>,
    arch: Option<Arch>,
    uuid: Option<&[u8]>,
) -> Firmware {
    let starts = |prefix: &str| class.is_some_and(|c| c.starts_with(prefix));

    if packet
        .user_class()
        .is_some_and(|user| contains(&user, b"iPXE"))
    {
        return Firmware::Ipxe;
    }
    if let Some(model) = uuid.and_then(rpi_fourcc) {
        return Firmware::RpiEeprom(Some(model));
    }
    let pi_signature = match class {
        Some(class) => class.starts_with("PXEClient") && matches!(arch, None | Some(Arch::BiosX86)),
        None => arch == Some(Arch::BiosX86),
    };
    if pi_signature {
        let oui = [mac[0], mac[1], mac[2]];
        if oui == RPI_ROM_OUI {
            return Firmware::RpiRom;
        }
        if RPI_EEPROM_OUIS.contains(&oui) {
            return Firmware::RpiEeprom(None);
        }
    }
    if starts("HTTPClient") {
        return Firmware::UefiHttp;
    }
    if starts("U-Boot") {
        return Firmware::UBoot;
    }
    if !starts("PXEClient") {
        return Firmware::NotBoot;
    }
    match arch {
        Some(Arch::UBootArm32 | Arch::UBootArm64) => Firmware::UBoot,
        _ if is_uboot_efi(packet, class) => Firmware::UBoot,
        None | Some(Arch::BiosX86) => Firmware::BiosPxe,
        Some(arch) if arch.is_uefi_pxe() => Firmware::UefiPxe,
        Some(_) => Firmware::NotBoot,
    }
}

/// U-Boot's distro boot claims a UEFI architecture and `UNDI:003000` in
/// option 60 but keeps its hard-coded option 94 of UNDI 1.0.0.
fn is_uboot_efi(packet: &DhcpPacket, class: Option<&str>) -> bool {
    packet.option(code::CLIENT_NDI).as_deref() == Some(&[1, 0, 0][..])
        && class.is_some_and(|c| c.contains(":UNDI:003000"))
}

/// The model named by a `RPi4`/`RPi5` FourCC at the start of option 97
/// (after the type byte, or without it), in either byte order.
fn rpi_fourcc(uuid: &[u8]) -> Option<RpiModel> {
    [1, 0].iter().find_map(|&at| {
        let fourcc = uuid.get(at..at + 4)?;
        match fourcc {
            b"RPi4" | b"4iPR" => Some(RpiModel::Pi4),
            b"RPi5" | b"5iPR" => Some(RpiModel::Pi5),
            _ => None,
        }
    })
}

/// The number after `:Arch:` in a PXE or HTTP vendor class
/// (`PXEClient:Arch:00007:UNDI:003000`, PXE spec 2.1 section 2.2.5).
fn arch_from_class(class: &str) -> Option<u16> {
    let rest = class
        .strip_prefix("PXEClient:Arch:")
        .or_else(|| class.strip_prefix("HTTPClient:Arch:"))?;
    let digits: &str = rest.split(':').next()?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Parses a MAC written `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabbccddeeff`,
/// any case ([`Mac::parse`]).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    Mac::parse(text).map(|m| m.0)
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`, lowercase ([`Mac`]'s `Display`).
pub fn format_mac(mac: &[u8; 6]) -> String {
    Mac(*mac).to_string()
}

#[cfg(test)]
mod tests;
