//! proxyDHCP replies, built by pure functions: the offer that answers a boot
//! client's DISCOVER on port 67 ([`proxy_offer`]) and the ACK that answers
//! its REQUEST on port 4011 or an INFORM ([`proxy_ack`]).
//!
//! Every reply, whatever the answer (PROTOCOLS.md section 4, PIXIE, DNSMASQ):
//! - op 2, the request's `xid`, `chaddr`, `htype`, `hlen`, `giaddr`;
//! - `yiaddr` **always** 0.0.0.0: a proxy never hands out addresses (that is
//!   how EDK2 and the PXE spec recognise a proxy offer, and why the LAN's own
//!   DHCP server is never contradicted);
//! - `siaddr` = the server address;
//! - options in the order dnsmasq sends them to Raspberry Pis
//!   (raspberrypi/firmware#941, ipxe/ipxe#1374): 53 first, 54 = the server,
//!   60 `PXEClient` (`HTTPClient` for UEFI HTTP boot), 97 echoed verbatim when
//!   the request had it, then 43, then 67;
//! - offers set the broadcast flag; ACKs keep the request's flags and
//!   `ciaddr` (RFC 2131 section 4.3.1, table 3).
//!
//! Options are never padded with pad bytes, and the Raspberry Pi replies are
//! longer than the 300-byte BOOTP minimum, so they carry no padding at all
//! (an early Pi 4 EEPROM ignored replies with pad bytes, raspberrypi/rpi-eeprom#82).
//!
//! The source address matters as much as the bytes: the Raspberry Pi takes
//! its TFTP server from the IP source of the reply (PROTOCOLS.md sections 1
//! and 2), so the shell must send from the address that serves TFTP;
//! [`reply_destination`] says where to.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::wire::dhcp::pxe::{self, PxeVendorOptions};
use crate::wire::dhcp::{code, DhcpPacket, MessageType, CLIENT_PORT, FLAG_BROADCAST, SERVER_PORT};

/// The boot menu text the Raspberry Pi ROM and EEPROM look for in option 43
/// (a substring search, openSUSE/netboot-rpi3b). The three trailing spaces
/// work around the original 3B's length bug (PROTOCOLS.md section 1,
/// RPI-NET).
pub const RPI_BOOT_MENU: &[u8] = b"Raspberry Pi Boot   ";

/// What to tell a boot client; chosen by the policy, turned into bytes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyAnswer {
    /// Raspberry Pi ROM or EEPROM: option 43 as dnsmasq sends it
    /// (`06 01 03 | 0a 04 00 'PXE' | 09 17 00 00 14 "Raspberry Pi Boot   " | ff`),
    /// no boot file (the Pi asks for its files by name).
    RaspberryPi,
    /// BIOS PXE: option 43 `06 01 08 ff` (download the boot file, no
    /// discovery), the file in `file` and option 67, `sname` = the server's
    /// dotted quad (PIXIE).
    PxeDirect {
        /// TFTP path of the network boot program.
        file: String,
    },
    /// UEFI PXE: the offer has neither option 43 nor a boot file, so the
    /// client asks again on port 4011; the ACK to that request carries the
    /// file (PIXIE, DNSMASQ since 2.76).
    PxeVia4011 {
        /// TFTP path of the boot file, sent in the 4011 ACK.
        file: String,
    },
    /// iPXE: the HTTP URL of its script in `file` and option 67, so it does
    /// not chainload itself again.
    Ipxe {
        /// Script URL.
        url: String,
    },
    /// UEFI HTTP boot: option 60 `HTTPClient` and the URI in option 67 and
    /// `file` (EDK2 `HttpBootDhcp4.c` rejects an HTTP offer without a URI; in
    /// proxy mode the URI must name the server by IP).
    HttpBoot {
        /// Boot URI.
        uri: String,
    },
}

/// Where to send a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To the relay agent, `giaddr`:67.
    Relay(SocketAddrV4),
    /// To 255.255.255.255:68, out of the interface the request came in on.
    Broadcast,
    /// To one address.
    Unicast(SocketAddrV4),
}

/// The proxy offer answering a DISCOVER on port 67.
pub fn proxy_offer(request: &DhcpPacket, server: Ipv4Addr, answer: &ProxyAnswer) -> DhcpPacket {
    let mut reply = DhcpPacket::new_reply(request);
    reply.flags |= FLAG_BROADCAST;
    fill(&mut reply, request, server, answer, MessageType::Offer);
    reply
}

/// The proxy ACK answering a REQUEST on port 4011 (or an INFORM): like the
/// offer, and it always carries the boot file. When the request names a PXE
/// boot item (option 43, sub-option 71, as iPXE sends it in
/// ipxe/ipxe#1374), the ACK echoes it, as the PXE spec's boot server ACK
/// does.
pub fn proxy_ack(request: &DhcpPacket, server: Ipv4Addr, answer: &ProxyAnswer) -> DhcpPacket {
    let mut reply = DhcpPacket::new_reply(request);
    reply.ciaddr = request.ciaddr;
    fill(&mut reply, request, server, answer, MessageType::Ack);
    reply
}

