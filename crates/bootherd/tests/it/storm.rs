//! A small boot storm: bootstorm (crates/bootstorm, the tool behind bench/storm.sh)
//! boots 4 Raspberry Pi 4s, 2 U-Boot boards and 2 UEFI PXE clients at once against
//! bootherd in a namespace lab, and every board must get every file it asks for,
//! byte for byte (bootstorm checks each whole file's SHA-256 against the served
//! tree). This checks the tool and the setup bench/storm.sh uses, not speed.
//!
//! Topology (as in bench/storm.sh): the boards sit behind a DHCP relay at
//! 10.98.0.1 on 10.98.0.0/16, which is local to `NAME-cli` (a `local` route to
//! `lo`, so each board can bind the address it was given) and routed there from
//! `NAME-srv` and `NAME-lan`. dnsmasq in `NAME-lan` is the LAN's DHCP server
//! (addresses for the Pis and UEFI clients); bootherd in `NAME-srv` is their
//! proxyDHCP, the U-Boot boards' DHCP server, and everyone's TFTP server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{
    need_lab, pseudo_random_bytes, repo_root, run_bounded, temp_dir, write_file, Dnsmasq, Lab,
    Server, BOOTHERD,
};

const BOARD_NET: &str = "10.98.0.0/16";
const RELAY: &str = "10.98.0.1";

/// The bootstorm binary next to bootherd's, built first (a no-op when
/// `cargo test --workspace` already built it).
fn bootstorm() -> PathBuf {
    let out = run_bounded(
        Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "bootstorm"])
            .current_dir(repo_root()),
        Duration::from_secs(900),
    )
    .expect("run cargo build -p bootstorm");
    assert!(
        out.success(),
        "cargo build -p bootstorm: {}",
        out.describe()
    );
    let bin = Path::new(BOOTHERD).with_file_name("bootstorm");
    assert!(bin.exists(), "{} is missing after the build", bin.display());
    bin
}

/// What the boards fetch: the Pi 4 firmware files, config.txt naming an
/// initramfs, kernel and initrd; U-Boot's pxelinux.cfg/default naming vmlinuz
/// and initrd; UEFI's bootx64.efi. Small, with sizes off block boundaries.
fn boot_tree(root: &Path) {
    let files: [(&str, usize); 8] = [
        ("start4.elf", 300_001),
        ("fixup4.dat", 5_400),
        ("bcm2711-rpi-4-b.dtb", 54_000),
        ("kernel8.img", 700_003),
        ("initrd.img", 900_007),
        ("vmlinuz", 650_011),
        ("bootx64.efi", 1_000_013),
        ("cmdline.txt", 40),
    ];
    for (i, (name, len)) in files.iter().enumerate() {
        write_file(&root.join(name), &pseudo_random_bytes(100 + i as u64, *len));
    }
    write_file(
        &root.join("config.txt"),
        b"arm_64bit=1\nkernel=kernel8.img\ninitramfs initrd.img followkernel\n",
    );
    write_file(
        &root.join("pxelinux.cfg/default"),
        b"default storm\nlabel storm\n  kernel vmlinuz\n  initrd initrd.img\n",
    );
}

fn bootherd_config(dir: &Path, root: &Path) -> PathBuf {
    let config = dir.join("bootherd.toml");
    let text = format!(
        r#"[net]
listen = ["10.99.0.1"]
[tftp]
root = "{root}"
[proxy]
enabled = true
rpi = true
rpi_reply_delay_ms = 0
bios = ""
uefi_x64 = "bootx64.efi"
[admin]
enabled = false
[dhcp]
enabled = true
lease_db = "{leases}"
own_vendor_classes = ["U-Boot.armv8"]
ping_check = false
[dhcp.boot]
file = "pxelinux.0"
[[dhcp.pool]]
subnet = "{BOARD_NET}"
range = ["10.98.8.1", "10.98.8.250"]
lease_secs = 3600
"#,
        root = root.display(),
        leases = dir.join("leases.sqlite").display(),
    );
    write_file(&config, text.as_bytes());
    config
}

