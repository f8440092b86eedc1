//! `bootherd probe` plays each boot firmware against bootherd (`serve --proxy`)
//! and dnsmasq (the LAN's DHCP server) in a namespace lab, and its verdicts and
//! the files it fetched are checked against what is on disk.
//!
//! The probe runs only in `NAME-cli` on `br0`; dnsmasq only in `NAME-lan` on
//! its `eth0`; bootherd only in `NAME-srv`. Every run is bounded by `timeout`.

use std::path::{Path, PathBuf};

use crate::support::{
    assert_file_eq, need_lab, pseudo_random_bytes, temp_dir, write_file, Dnsmasq, Lab, RunOutput,
    Server, BOOTHERD,
};

/// The serial whose directory exists in the test root.
const SERIAL: &str = "e1ffda08";
/// A Pi 5 serial whose directory exists too.
const SERIAL5: &str = "5e5e5e5e";
/// A serial without a directory.
const OTHER_SERIAL: &str = "0badc0de";

/// What a lab holds: servers first, so they stop before the lab goes.
struct ProbeLab {
    bootherd: Option<Server>,
    dnsmasq: Option<Dnsmasq>,
    lab: Lab,
    dir: tempfile::TempDir,
}

impl ProbeLab {
    /// A lab with `files` in the boot root; nothing running yet.
    fn new(files: &[(String, Vec<u8>)]) -> ProbeLab {
        let dir = temp_dir();
        std::fs::create_dir(dir.path().join("root")).expect("create root");
        for (name, contents) in files {
            write_file(&dir.path().join("root").join(name), contents);
        }
        ProbeLab {
            bootherd: None,
            dnsmasq: None,
            lab: Lab::up(),
            dir,
        }
    }

