//! `bootherd probe`: play one boot firmware's DHCP and TFTP conversation on a
//! live network and say whether that firmware would boot, and if not, why.
//!
//! Every decision (which packets, which offer, which file next) comes from
//! [`bootherd_proto::emulate`]; this module only sends, receives, waits and
//! prints. It needs no privilege beyond binding UDP port 68: no raw sockets
//! and no address configuration. Two consequences, said in the help too:
//! - DHCP packets leave from this host's address on the interface, not from
//!   0.0.0.0, and the BOOTP broadcast flag is set (unless `--exact`) so that
//!   an offer a server would unicast to the offered address reaches this host;
//! - after DHCP, TFTP runs from this host's address, not the offered one.
//!
//! Every wait is bounded: the firmware's DHCP schedule (shortened by
//! `--timeout`), and per TFTP packet one second with five retries.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bootherd_proto::client::format_mac;
use bootherd_proto::emulate::{
    self, BootTarget, Emulated, Fetch, Fetched, FilePlan, Machine, Need, Problem, Read, Reply,
    EARLY_TERMINATE,
};
use bootherd_proto::wire::dhcp::{
    code, DhcpPacket, MessageType, CLIENT_PORT, FLAG_BROADCAST, PXE_PORT, SERVER_PORT,
};
use bootherd_proto::wire::tftp::{self, ErrorCode, Mode, Packet, Request};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

use crate::net::{self, PacketSocket};

/// The TFTP server port (RFC 1350).
const TFTP_PORT: u16 = 69;
/// TFTP: how long to wait for each packet before sending again.
const TFTP_PACKET_TIMEOUT: Duration = Duration::from_secs(1);
/// TFTP: how many times to send a packet again before giving up.
const TFTP_RETRIES: u32 = 5;
/// TFTP: the largest file the probe reads into memory.
const TFTP_MAX_FILE: usize = 1 << 30;
/// DHCP: how many times a REQUEST is sent before the server counts as silent.
const REQUEST_TRIES: u32 = 3;
/// DHCP: the longest wait for the answer to one REQUEST.
const REQUEST_WAIT: Duration = Duration::from_secs(2);

/// What `bootherd probe` was asked to do, checked.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The firmware to play.
    pub kind: Emulated,
    /// Interface to broadcast on; `None` picks the only one with IPv4.
    pub interface: Option<String>,
    /// MAC to use; `None` makes a plausible one.
    pub mac: Option<[u8; 6]>,
    /// Pi serial; `None` derives it from the MAC.
    pub serial: Option<u32>,
    /// The folder a Pi 4/5 tries first.
    pub tftp_prefix: emulate::TftpPrefix,
    /// Shortens (or lengthens) the DHCP phase.
    pub timeout: Option<Duration>,
    /// Print one JSON object instead of lines.
    pub json: bool,
    /// Write every file read whole under this directory.
    pub save: Option<PathBuf>,
    /// Send the firmware's DHCP flags unchanged.
    pub exact: bool,
}

/// An environment problem: the probe cannot run here (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No usable interface, or an ambiguous choice.
    #[error("{0}")]
    Interface(String),
    /// Binding port 68 failed.
    #[error("cannot bind UDP port 68 on this host: {0} (a DHCP client running here holds it; stop it, or run the probe in a network namespace)")]
    Bind(io::Error),
    /// Any other I/O failure.
    #[error("{what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        err: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ProbeError {
    let what = what.into();
    move |err| ProbeError::Io { what, err }
}

/// Runs the probe and maps the outcome to the exit code: 0 boots, 1 would
/// not boot, 2 cannot run here.
pub fn run(options: ProbeOptions) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(err) => {
            eprintln!("bootherd probe: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(probe(&options)) {
        Ok(report) => {
            if options.json {
                println!("{}", report.to_json());
            }
            if report.problem.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("bootherd probe: {err}");
            ExitCode::from(2)
        }
    }
}

