//! Part 5: the TFTP requests the firmware makes, in order, and the verdict.

use std::net::Ipv4Addr;

use crate::client::{files_for, firmware_file, start_file, Place, RpiModel};

use super::*;

/// How much of a file the firmware reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The whole file.
    Whole,
    /// Block 1 only, then an ERROR "Early terminate": the Pi's way of asking
    /// whether a file exists (RPI-NET, fw#1700).
    Probe,
}

/// Whether the boot stops without the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The firmware stops without it.
    Required,
    /// Used when present.
    Optional,
    /// Normally absent (`bootsig.bin`); found or not is no news.
    NormallyAbsent,
}

/// One TFTP read request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// TFTP server.
    pub server: Ipv4Addr,
    /// Path exactly as the firmware sends it.
    pub path: String,
    /// RRQ options in the firmware's order.
    pub options: Vec<(String, String)>,
    /// Whole file or block 1.
    pub read: Read,
    /// What a miss means.
    pub need: Need,
}

impl Fetch {
    /// The read request the firmware sends for it: octet mode, its options in
    /// its order.
    pub fn request(&self) -> Vec<u8> {
        let mut rrq = Vec::new();
        crate::wire::tftp::Packet::Rrq(crate::wire::tftp::Request {
            filename: self.path.as_bytes().to_vec(),
            mode: crate::wire::tftp::Mode::Octet,
            options: self.options.clone(),
        })
        .emit(&mut rrq);
        rrq
    }
}

/// What a [`Fetch`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The file exists: its size (`tsize` or the bytes read) and, for a
    /// whole read, its contents.
    Found {
        /// Size in bytes, when known.
        size: Option<u64>,
        /// Contents, for whole reads.
        data: Option<Vec<u8>>,
    },
    /// ERROR 1 (file not found).
    NotFound,
    /// Any other error or a timeout.
    Failed(String),
}

/// The settings of `config.txt` that change which files the firmware asks
/// for. Sections (`[pi4]`, `[all]`, ...) are honoured for the model filters
/// and `[all]`/`[none]`; other filters cannot be judged here and are taken to
/// apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigTxt {
    /// `kernel=`.
    pub kernel: Option<String>,
    /// `device_tree=`.
    pub device_tree: Option<String>,
    /// `arm_64bit=1`.
    pub arm_64bit: bool,
}

impl ConfigTxt {
    /// Reads the settings for `kind` from `config.txt`'s bytes.
    pub fn parse(kind: Emulated, text: &[u8]) -> ConfigTxt {
        let model = match kind {
            Emulated::Rpi3 => "pi3",
            Emulated::Rpi4 => "pi4",
            Emulated::Rpi5 => "pi5",
            _ => "",
        };
        let mut out = ConfigTxt::default();
        let mut applies = true;
        for line in String::from_utf8_lossy(text).lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(filter) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let filter = filter.trim().to_ascii_lowercase();
                applies = match filter.as_str() {
                    "all" => true,
                    "none" => false,
                    f if f.starts_with("pi") || f.starts_with("cm") => {
                        f == model || (model == "pi3" && f == "pi3+")
                    }
                    _ => true,
                };
                continue;
            }
            if !applies {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().to_string();
            match key.trim() {
                "kernel" if !value.is_empty() => out.kernel = Some(value),
                "device_tree" if !value.is_empty() => out.device_tree = Some(value),
                "arm_64bit" => out.arm_64bit = value == "1",
                _ => {}
            }
        }
        out
    }
}

/// The Pi's RRQ options after the ROM stage: `tsize 0` only (fw#1041, the
/// Pi 3's `bootcode.bin`), or `tsize 0 blksize 1024` (the Pi 4 EEPROM,
/// PROTOCOLS.md 2; assumed the same on the Pi 5).
pub(super) fn rpi_options(kind: Emulated) -> Vec<(String, String)> {
    let mut options = vec![("tsize".to_string(), "0".to_string())];
    if kind != Emulated::Rpi3 {
        options.push(("blksize".to_string(), "1024".to_string()));
    }
    options
}

