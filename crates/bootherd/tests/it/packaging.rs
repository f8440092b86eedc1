//! The Debian packages `scripts/package` builds (target/debian/): their files,
//! modes, conffiles and maintainer scripts; lintian; the systemd unit's
//! hardening (`systemd-analyze security --offline=true`); the amd64 package
//! installed on this machine, with service starts forbidden (policy-rc.d),
//! serving in the lab from its installed path with its installed configuration
//! as the user the unit names, upgraded keeping an edited configuration,
//! removed and purged; the arm64 binary under qemu-user, booting a Pi and a
//! U-Boot board in the lab ([`crate::first_run`]).
//!
//! Installing stays safe: the package never enables or starts its service, a
//! policy-rc.d forbids starts anyway, the test checks that nothing of the
//! package runs, and it purges the package at the end, also on failure. It runs
//! only on a machine where bootherd is not installed.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{
    lock_host_package, need_files, need_lab_files, repo_root, run_bounded, temp_dir, RunOutput,
    Server, LAB_SERVER_IP,
};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The package for `arch` (`amd64`, `arm64`), where scripts/package leaves it.
fn deb(arch: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target
        .join("debian")
        .join(format!("bootherd_{VERSION}-1_{arch}.deb"))
}

/// Runs `program ARGS`, bounded; fails the test if it cannot be started.
fn run(program: &str, args: &[&str], secs: u64) -> RunOutput {
    run_bounded(Command::new(program).args(args), Duration::from_secs(secs))
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Like [`run`], and fails the test unless it succeeds; returns stdout.
fn run_ok(program: &str, args: &[&str], secs: u64) -> String {
    let out = run(program, args, secs);
    assert!(
        out.success(),
        "{program} {}: {}",
        args.join(" "),
        out.describe()
    );
    out.stdout
}

/// Every file (not directory) in a package: path without `./` -> (mode, owner).
fn listing(deb: &Path) -> BTreeMap<String, (String, String)> {
    let text = run_ok("dpkg-deb", &["--contents", deb.to_str().unwrap()], 60);
    let mut files = BTreeMap::new();
    for line in text.lines() {
        // drwxr-xr-x 0/0 0 2026-12-05 00:00 ./usr/
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 6, "unexpected dpkg-deb line {line:?}");
        let (mode, owner, path) = (fields[0], fields[1], fields[5]);
        assert_eq!(owner, "0/0", "{path} is not owned by root: {line}");
        if mode.starts_with('d') {
            assert_eq!(mode, "drwxr-xr-x", "directory {path}: {line}");
            continue;
        }
        let path = path.trim_start_matches("./").to_string();
        files.insert(path, (mode.to_string(), owner.to_string()));
    }
    files
}

/// The files each package holds, with their modes.
fn expected_files() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    files.insert("usr/bin/bootherd".to_string(), "-rwxr-xr-x".to_string());
    let mut data = vec![
        "etc/bootherd/bootherd.toml".to_string(),
        "usr/lib/systemd/system/bootherd.service".into(),
        "usr/share/doc/bootherd/copyright".into(),
        "usr/share/doc/bootherd/changelog.Debian.gz".into(),
        "usr/share/doc/bootherd/README.md".into(),
        "usr/share/lintian/overrides/bootherd".into(),
        "usr/share/bash-completion/completions/bootherd".into(),
        "usr/share/zsh/vendor-completions/_bootherd".into(),
        "usr/share/fish/vendor_completions.d/bootherd.fish".into(),
    ];
    for page in [
        "bootherd",
        "bootherd-serve",
        "bootherd-check",
        "bootherd-probe",
        "bootherd-leases",
        "bootherd-leases-migrate",
        "bootherd-show",
        "bootherd-init",
        "bootherd-import",
        "bootherd-status",
        "bootherd-iscsi",
        "bootherd-iscsi-export",
        "bootherd-iscsi-create-disk",
        "bootherd-watch",
    ] {
        data.push(format!("usr/share/man/man1/{page}.1.gz"));
    }
    for path in data {
        files.insert(path, "-rw-r--r--".to_string());
    }
    files
}

