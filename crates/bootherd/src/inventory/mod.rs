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

mod check;
mod cmdline;
mod config;
mod expected;
mod lookup;
mod model;

/// The MAC type is the proto's, so both crates share one.
pub use bootherd_proto::mac::Mac;
pub use cmdline::*;
pub use config::*;
pub use expected::*;
pub use model::*;

#[cfg(test)]
pub(crate) mod tests;
