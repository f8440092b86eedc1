//! Root on iSCSI, end to end: a QEMU PC netboots through bootherd and mounts its
//! root filesystem from a LUN that Debian's `tgtd` exports with the configuration
//! `bootherd iscsi export --format tgt` generated, and a second PC whose initiator
//! IQN is not in the ACL is refused.
//!
//! - The target: `bootherd iscsi create-disk` makes the board's backing file, the
//!   test puts a minimal root filesystem in it (`mkfs.ext4 -d`: busybox and an
//!   `/sbin/init` script that prints a marker with the device mounted on `/`, writes
//!   a file and powers off), and tgtd in `NAME-srv` loads the exported
//!   `targets.conf` with `tgt-admin`, the way a storage server does.
//! - The guests: SeaBIOS with QEMU's iPXE NIC ROM (as in `proxy_qemu.rs`), dnsmasq
//!   in `NAME-lan` as the LAN's DHCP server and bootherd `--proxy` in `NAME-srv`.
//!   iPXE gets the machine's generated `boot.ipxe` over HTTP, which loads this
//!   host's Debian kernel (`/boot/vmlinuz-*`) and an initramfs built here with
//!   `mkinitramfs -d CONFDIR` (a private configuration directory: the host's
//!   `/etc/initramfs-tools` is not touched). The kernel command line is the one
//!   bootherd renders for an `iscsi` root, through the same code as a Pi's
//!   `cmdline.txt`: `ip=dhcp ISCSI_INITIATOR=… ISCSI_TARGET_NAME=… ISCSI_TARGET_IP=…
//!   ISCSI_TARGET_PORT=… root=/dev/disk/by-path/…-lun-1 rw rootwait`.
//! - open-iscsi's initramfs hook (`/usr/share/initramfs-tools/hooks/iscsi`) is on
//!   whenever open-iscsi is installed (`NO_ISCSI_IN_INITRAMFS=yes` in
//!   `/etc/initramfs-tools/conf.d/open-iscsi` turns it off); it adds `iscsistart`
//!   and the iSCSI modules. Its `local-top/iscsi` script reads `ISCSI_INITIATOR`,
//!   `ISCSI_TARGET_NAME`, `ISCSI_TARGET_IP` and `ISCSI_TARGET_PORT` from its
//!   environment: the kernel hands unknown `NAME=value` words of its command line to
//!   init as environment variables. (It also sources `/etc/iscsi.initramfs`, copied
//!   from the host's `/etc/iscsi/iscsi.initramfs` when that exists, which would win.)
//! - A third client, QEMU's libiscsi (`qemu-img info --image-opts
//!   …,file.initiator-name=IQN`: an `initiator-name` in an `iscsi://` URL is
//!   ignored), opens the LUN with the board's name and gets `Target not found`
//!   with another.
//! - tgtd refuses a name outside the ACL at login: open-iscsi prints `login
//!   rejected: initiator error - target not found (02/03)`, and the initramfs
//!   gives up waiting for the root device (`ALERT!`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::pxe_lab::Guest;
use crate::support::tgtd::Tgtd;
use crate::support::{
    need_lab_files, run_bootherd, run_bounded, tail, temp_dir, write_file, Dnsmasq, Lab, Server,
    LAB_SERVER_IP,
};

const E1000_ROM: &str = "/usr/lib/ipxe/qemu/efi-e1000.rom";
/// QEMU's iSCSI block driver (libiscsi), package qemu-block-extra.
const QEMU_ISCSI: &str = "/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so";
const BOARD_MAC: &str = "52:54:00:99:00:d1";
const INTRUDER_MAC: &str = "52:54:00:99:00:d2";
const IQN: &str = "iqn.2026-12.lab.bootherd";
/// How long a guest may take from power-on to its last marker (TCG, busy machine).
const BOOT_LIMIT: Duration = Duration::from_secs(200);

/// The newest `/boot/vmlinuz-VERSION` whose modules are installed.
fn host_kernel() -> Option<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("vmlinuz-")?.to_owned();
            Path::new("/lib/modules")
                .join(&version)
                .is_dir()
                .then(|| (e.path(), version))
        })
        .collect();
    found.sort();
    found.pop()
}

fn run(what: &str, cmd: &mut Command, secs: u64) -> String {
    let out = run_bounded(cmd, Duration::from_secs(secs)).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.success(), "{what}: {}", out.describe());
    out.stdout
}