/// A control file of `deb` (`conffiles`, `postinst`, ...).
fn control_file(deb: &Path, name: &str) -> String {
    run_ok("dpkg-deb", &["--info", deb.to_str().unwrap(), name], 60)
}

#[test]
fn each_package_holds_its_files_with_root_ownership_and_their_modes() {
    let (amd64, arm64) = (deb("amd64"), deb("arm64"));
    if !need_files(
        "each_package_holds_its_files_with_root_ownership_and_their_modes",
        &["dpkg-deb", "gzip"],
        &[&amd64, &arm64],
    ) {
        return;
    }
    for (arch, deb, elf_machine) in [("amd64", &amd64, 62u16), ("arm64", &arm64, 183)] {
        let got: BTreeMap<String, String> = listing(deb)
            .into_iter()
            .map(|(path, (mode, _))| (path, mode))
            .collect();
        assert_eq!(got, expected_files(), "{arch}: files and modes");

        assert_eq!(
            control_file(deb, "conffiles"),
            "/etc/bootherd/bootherd.toml\n",
            "{arch}: conffiles"
        );
        let fields = run_ok(
            "dpkg-deb",
            &[
                "--field",
                deb.to_str().unwrap(),
                "Architecture",
                "Version",
                "Depends",
            ],
            60,
        );
        assert!(
            fields.contains(&format!("Architecture: {arch}\n")),
            "{fields}"
        );
        assert!(
            fields.contains(&format!("Version: {VERSION}-1\n")),
            "{fields}"
        );
        assert!(
            fields.contains("adduser") && fields.contains("libc6"),
            "{arch}: Depends: {fields}"
        );
        let postinst = control_file(deb, "postinst");
        assert!(postinst.contains("adduser --system"), "{postinst}");
        // Enabled again on upgrade only if it was (deb-systemd-helper
        // was-enabled), restarted on upgrade only if it runs, never started.
        assert!(
            !postinst.contains("deb-systemd-invoke start")
                && !postinst.contains("_dh_action=start")
                && postinst.contains("deb-systemd-invoke try-restart bootherd.service"),
            "{arch}: the postinst must not start the service:\n{postinst}"
        );
        let postrm = control_file(deb, "postrm");
        assert!(
            postrm.contains("rm -rf /var/lib/bootherd") && postrm.contains("deluser --system"),
            "{postrm}"
        );

        let dir = temp_dir();
        run_ok(
            "dpkg-deb",
            &[
                "--extract",
                deb.to_str().unwrap(),
                dir.path().to_str().unwrap(),
            ],
            60,
        );
        let binary = std::fs::read(dir.path().join("usr/bin/bootherd")).expect("read the binary");
        assert_eq!(&binary[..4], b"\x7fELF", "{arch}: not an ELF file");
        let machine = u16::from_le_bytes([binary[18], binary[19]]);
        assert_eq!(machine, elf_machine, "{arch}: ELF e_machine");
        eprintln!("{arch}: /usr/bin/bootherd is {} bytes", binary.len());
        // The man pages come from the clap definitions of this very binary.
        let serve = dir.path().join("usr/share/man/man1/bootherd-serve.1.gz");
        let page = run_ok("gzip", &["-dc", serve.to_str().unwrap()], 30);
        assert!(
            page.contains(r"\-\-proxy"),
            "{arch}: bootherd-serve.1:\n{page}"
        );
        let unit =
            std::fs::read_to_string(dir.path().join("usr/lib/systemd/system/bootherd.service"))
                .unwrap();
        let source =
            std::fs::read_to_string(repo_root().join("packaging/debian/bootherd.service")).unwrap();
        assert_eq!(
            unit, source,
            "{arch}: the packaged unit is not packaging/debian's"
        );
    }
}