    /// A lab with `files` in the boot root, dnsmasq as the LAN's DHCP server and
    /// bootherd.
    fn serving(files: &[(String, Vec<u8>)]) -> ProbeLab {
        let mut lab = ProbeLab::new(files);
        lab.start_lan_dhcp();
        lab.start_bootherd();
        lab
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `bootherd serve --proxy --no-http` in `NAME-srv`.
    fn start_bootherd(&mut self) {
        self.start_bootherd_with(&[]);
    }

    /// `bootherd serve --proxy --no-http --config FILE` in `NAME-srv`.
    fn start_bootherd_config(&mut self, config: &Path) {
        self.start_bootherd_with(&["--config", config.to_str().expect("UTF-8 path")]);
    }

    fn start_bootherd_with(&mut self, extra: &[&str]) {
        let flags = [&["--proxy", "--no-http"], extra].concat();
        self.bootherd = Some(Server::start_in_with(
            &self.lab.srv(),
            &self.root(),
            &flags,
            Some("info"),
        ));
    }

    /// dnsmasq in `NAME-lan` with these DHCP arguments.
    fn start_dnsmasq(&mut self, dhcp: &[&str]) {
        self.dnsmasq = Some(Dnsmasq::start(&self.lab, self.dir.path(), dhcp));
    }

    /// dnsmasq as the LAN's DHCP server handing out 10.99.0.150-199.
    fn start_lan_dhcp(&mut self) {
        self.dnsmasq = Some(Dnsmasq::lan(&self.lab, self.dir.path(), "1h", &[]));
    }

    /// Runs the probe in `NAME-cli` on br0, saving what it reads under
    /// `out/<tag>`.
    fn probe(&self, tag: &str, args: &[&str]) -> Probe {
        let out = self.dir.path().join("out").join(tag);
        let mut argv = vec![
            BOOTHERD.to_string(),
            "probe".into(),
            "--interface".into(),
            "br0".into(),
            "--save".into(),
            out.to_str().expect("UTF-8 temp path").into(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let run = self.lab.exec(&self.lab.cli(), 60, &argv);
        Probe { run, out }
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        if let Some(b) = &self.bootherd {
            text.push_str(&format!("--- bootherd ---\n{}\n", b.log_text()));
        }
        if let Some(d) = &self.dnsmasq {
            text.push_str(&format!("--- dnsmasq ---\n{}\n", d.log_text()));
        }
        text
    }

    /// Panics with the probe's output and the servers' logs.
    fn fail(&self, what: &str, probe: &Probe) -> ! {
        panic!("{what}\n{}\n{}", probe.run.describe(), self.logs());
    }

    /// Checks the exit code and the verdict line.
    fn expect(&self, probe: &Probe, code: i32, verdict: &str) {
        let last = probe.run.stdout.lines().last().unwrap_or_default();
        if probe.run.timed_out || probe.run.status.code() != Some(code) || !last.contains(verdict) {
            self.fail(
                &format!("expected exit {code} and a verdict containing {verdict:?}"),
                probe,
            );
        }
    }

    /// Checks that the probe says the client boots, and [`ProbeLab::expect_lines`].
    fn expect_boots(&self, probe: &Probe, lines: &[&str]) {
        self.expect(probe, 0, "VERDICT: boots");
        self.expect_lines(probe, lines);
    }

    /// Checks that the probe printed a line containing each of `lines`.
    fn expect_lines(&self, probe: &Probe, lines: &[&str]) {
        for line in lines {
            if !probe.has_line(line) {
                self.fail(&format!("no line containing {line:?}"), probe);
            }
        }
    }

    /// Every file the probe says it read whole equals the file on disk.
    fn expect_files_match(&self, probe: &Probe) -> usize {
        let mut checked = 0;
        for line in probe.run.stdout.lines() {
            let Some(rest) = line.strip_prefix("TFTP  ") else {
                continue;
            };
            let Some((_server, rest)) = rest.split_once(' ') else {
                continue;
            };
            let Some((path, result)) = rest.split_once(": ") else {
                continue;
            };
            // `N bytes`, maybe followed by `; a remark`.
            let result = result.split(';').next().unwrap_or_default();
            if !result.ends_with(" bytes") {
                continue;
            }
            let clean = clean(path);
            let want = std::fs::read(self.root().join(&clean))
                .unwrap_or_else(|e| self.fail(&format!("{path} is not on disk: {e}"), probe));
            assert_file_eq(&probe.out.join(&clean), &want, path);
            checked += 1;
        }
        checked
    }
}

/// `e1ffda08//config.txt` -> `e1ffda08/config.txt`.
fn clean(path: &str) -> PathBuf {
    path.split('/').filter(|p| !p.is_empty()).collect()
}

/// One probe run and the directory it saved files in.
struct Probe {
    run: RunOutput,
    out: PathBuf,
}

impl Probe {
    fn has_line(&self, needle: &str) -> bool {
        self.run.stdout.lines().any(|l| l.contains(needle))
    }
}

/// The probe's client: `--as FIRMWARE --mac MAC [--serial SERIAL] --timeout SECS`.
fn client<'a>(
    firmware: &'a str,
    mac: &'a str,
    serial: Option<&'a str>,
    secs: &'a str,
) -> Vec<&'a str> {
    let mut args = vec!["--as", firmware, "--mac", mac];
    if let Some(serial) = serial {
        args.extend(["--serial", serial]);
    }
    args.extend(["--timeout", secs]);
    args
}

/// Fake Raspberry Pi firmware and PXE boot files: random bytes, sizes around
/// block boundaries (a multiple of 512 or 1024 ends with an empty block).
fn boot_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut seed = 100;
    let mut add = |name: &str, len: usize| {
        seed += 1;
        files.push((name.to_string(), pseudo_random_bytes(seed, len)));
    };
    for (name, len) in [
        ("bootcode.bin", 52_456),
        ("start.elf", 300_000),
        ("fixup.dat", 512 * 14),
        ("kernel7.img", 120_001),
        ("kernel8.img", 130_002),
        ("bcm2710-rpi-3-b.dtb", 25_000),
        ("start4.elf", 1024 * 200),
        ("fixup4.dat", 5_446),
        ("bcm2711-rpi-4-b.dtb", 52_000),
        ("kernel_2712.img", 140_003),
        ("bcm2712-rpi-5-b.dtb", 77_777),
        ("undionly.kpxe", 70_012),
        ("ipxe.efi", 1_024_000),
    ] {
        add(name, len);
    }
    // Other sizes and bytes than the root's, so the prefix shows.
    let serial3 = [
        "start.elf",
        "fixup.dat",
        "kernel7.img",
        "bcm2710-rpi-3-b.dtb",
    ];
    for (i, name) in serial3.iter().enumerate() {
        add(&format!("{SERIAL}/{name}"), 40_000 + 333 * i);
    }
    for (i, name) in ["kernel_2712.img", "bcm2712-rpi-5-b.dtb"]
        .iter()
        .enumerate()
    {
        add(&format!("{SERIAL5}/{name}"), 30_000 + 777 * i);
    }
    files.push((
        "cmdline.txt".into(),
        b"console=serial0 root=/dev/nfs\n".to_vec(),
    ));
    files.push(("config.txt".into(), b"# bootherd test\n[all]\n".to_vec()));
    files.push((
        format!("{SERIAL}/config.txt"),
        b"# serial directory\n[pi4]\nkernel=not-for-a-pi3.img\n".to_vec(),
    ));
    files.push((format!("{SERIAL5}/config.txt"), b"# pi 5\n".to_vec()));
    files
}