/// An initramfs with open-iscsi's hook, the e1000 driver and ext4, from a private
/// configuration directory.
fn build_initramfs(dir: &Path, version: &str) -> PathBuf {
    let conf = dir.join("initramfs-tools");
    write_file(
        &conf.join("initramfs.conf"),
        b"MODULES=list\nBUSYBOX=y\nCOMPRESS=gzip\nFSTYPE=ext4\n",
    );
    write_file(
        &conf.join("modules"),
        b"e1000\niscsi_tcp\nsd_mod\next4\ncrc32c_generic\n",
    );
    for sub in ["conf.d", "hooks", "scripts"] {
        std::fs::create_dir_all(conf.join(sub)).unwrap();
    }
    let out = dir.join("initrd.img");
    run(
        "mkinitramfs",
        Command::new("mkinitramfs")
            .arg("-d")
            .arg(&conf)
            .arg("-o")
            .arg(&out)
            .arg(version),
        180,
    );
    let listing = run("lsinitramfs", Command::new("lsinitramfs").arg(&out), 60);
    for needed in [
        "usr/sbin/iscsistart",
        "scripts/local-top/iscsi",
        "e1000.ko",
        "iscsi_tcp.ko",
    ] {
        assert!(
            listing.contains(needed),
            "the initramfs lacks {needed}: is open-iscsi's hook off on this host?"
        );
    }
    out
}

