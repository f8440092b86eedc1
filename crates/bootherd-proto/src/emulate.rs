//! Boot firmware played back: the exact DHCP requests each firmware sends,
//! which replies it accepts, and which files it then asks for, as pure rules
//! for `bootherd probe` (which does the I/O).
//!
//! Everything here follows PROTOCOLS.md; each rule names its source there.
//! The pieces, in the order the shell uses them:
//!
//! 1. [`Emulated`] and [`Machine`]: which firmware, with which MAC, serial
//!    and transaction ID.
//! 2. [`discover`], [`request`], [`pxe_request`]: the firmware's DHCP
//!    packets. [`dhcp_schedule`] says when it sends its DISCOVERs.
//! 3. [`Reply`] and [`choose`]: which of the replies received so far the
//!    firmware takes its address and its boot information from; when the
//!    DISCOVER phase is over without an acceptable set, [`Choice::problem`]
//!    says why in words a person can act on.
//! 4. [`FilePlan`]: the TFTP requests in order. The shell asks
//!    [`FilePlan::next_fetch`], performs the [`Fetch`], reports what happened with
//!    [`FilePlan::record`], and reads [`FilePlan::verdict`] at the end.
//!
//! Two things the shell changes on the wire, because it has no raw sockets
//! (both said in the `probe` help): the IP source of the DHCP packets is the
//! host's address rather than 0.0.0.0, and by default the BOOTP broadcast
//! flag is set so that offers a server would unicast to the offered address
//! still reach the host. The bytes built here are the firmware's own.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::wire::dhcp::pxe::PxeVendorOptions;
use crate::wire::dhcp::{code, DhcpPacket, MessageType, FLAG_BROADCAST};

/// The text the Raspberry Pi ROM and EEPROM look for anywhere in option 43
/// (a substring search: SUSE, RN, ee#376).
pub const RPI_BOOT_MATCH: &[u8] = b"Raspberry Pi Boot";

