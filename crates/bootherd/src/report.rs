//! What `bootherd check` and `bootherd show` print: per machine, what it will be
//! served and what is missing, before any board is powered.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::config::Config;
use crate::inventory::{expected_files, Inventory, Kind, Machine};
use crate::render::GeneratedFile;
use crate::tree::BootTree;
use crate::validate::Checked;
use crate::vfs::{ClientInfo, FileSource, VfsError};

/// The result of checking a configuration's machines against its tree.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// The text to print.
    pub text: String,
    /// Required pieces that are missing (non-zero exit).
    pub problems: usize,
}

/// The address generated files are rendered for when no request tells it (a client
/// gets the address it reached): the first address bootherd would listen on that is
/// not loopback, else the first one.
fn render_address(config: &Config) -> Ipv4Addr {
    let addrs = crate::net::listen_addresses(&config.net).unwrap_or_default();
    addrs
        .iter()
        .find(|a| !a.is_loopback())
        .or(addrs.first())
        .copied()
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn probe_client(config: &Config) -> ClientInfo {
    let local = render_address(config);
    ClientInfo {
        addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        local: SocketAddr::from((local, config.tftp.port)),
    }
}

/// Builds the tree the daemon would serve for a checked configuration.
pub fn tree(checked: &Checked) -> anyhow::Result<BootTree> {
    let config = &checked.config;
    let http_port = config.http.enabled.then_some(config.http.port);
    Ok(BootTree::new(
        &config.tftp.root,
        Arc::clone(&checked.inventory),
        Arc::clone(&checked.renderer),
        http_port,
    )?)
}

fn describe(inventory: &Inventory, machine: &Machine) -> String {
    let profile = inventory.profile_of(machine);
    let mut out = format!(
        "{} (profile {}, {}",
        machine.name,
        profile.name,
        profile.kind.as_str()
    );
    if let Some(mac) = &machine.mac {
        let _ = write!(out, ", mac {mac}");
    }
    if let Some(serial) = &machine.serial {
        let _ = write!(out, ", serial {serial}");
    }
    if let Some(ip) = machine.ip {
        let _ = write!(out, ", ip {ip}");
    }
    out.push(')');
    out
}

/// Checks every machine: its generated files render, and every file its firmware
/// needs is found through the same lookup TFTP and HTTP use.
pub fn check(config: &Config, tree: &BootTree) -> CheckReport {
    let mut report = CheckReport::default();
    let client = probe_client(config);
    let inventory = tree.inventory();
    let ctx = tree.context(render_address(config));
    for machine in inventory.machines() {
        let profile = inventory.profile_of(machine);
        let _ = writeln!(report.text, "{}", describe(inventory, machine));
        match tree.renderer().files(machine, profile, &ctx) {
            Ok(files) => {
                for f in files {
                    let path = inventory.request_path(machine, f.scope, &f.path);
                    let _ = writeln!(report.text, "  generated  {path}");
                }
                if let (Kind::Grub, Some(prefix), Some(ip)) =
                    (profile.kind, &profile.grub_prefix, machine.ip)
                {
                    let _ = writeln!(
                        report.text,
                        "  generated  {prefix}/grub.cfg (the same, when asked from {ip}: \
                         Debian's signed GRUB reads only this name)"
                    );
                }
            }
            Err(err) => {
                report.problems += 1;
                let _ = writeln!(report.text, "  ERROR      templates: {err}");
            }
        }
        if profile.kind == Kind::Grub && !config.dhcp.enabled {
            report.problems += 1;
            let _ = writeln!(
                report.text,
                "  ERROR      [dhcp] is off: GRUB takes its server only from the DHCP ACK, \
                 so a grub machine needs bootherd's DHCP server (PROTOCOLS.md section 7)"
            );
        }
        for file in expected_files(machine, profile) {
            let path = inventory.request_path(machine, file.scope, &file.path);
            let (mark, missing) = match tree.open(&client, &path) {
                Ok(_) => ("found", false),
                Err(VfsError::NotFound) if file.required => ("MISSING", true),
                Err(VfsError::NotFound) => ("absent", false),
                Err(err) if file.required => {
                    let _ = writeln!(report.text, "  UNUSABLE   {path}: {err} ({})", file.why);
                    report.problems += 1;
                    continue;
                }
                Err(_) => ("absent", false),
            };
            if missing {
                report.problems += 1;
            }
            let _ = writeln!(report.text, "  {mark:<10} {path} ({})", file.why);
        }
        if let Some(store) = machine
            .iscsi
            .as_ref()
            .and_then(|l| l.backing_store.as_ref())
        {
            // Only meaningful when the storage server is this host; a missing store
            // is a problem all the same, as `bootherd iscsi export` would export it.
            if std::fs::metadata(store).is_ok() {
                let _ = writeln!(
                    report.text,
                    "  found      iscsi backing store {}",
                    store.display()
                );
            } else {
                report.problems += 1;
                let _ = writeln!(
                    report.text,
                    "  MISSING    iscsi backing store {} (bootherd iscsi create-disk {})",
                    store.display(),
                    machine.name
                );
            }
        }
        for (what, dir) in [("machine dir", &machine.dir), ("profile dir", &profile.dir)] {
            if let Some(dir) = dir {
                if !dir.is_dir() {
                    report.problems += 1;
                    let _ = writeln!(report.text, "  MISSING    {what} {}", dir.display());
                }
            }
        }
    }
    report
}

/// The rendered files of one machine (by name, MAC or serial), with headers.
pub fn show(
    config: &Config,
    tree: &BootTree,
    which: &str,
    server: Option<Ipv4Addr>,
) -> anyhow::Result<String> {
    let inventory = tree.inventory();
    let machine = inventory
        .by_name(which)
        .or_else(|| crate::inventory::Mac::parse(which).and_then(|m| inventory.by_mac(&m.octets())))
        .or_else(|| inventory.by_serial(which))
        .ok_or_else(|| {
            anyhow::anyhow!("no machine named {which:?} (or with that MAC or serial)")
        })?;
    let profile = inventory.profile_of(machine);
    let ctx = tree.context(server.unwrap_or_else(|| render_address(config)));
    let files: Vec<GeneratedFile> = tree.renderer().files(machine, profile, &ctx)?;
    let mut out = format!(
        "# {}\n# rendered for server address {} (each client gets the address it reached)\n",
        describe(inventory, machine),
        ctx.server
    );
    if files.is_empty() {
        out.push_str("# nothing is generated for this machine\n");
    }
    for f in files {
        let path = inventory.request_path(machine, f.scope, &f.path);
        let _ = write!(out, "\n==> {path} <==\n{}", f.content);
        if !f.content.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}