#[test]
fn lintian_reports_no_errors_or_warnings() {
    let (amd64, arm64) = (deb("amd64"), deb("arm64"));
    if !need_files(
        "lintian_reports_no_errors_or_warnings",
        &["lintian"],
        &[&amd64, &arm64],
    ) {
        return;
    }
    for deb in [amd64, arm64] {
        // The warnings the package keeps are overridden, with the reason, in
        // packaging/debian/lintian-overrides.
        let out = run(
            "lintian",
            &["--fail-on", "error,warning", deb.to_str().unwrap()],
            300,
        );
        let tagged: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
            .collect();
        assert!(
            out.success() && tagged.is_empty(),
            "lintian {}: {}",
            deb.display(),
            out.describe()
        );
    }
}

/// The exposure `systemd-analyze security` gives the unit must stay in its
/// "OK" band, at most this (1.6 with systemd 252).
const MAX_EXPOSURE: f32 = 2.0;

#[test]
fn the_unit_is_hardened() {
    let amd64 = deb("amd64");
    if !need_files(
        "the_unit_is_hardened",
        &["systemd-analyze", "dpkg-deb"],
        &[&amd64],
    ) {
        return;
    }
    let dir = temp_dir();
    run_ok(
        "dpkg-deb",
        &[
            "--extract",
            amd64.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ],
        60,
    );
    let unit = dir.path().join("usr/lib/systemd/system/bootherd.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for setting in [
        "Type=notify\n",
        "WatchdogSec=30s\n",
        "Restart=on-failure\n",
        "ExecReload=/bin/kill -HUP $MAINPID\n",
        "User=bootherd\n",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW\n",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW\n",
        "NoNewPrivileges=yes\n",
        "ProtectSystem=strict\n",
        "ProtectHome=yes\n",
        "PrivateTmp=yes\n",
        "StateDirectory=bootherd\n",
        "RestrictAddressFamilies=AF_INET AF_UNIX AF_NETLINK AF_PACKET\n",
        "SystemCallFilter=@system-service\n",
    ] {
        assert!(text.contains(setting), "the unit lacks {setting:?}");
    }
    let out = run(
        "systemd-analyze",
        &[
            "security",
            "--offline=true",
            "--no-pager",
            unit.to_str().unwrap(),
        ],
        60,
    );
    let overall = out
        .stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for bootherd.service:")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall exposure: {}", out.describe()));
    let mut words = overall.split_whitespace();
    let score: f32 = words.next().and_then(|s| s.parse().ok()).unwrap();
    let band = words.next().unwrap_or_default();
    eprintln!("systemd-analyze security: exposure {score} {band}");
    assert!(
        score <= MAX_EXPOSURE && matches!(band, "OK" | "SAFE"),
        "exposure {score} {band}, more than {MAX_EXPOSURE}: {}",
        out.describe()
    );
}

/// What the install test changes on this machine, put back on drop: the
/// package purged, a test file out of its boot root, the policy-rc.d it made.
struct Installed {
    made_policy: bool,
    served_file: PathBuf,
}

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

impl Installed {
    /// Forbids service starts (policy-rc.d exiting 101, unless one exists).
    fn forbid_service_starts() -> Installed {
        let made_policy = !Path::new(POLICY_RC_D).exists();
        if made_policy {
            std::fs::write(
                POLICY_RC_D,
                "#!/bin/sh\n# bootherd's packaging test\nexit 101\n",
            )
            .expect("write policy-rc.d");
            std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            let text = std::fs::read_to_string(POLICY_RC_D).unwrap_or_default();
            assert!(
                text.contains("exit 101"),
                "{POLICY_RC_D} exists and does not forbid service starts:\n{text}"
            );
        }
        Installed {
            made_policy,
            served_file: PathBuf::from("/srv/bootherd/packaging-test.txt"),
        }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.served_file);
        match run_bounded(
            Command::new("dpkg").args(["--purge", "bootherd"]),
            Duration::from_secs(120),
        ) {
            Ok(out) if out.success() => {}
            Ok(out) => eprintln!("dpkg --purge bootherd: {}", out.describe()),
            Err(err) => eprintln!("dpkg --purge bootherd: {err}"),
        }
        if self.made_policy {
            let _ = std::fs::remove_file(POLICY_RC_D);
        }
    }
}