/// Where the reply to `request`, received from `source`, goes:
/// 1. `giaddr` set: the relay agent, `giaddr`:67 (RFC 2131 section 4.1);
/// 2. anything but a DISCOVER from a source with an address (a REQUEST or
///    INFORM on port 4011, a client with a lease): back to that source
///    address and port, as pixiecore and dnsmasq answer on port 4011 (iPXE
///    sends those from port 68 with the broadcast flag set, ipxe/ipxe#1374);
///    on port 67 this is RFC 2131's unicast to `ciaddr`:68;
/// 3. `ciaddr` set and no broadcast flag: `ciaddr`:68;
/// 4. otherwise broadcast, since a proxy has no `yiaddr` to unicast to.
pub fn reply_destination(request: &DhcpPacket, source: SocketAddrV4) -> Destination {
    if !request.giaddr.is_unspecified() {
        return Destination::Relay(SocketAddrV4::new(request.giaddr, SERVER_PORT));
    }
    let discover = request.message_type() == Some(MessageType::Discover);
    if !discover && !source.ip().is_unspecified() && source.port() != 0 {
        return Destination::Unicast(source);
    }
    if !request.ciaddr.is_unspecified() && request.flags & FLAG_BROADCAST == 0 {
        return Destination::Unicast(SocketAddrV4::new(request.ciaddr, CLIENT_PORT));
    }
    Destination::Broadcast
}

/// Option 43 for the Raspberry Pi, byte for byte what dnsmasq sends for
/// `pxe-service=0,"Raspberry Pi Boot"` (PROTOCOLS.md section 1, DNSMASQ
/// `pxe_opts`) with [`RPI_BOOT_MENU`]'s three spaces: discovery control 3,
/// menu prompt (0, `PXE`), boot menu item type 0, end. dnsmasq's order
/// (6, 10, 9) is kept rather than [`PxeVendorOptions::emit`]'s ascending
/// one: it is the order every working Pi setup has seen.
pub fn raspberry_pi_vendor_options() -> Vec<u8> {
    let text = RPI_BOOT_MENU.len() as u8;
    let mut out = vec![
        pxe::code::DISCOVERY_CONTROL,
        1,
        pxe::discovery::NO_BROADCAST | pxe::discovery::NO_MULTICAST,
        pxe::code::MENU_PROMPT,
        4,
        0,
        b'P',
        b'X',
        b'E',
        pxe::code::BOOT_MENU,
        3 + text,
        0,
        0,
        text,
    ];
    out.extend_from_slice(RPI_BOOT_MENU);
    out.push(pxe::code::END);
    out
}

/// Writes the options and boot fields shared by offers and ACKs.
fn fill(
    reply: &mut DhcpPacket,
    request: &DhcpPacket,
    server: Ipv4Addr,
    answer: &ProxyAnswer,
    kind: MessageType,
) {
    let ack = kind == MessageType::Ack;
    reply.yiaddr = Ipv4Addr::UNSPECIFIED;
    reply.siaddr = server;
    reply.set_option(code::MESSAGE_TYPE, [kind.code()]);
    reply.set_option(code::SERVER_ID, server.octets());
    let class: &[u8] = match answer {
        ProxyAnswer::HttpBoot { .. } => b"HTTPClient",
        _ => b"PXEClient",
    };
    reply.set_option(code::VENDOR_CLASS, class);
    if let Some(uuid) = request.option(code::CLIENT_UUID) {
        reply.set_option(code::CLIENT_UUID, uuid.into_owned());
    }

    // The boot item a 4011 REQUEST names, echoed in the ACK.
    let boot_item = if ack {
        request
            .option(code::VENDOR_SPECIFIC)
            .and_then(|data| PxeVendorOptions::parse(&data).boot_item)
    } else {
        None
    };
    let vendor = match answer {
        ProxyAnswer::RaspberryPi => Some(raspberry_pi_vendor_options()),
        ProxyAnswer::PxeDirect { .. } => Some(
            PxeVendorOptions {
                discovery_control: Some(pxe::discovery::BOOT_FILE_DIRECT),
                boot_item,
                ..PxeVendorOptions::default()
            }
            .emit(),
        ),
        ProxyAnswer::PxeVia4011 { .. } | ProxyAnswer::Ipxe { .. } => boot_item.map(|item| {
            PxeVendorOptions {
                boot_item: Some(item),
                ..PxeVendorOptions::default()
            }
            .emit()
        }),
        ProxyAnswer::HttpBoot { .. } => None,
    };
    if let Some(vendor) = vendor {
        reply.set_option(code::VENDOR_SPECIFIC, vendor);
    }

    let (file, sname) = match answer {
        ProxyAnswer::RaspberryPi => (None, false),
        ProxyAnswer::PxeDirect { file } => (Some(file), true),
        ProxyAnswer::PxeVia4011 { file } => (ack.then_some(file), ack),
        ProxyAnswer::Ipxe { url } => (Some(url), false),
        ProxyAnswer::HttpBoot { uri } => (Some(uri), false),
    };
    if sname {
        // A dotted quad always fits the 64-byte field.
        let _ = reply.set_sname(&server.to_string());
    }
    if let Some(file) = file {
        // A name longer than the 127 bytes `file` holds (a long URL) goes
        // in option 67 only; EDK2 and iPXE read option 67 first.
        let _ = reply.set_file(file);
        reply.set_option(code::BOOTFILE_NAME, file.as_bytes());
    }
}

#[cfg(test)]
mod tests;