/// Where the plan is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stage {
    /// The i-th step of the firmware's list.
    Step(usize),
    /// Trying the i-th of several names for one file (kernels, pxelinux
    /// configs).
    Candidates(usize, usize),
    /// Nothing more to ask.
    Done,
}

/// One line of the plan's log: what was asked and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The request.
    pub fetch: Fetch,
    /// Its result.
    pub result: Fetched,
    /// A remark on what it means (`using prefix e1ffda08/`).
    pub note: Option<String>,
}

/// The firmware's TFTP requests, in order, as results come in (sans-IO).
///
/// The lists, with what a miss means (R = required: the boot stops; O =
/// optional; P = a probe that reads block 1 only):
///
/// **Pi 3** (PROTOCOLS.md 1: fw#1041, fw#1292, fw#935's log): the ROM's
/// `bootcode.bin` (R, no options, 512-byte blocks), `bootsig.bin` (normally
/// absent), then `bootcode.bin`'s requests with `tsize 0`:
/// `<serial>/start.elf` (P; found = every later name gets the prefix),
/// `autoboot.txt` (O), `config.txt` (O, read for `kernel=`,
/// `device_tree=`, `arm_64bit=`), `recovery.elf` (P, O), `start.elf` (R),
/// `fixup.dat` (R: it must match start.elf, and the firmware loads the
/// pair), `dt-blob.bin` (O), `bootcfg.txt` (O), `cmdline.txt` (O), the
/// kernel (R: `kernel=`, else `kernel8.img` with `arm_64bit=1`, else
/// `kernel7.img`, the 32-bit default of Raspberry Pi OS on a Pi 3), the
/// device tree (R: `device_tree=`, else `bcm2710-rpi-3-b.dtb`; the firmware
/// would start a kernel without one, with ATAGs, but no current kernel
/// boots that way). `recovery7.img`, `armstub7.bin` and overlays are not
/// asked.
///
/// **Pi 4** (PROTOCOLS.md 2, fw#1012's log): `<serial>/start4.elf` (P), and
/// `<serial>/start.elf` (P) when that failed (the prefix is dropped when
/// neither is found), `config.txt` (O), `start4.elf` (R), `fixup4.dat` (R),
/// the device tree (R: `device_tree=`, else `bcm2711-rpi-4-b.dtb`),
/// `cmdline.txt` (O), the kernel (R: `kernel=`, else `kernel8.img`). Every
/// RRQ carries `tsize 0 blksize 1024`. Recovery and EEPROM-update files are
/// not asked.
///
/// **Pi 5** (PROTOCOLS.md 2; the Tinkerbell notes in `route_rpi.go`): no
/// `start*.elf`, the firmware is in the EEPROM. `<serial>/config.txt` (P;
/// found = the prefix stays, an assumption: the Pi 5's rule is not
/// documented), then `<serial>//config.txt` with the doubled slash the Pi 5
/// was seen to send and act on (O; `config.txt` at the root without the
/// prefix), the kernel (R: `kernel=`, else `kernel_2712.img`, else
/// `kernel8.img`), `bcm2712-rpi-5-b.dtb` (R), `cmdline.txt` (O).
///
/// **PXE**: the boot file (R), `tsize 0 blksize 1456` for BIOS (typical of
/// PXE ROMs, built) and `blksize 1468` for UEFI (OVMF in the lab also asked
/// `windowsize 4`, which this lock-step client leaves out).
///
/// **U-Boot** (`pxe get`, UB `cmd/pxe.c`, the lab's U-Boot): option 209's
/// file alone when the ACK has it, else `pxelinux.cfg/01-<mac>`, the IP as 8
/// uppercase hex digits shortened one digit at a time, `default-arm`,
/// `default`, each relative to the boot file's directory; the first found
/// ends the list (R: one must exist). RRQs carry `timeout 5 blksize 1468`
/// (UB `net/tftp.c`).
#[derive(Debug, Clone)]
pub struct FilePlan {
    machine: Identity,
    server: Ipv4Addr,
    stage: Stage,
    /// The serial directory, with its slash, once found there.
    prefix: String,
    /// The serial directory that was probed and not found (messages).
    fell_back: Option<String>,
    config: ConfigTxt,
    /// U-Boot: its address (`pxe get` names a file after it), boot file
    /// directory, option 209.
    uboot_ip: Ipv4Addr,
    uboot_dir: String,
    uboot_config_file: Option<String>,
    /// PXE: the boot file.
    pxe_file: String,
    log: Vec<Logged>,
    problem: Option<Problem>,
    found_config: bool,
}