fn without(files: Vec<(String, Vec<u8>)>, drop: &[&str]) -> Vec<(String, Vec<u8>)> {
    files
        .into_iter()
        .filter(|(name, _)| !drop.contains(&name.as_str()))
        .collect()
}

const PI3_MAC: &str = "b8:27:eb:ff:da:08";

#[test]
fn rpi3_boots_from_its_serial_directory() {
    if !need_lab("rpi3_boots_from_its_serial_directory", &["dnsmasq"]) {
        return;
    }
    let lab = ProbeLab::serving(&boot_files());
    let probe = lab.probe("serial", &client("rpi3", PI3_MAC, Some(SERIAL), "5"));
    lab.expect_boots(
        &probe,
        &[
            "offer from 10.99.0.2: address 10.99.0.1",
            "offer from 10.99.0.1: proxy, option 43 has \"Raspberry Pi Boot\"",
            "TFTP server 10.99.0.1: the source of the \"Raspberry Pi Boot\" reply",
            "TFTP  10.99.0.1 bootcode.bin: 52456 bytes",
            "TFTP  10.99.0.1 bootsig.bin: not found (normal)",
            "e1ffda08/start.elf: found",
            "every later request uses e1ffda08/",
            "TFTP  10.99.0.1 e1ffda08/start.elf: ",
            "TFTP  10.99.0.1 e1ffda08/fixup.dat: ",
            "TFTP  10.99.0.1 e1ffda08/kernel7.img: ",
            "TFTP  10.99.0.1 e1ffda08/bcm2710-rpi-3-b.dtb: ",
        ],
    );
    // The [pi4] section's kernel= is not for a Pi 3.
    assert!(!probe.has_line("not-for-a-pi3"), "{}", probe.run.stdout);
    assert_eq!(lab.expect_files_match(&probe), 6);

    // --json says the same.
    let mut args = client("rpi3", PI3_MAC, Some(SERIAL), "5");
    args.push("--json");
    let json = lab.probe("json", &args);
    lab.expect_json(&json, true);
}