#[test]
fn storm_boots_every_board_with_every_file_intact() {
    if !need_lab(
        "storm_boots_every_board_with_every_file_intact",
        &["dnsmasq"],
    ) {
        return;
    }
    let storm = bootstorm();
    let dir = temp_dir();
    let root = dir.path().join("root");
    boot_tree(&root);
    let lab = Lab::up();
    for (ns, cmd) in [
        (
            lab.cli(),
            vec!["ip", "route", "add", "local", BOARD_NET, "dev", "lo"],
        ),
        (
            lab.srv(),
            vec!["ip", "route", "add", BOARD_NET, "via", "10.99.0.100"],
        ),
        (
            lab.lan(),
            vec!["ip", "route", "add", BOARD_NET, "via", "10.99.0.100"],
        ),
    ] {
        let out = lab.exec(&ns, 10, &cmd);
        assert!(out.success(), "{cmd:?} in {ns}: {}", out.describe());
    }
    let lan = Dnsmasq::start(
        &lab,
        dir.path(),
        &["--dhcp-range=10.98.1.1,10.98.1.250,255.255.0.0,1h"],
    );
    let config = bootherd_config(dir.path(), &root);
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], None);
    server.expect_log(
        &["proxy listening on "],
        Duration::from_secs(10),
        "bootherd did not start its proxy",
    );
    server.expect_log(
        &["dhcp server listening on "],
        Duration::from_secs(10),
        "bootherd did not start its DHCP server",
    );

    let pid = server.pid().to_string();
    let root_arg = root.display().to_string();
    let out = lab.exec(
        &lab.cli(),
        150,
        &[
            storm.to_str().expect("UTF-8 path"),
            "--boot-server",
            "10.99.0.1",
            "--lan",
            "10.99.0.2",
            "--relay",
            RELAY,
            "--pis",
            "4",
            "--uboots",
            "2",
            "--uefis",
            "2",
            "--root",
            &root_arg,
            "--server-pid",
            &pid,
            "--max-seconds",
            "120",
            "--verbose",
        ],
    );
    let context = format!(
        "{}\n--- bootherd log ---\n{}\n--- dnsmasq log ---\n{}",
        out.describe(),
        server.log_text(),
        lan.log_text()
    );
    assert!(out.success(), "bootstorm failed: {context}");
    let summary = out.stdout.trim();
    let field = |key: &str| -> String {
        summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in the summary: {context}"))
            .to_string()
    };
    assert_eq!(field("boards"), "8", "{context}");
    assert_eq!(field("booted"), "8", "{context}");
    assert_eq!(field("failed"), "0", "{context}");
    // Per Pi: config.txt, start4.elf, fixup4.dat, the dtb, cmdline.txt, kernel8.img
    // and initrd.img; per U-Boot board: its pxelinux config, vmlinuz, initrd.img;
    // per UEFI client: bootx64.efi. Each checked whole.
    let size = |names: &[&str]| -> u64 {
        names
            .iter()
            .map(|n| std::fs::metadata(root.join(n)).expect("tree file").len())
            .sum()
    };
    let pi = [
        "config.txt",
        "start4.elf",
        "fixup4.dat",
        "bcm2711-rpi-4-b.dtb",
        "cmdline.txt",
        "kernel8.img",
        "initrd.img",
    ];
    let uboot = ["pxelinux.cfg/default", "vmlinuz", "initrd.img"];
    let uefi = ["bootx64.efi"];
    assert_eq!(field("files"), (4 * 7 + 2 * 3 + 2).to_string(), "{context}");
    let bytes = 4 * size(&pi) + 2 * size(&uboot) + 2 * size(&uefi);
    assert_eq!(field("bytes"), bytes.to_string(), "{context}");
    // Every board is in its server's records: the Pis and UEFI clients in the
    // LAN's leases, the U-Boot boards in bootherd's (the per-board lines name them).
    let booted = out
        .stderr
        .lines()
        .filter(|l| l.contains(" booted in "))
        .count();
    assert_eq!(booted, 8, "{context}");
    let lan_leases = lan.leases_text();
    assert_eq!(
        lan_leases.lines().count(),
        6,
        "LAN leases:\n{lan_leases}\n{context}"
    );
}