impl FilePlan {
    /// The plan of a Raspberry Pi fetching from `server`.
    pub fn rpi(machine: &Identity, server: Ipv4Addr) -> FilePlan {
        FilePlan::new(machine, server)
    }

    /// The plan of a PXE client fetching `file` from `server`.
    pub fn pxe(machine: &Identity, server: Ipv4Addr, file: &str) -> FilePlan {
        let mut plan = FilePlan::new(machine, server);
        plan.pxe_file = file.to_string();
        plan
    }

    /// The plan of U-Boot's `pxe get`: its address `ip`, the boot file (whose
    /// directory the names are relative to) and option 209, if the ACK had
    /// them.
    pub fn uboot(
        machine: &Identity,
        server: Ipv4Addr,
        ip: Ipv4Addr,
        bootfile: Option<&str>,
        config_file: Option<&str>,
    ) -> FilePlan {
        let mut plan = FilePlan::new(machine, server);
        plan.uboot_ip = ip;
        plan.uboot_dir = bootfile
            .and_then(|f| f.rfind('/').map(|at| f[..=at].to_string()))
            .unwrap_or_default();
        plan.uboot_config_file = config_file.map(str::to_string);
        plan
    }

    fn new(machine: &Identity, server: Ipv4Addr) -> FilePlan {
        FilePlan {
            machine: machine.clone(),
            server,
            stage: Stage::Step(0),
            prefix: String::new(),
            fell_back: None,
            config: ConfigTxt::default(),
            uboot_ip: Ipv4Addr::UNSPECIFIED,
            uboot_dir: String::new(),
            uboot_config_file: None,
            pxe_file: String::new(),
            log: Vec::new(),
            problem: None,
            found_config: false,
        }
    }

    /// The serial directory in use (`e1ffda08/`), empty for the root.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What was asked and found so far.
    pub fn log(&self) -> &[Logged] {
        &self.log
    }

    /// The settings read from `config.txt`.
    pub fn config(&self) -> &ConfigTxt {
        &self.config
    }

    /// `Ok` when the firmware got every file it needs, else the first
    /// problem. Meaningful once [`next_fetch`](Self::next_fetch) returned `None`.
    pub fn verdict(&self) -> Result<(), Problem> {
        match &self.problem {
            Some(problem) => Err(problem.clone()),
            None => Ok(()),
        }
    }

    fn fetch(&self, path: String, options: Vec<(String, String)>, read: Read, need: Need) -> Fetch {
        Fetch {
            server: self.server,
            path,
            options,
            read,
            need,
        }
    }

    /// A file under the prefix with the Pi's options.
    fn rpi_file(&self, name: &str, read: Read, need: Need) -> Fetch {
        self.fetch(
            format!("{}{name}", self.prefix),
            rpi_options(self.machine.kind),
            read,
            need,
        )
    }

    /// Kernel names to try, in order, and what would have changed them.
    fn kernels(&self) -> Vec<String> {
        if let Some(kernel) = &self.config.kernel {
            return vec![kernel.clone()];
        }
        match self.machine.kind {
            Emulated::Rpi3 if self.config.arm_64bit => vec!["kernel8.img".into()],
            Emulated::Rpi3 => vec!["kernel7.img".into()],
            Emulated::Rpi4 => vec!["kernel8.img".into()],
            _ => vec!["kernel_2712.img".into(), "kernel8.img".into()],
        }
    }

    fn kernel_hint(&self) -> String {
        match (&self.config.kernel, self.machine.kind) {
            (Some(_), _) => "config.txt names it with kernel=".into(),
            (None, Emulated::Rpi3) if self.config.arm_64bit => {
                "arm_64bit=1 in config.txt selects kernel8.img; kernel= names another".into()
            }
            (None, Emulated::Rpi3) => {
                "config.txt has no kernel= (arm_64bit=1 would select kernel8.img)".into()
            }
            (None, _) => "config.txt has no kernel= naming another".into(),
        }
    }

