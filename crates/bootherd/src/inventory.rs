//! The inventory: which machines bootherd boots, and how. Serde types for the
//! `[profiles.*]` and `[[machines]]` sections (unknown keys refused), then one check
//! that turns them into an [`Inventory`]: normalised MACs and serials, per-machine
//! kernel command lines with placeholders filled in, and lookups by MAC, serial,
//! name and request path.
//!
//! Decisions, with the reason for each:
//! - Serials: the Raspberry Pi names its TFTP folder by the last 8 hex digits of its
//!   serial, in lowercase (PROTOCOLS.md §1, §2). `serial` accepts what
//!   `/proc/cpuinfo` prints (up to 16 hex digits, optional `0x`) and keeps the last
//!   8; shorter serials are zero-padded to 8, as the firmware prints them.
//! - A Pi 4/5 may be listed by `mac` alone (EEPROM `TFTP_PREFIX=2`, folder
//!   `dc-a6-32-01-36-c2/`); a Pi 3 needs `serial`, since its boot ROM only ever asks
//!   for `<serial>/start.elf`. Every other kind needs `mac`.
//! - `model` (rpi profiles only) is `pi3`, `pi4` or `pi5`, default `pi4`: it decides
//!   which firmware files a machine needs ([`expected_files`]).
//! - pxelinux machines keep their files in `<folder>/<mac-hex>/` (for example
//!   `rock64/dca6320136c2/Image`), `folder` defaulting to the profile name.
//! - iSCSI root: `ip=dhcp ISCSI_INITIATOR=… ISCSI_TARGET_NAME=… ISCSI_TARGET_IP=…
//!   ISCSI_TARGET_PORT=… root=<device> rw rootwait`, the variables the open-iscsi
//!   initramfs script of Debian / Raspberry Pi OS reads (the kernel passes unknown
//!   `NAME=value` words to init as environment variables). The device defaults to the
//!   udev by-path link built from the portal, port, target and LUN
//!   (`/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-<iqn>-lun-1`, plus `-part2` with
//!   `partition = 2`), because it is the only name bootherd can know without reading
//!   the disk; `root_device` replaces it (`UUID=…`, `PARTUUID=…`, `/dev/sda2`).
//! - Placeholders `{name}`, `{mac}` (lowercase, dashes: `dc-a6-32-01-36-c2`, safe in
//!   paths, IQNs and URLs) and `{serial}` are filled in in the profile's `cmdline` and
//!   in every `root` string but `portal`; `{{` and `}}` are literal braces. A
//!   machine's own `extra_args` are taken literally.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// Configuration types, as written in the file

/// How a profile's machines boot, and so which files bootherd generates for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Raspberry Pi boot ROM or EEPROM: `cmdline.txt`, `config.txt` in its folder.
    Rpi,
    /// U-Boot `pxe get`: `pxelinux.cfg/01-<mac>`.
    Pxelinux,
    /// iPXE: `boot.ipxe` over HTTP at `/m/<mac>/boot.ipxe`.
    Ipxe,
    /// UEFI firmware loading an EFI binary (`kernel`) directly: nothing generated.
    Efi,
}

impl Kind {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rpi => "rpi",
            Kind::Pxelinux => "pxelinux",
            Kind::Ipxe => "ipxe",
            Kind::Efi => "efi",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Raspberry Pi: decides the firmware files it asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RpiModel {
    /// Pi 3B / 3B+ / 2B v1.2 boot ROM: `bootcode.bin` from the root, then `start.elf`.
    Pi3,
    /// Pi 4 / 400 / CM4 EEPROM: `start4.elf`, `fixup4.dat`.
    #[default]
    Pi4,
    /// Pi 5 EEPROM: the firmware is in the EEPROM, no `start*.elf`.
    Pi5,
}

impl RpiModel {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            RpiModel::Pi3 => "pi3",
            RpiModel::Pi4 => "pi4",
            RpiModel::Pi5 => "pi5",
        }
    }
}

/// One `[profiles.NAME]` table: how a group of machines boots.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// `rpi`, `pxelinux`, `ipxe` or `efi`.
    pub kind: Kind,
    /// rpi only: `pi3`, `pi4` (default) or `pi5`.
    #[serde(default)]
    pub model: Option<RpiModel>,
    /// The kernel file (for `efi`: the EFI binary). Required for pxelinux and ipxe.
    #[serde(default)]
    pub kernel: Option<String>,
    /// The initramfs file.
    #[serde(default)]
    pub initrd: Option<String>,
    /// The device-tree file (rpi `device_tree=`, pxelinux `fdt`).
    #[serde(default)]
    pub dtb: Option<String>,
    /// pxelinux only: a device-tree directory, U-Boot picks `$fdtfile` in it.
    #[serde(default)]
    pub fdtdir: Option<String>,
    /// Device-tree overlays by name: rpi `dtoverlay=NAME`, pxelinux
    /// `fdtoverlays overlays/NAME.dtbo`.
    #[serde(default)]
    pub overlays: Vec<String>,
    /// The kernel command line, before the root arguments and the machine's extras.
    #[serde(default)]
    pub cmdline: Option<String>,
    /// rpi only: the text of `config.txt`. When set, bootherd generates `config.txt`.
    #[serde(default)]
    pub config_txt: Option<String>,
    /// A directory of files served to this profile's machines (relative to the config
    /// file; the config loader resolves it).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// pxelinux only: the first folder of the machines' files, default the profile name.
    #[serde(default)]
    pub folder: Option<String>,
    /// The root filesystem: iSCSI or NFS; absent means the command line says it.
    #[serde(default)]
    pub root: Option<RootConfig>,
}

/// `root = { type = "iscsi", ... }` or `root = { type = "nfs", ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum RootConfig {
    /// A LUN on an iSCSI target, logged into by the initramfs (open-iscsi).
    Iscsi {
        /// The target's IPv4 address (`ISCSI_TARGET_IP`).
        #[serde(default)]
        portal: Option<String>,
        /// TCP port, default 3260.
        #[serde(default)]
        port: Option<u16>,
        /// The target's IQN (`ISCSI_TARGET_NAME`).
        #[serde(default)]
        target: Option<String>,
        /// The machine's IQN (`ISCSI_INITIATOR`); default: the initramfs's own.
        #[serde(default)]
        initiator: Option<String>,
        /// The LUN holding the root filesystem, default 0.
        #[serde(default)]
        lun: Option<u32>,
        /// The partition of that LUN holding the root filesystem; default the whole LUN.
        #[serde(default)]
        partition: Option<u32>,
        /// Replaces the derived `root=` value (`UUID=…`, `PARTUUID=…`, `/dev/sda2`).
        #[serde(default)]
        root_device: Option<String>,
    },
    /// An NFS export mounted by the kernel (`root=/dev/nfs`).
    Nfs {
        /// The NFS server.
        #[serde(default)]
        server: Option<String>,
        /// The exported directory.
        #[serde(default)]
        path: Option<String>,
        /// Mount options (`vers=4.1,proto=tcp`).
        #[serde(default)]
        options: Option<String>,
    },
}

/// One `[[machines]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// A unique name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabbccddeeff`, any case.
    #[serde(default)]
    pub mac: Option<String>,
    /// Raspberry Pis: the serial (its last 8 hex digits name the TFTP folder).
    #[serde(default)]
    pub serial: Option<String>,
    /// The profile this machine boots with.
    pub profile: String,
    /// A reserved IPv4 address.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Appended to the kernel command line, taken literally.
    #[serde(default)]
    pub extra_args: Option<String>,
    /// The machine's own directory of files (relative to the config file; the config
    /// loader resolves it).
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