/// What a Raspberry Pi sends in its TFTP ERROR when it stops a transfer after
/// block 1 to probe a file (raspberrypi/firmware#1700: `00 05 00 00 "Early
/// terminate"`).
pub const EARLY_TERMINATE: &str = "Early terminate";

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
pub struct Machine {
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

impl Machine {
    /// A machine with `mac`, the given serial (Pis only; else derived from
    /// the MAC by [`default_serial`]) and defaults for the rest:
    /// - xid: the Pi 3 ROM's constant 0x26f30339 (fw#871), else the MAC's
    ///   last four bytes, as U-Boot seeds it (`net/bootp.c`); other firmware
    ///   picks its own, any value does;
    /// - uuid: `bootherd` and the MAC, so a server can tell the probe by it;
    /// - board revision: 0x00c03111 (a Pi 4B 4 GB, the example of the
    ///   `DHCP_OPTION97` documentation) or 0x00d04170 (a Pi 5 8 GB).
    pub fn new(kind: Emulated, mac: [u8; 6], serial: Option<u32>) -> Machine {
        let tail = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
        let xid = match kind {
            Emulated::Rpi3 => 0x26f3_0339,
            _ => tail,
        };
        let mut uuid = [0u8; 16];
        uuid[..8].copy_from_slice(b"bootherd");
        uuid[10..].copy_from_slice(&mac);
        Machine {
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

// ---------------------------------------------------------------------------
// DHCP packets

/// Option 60 of the Pi ROM, the Pi EEPROM and BIOS PXE.
const PXE_BIOS_CLASS: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
/// Option 60 of OVMF's x64 PXE, as EDK2 formats it.
const PXE_EFI_CLASS: &[u8] = b"PXEClient:Arch:00007:UNDI:003000";
/// Option 60 of U-Boot on arm64 (`bootp_vci` default, UB `net/bootp.c`).
const UBOOT_CLASS: &[u8] = b"U-Boot.armv8";

/// Option 55 of the Pi 3 ROM, in the order of the fw#859 capture.
const RPI3_PARAMS: &[u8] = &[43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66];
/// Option 55 of the Pi 4 EEPROM (ee#58, ee#69).
const RPI4_PARAMS: &[u8] = &[1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135];
/// Option 55 of an Intel-style BIOS PXE ROM: the 36 codes whose first ten
/// a Supermicro ROM's capture shows (csc/Hanlon#434); the rest completed
/// from the PXE 2.1 list. Built, not captured.
const PXE_BIOS_PARAMS: &[u8] = &[
    1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59,
    60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135,
];
/// Option 55 of OVMF, as in the crate's golden OVMF DISCOVER (a plausible
/// PXE list, not EDK2's verbatim).
const PXE_EFI_PARAMS: &[u8] = &[
    1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66,
    67, 97, 128, 129, 130, 131, 132, 133, 134, 135,
];
/// Option 55 of U-Boot with the usual board config (1, 3, 6, 12, 17).
const UBOOT_PARAMS: &[u8] = &[1, 3, 6, 12, 17];

/// Option 97 of the Pi 3B ROM: type 0, sixteen 0x44 (fw#859). The 3B+ sends
/// a serial-based value instead; this is the 3B.
const RPI3_UUID: [u8; 17] = [
    0, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44,
];

/// Option 97 in the `DHCP_OPTION97` format of the Pi 4/5 EEPROM: type 0,
/// FourCC (`RPi4`/`RPi5`), board revision, the MAC's last four bytes, the
/// serial (PROTOCOLS.md 2; raspberrypi/cmprovision#16 shows `00 52 50 69
/// 34`). The order of the last three on the wire is not documented; they are
/// little-endian here, like the FourCC.
pub fn rpi_option97(machine: &Machine) -> Vec<u8> {
    let fourcc: &[u8; 4] = match machine.kind {
        Emulated::Rpi5 => b"RPi5",
        _ => b"RPi4",
    };
    let mut out = vec![0];
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&machine.board_revision.to_le_bytes());
    out.extend_from_slice(&machine.mac[2..]);
    out.extend_from_slice(&machine.serial.to_le_bytes());
    out
}

fn pxe_uuid(machine: &Machine) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&machine.uuid);
    out
}

fn header(machine: &Machine, flags: u16) -> DhcpPacket {
    let mut packet = DhcpPacket {
        xid: machine.xid,
        flags,
        ..DhcpPacket::default()
    };
    packet.chaddr[..6].copy_from_slice(&machine.mac);
    packet
}

fn push(packet: &mut DhcpPacket, code: u8, data: impl Into<Vec<u8>>) {
    packet
        .options
        .push(crate::wire::dhcp::RawOption::new(code, data));
}

/// The firmware's DHCPDISCOVER, byte for byte as far as the sources go:
///
/// - `rpi3`: the capture of fw#859 (xid 0x26f30339, no broadcast flag,
///   options 53, 55, 93 = 0, 94 = 1.2.1, 97 constant, 60); equal to the
///   crate's golden Pi 3 packet for the same MAC;
/// - `rpi4`/`rpi5`: the options of the ee#58 capture with option 97 in the
///   `DHCP_OPTION97` format (built: no capture of that format was found);
/// - `pxe-bios`: built from the PXE 2.1 spec (57 = 1260, 55 of 36 codes, 97,
///   93 = 0, 94 = 2.1, 60, broadcast flag);
/// - `pxe-efi`: the crate's golden OVMF packet (built from documented
///   fields);
/// - `uboot`: `dhcp_extended` of UB `net/bootp.c` (53, 57 = 576, 93 = 22,
///   94 = 1.0.0, 60 `U-Boot.armv8`, 55), built from source.
pub fn discover(machine: &Machine) -> DhcpPacket {
    build(machine, MessageType::Discover, None)
}

/// The DHCPREQUEST the firmware sends for the address `offer` made; `None`
/// for the Pi 3 ROM, which never sends one (RPI-NET, fw#862).
///
/// - Pi 4/5: like its DISCOVER plus 50 and 54, and without option 60
///   (rpi-eeprom#82 reports the REQUEST lacks it);
/// - PXE: the DISCOVER's options, then 50 and 54 (PXE 2.1 asks the REQUEST
///   to repeat the PXE options);
/// - U-Boot: 53, 57, 54, 50, then the DISCOVER's options (`dhcp_extended`
///   puts the server and requested address right after 57).
pub fn request(machine: &Machine, offer: &DhcpPacket) -> Option<DhcpPacket> {
    if machine.kind == Emulated::Rpi3 {
        return None;
    }
    Some(build(machine, MessageType::Request, Some(offer)))
}

fn build(machine: &Machine, kind: MessageType, offer: Option<&DhcpPacket>) -> DhcpPacket {
    let server_and_address = |packet: &mut DhcpPacket, server_first: bool| {
        let Some(offer) = offer else { return };
        let server = offer.server_id().unwrap_or(Ipv4Addr::UNSPECIFIED);
        if server_first {
            push(packet, code::SERVER_ID, server.octets());
            push(packet, code::REQUESTED_IP, offer.yiaddr.octets());
        } else {
            push(packet, code::REQUESTED_IP, offer.yiaddr.octets());
            push(packet, code::SERVER_ID, server.octets());
        }
    };
    let message = [kind.code()];
    match machine.kind {
        Emulated::Rpi3 => {
            let mut p = header(machine, 0);
            push(&mut p, code::MESSAGE_TYPE, message);
            push(&mut p, code::PARAMETER_REQUEST_LIST, RPI3_PARAMS);
            push(&mut p, code::CLIENT_ARCH, [0, 0]);
            push(&mut p, code::CLIENT_NDI, [1, 2, 1]);
            push(&mut p, code::CLIENT_UUID, RPI3_UUID);
            push(&mut p, code::VENDOR_CLASS, PXE_BIOS_CLASS);
            p
        }
        Emulated::Rpi4 | Emulated::Rpi5 => {
            let mut p = header(machine, 0);
            push(&mut p, code::MESSAGE_TYPE, message);
            server_and_address(&mut p, false);
            push(&mut p, code::PARAMETER_REQUEST_LIST, RPI4_PARAMS);
            push(&mut p, code::CLIENT_ARCH, [0, 0]);
            push(&mut p, code::CLIENT_NDI, [1, 2, 1]);
            push(&mut p, code::CLIENT_UUID, rpi_option97(machine));
            if kind == MessageType::Discover {
                push(&mut p, code::VENDOR_CLASS, PXE_BIOS_CLASS);
            }
            p
        }
        Emulated::PxeBios => {
            let mut p = header(machine, FLAG_BROADCAST);
            push(&mut p, code::MESSAGE_TYPE, message);
            push(&mut p, code::PARAMETER_REQUEST_LIST, PXE_BIOS_PARAMS);
            push(&mut p, code::MAX_MESSAGE_SIZE, 1260u16.to_be_bytes());
            push(&mut p, code::CLIENT_UUID, pxe_uuid(machine));
            push(&mut p, code::CLIENT_ARCH, [0, 0]);
            push(&mut p, code::CLIENT_NDI, [1, 2, 1]);
            push(&mut p, code::VENDOR_CLASS, PXE_BIOS_CLASS);
            server_and_address(&mut p, false);
            p
        }
        Emulated::PxeEfi => {
            let mut p = header(machine, FLAG_BROADCAST);
            push(&mut p, code::MESSAGE_TYPE, message);
            push(&mut p, code::MAX_MESSAGE_SIZE, 1472u16.to_be_bytes());
            push(&mut p, code::PARAMETER_REQUEST_LIST, PXE_EFI_PARAMS);
            push(&mut p, code::CLIENT_UUID, pxe_uuid(machine));
            push(&mut p, code::CLIENT_NDI, [1, 3, 0]);
            push(&mut p, code::CLIENT_ARCH, [0, 7]);
            push(&mut p, code::VENDOR_CLASS, PXE_EFI_CLASS);
            server_and_address(&mut p, false);
            p
        }
        Emulated::UBoot => {
            let mut p = header(machine, 0);
            push(&mut p, code::MESSAGE_TYPE, message);
            push(&mut p, code::MAX_MESSAGE_SIZE, 576u16.to_be_bytes());
            server_and_address(&mut p, true);
            push(&mut p, code::CLIENT_ARCH, [0, 22]);
            push(&mut p, code::CLIENT_NDI, [1, 0, 0]);
            push(&mut p, code::VENDOR_CLASS, UBOOT_CLASS);
            push(&mut p, code::PARAMETER_REQUEST_LIST, UBOOT_PARAMS);
            p
        }
    }
}

/// The datagram the firmware sends for `packet`. U-Boot sends its BOOTP
/// header and options only, without padding to 300 bytes (`bootp_request`
/// in UB `net/bootp.c` sizes the packet to the options written); the others
/// send at least the 300-byte BOOTP minimum.
pub fn wire_bytes(machine: &Machine, packet: &DhcpPacket) -> Vec<u8> {
    let mut out = packet.emit();
    if machine.kind == Emulated::UBoot {
        let options: usize = packet
            .options
            .iter()
            .map(|o| 2 * o.data.len().div_ceil(255).max(1) + o.data.len())
            .sum();
        out.truncate(240 + options + 1);
    }
    out
}

/// The REQUEST a PXE client sends to a proxy's port 4011 when the proxy
/// offer named no boot file (PXE 2.1; PIXIE; DNSMASQ since 2.76): the
/// DISCOVER's options with message type REQUEST, from `ciaddr` (the address
/// the client has by then), and option 43 naming boot item type 0 layer 0
/// (iPXE sends sub-option 71 like this, ipxe/ipxe#1374).
pub fn pxe_request(machine: &Machine, ciaddr: Ipv4Addr) -> DhcpPacket {
    let mut p = build(machine, MessageType::Request, None);
    p.ciaddr = ciaddr;
    let item = PxeVendorOptions {
        boot_item: Some((0, 0)),
        ..PxeVendorOptions::default()
    };
    push(&mut p, code::VENDOR_SPECIFIC, item.emit());
    p
}

/// When the firmware sends its DISCOVERs: offsets from the first, and the
/// time after which it gives up. `timeout` shortens (or lengthens) the whole
/// schedule; a shorter one keeps the number of retries and scales the gaps.
///
/// - Pi 3 ROM: 5 tries, 5 s apart (RPI-NET);
/// - Pi 4/5: one every `DHCP_REQ_TIMEOUT` (4 s) until `DHCP_TIMEOUT` (45 s)
///   (RPI-EEPROM defaults);
/// - PXE: after 4, 8, 16, 32 s (PXE 2.1's backoff), giving up at 60 s;
/// - U-Boot: 17 BOOTP broadcasts (seen in the lab, LAB.md), 2 s apart once
///   the backoff reaches its 2 s cap (UB `net/bootp.c`).
pub fn dhcp_schedule(kind: Emulated, timeout: Option<Duration>) -> (Vec<Duration>, Duration) {
    let secs = Duration::from_secs;
    let (sends, total): (Vec<Duration>, Duration) = match kind {
        Emulated::Rpi3 => ((0..5).map(|i| secs(5 * i)).collect(), secs(25)),
        Emulated::Rpi4 | Emulated::Rpi5 => ((0..12).map(|i| secs(4 * i)).collect(), secs(45)),
        Emulated::PxeBios | Emulated::PxeEfi => {
            (vec![secs(0), secs(4), secs(12), secs(28)], secs(60))
        }
        Emulated::UBoot => ((0..17).map(|i| secs(2 * i)).collect(), secs(34)),
    };
    match timeout {
        Some(limit) if limit < total && !limit.is_zero() => {
            let scale = limit.as_secs_f64() / total.as_secs_f64();
            let sends = sends.iter().map(|s| s.mul_f64(scale)).collect();
            (sends, limit)
        }
        Some(limit) if limit > total => (sends, limit),
        _ => (sends, total),
    }
}

// ---------------------------------------------------------------------------
// Replies and the firmware's choice

/// One DHCP reply as received: its IP source address and the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// IP source address of the datagram; the Raspberry Pi takes its TFTP
    /// server from it (PROTOCOLS.md 1, 2).
    pub source: Ipv4Addr,
    /// The reply.
    pub packet: DhcpPacket,
}