/// What on this machine says bootherd is or was installed; the install test
/// does not run there.
fn traces_of_bootherd() -> Vec<String> {
    let mut found = Vec::new();
    let status = run(
        "dpkg-query",
        &["--show", "--showformat=${db:Status-Status}", "bootherd"],
        30,
    );
    if status.success()
        && !status.stdout.trim().is_empty()
        && status.stdout.trim() != "not-installed"
    {
        found.push(format!("package bootherd is {}", status.stdout.trim()));
    }
    if nix::unistd::User::from_name("bootherd")
        .ok()
        .flatten()
        .is_some()
    {
        found.push("user bootherd exists".into());
    }
    for path in [
        "/etc/bootherd",
        "/var/lib/bootherd",
        "/srv/bootherd",
        "/usr/bin/bootherd",
    ] {
        if Path::new(path).exists() {
            found.push(format!("{path} exists"));
        }
    }
    found
}

/// Processes running the installed binary.
fn installed_processes() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe == Path::new("/usr/bin/bootherd"))
        })
        .collect()
}

fn dpkg(args: &[&str]) -> RunOutput {
    let mut cmd = Command::new("dpkg");
    cmd.args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env_remove("DEBCONF_NONINTERACTIVE_SEEN");
    run_bounded(&mut cmd, Duration::from_secs(300)).expect("run dpkg")
}

/// `deb` with its version changed to `version`, as `dir/NAME.deb`: an upgrade.
fn with_version(deb: &Path, version: &str, dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    run_ok(
        "dpkg-deb",
        &[
            "--raw-extract",
            deb.to_str().unwrap(),
            tree.to_str().unwrap(),
        ],
        120,
    );
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let text = text.replace(
        &format!("Version: {VERSION}-1\n"),
        &format!("Version: {version}\n"),
    );
    assert!(text.contains(&format!("Version: {version}\n")), "{text}");
    std::fs::write(&control, text).unwrap();
    let out = dir.join(format!("bootherd_{version}_amd64.deb"));
    run_ok(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            tree.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
        300,
    );
    out
}

