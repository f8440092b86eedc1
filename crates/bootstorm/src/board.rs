//! One board's boot, from its first DISCOVER to its last file: the firmware's
//! DHCP conversation through the relay, then its file plan
//! (`bootherd_proto::emulate::FilePlan`), then what the loaded code fetches next
//! (a Pi's `initramfs` from config.txt; U-Boot's kernel and initrd from the
//! pxelinux config). Every whole file is checked against the served tree.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bootherd_proto::client::format_mac;
use bootherd_proto::emulate::{
    self, BootTarget, Emulated, Fetch, Fetched, FilePlan, Identity, Need, Read, Reply,
};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType, PXE_PORT};

use crate::expected::Expected;
use crate::relay::Relay;
use crate::tftp_get::{Got, Resends};
use crate::tftp_loop::TftpLoop;

/// REQUEST and port 4011: tries, and the wait for each answer.
const REQUEST_TRIES: u32 = 3;
const REQUEST_WAIT: Duration = Duration::from_secs(2);

/// Where the boards' DHCP goes.
pub struct Servers {
    /// The boot server (proxyDHCP and TFTP): every Pi and UEFI DISCOVER goes here.
    pub boot: Ipv4Addr,
    /// The LAN's DHCP server, which gives Pis and UEFI clients their address.
    pub lan: Ipv4Addr,
    /// Who gives U-Boot boards address and boot file (full DHCP).
    pub uboot: Ipv4Addr,
}

/// How one board's boot went.
#[derive(Debug)]
pub struct Outcome {
    pub kind: Emulated,
    pub mac: [u8; 6],
    /// From the storm's start to the board's last file (or its failure).
    pub elapsed: Duration,
    /// From the storm's start to the end of its DHCP conversation, if it ended.
    pub dhcp_done: Option<Duration>,
    /// Files read whole, and their bytes.
    pub files: u64,
    pub bytes: u64,
    pub resends: Resends,
    /// DISCOVERs beyond the first, REQUESTs beyond the first.
    pub dhcp_resends: u64,
    /// Why the board would not boot.
    pub failure: Option<String>,
}

pub struct Board<'a> {
    pub machine: Identity,
    pub relay: &'a Relay,
    pub servers: &'a Servers,
    pub expected: &'a Expected,
    pub tftp: &'a TftpLoop,
    pub replies: Receiver<Reply>,
}