impl Reply {
    /// Whether it offers an address (`yiaddr` not 0.0.0.0).
    pub fn offers_address(&self) -> bool {
        !self.packet.yiaddr.is_unspecified()
    }

    /// Whether option 43 contains `Raspberry Pi Boot`.
    pub fn has_rpi_boot(&self) -> bool {
        self.packet
            .option(code::VENDOR_SPECIFIC)
            .is_some_and(|data| contains(&data, RPI_BOOT_MATCH))
    }

    /// Whether option 43 holds the three spaces after `Raspberry Pi Boot`
    /// that the original Pi 3B needs (RPI-NET).
    pub fn has_rpi_boot_spaces(&self) -> bool {
        self.packet
            .option(code::VENDOR_SPECIFIC)
            .is_some_and(|data| contains(&data, b"Raspberry Pi Boot   "))
    }

    /// Whether option 60 says `PXEClient`: a PXE server's reply.
    pub fn is_pxe(&self) -> bool {
        self.packet
            .vendor_class()
            .is_some_and(|c| c.starts_with("PXEClient"))
    }

    /// The boot file: option 67, else the `file` field.
    pub fn boot_file(&self) -> Option<String> {
        let from_option = self
            .packet
            .option(code::BOOTFILE_NAME)
            .map(|d| until_nul(&d))
            .filter(|f| !f.is_empty());
        from_option.or_else(|| Some(self.packet.file_name()).filter(|f| !f.is_empty()))
    }

    /// Option 66 when it holds a dotted IPv4 address (the Pi 4 EEPROM parses
    /// it so, ee#72).
    pub fn tftp_server_option(&self) -> Option<Ipv4Addr> {
        let data = self.packet.option(code::TFTP_SERVER_NAME)?;
        until_nul(&data).trim().parse().ok()
    }

    /// `siaddr`, when set.
    pub fn next_server(&self) -> Option<Ipv4Addr> {
        Some(self.packet.siaddr).filter(|a| !a.is_unspecified())
    }

    /// One line for people: who offered what, leaving out what `firmware`
    /// ignores (a Pi reads neither `siaddr` nor the boot file fields).
    pub fn describe(&self, firmware: Emulated) -> String {
        let kind = match self.packet.message_type() {
            Some(MessageType::Offer) => "offer",
            Some(MessageType::Ack) => "ack",
            Some(MessageType::Nak) => "nak",
            Some(_) => "reply",
            None => "BOOTP reply",
        };
        let mut parts = Vec::new();
        if self.offers_address() {
            parts.push(format!("address {}", self.packet.yiaddr));
        } else if kind != "nak" {
            parts.push("proxy".to_string());
        }
        let rpi = firmware.is_rpi();
        let mut boot = Vec::new();
        if self.has_rpi_boot() {
            boot.push("option 43 has \"Raspberry Pi Boot\"".to_string());
        } else if let Some(data) = self.packet.option(code::VENDOR_SPECIFIC) {
            let pxe = PxeVendorOptions::parse(&data);
            match (pxe.discovery_control, pxe.boot_item) {
                (Some(control), _) => {
                    boot.push(format!("PXE option 43 (discovery control {control})"))
                }
                (None, Some((item, layer))) => {
                    boot.push(format!("PXE option 43 (boot item {item}, layer {layer})"))
                }
                (None, None) => boot.push(format!("option 43 of {} bytes", data.len())),
            }
        }
        if !rpi {
            if let Some(file) = self.boot_file() {
                boot.push(format!("boot file {file}"));
            }
            if let Some(server) = self.next_server() {
                boot.push(format!("next server {server}"));
            }
            if self.is_pxe() && self.boot_file().is_none() {
                boot.push("PXEClient, no boot file".to_string());
            }
        }
        // The Pi 4/5 EEPROM reads option 66 (ee#72); the Pi 3 ROM does not
        // reliably (fw#871), but it is worth seeing.
        if let Some(data) = self.packet.option(code::TFTP_SERVER_NAME) {
            boot.push(format!("option 66 {:?}", until_nul(&data)));
        }
        if boot.is_empty() {
            parts.push("no boot options".into());
        } else {
            parts.extend(boot);
        }
        format!("{kind} from {}: {}", self.source, parts.join(", "))
    }
}

/// Which replies the firmware takes, so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// Which firmware chose.
    pub kind: Emulated,
    /// The offer whose address it takes (and REQUESTs, except the Pi 3 ROM).
    pub address: Option<usize>,
    /// The reply its boot information comes from.
    pub boot: Option<usize>,
    /// How many replies were considered.
    pub replies: usize,
}

