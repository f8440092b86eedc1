//! Trees people already have boot unchanged: each tree below is laid out the way
//! the popular netboot guides lay it out, served with no inventory, and booted
//! by the emulated (`bootherd probe`) or real (U-Boot under QEMU) firmware, once
//! from bootherd and once from dnsmasq (DHCP with `pxe-service`/`dhcp-boot` and
//! its own TFTP server on the same tree) as the reference. Each firmware must
//! fetch the same files, byte for byte, from both.
//!
//! - a Pi 3 with a serial folder (`bootcode.bin` in the root);
//! - a Pi 4 with a serial folder only, and one with a MAC folder only
//!   (`TFTP_PREFIX=2`), while an unknown Pi with nothing for it stays unanswered;
//! - a BIOS PC with a syslinux tree (`pxelinux.0`, `pxelinux.cfg/default`);
//! - a ROCK64-style board folder with a hand-written
//!   `pxelinux.cfg/01-<mac>` using absolute paths, and one using relative paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dhcp_lab::{owned_dhcp_section, start_dhcp_server, write_tftp_config};
use crate::support::{
    need_lab, need_lab_files, pseudo_random_bytes, temp_dir, write_file, Dnsmasq, Lab, RunOutput,
    Server, BOOTHERD,
};
use crate::uboot_qemu::{retrieved_files, Uboot, FDT_ADDR_R, QEMU, UBOOT_BIN};

/// dnsmasq's DHCP pool when it is the reference server.
const REFERENCE_RANGE: &str = "--dhcp-range=10.99.0.150,10.99.0.199,1h";

/// `dir/name`, created.
fn subdir(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).unwrap();
    path
}

/// A tree of `(path, bytes)` under `dir/root`.
fn write_tree(dir: &Path, files: &[(String, Vec<u8>)]) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    for (name, contents) in files {
        write_file(&root.join(name), contents);
    }
    root
}

/// Files with random bytes, a different size each.
fn files(names: &[&str], seed: u64) -> Vec<(String, Vec<u8>)> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let len = 20_000 + 1_777 * i + seed as usize % 997;
            (name.to_string(), pseudo_random_bytes(seed + i as u64, len))
        })
        .collect()
}

/// One run of `bootherd probe` and the files it read whole, by path.
struct Probed {
    run: RunOutput,
    fetched: BTreeMap<String, u64>,
}

fn probe(lab: &Lab, args: &[&str]) -> Probed {
    let mut argv = vec![BOOTHERD, "probe", "--interface", "br0", "--timeout", "6"];
    argv.extend_from_slice(args);
    let run = lab.exec(&lab.cli(), 60, &argv);
    let mut fetched = BTreeMap::new();
    for line in run.stdout.lines() {
        // `TFTP  10.99.0.1 e1ffda08/start.elf: 40000 bytes; ...`
        let Some(rest) = line.strip_prefix("TFTP  ") else {
            continue;
        };
        let Some((_, rest)) = rest.split_once(' ') else {
            continue;
        };
        let Some((path, result)) = rest.split_once(": ") else {
            continue;
        };
        let result = result.split(';').next().unwrap_or_default();
        if let Some(n) = result.strip_suffix(" bytes").and_then(|n| n.parse().ok()) {
            fetched.insert(path.to_string(), n);
        }
    }
    Probed { run, fetched }
}

impl Probed {
    fn boots(&self) -> bool {
        self.run
            .stdout
            .lines()
            .last()
            .is_some_and(|l| l.contains("VERDICT: boots"))
    }
}