impl Board<'_> {
    /// Boots the board; `start` is the storm's first instant.
    pub fn boot(&self, start: Instant) -> Outcome {
        let mut outcome = Outcome {
            kind: self.machine.kind,
            mac: self.machine.mac,
            elapsed: Duration::ZERO,
            dhcp_done: None,
            files: 0,
            bytes: 0,
            resends: Resends::default(),
            dhcp_resends: 0,
            failure: None,
        };
        if let Err(failure) = self.run(&mut outcome, start) {
            outcome.failure = Some(failure);
        }
        outcome.elapsed = start.elapsed();
        outcome
    }

    fn run(&self, outcome: &mut Outcome, start: Instant) -> Result<(), String> {
        let (address, plan) = self.dhcp(outcome)?;
        outcome.dhcp_done = Some(start.elapsed());
        let mut plan = plan;
        let mut config_txt: Option<Vec<u8>> = None;
        let mut pxe_config: Option<Vec<u8>> = None;
        let mut last_options = Vec::new();
        let mut server = None;
        while let Some(fetch) = plan.next_fetch() {
            server = Some(fetch.server);
            let got = self.fetch(&fetch, address, outcome)?;
            let fetched = match got {
                Got::Found { size, data, .. } => {
                    if fetch.path.ends_with("config.txt") {
                        config_txt.clone_from(&data);
                    }
                    if fetch.path.contains("pxelinux.cfg/") {
                        pxe_config.clone_from(&data);
                    }
                    Fetched::Found { size, data }
                }
                Got::NotFound => Fetched::NotFound,
                Got::Failed(why) => Fetched::Failed(why),
            };
            last_options.clone_from(&fetch.options);
            plan.record(&fetch, fetched);
        }
        plan.verdict().map_err(|p| p.to_string())?;
        // What the loaded code fetches next.
        let Some(server) = server else {
            return Ok(());
        };
        let more: Vec<String> = match self.machine.kind {
            Emulated::Rpi3 | Emulated::Rpi4 | Emulated::Rpi5 => config_txt
                .as_deref()
                .and_then(initramfs)
                .map(|f| vec![format!("{}{f}", plan.prefix())])
                .unwrap_or_default(),
            Emulated::UBoot => pxe_config.as_deref().map(pxe_files).unwrap_or_default(),
            Emulated::PxeBios | Emulated::PxeEfi => Vec::new(),
        };
        for path in more {
            let fetch = Fetch {
                server,
                path,
                options: last_options.clone(),
                read: Read::Whole,
                need: Need::Required,
            };
            match self.fetch(&fetch, address, outcome)? {
                Got::Found { .. } => {}
                Got::NotFound => return Err(format!("{}: not found", fetch.path)),
                Got::Failed(why) => return Err(format!("{}: {why}", fetch.path)),
            }
        }
        Ok(())
    }

    /// One TFTP read, counted and, when whole, checked against the served tree.
    fn fetch(
        &self,
        fetch: &Fetch,
        address: Ipv4Addr,
        outcome: &mut Outcome,
    ) -> Result<Got, String> {
        let got = self
            .tftp
            .get(fetch, address, &mut outcome.resends)
            .map_err(|e| format!("TFTP {} from {address}: {e}", fetch.path))?;
        if let Got::Found {
            size: Some(size),
            sha256: Some(sum),
            ..
        } = &got
        {
            self.expected.check(&fetch.path, *size, sum)?;
            outcome.files += 1;
            outcome.bytes += size;
        }
        Ok(got)
    }

    /// The DHCP conversation: the address and the file plan.
    fn dhcp(&self, outcome: &mut Outcome) -> Result<(Ipv4Addr, FilePlan), String> {
        let machine = &self.machine;
        let kind = machine.kind;
        let targets: &[Ipv4Addr] = if kind == Emulated::UBoot {
            std::slice::from_ref(&self.servers.uboot)
        } else {
            &[self.servers.boot, self.servers.lan]
        };
        let (sends, limit) = emulate::dhcp_schedule(kind, None);
        let discover = emulate::discover(machine);
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
                for &to in targets {
                    self.relay
                        .send(machine, &discover, to)
                        .map_err(|e| e.to_string())?;
                }
                if sent > 0 {
                    outcome.dhcp_resends += 1;
                }
                sent += 1;
                continue;
            }
            let wake = sends.get(sent).map_or(end, |&at| (start + at).min(end));
            let Some(reply) = self.receive(wake) else {
                continue;
            };
            if reply.packet.message_type() != Some(MessageType::Offer) {
                continue;
            }
            if replies
                .iter()
                .any(|r| r.source == reply.source && r.packet.yiaddr == reply.packet.yiaddr)
            {
                continue;
            }
            replies.push(reply);
        };
        if let Some(problem) = choice.problem(&replies) {
            return Err(format!("DHCP: {problem}"));
        }
        let offer = &replies[choice.address.ok_or("DHCP: no address")?];
        let target = choice.target(&replies).ok_or("DHCP: no boot reply")?;
        let ack = match kind {
            Emulated::Rpi3 => None,
            _ => Some(self.request(offer, outcome)?),
        };
        let address = ack
            .as_ref()
            .map_or(offer.packet.yiaddr, |a| a.packet.yiaddr);
        let plan = match target {
            BootTarget::RpiTftp(server) => FilePlan::rpi(machine, server),
            BootTarget::Tftp { .. } if kind == Emulated::UBoot => {
                let ack = ack.as_ref().ok_or("U-Boot without an ACK")?;
                let (server, bootfile) =
                    emulate::uboot_target(offer, ack).map_err(|p| p.to_string())?;
                let config_file = ack.packet.option(209).map(|d| {
                    String::from_utf8_lossy(&d)
                        .trim_end_matches('\0')
                        .to_string()
                });
                FilePlan::uboot(
                    machine,
                    server,
                    address,
                    bootfile.as_deref(),
                    config_file.as_deref(),
                )
            }
            BootTarget::Tftp { server, file } => {
                FilePlan::pxe(machine, server, &file.unwrap_or_default())
            }
            BootTarget::AskPort4011(proxy) => {
                let reply = self.ask_port_4011(proxy, address, outcome)?;
                let file = reply
                    .boot_file()
                    .ok_or_else(|| format!("port 4011 ACK from {proxy} names no boot file"))?;
                FilePlan::pxe(machine, reply.next_server().unwrap_or(proxy), &file)
            }
        };
        Ok((address, plan))
    }

    fn receive(&self, deadline: Instant) -> Option<Reply> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) if emulate::is_for(&self.machine, &reply.packet) => return Some(reply),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// REQUEST for the address `offer` made, to the server that made it.
    fn request(&self, offer: &Reply, outcome: &mut Outcome) -> Result<Reply, String> {
        let request = emulate::request(&self.machine, &offer.packet).ok_or("no REQUEST")?;
        let server = offer.packet.server_id().unwrap_or(offer.source);
        for attempt in 0..REQUEST_TRIES {
            if attempt > 0 {
                outcome.dhcp_resends += 1;
                eprintln!(
                    "bootstorm: {} {}: no ACK from {server} in {} s, REQUEST again",
                    self.machine.kind.id(),
                    format_mac(&self.machine.mac),
                    REQUEST_WAIT.as_secs()
                );
            }
            self.relay
                .send(&self.machine, &request, server)
                .map_err(|e| e.to_string())?;
            let deadline = Instant::now() + REQUEST_WAIT;
            while let Some(reply) = self.receive(deadline) {
                match reply.packet.message_type() {
                    Some(MessageType::Ack) if reply.packet.yiaddr == offer.packet.yiaddr => {
                        return Ok(reply)
                    }
                    Some(MessageType::Nak) => return Err(format!("DHCP: NAK from {server}")),
                    _ => {}
                }
            }
        }
        Err(format!("DHCP: no ACK from {server}"))
    }

    /// The UEFI client's REQUEST to the proxy's port 4011, from its own address.
    fn ask_port_4011(
        &self,
        proxy: Ipv4Addr,
        address: Ipv4Addr,
        outcome: &mut Outcome,
    ) -> Result<Reply, String> {
        let socket = UdpSocket::bind(SocketAddrV4::new(address, 68))
            .map_err(|e| format!("binding {address}:68: {e}"))?;
        socket
            .set_read_timeout(Some(REQUEST_WAIT))
            .map_err(|e| e.to_string())?;
        let request = emulate::pxe_request(&self.machine, address);
        let bytes = emulate::wire_bytes(&self.machine, &request);
        let mut buf = vec![0u8; 2048];
        for attempt in 0..REQUEST_TRIES {
            if attempt > 0 {
                outcome.dhcp_resends += 1;
                eprintln!(
                    "bootstorm: {} {}: no ACK from {proxy}:4011 in {} s, asking again",
                    self.machine.kind.id(),
                    format_mac(&self.machine.mac),
                    REQUEST_WAIT.as_secs()
                );
            }
            socket
                .send_to(&bytes, SocketAddrV4::new(proxy, PXE_PORT))
                .map_err(|e| format!("port 4011 REQUEST: {e}"))?;
            let deadline = Instant::now() + REQUEST_WAIT;
            while Instant::now() < deadline {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    break;
                };
                let Ok(packet) = DhcpPacket::parse(&buf[..len]) else {
                    continue;
                };
                if emulate::is_for(&self.machine, &packet)
                    && packet.message_type() == Some(MessageType::Ack)
                {
                    let std::net::SocketAddr::V4(from) = from else {
                        continue;
                    };
                    return Ok(Reply {
                        source: *from.ip(),
                        packet,
                    });
                }
            }
        }
        Err(format!("no ACK from {proxy}:4011"))
    }
}