/// Where a PXE or U-Boot firmware gets its boot file from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootTarget {
    /// A Raspberry Pi: TFTP from this server, files by name.
    RpiTftp(Ipv4Addr),
    /// Fetch this file by TFTP from this server.
    Tftp {
        /// TFTP server.
        server: Ipv4Addr,
        /// Boot file, if the reply named one (U-Boot boots without one).
        file: Option<String>,
    },
    /// Ask this proxy on port 4011 for the file (UEFI, PXE 2.1).
    AskPort4011(Ipv4Addr),
}

impl Choice {
    /// Whether the firmware stops listening and moves on: it has what it
    /// needs (both an address and boot information; for U-Boot any offer
    /// with an address, since the first one wins).
    pub fn is_final(&self) -> bool {
        match self.kind {
            Emulated::UBoot => self.address.is_some(),
            _ => self.address.is_some() && self.boot.is_some(),
        }
    }

    /// Why the firmware would not boot with these replies once it gives up
    /// listening, or `None` if [`is_final`](Self::is_final).
    pub fn problem(&self, replies: &[Reply]) -> Option<Problem> {
        if self.is_final() {
            return None;
        }
        if replies.is_empty() {
            return Some(Problem::NoReply { kind: self.kind });
        }
        let servers = servers(replies);
        Some(match self.kind {
            Emulated::UBoot => Problem::UBootProxyOnly { servers },
            _ if self.boot.is_none() && self.kind.is_rpi() => Problem::NoRpiBoot { servers },
            _ if self.boot.is_none() => Problem::NoBootFile { servers },
            _ => Problem::NoAddress {
                kind: self.kind,
                servers,
            },
        })
    }

    /// Where the boot files come from, once [`is_final`](Self::is_final):
    ///
    /// - Pi 3 ROM: the IP source of the `Raspberry Pi Boot` reply; siaddr,
    ///   option 54 and option 66 are ignored (fw#801, fw#871);
    /// - Pi 4/5: option 66 of that reply when it is a dotted address
    ///   (ee#72), else its IP source, which wins over siaddr (ee#376);
    /// - PXE: the boot reply's file from its `siaddr` (option 54 when siaddr
    ///   is 0); a PXE reply without a file sends the client to port 4011;
    /// - U-Boot: `siaddr` of the offer (`serverip`, UB `net/bootp.c`); the
    ///   ACK's siaddr replaces it, see [`uboot_target`].
    pub fn target(&self, replies: &[Reply]) -> Option<BootTarget> {
        let boot = &replies[self.boot?];
        Some(match self.kind {
            Emulated::Rpi3 => BootTarget::RpiTftp(boot.source),
            Emulated::Rpi4 | Emulated::Rpi5 => {
                BootTarget::RpiTftp(boot.tftp_server_option().unwrap_or(boot.source))
            }
            Emulated::PxeBios | Emulated::PxeEfi => {
                let server = boot
                    .next_server()
                    .or_else(|| boot.packet.server_id())
                    .unwrap_or(boot.source);
                match boot.boot_file() {
                    Some(file) => BootTarget::Tftp {
                        server,
                        file: Some(file),
                    },
                    None => BootTarget::AskPort4011(boot.packet.server_id().unwrap_or(server)),
                }
            }
            Emulated::UBoot => BootTarget::Tftp {
                server: boot.packet.siaddr,
                file: boot.boot_file(),
            },
        })
    }
}

/// The distinct sources of `replies`, in order.
fn servers(replies: &[Reply]) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for reply in replies {
        if !out.contains(&reply.source) {
            out.push(reply.source);
        }
    }
    out
}

/// Which of `replies` (OFFERs to this machine's DISCOVER, in arrival order)
/// the firmware takes:
///
/// - **Pi 3 ROM**: boot information from the first reply whose option 43
///   contains `Raspberry Pi Boot` (SUSE), its own address from the first
///   offer with a non-zero `yiaddr`; no REQUEST (RPI-NET).
/// - **Pi 4/5 EEPROM**: the same two, then a REQUEST for the address offer
///   (ee#58, ee#182).
/// - **PXE**: address from the first offer with one; boot information from
///   the first offer naming a boot file, else from the first `PXEClient`
///   reply without one, which sends UEFI and BIOS clients to port 4011
///   (PXE 2.1, PIXIE).
/// - **U-Boot**: offers with `yiaddr` 0 are dropped; the first other offer
///   wins for both (UB `net/bootp.c`).
pub fn choose(kind: Emulated, replies: &[Reply]) -> Choice {
    let offers = || {
        replies
            .iter()
            .enumerate()
            .filter(|(_, r)| r.packet.message_type() == Some(MessageType::Offer))
    };
    let address = offers().find(|(_, r)| r.offers_address()).map(|(i, _)| i);
    let boot = match kind {
        Emulated::Rpi3 | Emulated::Rpi4 | Emulated::Rpi5 => {
            offers().find(|(_, r)| r.has_rpi_boot()).map(|(i, _)| i)
        }
        Emulated::PxeBios | Emulated::PxeEfi => offers()
            .find(|(_, r)| r.boot_file().is_some() && (r.offers_address() || r.is_pxe()))
            .or_else(|| offers().find(|(_, r)| r.is_pxe() && !r.offers_address()))
            .map(|(i, _)| i),
        Emulated::UBoot => address,
    };
    Choice {
        kind,
        address,
        boot,
        replies: replies.len(),
    }
}

/// U-Boot's TFTP server and boot file after the ACK: the ACK's `siaddr` and
/// file when set, else the offer's (`bootp_copy_net_params` runs on both).
/// `Err` when neither has a `siaddr`: U-Boot has no `serverip` to fetch from.
pub fn uboot_target(offer: &Reply, ack: &Reply) -> Result<(Ipv4Addr, Option<String>), Problem> {
    let server = ack.next_server().or_else(|| offer.next_server());
    let file = ack.boot_file().or_else(|| offer.boot_file());
    match server {
        Some(server) => Ok((server, file)),
        None => Err(Problem::NoNextServer {
            server: offer.source,
        }),
    }
}

/// Whether `reply` answers this machine: a BOOTREPLY with its xid and MAC.
pub fn is_for(machine: &Machine, reply: &DhcpPacket) -> bool {
    reply.op == crate::wire::dhcp::BOOTREPLY
        && reply.xid == machine.xid
        && reply.mac() == Some(machine.mac)
}

// ---------------------------------------------------------------------------
// Problems