impl ProbeLab {
    fn expect_json(&self, probe: &Probe, boots: bool) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_str(probe.run.stdout.trim())
            .unwrap_or_else(|e| self.fail(&format!("not one JSON object: {e}"), probe));
        if value["boots"] != boots || value["firmware"] != "rpi3" {
            self.fail("unexpected JSON verdict", probe);
        }
        assert_eq!(value["dhcp"]["tftp_server"], "10.99.0.1");
        assert!(value["tftp"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "e1ffda08/start.elf" && f["result"] == "found"));
        value
    }
}

#[test]
fn rpi3_without_serial_directory_uses_the_root() {
    if !need_lab("rpi3_without_serial_directory_uses_the_root", &["dnsmasq"]) {
        return;
    }
    let lab = ProbeLab::serving(&boot_files());
    let probe = lab.probe(
        "root",
        &client("rpi3", "b8:27:eb:00:00:01", Some(OTHER_SERIAL), "5"),
    );
    lab.expect_boots(
        &probe,
        &[
            "TFTP  10.99.0.1 0badc0de/start.elf: not found (optional); not under 0badc0de/: the \
             firmware uses the root",
            "TFTP  10.99.0.1 config.txt: ",
            "TFTP  10.99.0.1 start.elf: 300000 bytes",
            "TFTP  10.99.0.1 kernel7.img: 120001 bytes",
        ],
    );
    assert_eq!(lab.expect_files_match(&probe), 7);
}

#[test]
fn rpi3_names_a_missing_start_elf() {
    if !need_lab("rpi3_names_a_missing_start_elf", &["dnsmasq"]) {
        return;
    }
    let files = without(boot_files(), &["start.elf", "e1ffda08/start.elf"]);
    let lab = ProbeLab::serving(&files);
    let probe = lab.probe("nostart", &client("rpi3", PI3_MAC, Some(SERIAL), "5"));
    lab.expect(
        &probe,
        1,
        "VERDICT: would not boot: start.elf not found under e1ffda08/ nor at the TFTP root of \
         10.99.0.1",
    );
    lab.expect_files_match(&probe);
}

#[test]
fn rpi3_with_only_a_lan_dhcp_server_has_no_boot_offer() {
    if !need_lab(
        "rpi3_with_only_a_lan_dhcp_server_has_no_boot_offer",
        &["dnsmasq"],
    ) {
        return;
    }
    let mut lab = ProbeLab::new(&boot_files());
    lab.start_lan_dhcp();
    let probe = lab.probe("nobootherd", &client("rpi3", PI3_MAC, None, "2"));
    lab.expect(
        &probe,
        1,
        "VERDICT: would not boot: offer had no \"Raspberry Pi Boot\" in option 43 (offers from \
         10.99.0.2)",
    );
    assert!(probe.has_line("DHCP  offer from 10.99.0.2: address 10.99.0.1"));
}