#[test]
fn amd64_package_installs_serves_from_its_paths_upgrades_and_purges() {
    let test = "amd64_package_installs_serves_from_its_paths_upgrades_and_purges";
    let amd64 = deb("amd64");
    if !need_lab_files(
        test,
        &["dpkg", "dpkg-deb", "setpriv", "curl", "systemd-analyze"],
        &[amd64.to_str().unwrap()],
    ) {
        return;
    }
    if std::env::consts::ARCH != "x86_64" {
        panic!("{test}: the amd64 package installs on x86_64 only");
    }
    let _package = lock_host_package();
    let traces = traces_of_bootherd();
    if !traces.is_empty() {
        // Installing and purging here would change a real installation.
        let reason = format!("bootherd is or was installed here: {}", traces.join("; "));
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: CI=true, but {reason}");
        }
        eprintln!("SKIP {test}: {reason}");
        return;
    }
    let installed = Installed::forbid_service_starts();
    let out = dpkg(&["--install", amd64.to_str().unwrap()]);
    assert!(out.success(), "dpkg --install: {}", out.describe());

    // Installed, and nothing of it runs or is enabled.
    assert!(
        installed_processes().is_empty(),
        "the installed binary runs after the install"
    );
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/bootherd.service").exists(),
        "the package enabled its service"
    );
    if Path::new("/run/systemd/system").is_dir() {
        let active = run("systemctl", &["is-active", "bootherd.service"], 30);
        assert_ne!(active.stdout.trim(), "active", "{}", active.describe());
    }
    let version = run_ok("/usr/bin/bootherd", &["--version"], 30);
    assert_eq!(version.trim(), format!("bootherd {VERSION}"));
    let user = nix::unistd::User::from_name("bootherd")
        .unwrap()
        .expect("the postinst made no user bootherd");
    assert!(user.uid.as_raw() < 1000, "not a system user: {user:?}");
    assert_eq!(user.dir, Path::new("/var/lib/bootherd"));
    assert!(
        user.shell.to_string_lossy().ends_with("nologin"),
        "{user:?}"
    );
    let state = std::fs::metadata("/var/lib/bootherd").expect("no /var/lib/bootherd");
    assert_eq!(
        (state.uid(), state.gid(), state.mode() & 0o7777),
        (user.uid.as_raw(), user.gid.as_raw(), 0o750),
        "/var/lib/bootherd: owner and mode"
    );
    assert!(Path::new("/srv/bootherd").is_dir(), "no /srv/bootherd");
    let conffiles = run_ok(
        "dpkg-query",
        &["--show", "--showformat=${Conffiles}", "bootherd"],
        30,
    );
    assert!(
        conffiles.contains("/etc/bootherd/bootherd.toml"),
        "{conffiles}"
    );
    // systemd-analyze verify with the binary at its installed path; it prints
    // what is wrong and still exits 0, so its output must be empty.
    let verify = run(
        "systemd-analyze",
        &[
            "verify",
            "--man=no",
            "/usr/lib/systemd/system/bootherd.service",
        ],
        60,
    );
    assert!(
        verify.success() && verify.stdout.trim().is_empty() && verify.stderr.trim().is_empty(),
        "systemd-analyze verify: {}",
        verify.describe()
    );
    let check = run(
        "/usr/bin/bootherd",
        &["check", "--config", "/etc/bootherd/bootherd.toml"],
        30,
    );
    assert!(
        check.success(),
        "check of the default config: {}",
        check.describe()
    );

    serve_installed(&installed.served_file);

    // Upgrade: the edited configuration and the state stay.
    let config = Path::new("/etc/bootherd/bootherd.toml");
    let mut edited = std::fs::read_to_string(config).unwrap();
    edited.push_str("# edited by the packaging test\n");
    std::fs::write(config, &edited).unwrap();
    std::fs::write("/var/lib/bootherd/kept", b"state").unwrap();
    let dir = temp_dir();
    let upgrade = with_version(&amd64, &format!("{VERSION}-2"), dir.path());
    let out = dpkg(&["--install", upgrade.to_str().unwrap()]);
    assert!(
        out.success(),
        "dpkg --install (upgrade): {}",
        out.describe()
    );
    let now = run_ok(
        "dpkg-query",
        &["--show", "--showformat=${Version}", "bootherd"],
        30,
    );
    assert_eq!(now, format!("{VERSION}-2"));
    assert_eq!(
        std::fs::read_to_string(config).unwrap(),
        edited,
        "the upgrade lost the edit"
    );
    for leftover in [
        "bootherd.toml.dpkg-new",
        "bootherd.toml.dpkg-dist",
        "bootherd.toml.dpkg-old",
    ] {
        assert!(
            !Path::new("/etc/bootherd").join(leftover).exists(),
            "{leftover}"
        );
    }
    assert!(
        Path::new("/var/lib/bootherd/kept").exists(),
        "the upgrade lost the state"
    );
    assert!(
        installed_processes().is_empty(),
        "the upgrade started the service"
    );

    // Remove keeps the configuration, the user and the state; purge takes them.
    std::fs::remove_file(&installed.served_file).unwrap();
    let out = dpkg(&["--remove", "bootherd"]);
    assert!(out.success(), "dpkg --remove: {}", out.describe());
    assert!(!Path::new("/usr/bin/bootherd").exists());
    assert!(config.exists(), "remove took the configuration");
    assert!(
        Path::new("/var/lib/bootherd/kept").exists(),
        "remove took the state"
    );
    assert!(nix::unistd::User::from_name("bootherd").unwrap().is_some());
    let out = dpkg(&["--purge", "bootherd"]);
    assert!(out.success(), "dpkg --purge: {}", out.describe());
    let left = traces_of_bootherd();
    assert!(left.is_empty(), "purge left: {}", left.join("; "));
    assert!(
        nix::unistd::Group::from_name("bootherd").unwrap().is_none(),
        "purge left the group bootherd"
    );
    drop(installed);
}