    fn dtb(&self) -> String {
        if let Some(dtb) = &self.config.device_tree {
            return dtb.clone();
        }
        match self.machine.kind {
            Emulated::Rpi3 => "bcm2710-rpi-3-b.dtb",
            Emulated::Rpi4 => "bcm2711-rpi-4-b.dtb",
            _ => "bcm2712-rpi-5-b.dtb",
        }
        .into()
    }

    /// U-Boot's `pxe get` names, in order.
    fn pxe_configs(&self) -> Vec<String> {
        if let Some(file) = &self.uboot_config_file {
            return vec![file.clone()];
        }
        let dir = format!("{}pxelinux.cfg/", self.uboot_dir);
        let m = self.machine.mac;
        let mut names = vec![format!(
            "{dir}01-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )];
        let hex = format!("{:08X}", u32::from(self.uboot_ip));
        for len in (1..=8).rev() {
            names.push(format!("{dir}{}", &hex[..len]));
        }
        names.push(format!("{dir}default-arm"));
        names.push(format!("{dir}default"));
        names
    }

    /// The `k`-th firmware file this Pi asks for in its folder ([`files_for`]:
    /// `start.elf`, `fixup.dat` on the Pi 3; `start4.elf`, `fixup4.dat` on the Pi 4).
    fn firmware(&self, k: usize) -> &'static str {
        let model = self.machine.kind.rpi_model().unwrap_or_default();
        files_for(model)
            .iter()
            .filter(|f| f.place == Place::Machine)
            .nth(k)
            .map_or("", |f| f.name)
    }

    /// The Pi 3 ROM's file at the TFTP root (`bootcode.bin`).
    fn rom_file(&self) -> &'static str {
        files_for(RpiModel::Pi3)
            .iter()
            .find(|f| f.place == Place::Root)
            .map_or("", |f| f.name)
    }

    /// The step list of the firmware; `None` past the end.
    fn step(&self, i: usize) -> Option<StepKind> {
        use Need::*;
        use Read::*;
        let kind = self.machine.kind;
        let serial = self.machine.prefix_dir();
        let s = |f: Fetch| Some(StepKind::One(f));
        match kind {
            Emulated::Rpi3 => match i {
                0 => s(self.fetch(self.rom_file().into(), vec![], Whole, Required)),
                1 => s(self.fetch("bootsig.bin".into(), vec![], Whole, NormallyAbsent)),
                2 => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/{}", self.firmware(0)),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                3 => s(self.rpi_file("autoboot.txt", Whole, Optional)),
                4 => s(self.rpi_file("config.txt", Whole, Optional)),
                5 => s(self.rpi_file("recovery.elf", Probe, Optional)),
                6 => s(self.rpi_file(self.firmware(0), Whole, Required)),
                7 => s(self.rpi_file(self.firmware(1), Whole, Required)),
                8 => s(self.rpi_file("dt-blob.bin", Whole, Optional)),
                9 => s(self.rpi_file("bootcfg.txt", Whole, Optional)),
                10 => s(self.rpi_file("cmdline.txt", Whole, Optional)),
                11 => Some(StepKind::Kernel),
                12 => s(self.rpi_file(&self.dtb(), Whole, Required)),
                _ => None,
            },
            Emulated::Rpi4 => match i {
                0 => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/{}", self.firmware(0)),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                // The EEPROM also takes a folder holding the Pi 3's start file.
                1 if self.prefix.is_empty() => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/{}", start_file(RpiModel::Pi3).unwrap_or_default()),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                1 => Some(StepKind::Skip),
                2 => s(self.rpi_file("config.txt", Whole, Optional)),
                3 => s(self.rpi_file(self.firmware(0), Whole, Required)),
                4 => s(self.rpi_file(self.firmware(1), Whole, Required)),
                5 => s(self.rpi_file(&self.dtb(), Whole, Required)),
                6 => s(self.rpi_file("cmdline.txt", Whole, Optional)),
                7 => Some(StepKind::Kernel),
                _ => None,
            },
            Emulated::Rpi5 => match i {
                0 => Some(StepKind::PrefixProbe(self.fetch(
                    format!("{serial}/config.txt"),
                    rpi_options(kind),
                    Probe,
                    Optional,
                ))),
                1 if self.prefix.is_empty() => s(self.rpi_file("config.txt", Whole, Optional)),
                1 => s(self.fetch(
                    format!("{serial}//config.txt"),
                    rpi_options(kind),
                    Whole,
                    Optional,
                )),
                2 => Some(StepKind::Kernel),
                3 => s(self.rpi_file(&self.dtb(), Whole, Required)),
                4 => s(self.rpi_file("cmdline.txt", Whole, Optional)),
                _ => None,
            },
            Emulated::PxeBios | Emulated::PxeEfi => match i {
                0 => {
                    let options: &[(&str, &str)] = if kind == Emulated::PxeBios {
                        &[("tsize", "0"), ("blksize", "1456")]
                    } else {
                        &[("blksize", "1468")]
                    };
                    s(self.fetch(
                        self.pxe_file.clone(),
                        options
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        Whole,
                        Required,
                    ))
                }
                _ => None,
            },
            Emulated::UBoot => match i {
                0 => Some(StepKind::PxeConfig),
                _ => None,
            },
        }
    }

