//! The firmware's DHCP conversation on port 68, up to the point where it knows
//! where its files are.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use bootherd_proto::emulate::{self, BootTarget, Emulated, FilePlan, Identity, Problem, Reply};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, FLAG_BROADCAST, PXE_PORT, SERVER_PORT};

use crate::net::PacketSocket;

use super::*;

/// The DHCP side: one socket on port 68 and the firmware's identity.
pub(super) struct Dhcp<'a> {
    pub(super) socket: &'a PacketSocket,
    pub(super) link: &'a Link,
    pub(super) machine: &'a Identity,
    pub(super) exact: bool,
}

impl Dhcp<'_> {
    /// Sends `packet` as the firmware would (broadcast to port 67), with the
    /// broadcast flag added unless `--exact`.
    pub(super) async fn broadcast(&self, packet: &DhcpPacket) -> Result<(), ProbeError> {
        let mut packet = packet.clone();
        if !self.exact {
            packet.flags |= FLAG_BROADCAST;
        }
        let bytes = emulate::wire_bytes(self.machine, &packet);
        let dest = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);
        self.socket
            .send(&bytes, dest, self.link.index, self.link.addr)
            .await
            .map_err(io_err("sending a DHCP broadcast"))
    }

    /// Receives one reply for this machine until `deadline`; `None` at the
    /// deadline. Datagrams from other interfaces, other clients and non-DHCP
    /// traffic are skipped.
    pub(super) async fn receive(&self, deadline: Instant) -> Result<Option<Reply>, ProbeError> {
        let mut buf = vec![0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let rx = match tokio::time::timeout(left, self.socket.recv(&mut buf)).await {
                Err(_) => return Ok(None),
                Ok(Err(err)) => {
                    tracing::debug!(%err, "probe: receive error");
                    continue;
                }
                Ok(Ok(rx)) => rx,
            };
            // A reply from another interface is not from the boot network.
            if rx.ifindex != self.link.index {
                continue;
            }
            let Ok(packet) = DhcpPacket::parse(&buf[..rx.len]) else {
                continue;
            };
            if !emulate::is_for(self.machine, &packet) {
                continue;
            }
            return Ok(Some(Reply {
                source: *rx.source.ip(),
                packet,
            }));
        }
    }

    /// Sends a REQUEST for `offer` and waits for its ACK or NAK.
    pub(super) async fn request(
        &self,
        offer: &Reply,
        timeout: Duration,
    ) -> Result<Option<Reply>, ProbeError> {
        let Some(request) = emulate::request(self.machine, &offer.packet) else {
            return Ok(None);
        };
        let server = offer.packet.server_id().unwrap_or(offer.source);
        let wait = REQUEST_WAIT
            .min(timeout / REQUEST_TRIES)
            .max(Duration::from_millis(300));
        for _ in 0..REQUEST_TRIES {
            self.broadcast(&request).await?;
            let deadline = Instant::now() + wait;
            while let Some(reply) = self.receive(deadline).await? {
                let from_server =
                    reply.source == server || reply.packet.server_id() == Some(server);
                let kind = reply.packet.message_type();
                if from_server && matches!(kind, Some(MessageType::Ack | MessageType::Nak)) {
                    return Ok(Some(reply));
                }
            }
        }
        Ok(None)
    }

    /// The UEFI client's REQUEST to the proxy's port 4011, from this host's
    /// address; waits for the ACK.
    pub(super) async fn ask_port_4011(
        &self,
        proxy: Ipv4Addr,
        timeout: Duration,
    ) -> Result<Option<Reply>, ProbeError> {
        let request = emulate::pxe_request(self.machine, self.link.addr);
        let bytes = emulate::wire_bytes(self.machine, &request);
        let dest = SocketAddrV4::new(proxy, PXE_PORT);
        let wait = REQUEST_WAIT
            .min(timeout / REQUEST_TRIES)
            .max(Duration::from_millis(300));
        for _ in 0..REQUEST_TRIES {
            self.socket
                .send(&bytes, dest, 0, self.link.addr)
                .await
                .map_err(io_err("sending the port 4011 REQUEST"))?;
            let deadline = Instant::now() + wait;
            while let Some(reply) = self.receive(deadline).await? {
                if reply.source == proxy && reply.packet.message_type() == Some(MessageType::Ack) {
                    return Ok(Some(reply));
                }
            }
        }
        Ok(None)
    }
}