/// The first thing that stops the firmware, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nobody answered the DISCOVERs.
    NoReply {
        /// The firmware.
        kind: Emulated,
    },
    /// Replies came, none with `Raspberry Pi Boot` in option 43.
    NoRpiBoot {
        /// Who replied.
        servers: Vec<Ipv4Addr>,
    },
    /// Boot information came, but nobody offered an address.
    NoAddress {
        /// The firmware.
        kind: Emulated,
        /// Who replied.
        servers: Vec<Ipv4Addr>,
    },
    /// PXE: no reply named a boot file or pointed to a PXE server.
    NoBootFile {
        /// Who replied.
        servers: Vec<Ipv4Addr>,
    },
    /// U-Boot: only offers without an address came.
    UBootProxyOnly {
        /// Who sent them.
        servers: Vec<Ipv4Addr>,
    },
    /// U-Boot: the DHCP server gave no `siaddr`.
    NoNextServer {
        /// The DHCP server.
        server: Ipv4Addr,
    },
    /// The DHCP server did not ACK the REQUEST.
    NoAck {
        /// The DHCP server asked.
        server: Ipv4Addr,
        /// It answered with a NAK.
        nak: bool,
    },
    /// No ACK from the proxy on port 4011, or one without a boot file.
    NoPxeAck {
        /// The proxy asked.
        server: Ipv4Addr,
    },
    /// A file the firmware cannot do without was not found.
    Missing {
        /// TFTP server.
        server: Ipv4Addr,
        /// File name, without the directory.
        file: String,
        /// The directory it was looked for in (`e1ffda08/`), empty for the
        /// root.
        dir: String,
        /// Also looked for at the root after the serial directory failed.
        fell_back: Option<String>,
        /// What would have named another file (`config.txt` has no
        /// `kernel=`, ...).
        hint: Option<String>,
    },
    /// U-Boot's `pxe get` found no configuration file.
    NoPxeConfig {
        /// TFTP server.
        server: Ipv4Addr,
        /// Every name tried, in order.
        tried: Vec<String>,
    },
    /// A transfer failed in a way other than "not found".
    Transfer {
        /// TFTP server.
        server: Ipv4Addr,
        /// Path asked for.
        path: String,
        /// What went wrong.
        error: String,
    },
}

fn list(servers: &[Ipv4Addr]) -> String {
    servers
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoReply { kind } => write!(
                f,
                "no DHCP server answered the {kind}'s DISCOVER: check that this interface is on the \
                 boot network and that a DHCP server (and bootherd --proxy) serves it"
            ),
            Problem::NoRpiBoot { servers } => write!(
                f,
                "offer had no \"Raspberry Pi Boot\" in option 43 (offers from {}): run bootherd \
                 serve --proxy on this network, or make the DHCP server send that PXE menu text",
                list(servers)
            ),
            Problem::NoAddress { kind, servers } => {
                let what = match kind {
                    Emulated::Rpi3 => "the Pi 3 ROM",
                    Emulated::Rpi4 | Emulated::Rpi5 => "the Pi",
                    _ => "the PXE client",
                };
                write!(
                    f,
                    "no DHCP server offered an address (only proxy offers with yiaddr 0 arrived, \
                     from {}): {what} needs the LAN's DHCP server to offer it one",
                    list(servers)
                )
            }
            Problem::NoBootFile { servers } => write!(
                f,
                "no offer named a boot file or came from a PXE server (offers from {}): run \
                 bootherd serve --proxy on this network, or set next-server and filename on the \
                 DHCP server",
                list(servers)
            ),
            Problem::UBootProxyOnly { servers } => write!(
                f,
                "U-Boot drops offers without an address: only proxy offers (yiaddr 0) arrived \
                 (from {}); use the DHCP-server mode or a U-Boot with a fixed serverip",
                list(servers)
            ),
            Problem::NoNextServer { server } => write!(
                f,
                "the DHCP server {server} gave no next-server (siaddr 0), so U-Boot has no TFTP \
                 server: set next-server on it"
            ),
            Problem::NoAck { server, nak } => {
                let how = if *nak { "refused (NAK)" } else { "did not answer" };
                write!(f, "the DHCP server {server} {how} the REQUEST for the address it offered")
            }
            Problem::NoPxeAck { server } => write!(
                f,
                "the PXE server {server} did not answer the boot-file REQUEST on port 4011 with a \
                 boot file"
            ),
            Problem::Missing {
                server,
                file,
                dir,
                fell_back,
                hint,
            } => {
                match (dir.is_empty(), fell_back) {
                    (true, Some(serial)) => write!(
                        f,
                        "{file} not found under {serial} nor at the TFTP root of {server}"
                    )?,
                    (true, None) => write!(f, "{file} not found at the TFTP root of {server}")?,
                    (false, _) => write!(
                        f,
                        "{file} not found under {dir} on {server} (the firmware found its start \
                         file there, so it looks for every file in that directory)"
                    )?,
                }
                if let Some(hint) = hint {
                    write!(f, "; {hint}")?;
                }
                Ok(())
            }
            Problem::NoPxeConfig { server, tried } => write!(
                f,
                "pxe get found no configuration file on {server} (tried {}): add \
                 pxelinux.cfg/default",
                tried.join(", ")
            ),
            Problem::Transfer {
                server,
                path,
                error,
            } => write!(f, "TFTP transfer of {path} from {server} failed: {error}"),
        }
    }
}

// ---------------------------------------------------------------------------
// TFTP file plan

/// How much of a file the firmware reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The whole file.
    Whole,
    /// Block 1 only, then an ERROR "Early terminate": the Pi's way of asking
    /// whether a file exists (RPI-NET, fw#1700).
    Probe,
}

/// Whether the boot stops without the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The firmware stops without it.
    Required,
    /// Used when present.
    Optional,
    /// Normally absent (`bootsig.bin`); found or not is no news.
    NormallyAbsent,
}

/// One TFTP read request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// TFTP server.
    pub server: Ipv4Addr,
    /// Path exactly as the firmware sends it.
    pub path: String,
    /// RRQ options in the firmware's order.
    pub options: Vec<(String, String)>,
    /// Whole file or block 1.
    pub read: Read,
    /// What a miss means.
    pub need: Need,
}

/// What a [`Fetch`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The file exists: its size (`tsize` or the bytes read) and, for a
    /// whole read, its contents.
    Found {
        /// Size in bytes, when known.
        size: Option<u64>,
        /// Contents, for whole reads.
        data: Option<Vec<u8>>,
    },
    /// ERROR 1 (file not found).
    NotFound,
    /// Any other error or a timeout.
    Failed(String),
}

/// The settings of `config.txt` that change which files the firmware asks
/// for. Sections (`[pi4]`, `[all]`, ...) are honoured for the model filters
/// and `[all]`/`[none]`; other filters cannot be judged here and are taken to
/// apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigTxt {
    /// `kernel=`.
    pub kernel: Option<String>,
    /// `device_tree=`.
    pub device_tree: Option<String>,
    /// `arm_64bit=1`.
    pub arm_64bit: bool,
}

