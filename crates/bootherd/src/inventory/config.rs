//! The `[profiles.*]` and `[[machines]]` tables as written in the file (serde types,
//! unknown keys refused).

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// UEFI with Secure Boot: the signed shim, which loads the signed GRUB, which
    /// reads `<grub_prefix>/grub.cfg-01-<mac>` (generated) and boots the kernel.
    Grub,
}

impl Kind {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rpi => "rpi",
            Kind::Pxelinux => "pxelinux",
            Kind::Ipxe => "ipxe",
            Kind::Efi => "efi",
            Kind::Grub => "grub",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Raspberry Pi: one type with the classifier's (`model = "pi4"`).
pub use bootherd_proto::client::RpiModel;

/// One `[profiles.NAME]` table: how a group of machines boots.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// `rpi`, `pxelinux`, `ipxe`, `efi` or `grub`.
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
    /// grub only: the signed shim, the boot file the firmware loads (a path in the
    /// machine's namespace, like `kernel`).
    #[serde(default)]
    pub shim: Option<String>,
    /// grub only: the signed GRUB the shim loads from its own folder, default
    /// `grubx64.efi` (the name is shim's choice; this only tells `bootherd check`).
    #[serde(default)]
    pub grub: Option<String>,
    /// grub only: the prefix the GRUB image was built with, where it reads its
    /// configuration (Debian's signed netboot GRUB: `debian-installer/amd64/grub`).
    #[serde(default)]
    pub grub_prefix: Option<String>,
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
        /// The storage server's side: the file or block device behind the LUN
        /// (an absolute path, placeholders filled in), for `bootherd iscsi export`.
        #[serde(default)]
        backing_store: Option<String>,
        /// A TOML file with the CHAP `username` and `password` the target asks for
        /// (an absolute path, placeholders filled in); read only by `bootherd iscsi
        /// export`, never logged.
        #[serde(default)]
        chap_file: Option<String>,
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
