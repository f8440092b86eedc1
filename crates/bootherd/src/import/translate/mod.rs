//! From what dnsmasq and tftpd-hpa were told to what bootherd is told.
//!
//! Every line ends up in exactly one of three places: cited by the key it
//! became, listed as needing no key (bootherd behaves so without one), or
//! listed as not translated with the reason. A line nothing claimed is listed as
//! not translated: nothing is dropped silently.
//!
//! The decisions, with the reason for each, are in docs/IMPORT.md; in short:
//! - proxyDHCP answers: for each kind of client bootherd tells apart, the file
//!   dnsmasq would give it ([`super::tags`]), one key per kind;
//! - dnsmasq as a DHCP server: bootherd owns only the hosts dnsmasq gave a boot
//!   file to (`dhcp-host` with a MAC) and vendor classes selected for one, and
//!   leaves every other client to the LAN's DHCP server;
//! - `[[machines]]` only where a profile reproduces what dnsmasq did: a host
//!   given its own UEFI boot file becomes an `efi` machine. A U-Boot board is not
//!   listed: a pxelinux profile would generate `pxelinux.cfg/01-<mac>` in place of
//!   the hand-written file in the tree.
//!
//! The parts, in the order [`translate`] runs them: `net.rs` (`[net]`),
//! `proxy.rs` (what dnsmasq gives each kind of client of `client_kinds.rs`),
//! `dhcp.rs` (`[dhcp]`, pools, owned clients), `machines.rs` (`[[machines]]`),
//! `tftp.rs` (`[tftp]` and rewrites), `http.rs` (`[http]`), `rest.rs` (every
//! other option); `ledger.rs` keeps what became of each line and builds the
//! [`Draft`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use toml::Value;

use super::dnsmasq::{
    csa_name, DhcpBoot, DhcpHost, DhcpRange, Directive, PxeBoot, PxeService, RangeMode,
};
use super::tags::{choose_boot, choose_service, Choice, Client, Rules, Tri};
use super::tftpd_hpa::Setting;
use super::{Entry, Origin};

mod client_kinds;
mod dhcp;
mod http;
mod ledger;
mod machines;
mod net;
mod proxy;
mod rest;
#[cfg(test)]
mod tests;
mod tftp;

use client_kinds::Kind;
use ledger::{line_index, Fate, Line};

/// What to translate.
pub struct Inputs<'a> {
    /// The dnsmasq lines, includes followed.
    pub dnsmasq: &'a [Entry<Directive>],
    /// The tftpd-hpa settings.
    pub tftpd: &'a [Entry<Setting>],
    /// The files, for the header.
    pub sources: &'a [String],
    /// `--tftp-root`: the tree to serve instead of the one the files name.
    pub tftp_root: Option<&'a Path>,
}

/// The configuration to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Comment lines at the top.
    pub header: Vec<String>,
    /// Tables, in order.
    pub tables: Vec<Table>,
    /// Lines that need no key.
    pub no_key: Vec<Note>,
    /// Lines not translated.
    pub not_translated: Vec<Note>,
}

/// One TOML table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// `tftp`, `dhcp.pool`.
    pub name: String,
    /// `[[name]]`.
    pub array: bool,
    /// Comment lines above it.
    pub comments: Vec<String>,
    /// Its keys.
    pub keys: Vec<Key>,
}

/// One key.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// Where it comes from.
    pub comment: String,
}

/// A line and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The line as written.
    pub text: String,
    /// Where.
    pub origin: Origin,
    /// Why it needs no key, or why it is not translated.
    pub why: String,
}

/// Builds the bootherd configuration.
pub fn translate(inputs: &Inputs<'_>) -> Draft {
    Translator::new(inputs).run()
}

struct Translator<'a> {
    inputs: &'a Inputs<'a>,
    fates_d: Vec<(bool, Option<Fate>)>,
    fates_t: Vec<(bool, Option<Fate>)>,
    rules: Rules,
    boots: Vec<Entry<DhcpBoot>>,
    boot_lines: Vec<usize>,
    services: Vec<Entry<PxeService>>,
    service_lines: Vec<usize>,
    tables: Vec<Table>,
    attention: Vec<String>,
}

fn key(name: &str, value: impl Into<Value>, comment: impl Into<String>) -> Key {
    Key {
        name: name.to_owned(),
        value: value.into(),
        comment: comment.into(),
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn mac_text(mac: &[u8; 6]) -> String {
    bootherd_proto::client::format_mac(mac)
}

/// The path of an `http://host/path` URL, and its host.
fn url_path(text: &str) -> Option<(&str, &str)> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    Some((host, path))
}

fn depends(tag: &str) -> String {
    format!(
        "whether it applies depends on tag {tag}, set by a rule import cannot evaluate for a kind of \
         client (docs/IMPORT.md)"
    )
}

impl<'a> Translator<'a> {
    fn new(inputs: &'a Inputs<'a>) -> Translator<'a> {
        let mut boots = Vec::new();
        let mut boot_lines = Vec::new();
        let mut services = Vec::new();
        let mut service_lines = Vec::new();
        for (i, entry) in inputs.dnsmasq.iter().enumerate() {
            match &entry.item {
                Directive::DhcpBoot(b) => {
                    boots.push(entry.with(b.clone()));
                    boot_lines.push(i);
                }
                Directive::PxeService(s) => {
                    services.push(entry.with(s.clone()));
                    service_lines.push(i);
                }
                _ => {}
            }
        }
        Translator {
            inputs,
            fates_d: vec![(false, None); inputs.dnsmasq.len()],
            fates_t: vec![(false, None); inputs.tftpd.len()],
            rules: Rules::new(inputs.dnsmasq),
            boots,
            boot_lines,
            services,
            service_lines,
            tables: Vec::new(),
            attention: Vec::new(),
        }
    }

    fn run(mut self) -> Draft {
        for i in 0..self.inputs.dnsmasq.len() {
            match &self.inputs.dnsmasq[i].item {
                Directive::Invalid(why) => {
                    let why = format!("cannot read it: {why}");
                    self.not_translated(Line::D(i), why)
                }
                Directive::ConfFile(_) | Directive::ConfDir { .. } => {
                    self.no_key(Line::D(i), "read by import: its lines follow in place")
                }
                _ => {}
            }
        }
        self.net();
        let (proxy_on, wants_http) = self.proxy();
        let owned = self.dhcp();
        self.machines(&owned);
        self.tftp();
        self.http(wants_http, proxy_on);
        self.rest();
        self.finish()
    }
}