// ---------------------------------------------------------------------------
// Checked types

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabbccddeeff`, any case.
    pub fn parse(text: &str) -> Option<Mac> {
        bootherd_proto::client::parse_mac(text).map(Mac)
    }

    /// The six bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// `dc-a6-32-01-36-c2`: the Pi's `TFTP_PREFIX=2` folder, pxelinux and `/m/<mac>/`.
    pub fn dashes(&self) -> String {
        self.join("-")
    }

    /// `dca6320136c2`: the pxelinux machine folder.
    pub fn hex(&self) -> String {
        self.join("")
    }

    fn join(&self, sep: &str) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(sep)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join(":"))
    }
}

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
    profile_index: usize,
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
    profiles: Vec<Profile>,
    machines: Vec<Machine>,
    by_mac: HashMap<[u8; 6], usize>,
    by_serial: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl Inventory {
    /// Checks the configuration sections and builds the inventory, or returns every
    /// problem found.
    pub fn from_parts(
        profiles: &BTreeMap<String, ProfileConfig>,
        machines: &[MachineConfig],
    ) -> Result<Inventory, InventoryErrors> {
        let mut errors = Errors::default();
        let mut checked_profiles = Vec::new();
        let mut profile_index = HashMap::new();
        for (name, raw) in profiles {
            if let Some(profile) = check_profile(name, raw, &mut errors) {
                profile_index.insert(name.clone(), checked_profiles.len());
                checked_profiles.push(profile);
            }
        }
        let mut inventory = Inventory {
            profiles: checked_profiles,
            ..Inventory::default()
        };
        // Who already holds a name, MAC, serial or address: every entry counts, also
        // one with other problems, so each duplicate is reported once, on the later entry.
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut macs: HashMap<[u8; 6], String> = HashMap::new();
        let mut serials: HashMap<String, String> = HashMap::new();
        let mut ips: HashMap<Ipv4Addr, String> = HashMap::new();
        for (i, raw) in machines.iter().enumerate() {
            let subject = if raw.name.is_empty() {
                format!("machines[{i}]")
            } else {
                format!("machine {}", raw.name)
            };
            let mut e = errors.scope(&subject, Entry::Machine(i));
            let index = inventory.machines.len();
            if let Err(why) = check_name(&raw.name) {
                e.push("name", why);
            } else if let Some(&other) = names.get(raw.name.as_str()) {
                e.push("name", format!("also the name of machines[{other}]"));
            } else {
                names.insert(&raw.name, i);
            }
            let profile = match profile_index.get(&raw.profile) {
                Some(&p) => Some(p),
                None if profiles.contains_key(&raw.profile) => None, // already reported
                None => {
                    e.push("profile", format!("no profile named `{}`", raw.profile));
                    None
                }
            };
            let kind = profile.map(|p| inventory.profiles[p].kind);
            let model = profile.and_then(|p| inventory.profiles[p].model);

            let mac = match &raw.mac {
                Some(text) => match Mac::parse(text) {
                    Some(mac) => Some(mac),
                    None => {
                        e.push(
                            "mac",
                            format!("`{text}` is not a MAC address (aa:bb:cc:dd:ee:ff)"),
                        );
                        None
                    }
                },
                None => None,
            };
            let serial = match &raw.serial {
                Some(text) => match normalize_serial(text) {
                    Some(serial) => Some(serial),
                    None => {
                        e.push(
                            "serial",
                            format!("`{text}` is not a serial (up to 16 hex digits)"),
                        );
                        None
                    }
                },
                None => None,
            };
            match kind {
                Some(Kind::Rpi) => {
                    if raw.serial.is_none() && model == Some(RpiModel::Pi3) {
                        e.push(
                            "serial",
                            "a Pi 3 needs its serial: its boot ROM only asks for <serial>/start.elf"
                                .into(),
                        );
                    } else if raw.serial.is_none() && raw.mac.is_none() {
                        e.push(
                            "serial",
                            "a Raspberry Pi needs `serial` (its folder with TFTP_PREFIX=0, the \
                             default) or `mac` (TFTP_PREFIX=2)"
                                .into(),
                        );
                    }
                }
                Some(kind) => {
                    if raw.mac.is_none() {
                        e.push("mac", format!("a {kind} machine needs its MAC"));
                    }
                    if raw.serial.is_some() {
                        e.push("serial", "only Raspberry Pis are found by serial".into());
                    }
                }
                None => {}
            }
            if let Some(mac) = mac {
                match macs.get(&mac.0) {
                    Some(other) => e.push("mac", format!("{mac} is also {other}'s")),
                    None => {
                        macs.insert(mac.0, subject.clone());
                    }
                }
            }
            if let Some(serial) = &serial {
                match serials.get(serial) {
                    Some(other) => e.push("serial", format!("{serial} is also {other}'s")),
                    None => {
                        serials.insert(serial.clone(), subject.clone());
                    }
                }
            }
            if let Some(ip) = raw.ip {
                match ips.get(&ip) {
                    Some(other) => e.push("ip", format!("{ip} is also {other}'s")),
                    None => {
                        ips.insert(ip, subject.clone());
                    }
                }
            }
            if raw.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
                e.push("dir", "empty path".into());
            }
            let extra_args = raw.extra_args.as_deref().map(collapse_whitespace);
            if let Some(extra) = &raw.extra_args {
                if extra.chars().any(|c| c.is_control() && !c.is_whitespace()) {
                    e.push("extra_args", "control character".into());
                }
            }

            let Some(profile_at) = profile else { continue };
            if e.failed() {
                continue;
            }
            let vars = Vars {
                name: &raw.name,
                mac,
                serial: serial.as_deref(),
            };
            let args = match kernel_args(
                &inventory.profiles[profile_at],
                &vars,
                extra_args.as_deref(),
            ) {
                Ok(args) => args,
                Err((key, why)) => {
                    e.push(&key, why);
                    continue;
                }
            };
            if let Some(mac) = mac {
                inventory.by_mac.insert(mac.0, index);
            }
            if let Some(serial) = &serial {
                inventory.by_serial.insert(serial.clone(), index);
            }
            inventory.by_name.insert(raw.name.clone(), index);
            inventory.machines.push(Machine {
                name: raw.name.clone(),
                mac,
                serial,
                profile: raw.profile.clone(),
                ip: raw.ip,
                extra_args,
                dir: raw.dir.clone(),
                args,
                profile_index: profile_at,
            });
        }
        if errors.0.is_empty() {
            Ok(inventory)
        } else {
            Err(InventoryErrors(errors.0))
        }
    }

    /// True when no machine is listed.
    pub fn is_empty(&self) -> bool {
        self.machines.is_empty()
    }

    /// Every machine, in file order.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// Every profile, by name.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The profile `machine` boots with. `machine` must come from this inventory.
    pub fn profile_of(&self, machine: &Machine) -> &Profile {
        &self.profiles[machine.profile_index]
    }

    /// The machine with this MAC.
    pub fn by_mac(&self, mac: &[u8; 6]) -> Option<&Machine> {
        self.by_mac.get(mac).map(|&i| &self.machines[i])
    }

    /// The machine with this serial, in any form [`normalize_serial`] accepts.
    pub fn by_serial(&self, serial: &str) -> Option<&Machine> {
        let serial = normalize_serial(serial)?;
        self.by_serial.get(&serial).map(|&i| &self.machines[i])
    }

    /// The machine called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Machine> {
        self.by_name.get(name).map(|&i| &self.machines[i])
    }

    /// The machine whose folder is this first path component: a serial (`9ffefdef`,
    /// TFTP_PREFIX 0), a MAC with dashes (`dc-a6-32-01-36-c2`, TFTP_PREFIX 2) or
    /// without separators (`dca6320136c2`).
    pub fn machine_for_prefix(&self, component: &str) -> Option<&Machine> {
        let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        match component.len() {
            8 if is_hex(component) => self.by_serial(component),
            12 if is_hex(component) => self.by_mac(&Mac::parse(component)?.0),
            17 if component.contains('-') => self.by_mac(&Mac::parse(component)?.0),
            _ => None,
        }
    }

    /// Finds the machine a request path (already cleaned by `vfs::clean_path`)
    /// belongs to:
    /// - `<serial>/…`, `<mac-dashes>/…`, `<mac-hex>/…`: that machine, [`Scope::Machine`];
    /// - `<folder>/<mac-hex>/…` for a pxelinux machine whose profile's folder it is;
    /// - `m/<mac>/…` (any MAC form), the iPXE and HTTP namespace;
    /// - `pxelinux.cfg/01-<mac-dashes>` of a pxelinux machine, [`Scope::Root`].
    ///
    /// Anything else is not a machine's path (`None`): serve it from the root.
    pub fn locate<'a>(&'a self, path: &'a str) -> Option<Located<'a>> {
        let located = |machine: &'a Machine, scope, path| Located {
            machine,
            profile: self.profile_of(machine),
            scope,
            path,
        };
        let (first, rest) = path.split_once('/')?;
        if first == "pxelinux.cfg" {
            let mac = Mac::parse(rest.strip_prefix("01-")?)?;
            let machine = self.by_mac(&mac.0)?;
            return (self.profile_of(machine).kind == Kind::Pxelinux)
                .then(|| located(machine, Scope::Root, path));
        }
        if first == "m" {
            let (second, rest) = rest.split_once('/')?;
            let machine = self.by_mac(&Mac::parse(second)?.0)?;
            return Some(located(machine, Scope::Machine, rest));
        }
        if let Some(machine) = self.machine_for_prefix(first) {
            return Some(located(machine, Scope::Machine, rest));
        }
        let (second, rest) = rest.split_once('/')?;
        if second.len() != 12 {
            return None;
        }
        let machine = self.by_mac(&Mac::parse(second)?.0)?;
        let profile = self.profile_of(machine);
        (profile.folder.as_deref() == Some(first)).then(|| located(machine, Scope::Machine, rest))
    }

    /// The path a machine's firmware asks for to get `path`: for [`Scope::Machine`]
    /// the machine's main prefix (rpi `<serial>/` else `<mac-dashes>/`; pxelinux
    /// `<folder>/<mac-hex>/`; ipxe and efi `m/<mac-dashes>/`) then `path`.
    /// [`Inventory::locate`] maps the result back to `machine` and `path`.
    pub fn request_path(&self, machine: &Machine, scope: Scope, path: &str) -> String {
        match scope {
            Scope::Root => path.to_owned(),
            Scope::Machine => format!("{}/{path}", self.namespace(machine)),
        }
    }

    /// The machine's main prefix, without a trailing slash (see [`Inventory::request_path`]).
    pub fn namespace(&self, machine: &Machine) -> String {
        let profile = self.profile_of(machine);
        let mac = machine.mac.map(|m| m.dashes()).unwrap_or_default();
        match profile.kind {
            Kind::Rpi => machine.serial.clone().unwrap_or(mac),
            Kind::Pxelinux => format!(
                "{}/{}",
                profile.folder.as_deref().unwrap_or(&profile.name),
                machine.mac.map(|m| m.hex()).unwrap_or_default()
            ),
            Kind::Ipxe | Kind::Efi => format!("m/{mac}"),
        }
    }
}

/// What must exist in the tree for `machine` to boot with `profile` (PROTOCOLS.md
/// §1-§3), for `bootherd check`. Generated files are not listed; a device-tree
/// directory (`fdtdir`) is not either, since the file U-Boot picks in it depends on
/// the board's `$fdtfile`.
pub fn expected_files(machine: &Machine, profile: &Profile) -> Vec<RequiredFile> {
    use Scope::{Machine as M, Root as R};
    let mut out = Vec::new();
    let mut add = |scope, path: &str, why: String, required| {
        out.push(RequiredFile {
            scope,
            path: path.to_owned(),
            why,
            required,
        })
    };
    let p = &profile.name;
    // What the profile names, and how the firmware or loader learns of it.
    let (source, overlay_file): (String, fn(&str) -> String) = match profile.kind {
        Kind::Rpi => (format!("of profile {p}"), rpi_overlay_file),
        Kind::Pxelinux => (
            "named in the generated pxelinux.cfg".into(),
            pxelinux_overlay_file,
        ),
        Kind::Ipxe => (
            "named in the generated boot.ipxe".into(),
            pxelinux_overlay_file,
        ),
        Kind::Efi => (format!("of profile {p}"), pxelinux_overlay_file),
    };
    if let Some(model) = profile.model {
        let firmware: &[(Scope, &str, &str)] = match model {
            RpiModel::Pi3 => &[
                (
                    R,
                    "bootcode.bin",
                    "the Pi 3 boot ROM loads it from the TFTP root",
                ),
                (
                    M,
                    "start.elf",
                    "the Pi 3 firmware; the ROM uses the machine's folder only if \
                     <serial>/start.elf exists",
                ),
                (M, "fixup.dat", "memory split for start.elf"),
            ],
            RpiModel::Pi4 => &[
                (
                    M,
                    "start4.elf",
                    "the Pi 4 firmware; the EEPROM keeps the machine's folder only if \
                     start4.elf or start.elf is in it",
                ),
                (M, "fixup4.dat", "memory split for start4.elf"),
            ],
            RpiModel::Pi5 => &[],
        };
        for &(scope, path, why) in firmware {
            add(scope, path, why.to_owned(), true);
        }
    }
    let what = if profile.kind == Kind::Efi {
        "EFI binary"
    } else {
        "kernel"
    };
    let named = [
        (what, &profile.kernel),
        ("initramfs", &profile.initrd),
        ("device tree", &profile.dtb),
    ];
    for (what, file) in named {
        if let Some(file) = file {
            add(M, file, format!("{what} {source}"), true);
        }
    }
    for overlay in &profile.overlays {
        add(
            M,
            &overlay_file(overlay),
            format!("overlay {overlay} {source}"),
            true,
        );
    }
    if profile.kind == Kind::Rpi {
        if profile.config_txt.is_none() {
            // Without config.txt the firmware loads no initramfs, device tree file or
            // overlay it was not told about.
            let mut needs: Vec<&str> = [&profile.kernel, &profile.initrd, &profile.dtb]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            needs.extend(profile.overlays.iter().map(String::as_str));
            if needs.is_empty() {
                add(
                    M,
                    "config.txt",
                    "firmware settings, read if present".into(),
                    false,
                );
            } else {
                let why = format!(
                    "not generated (profile {p} has no config_txt), so it must name {} itself",
                    needs.join(", ")
                );
                add(M, "config.txt", why, true);
            }
        }
        if machine.args.full().is_empty() {
            add(
                M,
                "cmdline.txt",
                "kernel command line, read if present (not generated: the profile sets no \
                 cmdline or root)"
                    .into(),
                false,
            );
        }
    }
    out
}

/// The file the Pi firmware loads for `dtoverlay=NAME[,params]`.
pub fn rpi_overlay_file(overlay: &str) -> String {
    let name = overlay.split(',').next().unwrap_or(overlay);
    format!("overlays/{name}.dtbo")
}

/// The file a pxelinux `fdtoverlays` entry names for an overlay.
pub fn pxelinux_overlay_file(overlay: &str) -> String {
    format!("overlays/{overlay}.dtbo")
}

// ---------------------------------------------------------------------------
// Checks

#[derive(Default)]
struct Errors(Vec<InventoryError>);

impl Errors {
    fn scope<'a>(&'a mut self, subject: &str, entry: Entry) -> ScopedErrors<'a> {
        let before = self.0.len();
        ScopedErrors {
            errors: self,
            subject: subject.to_owned(),
            entry,
            before,
        }
    }
}

struct ScopedErrors<'a> {
    errors: &'a mut Errors,
    subject: String,
    entry: Entry,
    before: usize,
}

impl ScopedErrors<'_> {
    fn push(&mut self, key: &str, message: String) {
        self.errors.0.push(InventoryError {
            subject: self.subject.clone(),
            entry: self.entry.clone(),
            key: key.to_owned(),
            message,
        });
    }

    fn failed(&self) -> bool {
        self.errors.0.len() > self.before
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing".into());
    }
    if name.len() > 64 {
        return Err(format!("`{name}` is longer than 64 characters"));
    }
    if name.starts_with('.')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "`{name}` may hold only letters, digits, `-`, `_` and `.`, and not start with `.`"
        ));
    }
    Ok(())
}

/// A path the firmware asks for: relative, clean, no blanks (pxelinux splits on them)
/// and no `#` (U-Boot reads `kernel a#b` as FIT image `a`, configuration `b`).
fn check_file(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty".into());
    }
    if value.chars().any(char::is_whitespace) {
        return Err(format!("`{value}` contains a blank"));
    }
    if value.contains('#') {
        return Err(format!("`{value}` contains `#`"));
    }
    match crate::vfs::clean_path(value.as_bytes()) {
        Ok(clean) if clean == value => Ok(()),
        Ok(clean) => Err(format!("`{value}` is not in clean form; write `{clean}`")),
        Err(err) => Err(format!("`{value}`: {err}")),
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

const PLACEHOLDERS: &str = "{name}, {mac}, {serial}";

fn check_profile(name: &str, raw: &ProfileConfig, errors: &mut Errors) -> Option<Profile> {
    let mut e = errors.scope(&format!("profile {name}"), Entry::Profile(name.to_owned()));
    if let Err(why) = check_name(name) {
        e.push("name", why);
    }
    let kind = raw.kind;
    let not_for = |key: &str, set: bool, kinds: &[Kind], e: &mut ScopedErrors<'_>| {
        if set && !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            let names = match names.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => String::new(),
            };
            e.push(
                key,
                format!("only {names} profiles use it, this one is {kind}"),
            );
        }
    };
    use Kind::*;
    not_for("model", raw.model.is_some(), &[Rpi], &mut e);
    not_for("config_txt", raw.config_txt.is_some(), &[Rpi], &mut e);
    not_for("fdtdir", raw.fdtdir.is_some(), &[Pxelinux], &mut e);
    not_for("folder", raw.folder.is_some(), &[Pxelinux], &mut e);
    not_for("dtb", raw.dtb.is_some(), &[Rpi, Pxelinux], &mut e);
    not_for(
        "overlays",
        !raw.overlays.is_empty(),
        &[Rpi, Pxelinux],
        &mut e,
    );
    not_for(
        "initrd",
        raw.initrd.is_some(),
        &[Rpi, Pxelinux, Ipxe],
        &mut e,
    );
    not_for(
        "cmdline",
        raw.cmdline.is_some(),
        &[Rpi, Pxelinux, Ipxe],
        &mut e,
    );
    not_for("root", raw.root.is_some(), &[Rpi, Pxelinux, Ipxe], &mut e);
    if raw.kernel.is_none() && matches!(kind, Pxelinux | Ipxe) {
        e.push(
            "kernel",
            format!(
                "missing: the generated {} names the kernel",
                loader_file(kind)
            ),
        );
    }
    if raw.dtb.is_some() && raw.fdtdir.is_some() {
        e.push(
            "fdtdir",
            "set either dtb (one file) or fdtdir (U-Boot picks $fdtfile in it), not both".into(),
        );
    }
    for (key, value) in [
        ("kernel", &raw.kernel),
        ("initrd", &raw.initrd),
        ("dtb", &raw.dtb),
        ("fdtdir", &raw.fdtdir),
    ] {
        if let Some(value) = value {
            if let Err(why) = check_file(value) {
                e.push(key, why);
            }
        }
    }
    for (i, overlay) in raw.overlays.iter().enumerate() {
        let key = format!("overlays[{i}]");
        let file_part = if kind == Rpi {
            // dtoverlay=NAME,param=value: the parameters follow the first comma.
            overlay.split(',').next().unwrap_or_default()
        } else {
            overlay
        };
        if file_part.contains('/') {
            e.push(&key, format!("`{overlay}`: an overlay name, not a path"));
        } else if let Err(why) = check_file(overlay) {
            e.push(&key, why);
        } else if file_part.is_empty() {
            e.push(&key, "empty overlay name".into());
        } else if kind == Pxelinux && overlay.contains(',') {
            e.push(
                &key,
                format!("`{overlay}`: pxelinux fdtoverlays takes files, not parameters"),
            );
        }
    }
    let folder = match kind {
        Pxelinux => {
            let folder = raw.folder.clone().unwrap_or_else(|| name.to_owned());
            match check_name(&folder) {
                Ok(()) if folder == "m" || folder == "pxelinux.cfg" => {
                    e.push("folder", format!("`{folder}` is reserved"));
                }
                Ok(()) => {}
                Err(why) => e.push("folder", why),
            }
            Some(folder)
        }
        _ => None,
    };
    if raw.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        e.push("dir", "empty path".into());
    }
    let cmdline = raw
        .cmdline
        .as_deref()
        .map(collapse_whitespace)
        .unwrap_or_default();
    if raw
        .cmdline
        .as_deref()
        .is_some_and(|c| c.chars().any(|c| c.is_control() && !c.is_whitespace()))
    {
        e.push("cmdline", "control character".into());
    }
    check_placeholders("cmdline", &cmdline, &mut e);
    let config_txt = raw.config_txt.as_ref().map(|text| {
        let mut text = text.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    });
    let root = raw.root.as_ref().and_then(|root| check_root(root, &mut e));
    if e.failed() {
        return None;
    }
    Some(Profile {
        name: name.to_owned(),
        kind,
        model: (kind == Rpi).then(|| raw.model.unwrap_or_default()),
        kernel: raw.kernel.clone(),
        initrd: raw.initrd.clone(),
        dtb: raw.dtb.clone(),
        fdtdir: raw.fdtdir.clone(),
        overlays: raw.overlays.clone(),
        cmdline,
        config_txt,
        dir: raw.dir.clone(),
        folder,
        root,
    })
}

