//! A first run that needs no reading: in the lab's server namespace, `bootherd
//! init --root ROOT` writes a configuration for that host from a boot root
//! holding Raspberry Pi 4 firmware, iPXE, PXELINUX and a `pxelinux.cfg/`;
//! `bootherd check` passes it as written; `bootherd serve` with it boots an
//! emulated Pi 4 (`bootherd probe --as rpi4`: proxyDHCP next to the LAN's
//! dnsmasq) and an emulated U-Boot board (`probe --as uboot`: bootherd's own
//! DHCP server). The same run is made with the arm64 package's binary under
//! qemu-user (`packaging.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{
    lock_host_package, need_lab, pseudo_random_bytes, temp_dir, write_file, Dnsmasq, Lab,
    RunOutput, Server, BOOTHERD,
};

/// The emulated Pi 4.
const PI4_MAC: &str = "dc:a6:32:01:02:03";
/// The emulated U-Boot board; the LAN's dnsmasq is told to ignore it.
const UBOOT_MAC: &str = "52:54:00:99:00:a1";

/// Files in the boot root, with their sizes.
const ROOT_FILES: [(&str, usize); 9] = [
    ("bootcode.bin", 52_456),
    ("start4.elf", 204_800),
    ("fixup4.dat", 5_446),
    ("bcm2711-rpi-4-b.dtb", 52_000),
    ("kernel8.img", 130_002),
    ("ipxe.efi", 100_000),
    ("undionly.kpxe", 70_012),
    ("pxelinux.0", 42_000),
    ("pxelinux.cfg/default", 0),
];

#[test]
fn init_writes_a_config_that_boots_a_pi_and_a_uboot_board() {
    if !need_lab(
        "init_writes_a_config_that_boots_a_pi_and_a_uboot_board",
        &["dnsmasq"],
    ) {
        return;
    }
    boots_a_pi_and_a_uboot_board(&[BOOTHERD.to_string()]);
}

/// Servers first, so they stop before the lab goes; the files last.
struct FirstRun {
    bootherd: Option<Server>,
    _dnsmasq: Option<Dnsmasq>,
    lab: Lab,
    dir: tempfile::TempDir,
}