/// The emulated Pi 4 boots from an inventory: the shared firmware through its serial
/// folder, and the `cmdline.txt` and `config.txt` bootherd generates for it.
#[test]
fn rpi4_boots_from_the_inventory() {
    if !need_lab("rpi4_boots_from_the_inventory", &["dnsmasq"]) {
        return;
    }
    // No serial folder on disk: everything under ab5a4158/ is the inventory's.
    let mut lab = ProbeLab::new(&without(boot_files(), &["config.txt", "cmdline.txt"]));
    let config = lab.dir.path().join("bootherd.toml");
    write_file(
        &config,
        br#"
[tftp]
root = "root"

[profiles.pi4-iscsi]
kind = "rpi"
kernel = "kernel8.img"
dtb = "bcm2711-rpi-4-b.dtb"
cmdline = "console=serial0,115200"
config_txt = "arm_64bit=1\n"
root = { type = "iscsi", portal = "10.99.0.2", target = "iqn.2026-11.lab:{serial}", lun = 1, partition = 2 }

[[machines]]
name = "lab-pi4"
mac = "dc:a6:32:01:02:03"
serial = "ab5a4158"
profile = "pi4-iscsi"
extra_args = "modprobe.blacklist=bcm2835_v4l2"
"#,
    );
    lab.start_lan_dhcp();
    lab.start_bootherd_config(&config);

    let pi4 = lab.probe(
        "rpi4",
        &client("rpi4", "dc:a6:32:01:02:03", Some("ab5a4158"), "5"),
    );
    lab.expect_boots(
        &pi4,
        &[
            "TFTP  10.99.0.1 ab5a4158/start4.elf: found",
            "TFTP  10.99.0.1 ab5a4158/config.txt: ",
            "TFTP  10.99.0.1 ab5a4158/cmdline.txt: ",
            "TFTP  10.99.0.1 ab5a4158/kernel8.img: 130002 bytes",
        ],
    );
    // What the Pi got is what `bootherd show` says the machine is served.
    let shown = crate::support::show_in_lab(&config, "lab-pi4");
    for name in ["cmdline.txt", "config.txt"] {
        let got = std::fs::read_to_string(pi4.out.join("ab5a4158").join(name))
            .unwrap_or_else(|e| lab.fail(&format!("{name} not saved: {e}"), &pi4));
        let header = format!("==> ab5a4158/{name} <==\n{got}");
        assert!(
            shown.contains(&header),
            "the Pi got {name}:\n{got}\nbut show says:\n{}",
            shown
        );
    }
    let cmdline = std::fs::read_to_string(pi4.out.join("ab5a4158/cmdline.txt")).unwrap();
    assert!(
        cmdline.contains("ISCSI_TARGET_NAME=iqn.2026-11.lab:ab5a4158"),
        "{cmdline}"
    );
    assert!(
        cmdline.contains("modprobe.blacklist=bcm2835_v4l2"),
        "{cmdline}"
    );
}

#[test]
fn rpi4_and_rpi5_boot() {
    if !need_lab("rpi4_and_rpi5_boot", &["dnsmasq"]) {
        return;
    }
    let lab = ProbeLab::serving(&boot_files());

    let pi4 = lab.probe(
        "rpi4",
        &client("rpi4", "dc:a6:32:01:02:03", Some("ab5a4158"), "5"),
    );
    lab.expect_boots(
        &pi4,
        &[
            "DHCP  REQUEST 10.99.0.1",
            "ack from 10.99.0.2",
            "TFTP  10.99.0.1 ab5a4158/start4.elf: not found (optional)",
            "TFTP  10.99.0.1 start4.elf: 204800 bytes",
            "TFTP  10.99.0.1 fixup4.dat: 5446 bytes",
            "TFTP  10.99.0.1 bcm2711-rpi-4-b.dtb: ",
            "TFTP  10.99.0.1 kernel8.img: 130002 bytes",
        ],
    );
    assert_eq!(lab.expect_files_match(&pi4), 6);

    // The Pi 5 finds its serial directory and asks `<serial>//config.txt`.
    let pi5 = lab.probe(
        "rpi5",
        &client("rpi5", "2c:cf:67:01:02:03", Some(SERIAL5), "5"),
    );
    lab.expect_boots(
        &pi5,
        &[
            "TFTP  10.99.0.1 5e5e5e5e/config.txt: found",
            "TFTP  10.99.0.1 5e5e5e5e//config.txt: ",
            "TFTP  10.99.0.1 5e5e5e5e/kernel_2712.img: ",
            "TFTP  10.99.0.1 5e5e5e5e/bcm2712-rpi-5-b.dtb: ",
        ],
    );
    assert_eq!(lab.expect_files_match(&pi5), 3);
}

