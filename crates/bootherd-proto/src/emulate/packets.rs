//! Part 2: the firmware's own DHCP packets, byte for byte, and when it sends them.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::wire::dhcp::pxe::PxeVendorOptions;
use crate::wire::dhcp::{code, DhcpPacket, MessageType, FLAG_BROADCAST};

use super::*;

/// Option 60 of the Pi ROM, the Pi EEPROM and BIOS PXE.
pub(super) const PXE_BIOS_CLASS: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
/// Option 60 of OVMF's x64 PXE, as EDK2 formats it.
pub(super) const PXE_EFI_CLASS: &[u8] = b"PXEClient:Arch:00007:UNDI:003000";
/// Option 60 of U-Boot on arm64 (`bootp_vci` default, UB `net/bootp.c`).
pub(super) const UBOOT_CLASS: &[u8] = b"U-Boot.armv8";

/// Option 55 of the Pi 3 ROM, in the order of the fw#859 capture.
pub(super) const RPI3_PARAMS: &[u8] = &[43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66];
/// Option 55 of the Pi 4 EEPROM (ee#58, ee#69).
pub(super) const RPI4_PARAMS: &[u8] =
    &[1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135];
/// Option 55 of an Intel-style BIOS PXE ROM: the 36 codes whose first ten
/// a Supermicro ROM's capture shows (csc/Hanlon#434); the rest completed
/// from the PXE 2.1 list. Built, not captured.
pub(super) const PXE_BIOS_PARAMS: &[u8] = &[
    1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59,
    60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135,
];
/// Option 55 of OVMF, as in the crate's golden OVMF DISCOVER (a plausible
/// PXE list, not EDK2's verbatim).
pub(super) const PXE_EFI_PARAMS: &[u8] = &[
    1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66,
    67, 97, 128, 129, 130, 131, 132, 133, 134, 135,
];
/// Option 55 of U-Boot with the usual board config (1, 3, 6, 12, 17).
pub(super) const UBOOT_PARAMS: &[u8] = &[1, 3, 6, 12, 17];

/// Option 97 of the Pi 3B ROM: type 0, sixteen 0x44 (fw#859). The 3B+ sends
/// a serial-based value instead; this is the 3B.
pub(super) const RPI3_UUID: [u8; 17] = [
    0, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44,
];

/// Option 97 in the `DHCP_OPTION97` format of the Pi 4/5 EEPROM: type 0,
/// FourCC (`RPi4`/`RPi5`), board revision, the MAC's last four bytes, the
/// serial (PROTOCOLS.md 2; raspberrypi/cmprovision#16 shows `00 52 50 69
/// 34`). The order of the last three on the wire is not documented; they are
/// little-endian here, like the FourCC.
pub fn rpi_option97(machine: &Identity) -> Vec<u8> {
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

pub(super) fn pxe_uuid(machine: &Identity) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&machine.uuid);
    out
}

pub(super) fn header(machine: &Identity, flags: u16) -> DhcpPacket {
    let mut packet = DhcpPacket {
        xid: machine.xid,
        flags,
        ..DhcpPacket::default()
    };
    packet.chaddr[..6].copy_from_slice(&machine.mac);
    packet
}

pub(super) fn push(packet: &mut DhcpPacket, code: u8, data: impl Into<Vec<u8>>) {
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
pub fn discover(machine: &Identity) -> DhcpPacket {
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
pub fn request(machine: &Identity, offer: &DhcpPacket) -> Option<DhcpPacket> {
    if machine.kind == Emulated::Rpi3 {
        return None;
    }
    Some(build(machine, MessageType::Request, Some(offer)))
}

pub(super) fn build(
    machine: &Identity,
    kind: MessageType,
    offer: Option<&DhcpPacket>,
) -> DhcpPacket {
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
pub fn wire_bytes(machine: &Identity, packet: &DhcpPacket) -> Vec<u8> {
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
pub fn pxe_request(machine: &Identity, ciaddr: Ipv4Addr) -> DhcpPacket {
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
