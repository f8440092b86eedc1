//! Part 3: the replies received, and which of them the firmware takes its
//! address and its boot information from.

use std::net::Ipv4Addr;

use crate::wire::dhcp::pxe::PxeVendorOptions;
use crate::wire::dhcp::{code, DhcpPacket, MessageType};

use super::*;

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
pub(super) fn servers(replies: &[Reply]) -> Vec<Ipv4Addr> {
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
pub fn is_for(machine: &Identity, reply: &DhcpPacket) -> bool {
    reply.op == crate::wire::dhcp::BOOTREPLY
        && reply.xid == machine.xid
        && reply.mac() == Some(machine.mac)
}