impl ConfigTxt {
    /// Reads the settings for `kind` from `config.txt`'s bytes.
    pub fn parse(kind: Emulated, text: &[u8]) -> ConfigTxt {
        let model = match kind {
            Emulated::Rpi3 => "pi3",
            Emulated::Rpi4 => "pi4",
            Emulated::Rpi5 => "pi5",
            _ => "",
        };
        let mut out = ConfigTxt::default();
        let mut applies = true;
        for line in String::from_utf8_lossy(text).lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(filter) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let filter = filter.trim().to_ascii_lowercase();
                applies = match filter.as_str() {
                    "all" => true,
                    "none" => false,
                    f if f.starts_with("pi") || f.starts_with("cm") => {
                        f == model || (model == "pi3" && f == "pi3+")
                    }
                    _ => true,
                };
                continue;
            }
            if !applies {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().to_string();
            match key.trim() {
                "kernel" if !value.is_empty() => out.kernel = Some(value),
                "device_tree" if !value.is_empty() => out.device_tree = Some(value),
                "arm_64bit" => out.arm_64bit = value == "1",
                _ => {}
            }
        }
        out
    }
}

/// The Pi's RRQ options after the ROM stage: `tsize 0` only (fw#1041, the
/// Pi 3's `bootcode.bin`), or `tsize 0 blksize 1024` (the Pi 4 EEPROM,
/// PROTOCOLS.md 2; assumed the same on the Pi 5).
fn rpi_options(kind: Emulated) -> Vec<(String, String)> {
    let mut options = vec![("tsize".to_string(), "0".to_string())];
    if kind != Emulated::Rpi3 {
        options.push(("blksize".to_string(), "1024".to_string()));
    }
    options
}

/// Where the plan is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// The i-th step of the firmware's list.
    Step(usize),
    /// Trying the i-th of several names for one file (kernels, pxelinux
    /// configs).
    Candidates(usize, usize),
    /// Nothing more to ask.
    Done,
}

/// One line of the plan's log: what was asked and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The request.
    pub fetch: Fetch,
    /// Its result.
    pub result: Fetched,
    /// A remark on what it means (`using prefix e1ffda08/`).
    pub note: Option<String>,
}

/// The firmware's TFTP requests, in order, as results come in (sans-IO).
///
/// The lists, with what a miss means (R = required: the boot stops; O =
/// optional; P = a probe that reads block 1 only):
///
/// **Pi 3** (PROTOCOLS.md 1: fw#1041, fw#1292, fw#935's log): the ROM's
/// `bootcode.bin` (R, no options, 512-byte blocks), `bootsig.bin` (normally
/// absent), then `bootcode.bin`'s requests with `tsize 0`:
/// `<serial>/start.elf` (P; found = every later name gets the prefix),
/// `autoboot.txt` (O), `config.txt` (O, read for `kernel=`,
/// `device_tree=`, `arm_64bit=`), `recovery.elf` (P, O), `start.elf` (R),
/// `fixup.dat` (R: it must match start.elf, and the firmware loads the
/// pair), `dt-blob.bin` (O), `bootcfg.txt` (O), `cmdline.txt` (O), the
/// kernel (R: `kernel=`, else `kernel8.img` with `arm_64bit=1`, else
/// `kernel7.img`, the 32-bit default of Raspberry Pi OS on a Pi 3), the
/// device tree (R: `device_tree=`, else `bcm2710-rpi-3-b.dtb`; the firmware
/// would start a kernel without one, with ATAGs, but no current kernel
/// boots that way). `recovery7.img`, `armstub7.bin` and overlays are not
/// asked.
///
/// **Pi 4** (PROTOCOLS.md 2, fw#1012's log): `<serial>/start4.elf` (P), and
/// `<serial>/start.elf` (P) when that failed (the prefix is dropped when
/// neither is found), `config.txt` (O), `start4.elf` (R), `fixup4.dat` (R),
/// the device tree (R: `device_tree=`, else `bcm2711-rpi-4-b.dtb`),
/// `cmdline.txt` (O), the kernel (R: `kernel=`, else `kernel8.img`). Every
/// RRQ carries `tsize 0 blksize 1024`. Recovery and EEPROM-update files are
/// not asked.
///
/// **Pi 5** (PROTOCOLS.md 2; the Tinkerbell notes in `route_rpi.go`): no
/// `start*.elf`, the firmware is in the EEPROM. `<serial>/config.txt` (P;
/// found = the prefix stays, an assumption: the Pi 5's rule is not
/// documented), then `<serial>//config.txt` with the doubled slash the Pi 5
/// was seen to send and act on (O; `config.txt` at the root without the
/// prefix), the kernel (R: `kernel=`, else `kernel_2712.img`, else
/// `kernel8.img`), `bcm2712-rpi-5-b.dtb` (R), `cmdline.txt` (O).
///
/// **PXE**: the boot file (R), `tsize 0 blksize 1456` for BIOS (typical of
/// PXE ROMs, built) and `blksize 1468` for UEFI (OVMF in the lab also asked
/// `windowsize 4`, which this lock-step client leaves out).
///
/// **U-Boot** (`pxe get`, UB `cmd/pxe.c`, the lab's U-Boot): option 209's
/// file alone when the ACK has it, else `pxelinux.cfg/01-<mac>`, the IP as 8
/// uppercase hex digits shortened one digit at a time, `default-arm`,
/// `default`, each relative to the boot file's directory; the first found
/// ends the list (R: one must exist). RRQs carry `timeout 5 blksize 1468`
/// (UB `net/tftp.c`).
#[derive(Debug, Clone)]
pub struct FilePlan {
    machine: Machine,
    server: Ipv4Addr,
    stage: Stage,
    /// The serial directory, with its slash, once found there.
    prefix: String,
    /// The serial directory that was probed and not found (messages).
    fell_back: Option<String>,
    config: ConfigTxt,
    /// U-Boot: its address (`pxe get` names a file after it), boot file
    /// directory, option 209.
    uboot_ip: Ipv4Addr,
    uboot_dir: String,
    uboot_config_file: Option<String>,
    /// PXE: the boot file.
    pxe_file: String,
    log: Vec<Logged>,
    problem: Option<Problem>,
    found_config: bool,
}

impl FilePlan {
    /// The plan of a Raspberry Pi fetching from `server`.
    pub fn rpi(machine: &Machine, server: Ipv4Addr) -> FilePlan {
        FilePlan::new(machine, server)
    }

    /// The plan of a PXE client fetching `file` from `server`.
    pub fn pxe(machine: &Machine, server: Ipv4Addr, file: &str) -> FilePlan {
        let mut plan = FilePlan::new(machine, server);
        plan.pxe_file = file.to_string();
        plan
    }

    /// The plan of U-Boot's `pxe get`: its address `ip`, the boot file (whose
    /// directory the names are relative to) and option 209, if the ACK had
    /// them.
    pub fn uboot(
        machine: &Machine,
        server: Ipv4Addr,
        ip: Ipv4Addr,
        bootfile: Option<&str>,
        config_file: Option<&str>,
    ) -> FilePlan {
        let mut plan = FilePlan::new(machine, server);
        plan.uboot_ip = ip;
        plan.uboot_dir = bootfile
            .and_then(|f| f.rfind('/').map(|at| f[..=at].to_string()))
            .unwrap_or_default();
        plan.uboot_config_file = config_file.map(str::to_string);
        plan
    }