/// The interface the probe runs on.
struct Link {
    name: String,
    index: u32,
    addr: Ipv4Addr,
    mac: Option<[u8; 6]>,
}

fn choose_link(wanted: Option<&str>) -> Result<Link, ProbeError> {
    let all = net::ipv4_addresses().map_err(io_err("listing interfaces"))?;
    let usable: Vec<&net::LocalAddr> = all
        .iter()
        .filter(|a| !a.addr.is_loopback() && a.interface != "lo")
        .collect();
    let chosen = match wanted {
        Some(name) => all.iter().find(|a| a.interface == name).ok_or_else(|| {
            ProbeError::Interface(match net::interface_index(name) {
                Some(_) => format!("interface {name} has no IPv4 address (or is down)"),
                None => format!("no interface named {name}"),
            })
        })?,
        None => {
            let mut names: Vec<&str> = usable.iter().map(|a| a.interface.as_str()).collect();
            names.dedup();
            match names.as_slice() {
                [_] => usable[0],
                [] => {
                    return Err(ProbeError::Interface(
                        "no interface with an IPv4 address besides loopback: choose one with \
                         --interface"
                            .into(),
                    ))
                }
                many => {
                    return Err(ProbeError::Interface(format!(
                        "several interfaces have IPv4 addresses ({}): choose one with --interface",
                        many.join(", ")
                    )))
                }
            }
        }
    };
    let index = net::interface_index(&chosen.interface)
        .ok_or_else(|| ProbeError::Interface(format!("interface {} vanished", chosen.interface)))?;
    Ok(Link {
        name: chosen.interface.clone(),
        index,
        addr: chosen.addr,
        mac: link_mac(&chosen.interface),
    })
}

/// The hardware address of interface `name`.
fn link_mac(name: &str) -> Option<[u8; 6]> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter(|ifa| ifa.interface_name == name)
        .find_map(|ifa| ifa.address?.as_link_addr()?.addr())
}

/// Everything the probe saw and decided, for lines and JSON.
struct Report {
    json: bool,
    kind: Emulated,
    link: String,
    host: Ipv4Addr,
    machine: Machine,
    lines: Vec<String>,
    replies: Vec<Value>,
    address: Option<Ipv4Addr>,
    tftp_server: Option<Ipv4Addr>,
    files: Vec<Value>,
    problem: Option<String>,
}

impl Report {
    /// Adds one line, printed at once unless the output is JSON.
    fn say(&mut self, line: String) {
        if !self.json {
            println!("{line}");
        }
        self.lines.push(line);
    }

    fn finish(&mut self, problem: Option<Problem>) {
        self.problem = problem.map(|p| p.to_string());
        let line = match &self.problem {
            None => "VERDICT: boots".to_string(),
            Some(p) => format!("VERDICT: would not boot: {p}"),
        };
        self.say(line);
    }

    fn to_json(&self) -> Value {
        json!({
            "firmware": self.kind.id(),
            "firmware_name": self.kind.name(),
            "interface": self.link,
            "host_address": self.host.to_string(),
            "mac": format_mac(&self.machine.mac),
            "serial": self.kind.is_rpi().then(|| self.machine.serial_dir()),
            "xid": format!("{:#010x}", self.machine.xid),
            "dhcp": {
                "replies": self.replies,
                "address": self.address.map(|a| a.to_string()),
                "tftp_server": self.tftp_server.map(|a| a.to_string()),
            },
            "tftp": self.files,
            "boots": self.problem.is_none(),
            "problem": self.problem,
            "verdict": match &self.problem {
                None => "boots".to_string(),
                Some(p) => format!("would not boot: {p}"),
            },
            "lines": self.lines,
        })
    }
}