/// Runs `probe_args` against bootherd (`serve --root ROOT --proxy` plus
/// `serve_args`, dnsmasq as the LAN's DHCP server), then against dnsmasq alone
/// (`reference` options plus TFTP on the same root). Both must boot and fetch
/// the same files; returns them.
fn boots_like_dnsmasq(
    tree: &[(String, Vec<u8>)],
    serve_args: &[&str],
    probe_args: &[&str],
    reference: &[&str],
) -> BTreeMap<String, u64> {
    let dir = temp_dir();
    let root = write_tree(dir.path(), tree);
    let lab = Lab::up();

    let ours = {
        let _lan = Dnsmasq::lan(&lab, &subdir(dir.path(), "lan"), "1h", &[]);
        let args = [&["--proxy", "--no-http"], serve_args].concat();
        let server = Server::start_in_with(&lab.srv(), &root, &args, Some("info"));
        let ours = probe(&lab, probe_args);
        assert!(
            ours.boots(),
            "the tree does not boot from bootherd (no inventory): {}\n--- bootherd ---\n{}",
            ours.run.describe(),
            server.log_text()
        );
        ours
    };

    let theirs = {
        let mut args: Vec<String> = reference.iter().map(|a| a.to_string()).collect();
        args.push(REFERENCE_RANGE.into());
        args.push("--enable-tftp".into());
        args.push(format!("--tftp-root={}", root.display()));
        let reference = Dnsmasq::start(&lab, &subdir(dir.path(), "reference"), &args);
        let theirs = probe(&lab, probe_args);
        assert!(
            theirs.boots(),
            "the reference (dnsmasq) does not boot the tree either: {}\n--- dnsmasq ---\n{}",
            theirs.run.describe(),
            reference.log_text()
        );
        theirs
    };
    assert_eq!(
        ours.fetched,
        theirs.fetched,
        "bootherd and dnsmasq served different files\n--- from bootherd ---\n{}\n--- from dnsmasq ---\n{}",
        ours.run.stdout,
        theirs.run.stdout
    );
    for (path, size) in &ours.fetched {
        let clean: PathBuf = path.split('/').filter(|p| !p.is_empty()).collect();
        let on_disk = std::fs::metadata(root.join(&clean)).map(|m| m.len()).ok();
        assert_eq!(on_disk, Some(*size), "{path}: size on disk");
    }
    ours.fetched
}

#[test]
fn pi3_with_a_serial_folder_boots_as_with_dnsmasq() {
    let test = "compat_trees::pi3_with_a_serial_folder_boots_as_with_dnsmasq";
    if !need_lab(test, &["dnsmasq"]) {
        return;
    }
    let mut tree = files(&["bootcode.bin"], 1);
    tree.extend(files(
        &[
            "e1ffda08/start.elf",
            "e1ffda08/fixup.dat",
            "e1ffda08/kernel7.img",
            "e1ffda08/bcm2710-rpi-3-b.dtb",
        ],
        10,
    ));
    tree.push((
        "e1ffda08/config.txt".into(),
        b"# the guide's config.txt\n".to_vec(),
    ));
    tree.push((
        "e1ffda08/cmdline.txt".into(),
        b"console=serial0 root=/dev/nfs\n".to_vec(),
    ));
    let fetched = boots_like_dnsmasq(
        &tree,
        &[],
        &[
            "--as",
            "rpi3",
            "--mac",
            "b8:27:eb:ff:da:08",
            "--serial",
            "e1ffda08",
        ],
        &["--pxe-service=0,\"Raspberry Pi Boot\""],
    );
    assert!(fetched.contains_key("e1ffda08/kernel7.img"), "{fetched:?}");
}

/// A Pi 4's files, all under `folder`.
fn pi4_tree(folder: &str) -> Vec<(String, Vec<u8>)> {
    let names: Vec<String> = [
        "start4.elf",
        "fixup4.dat",
        "bcm2711-rpi-4-b.dtb",
        "kernel8.img",
    ]
    .iter()
    .map(|n| format!("{folder}/{n}"))
    .collect();
    let mut tree = files(&names.iter().map(String::as_str).collect::<Vec<_>>(), 30);
    tree.push((
        format!("{folder}/config.txt"),
        b"[pi4]\narm_64bit=1\n".to_vec(),
    ));
    tree.push((
        format!("{folder}/cmdline.txt"),
        b"console=serial0\n".to_vec(),
    ));
    tree
}

#[test]
fn pi4_with_a_serial_folder_boots_as_with_dnsmasq() {
    let test = "compat_trees::pi4_with_a_serial_folder_boots_as_with_dnsmasq";
    if !need_lab(test, &["dnsmasq"]) {
        return;
    }
    let fetched = boots_like_dnsmasq(
        &pi4_tree("9ffefdef"),
        &[],
        &[
            "--as",
            "rpi4",
            "--mac",
            "dc:a6:32:01:36:c2",
            "--serial",
            "9ffefdef",
        ],
        &["--pxe-service=0,\"Raspberry Pi Boot\""],
    );
    assert!(fetched.contains_key("9ffefdef/kernel8.img"), "{fetched:?}");
}