    fn new(machine: &Machine, server: Ipv4Addr) -> FilePlan {
        FilePlan {
            machine: machine.clone(),
            server,
            stage: Stage::Step(0),
            prefix: String::new(),
            fell_back: None,
            config: ConfigTxt::default(),
            uboot_ip: Ipv4Addr::UNSPECIFIED,
            uboot_dir: String::new(),
            uboot_config_file: None,
            pxe_file: String::new(),
            log: Vec::new(),
            problem: None,
            found_config: false,
        }
    }

    /// The serial directory in use (`e1ffda08/`), empty for the root.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What was asked and found so far.
    pub fn log(&self) -> &[Logged] {
        &self.log
    }

    /// The settings read from `config.txt`.
    pub fn config(&self) -> &ConfigTxt {
        &self.config
    }

    /// `Ok` when the firmware got every file it needs, else the first
    /// problem. Meaningful once [`next_fetch`](Self::next_fetch) returned `None`.
    pub fn verdict(&self) -> Result<(), Problem> {
        match &self.problem {
            Some(problem) => Err(problem.clone()),
            None => Ok(()),
        }
    }

    fn fetch(&self, path: String, options: Vec<(String, String)>, read: Read, need: Need) -> Fetch {
        Fetch {
            server: self.server,
            path,
            options,
            read,
            need,
        }
    }

    /// A file under the prefix with the Pi's options.
    fn rpi_file(&self, name: &str, read: Read, need: Need) -> Fetch {
        self.fetch(
            format!("{}{name}", self.prefix),
            rpi_options(self.machine.kind),
            read,
            need,
        )
    }

    /// Kernel names to try, in order, and what would have changed them.
    fn kernels(&self) -> Vec<String> {
        if let Some(kernel) = &self.config.kernel {
            return vec![kernel.clone()];
        }
        match self.machine.kind {
            Emulated::Rpi3 if self.config.arm_64bit => vec!["kernel8.img".into()],
            Emulated::Rpi3 => vec!["kernel7.img".into()],
            Emulated::Rpi4 => vec!["kernel8.img".into()],
            _ => vec!["kernel_2712.img".into(), "kernel8.img".into()],
        }
    }

    fn kernel_hint(&self) -> String {
        match (&self.config.kernel, self.machine.kind) {
            (Some(_), _) => "config.txt names it with kernel=".into(),
            (None, Emulated::Rpi3) if self.config.arm_64bit => {
                "arm_64bit=1 in config.txt selects kernel8.img; kernel= names another".into()
            }
            (None, Emulated::Rpi3) => {
                "config.txt has no kernel= (arm_64bit=1 would select kernel8.img)".into()
            }
            (None, _) => "config.txt has no kernel= naming another".into(),
        }
    }

    fn dtb(&self) -> String {
        if let Some(dtb) = &self.config.device_tree {
            return dtb.clone();
        }
        match self.machine.kind {
            Emulated::Rpi3 => "bcm2710-rpi-3-b.dtb",
            Emulated::Rpi4 => "bcm2711-rpi-4-b.dtb",
            _ => "bcm2712-rpi-5-b.dtb",
        }
        .into()
    }

