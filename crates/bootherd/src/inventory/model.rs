//! The checked inventory's types: MACs, serials, profiles, roots, machines, and the
//! errors a check reports.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::*;

/// Normalises a Raspberry Pi serial to the 8 lowercase hex digits of its TFTP folder.
/// Accepts up to 16 hex digits (as `/proc/cpuinfo` prints them), with or without `0x`.
pub fn normalize_serial(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tail = &text[text.len().saturating_sub(8)..];
    Some(format!("{:0>8}", tail.to_ascii_lowercase()))
}

/// A checked profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The table name in `[profiles.NAME]`.
    pub name: String,
    /// How its machines boot.
    pub kind: Kind,
    /// Some for rpi profiles (default `pi4`), None for the others.
    pub model: Option<RpiModel>,
    /// The kernel (efi: the EFI binary), a path relative to the machine's namespace.
    pub kernel: Option<String>,
    /// The initramfs.
    pub initrd: Option<String>,
    /// The device tree.
    pub dtb: Option<String>,
    /// pxelinux: the device-tree directory.
    pub fdtdir: Option<String>,
    /// Overlay names.
    pub overlays: Vec<String>,
    /// The command line as written, whitespace collapsed, placeholders not filled in.
    pub cmdline: String,
    /// rpi: the `config.txt` text, ending in a newline.
    pub config_txt: Option<String>,
    /// The profile's directory of files.
    pub dir: Option<PathBuf>,
    /// pxelinux: the first folder of the machines' files.
    pub folder: Option<String>,
    /// The root filesystem, placeholders not filled in.
    pub root: Option<Root>,
    /// grub: the signed shim (the boot file), in the machine's namespace.
    pub shim: Option<String>,
    /// grub: the signed GRUB's file name, in the shim's folder.
    pub grub: Option<String>,
    /// grub: GRUB's prefix from the root of the tree, without slashes at either end.
    pub grub_prefix: Option<String>,
}

/// A checked root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// iSCSI.
    Iscsi(IscsiRoot),
    /// NFS.
    Nfs(NfsRoot),
}

/// An iSCSI root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IscsiRoot {
    /// The target's address.
    pub portal: Ipv4Addr,
    /// Its TCP port.
    pub port: u16,
    /// The target IQN.
    pub target: String,
    /// The initiator IQN, if set.
    pub initiator: Option<String>,
    /// The LUN.
    pub lun: u32,
    /// The partition, if not the whole LUN.
    pub partition: Option<u32>,
    /// An explicit `root=` value.
    pub root_device: Option<String>,
    /// The file or block device behind the LUN on the storage server.
    pub backing_store: Option<String>,
    /// The file holding the CHAP credentials.
    pub chap_file: Option<String>,
}

/// One machine's LUN as the storage server exports it: the iSCSI root with its
/// placeholders filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IscsiLun {
    /// The target's address.
    pub portal: Ipv4Addr,
    /// Its TCP port.
    pub port: u16,
    /// The target IQN.
    pub target: String,
    /// The initiator IQN the ACL admits (None: the initramfs's own, unknown here).
    pub initiator: Option<String>,
    /// The LUN.
    pub lun: u32,
    /// The file or block device behind the LUN.
    pub backing_store: Option<PathBuf>,
    /// The file holding the CHAP credentials.
    pub chap_file: Option<PathBuf>,
}

/// An NFS root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsRoot {
    /// The server.
    pub server: String,
    /// The export.
    pub path: String,
    /// Mount options.
    pub options: Option<String>,
}

/// The kernel command line of one machine, in its three parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelArgs {
    /// The profile's `cmdline`, placeholders filled in.
    pub base: String,
    /// Derived from the profile's `root`.
    pub root: String,
    /// The machine's `extra_args`.
    pub extra: String,
}

impl KernelArgs {
    /// The whole line: the three parts joined by single spaces.
    pub fn full(&self) -> String {
        [&self.base, &self.root, &self.extra]
            .iter()
            .filter(|part| !part.is_empty())
            .map(|part| part.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A checked machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Its unique name.
    pub name: String,
    /// Its MAC (always set except for Raspberry Pis listed by serial).
    pub mac: Option<Mac>,
    /// Raspberry Pis: 8 lowercase hex digits.
    pub serial: Option<String>,
    /// Its profile's name.
    pub profile: String,
    /// Its reserved address.
    pub ip: Option<Ipv4Addr>,
    /// Its extra kernel arguments, whitespace collapsed.
    pub extra_args: Option<String>,
    /// Its own directory of files.
    pub dir: Option<PathBuf>,
    /// Its kernel command line.
    pub args: KernelArgs,
    /// Its iSCSI root's LUN, when its profile's root is iSCSI.
    pub iscsi: Option<IscsiLun>,
    pub(super) profile_index: usize,
}

/// Whether a path is inside a machine's namespace or at the root of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Relative to the machine's namespace: served under each of its prefixes
    /// (`<serial>/`, `<mac-dashes>/`, `<mac-hex>/`, `<folder>/<mac-hex>/`, `m/<mac>/`).
    Machine,
    /// A path from the root of the tree (`pxelinux.cfg/01-…`, `bootcode.bin`).
    Root,
}

/// A request path that belongs to one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<'a> {
    /// The machine.
    pub machine: &'a Machine,
    /// Its profile.
    pub profile: &'a Profile,
    /// How to read `path`.
    pub scope: Scope,
    /// For [`Scope::Machine`], the path after the machine's prefix; for
    /// [`Scope::Root`], the whole path.
    pub path: &'a str,
}

/// A file a machine needs from the tree, for `bootherd check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredFile {
    /// How to read `path`.
    pub scope: Scope,
    /// The path, in the machine's namespace or from the root.
    pub path: String,
    /// Why the machine asks for it.
    pub why: String,
    /// False for files the firmware reads only if present.
    pub required: bool,
}

/// One problem in the inventory, naming the profile or machine and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {key}: {message}")]
pub struct InventoryError {
    /// `profile pi4-iscsi`, `machine kitchen-pi` or `machines[3]`.
    pub subject: String,
    /// Where that profile or machine is in the file.
    pub entry: Entry,
    /// The key, such as `root.target`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Which table of the file an [`InventoryError`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `[profiles.NAME]`.
    Profile(String),
    /// The `[[machines]]` entry at this index.
    Machine(usize),
}

/// Every problem found in the inventory, in file order (profiles by name, then machines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryErrors(pub Vec<InventoryError>);

impl fmt::Display for InventoryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{err}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryErrors {}

/// The checked inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub(super) profiles: Vec<Profile>,
    pub(super) machines: Vec<Machine>,
    pub(super) by_mac: HashMap<[u8; 6], usize>,
    pub(super) by_serial: HashMap<String, usize>,
    pub(super) by_name: HashMap<String, usize>,
}