/// The file of config.txt's `initramfs NAME [followkernel]` line.
fn initramfs(config: &[u8]) -> Option<String> {
    String::from_utf8_lossy(config).lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("initramfs")).then(|| words.next().map(str::to_string))?
    })
}

/// The kernel and initrd files of a pxelinux config's first entry that names them.
fn pxe_files(config: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(config);
    let mut files = Vec::new();
    let mut kernel = false;
    let mut initrd = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let key = words.next().unwrap_or("").to_ascii_lowercase();
        let value = words.next().unwrap_or("").to_string();
        if value.is_empty() {
            continue;
        }
        if (key == "kernel" || key == "linux") && !kernel {
            kernel = true;
            files.push(value);
        } else if key == "initrd" && !initrd {
            initrd = true;
            files.extend(value.split(',').map(str::to_string));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_are_found() {
        assert_eq!(
            initramfs(b"arm_64bit=1\ninitramfs initrd.img followkernel\n"),
            Some("initrd.img".into())
        );
        assert_eq!(initramfs(b"kernel=k.img\n"), None);
        assert_eq!(
            pxe_files(b"default l\nlabel l\n  kernel vmlinuz\n  initrd a.img,b.img\n  append x\n"),
            vec!["vmlinuz", "a.img", "b.img"]
        );
    }
}