/// The DHCP conversation up to the point where the firmware knows where its
/// files are: the file plan, or the problem that stops it.
pub(super) async fn converse(
    dhcp: &mut Dhcp<'_>,
    report: &mut Report,
    options: &ProbeOptions,
) -> Result<Result<FilePlan, Problem>, ProbeError> {
    let kind = options.kind;
    let machine = dhcp.machine;
    let (sends, limit) = emulate::dhcp_schedule(kind, options.timeout);
    let discover = emulate::discover(machine);
    let flag_note = if !dhcp.exact && discover.flags & FLAG_BROADCAST == 0 {
        " (broadcast flag added so offers reach this host; --exact leaves it off)"
    } else {
        ""
    };
    report.say(format!(
        "DHCP  DISCOVER as the {}, {} tries over {:.1} s{flag_note}",
        kind.name(),
        sends.len(),
        limit.as_secs_f64()
    ));

    let start = Instant::now();
    let end = start + limit;
    let mut replies: Vec<Reply> = Vec::new();
    let mut sent = 0;
    let choice = loop {
        let choice = emulate::choose(kind, &replies);
        if choice.is_final() {
            break choice;
        }
        let now = Instant::now();
        if now >= end {
            break choice;
        }
        if sent < sends.len() && now >= start + sends[sent] {
            dhcp.broadcast(&discover).await?;
            sent += 1;
            continue;
        }
        let wake = sends.get(sent).map_or(end, |&at| (start + at).min(end));
        let Some(reply) = dhcp.receive(wake).await? else {
            continue;
        };
        if reply.packet.message_type() != Some(MessageType::Offer) {
            continue;
        }
        // A server answers every retransmitted DISCOVER; one line each.
        if replies
            .iter()
            .any(|r| r.source == reply.source && r.packet.yiaddr == reply.packet.yiaddr)
        {
            continue;
        }
        report.say(format!("DHCP  {}", reply.describe(kind)));
        report.replies.push(reply_json(&reply, kind));
        replies.push(reply);
    };
    if let Some(problem) = choice.problem(&replies) {
        report.say(format!(
            "DHCP  gave up after {:.1} s and {sent} DISCOVERs",
            start.elapsed().as_secs_f64()
        ));
        let no_address = !replies.iter().any(Reply::offers_address);
        if dhcp.exact && no_address && discover.flags & FLAG_BROADCAST == 0 {
            report.say(
                "NOTE  with --exact, an offer a server unicasts to the offered address cannot \
                 reach this host; run without --exact before blaming the DHCP server"
                    .into(),
            );
        }
        return Ok(Err(problem));
    }
    let address_offer = &replies[choice.address.expect("final choices have an address")];
    report.address = Some(address_offer.packet.yiaddr);
    let target = choice
        .target(&replies)
        .expect("final choices have a boot reply");

    // The address: the Pi 3 ROM takes it from the offer; everyone else asks.
    let mut ack = None;
    if kind == Emulated::Rpi3 {
        report.say(format!(
            "DHCP  the ROM takes address {} from {} without a REQUEST",
            address_offer.packet.yiaddr, address_offer.source
        ));
    } else {
        let server = address_offer
            .packet
            .server_id()
            .unwrap_or(address_offer.source);
        match dhcp.request(address_offer, limit).await? {
            Some(reply) if reply.packet.message_type() == Some(MessageType::Ack) => {
                report.say(format!(
                    "DHCP  REQUEST {} from {server}: {}",
                    address_offer.packet.yiaddr,
                    reply.describe(kind)
                ));
                report.replies.push(reply_json(&reply, kind));
                ack = Some(reply);
            }
            other => {
                let nak = other.is_some();
                report.say(format!(
                    "DHCP  REQUEST {} from {server}: {}",
                    address_offer.packet.yiaddr,
                    if nak { "NAK" } else { "no answer" }
                ));
                return Ok(Err(Problem::NoAck { server, nak }));
            }
        }
    }

    let plan = match target {
        BootTarget::RpiTftp(server) => {
            let boot = &replies[choice.boot.expect("a target has a boot reply")];
            let how = if boot.tftp_server_option() == Some(server) {
                "option 66 of"
            } else {
                "the source of"
            };
            report.say(format!(
                "DHCP  TFTP server {server}: {how} the \"Raspberry Pi Boot\" reply"
            ));
            if kind == Emulated::Rpi3 && !boot.has_rpi_boot_spaces() {
                report.say(
                    "NOTE  option 43 lacks the three spaces after \"Raspberry Pi Boot\" that an \
                     original Pi 3B needs (a 3B+ boots without them)"
                        .into(),
                );
            }
            report.tftp_server = Some(server);
            FilePlan::rpi(machine, server)
        }
        BootTarget::Tftp { .. } if kind == Emulated::UBoot => {
            let ack = ack.as_ref().expect("U-Boot got an ACK");
            let (server, bootfile) = match emulate::uboot_target(address_offer, ack) {
                Ok(found) => found,
                Err(problem) => return Ok(Err(problem)),
            };
            let config_file = ack.packet.option(209).map(|d| {
                String::from_utf8_lossy(&d)
                    .trim_end_matches('\0')
                    .to_string()
            });
            report.say(format!(
                "DHCP  U-Boot: ipaddr {}, serverip {server} (siaddr){}",
                ack.packet.yiaddr,
                bootfile
                    .as_deref()
                    .map(|f| format!(", bootfile {f}"))
                    .unwrap_or_default()
            ));
            report.tftp_server = Some(server);
            FilePlan::uboot(
                machine,
                server,
                ack.packet.yiaddr,
                bootfile.as_deref(),
                config_file.as_deref(),
            )
        }
        BootTarget::Tftp { server, file } => {
            let file = file.unwrap_or_default();
            report.say(format!("DHCP  boot file {file} from {server}"));
            report.tftp_server = Some(server);
            FilePlan::pxe(machine, server, &file)
        }
        BootTarget::AskPort4011(proxy) => {
            let Some(reply) = dhcp.ask_port_4011(proxy, limit).await? else {
                report.say(format!("DHCP  REQUEST to {proxy}:4011: no answer"));
                return Ok(Err(Problem::NoPxeAck { server: proxy }));
            };
            report.say(format!(
                "DHCP  REQUEST to {proxy}:4011: {}",
                reply.describe(kind)
            ));
            report.replies.push(reply_json(&reply, kind));
            let Some(file) = reply.boot_file() else {
                return Ok(Err(Problem::NoPxeAck { server: proxy }));
            };
            let server = reply.next_server().unwrap_or(proxy);
            report.tftp_server = Some(server);
            FilePlan::pxe(machine, server, &file)
        }
    };
    let firmware_ip = ack
        .as_ref()
        .map_or(address_offer.packet.yiaddr, |a| a.packet.yiaddr);
    report.say(format!(
        "TFTP  from this host's {} (the firmware would use {firmware_ip})",
        dhcp.link.addr
    ));
    Ok(Ok(plan))
}