async fn probe(options: &ProbeOptions) -> Result<Report, ProbeError> {
    let kind = options.kind;
    let link = choose_link(options.interface.as_deref())?;
    let tail = link.mac.map_or([0x00, 0x5e, 0xb0], |m| [m[3], m[4], m[5]]);
    let mac = options
        .mac
        .unwrap_or_else(|| emulate::default_mac(kind, tail));
    let mut machine = Machine::new(kind, mac, options.serial);
    machine.tftp_prefix = options.tftp_prefix;
    let socket = PacketSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT))
        .map_err(ProbeError::Bind)?;

    let mut report = Report {
        json: options.json,
        kind,
        link: link.name.clone(),
        host: link.addr,
        machine: machine.clone(),
        lines: Vec::new(),
        replies: Vec::new(),
        address: None,
        tftp_server: None,
        files: Vec::new(),
        problem: None,
    };
    let serial = if kind.is_rpi() {
        format!(", serial {}", machine.serial_dir())
    } else {
        String::new()
    };
    report.say(format!(
        "PROBE {} on {} ({}): MAC {}{serial}, xid {:#010x}",
        kind.name(),
        link.name,
        link.addr,
        format_mac(&mac),
        machine.xid
    ));

    let mut dhcp = Dhcp {
        socket: &socket,
        link: &link,
        machine: &machine,
        exact: options.exact,
    };
    let problem = match converse(&mut dhcp, &mut report, options).await? {
        Err(problem) => Some(problem),
        Ok(mut plan) => fetch_all(&mut plan, &link, &mut report, options.save.as_deref()).await?,
    };
    report.finish(problem);
    Ok(report)
}

/// The DHCP side: one socket on port 68 and the firmware's identity.
struct Dhcp<'a> {
    socket: &'a PacketSocket,
    link: &'a Link,
    machine: &'a Machine,
    exact: bool,
}