fn loader_file(kind: Kind) -> &'static str {
    match kind {
        Kind::Rpi => "cmdline.txt",
        Kind::Pxelinux => "pxelinux.cfg",
        Kind::Ipxe => "boot.ipxe",
        Kind::Efi => "nothing",
    }
}

/// A value that goes into the kernel command line: one word, no control characters.
fn check_word(key: &str, value: &str, e: &mut ScopedErrors<'_>) {
    if value.is_empty() {
        e.push(key, "empty".into());
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        e.push(key, format!("`{value}` must be one word, without blanks"));
    } else {
        check_placeholders(key, value, e);
    }
}

fn check_root(root: &RootConfig, e: &mut ScopedErrors<'_>) -> Option<Root> {
    match root {
        RootConfig::Iscsi {
            portal,
            port,
            target,
            initiator,
            lun,
            partition,
            root_device,
        } => {
            let portal = match portal {
                None => {
                    e.push(
                        "root.portal",
                        "missing: an iscsi root needs the target's IPv4 address".into(),
                    );
                    None
                }
                Some(text) => match text.parse::<Ipv4Addr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        e.push(
                            "root.portal",
                            format!("`{text}` is not an IPv4 address (ISCSI_TARGET_IP)"),
                        );
                        None
                    }
                },
            };
            match target {
                None => e.push(
                    "root.target",
                    "missing: an iscsi root needs the target's IQN".into(),
                ),
                Some(t) => check_word("root.target", t, e),
            }
            if let Some(i) = initiator {
                check_word("root.initiator", i, e);
            }
            if let Some(d) = root_device {
                check_word("root.root_device", d, e);
            }
            if *port == Some(0) {
                e.push("root.port", "0 is not a TCP port".into());
            }
            if *partition == Some(0) {
                e.push("root.partition", "partitions count from 1".into());
            }
            if partition.is_some() && root_device.is_some() {
                e.push(
                    "root.partition",
                    "has no effect when root_device is set; drop one".into(),
                );
            }
            Some(Root::Iscsi(IscsiRoot {
                portal: portal?,
                port: port.unwrap_or(3260),
                target: target.clone()?,
                initiator: initiator.clone(),
                lun: lun.unwrap_or(0),
                partition: *partition,
                root_device: root_device.clone(),
            }))
        }
        RootConfig::Nfs {
            server,
            path,
            options,
        } => {
            match server {
                None => e.push(
                    "root.server",
                    "missing: an nfs root needs the server".into(),
                ),
                Some(s) => check_word("root.server", s, e),
            }
            match path {
                None => e.push(
                    "root.path",
                    "missing: an nfs root needs the exported path".into(),
                ),
                Some(p) if !p.starts_with('/') => {
                    e.push("root.path", format!("`{p}` is not an absolute path"))
                }
                Some(p) => check_word("root.path", p, e),
            }
            if let Some(o) = options {
                check_word("root.options", o, e);
            }
            Some(Root::Nfs(NfsRoot {
                server: server.clone()?,
                path: path.clone()?,
                options: options.clone(),
            }))
        }
    }
}

