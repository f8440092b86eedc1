//! Everything the probe saw and decided, printed as lines or as one JSON object.

use std::net::Ipv4Addr;

use bootherd_proto::client::format_mac;
use bootherd_proto::emulate::{
    Emulated, Fetch, Fetched, Identity, Need, Problem, Read, Reply, EARLY_TERMINATE,
};
use bootherd_proto::wire::dhcp::code;
use serde_json::{json, Value};

/// Everything the probe saw and decided, for lines and JSON.
pub(super) struct Report {
    pub(super) json: bool,
    pub(super) kind: Emulated,
    pub(super) link: String,
    pub(super) host: Ipv4Addr,
    pub(super) machine: Identity,
    pub(super) lines: Vec<String>,
    pub(super) replies: Vec<Value>,
    pub(super) address: Option<Ipv4Addr>,
    pub(super) tftp_server: Option<Ipv4Addr>,
    pub(super) files: Vec<Value>,
    pub(super) problem: Option<String>,
}

impl Report {
    /// Adds one line, printed at once unless the output is JSON.
    pub(super) fn say(&mut self, line: String) {
        if !self.json {
            println!("{line}");
        }
        self.lines.push(line);
    }

    pub(super) fn finish(&mut self, problem: Option<Problem>) {
        self.problem = problem.map(|p| p.to_string());
        let line = match &self.problem {
            None => "VERDICT: boots".to_string(),
            Some(p) => format!("VERDICT: would not boot: {p}"),
        };
        self.say(line);
    }

    pub(super) fn to_json(&self) -> Value {
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

pub(super) fn reply_json(reply: &Reply, kind: Emulated) -> Value {
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

pub(super) fn describe_fetch(fetch: &Fetch, result: &Fetched) -> String {
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

pub(super) fn fetch_json(fetch: &Fetch, result: &Fetched) -> Value {
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