#[test]
fn pxe_bios_and_efi_fetch_their_boot_files() {
    if !need_lab("pxe_bios_and_efi_fetch_their_boot_files", &["dnsmasq"]) {
        return;
    }
    let lab = ProbeLab::serving(&boot_files());

    let bios = lab.probe("bios", &client("pxe-bios", "52:54:00:00:00:0b", None, "4"));
    lab.expect(&bios, 0, "VERDICT: boots");
    assert!(bios.has_line(
        "offer from 10.99.0.1: proxy, PXE option 43 (discovery control 8), boot file \
         undionly.kpxe, next server 10.99.0.1"
    ));
    assert!(bios.has_line("TFTP  10.99.0.1 undionly.kpxe: 70012 bytes"));
    assert_eq!(lab.expect_files_match(&bios), 1);

    let efi = lab.probe("efi", &client("pxe-efi", "52:54:00:00:00:0e", None, "4"));
    lab.expect(&efi, 0, "VERDICT: boots");
    assert!(
        efi.has_line("PXEClient, no boot file"),
        "{}",
        efi.run.stdout
    );
    assert!(efi.has_line("DHCP  REQUEST to 10.99.0.1:4011: ack from 10.99.0.1"));
    assert!(efi.has_line("TFTP  10.99.0.1 ipxe.efi: 1024000 bytes"));
    assert_eq!(lab.expect_files_match(&efi), 1);
}

#[test]
fn uboot_drops_proxy_offers() {
    if !need_lab("uboot_drops_proxy_offers", &["dnsmasq"]) {
        return;
    }
    let mut lab = ProbeLab::new(&boot_files());
    // bootherd does not answer U-Boot at all; dnsmasq in proxy mode does,
    // without an address, as a proxy must.
    lab.start_bootherd();
    lab.start_dnsmasq(&[
        "--dhcp-range=10.99.0.0,proxy",
        "--dhcp-pxe-vendor=PXEClient,U-Boot",
        "--pxe-service=22,\"U-Boot\",pxelinux,10.99.0.1",
    ]);
    let probe = lab.probe("uboot", &client("uboot", "52:54:00:99:00:a1", None, "2"));
    lab.expect(
        &probe,
        1,
        "VERDICT: would not boot: U-Boot drops offers without an address: only proxy offers \
         (yiaddr 0) arrived (from 10.99.0.2); use the DHCP-server mode or a U-Boot with a fixed \
         serverip",
    );
}

#[test]
fn uboot_boots_with_a_dhcp_server_naming_bootherd() {
    if !need_lab(
        "uboot_boots_with_a_dhcp_server_naming_bootherd",
        &["dnsmasq"],
    ) {
        return;
    }
    let mut files = boot_files();
    files.push(("pxelinux.cfg/default".into(), b"default linux\n".to_vec()));
    let mut lab = ProbeLab::new(&files);
    lab.start_bootherd();
    lab.start_dnsmasq(&[
        "--dhcp-range=10.99.0.150,10.99.0.199,1h",
        "--dhcp-boot=pxelinux.0,,10.99.0.1",
    ]);
    let probe = lab.probe(
        "uboot-dhcp",
        &client("uboot", "52:54:00:99:00:a1", None, "4"),
    );
    lab.expect_boots(
        &probe,
        &[
            "serverip 10.99.0.1 (siaddr), bootfile pxelinux.0",
            "TFTP  10.99.0.1 pxelinux.cfg/01-52-54-00-99-00-a1: not found",
            "TFTP  10.99.0.1 pxelinux.cfg/default-arm: not found",
            "TFTP  10.99.0.1 pxelinux.cfg/default: 14 bytes; pxe get takes this file",
        ],
    );
    assert_eq!(lab.expect_files_match(&probe), 1);
}

#[test]
fn probe_usage_errors_exit_2() {
    // No lab: these fail before any socket is opened.
    let out = crate::support::run_bootherd(["probe", "--as", "rpi9"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    let out = crate::support::run_bootherd(["probe", "--as", "rpi3", "--serial", "xyz"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    let out = crate::support::run_bootherd(["probe", "--as", "rpi3", "--interface", "no-such-if0"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains("no interface named no-such-if0"),
        "{}",
        out.describe()
    );
}