impl Dhcp<'_> {
    /// Sends `packet` as the firmware would (broadcast to port 67), with the
    /// broadcast flag added unless `--exact`.
    async fn broadcast(&self, packet: &DhcpPacket) -> Result<(), ProbeError> {
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
    async fn receive(&self, deadline: Instant) -> Result<Option<Reply>, ProbeError> {
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
    async fn request(&self, offer: &Reply, timeout: Duration) -> Result<Option<Reply>, ProbeError> {
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
    async fn ask_port_4011(
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
async fn converse(
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

fn reply_json(reply: &Reply, kind: Emulated) -> Value {
    let packet = &reply.packet;
    json!({
        "source": reply.source.to_string(),
        "type": packet.message_type().map(|t| format!("{t:?}").to_lowercase()),
        "yiaddr": packet.yiaddr.to_string(),
        "siaddr": packet.siaddr.to_string(),
        "server_id": packet.server_id().map(|a| a.to_string()),
        "rpi_boot": reply.has_rpi_boot(),
        "boot_file": reply.boot_file(),
        "option_66": packet.option(code::TFTP_SERVER_NAME).map(|d| String::from_utf8_lossy(&d).into_owned()),
        "description": reply.describe(kind),
    })
}

/// Runs the file plan to its end; the problem that stopped it, if any.
async fn fetch_all(
    plan: &mut FilePlan,
    link: &Link,
    report: &mut Report,
    save: Option<&Path>,
) -> Result<Option<Problem>, ProbeError> {
    while let Some(fetch) = plan.next_fetch() {
        let result = tftp_get(&fetch, link.addr, TFTP_PORT).await?;
        if let (
            Some(dir),
            Fetched::Found {
                data: Some(data), ..
            },
        ) = (save, &result)
        {
            save_file(dir, &fetch.path, data)?;
        }
        let what = describe_fetch(&fetch, &result);
        report.files.push(fetch_json(&fetch, &result));
        let note = plan.record(&fetch, result);
        let line = match note {
            Some(note) => format!("TFTP  {} {}: {what}; {note}", fetch.server, fetch.path),
            None => format!("TFTP  {} {}: {what}", fetch.server, fetch.path),
        };
        report.say(line);
    }
    Ok(plan.verdict().err())
}

fn describe_fetch(fetch: &Fetch, result: &Fetched) -> String {
    match (result, fetch.read) {
        (Fetched::Found { size, .. }, Read::Whole) => match size {
            Some(size) => format!("{size} bytes"),
            None => "found".into(),
        },
        (Fetched::Found { size, .. }, Read::Probe) => {
            let size = size.map(|s| format!(", {s} bytes")).unwrap_or_default();
            format!("found{size} (probe: block 1, then \"{EARLY_TERMINATE}\")")
        }
        (Fetched::NotFound, _) => match fetch.need {
            Need::Required => "not found".into(),
            Need::Optional => "not found (optional)".into(),
            Need::NormallyAbsent => "not found (normal)".into(),
        },
        (Fetched::Failed(error), _) => format!("failed: {error}"),
    }
}

fn fetch_json(fetch: &Fetch, result: &Fetched) -> Value {
    let (outcome, size, error) = match result {
        Fetched::Found { size, .. } => ("found", *size, None),
        Fetched::NotFound => ("not found", None, None),
        Fetched::Failed(e) => ("failed", None, Some(e.clone())),
    };
    json!({
        "server": fetch.server.to_string(),
        "path": fetch.path,
        "options": fetch.options.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>(),
        "read": match fetch.read { Read::Whole => "whole", Read::Probe => "probe" },
        "required": fetch.need == Need::Required,
        "result": outcome,
        "size": size,
        "error": error,
    })
}

/// Writes `data` to `dir/path`, with the path's empty, `.` and `..` parts
/// dropped so that nothing lands outside `dir` (`e1ffda08//config.txt`
/// becomes `e1ffda08/config.txt`).
fn save_file(dir: &Path, path: &str, data: &[u8]) -> Result<(), ProbeError> {
    let mut target = dir.to_path_buf();
    for part in Path::new(path).components() {
        if let Component::Normal(part) = part {
            target.push(part);
        }
    }
    if target == dir {
        return Ok(());
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io_err(format!("creating {}", parent.display())))?;
    }
    std::fs::write(&target, data).map_err(io_err(format!("writing {}", target.display())))
}

/// One lock-step TFTP read (RFC 1350, options RFC 2347-2349), as far as
/// `fetch.read` says. Errors of the exchange are results, not `Err`; `Err`
/// is a local socket failure.
async fn tftp_get(fetch: &Fetch, local: Ipv4Addr, port: u16) -> Result<Fetched, ProbeError> {
    let socket = UdpSocket::bind(SocketAddrV4::new(local, 0))
        .await
        .map_err(io_err("binding a TFTP socket"))?;
    let server = SocketAddr::V4(SocketAddrV4::new(fetch.server, port));
    let mut rrq = Vec::new();
    Packet::Rrq(Request {
        filename: fetch.path.as_bytes().to_vec(),
        mode: Mode::Octet,
        options: fetch.options.clone(),
    })
    .emit(&mut rrq);
    let asked_blksize: Option<usize> = fetch
        .options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("blksize"))
        .and_then(|(_, v)| v.parse().ok());

    let mut peer: Option<SocketAddr> = None;
    let mut last = rrq;
    let mut blksize = 512usize;
    let mut tsize: Option<u64> = None;
    let mut expected: u16 = 1;
    let mut data: Vec<u8> = Vec::new();
    let mut tries = 0;
    let mut buf = vec![0u8; 65536];
    socket
        .send_to(&last, server)
        .await
        .map_err(io_err("sending a TFTP request"))?;
    loop {
        let (len, from) =
            match tokio::time::timeout(TFTP_PACKET_TIMEOUT, socket.recv_from(&mut buf)).await {
                Err(_) => {
                    tries += 1;
                    if tries > TFTP_RETRIES {
                        let what = if peer.is_none() {
                            "no answer to the request"
                        } else {
                            "the server stopped sending"
                        };
                        return Ok(Fetched::Failed(format!(
                            "{what} ({} tries, {} s apart)",
                            TFTP_RETRIES + 1,
                            TFTP_PACKET_TIMEOUT.as_secs()
                        )));
                    }
                    let to = peer.unwrap_or(server);
                    socket
                        .send_to(&last, to)
                        .await
                        .map_err(io_err("resending a TFTP packet"))?;
                    continue;
                }
                Ok(Err(err)) if err.kind() == io::ErrorKind::ConnectionRefused => {
                    return Ok(Fetched::Failed(format!(
                        "nothing listens on {server} (ICMP port unreachable)"
                    )))
                }
                Ok(Err(err)) => return Err(io_err("receiving TFTP")(err)),
                Ok(Ok(got)) => got,
            };
        if from.ip() != server.ip() {
            continue;
        }
        match peer {
            None => peer = Some(from),
            Some(p) if p != from => {
                // RFC 1350: a packet from another port gets ERROR 5.
                let error = tftp::error_packet(ErrorCode::UnknownTid, "unknown transfer ID");
                let _ = socket.send_to(&error, from).await;
                continue;
            }
            Some(_) => {}
        }
        let Ok(packet) = Packet::parse(&buf[..len]) else {
            continue;
        };
        match packet {
            Packet::Error { code, message } => {
                if expected == 1 && data.is_empty() && code == ErrorCode::FileNotFound {
                    return Ok(Fetched::NotFound);
                }
                return Ok(Fetched::Failed(format!(
                    "server sent ERROR {} \"{message}\"",
                    code.code()
                )));
            }
            Packet::Oack { options } if expected == 1 && data.is_empty() => {
                for (name, value) in &options {
                    match name.to_ascii_lowercase().as_str() {
                        "tsize" => tsize = value.parse().ok(),
                        "blksize" => {
                            let Ok(size) = value.parse::<usize>() else {
                                return Ok(Fetched::Failed(format!("OACK blksize {value:?}")));
                            };
                            if asked_blksize.is_none_or(|asked| size > asked) || size < 8 {
                                let _ = socket
                                    .send_to(
                                        &tftp::error_packet(
                                            ErrorCode::OptionRejected,
                                            "blksize not asked for",
                                        ),
                                        from,
                                    )
                                    .await;
                                return Ok(Fetched::Failed(format!(
                                    "OACK blksize {size} was not what was asked ({asked_blksize:?}); RFC 2348 forbids more"
                                )));
                            }
                            blksize = size;
                        }
                        _ => {}
                    }
                }
                tries = 0;
                last = ack(0);
                socket
                    .send_to(&last, from)
                    .await
                    .map_err(io_err("sending a TFTP ACK"))?;
            }
            Packet::Data { block, payload } if block == expected => {
                tries = 0;
                if payload.len() > blksize {
                    return Ok(Fetched::Failed(format!(
                        "DATA block {block} carries {} bytes, more than the block size {blksize}",
                        payload.len()
                    )));
                }
                if fetch.read == Read::Probe {
                    let error = tftp::error_packet(ErrorCode::NotDefined, EARLY_TERMINATE);
                    let _ = socket.send_to(&error, from).await;
                    let size = tsize.or((payload.len() < blksize).then_some(payload.len() as u64));
                    return Ok(Fetched::Found { size, data: None });
                }
                data.extend_from_slice(payload);
                if data.len() > TFTP_MAX_FILE {
                    let error = tftp::error_packet(ErrorCode::DiskFull, "too large for the probe");
                    let _ = socket.send_to(&error, from).await;
                    return Ok(Fetched::Failed("file larger than 1 GiB".into()));
                }
                last = ack(block);
                socket
                    .send_to(&last, from)
                    .await
                    .map_err(io_err("sending a TFTP ACK"))?;
                if payload.len() < blksize {
                    if let Some(t) = tsize {
                        if t != data.len() as u64 {
                            return Ok(Fetched::Failed(format!(
                                "OACK said tsize {t} but {} bytes came",
                                data.len()
                            )));
                        }
                    }
                    return Ok(Fetched::Found {
                        size: Some(data.len() as u64),
                        data: Some(data),
                    });
                }
                expected = expected.wrapping_add(1);
            }
            Packet::Data { block, .. } if block == expected.wrapping_sub(1) => {
                // Our ACK was lost: acknowledge again (never resend on
                // duplicates beyond that, RFC 1123 4.2.3.1).
                socket
                    .send_to(&last, from)
                    .await
                    .map_err(io_err("sending a TFTP ACK"))?;
            }
            _ => {}
        }
    }
}

fn ack(block: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    Packet::Ack { block }.emit(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_paths_stay_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        save_file(dir.path(), "e1ffda08//config.txt", b"a").unwrap();
        save_file(dir.path(), "../../escape.txt", b"b").unwrap();
        save_file(dir.path(), "/abs/x", b"c").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("e1ffda08/config.txt")).unwrap(),
            b"a"
        );
        assert_eq!(std::fs::read(dir.path().join("escape.txt")).unwrap(), b"b");
        assert_eq!(std::fs::read(dir.path().join("abs/x")).unwrap(), b"c");
        save_file(dir.path(), "..", b"d").unwrap();
    }

    /// A loopback TFTP exchange with a scripted server: OACK, two blocks,
    /// the client's ACKs; and a probe that stops after block 1.
    #[tokio::test]
    async fn lock_step_read_and_probe() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        run_scripted(server).await;
    }

    async fn run_scripted(server: std::net::UdpSocket) {
        let port = server.local_addr().unwrap().port();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let body: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
        let expected = body.clone();
        let script = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            // Whole read.
            let (len, client) = server.recv_from(&mut buf).unwrap();
            assert!(matches!(Packet::parse(&buf[..len]), Ok(Packet::Rrq(_))));
            server
                .send_to(
                    &tftp::oack_packet(&[("tsize".into(), "700".into())]),
                    client,
                )
                .unwrap();
            let (len, _) = server.recv_from(&mut buf).unwrap();
            assert_eq!(Packet::parse(&buf[..len]), Ok(Packet::Ack { block: 0 }));
            for (i, chunk) in body.chunks(512).enumerate() {
                let mut data = tftp::data_header(i as u16 + 1).to_vec();
                data.extend_from_slice(chunk);
                server.send_to(&data, client).unwrap();
                let (len, _) = server.recv_from(&mut buf).unwrap();
                assert_eq!(
                    Packet::parse(&buf[..len]),
                    Ok(Packet::Ack {
                        block: i as u16 + 1
                    })
                );
            }
            // Probe.
            let (_, client) = server.recv_from(&mut buf).unwrap();
            let mut data = tftp::data_header(1).to_vec();
            data.extend_from_slice(&body[..512]);
            server.send_to(&data, client).unwrap();
            let (len, _) = server.recv_from(&mut buf).unwrap();
            match Packet::parse(&buf[..len]) {
                Ok(Packet::Error { message, .. }) => assert_eq!(message, EARLY_TERMINATE),
                other => panic!("{other:?}"),
            }
        });
        let mut fetch = Fetch {
            server: Ipv4Addr::LOCALHOST,
            path: "f".into(),
            options: vec![("tsize".into(), "0".into())],
            read: Read::Whole,
            need: Need::Required,
        };
        let got = tftp_get(&fetch, Ipv4Addr::LOCALHOST, port).await.unwrap();
        assert_eq!(
            got,
            Fetched::Found {
                size: Some(700),
                data: Some(expected)
            }
        );
        fetch.read = Read::Probe;
        fetch.options.clear();
        let got = tftp_get(&fetch, Ipv4Addr::LOCALHOST, port).await.unwrap();
        assert_eq!(
            got,
            Fetched::Found {
                size: None,
                data: None
            }
        );
        script.join().unwrap();
    }
}