/// The first run with `program` (bootherd, or an emulator and the binary it
/// runs) as the server; the probes are the native bootherd, as the lab's
/// firmware clients are.
pub fn boots_a_pi_and_a_uboot_board(program: &[String]) {
    // `init` names /var/lib/bootherd when it exists: none of the package tests
    // may install or purge it meanwhile.
    let _package = lock_host_package();
    let mut run = FirstRun {
        bootherd: None,
        _dnsmasq: None,
        lab: Lab::up(),
        dir: temp_dir(),
    };
    let root = run.dir.path().join("root");
    for (i, (name, len)) in ROOT_FILES.iter().enumerate() {
        let contents = match *name {
            "pxelinux.cfg/default" => b"default linux\n".to_vec(),
            _ => pseudo_random_bytes(500 + i as u64, *len),
        };
        write_file(&root.join(name), &contents);
    }
    let config = run.dir.path().join("bootherd.toml");

    let init = run.exec_server(
        program,
        &[
            "init",
            "--root",
            root.to_str().unwrap(),
            "--output",
            config.to_str().unwrap(),
        ],
    );
    assert!(init.success(), "bootherd init: {}", init.describe());
    assert!(
        init.stderr
            .contains(&format!("bootherd check --config {}", config.display())),
        "init does not say to run check: {}",
        init.describe()
    );
    let text = std::fs::read_to_string(&config).expect("read the written config");
    for line in [
        "#   eth0       10.99.0.1/24 (subnet 10.99.0.0/24)",
        "interfaces = [\"eth0\"]",
        &format!("root = \"{}\"", root.display()),
        "enabled = true   # firmware found in the root",
        "rpi = true   # Raspberry Pi firmware found: bootcode.bin, start4.elf",
        "bios = \"undionly.kpxe\"",
        "uefi_x64 = \"ipxe.efi\"",
        "enabled = true   # pxelinux.cfg/ found",
        "subnet = \"10.99.0.0/24\"",
        "range = [\"10.99.0.234\", \"10.99.0.253\"]",
        "# [profiles.pi4-nfs]",
    ] {
        assert!(text.contains(line), "no line {line:?} in:\n{text}");
    }
    // Never this machine's lease database, should the package be installed.
    let db = run.dir.path().join("leases.sqlite");
    let text = retarget_lease_db(&text, &db);
    std::fs::write(&config, &text).expect("write the config");

    let check = run.exec_server(program, &["check", "--config", config.to_str().unwrap()]);
    assert!(
        check.success() && check.stdout.contains(": ok"),
        "bootherd check on what init wrote: {}",
        check.describe()
    );

    run._dnsmasq = Some(Dnsmasq::lan(&run.lab, run.dir.path(), "1h", &[UBOOT_MAC]));
    let mut serve = Command::new("ip");
    serve
        .args(["netns", "exec", &run.lab.srv()])
        .args(program)
        .args(["serve", "--config"])
        .arg(&config);
    let server = Server::start(serve);
    server.expect_log(
        &["dhcp server listening on 0.0.0.0:67"],
        Duration::from_secs(30),
        "bootherd did not start its DHCP server",
    );
    run.bootherd = Some(server);

    let pi4 = run.probe(&[
        "--as",
        "rpi4",
        "--mac",
        PI4_MAC,
        "--serial",
        "ab5a4158",
        "--timeout",
        "8",
    ]);
    run.expect_boots(
        &pi4,
        &[
            "offer from 10.99.0.1: proxy, option 43 has \"Raspberry Pi Boot\"",
            "TFTP  10.99.0.1 start4.elf: 204800 bytes",
            "TFTP  10.99.0.1 kernel8.img: 130002 bytes",
        ],
    );
    let uboot = run.probe(&["--as", "uboot", "--mac", UBOOT_MAC, "--timeout", "8"]);
    run.expect_boots(
        &uboot,
        &[
            "offer from 10.99.0.1: address 10.99.0.2",
            "serverip 10.99.0.1 (siaddr), bootfile pxelinux.0",
            "TFTP  10.99.0.1 pxelinux.cfg/default: 14 bytes; pxe get takes this file",
        ],
    );
}

/// `text` with its `lease_db` line naming `db`.
fn retarget_lease_db(text: &str, db: &Path) -> String {
    let mut out = String::new();
    let mut found = false;
    for line in text.lines() {
        if line.starts_with("lease_db = ") {
            out.push_str(&format!("lease_db = \"{}\"\n", db.display()));
            found = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(found, "no lease_db line in:\n{text}");
    out
}

impl FirstRun {
    /// `program ARGS` in the server's namespace, bounded.
    fn exec_server(&self, program: &[String], args: &[&str]) -> RunOutput {
        let argv: Vec<&str> = program
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .collect();
        self.lab.exec(&self.lab.srv(), 60, &argv)
    }

    /// The native `bootherd probe ARGS` on the clients' bridge.
    fn probe(&self, args: &[&str]) -> RunOutput {
        let saved: PathBuf = self.dir.path().join("probe");
        let mut argv = vec![
            BOOTHERD,
            "probe",
            "--interface",
            "br0",
            "--save",
            saved.to_str().unwrap(),
        ];
        argv.extend_from_slice(args);
        self.lab.exec(&self.lab.cli(), 60, &argv)
    }

    fn expect_boots(&self, probe: &RunOutput, lines: &[&str]) {
        let log = || {
            self.bootherd
                .as_ref()
                .map(Server::log_text)
                .unwrap_or_default()
        };
        assert!(
            probe.success() && probe.stdout.lines().last() == Some("VERDICT: boots"),
            "the probe does not boot: {}\n--- bootherd ---\n{}",
            probe.describe(),
            log()
        );
        for line in lines {
            assert!(
                probe.stdout.contains(line),
                "no line containing {line:?}: {}\n--- bootherd ---\n{}",
                probe.describe(),
                log()
            );
        }
    }
}
