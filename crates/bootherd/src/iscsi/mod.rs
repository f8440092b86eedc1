//! The storage server's side of iSCSI roots: `bootherd iscsi export` writes the
//! target configuration for every machine whose profile has an `iscsi` root and a
//! `backing_store`, and `bootherd iscsi create-disk` makes a machine's backing file.
//!
//! Per machine, one target (the root's `target` IQN) with one LUN (the root's `lun`)
//! backed by `backing_store`, and an ACL that admits the machine's `initiator` IQN
//! alone; with `chap_file`, CHAP credentials too. Formats: tgt's `targets.conf`
//! ([`tgt`]) and a `targetcli` script for LIO ([`targetcli`]).
//!
//! Refused, each with the machine and key: a machine with a backing store but no
//! initiator (the ACL would have no name to admit), two machines with one target
//! IQN, LUN 0 for tgt (tgt keeps LUN 0 for its controller), and a CHAP file that
//! cannot be read. Machines without a backing store are left out, and named on
//! stderr. The CHAP password is written only into the exported configuration:
//! never into a log line or an error.

mod chap;
mod command;
mod disk;
mod targetcli;
mod tgt;

pub use chap::Chap;
pub use command::{run, IscsiArgs};
pub use disk::{create_disk, parse_size, DiskSource};

use std::collections::HashMap;
use std::path::PathBuf;

use crate::inventory::Inventory;

/// One exported target: a machine's LUN with its ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The machine's name.
    pub machine: String,
    /// Its profile's name.
    pub profile: String,
    /// The target IQN.
    pub iqn: String,
    /// The LUN number.
    pub lun: u32,
    /// The file or block device behind the LUN.
    pub backing_store: PathBuf,
    /// The only initiator IQN admitted.
    pub initiator: String,
    /// The portal address.
    pub portal: std::net::Ipv4Addr,
    /// The portal's TCP port.
    pub port: u16,
    /// CHAP credentials, when the root names a `chap_file`.
    pub chap: Option<Chap>,
}

/// The target configuration formats `bootherd iscsi export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// tgt's `targets.conf` stanzas (`tgt-admin --execute --conf FILE`).
    Tgt,
    /// A shell script of `targetcli` commands for LIO.
    Targetcli,
}

/// What [`targets`] found: the targets, and the machines left out (with why).
#[derive(Debug, Default)]
pub struct Export {
    /// One per machine with an iSCSI root and a backing store, in inventory order.
    pub targets: Vec<Target>,
    /// `machine NAME: why it is not exported`.
    pub skipped: Vec<String>,
}

/// Collects the targets of every machine with an iSCSI root and a backing store,
/// reading CHAP files. Errors list every problem, one per line, each naming the
/// machine and the key.
pub fn targets(inventory: &Inventory) -> Result<Export, String> {
    let mut export = Export::default();
    let mut problems = Vec::new();
    let mut by_iqn: HashMap<&str, &str> = HashMap::new();
    for machine in inventory.machines() {
        let Some(lun) = &machine.iscsi else { continue };
        let subject = format!("machine {}", machine.name);
        let Some(backing_store) = &lun.backing_store else {
            export.skipped.push(format!(
                "{subject}: its profile's root has no backing_store; not exported"
            ));
            continue;
        };
        let Some(initiator) = &lun.initiator else {
            problems.push(format!(
                "{subject}: root.initiator: not set, and the target's ACL needs the \
                 machine's initiator IQN (set `initiator` in profile {}'s root)",
                machine.profile
            ));
            continue;
        };
        if let Some(other) = by_iqn.insert(&lun.target, &machine.name) {
            problems.push(format!(
                "{subject}: root.target: {} is also machine {other}'s target; each \
                 machine needs its own (for example with {{name}})",
                lun.target
            ));
            continue;
        }
        let chap = match &lun.chap_file {
            Some(file) => match Chap::read(file) {
                Ok(chap) => Some(chap),
                Err(why) => {
                    problems.push(format!("{subject}: root.chap_file: {why}"));
                    continue;
                }
            },
            None => None,
        };
        export.targets.push(Target {
            machine: machine.name.clone(),
            profile: machine.profile.clone(),
            iqn: lun.target.clone(),
            lun: lun.lun,
            backing_store: backing_store.clone(),
            initiator: initiator.clone(),
            portal: lun.portal,
            port: lun.port,
            chap,
        });
    }
    if problems.is_empty() {
        Ok(export)
    } else {
        Err(problems.join("\n"))
    }
}

/// The targets in `format`.
pub fn render(format: Format, targets: &[Target]) -> Result<String, String> {
    match format {
        Format::Tgt => tgt::render(targets),
        Format::Targetcli => Ok(targetcli::render(targets)),
    }
}

#[cfg(test)]
mod tests;