#[test]
fn pi4_with_a_mac_folder_boots_as_with_dnsmasq() {
    let test = "compat_trees::pi4_with_a_mac_folder_boots_as_with_dnsmasq";
    if !need_lab(test, &["dnsmasq"]) {
        return;
    }
    let fetched = boots_like_dnsmasq(
        &pi4_tree("dc-a6-32-aa-bb-cc"),
        &[],
        &[
            "--as",
            "rpi4",
            "--mac",
            "dc:a6:32:aa:bb:cc",
            "--serial",
            "12345678",
            "--tftp-prefix",
            "mac",
        ],
        &["--pxe-service=0,\"Raspberry Pi Boot\""],
    );
    assert!(
        fetched.contains_key("dc-a6-32-aa-bb-cc/kernel8.img"),
        "{fetched:?}"
    );
}

#[test]
fn a_pi4_with_nothing_for_it_is_left_alone() {
    let test = "compat_trees::a_pi4_with_nothing_for_it_is_left_alone";
    if !need_lab(test, &["dnsmasq"]) {
        return;
    }
    let dir = temp_dir();
    let root = write_tree(dir.path(), &pi4_tree("9ffefdef"));
    let lab = Lab::up();
    let _lan = Dnsmasq::lan(&lab, dir.path(), "1h", &[]);
    let server = Server::start_in_with(&lab.srv(), &root, &["--proxy", "--no-http"], None);
    let probed = probe(
        &lab,
        &[
            "--as",
            "rpi4",
            "--mac",
            "dc:a6:32:0b:ad:00",
            "--serial",
            "0badc0de",
        ],
    );
    assert!(!probed.boots(), "{}", probed.run.describe());
    server.expect_log(
        &[
            "dc:a6:32:0b:ad:00",
            "no start4.elf or config.txt in the TFTP root, 0badc0de/, dc-a6-32-0b-ad-00/",
        ],
        Duration::from_secs(5),
        "bootherd should say where it looked for the unknown Pi's files",
    );
}

#[test]
fn a_bios_syslinux_tree_boots_as_with_dnsmasq() {
    let test = "compat_trees::a_bios_syslinux_tree_boots_as_with_dnsmasq";
    if !need_lab(test, &["dnsmasq"]) {
        return;
    }
    let mut tree = files(&["pxelinux.0", "ldlinux.c32", "vmlinuz", "initrd.img"], 50);
    tree.push((
        "pxelinux.cfg/default".into(),
        b"DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img\n".to_vec(),
    ));
    let fetched = boots_like_dnsmasq(
        &tree,
        &[],
        &["--as", "pxe-bios", "--mac", "52:54:00:00:0b:05"],
        &["--dhcp-boot=pxelinux.0"],
    );
    assert_eq!(
        fetched.keys().collect::<Vec<_>>(),
        ["pxelinux.0"],
        "a BIOS PXE ROM fetches its boot file"
    );
}

/// The board's MAC, its folder, and its hand-written pxelinux file.
const BOARD_MAC: &str = "52:54:00:99:00:a1";
const BOARD_DIR: &str = "rock64/5254009900a1";

fn rock64_tree(absolute: bool) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let names: Vec<String> = ["Image", "initrd.img", "rk3328-rock64.dtb"]
        .iter()
        .map(|n| format!("{BOARD_DIR}/{n}"))
        .collect();
    let mut tree = files(&names.iter().map(String::as_str).collect::<Vec<_>>(), 70);
    tree.extend(files(&["pxelinux.0"], 90));
    let slash = if absolute { "/" } else { "" };
    let config = format!(
        "default linux\n\
         label linux\n\
         \x20 kernel {slash}{BOARD_DIR}/Image\n\
         \x20 initrd {slash}{BOARD_DIR}/initrd.img\n\
         \x20 fdt {slash}{BOARD_DIR}/rk3328-rock64.dtb\n\
         \x20 append console=ttyS2,1500000 root=/dev/nfs\n"
    );
    tree.push((
        format!("pxelinux.cfg/01-{}", BOARD_MAC.replace(':', "-")),
        config.into_bytes(),
    ));
    let wanted = names
        .iter()
        .map(|n| format!("{slash}{n}"))
        .collect::<Vec<_>>();
    (tree, wanted)
}

