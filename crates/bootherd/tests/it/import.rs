//! `bootherd import` on real-world-shaped configurations (`fixtures/import/`):
//! a Raspberry Pi proxy setup, a PXE menu with tags and a per-machine include,
//! per-host `dhcp-host` lines for U-Boot boards, and a tftpd-hpa defaults file.
//!
//! For each: the real binary's output is compared with a golden file
//! (`fixtures/import/expected/`; `BOOTHERD_BLESS=1` rewrites them, and the test
//! then fails naming what it rewrote), parses as a bootherd configuration, passes
//! `bootherd check` with `--tftp-root` pointing at a tree made here, and names
//! every line of the input: as the source of a key, or in a note.
//!
//! In the lab, the imported configurations boot what dnsmasq boots with the
//! original ones, run in the same namespace as a reference: a Pi 4 (proxy
//! setup) played by `bootherd probe`, and the U-Boot boards (the reserved
//! address, the hand-written pxelinux file, a kernel named by an absolute path,
//! and busybox udhcpc getting its reservation).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::dhcp_lab::add_client_port;
use crate::support::{
    need_lab, need_lab_files, pseudo_random_bytes, read_lossy, run_bootherd, run_bounded, temp_dir,
    wait_until, write_file, Bg, Dnsmasq, Lab, RunOutput, Server, BOOTHERD,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/import")
}

/// `bootherd import ARGS` run from the fixture folder, so that file names in
/// the output are the relative ones given.
fn import(args: &[&str]) -> RunOutput {
    let mut cmd = Command::new(BOOTHERD);
    cmd.arg("import").args(args).current_dir(fixtures());
    run_bounded(&mut cmd, Duration::from_secs(30)).expect("run bootherd import")
}

fn import_ok(args: &[&str]) -> String {
    let out = import(args);
    assert!(
        out.success(),
        "bootherd import {args:?}: {}",
        out.describe()
    );
    out.stdout
}

/// Compares `got` with `expected/NAME`; with `BOOTHERD_BLESS=1` rewrites it
/// when it differs, and fails saying so.
fn golden(name: &str, got: &str) {
    let path = fixtures().join("expected").join(name);
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want == got {
        return;
    }
    if crate::support::bless_requested() {
        write_file(&path, got.as_bytes());
        panic!(
            "BOOTHERD_BLESS=1 rewrote {}; review the diff, then run again without it",
            path.display()
        );
    }
    panic!(
        "bootherd import output differs from {} (BOOTHERD_BLESS=1 rewrites it):\n--- expected\n{want}\n--- got\n{got}",
        path.display()
    );
}

/// Every option line of `file` (in the fixture folder) is named in `output` by
/// its `(file:line)`: cited by a key or listed in a note. Nothing is dropped.
fn every_line_is_named(file: &str, output: &str) {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("({file}:{})", i + 1);
        assert!(
            output.contains(&at),
            "{file}:{}: `{line}` is named nowhere in the output:\n{output}",
            i + 1
        );
    }
}

/// The output is a configuration bootherd reads (unknown keys are errors).
fn parses(output: &str) {
    if let Err(err) = bootherd::config::Config::parse(output) {
        panic!("the import is not a valid bootherd configuration: {err}\n{output}");
    }
}

