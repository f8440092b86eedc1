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
//!
//! The parts: `link.rs` (which interface), `dhcp.rs` (the DHCP conversation),
//! `tftp_client.rs` (the TFTP reads), `report.rs` (lines and JSON); this file runs
//! them in order.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bootherd_proto::client::format_mac;
use bootherd_proto::emulate::{self, Emulated, Fetched, FilePlan, Identity, Problem};
use bootherd_proto::wire::dhcp::CLIENT_PORT;

use crate::net::PacketSocket;

mod dhcp;
mod link;
mod report;
mod tftp_client;

use dhcp::*;
use link::*;
use report::*;
use tftp_client::*;

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

async fn probe(options: &ProbeOptions) -> Result<Report, ProbeError> {
    let kind = options.kind;
    let link = choose_link(options.interface.as_deref())?;
    let tail = link.mac.map_or([0x00, 0x5e, 0xb0], |m| [m[3], m[4], m[5]]);
    let mac = options
        .mac
        .unwrap_or_else(|| emulate::default_mac(kind, tail));
    let mut machine = Identity::new(kind, mac, options.serial);
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

#[cfg(test)]
mod tests;