/// U-Boot `dhcp`, `pxe get`, `pxe boot` on tap `tap`; the files `pxe boot`
/// retrieved, with their sizes.
fn uboot_fetches(lab: &Lab, dir: &Path, tap: &str) -> (Vec<(String, Option<u64>)>, String) {
    let mut guest = Uboot::start(lab, dir, tap, BOARD_MAC);
    guest.command(
        &format!("setenv fdt_addr_r {FDT_ADDR_R}"),
        Duration::from_secs(5),
    );
    let dhcp = guest.command("dhcp", Duration::from_secs(30));
    let get = guest.command("pxe get", Duration::from_secs(60));
    // The files are not a real kernel: `pxe boot` loads them, fails to boot
    // and returns to the prompt.
    let boot = guest.command("pxe boot", Duration::from_secs(120));
    let transcript = format!("{dhcp}\n--- pxe get ---\n{get}\n--- pxe boot ---\n{boot}");
    (retrieved_files(&boot), transcript)
}

fn rock64_boots_as_with_dnsmasq(absolute: bool) {
    let dir = temp_dir();
    let (tree, wanted) = rock64_tree(absolute);
    let root = write_tree(dir.path(), &tree);
    let size = |p: &str| {
        std::fs::metadata(root.join(p.trim_start_matches('/')))
            .unwrap()
            .len()
    };
    let want: Vec<(String, Option<u64>)> =
        wanted.iter().map(|p| (p.clone(), Some(size(p)))).collect();
    let lab = Lab::up();
    lab.add_tap("tapc0");

    // bootherd: its DHCP server owns the board (no inventory), files from the tree.
    let db = dir.path().join("leases.sqlite");
    let config = write_tftp_config(
        dir.path(),
        &root,
        &owned_dhcp_section(&db, &[BOARD_MAC], &[], ""),
    );
    let lan = Dnsmasq::lan(&lab, &subdir(dir.path(), "lan"), "1h", &[BOARD_MAC]);
    let server = start_dhcp_server(&lab.srv(), &config, &[]);
    let (ours, transcript) = uboot_fetches(&lab, dir.path(), "tapc0");
    let mut sorted = ours.clone();
    sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(
        sorted,
        want_sorted,
        "U-Boot did not fetch the board's files whole from bootherd:\n{transcript}\n--- bootherd ---\n{}",
        server.log_text()
    );
    drop(server);
    drop(lan);

    // dnsmasq as DHCP and TFTP server on the same tree: the reference.
    let args = [
        REFERENCE_RANGE.to_string(),
        "--dhcp-boot=pxelinux.0".into(),
        "--enable-tftp".into(),
        format!("--tftp-root={}", root.display()),
    ];
    let reference = Dnsmasq::start(&lab, &subdir(dir.path(), "reference"), &args);
    let (theirs, transcript) = uboot_fetches(&lab, dir.path(), "tapc0");
    let mut sorted_theirs = theirs.clone();
    sorted_theirs.sort();
    assert_eq!(
        sorted_theirs,
        want_sorted,
        "the reference (dnsmasq) did not serve the tree either:\n{transcript}\n--- dnsmasq ---\n{}",
        reference.log_text()
    );
}

#[test]
fn a_rock64_pxelinux_file_with_absolute_paths_boots_as_with_dnsmasq() {
    let test = "compat_trees::a_rock64_pxelinux_file_with_absolute_paths_boots_as_with_dnsmasq";
    if !need_lab_files(test, &[QEMU, "dnsmasq"], &[UBOOT_BIN]) {
        return;
    }
    rock64_boots_as_with_dnsmasq(true);
}

#[test]
fn a_rock64_pxelinux_file_with_relative_paths_boots_as_with_dnsmasq() {
    let test = "compat_trees::a_rock64_pxelinux_file_with_relative_paths_boots_as_with_dnsmasq";
    if !need_lab_files(test, &[QEMU, "dnsmasq"], &[UBOOT_BIN]) {
        return;
    }
    rock64_boots_as_with_dnsmasq(false);
}