fn check_placeholders(key: &str, text: &str, e: &mut ScopedErrors<'_>) {
    let result = substitute(text, |name| match name {
        "name" | "mac" | "serial" => Ok(String::new()),
        _ => Err(format!(
            "unknown placeholder {{{name}}}; known: {PLACEHOLDERS} (`{{{{` for a brace)"
        )),
    });
    if let Err(why) = result {
        e.push(key, why);
    }
}

/// Per-machine values of the placeholders.
struct Vars<'a> {
    name: &'a str,
    mac: Option<Mac>,
    serial: Option<&'a str>,
}

impl Vars<'_> {
    fn get(&self, placeholder: &str) -> Result<String, String> {
        match placeholder {
            "name" => Ok(self.name.to_owned()),
            "mac" => self
                .mac
                .map(|m| m.dashes())
                .ok_or_else(|| "uses {mac}, but the machine has no mac".to_owned()),
            "serial" => self
                .serial
                .map(str::to_owned)
                .ok_or_else(|| "uses {serial}, but the machine has no serial".to_owned()),
            other => Err(format!("unknown placeholder {{{other}}}")),
        }
    }
}

/// Replaces `{name}` placeholders through `lookup`; `{{` and `}}` are literal braces.
fn substitute(
    text: &str,
    lookup: impl Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
        } else if tail.starts_with('}') {
            return Err("a lone `}`; write `}}` for a brace".into());
        } else {
            let end = tail
                .find('}')
                .ok_or_else(|| "a `{` without its `}`; write `{{` for a brace".to_owned())?;
            out.push_str(&lookup(&tail[1..end])?);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds a machine's kernel command line; the error names the profile key.
fn kernel_args(
    profile: &Profile,
    vars: &Vars<'_>,
    extra: Option<&str>,
) -> Result<KernelArgs, (String, String)> {
    let key_of = |key: &str| format!("profiles.{}.{key}", profile.name);
    let fill = |key: &str, text: &str| {
        substitute(text, |name| vars.get(name)).map_err(|why| (key_of(key), why))
    };
    let base = fill("cmdline", &profile.cmdline)?;
    let extra = extra.unwrap_or_default().to_owned();
    let has_ip = base
        .split(' ')
        .chain(extra.split(' '))
        .any(|word| word.starts_with("ip="));
    let mut root = Vec::new();
    match &profile.root {
        None => {}
        Some(Root::Iscsi(r)) => {
            let target = fill("root.target", &r.target)?;
            if !has_ip {
                root.push("ip=dhcp".to_owned());
            }
            if let Some(initiator) = &r.initiator {
                root.push(format!(
                    "ISCSI_INITIATOR={}",
                    fill("root.initiator", initiator)?
                ));
            }
            root.push(format!("ISCSI_TARGET_NAME={target}"));
            root.push(format!("ISCSI_TARGET_IP={}", r.portal));
            root.push(format!("ISCSI_TARGET_PORT={}", r.port));
            let device = match &r.root_device {
                Some(device) => fill("root.root_device", device)?,
                None => iscsi_by_path(r.portal, r.port, &target, r.lun, r.partition),
            };
            root.push(format!("root={device}"));
            root.push("rw".into());
            root.push("rootwait".into());
        }
        Some(Root::Nfs(r)) => {
            let server = fill("root.server", &r.server)?;
            let path = fill("root.path", &r.path)?;
            root.push("root=/dev/nfs".into());
            match &r.options {
                Some(options) => root.push(format!(
                    "nfsroot={server}:{path},{}",
                    fill("root.options", options)?
                )),
                None => root.push(format!("nfsroot={server}:{path}")),
            }
            root.push("rw".into());
            if !has_ip {
                root.push("ip=dhcp".into());
            }
            root.push("rootwait".into());
        }
    }
    Ok(KernelArgs {
        base,
        root: root.join(" "),
        extra,
    })
}

/// The udev by-path link of an iSCSI LUN (systemd `path_id`: `ip-ADDR:PORT-iscsi-IQN-lun-N`,
/// LUNs from 256 in the `0x` form), plus `-partN` for a partition.
pub fn iscsi_by_path(
    portal: Ipv4Addr,
    port: u16,
    target: &str,
    lun: u32,
    partition: Option<u32>,
) -> String {
    let lun = if lun < 256 {
        format!("lun-{lun}")
    } else {
        format!(
            "lun-0x{:04x}{:04x}00000000",
            lun & 0xffff,
            (lun >> 16) & 0xffff
        )
    };
    let part = partition.map(|n| format!("-part{n}")).unwrap_or_default();
    format!("/dev/disk/by-path/ip-{portal}:{port}-iscsi-{target}-{lun}{part}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The two sections as they sit in the config file.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sections {
        #[serde(default)]
        profiles: BTreeMap<String, ProfileConfig>,
        #[serde(default)]
        machines: Vec<MachineConfig>,
    }

    pub(crate) fn parse(text: &str) -> Result<Inventory, InventoryErrors> {
        let sections: Sections = toml::from_str(text).expect("fixture parses");
        Inventory::from_parts(&sections.profiles, &sections.machines)
    }

    pub(crate) fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory")
    }

    pub(crate) fn fixture() -> Inventory {
        let text = std::fs::read_to_string(fixture_dir().join("inventory.toml")).unwrap();
        parse(&text).unwrap_or_else(|e| panic!("fixture inventory:\n{e}"))
    }

    /// The messages a broken inventory produces, one line each.
    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn assert_error(text: &str, expected: &str) {
        let errors = errors(text);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "expected an error containing {expected:?}, got {errors:#?}"
        );
    }

    const PI4: &str = "[profiles.pi4]\nkind = \"rpi\"\nkernel = \"kernel8.img\"\n";

    #[test]
    fn mac_forms() {
        let want = Mac([0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2]);
        for text in [
            "dc:a6:32:01:36:c2",
            "DC:A6:32:01:36:C2",
            "dc-a6-32-01-36-c2",
            "dca6320136c2",
            " dc:a6:32:01:36:c2 ",
        ] {
            assert_eq!(Mac::parse(text), Some(want), "{text}");
        }
        assert_eq!(want.to_string(), "dc:a6:32:01:36:c2");
        assert_eq!(want.dashes(), "dc-a6-32-01-36-c2");
        assert_eq!(want.hex(), "dca6320136c2");
        for bad in [
            "",
            "dc:a6:32:01:36",
            "dc:a6:32:01:36:c2:00",
            "dc:a6:32:01:36:g2",
            "dc:a6-32:01:36:c2",
            "d:ca6:32:01:36:c2",
            "dca6320136c",
            "dca6320136c2a",
            "+c:a6:32:01:36:c2",
        ] {
            assert_eq!(Mac::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn serial_forms() {
        assert_eq!(normalize_serial("9ffefdef").as_deref(), Some("9ffefdef"));
        assert_eq!(normalize_serial("9FFEFDEF").as_deref(), Some("9ffefdef"));
        assert_eq!(
            normalize_serial("100000009ffefdef").as_deref(),
            Some("9ffefdef")
        );
        assert_eq!(normalize_serial("0x9ffefdef").as_deref(), Some("9ffefdef"));
        assert_eq!(normalize_serial("abcd").as_deref(), Some("0000abcd"));
        for bad in ["", "0x", "9ffefdeg", "1000000009ffefdef", "9ffe fdef"] {
            assert_eq!(normalize_serial(bad), None, "{bad}");
        }
    }

    #[test]
    fn fixture_lookups() {
        let inv = fixture();
        assert_eq!(inv.machines().len(), 7);
        let kitchen = inv.by_name("kitchen-pi").unwrap();
        assert_eq!(
            inv.by_mac(&[0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2])
                .unwrap()
                .name,
            "kitchen-pi"
        );
        assert_eq!(inv.by_serial("9ffefdef").unwrap().name, "kitchen-pi");
        assert_eq!(
            inv.by_serial("100000009FFEFDEF").unwrap().name,
            "kitchen-pi"
        );
        assert_eq!(inv.profile_of(kitchen).name, "pi4-iscsi");
        assert_eq!(kitchen.ip, Some(Ipv4Addr::new(10, 0, 0, 50)));
        assert_eq!(
            kitchen.dir.as_deref(),
            Some(std::path::Path::new("machines/kitchen-pi"))
        );
        // The 16-digit serial keeps its last 8 digits, lowercase.
        assert_eq!(
            inv.by_name("garage-pi3").unwrap().serial.as_deref(),
            Some("e1ffda08")
        );
        assert_eq!(
            inv.by_name("hall-pi").unwrap().serial.as_deref(),
            Some("1a2b3c4d")
        );
        assert!(inv.by_name("nobody").is_none());
        assert!(inv.by_serial("00000000").is_none());
        assert!(inv.by_serial("not hex").is_none());
        assert!(inv.by_mac(&[0; 6]).is_none());
        assert_eq!(
            inv.profile("rock64").unwrap().folder.as_deref(),
            Some("rock64")
        );
        assert_eq!(
            inv.profile("rock64-fdt").unwrap().folder.as_deref(),
            Some("rock64")
        );
        assert_eq!(inv.profile("pi4-iscsi").unwrap().model, Some(RpiModel::Pi4));
        assert_eq!(inv.profile("pi3-nfs").unwrap().model, Some(RpiModel::Pi3));
        assert_eq!(inv.profile("rock64").unwrap().model, None);
    }

    #[test]
    fn prefixes() {
        let inv = fixture();
        let name = |c: &str| inv.machine_for_prefix(c).map(|m| m.name.as_str());
        assert_eq!(name("9ffefdef"), Some("kitchen-pi"));
        assert_eq!(name("dc-a6-32-01-36-c2"), Some("kitchen-pi"));
        assert_eq!(name("dca6320136c2"), Some("kitchen-pi"));
        assert_eq!(name("e1ffda08"), Some("garage-pi3"));
        assert_eq!(name("e4-5f-01-aa-bb-cc"), Some("hall-pi"));
        assert_eq!(name("02abcd000001"), Some("rock64-a"));
        assert_eq!(name("dc:a6:32:01:36:c2"), None);
        assert_eq!(name("00000000"), None);
        assert_eq!(name("overlays"), None);
        assert_eq!(name("rock64"), None);
    }

    #[test]
    fn locate_paths() {
        let inv = fixture();
        let at = |path: &'static str| {
            inv.locate(path)
                .map(|l| (l.machine.name.as_str(), l.scope, l.path))
        };
        use Scope::{Machine as M, Root as R};
        assert_eq!(
            at("9ffefdef/start4.elf"),
            Some(("kitchen-pi", M, "start4.elf"))
        );
        assert_eq!(
            at("dc-a6-32-01-36-c2/overlays/vc4-kms-v3d.dtbo"),
            Some(("kitchen-pi", M, "overlays/vc4-kms-v3d.dtbo"))
        );
        assert_eq!(
            at("rock64/02abcd000001/Image"),
            Some(("rock64-a", M, "Image"))
        );
        assert_eq!(
            at("rock64/02abcd000002/rockchip/rk3328-rock64.dtb"),
            Some(("rock64-b", M, "rockchip/rk3328-rock64.dtb"))
        );
        assert_eq!(at("02abcd000001/Image"), Some(("rock64-a", M, "Image")));
        assert_eq!(
            at("pxelinux.cfg/01-02-ab-cd-00-00-01"),
            Some(("rock64-a", R, "pxelinux.cfg/01-02-ab-cd-00-00-01"))
        );
        assert_eq!(
            at("m/52-54-00-12-34-56/boot.ipxe"),
            Some(("office-pc", M, "boot.ipxe"))
        );
        assert_eq!(
            at("m/52:54:00:12:34:56/vmlinuz"),
            Some(("office-pc", M, "vmlinuz"))
        );
        assert_eq!(
            at("m/525400123456/initrd.img"),
            Some(("office-pc", M, "initrd.img"))
        );
        // Not a machine's: served from the root as before.
        for path in [
            "bootcode.bin",
            "9ffefdef",
            "00000000/start.elf",
            "pxelinux.cfg/default",
            "pxelinux.cfg/01-dc-a6-32-01-36-c2", // a Pi, not a pxelinux machine
            "pxelinux.cfg/01-00-00-00-00-00-00",
            "pxelinux.cfg/0A000032",
            "other/02abcd000001/Image", // not rock64-a's folder
            "rock64/02abcd000009/Image",
            "rock64/02abcd000001",
            "m/52-54-00-12-34-56",
            "m/52-54-00-00-00-00/boot.ipxe",
            "m/nonsense/boot.ipxe",
        ] {
            assert_eq!(at(path), None, "{path}");
        }
    }

    #[test]
    fn request_paths_locate_back() {
        let inv = fixture();
        let ns = |name| inv.namespace(inv.by_name(name).unwrap());
        assert_eq!(ns("kitchen-pi"), "9ffefdef");
        assert_eq!(ns("rock64-b"), "rock64/02abcd000002");
        assert_eq!(ns("office-pc"), "m/52-54-00-12-34-56");
        assert_eq!(ns("lab-efi"), "m/52-54-00-ab-cd-ef");
        for machine in inv.machines() {
            let profile = inv.profile_of(machine);
            for file in expected_files(machine, profile) {
                let path = inv.request_path(machine, file.scope, &file.path);
                match file.scope {
                    Scope::Root => assert_eq!(path, file.path),
                    Scope::Machine => {
                        let located = inv.locate(&path).unwrap_or_else(|| panic!("{path}"));
                        assert_eq!(located.machine.name, machine.name, "{path}");
                        assert_eq!(located.path, file.path, "{path}");
                    }
                }
            }
        }
    }

    #[test]
    fn kernel_command_lines() {
        let inv = fixture();
        let line = |name| inv.by_name(name).unwrap().args.full();
        assert_eq!(
            line("garage-pi3"),
            "console=serial0,115200 console=tty1 root=/dev/nfs \
             nfsroot=10.0.0.5:/srv/nfs/garage-pi3,vers=4.1,proto=tcp rw ip=dhcp rootwait"
        );
        assert_eq!(
            line("kitchen-pi"),
            "console=serial0,115200 console=tty1 ip=dhcp \
             ISCSI_INITIATOR=iqn.2004-04.com.example:kitchen-pi \
             ISCSI_TARGET_NAME=iqn.2004-04.com.example:pi4-9ffefdef ISCSI_TARGET_IP=10.0.0.5 \
             ISCSI_TARGET_PORT=3260 \
             root=/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.2004-04.com.example:pi4-9ffefdef-lun-1-part2 \
             rw rootwait modprobe.blacklist=bcm2835_v4l2"
        );
        assert_eq!(
            line("rock64-a"),
            "console=ttyS2,1500000 earlycon root=/dev/nfs \
             nfsroot=10.0.0.5:/srv/nfs/rock64/02-ab-cd-00-00-01 rw ip=dhcp rootwait"
        );
        assert_eq!(
            line("rock64-b"),
            "console=ttyS2,1500000 ip=dhcp ISCSI_TARGET_NAME=iqn.2004-04.com.example:rock64 \
             ISCSI_TARGET_IP=10.0.0.5 ISCSI_TARGET_PORT=3260 root=PARTUUID=6c586e13-02 rw \
             rootwait loglevel=7"
        );
        // The profile's own ip= wins: no second one.
        assert_eq!(
            line("office-pc"),
            "console=tty0 console=ttyS0,115200n8 ip=::::office-pc:eth0:dhcp root=/dev/nfs \
             nfsroot=10.0.0.5:/srv/nfs/pc,ro rw rootwait"
        );
        assert_eq!(line("lab-efi"), "");
    }

    #[test]
    fn iscsi_by_path_forms() {
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        assert_eq!(
            iscsi_by_path(ip, 3260, "iqn.x:y", 0, None),
            "/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.x:y-lun-0"
        );
        assert_eq!(
            iscsi_by_path(ip, 3261, "iqn.x:y", 255, Some(1)),
            "/dev/disk/by-path/ip-10.0.0.5:3261-iscsi-iqn.x:y-lun-255-part1"
        );
        assert_eq!(
            iscsi_by_path(ip, 3260, "iqn.x:y", 0x0001_4001, None),
            "/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.x:y-lun-0x4001000100000000"
        );
    }

    #[test]
    fn placeholders() {
        let vars = Vars {
            name: "n1",
            mac: Mac::parse("dc:a6:32:01:36:c2"),
            serial: Some("9ffefdef"),
        };
        let fill = |text| substitute(text, |p| vars.get(p));
        assert_eq!(
            fill("a={name} b={mac} c={serial}").unwrap(),
            "a=n1 b=dc-a6-32-01-36-c2 c=9ffefdef"
        );
        assert_eq!(fill("{{name}} {{{name}}}").unwrap(), "{name} {n1}");
        assert_eq!(fill("no placeholders").unwrap(), "no placeholders");
        assert!(fill("{nope}")
            .unwrap_err()
            .contains("unknown placeholder {nope}"));
        assert!(fill("x{name").unwrap_err().contains("without its `}`"));
        assert!(fill("x}y").unwrap_err().contains("lone `}`"));
        let bare = Vars {
            name: "n2",
            mac: None,
            serial: None,
        };
        assert!(substitute("{mac}", |p| bare.get(p))
            .unwrap_err()
            .contains("no mac"));
        assert!(substitute("{serial}", |p| bare.get(p))
            .unwrap_err()
            .contains("no serial"));
    }

    #[test]
    fn placeholder_errors_name_the_key() {
        assert_error(
            "[profiles.p]\nkind = \"rpi\"\ncmdline = \"x={host}\"\n",
            "profile p: cmdline: unknown placeholder {host}",
        );
        assert_error(
            "[profiles.p]\nkind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\", path = \"/x/{nme}\" }\n",
            "profile p: root.path: unknown placeholder {nme}",
        );
        // {serial} in a profile used by a Pi listed by MAC only.
        assert_error(
            &format!(
                "{PI4}root = {{ type = \"iscsi\", portal = \"10.0.0.5\", target = \"iqn.x:{{serial}}\" }}\n\
                 [[machines]]\nname = \"a\"\nmac = \"dc:a6:32:01:36:c2\"\nprofile = \"pi4\"\n"
            ),
            "machine a: profiles.pi4.root.target: uses {serial}, but the machine has no serial",
        );
        assert_error(
            "[profiles.r]\nkind = \"pxelinux\"\nkernel = \"Image\"\ncmdline = \"{serial}\"\n\
             [[machines]]\nname = \"b\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"r\"\n",
            "machine b: profiles.r.cmdline: uses {serial}, but the machine has no serial",
        );
    }

    #[test]
    fn machine_errors() {
        let m = |body: &str| format!("{PI4}[[machines]]\n{body}");
        let cases: &[(&str, &str)] = &[
            (
                "name = \"a\"\nmac = \"dc:a6:32:01:36\"\nprofile = \"pi4\"\n",
                "machine a: mac: `dc:a6:32:01:36` is not a MAC address",
            ),
            (
                "name = \"a\"\nserial = \"xyz\"\nprofile = \"pi4\"\n",
                "machine a: serial: `xyz` is not a serial",
            ),
            (
                "name = \"a\"\nserial = \"9ffefdef\"\nprofile = \"pi5\"\n",
                "machine a: profile: no profile named `pi5`",
            ),
            (
                "name = \"a\"\nprofile = \"pi4\"\n",
                "machine a: serial: a Raspberry Pi needs `serial`",
            ),
            (
                "name = \"\"\nserial = \"1\"\nprofile = \"pi4\"\n",
                "machines[0]: name: missing",
            ),
            (
                "name = \"a b\"\nserial = \"1\"\nprofile = \"pi4\"\n",
                "machine a b: name: `a b` may hold only",
            ),
            (
                "name = \"a\"\nserial = \"1\"\nprofile = \"pi4\"\ndir = \"\"\n",
                "machine a: dir: empty path",
            ),
        ];
        for (body, expected) in cases {
            assert_error(&m(body), expected);
        }
    }

    #[test]
    fn duplicate_errors() {
        let text = format!(
            "{PI4}\
             [[machines]]\nname = \"a\"\nmac = \"dc:a6:32:01:36:c2\"\nserial = \"9ffefdef\"\n\
             profile = \"pi4\"\nip = \"10.0.0.9\"\n\
             [[machines]]\nname = \"b\"\nmac = \"DC-A6-32-01-36-C2\"\nserial = \"100000009FFEFDEF\"\n\
             profile = \"pi4\"\nip = \"10.0.0.9\"\n\
             [[machines]]\nname = \"a\"\nserial = \"1\"\nprofile = \"pi4\"\n"
        );
        let errors = errors(&text);
        assert_eq!(
            errors,
            [
                "machine b: mac: dc:a6:32:01:36:c2 is also machine a's",
                "machine b: serial: 9ffefdef is also machine a's",
                "machine b: ip: 10.0.0.9 is also machine a's",
                "machine a: name: also the name of machines[0]",
            ]
        );
    }

    #[test]
    fn kind_specific_machine_errors() {
        let pi3 = "[profiles.pi3]\nkind = \"rpi\"\nmodel = \"pi3\"\n\
                   [[machines]]\nname = \"a\"\nmac = \"b8:27:eb:00:00:01\"\nprofile = \"pi3\"\n";
        assert_error(pi3, "machine a: serial: a Pi 3 needs its serial");
        let uboot = "[profiles.r]\nkind = \"pxelinux\"\nkernel = \"Image\"\n\
                     [[machines]]\nname = \"r1\"\nserial = \"12345678\"\nprofile = \"r\"\n";
        let errors = errors(uboot);
        assert!(errors.contains(&"machine r1: mac: a pxelinux machine needs its MAC".to_owned()));
        assert!(errors
            .contains(&"machine r1: serial: only Raspberry Pis are found by serial".to_owned()));
        // A Pi 4 by MAC alone (TFTP_PREFIX=2) is fine.
        let ok = format!(
            "{PI4}[[machines]]\nname = \"a\"\nmac = \"dc:a6:32:01:36:c2\"\nprofile = \"pi4\"\n"
        );
        let inv = parse(&ok).unwrap();
        assert_eq!(inv.namespace(&inv.machines()[0]), "dc-a6-32-01-36-c2");
    }

    #[test]
    fn profile_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\" }",
                "profile p: root.target: missing: an iscsi root needs the target's IQN",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"iscsi\", target = \"iqn.x:y\" }",
                "profile p: root.portal: missing: an iscsi root needs the target's IPv4 address",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"nas.lan\", target = \"t\" }",
                "profile p: root.portal: `nas.lan` is not an IPv4 address",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", port = 0 }",
                "profile p: root.port: 0 is not a TCP port",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", partition = 0 }",
                "profile p: root.partition: partitions count from 1",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", partition = 2, root_device = \"/dev/sda2\" }",
                "profile p: root.partition: has no effect when root_device is set",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"a b\" }",
                "profile p: root.target: `a b` must be one word",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"nfs\", path = \"/srv\" }",
                "profile p: root.server: missing",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\" }",
                "profile p: root.path: missing",
            ),
            (
                "kind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\", path = \"srv\" }",
                "profile p: root.path: `srv` is not an absolute path",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"Image\"\nconfig_txt = \"x=1\"",
                "profile p: config_txt: only rpi profiles use it, this one is pxelinux",
            ),
            (
                "kind = \"ipxe\"\nkernel = \"vmlinuz\"\nmodel = \"pi4\"",
                "profile p: model: only rpi profiles use it, this one is ipxe",
            ),
            (
                "kind = \"pxelinux\"",
                "profile p: kernel: missing: the generated pxelinux.cfg names the kernel",
            ),
            (
                "kind = \"ipxe\"",
                "profile p: kernel: missing: the generated boot.ipxe names the kernel",
            ),
            (
                "kind = \"rpi\"\nfdtdir = \"dtbs\"",
                "profile p: fdtdir: only pxelinux profiles use it, this one is rpi",
            ),
            (
                "kind = \"rpi\"\nfolder = \"x\"",
                "profile p: folder: only pxelinux profiles use it",
            ),
            (
                "kind = \"ipxe\"\nkernel = \"k\"\ndtb = \"x.dtb\"",
                "profile p: dtb: only rpi and pxelinux profiles use it, this one is ipxe",
            ),
            (
                "kind = \"efi\"\nkernel = \"grubx64.efi\"\ncmdline = \"quiet\"",
                "profile p: cmdline: only rpi, pxelinux and ipxe profiles use it, this one is efi",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"Image\"\ndtb = \"a.dtb\"\nfdtdir = \"dtbs\"",
                "profile p: fdtdir: set either dtb",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"/boot/Image\"",
                "profile p: kernel: `/boot/Image` is not in clean form; write `boot/Image`",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"../Image\"",
                "profile p: kernel: `../Image`: refused name",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"a//Image\"",
                "profile p: kernel: `a//Image` is not in clean form; write `a/Image`",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"my Image\"",
                "profile p: kernel: `my Image` contains a blank",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"image.itb#conf\"",
                "profile p: kernel: `image.itb#conf` contains `#`",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"Image\"\noverlays = [\"a,b=1\"]",
                "profile p: overlays[0]: `a,b=1`: pxelinux fdtoverlays takes files",
            ),
            (
                "kind = \"rpi\"\noverlays = [\"overlays/x\"]",
                "profile p: overlays[0]: `overlays/x`: an overlay name, not a path",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"Image\"\nfolder = \"m\"",
                "profile p: folder: `m` is reserved",
            ),
            (
                "kind = \"pxelinux\"\nkernel = \"Image\"\nfolder = \"a/b\"",
                "profile p: folder: `a/b` may hold only",
            ),
        ];
        for (body, expected) in cases {
            assert_error(&format!("[profiles.p]\n{body}\n"), expected);
        }
        assert_error(
            "[profiles.\"bad name\"]\nkind = \"rpi\"\n",
            "profile bad name: name: `bad name` may hold only",
        );
        // rpi overlay parameters are fine: dtoverlay=vc4-kms-v3d,cma-512.
        parse("[profiles.p]\nkind = \"rpi\"\noverlays = [\"vc4-kms-v3d,cma-512\"]\n").unwrap();
    }

    #[test]
    fn machine_of_a_broken_profile_is_not_reported_twice() {
        let errors = errors(
            "[profiles.r]\nkind = \"pxelinux\"\n\
             [[machines]]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"r\"\n",
        );
        assert_eq!(
            errors,
            ["profile r: kernel: missing: the generated pxelinux.cfg names the kernel"]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        for (text, key) in [
            ("[profiles.p]\nkind = \"rpi\"\nkernal = \"k\"\n", "kernal"),
            (
                "[profiles.p]\nkind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\", path = \"/x\", port = 1 }\n",
                "port",
            ),
            (
                "[profiles.p]\nkind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", lun_id = 1 }\n",
                "lun_id",
            ),
            ("[profiles.p]\nkind = \"rpi\"\nroot = { type = \"smb\" }\n", "smb"),
            ("[profiles.p]\nkind = \"uboot\"\n", "uboot"),
            ("[profiles.p]\nkind = \"rpi\"\nmodel = \"pi6\"\n", "pi6"),
            ("[[machines]]\nname = \"a\"\nprofile = \"p\"\nmack = \"x\"\n", "mack"),
        ] {
            let err = toml::from_str::<Sections>(text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn errors_come_all_at_once() {
        let errors = errors(
            "[profiles.a]\nkind = \"pxelinux\"\n\
             [profiles.b]\nkind = \"rpi\"\nconfig_txt = \"x\"\nroot = { type = \"iscsi\" }\n\
             [[machines]]\nname = \"m1\"\nmac = \"zz\"\nprofile = \"b\"\n\
             [[machines]]\nname = \"m2\"\nprofile = \"c\"\n",
        );
        assert_eq!(
            errors,
            [
                "profile a: kernel: missing: the generated pxelinux.cfg names the kernel",
                "profile b: root.portal: missing: an iscsi root needs the target's IPv4 address",
                "profile b: root.target: missing: an iscsi root needs the target's IQN",
                "machine m1: mac: `zz` is not a MAC address (aa:bb:cc:dd:ee:ff)",
                "machine m2: profile: no profile named `c`",
            ]
        );
        let joined = InventoryErrors(vec![
            InventoryError {
                subject: "machine a".into(),
                entry: Entry::Machine(0),
                key: "mac".into(),
                message: "x".into(),
            };
            2
        ])
        .to_string();
        assert_eq!(joined, "machine a: mac: x\nmachine a: mac: x");
    }

    fn expected(inv: &Inventory, name: &str) -> Vec<(Scope, String, bool)> {
        let machine = inv.by_name(name).unwrap();
        expected_files(machine, inv.profile_of(machine))
            .into_iter()
            .map(|f| (f.scope, f.path, f.required))
            .collect()
    }

    #[test]
    fn expected_files_per_kind() {
        use Scope::{Machine as M, Root as R};
        let s = |x: &str| x.to_owned();
        let inv = fixture();
        assert_eq!(
            expected(&inv, "garage-pi3"),
            [
                (R, s("bootcode.bin"), true),
                (M, s("start.elf"), true),
                (M, s("fixup.dat"), true),
                (M, s("kernel8.img"), true),
                (M, s("bcm2710-rpi-3-b.dtb"), true),
            ]
        );
        assert_eq!(
            expected(&inv, "kitchen-pi"),
            [
                (M, s("start4.elf"), true),
                (M, s("fixup4.dat"), true),
                (M, s("kernel8.img"), true),
                (M, s("initramfs8"), true),
                (M, s("bcm2711-rpi-4-b.dtb"), true),
                (M, s("overlays/vc4-kms-v3d.dtbo"), true),
            ]
        );
        assert_eq!(
            expected(&inv, "rock64-a"),
            [(M, s("Image"), true), (M, s("initrd.img"), true)]
        );
        assert_eq!(
            expected(&inv, "rock64-b"),
            [
                (M, s("Image"), true),
                (M, s("rockchip/rk3328-rock64.dtb"), true),
                (M, s("overlays/rk3328-uart1.dtbo"), true),
            ]
        );
        assert_eq!(
            expected(&inv, "office-pc"),
            [(M, s("vmlinuz"), true), (M, s("initrd.img"), true)]
        );
        assert_eq!(expected(&inv, "lab-efi"), [(M, s("grubnetx64.efi"), true)]);

        // A Pi 5 needs no start*.elf; without config_txt, config.txt must name the
        // initramfs itself, and cmdline.txt is optional when nothing generates it.
        let pi5 = parse(
            "[profiles.p5]\nkind = \"rpi\"\nmodel = \"pi5\"\nkernel = \"kernel_2712.img\"\n\
             initrd = \"initramfs_2712\"\n\
             [[machines]]\nname = \"five\"\nserial = \"12345678\"\nprofile = \"p5\"\n",
        )
        .unwrap();
        let files = expected_files(&pi5.machines()[0], &pi5.profiles()[0]);
        let paths: Vec<(&str, bool)> = files
            .iter()
            .map(|f| (f.path.as_str(), f.required))
            .collect();
        assert_eq!(
            paths,
            [
                ("kernel_2712.img", true),
                ("initramfs_2712", true),
                ("config.txt", true),
                ("cmdline.txt", false),
            ]
        );
        assert!(
            files[2].why.contains("kernel_2712.img, initramfs_2712"),
            "{}",
            files[2].why
        );
    }
}
