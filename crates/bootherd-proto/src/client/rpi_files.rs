//! Which firmware files each Raspberry Pi model asks for by name (PROTOCOLS.md
//! sections 1 and 2): one table for `bootherd check` (what must exist) and the
//! emulated firmware of `bootherd probe` (what it requests).

use super::RpiModel;

/// Where the firmware looks for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// Always the TFTP root (the Pi 3 ROM's `bootcode.bin`).
    Root,
    /// The machine's folder (`<serial>/`) when it has one, else the root.
    Machine,
}

/// One firmware file a Pi needs before it can load a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RpiFile {
    /// The file's name.
    pub name: &'static str,
    /// Where the firmware asks for it.
    pub place: Place,
    /// Why the Pi asks for it, for people.
    pub why: &'static str,
}

const PI3: [RpiFile; 3] = [
    RpiFile {
        name: "bootcode.bin",
        place: Place::Root,
        why: "the Pi 3 boot ROM loads it from the TFTP root",
    },
    RpiFile {
        name: "start.elf",
        place: Place::Machine,
        why: "the Pi 3 firmware; the ROM uses the machine's folder only if \
              <serial>/start.elf exists",
    },
    RpiFile {
        name: "fixup.dat",
        place: Place::Machine,
        why: "memory split for start.elf",
    },
];

const PI4: [RpiFile; 2] = [
    RpiFile {
        name: "start4.elf",
        place: Place::Machine,
        why: "the Pi 4 firmware; the EEPROM keeps the machine's folder only if \
              start4.elf or start.elf is in it",
    },
    RpiFile {
        name: "fixup4.dat",
        place: Place::Machine,
        why: "memory split for start4.elf",
    },
];

/// The firmware files `model` asks for, in the order it asks: the Pi 3's
/// `bootcode.bin` (root), `start.elf`, `fixup.dat`; the Pi 4's `start4.elf`,
/// `fixup4.dat`; none for the Pi 5, whose firmware is in its EEPROM. The
/// kernel, device tree and optional files (`config.txt`, `cmdline.txt`) are
/// not listed: what they are called depends on the configuration.
pub fn files_for(model: RpiModel) -> &'static [RpiFile] {
    match model {
        RpiModel::Pi3 => &PI3,
        RpiModel::Pi4 => &PI4,
        RpiModel::Pi5 => &[],
    }
}

/// The file whose presence in `<serial>/` makes the firmware use that folder
/// for every later request (`start.elf` on the Pi 3, `start4.elf` on the Pi 4):
/// the first of [`files_for`] `model` it asks for in the machine's folder.
pub fn start_file(model: RpiModel) -> Option<&'static str> {
    files_for(model)
        .iter()
        .find(|f| f.place == Place::Machine)
        .map(|f| f.name)
}

/// The firmware file of any model called `name` (`start4.elf`, `fixup.dat`,
/// `bootcode.bin`, ...).
pub fn firmware_file(name: &str) -> Option<&'static RpiFile> {
    [RpiModel::Pi3, RpiModel::Pi4, RpiModel::Pi5]
        .into_iter()
        .flat_map(files_for)
        .find(|f| f.name == name)
}