/// The installed binary, from its installed path, with its installed
/// configuration, as the unit runs it (the user bootherd, two ambient
/// capabilities, no new privileges), in the lab: it serves the boot root over
/// TFTP and HTTP on the privileged ports, and answers no DHCP.
fn serve_installed(served_file: &Path) {
    let contents = b"served by the installed bootherd\n";
    std::fs::write(served_file, contents).unwrap();
    let lab = crate::support::Lab::up();
    let caps = "-all,+net_bind_service,+net_raw";
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.srv()]).args([
        "setpriv",
        "--reuid=bootherd",
        "--regid=bootherd",
        "--init-groups",
        &format!("--inh-caps={caps}"),
        &format!("--ambient-caps={caps}"),
        &format!("--bounding-set={caps}"),
        "--no-new-privs",
        "/usr/bin/bootherd",
        "serve",
        "--config",
        "/etc/bootherd/bootherd.toml",
    ]);
    let server = Server::start(cmd);
    assert!(
        server
            .tftp
            .iter()
            .any(|a| a.to_string() == format!("{LAB_SERVER_IP}:69"))
            && server
                .http
                .iter()
                .any(|a| a.to_string() == format!("{LAB_SERVER_IP}:80")),
        "not on the default ports: {}",
        server.log_text()
    );
    let name = served_file.file_name().unwrap().to_str().unwrap();
    for url in [
        format!("tftp://{LAB_SERVER_IP}/{name}"),
        format!("http://{LAB_SERVER_IP}/{name}"),
    ] {
        let got = lab.exec(&lab.cli(), 30, &["curl", "-sS", "--max-time", "10", &url]);
        assert!(
            got.success() && got.stdout.as_bytes() == contents,
            "{url}: {}\n{}",
            got.describe(),
            server.log_text()
        );
    }
    // The default configuration answers no DHCP: a Pi gets nothing.
    let probe = lab.exec(
        &lab.cli(),
        30,
        &[
            crate::support::BOOTHERD,
            "probe",
            "--interface",
            "br0",
            "--as",
            "rpi4",
            "--timeout",
            "3",
        ],
    );
    assert_eq!(probe.status.code(), Some(1), "{}", probe.describe());
    assert!(
        server.log_lines_with(&["proxy listening"]).is_empty()
            && server.log_lines_with(&["dhcp server listening"]).is_empty(),
        "{}",
        server.log_text()
    );
    drop(server);
    drop(lab);
}

#[test]
fn arm64_binary_under_qemu_boots_a_pi_and_a_uboot_board() {
    let test = "arm64_binary_under_qemu_boots_a_pi_and_a_uboot_board";
    let arm64 = deb("arm64");
    if !need_lab_files(
        test,
        &["qemu-aarch64-static", "dpkg-deb", "dnsmasq"],
        &[arm64.to_str().unwrap(), ARM64_LOADER],
    ) {
        return;
    }
    let dir = temp_dir();
    run_ok(
        "dpkg-deb",
        &[
            "--extract",
            arm64.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ],
        60,
    );
    let binary = dir.path().join("usr/bin/bootherd");
    let program: Vec<String> = [
        "qemu-aarch64-static",
        "-L",
        ARM64_SYSROOT,
        binary.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let args: Vec<&str> = program
        .iter()
        .map(String::as_str)
        .chain(["--version"])
        .collect();
    let version = run_ok(args[0], &args[1..], 60);
    assert_eq!(version.trim(), format!("bootherd {VERSION}"));
    crate::first_run::boots_a_pi_and_a_uboot_board(&program);
}

/// Debian's arm64 C library for cross builds (libc6-arm64-cross), which
/// qemu-user loads the dynamically linked binary with.
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";
const ARM64_LOADER: &str = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1";