    fn candidates(&self, i: usize) -> Vec<Fetch> {
        match self.step(i) {
            Some(StepKind::Kernel) => self
                .kernels()
                .iter()
                .map(|k| self.rpi_file(k, Read::Whole, Need::Required))
                .collect(),
            Some(StepKind::PxeConfig) => self
                .pxe_configs()
                .into_iter()
                .map(|name| {
                    self.fetch(
                        name,
                        vec![
                            ("timeout".into(), "5".into()),
                            ("blksize".into(), "1468".into()),
                        ],
                        Read::Whole,
                        Need::Optional,
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The next request, or `None` when the firmware is done (booted, or
    /// stopped at a problem: see [`verdict`](Self::verdict)).
    pub fn next_fetch(&mut self) -> Option<Fetch> {
        loop {
            match self.stage.clone() {
                Stage::Done => return None,
                Stage::Step(i) => match self.step(i) {
                    None => {
                        self.stage = Stage::Done;
                        return None;
                    }
                    Some(StepKind::Skip) => self.stage = Stage::Step(i + 1),
                    Some(StepKind::One(f)) | Some(StepKind::PrefixProbe(f)) => return Some(f),
                    Some(StepKind::Kernel) | Some(StepKind::PxeConfig) => {
                        self.stage = Stage::Candidates(i, 0)
                    }
                },
                Stage::Candidates(i, j) => match self.candidates(i).into_iter().nth(j) {
                    Some(f) => return Some(f),
                    None => self.stage = Stage::Step(i + 1),
                },
            }
        }
    }

    /// Records the result of the request [`next_fetch`](Self::next_fetch) returned and
    /// moves the plan on. Returns a remark for people, if the result means
    /// something beyond itself (`using prefix e1ffda08/`).
    pub fn record(&mut self, fetch: &Fetch, result: Fetched) -> Option<String> {
        let found = matches!(result, Fetched::Found { .. });
        let mut note = None;
        match self.stage.clone() {
            Stage::Done => {}
            Stage::Step(i) => {
                let step = self.step(i);
                if let Some(StepKind::PrefixProbe(_)) = step {
                    let serial = format!("{}/", self.machine.prefix_dir());
                    if found {
                        self.prefix = serial.clone();
                        self.fell_back = None;
                        note = Some(format!("every later request uses {serial}"));
                    } else if self.machine.kind != Emulated::Rpi4 || i == 1 {
                        self.fell_back = Some(serial.clone());
                        note = Some(format!("not under {serial}: the firmware uses the root"));
                    }
                }
                if let Fetched::Found {
                    data: Some(data), ..
                } = &result
                {
                    if fetch.path.ends_with("config.txt") && self.machine.kind.is_rpi() {
                        self.config = ConfigTxt::parse(self.machine.kind, data);
                        let c = &self.config;
                        let mut said = Vec::new();
                        if let Some(k) = &c.kernel {
                            said.push(format!("kernel={k}"));
                        }
                        if let Some(d) = &c.device_tree {
                            said.push(format!("device_tree={d}"));
                        }
                        if c.arm_64bit {
                            said.push("arm_64bit=1".into());
                        }
                        if !said.is_empty() {
                            note = Some(format!("config.txt sets {}", said.join(" ")));
                        }
                    }
                }
                if fetch.path.ends_with("recovery.elf") && found {
                    note = Some(
                        "recovery.elf exists: the firmware would run it instead of start.elf"
                            .into(),
                    );
                }
                match (&result, fetch.need) {
                    // A server that fails a transfer (a timeout, an error
                    // other than "not found") stalls the firmware whatever
                    // the file.
                    (Fetched::Failed(error), _) => {
                        self.stop(Problem::Transfer {
                            server: self.server,
                            path: fetch.path.clone(),
                            error: error.clone(),
                        });
                    }
                    (Fetched::NotFound, Need::Required) => {
                        let file = fetch.path.rsplit('/').next().unwrap_or(&fetch.path);
                        let hint = self.missing_hint(file);
                        // Only the start file was looked for under the
                        // serial directory.
                        let probed = [RpiModel::Pi3, RpiModel::Pi4]
                            .into_iter()
                            .any(|model| start_file(model) == Some(file));
                        self.stop(Problem::Missing {
                            server: self.server,
                            file: file.to_string(),
                            dir: self.prefix.clone(),
                            fell_back: self.fell_back.clone().filter(|_| probed),
                            hint,
                        });
                    }
                    _ => self.stage = Stage::Step(i + 1),
                }
            }
            Stage::Candidates(i, j) => {
                let all = self.candidates(i);
                let uboot = self.machine.kind == Emulated::UBoot;
                if found {
                    if uboot {
                        self.found_config = true;
                        note = Some("pxe get takes this file".into());
                        self.stage = Stage::Done;
                    } else {
                        self.stage = Stage::Step(i + 1);
                    }
                } else if let Fetched::Failed(error) = &result {
                    self.stop(Problem::Transfer {
                        server: self.server,
                        path: fetch.path.clone(),
                        error: error.clone(),
                    });
                } else if j + 1 < all.len() {
                    self.stage = Stage::Candidates(i, j + 1);
                } else if uboot {
                    self.stop(Problem::NoPxeConfig {
                        server: self.server,
                        tried: all.into_iter().map(|f| f.path).collect(),
                    });
                } else {
                    let names: Vec<String> = self.kernels();
                    let file = names.join(" nor ");
                    self.stop(Problem::Missing {
                        server: self.server,
                        file,
                        dir: self.prefix.clone(),
                        fell_back: None,
                        hint: Some(self.kernel_hint()),
                    });
                }
            }
        }
        self.log.push(Logged {
            fetch: fetch.clone(),
            result,
            note: note.clone(),
        });
        note
    }

    fn missing_hint(&self, file: &str) -> Option<String> {
        if Some(file) == Some(self.dtb().as_str()) {
            return Some(match self.config.device_tree {
                Some(_) => "config.txt names it with device_tree=".into(),
                None => "copy the board's .dtb from the firmware's boot files".into(),
            });
        }
        match firmware_file(file)?.place {
            Place::Root => Some("the Pi 3 ROM always fetches it from the TFTP root".into()),
            Place::Machine => Some("copy it from the Raspberry Pi firmware's boot files".into()),
        }
    }

    fn stop(&mut self, problem: Problem) {
        self.problem = Some(problem);
        self.stage = Stage::Done;
    }
}

/// What one step of a firmware's list is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StepKind {
    /// One request.
    One(Fetch),
    /// A probe under the serial directory that decides the prefix.
    PrefixProbe(Fetch),
    /// Nothing at this step this time.
    Skip,
    /// The kernel: one or more names, the first found wins.
    Kernel,
    /// U-Boot's `pxe get` list.
    PxeConfig,
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn until_nul(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