/// Imports with `--tftp-root` pointing at a tree holding `files` and runs
/// `bootherd check` on the result, which must pass. Returns the check's output.
fn check_passes(args: &[&str], files: &[&str]) -> String {
    let dir = temp_dir();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    for file in files {
        write_file(&root.join(file), b"boot file\n");
    }
    let config = dir.path().join("bootherd.toml");
    let mut full = args.to_vec();
    let (root_s, config_s) = (root.display().to_string(), config.display().to_string());
    full.extend(["--tftp-root", &root_s, "--output", &config_s]);
    let out = import(&full);
    assert!(
        out.success(),
        "bootherd import {full:?}: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains("check it with `bootherd check"),
        "{}",
        out.describe()
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!("root = \"{root_s}\"  # --tftp-root")),
        "{text}"
    );
    let check = run_bootherd(["check", "--config", &config_s]);
    assert!(
        check.success(),
        "bootherd check on the imported configuration:\n{text}\n{}",
        check.describe()
    );
    check.stdout
}

#[test]
fn import_rpi_proxy_setup() {
    let out = import_ok(&["--dnsmasq", "rpi-proxy.conf"]);
    golden("rpi-proxy.toml", &out);
    parses(&out);
    every_line_is_named("rpi-proxy.conf", &out);
    for line in [
        "[proxy]\nenabled = true  # dhcp-range=10.99.0.255,proxy (rpi-proxy.conf:7)\n",
        "rpi = true  # pxe-service=0,\"Raspberry Pi Boot\" (rpi-proxy.conf:11)\n",
        "root = \"/srv/tftp\"  # tftp-root=/srv/tftp (rpi-proxy.conf:10)\n",
        "bios = \"\"",
        "#   port=0 (rpi-proxy.conf:6): bootherd serves no DNS\n",
        "# not translated: log-facility=/var/log/dnsmasq.log (rpi-proxy.conf:12): ",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let check = check_passes(&["--dnsmasq", "rpi-proxy.conf"], &[]);
    assert!(check.contains("0 machines"), "{check}");
}

#[test]
fn import_pxe_menu_with_tags_and_an_include() {
    let out = import_ok(&["--dnsmasq", "pxe-menu.conf"]);
    golden("pxe-menu.toml", &out);
    parses(&out);
    every_line_is_named("pxe-menu.conf", &out);
    every_line_is_named("pxe-menu.d/10-lab-pc.conf", &out);
    assert!(
        !out.contains("README"),
        "a file conf-dir skips was read:\n{out}"
    );
    for line in [
        // `undionly` without a dot: PXE asks for layer 0, `undionly.0`.
        "bios = \"undionly.0\"  # pxe-service=tag:!ipxe,x86PC,",
        "uefi_x64 = \"ipxe.efi\"  # pxe-service=tag:!ipxe,X86-64_EFI,",
        "uefi_arm64 = \"ipxe-arm64.efi\"  # dhcp-boot=tag:!ipxe,tag:efi-arm64,ipxe-arm64.efi (pxe-menu.conf:21)",
        "ipxe_script = \"boot.ipxe\"  # dhcp-boot=tag:ipxe,http://192.168.1.5/boot.ipxe (pxe-menu.conf:20)",
        "[http]\nenabled = true",
        "[profiles.efi-grubx64]\nkind = \"efi\"\nkernel = \"grubx64.efi\"",
        "[[machines]]\nname = \"labpc\"\nmac = \"52:54:00:12:34:56\"",
        "# not translated: tftp-secure (pxe-menu.conf:9): ",
        "# not translated: pxe-prompt=\"Press F8 for the boot menu\",5 (pxe-menu.conf:23): ",
        "# not translated: pxe-service=tag:!ipxe,x86PC,\"Boot from local disk\",0 (pxe-menu.conf:25): ",
        "# not translated: pxe-service=tag:!ipxe,BC_EFI,\"Network boot (iPXE, UEFI)\",ipxe.efi (pxe-menu.conf:27): ",
        "# not translated: dhcp-option=vendor:PXEClient,6,2b (pxe-menu.conf:28): ",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let check = check_passes(&["--dnsmasq", "pxe-menu.conf"], &["grubx64.efi"]);
    assert!(
        check.contains("labpc (profile efi-grubx64, efi, mac 52:54:00:12:34:56)")
            && check.contains("found      m/52-54-00-12-34-56/grubx64.efi"),
        "{check}"
    );
}

#[test]
fn import_uboot_hosts() {
    let out = import_ok(&["--dnsmasq", "uboot-hosts.conf"]);
    golden("uboot-hosts.toml", &out);
    parses(&out);
    every_line_is_named("uboot-hosts.conf", &out);
    for line in [
        "own_macs = [\"02:ab:cd:00:00:01\", \"02:ab:cd:00:00:02\", \"02:ab:cd:00:00:03\"]",
        "[dhcp.boot]\nfile = \"pxelinux.0\"  # dhcp-boot=pxelinux.0 (uboot-hosts.conf:18)",
        "[[dhcp.pool]]\nsubnet = \"10.99.0.0/24\"",
        "range = [\"10.99.0.150\", \"10.99.0.199\"]",
        "[[dhcp.reservation]]\nmac = \"02:ab:cd:00:00:01\"",
        "ip = \"10.99.0.210\"\nhostname = \"rock64-a\"",
        "bootherd hands them only to the",
        "#   dhcp-host=52:54:00:99:00:ee,ignore (uboot-hosts.conf:16): ",
        "# not translated: dhcp-leasefile=/var/lib/misc/dnsmasq.leases (uboot-hosts.conf:21): ",
        "# not translated: dhcp-authoritative (uboot-hosts.conf:10): ",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    // Proxy stays off: dnsmasq's untagged boot file is named as a choice.
    assert!(!out.contains("\n[proxy]\n"), "{out}");
    assert!(
        out.replace("\n#   ", " ")
            .contains("set [proxy] enabled = true and bios = \"pxelinux.0\""),
        "{out}"
    );
    check_passes(&["--dnsmasq", "uboot-hosts.conf"], &[]);
}

#[test]
fn import_tftpd_hpa_defaults() {
    let out = import_ok(&["--tftpd-hpa", "tftpd-hpa"]);
    golden("tftpd-hpa.toml", &out);
    parses(&out);
    every_line_is_named("tftpd-hpa", &out);
    every_line_is_named("tftpd.remap", &out);
    for line in [
        "root = \"/srv/tftp\"  # TFTP_DIRECTORY=\"/srv/tftp\" (tftpd-hpa:6)",
        "max_blksize = 1468  # --blocksize 1468 (tftpd-hpa:8)",
        "#   --secure (tftpd-hpa:8): ",
        "# not translated: TFTP_USERNAME=\"tftp\" (tftpd-hpa:5): ",
        // The map file's rules, in order, each naming its line.
        "# The rules of --map-file tftpd.remap (tftpd-hpa:8), in order:\n[[tftp.rewrite]]\n\
         lowercase = true  # r ^(.*)$ \\L\\1 (tftpd.remap:3): ",
        "[[tftp.rewrite]]\nfrom = '\\\\'  # rg \\\\ / (tftpd.remap:4)\nto = \"/\"\n",
        "from = \"^/+\"  # rg ^/ (tftpd.remap:6): every leading match",
        "from = \"^(?s-u:(.*?))(current/)\"  # r current/ 6.1/ (tftpd.remap:9): the first match only",
        "#   rP ^incoming/ uploads/ (tftpd.remap:13): applies to uploads (P) only",
        "# not translated: rg /../ /..no../ (tftpd.remap:10): `g` runs the rule again",
        "# not translated: e ^ok/ (tftpd.remap:11): ends the rules when it matches (e)",
        "# not translated: a \\.pvt$ (tftpd.remap:12): refuses the requests it matches (a)",
        "# - a \\.pvt$ (tftpd.remap:12): tftpd-hpa refused the requests this rule matches;",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    check_passes(&["--tftpd-hpa", "tftpd-hpa"], &[]);
    // Both at once: dnsmasq's root, tftpd-hpa's block size.
    let both = import_ok(&["--dnsmasq", "rpi-proxy.conf", "--tftpd-hpa", "tftpd-hpa"]);
    parses(&both);
    assert!(both.contains("max_blksize = 1468"), "{both}");
    assert!(both.contains("# not translated: TFTP_DIRECTORY=\"/srv/tftp\" (tftpd-hpa:6): bootherd serves one tree: the root is tftp-root=/srv/tftp (rpi-proxy.conf:10)"), "{both}");
    // ... and not tftpd-hpa's rewrites, which applied to its tree only.
    assert!(!both.contains("[[tftp.rewrite]]"), "{both}");
    assert!(
        both.contains(
            "# not translated: rg \\\\ / (tftpd.remap:4): bootherd serves dnsmasq's tree"
        ),
        "{both}"
    );
}

#[test]
fn import_writes_a_file_only_when_told_to_overwrite() {
    let dir = temp_dir();
    let out_path = dir.path().join("bootherd.toml");
    let out_s = out_path.display().to_string();
    write_file(&out_path, b"# mine\n");
    let refused = import(&["--dnsmasq", "rpi-proxy.conf", "--output", &out_s]);
    assert!(!refused.success(), "{}", refused.describe());
    assert!(
        refused.stderr.contains("exists; give --force"),
        "{}",
        refused.describe()
    );
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "# mine\n");
    let forced = import(&["--dnsmasq", "rpi-proxy.conf", "--output", &out_s, "--force"]);
    assert!(forced.success(), "{}", forced.describe());
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        import_ok(&["--dnsmasq", "rpi-proxy.conf"])
    );
    // Nothing to import, or a file that cannot be read: an error, no output.
    let none = import(&[]);
    assert!(
        !none.success() && none.stderr.contains("nothing to import"),
        "{}",
        none.describe()
    );
    let missing = import(&["--dnsmasq", "no-such.conf"]);
    assert!(
        !missing.success() && missing.stderr.contains("no-such.conf: cannot read"),
        "{}",
        missing.describe()
    );
    assert!(missing.stdout.is_empty());
}

// ---------------------------------------------------------------------------
// In the lab: the imported configuration boots what dnsmasq boots.

/// The fixture `name` rewritten for a run of dnsmasq in a lab: its TFTP root
/// is `root`, and its lease and log files are the test's (given on the command
/// line, as a configuration file's value would win over them).
fn fixture_for_dnsmasq(name: &str, root: &Path) -> String {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    text.lines()
        .filter(|l| !l.starts_with("dhcp-leasefile=") && !l.starts_with("log-facility="))
        .map(|l| {
            if l.starts_with("tftp-root=") {
                format!("tftp-root={}", root.display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// dnsmasq with the fixture `name` in `NAME-srv`, where bootherd runs after it:
/// the reference. Waits until it serves TFTP.
fn reference_dnsmasq(lab: &Lab, dir: &Path, name: &str, root: &Path) -> Bg {
    let conf = dir.join(format!("reference-{name}"));
    write_file(&conf, fixture_for_dnsmasq(name, root).as_bytes());
    let log = dir.join("reference.log");
    let args = [
        "dnsmasq".to_string(),
        "-k".into(),
        format!("--conf-file={}", conf.display()),
        "--user=root".into(),
        format!(
            "--dhcp-leasefile={}",
            dir.join("reference.leases").display()
        ),
        format!("--pid-file={}", dir.join("reference.pid").display()),
        format!("--log-facility={}", log.display()),
    ];
    let mut bg = Bg::spawn(&lab.srv(), 300, &args, dir, "reference-dnsmasq");
    let ready = wait_until(Duration::from_secs(10), || {
        read_lossy(&log).contains("TFTP root is") || !bg.is_running()
    });
    assert!(
        ready && bg.is_running(),
        "the reference dnsmasq did not start: {}\n--- log ---\n{}",
        bg.describe(),
        read_lossy(&log)
    );
    bg
}

/// `bootherd probe ARGS` on br0 in `NAME-cli`, saving files under `save`.
fn probe(lab: &Lab, save: &Path, args: &[&str]) -> RunOutput {
    let mut argv = vec![
        BOOTHERD.to_string(),
        "probe".into(),
        "--interface".into(),
        "br0".into(),
        "--save".into(),
        save.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    lab.exec(&lab.cli(), 60, &argv)
}

/// The probe's lines about the conversation (DHCP offers and acks, TFTP
/// transfers), which must be the same whoever answered.
fn conversation(out: &RunOutput) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("DHCP  ") || l.starts_with("TFTP  ") || l.starts_with("VERDICT"))
        .map(str::to_owned)
        .collect()
}

/// Imports `name` for serving `root`, into `dir/bootherd.toml`.
fn imported(dir: &Path, name: &str, root: &Path) -> PathBuf {
    let config = dir.join("bootherd.toml");
    let out = import(&[
        "--dnsmasq",
        name,
        "--tftp-root",
        &root.display().to_string(),
        "--output",
        &config.display().to_string(),
    ]);
    assert!(out.success(), "{}", out.describe());
    config
}

/// The Pi proxy setup: a Raspberry Pi 4 that is in no inventory, with its
/// files in its serial folder as the guides lay them out, boots from dnsmasq
/// with the original configuration and from bootherd with the imported one,
/// with the same conversation and the same bytes.
#[test]
fn imported_rpi_proxy_boots_the_pi_dnsmasq_boots() {
    if !need_lab(
        "imported_rpi_proxy_boots_the_pi_dnsmasq_boots",
        &["dnsmasq"],
    ) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let mut files = Vec::new();
    for (i, name) in [
        "start4.elf",
        "fixup4.dat",
        "bcm2711-rpi-4-b.dtb",
        "kernel8.img",
    ]
    .iter()
    .enumerate()
    {
        files.push((
            format!("9ffefdef/{name}"),
            pseudo_random_bytes(700 + i as u64, 40_000 + 1_111 * i),
        ));
    }
    files.push(("9ffefdef/config.txt".into(), b"arm_64bit=1\n".to_vec()));
    files.push((
        "9ffefdef/cmdline.txt".into(),
        b"console=serial0 root=/dev/nfs\n".to_vec(),
    ));
    for (name, bytes) in &files {
        write_file(&root.join(name), bytes);
    }
    let lab = Lab::up();
    // The home router: addresses only.
    let _lan = Dnsmasq::lan(&lab, dir.path(), "1h", &[]);
    let pi = [
        "--as",
        "rpi4",
        "--mac",
        "dc:a6:32:01:02:03",
        "--serial",
        "9ffefdef",
        "--timeout",
        "5",
    ];

    let mut reference = reference_dnsmasq(&lab, dir.path(), "rpi-proxy.conf", &root);
    let by_dnsmasq = probe(&lab, &dir.path().join("by-dnsmasq"), &pi);
    reference.stop(Duration::from_secs(5));
    assert!(
        by_dnsmasq.success() && by_dnsmasq.stdout.contains("VERDICT: boots"),
        "the Pi does not boot from dnsmasq with the original configuration: {}",
        by_dnsmasq.describe()
    );

    let config = imported(dir.path(), "rpi-proxy.conf", &root);
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], None);
    server.expect_log(
        &["proxy listening on "],
        Duration::from_secs(10),
        "bootherd serve did not start its proxy",
    );
    let by_bootherd = probe(&lab, &dir.path().join("by-bootherd"), &pi);
    assert!(
        by_bootherd.success() && by_bootherd.stdout.contains("VERDICT: boots"),
        "the Pi does not boot from bootherd with the imported configuration: {}\n{}",
        by_bootherd.describe(),
        server.log_text()
    );
    let (mut a, mut b) = (conversation(&by_dnsmasq), conversation(&by_bootherd));
    // Which server's offer arrives first is a race; the conversation is not.
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "dnsmasq:\n{}\nbootherd:\n{}",
        by_dnsmasq.stdout, by_bootherd.stdout
    );
    assert!(
        by_bootherd
            .stdout
            .contains("offer from 10.99.0.1: proxy, option 43 has \"Raspberry Pi Boot\""),
        "{}",
        by_bootherd.stdout
    );
    // Every file the Pi read whole is the file in the tree, from both servers.
    for (name, bytes) in &files {
        for saved in ["by-dnsmasq", "by-bootherd"] {
            let got = std::fs::read(dir.path().join(saved).join(name))
                .unwrap_or_else(|e| panic!("{saved}: {name} was not read whole: {e}"));
            assert_eq!(&got, bytes, "{saved}: {name}");
        }
    }
}

/// A hand-written pxelinux file for a board, with absolute paths, the way
/// PXELINUX files written for dnsmasq and tftpd-hpa name them.
const PXELINUX_A: &str = "default linux\nlabel linux\n  kernel /rock64/02abcd000001/Image\n  \
     fdt /rock64/02abcd000001/rk3328-rock64.dtb\n  append console=ttyS2,1500000 root=/dev/nfs ip=dhcp\n";

/// The U-Boot boards: the board played by `bootherd probe --as uboot` gets its
/// reserved address, the boot file and the hand-written pxelinux file, then its
/// kernel by its absolute name (tftp-hpa's client), and busybox udhcpc with
/// another board's MAC gets that board's reservation; from dnsmasq with the
/// original configuration and from bootherd with the imported one alike.
#[test]
fn imported_uboot_hosts_boot_the_boards_dnsmasq_boots() {
    if !need_lab(
        "imported_uboot_hosts_boot_the_boards_dnsmasq_boots",
        &["dnsmasq", "busybox", "tftp"],
    ) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let kernel = pseudo_random_bytes(900, 123_457);
    write_file(
        &root.join("pxelinux.cfg/01-02-ab-cd-00-00-01"),
        PXELINUX_A.as_bytes(),
    );
    write_file(&root.join("rock64/02abcd000001/Image"), &kernel);
    write_file(
        &root.join("rock64/02abcd000001/rk3328-rock64.dtb"),
        b"dtb\n",
    );
    let lab = Lab::up();
    add_client_port(&lab, "rb0", "02:ab:cd:00:00:02");
    let board = [
        "--as",
        "uboot",
        "--mac",
        "02:ab:cd:00:00:01",
        "--timeout",
        "8",
    ];

    let boots = |lab: &Lab, tag: &str, server: &str| -> (RunOutput, RunOutput) {
        let save = dir.path().join(tag);
        let run = probe(lab, &save, &board);
        let got = dir.path().join(format!("{tag}-Image"));
        let tftp = lab.exec(
            &lab.cli(),
            30,
            &[
                "tftp",
                "-m",
                "binary",
                "10.99.0.1",
                "-c",
                "get",
                "/rock64/02abcd000001/Image",
                got.to_str().unwrap(),
            ],
        );
        assert_eq!(
            std::fs::read(&got).ok().as_deref(),
            Some(&kernel[..]),
            "{server}: the kernel by its absolute name: {}",
            tftp.describe()
        );
        let udhcpc = lab.udhcpc_once("rb0", 4, &[]);
        (run, udhcpc)
    };

    let mut reference = reference_dnsmasq(&lab, dir.path(), "uboot-hosts.conf", &root);
    let (by_dnsmasq, udhcpc_dnsmasq) = boots(&lab, "by-dnsmasq", "dnsmasq");
    reference.stop(Duration::from_secs(5));

    let config = imported(dir.path(), "uboot-hosts.conf", &root);
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], None);
    server.expect_log(
        &["dhcp server listening on 0.0.0.0:67"],
        Duration::from_secs(10),
        "bootherd serve did not start its DHCP server",
    );
    let (by_bootherd, udhcpc_bootherd) = boots(&lab, "by-bootherd", "bootherd");

    for (who, run, udhcpc) in [
        ("dnsmasq", &by_dnsmasq, &udhcpc_dnsmasq),
        ("bootherd", &by_bootherd, &udhcpc_bootherd),
    ] {
        for line in [
            "DHCP  U-Boot: ipaddr 10.99.0.210, serverip 10.99.0.1 (siaddr), bootfile pxelinux.0",
            "TFTP  10.99.0.1 pxelinux.cfg/01-02-ab-cd-00-00-01: ",
            "VERDICT: boots",
        ] {
            assert!(
                run.stdout.contains(line),
                "{who}: no {line:?}: {}\n{}",
                run.describe(),
                server.log_text()
            );
        }
        let said = format!("{}{}", udhcpc.stdout, udhcpc.stderr);
        assert!(
            udhcpc.success() && said.contains("lease of 10.99.0.211 obtained from 10.99.0.1"),
            "{who}: udhcpc did not get rock64-b's reservation: {}",
            udhcpc.describe()
        );
    }
    let saved = |tag: &str| {
        std::fs::read_to_string(
            dir.path()
                .join(tag)
                .join("pxelinux.cfg/01-02-ab-cd-00-00-01"),
        )
        .unwrap_or_default()
    };
    assert_eq!(saved("by-dnsmasq"), PXELINUX_A);
    assert_eq!(saved("by-bootherd"), PXELINUX_A);
    assert_eq!(conversation(&by_dnsmasq), conversation(&by_bootherd));
}

/// `NAME` from 10.99.0.1:PORT, fetched from the client namespace with
/// tftp-hpa's `tftp -m binary 10.99.0.1 PORT -c get NAME` (or with curl when
/// the name has a `:`, which tftp-hpa's `get` reads as `HOST:FILE`): the
/// file's bytes, or `None` when the server answered with an error.
fn tftp_hpa_get(lab: &Lab, save: &Path, port: &str, name: &str) -> Option<Vec<u8>> {
    let _ = std::fs::remove_file(save);
    if name.contains(':') {
        let path: String = name
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let url = format!("tftp://10.99.0.1:{port}/{path}");
        let out = lab.exec(
            &lab.cli(),
            20,
            &["curl", "-sS", "-o", save.to_str().unwrap(), &url],
        );
        return out
            .success()
            .then(|| std::fs::read(save).unwrap_or_default());
    }
    let out = lab.exec(
        &lab.cli(),
        20,
        &[
            "tftp",
            "-m",
            "binary",
            "10.99.0.1",
            port,
            "-c",
            "get",
            name,
            save.to_str().unwrap(),
        ],
    );
    let said = format!("{}{}", out.stdout, out.stderr);
    if said.contains("Error code") {
        return None;
    }
    assert!(
        out.success() && said.trim().is_empty(),
        "tftp get {name:?} from port {port}: {}",
        out.describe()
    );
    Some(std::fs::read(save).unwrap_or_default())
}

/// The tftpd-hpa fixture with its map file: in.tftpd run with that map file
/// and bootherd with the imported configuration, side by side in a lab
/// namespace, answer tftp-hpa's client (and curl) alike: names with backslashes, a drive
/// letter, capitals, leading slashes and the old root's name, a moved folder
/// and two `current/` of which only the first is renamed get the same file from
/// both, and names that lead nowhere get an error from both. The one
/// difference is the one the imported file warns about: the `.pvt` file
/// tftpd-hpa's `a` rule refused, bootherd serves.
#[test]
fn imported_map_file_rewrites_names_as_tftpd_hpa_does() {
    let test = "imported_map_file_rewrites_names_as_tftpd_hpa_does";
    if !need_lab_files(test, &["tftp", "curl"], &["/usr/sbin/in.tftpd"]) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    let files: [(&str, Vec<u8>); 6] = [
        ("boot/x64/pxeboot.n12", pseudo_random_bytes(31, 70_001)),
        ("pxelinux.0", pseudo_random_bytes(32, 42_000)),
        ("os/debian/linux", pseudo_random_bytes(33, 5_000)),
        ("6.1/current/vmlinuz", pseudo_random_bytes(34, 9_000)),
        ("ok/file", b"ok\n".to_vec()),
        ("secret.pvt", b"private\n".to_vec()),
    ];
    for (name, bytes) in &files {
        write_file(&root.join(name), bytes);
    }
    // tftpd-hpa without --permissive serves world-readable files only, as
    // `nobody` after its chroot.
    for entry in walk(&root) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .unwrap();
    }
    let file = |name: &str| files.iter().find(|f| f.0 == name).map(|f| f.1.clone());

    let config = dir.path().join("bootherd.toml");
    let out = import(&[
        "--tftpd-hpa",
        "tftpd-hpa",
        "--tftp-root",
        root.to_str().unwrap(),
        "--output",
        config.to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.describe());

    let lab = Lab::up();
    // The fixture's TFTP_OPTIONS, on port 6969 of the namespace's addresses
    // (in.tftpd takes `:PORT` wherever it runs; bootherd has port 69).
    let map = fixtures().join("tftpd.remap");
    let mut reference = Bg::spawn(
        &lab.srv(),
        300,
        &[
            "/usr/sbin/in.tftpd",
            "-4",
            "-L",
            "-a",
            ":6969",
            "--secure",
            "--blocksize",
            "1468",
            "--map-file",
            map.to_str().unwrap(),
            "-u",
            "nobody",
            root.to_str().unwrap(),
        ],
        dir.path(),
        "reference-tftpd",
    );
    let save = dir.path().join("got");
    let ready = wait_until(Duration::from_secs(10), || {
        !reference.is_running()
            || lab
                .exec(&lab.srv(), 5, &["ss", "-Hlun", "sport = :6969"])
                .stdout
                .contains(":6969")
    });
    assert!(
        ready && reference.is_running(),
        "in.tftpd did not serve: {}",
        reference.describe()
    );
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], None);

    let same: [(&str, Option<&str>); 9] = [
        (r"Boot\x64\PXEboot.n12", Some("boot/x64/pxeboot.n12")),
        (r"C:\BOOT\x64\pxeboot.N12", Some("boot/x64/pxeboot.n12")),
        ("//tftpboot/PXELINUX.0", Some("pxelinux.0")),
        ("images/debian/linux", Some("os/debian/linux")),
        ("current/current/vmlinuz", Some("6.1/current/vmlinuz")),
        ("OK/File", Some("ok/file")),
        ("6.1/6.1/vmlinuz", None),
        (r"..\..\etc\passwd", None),
        ("missing", None),
    ];
    for (name, want) in same {
        let want = want.and_then(file);
        for (who, port) in [("tftpd-hpa", "6969"), ("bootherd", "69")] {
            let got = tftp_hpa_get(&lab, &save, port, name);
            assert!(
                got == want,
                "{who}: {name:?} gave {} bytes, expected {}\n{}",
                got.as_ref()
                    .map_or("an error, no".into(), |g| g.len().to_string()),
                want.as_ref()
                    .map_or("an error".into(), |w| w.len().to_string()),
                server.log_text()
            );
        }
    }
    assert_eq!(tftp_hpa_get(&lab, &save, "6969", "SECRET.pvt"), None);
    assert_eq!(
        tftp_hpa_get(&lab, &save, "69", "SECRET.pvt"),
        file("secret.pvt")
    );
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("tftpd-hpa refused the requests this rule matches"),
        "the imported file does not warn about the `a` rule"
    );
    reference.stop(Duration::from_secs(5));
}

/// `dir` and everything under it.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
