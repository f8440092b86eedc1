//! Part 1: which firmware is played, and the identity it runs with (MAC, serial,
//! transaction ID, the Pi's TFTP prefix).

use std::fmt;

/// A boot firmware `bootherd probe` can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emulated {
    /// Raspberry Pi 3B boot ROM, then `bootcode.bin` (PROTOCOLS.md 1).
    Rpi3,
    /// Raspberry Pi 4 EEPROM bootloader, then `start4.elf` (PROTOCOLS.md 2).
    Rpi4,
    /// Raspberry Pi 5 EEPROM bootloader (PROTOCOLS.md 2).
    Rpi5,
    /// A BIOS PXE ROM, architecture 0 (PROTOCOLS.md 4).
    PxeBios,
    /// x64 UEFI PXE (OVMF), architecture 7 (PROTOCOLS.md 4).
    PxeEfi,
    /// U-Boot on arm64, `dhcp` then `pxe get` (PROTOCOLS.md 3).
    UBoot,
}

impl Emulated {
    /// Every firmware, in the order of the command's help.
    pub const ALL: [Emulated; 6] = [
        Emulated::Rpi3,
        Emulated::Rpi4,
        Emulated::Rpi5,
        Emulated::PxeBios,
        Emulated::PxeEfi,
        Emulated::UBoot,
    ];

    /// The name on the command line (`--as`).
    pub fn id(self) -> &'static str {
        match self {
            Emulated::Rpi3 => "rpi3",
            Emulated::Rpi4 => "rpi4",
            Emulated::Rpi5 => "rpi5",
            Emulated::PxeBios => "pxe-bios",
            Emulated::PxeEfi => "pxe-efi",
            Emulated::UBoot => "uboot",
        }
    }

    /// The name for people.
    pub fn name(self) -> &'static str {
        match self {
            Emulated::Rpi3 => "Raspberry Pi 3 boot ROM",
            Emulated::Rpi4 => "Raspberry Pi 4 EEPROM",
            Emulated::Rpi5 => "Raspberry Pi 5 EEPROM",
            Emulated::PxeBios => "BIOS PXE ROM",
            Emulated::PxeEfi => "x64 UEFI PXE",
            Emulated::UBoot => "U-Boot (arm64)",
        }
    }

    /// The firmware named `id` on the command line.
    pub fn from_id(id: &str) -> Option<Emulated> {
        Emulated::ALL.into_iter().find(|e| e.id() == id)
    }

    /// Whether this is a Raspberry Pi, which has a serial number that names
    /// its TFTP directory.
    pub fn is_rpi(self) -> bool {
        matches!(self, Emulated::Rpi3 | Emulated::Rpi4 | Emulated::Rpi5)
    }

    /// The Raspberry Pi model played, if this is a Pi.
    pub fn rpi_model(self) -> Option<crate::client::RpiModel> {
        use crate::client::RpiModel;
        match self {
            Emulated::Rpi3 => Some(RpiModel::Pi3),
            Emulated::Rpi4 => Some(RpiModel::Pi4),
            Emulated::Rpi5 => Some(RpiModel::Pi5),
            Emulated::PxeBios | Emulated::PxeEfi | Emulated::UBoot => None,
        }
    }

    /// The first three bytes of a plausible MAC: the Raspberry Pi OUIs of
    /// PROTOCOLS.md 2 (b8:27:eb on the Pi 3, dc:a6:32 on the Pi 4, 2c:cf:67
    /// on the Pi 5), QEMU's 52:54:00 for the others.
    pub fn oui(self) -> [u8; 3] {
        match self {
            Emulated::Rpi3 => [0xb8, 0x27, 0xeb],
            Emulated::Rpi4 => [0xdc, 0xa6, 0x32],
            Emulated::Rpi5 => [0x2c, 0xcf, 0x67],
            Emulated::PxeBios | Emulated::PxeEfi | Emulated::UBoot => [0x52, 0x54, 0x00],
        }
    }
}