    /// U-Boot's `pxe get` names, in order.
    fn pxe_configs(&self) -> Vec<String> {
        if let Some(file) = &self.uboot_config_file {
            return vec![file.clone()];
        }
        let dir = format!("{}pxelinux.cfg/", self.uboot_dir);
        let m = self.machine.mac;
        let mut names = vec![format!(
            "{dir}01-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )];
        let hex = format!("{:08X}", u32::from(self.uboot_ip));
        for len in (1..=8).rev() {
            names.push(format!("{dir}{}", &hex[..len]));
        }
        names.push(format!("{dir}default-arm"));
        names.push(format!("{dir}default"));
        names
    }

    /// The step list of the firmware; `None` past the end.
    fn step(&self, i: usize) -> Option<StepKind> {
        use Need::*;
        use Read::*;
        let kind = self.machine.kind;
        let serial = self.machine.prefix_dir();
        let s = |f: Fetch| Some(StepKind::One(f));
        match kind {
            Emulated::Rpi3 => match i {
                0 => s(self.fetch("bootcode.bin".into(), vec![], Whole, Required)),
                1 => s(self.fetch("bootsig.bin".into(), vec![], Whole, NormallyAbsent)),
                2 => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/start.elf"),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                3 => s(self.rpi_file("autoboot.txt", Whole, Optional)),
                4 => s(self.rpi_file("config.txt", Whole, Optional)),
                5 => s(self.rpi_file("recovery.elf", Probe, Optional)),
                6 => s(self.rpi_file("start.elf", Whole, Required)),
                7 => s(self.rpi_file("fixup.dat", Whole, Required)),
                8 => s(self.rpi_file("dt-blob.bin", Whole, Optional)),
                9 => s(self.rpi_file("bootcfg.txt", Whole, Optional)),
                10 => s(self.rpi_file("cmdline.txt", Whole, Optional)),
                11 => Some(StepKind::Kernel),
                12 => s(self.rpi_file(&self.dtb(), Whole, Required)),
                _ => None,
            },
            Emulated::Rpi4 => match i {
                0 => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/start4.elf"),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                1 if self.prefix.is_empty() => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/start.elf"),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                1 => Some(StepKind::Skip),
                2 => s(self.rpi_file("config.txt", Whole, Optional)),
                3 => s(self.rpi_file("start4.elf", Whole, Required)),
                4 => s(self.rpi_file("fixup4.dat", Whole, Required)),
                5 => s(self.rpi_file(&self.dtb(), Whole, Required)),
                6 => s(self.rpi_file("cmdline.txt", Whole, Optional)),
                7 => Some(StepKind::Kernel),
                _ => None,
            },
            Emulated::Rpi5 => match i {
                0 => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/config.txt"),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                1 if self.prefix.is_empty() => s(self.rpi_file("config.txt", Whole, Optional)),
                1 => s(self.fetch(
                    format!("{serial}//config.txt"),
                    rpi_options(kind),
                    Whole,
                    Optional,
                )),
                2 => Some(StepKind::Kernel),
                3 => s(self.rpi_file(&self.dtb(), Whole, Required)),
                4 => s(self.rpi_file("cmdline.txt", Whole, Optional)),
                _ => None,
            },
            Emulated::PxeBios | Emulated::PxeEfi => match i {
                0 => {
                    let options: &[(&str, &str)] = if kind == Emulated::PxeBios {
                        &[("tsize", "0"), ("blksize", "1456")]
                    } else {
                        &[("blksize", "1468")]
                    };
                    s(self.fetch(
                        self.pxe_file.clone(),
                        options
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        Whole,
                        Required,
                    ))
                }
                _ => None,
            },
            Emulated::UBoot => match i {
                0 => Some(StepKind::PxeConfig),
                _ => None,
            },
        }
    }

    fn candidates(&self, i: usize) -> Vec<Fetch> {
        match self.step(i) {
            Some(StepKind::Kernel) => self
                .kernels()
                .iter()
                .map(|k| self.rpi_file(k, Read::Whole, Need::Required))
                .collect(),
            Some(StepKind::PxeConfig) => self
                .pxe_configs()
                .into_iter()
                .map(|name| {
                    self.fetch(
                        name,
                        vec![
                            ("timeout".into(), "5".into()),
                            ("blksize".into(), "1468".into()),
                        ],
                        Read::Whole,
                        Need::Optional,
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The next request, or `None` when the firmware is done (booted, or
    /// stopped at a problem: see [`verdict`](Self::verdict)).
    pub fn next_fetch(&mut self) -> Option<Fetch> {
        loop {
            match self.stage.clone() {
                Stage::Done => return None,
                Stage::Step(i) => match self.step(i) {
                    None => {
                        self.stage = Stage::Done;
                        return None;
                    }
                    Some(StepKind::Skip) => self.stage = Stage::Step(i + 1),
                    Some(StepKind::One(f)) | Some(StepKind::PrefixProbe(f)) => return Some(f),
                    Some(StepKind::Kernel) | Some(StepKind::PxeConfig) => {
                        self.stage = Stage::Candidates(i, 0)
                    }
                },
                Stage::Candidates(i, j) => match self.candidates(i).into_iter().nth(j) {
                    Some(f) => return Some(f),
                    None => self.stage = Stage::Step(i + 1),
                },
            }
        }
    }

    /// Records the result of the request [`next_fetch`](Self::next_fetch) returned and
    /// moves the plan on. Returns a remark for people, if the result means
    /// something beyond itself (`using prefix e1ffda08/`).
    pub fn record(&mut self, fetch: &Fetch, result: Fetched) -> Option<String> {
        let found = matches!(result, Fetched::Found { .. });
        let mut note = None;
        match self.stage.clone() {
            Stage::Done => {}
            Stage::Step(i) => {
                let step = self.step(i);
                if let Some(StepKind::PrefixProbe(_)) = step {
                    let serial = format!("{}/", self.machine.prefix_dir());
                    if found {
                        self.prefix = serial.clone();
                        self.fell_back = None;
                        note = Some(format!("every later request uses {serial}"));
                    } else if self.machine.kind != Emulated::Rpi4 || i == 1 {
                        self.fell_back = Some(serial.clone());
                        note = Some(format!("not under {serial}: the firmware uses the root"));
                    }
                }
                if let Fetched::Found {
                    data: Some(data), ..
                } = &result
                {
                    if fetch.path.ends_with("config.txt") && self.machine.kind.is_rpi() {
                        self.config = ConfigTxt::parse(self.machine.kind, data);
                        let c = &self.config;
                        let mut said = Vec::new();
                        if let Some(k) = &c.kernel {
                            said.push(format!("kernel={k}"));
                        }
                        if let Some(d) = &c.device_tree {
                            said.push(format!("device_tree={d}"));
                        }
                        if c.arm_64bit {
                            said.push("arm_64bit=1".into());
                        }
                        if !said.is_empty() {
                            note = Some(format!("config.txt sets {}", said.join(" ")));
                        }
                    }
                }
                if fetch.path.ends_with("recovery.elf") && found {
                    note = Some(
                        "recovery.elf exists: the firmware would run it instead of start.elf"
                            .into(),
                    );
                }
                match (&result, fetch.need) {
                    // A server that fails a transfer (a timeout, an error
                    // other than "not found") stalls the firmware whatever
                    // the file.
                    (Fetched::Failed(error), _) => {
                        self.stop(Problem::Transfer {
                            server: self.server,
                            path: fetch.path.clone(),
                            error: error.clone(),
                        });
                    }
                    (Fetched::NotFound, Need::Required) => {
                        let file = fetch.path.rsplit('/').next().unwrap_or(&fetch.path);
                        let hint = self.missing_hint(file);
                        // Only the start file was looked for under the
                        // serial directory.
                        let probed = matches!(file, "start.elf" | "start4.elf");
                        self.stop(Problem::Missing {
                            server: self.server,
                            file: file.to_string(),
                            dir: self.prefix.clone(),
                            fell_back: self.fell_back.clone().filter(|_| probed),
                            hint,
                        });
                    }
                    _ => self.stage = Stage::Step(i + 1),
                }
            }
            Stage::Candidates(i, j) => {
                let all = self.candidates(i);
                let uboot = self.machine.kind == Emulated::UBoot;
                if found {
                    if uboot {
                        self.found_config = true;
                        note = Some("pxe get takes this file".into());
                        self.stage = Stage::Done;
                    } else {
                        self.stage = Stage::Step(i + 1);
                    }
                } else if let Fetched::Failed(error) = &result {
                    self.stop(Problem::Transfer {
                        server: self.server,
                        path: fetch.path.clone(),
                        error: error.clone(),
                    });
                } else if j + 1 < all.len() {
                    self.stage = Stage::Candidates(i, j + 1);
                } else if uboot {
                    self.stop(Problem::NoPxeConfig {
                        server: self.server,
                        tried: all.into_iter().map(|f| f.path).collect(),
                    });
                } else {
                    let names: Vec<String> = self.kernels();
                    let file = names.join(" nor ");
                    self.stop(Problem::Missing {
                        server: self.server,
                        file,
                        dir: self.prefix.clone(),
                        fell_back: None,
                        hint: Some(self.kernel_hint()),
                    });
                }
            }
        }
        self.log.push(Logged {
            fetch: fetch.clone(),
            result,
            note: note.clone(),
        });
        note
    }

    fn missing_hint(&self, file: &str) -> Option<String> {
        if Some(file) == Some(self.dtb().as_str()) {
            return Some(match self.config.device_tree {
                Some(_) => "config.txt names it with device_tree=".into(),
                None => "copy the board's .dtb from the firmware's boot files".into(),
            });
        }
        match file {
            "bootcode.bin" => Some("the Pi 3 ROM always fetches it from the TFTP root".into()),
            "start.elf" | "fixup.dat" | "start4.elf" | "fixup4.dat" => {
                Some("copy it from the Raspberry Pi firmware's boot files".into())
            }
            _ => None,
        }
    }

    fn stop(&mut self, problem: Problem) {
        self.problem = Some(problem);
        self.stage = Stage::Done;
    }
}

/// What one step of a firmware's list is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StepKind {
    /// One request.
    One(Fetch),
    /// A probe under the serial directory that decides the prefix.
    PrefixProbe(Fetch),
    /// Nothing at this step this time.
    Skip,
    /// The kernel: one or more names, the first found wins.
    Kernel,
    /// U-Boot's `pxe get` list.
    PxeConfig,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn until_nul(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests;