/// A root filesystem tree: busybox (with its libraries, if it has any) and an init
/// that proves where it runs.
fn root_tree(dir: &Path, tag: &str) -> PathBuf {
    let tree = dir.join("rootfs");
    for sub in ["bin", "sbin", "dev", "proc", "sys", "run", "tmp"] {
        std::fs::create_dir_all(tree.join(sub)).unwrap();
    }
    std::fs::copy("/bin/busybox", tree.join("bin/busybox")).expect("copy /bin/busybox");
    let ldd = run_bounded(
        Command::new("ldd").arg("/bin/busybox"),
        Duration::from_secs(10),
    )
    .expect("ldd");
    for word in ldd.stdout.split_whitespace() {
        if word.starts_with('/') && Path::new(word).is_file() {
            let to = tree.join(word.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(word, &to).unwrap_or_else(|e| panic!("copy {word}: {e}"));
        }
    }
    let init = format!(
        "#!/bin/busybox sh\n\
         b=/bin/busybox\n\
         r=$($b awk '$2 == \"/\" {{ print $1 }}' /proc/mounts)\n\
         $b echo \"BH-ISCSI-ROOT-{tag} root=$r dev=$($b readlink -f $r)\"\n\
         $b echo {tag} > /written-by-guest\n\
         $b sync\n\
         $b echo BH-ISCSI-WROTE-{tag}\n\
         $b poweroff -f\n"
    );
    write_file(&tree.join("sbin/init"), init.as_bytes());
    run(
        "chmod",
        Command::new("chmod").arg("755").arg(tree.join("sbin/init")),
        10,
    );
    tree
}

fn config_text(dir: &Path) -> String {
    format!(
        "[tftp]\nroot = \"root\"\n\
         [profiles.pc-iscsi]\nkind = \"ipxe\"\nkernel = \"vmlinuz\"\ninitrd = \"initrd.img\"\n\
         dir = \"pc-files\"\n\
         cmdline = \"console=ttyS0,115200n8\"\n\
         root = {{ type = \"iscsi\", portal = \"{LAB_SERVER_IP}\", target = \"{IQN}:{{name}}\", \
         initiator = \"{IQN}:{{name}}-initiator\", lun = 1, \
         backing_store = \"{disks}/{{name}}.img\" }}\n\
         # A PC that knows the board's target but has its own initiator name.\n\
         [profiles.pc-intruder]\nkind = \"ipxe\"\nkernel = \"vmlinuz\"\ninitrd = \"initrd.img\"\n\
         dir = \"pc-files\"\n\
         cmdline = \"console=ttyS0,115200n8\"\n\
         root = {{ type = \"iscsi\", portal = \"{LAB_SERVER_IP}\", target = \"{IQN}:board\", \
         initiator = \"{IQN}:intruder\", lun = 1 }}\n\
         [[machines]]\nname = \"board\"\nmac = \"{BOARD_MAC}\"\nprofile = \"pc-iscsi\"\n\
         [[machines]]\nname = \"intruder\"\nmac = \"{INTRUDER_MAC}\"\nprofile = \"pc-intruder\"\n\
         # Its initramfs waits 5 s for the root device instead of 30.\n\
         extra_args = \"rootdelay=5\"\n",
        disks = dir.join("disks").display()
    )
}

fn machine_args(dir: &Path, tap: &str, mac: &str) -> Vec<String> {
    // SeaBIOS's serial console: the port as a little-endian integer.
    let sercon = dir.join("sercon-port");
    std::fs::write(&sercon, 0x3f8u16.to_le_bytes()).unwrap();
    [
        "-machine", "pc", "-m", "384", "-boot", "n", "-vga", "none", "-netdev",
    ]
    .into_iter()
    .map(String::from)
    .chain([
        format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
        "-fw_cfg".into(),
        format!("name=etc/sercon-port,file={}", sercon.display()),
        "-device".into(),
        format!("e1000,netdev=n0,mac={mac},romfile={E1000_ROM}"),
    ])
    .collect()
}

/// The line bootherd renders for the board's `iscsi` root.
fn expected_root_args(initiator: &str) -> String {
    format!(
        "ip=dhcp ISCSI_INITIATOR={IQN}:{initiator} ISCSI_TARGET_NAME={IQN}:board \
         ISCSI_TARGET_IP={LAB_SERVER_IP} ISCSI_TARGET_PORT=3260 \
         root=/dev/disk/by-path/ip-{LAB_SERVER_IP}:3260-iscsi-{IQN}:board-lun-1 rw rootwait"
    )
}

#[test]
fn a_pc_boots_with_its_root_on_the_exported_lun_and_a_stranger_is_refused() {
    let test = "iscsi_root::a_pc_boots_with_its_root_on_the_exported_lun_and_a_stranger_is_refused";
    let Some((kernel, version)) = host_kernel() else {
        // need_lab_files reports it (loudly under CI).
        need_lab_files(test, &[], &["/boot/vmlinuz (linux-image-amd64)"]);
        return;
    };
    if !need_lab_files(
        test,
        &[
            "qemu-system-x86_64",
            "dnsmasq",
            "tgtd",
            "tgtadm",
            "tgt-admin",
            "mkinitramfs",
            "lsinitramfs",
            "mkfs.ext4",
            "debugfs",
            "busybox",
            "qemu-img",
        ],
        &[
            E1000_ROM,
            QEMU_ISCSI,
            "/usr/sbin/iscsistart",
            "/usr/share/initramfs-tools/hooks/iscsi",
            "/etc/iscsi/initiatorname.iscsi",
        ],
    ) {
        return;
    }
    let started = Instant::now();
    let dir = temp_dir();
    let tag = format!("{}", std::process::id());

    // The boot tree: the host's kernel and a fresh initramfs, per test run.
    let files = dir.path().join("pc-files");
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    std::fs::create_dir_all(dir.path().join("disks")).unwrap();
    write_file(&files.join("vmlinuz"), &std::fs::read(&kernel).unwrap());
    let initrd = build_initramfs(dir.path(), &version);
    std::fs::rename(&initrd, files.join("initrd.img")).unwrap();
    let built = started.elapsed().as_secs_f64();

    let config = dir.path().join("bootherd.toml");
    write_file(&config, config_text(dir.path()).as_bytes());
    let c = config.to_str().unwrap();

    // The storage side, all from bootherd: the disk, then the target configuration.
    let out = run_bootherd(["iscsi", "create-disk", "-c", c, "board", "--size", "32M"]);
    assert!(out.success(), "create-disk: {}", out.describe());
    let disk = dir.path().join("disks/board.img");
    let tree = root_tree(dir.path(), &tag);
    run(
        "mkfs.ext4",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "bhroot", "-d"])
            .arg(&tree)
            .arg(&disk),
        60,
    );
    let export = run_bootherd(["iscsi", "export", "-c", c, "--format", "tgt"]);
    assert!(export.success(), "export: {}", export.describe());
    assert!(
        export
            .stderr
            .contains("machine intruder: its profile's root has no backing_store; not exported"),
        "{}",
        export.describe()
    );
    let targets = dir.path().join("targets.conf");
    write_file(&targets, export.stdout.as_bytes());

    let lab = Lab::up();
    let tgtd = Tgtd::start(&lab.srv(), &format!("{LAB_SERVER_IP}:3260"), dir.path());
    let loaded = tgtd.load_config(&lab, &targets);
    assert!(loaded.success(), "tgt-admin: {}", loaded.describe());
    let shown = tgtd.show();
    let acl = shown
        .split("ACL information:")
        .nth(1)
        .unwrap_or_else(|| panic!("no ACL in tgtadm's show:\n{shown}"));
    let acl: Vec<&str> = acl.split_whitespace().collect();
    assert_eq!(
        acl,
        ["0.0.0.0", &format!("{IQN}:board-initiator")],
        "the target must admit the board's initiator alone:\n{shown}"
    );
    assert!(
        shown.contains(&format!("Backing store path: {}", disk.display())),
        "{shown}"
    );

    // A third initiator, QEMU's libiscsi: admitted with the board's name, refused
    // with another. (Before the guests start: a second session with the board's
    // own name while the board is logged in could disturb the board's.)
    for (initiator, admitted) in [("board-initiator", true), ("stranger", false)] {
        let opts = format!(
            "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal={LAB_SERVER_IP}:3260,\
             file.target={IQN}:board,file.lun=1,file.initiator-name={IQN}:{initiator}"
        );
        let out = lab.exec(&lab.cli(), 30, &["qemu-img", "info", "--image-opts", &opts]);
        if admitted {
            assert!(
                out.success() && out.stdout.contains("virtual size: 32 MiB"),
                "libiscsi as {initiator}: {}",
                out.describe()
            );
        } else {
            assert!(
                !out.success() && out.stderr.contains("Target not found"),
                "libiscsi as {initiator}: {}",
                out.describe()
            );
        }
    }

    let _dhcp = Dnsmasq::lan_with_router_adverts(&lab, dir.path(), "10m");
    let server = Server::start_in_config(&lab.srv(), &config, &["--proxy"], Some("debug"));
    server.expect_log(
        &["proxy listening on "],
        Duration::from_secs(10),
        "bootherd serve --proxy did not log `proxy listening on`",
    );

    // Both guests at once: the board, and a PC whose initiator the ACL leaves out.
    lab.add_tap("tapx0");
    lab.add_tap("tapx1");
    let mut guests = Vec::new();
    for (name, tap, mac) in [
        ("board", "tapx0", BOARD_MAC),
        ("intruder", "tapx1", INTRUDER_MAC),
    ] {
        let gdir = dir.path().join(name);
        std::fs::create_dir_all(&gdir).unwrap();
        let args = machine_args(&gdir, tap, mac);
        guests.push(Guest::start(&lab, &gdir, &args, 300));
    }
    let guests_started = Instant::now();
    let mut intruder = guests.pop().unwrap();
    let mut board = guests.pop().unwrap();

    let marker = format!("BH-ISCSI-ROOT-{tag}");
    let wrote = format!("BH-ISCSI-WROTE-{tag}");
    let console = board
        .wait_markers(
            &[
                "iPXE",
                "Kernel command line:",
                "Logging into",
                &marker,
                &wrote,
            ],
            BOOT_LIMIT,
        )
        .unwrap_or_else(|why| {
            panic!(
                "{why}\n--- bootherd (tail) ---\n{}\n--- tgtd ---\n{}",
                tail(&server.log_text(), 3000),
                tgtd.describe()
            )
        });
    let board_secs = guests_started.elapsed().as_secs_f64();
    // The command line is bootherd's, from the inventory's iscsi root.
    let cmdline = console
        .lines()
        .find(|l| l.contains("Kernel command line:"))
        .unwrap();
    assert!(
        cmdline.ends_with(&format!(
            "console=ttyS0,115200n8 {}",
            expected_root_args("board-initiator")
        )),
        "{cmdline}"
    );
    assert!(
        console.contains(&format!(
            "Connection1:0 to [target: {IQN}:board, portal: {LAB_SERVER_IP},3260]"
        )),
        "{}",
        tail(&console, 4000)
    );
    // Init runs from the LUN: `/` is the by-path link of the iSCSI disk.
    let line = console.lines().find(|l| l.contains(&marker)).unwrap();
    assert!(
        line.contains(&format!(
            "{marker} root=/dev/disk/by-path/ip-{LAB_SERVER_IP}:3260-iscsi-{IQN}:board-lun-1 dev=/dev/sd"
        )),
        "{line}"
    );
    server.expect_log(
        &[
            "http: request",
            "path=\"/m/52-54-00-99-00-d1/initrd.img\"",
            "status=200",
        ],
        Duration::from_secs(5),
        "bootherd never served the board's initrd",
    );

    // The refused guest: tgtd answered its login with "target not found", and its
    // initramfs gave up on the root device; no init marker.
    intruder
        .wait_markers(
            &[
                "Kernel command line:",
                "login rejected: initiator error - target not found",
                "ALERT!",
            ],
            BOOT_LIMIT,
        )
        .unwrap_or_else(|why| panic!("{why}\n--- tgtd ---\n{}", tgtd.describe()));
    let refused_secs = guests_started.elapsed().as_secs_f64();
    intruder.bg.stop(Duration::from_secs(1));
    let intruder_console = intruder.console();
    assert!(
        intruder_console.contains(&expected_root_args("intruder")),
        "{}",
        tail(&intruder_console, 3000)
    );
    assert!(
        !intruder_console.contains("BH-ISCSI-ROOT"),
        "the intruder reached the board's init:\n{}",
        tail(&intruder_console, 3000)
    );

    // The board powered off; what its init wrote is on the LUN's backing file.
    board.bg.wait_exit(Duration::from_secs(30));
    board.bg.stop(Duration::from_secs(1));
    drop(tgtd);
    let proof = run(
        "debugfs",
        Command::new("debugfs")
            .args(["-R", "cat /written-by-guest"])
            .arg(&disk),
        30,
    );
    assert_eq!(proof.trim(), tag, "the guest's write is not on the LUN");
    eprintln!(
        "{test}: initramfs built in {built:.1} s; board at its init after {board_secs:.1} s, \
         intruder refused after {refused_secs:.1} s (parallel, TCG); test {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