impl fmt::Display for Emulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The identity the firmware runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Which firmware.
    pub kind: Emulated,
    /// Ethernet address, sent in `chaddr`.
    pub mac: [u8; 6],
    /// Serial number; its last 8 hex digits name a Pi's TFTP directory.
    pub serial: u32,
    /// Transaction ID of every DHCP packet.
    pub xid: u32,
    /// SMBIOS UUID, sent in option 97 by PXE firmware.
    pub uuid: [u8; 16],
    /// Board revision code in a Pi 4/5's option 97.
    pub board_revision: u32,
    /// Which folder a Pi 4/5 looks in first (its `TFTP_PREFIX`).
    pub tftp_prefix: TftpPrefix,
}

/// A Pi 4/5's `TFTP_PREFIX` (PROTOCOLS.md 2): the folder it tries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TftpPrefix {
    /// 0, the default: the serial, `9ffefdef/`.
    #[default]
    Serial,
    /// 2: the MAC with dashes, `dc-a6-32-01-36-c2/`.
    Mac,
}

impl Identity {
    /// A machine with `mac`, the given serial (Pis only; else derived from
    /// the MAC by [`default_serial`]) and defaults for the rest:
    /// - xid: the Pi 3 ROM's constant 0x26f30339 (fw#871), else the MAC's
    ///   last four bytes, as U-Boot seeds it (`net/bootp.c`); other firmware
    ///   picks its own, any value does;
    /// - uuid: `bootherd` and the MAC, so a server can tell the probe by it;
    /// - board revision: 0x00c03111 (a Pi 4B 4 GB, the example of the
    ///   `DHCP_OPTION97` documentation) or 0x00d04170 (a Pi 5 8 GB).
    pub fn new(kind: Emulated, mac: [u8; 6], serial: Option<u32>) -> Identity {
        let tail = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
        let xid = match kind {
            Emulated::Rpi3 => 0x26f3_0339,
            _ => tail,
        };
        let mut uuid = [0u8; 16];
        uuid[..8].copy_from_slice(b"bootherd");
        uuid[10..].copy_from_slice(&mac);
        Identity {
            kind,
            mac,
            serial: serial.unwrap_or_else(|| default_serial(mac)),
            xid,
            uuid,
            board_revision: match kind {
                Emulated::Rpi5 => 0x00d0_4170,
                _ => 0x00c0_3111,
            },
            tftp_prefix: TftpPrefix::Serial,
        }
    }

    /// The folder a Pi 4/5 tries first, without its slash: the serial or, with
    /// [`TftpPrefix::Mac`], the MAC with dashes. The Pi 3 ROM always uses the serial.
    pub fn prefix_dir(&self) -> String {
        match (self.kind, self.tftp_prefix) {
            (Emulated::Rpi4 | Emulated::Rpi5, TftpPrefix::Mac) => {
                crate::client::rpi_mac_folder(&self.mac)
            }
            _ => self.serial_dir(),
        }
    }

    /// The serial as a Pi names its TFTP directory: 8 lowercase hex digits.
    pub fn serial_dir(&self) -> String {
        format!("{:08x}", self.serial)
    }
}

/// A plausible MAC for `kind`: its OUI, then `tail` (the shell passes the
/// last three bytes of the host interface's own MAC, so two hosts probing
/// one network do not collide).
pub fn default_mac(kind: Emulated, tail: [u8; 3]) -> [u8; 6] {
    let [a, b, c] = kind.oui();
    [a, b, c, tail[0], tail[1], tail[2]]
}

/// The serial a Pi with `mac` would plausibly have: on a Pi 3 the MAC's last
/// three bytes are the serial's low 24 bits (RPI-NET); the top byte cannot be
/// known and is 0.
pub fn default_serial(mac: [u8; 6]) -> u32 {
    u32::from_be_bytes([0, mac[3], mac[4], mac[5]])
}

/// MACs on the command line are read as everywhere else in bootherd.
pub use crate::client::parse_mac;

/// Parses a serial as the Pi prints it: up to 8 hex digits (a 16-digit
/// serial from `/proc/cpuinfo` is accepted; its last 8 digits count).
pub fn parse_serial(text: &str) -> Option<u32> {
    let text = text.trim().trim_start_matches("0x");
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tail = &text[text.len().saturating_sub(8)..];
    u32::from_str_radix(tail, 16).ok()
}
