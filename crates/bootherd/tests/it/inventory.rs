//! The inventory from the user's side: `check` and `show` on a tree, per-machine
//! files over TFTP and HTTP on loopback, and reloading the configuration.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use crate::support::{run_bootherd, temp_dir, wait_until, write_file, Server};

const PI4_MAC: &str = "dc:a6:32:01:36:c2";

fn config_text(root: &Path, extra_args: &str) -> String {
    format!(
        r#"
[tftp]
root = "{root}"

[profiles.pi4]
kind = "rpi"
kernel = "kernel8.img"
cmdline = "console=serial0,115200"
root = {{ type = "iscsi", portal = "10.0.0.5", target = "iqn.2004-04.com.example:{{name}}", lun = 1, partition = 2 }}

[profiles.rock64]
kind = "pxelinux"
kernel = "Image"
dtb = "rk3328-rock64.dtb"
cmdline = "console=ttyS2,1500000"

[profiles.pc]
kind = "ipxe"
kernel = "vmlinuz"
cmdline = "console=ttyS0"

[[machines]]
name = "kitchen-pi"
mac = "{PI4_MAC}"
serial = "9ffefdef"
profile = "pi4"
extra_args = "{extra_args}"
dir = "machines/kitchen-pi"

[[machines]]
name = "rock-a"
mac = "52:54:00:99:00:a1"
profile = "rock64"

[[machines]]
name = "office-pc"
mac = "52:54:00:12:34:56"
profile = "pc"
"#,
        root = root.display()
    )
}

/// A tree with the shared firmware at the root and one machine's own file.
fn make_tree(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    write_file(&root.join("start4.elf"), b"shared start4.elf");
    write_file(&root.join("fixup4.dat"), b"shared fixup4.dat");
    write_file(&root.join("kernel8.img"), b"shared kernel");
    write_file(
        &root.join("config.txt"),
        b"arm_64bit=1\nkernel=kernel8.img\n",
    );
    write_file(&root.join("rock64/5254009900a1/Image"), b"rock kernel");
    write_file(
        &root.join("rock64/5254009900a1/rk3328-rock64.dtb"),
        b"rock dtb",
    );
    write_file(&root.join("m/52-54-00-12-34-56/vmlinuz"), b"pc kernel");
    write_file(
        &dir.join("machines/kitchen-pi/kernel8.img"),
        b"kitchen's own kernel",
    );
    root
}

/// Fetches a small file (< 512 bytes) by TFTP with an option-less RRQ.
fn tftp_get(server: SocketAddr, name: &str) -> Result<Vec<u8>, String> {
    tftp_get_from("127.0.0.1", server, name)
}

/// [`tftp_get`] from a loopback address of the caller's choice (any of 127/8).
fn tftp_get_from(from: &str, server: SocketAddr, name: &str) -> Result<Vec<u8>, String> {
    let socket = UdpSocket::bind((from, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(name.as_bytes());
    rrq.extend_from_slice(b"\0octet\0");
    socket.send_to(&rrq, server).unwrap();
    let mut buf = [0u8; 1024];
    let (n, from) = socket.recv_from(&mut buf).map_err(|e| e.to_string())?;
    match buf[..n] {
        [0, 3, 0, 1, ..] => {
            let _ = socket.send_to(&[0, 4, 0, 1], from);
            assert!(n - 4 < 512, "{name} is too big for this helper");
            Ok(buf[4..n].to_vec())
        }
        [0, 5, ..] => Err(String::from_utf8_lossy(&buf[4..n]).into_owned()),
        _ => Err(format!("unexpected reply {:?}", &buf[..n])),
    }
}

fn http_get(server: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

#[test]
fn check_passes_on_a_complete_tree_and_names_each_missing_piece() {
    let dir = temp_dir();
    let root = make_tree(dir.path());
    let config = dir.path().join("bootherd.toml");
    write_file(&config, config_text(&root, "quiet").as_bytes());
    let out = run_bootherd(["check", "--config", config.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("ok ("), "{}", out.stdout);
    assert!(
        out.stdout.contains("generated  9ffefdef/cmdline.txt"),
        "{}",
        out.stdout
    );

    // Remove the Pi 4 firmware and the ROCK64's device tree: both are named.
    std::fs::remove_file(root.join("start4.elf")).unwrap();
    std::fs::remove_file(root.join("rock64/5254009900a1/rk3328-rock64.dtb")).unwrap();
    let out = run_bootherd(["check", "--config", config.to_str().unwrap()]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("MISSING    9ffefdef/start4.elf"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("MISSING    rock64/5254009900a1/rk3328-rock64.dtb"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2 problem(s)"), "{}", out.stdout);

    // An iSCSI root without a target, and a machine naming a missing profile.
    let broken = config_text(&root, "quiet")
        .replace(r#"target = "iqn.2004-04.com.example:{name}", "#, "")
        .replace(r#"profile = "pc""#, r#"profile = "laptop""#);
    write_file(&config, broken.as_bytes());
    let out = run_bootherd(["check", "--config", config.to_str().unwrap()]);
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stderr.contains("root.target"), "{}", out.stderr);
    assert!(out.stderr.contains("laptop"), "{}", out.stderr);
}

#[test]
fn show_prints_a_machines_generated_files() {
    let dir = temp_dir();
    let root = make_tree(dir.path());
    let config = dir.path().join("bootherd.toml");
    write_file(&config, config_text(&root, "quiet").as_bytes());
    let out = run_bootherd(["show", "--config", config.to_str().unwrap(), "rock-a"]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout
            .contains("==> pxelinux.cfg/01-52-54-00-99-00-a1 <=="),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("kernel rock64/5254009900a1/Image"),
        "{}",
        out.stdout
    );
    let out = run_bootherd(["show", "--config", config.to_str().unwrap(), "9ffefdef"]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains(
            "ISCSI_TARGET_NAME=iqn.2004-04.com.example:kitchen-pi ISCSI_TARGET_IP=10.0.0.5"
        ),
        "{}",
        out.stdout
    );
    let out = run_bootherd(["show", "--config", config.to_str().unwrap(), "nobody"]);
    assert!(!out.success());
    assert!(out.stderr.contains("no machine named"), "{}", out.stderr);
}

#[test]
fn machine_namespaces_over_tftp_and_http() {
    let dir = temp_dir();
    let root = make_tree(dir.path());
    let config = dir.path().join("bootherd.toml");
    write_file(&config, config_text(&root, "quiet").as_bytes());
    let server = Server::start_local_config(&config);
    let tftp = server.tftp_addr();

    let cmdline = String::from_utf8(tftp_get(tftp, "9ffefdef/cmdline.txt").unwrap()).unwrap();
    assert!(cmdline.starts_with("console=serial0,115200 "), "{cmdline}");
    assert!(cmdline.trim_end().ends_with(" quiet"), "{cmdline}");
    assert!(cmdline.contains("ISCSI_TARGET_PORT=3260"), "{cmdline}");
    // TFTP_PREFIX 2: the MAC folder reaches the same machine.
    assert_eq!(
        tftp_get(tftp, "dc-a6-32-01-36-c2/cmdline.txt").unwrap(),
        cmdline.as_bytes()
    );
    // Shared firmware through the machine's folder; the machine's own file wins.
    assert_eq!(
        tftp_get(tftp, "9ffefdef/start4.elf").unwrap(),
        b"shared start4.elf"
    );
    assert_eq!(
        tftp_get(tftp, "9ffefdef/kernel8.img").unwrap(),
        b"kitchen's own kernel"
    );
    assert_eq!(tftp_get(tftp, "kernel8.img").unwrap(), b"shared kernel");
    // The doubled slash of the Pi 5.
    assert_eq!(
        tftp_get(tftp, "9ffefdef//start4.elf").unwrap(),
        b"shared start4.elf"
    );
    // An unknown serial is just a path under the root.
    assert!(tftp_get(tftp, "00000000/start4.elf").is_err());

    let pxe =
        String::from_utf8(tftp_get(tftp, "pxelinux.cfg/01-52-54-00-99-00-a1").unwrap()).unwrap();
    assert!(pxe.contains("kernel rock64/5254009900a1/Image"), "{pxe}");
    assert_eq!(
        tftp_get(tftp, "rock64/5254009900a1/Image").unwrap(),
        b"rock kernel"
    );
    assert!(tftp_get(tftp, "pxelinux.cfg/01-52-54-00-99-00-ff").is_err());

    let http = server.http_addr();
    let (status, script) = http_get(http, "/m/52-54-00-12-34-56/boot.ipxe");
    assert_eq!(status, 200, "{script}");
    assert!(script.starts_with("#!ipxe"), "{script}");
    let base = format!(
        "http://127.0.0.1:{}/m/52-54-00-12-34-56/vmlinuz",
        http.port()
    );
    assert!(script.contains(&base), "{script}");
    let (status, body) = http_get(http, "/m/52-54-00-12-34-56/vmlinuz");
    assert_eq!((status, body.as_str()), (200, "pc kernel"));
    let (status, body) = http_get(http, "/9ffefdef/cmdline.txt");
    assert_eq!((status, body.as_bytes()), (200, cmdline.as_bytes()));
}

#[test]
fn config_reloads_on_change_and_sighup_and_a_broken_file_keeps_the_old_one() {
    let dir = temp_dir();
    let root = make_tree(dir.path());
    let config = dir.path().join("bootherd.toml");
    write_file(&config, config_text(&root, "first").as_bytes());
    let server = Server::start_local_config(&config);
    let tftp = server.tftp_addr();
    let cmdline = || String::from_utf8(tftp_get(tftp, "9ffefdef/cmdline.txt").unwrap()).unwrap();
    assert!(cmdline().contains(" first"));

    // A changed file is picked up by the watcher.
    std::thread::sleep(Duration::from_millis(1100)); // a new mtime second
    write_file(&config, config_text(&root, "second").as_bytes());
    assert!(
        wait_until(Duration::from_secs(10), || cmdline().contains(" second")),
        "not reloaded; log:\n{}",
        server.log_text()
    );

    // A broken file is refused and the old configuration keeps serving.
    std::thread::sleep(Duration::from_millis(1100));
    write_file(
        &config,
        config_text(&root, "third")
            .replace("kind = \"ipxe\"", "kind = \"floppy\"")
            .as_bytes(),
    );
    assert!(
        server.wait_for_log("configuration NOT reloaded", Duration::from_secs(10)),
        "log:\n{}",
        server.log_text()
    );
    assert!(cmdline().contains(" second"), "{}", cmdline());

    // SIGHUP reloads too. The new file keeps the old one's modification time
    // (written beside it, dated back, renamed over it), so the watcher, which
    // compares that time, cannot see the change: only the signal can.
    let old_mtime = std::fs::metadata(&config).unwrap().modified().unwrap();
    let next = dir.path().join("bootherd.toml.next");
    write_file(&next, config_text(&root, "fourth").as_bytes());
    std::fs::File::options()
        .write(true)
        .open(&next)
        .unwrap()
        .set_modified(old_mtime)
        .unwrap();
    std::fs::rename(&next, &config).unwrap();
    assert_eq!(
        std::fs::metadata(&config).unwrap().modified().unwrap(),
        old_mtime
    );
    // More than a watch interval (2 s): the watcher has looked and seen nothing.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(cmdline().contains(" second"), "{}", cmdline());
    let reloads = || server.log_lines_with(&["configuration reloaded"]);
    assert_eq!(reloads().len(), 1, "log:\n{}", server.log_text());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || cmdline().contains(" fourth")),
        "SIGHUP did not reload; log:\n{}",
        server.log_text()
    );
    let reloads = reloads();
    assert_eq!(reloads.len(), 2, "log:\n{}", server.log_text());
    assert!(
        reloads[0].contains("trigger=\"file changed\""),
        "{}",
        reloads[0]
    );
    assert!(reloads[1].contains("trigger=\"SIGHUP\""), "{}", reloads[1]);
}

/// docs/EXAMPLES.md stays true: its TOML, put together, is a valid configuration,
/// and every generated file it quotes is what `bootherd show` prints.
#[test]
fn docs_examples_are_what_bootherd_generates() {
    let doc = std::fs::read_to_string(crate::support::repo_root().join("docs/EXAMPLES.md"))
        .expect("read docs/EXAMPLES.md");
    let dir = temp_dir();
    let root = dir.path().join("boot");
    std::fs::create_dir_all(&root).unwrap();
    let mut toml = String::new();
    let mut quoted: Vec<(String, String)> = Vec::new();
    let mut blocks = doc.split("```").skip(1).step_by(2);
    for block in blocks.by_ref() {
        if let Some(body) = block.strip_prefix("toml\n") {
            toml.push_str(body);
            toml.push('\n');
        } else if block.contains("==> ") {
            let body = block.trim_start_matches('\n');
            for file in body.split("==> ").filter(|f| !f.trim().is_empty()) {
                let (path, content) = file.split_once(" <==\n").expect("==> path <== header");
                quoted.push((path.to_string(), content.trim_end().to_string()));
            }
        }
    }
    let toml = toml
        .replace(
            "root = \"/srv/boot\"",
            &format!("root = \"{}\"", root.display()),
        )
        .replace(
            "/var/lib/bootherd/leases.sqlite",
            &dir.path().join("leases.sqlite").display().to_string(),
        );
    let config = dir.path().join("bootherd.toml");
    write_file(&config, toml.as_bytes());
    let out = run_bootherd(["check", "--config", config.to_str().unwrap()]);
    // The tree is empty, so check reports missing files, but the file itself is valid.
    assert!(out.stdout.contains("MISSING"), "{}", out.describe());
    assert!(quoted.len() >= 7, "too few quoted files: {quoted:?}");
    let mut shown = String::new();
    for machine in [
        "garage-pi3",
        "kitchen-pi",
        "rock64-a",
        "office-pc",
        "desk-sb",
    ] {
        let out = run_bootherd([
            "show",
            "--config",
            config.to_str().unwrap(),
            machine,
            "--server",
            "10.0.0.2",
        ]);
        assert!(out.success(), "{}", out.describe());
        shown.push_str(&out.stdout);
    }
    for (path, content) in quoted {
        let want = format!("==> {path} <==\n{content}\n");
        assert!(
            shown.contains(&want),
            "docs/EXAMPLES.md quotes {path} as\n{content}\nbut bootherd show prints:\n{shown}"
        );
    }
}

/// The configuration example in README.md is a valid file.
#[test]
fn readme_config_example_is_valid() {
    let readme = std::fs::read_to_string(crate::support::repo_root().join("README.md"))
        .expect("read README.md");
    let example = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in README.md");
    let dir = temp_dir();
    let root = dir.path().join("boot");
    std::fs::create_dir_all(&root).unwrap();
    let text = example
        .replace(
            "\"/srv/boot\"",
            &format!("{:?}", root.display().to_string()),
        )
        .replace(
            "/var/lib/bootherd/leases.sqlite",
            &dir.path().join("leases.sqlite").display().to_string(),
        );
    let config = dir.path().join("bootherd.toml");
    write_file(&config, text.as_bytes());
    let out = run_bootherd(["check", "--config", config.to_str().unwrap()]);
    // The empty tree lacks the Pi's files, which check reports per machine; the
    // file itself must load (no error on stderr).
    assert!(out.stderr.is_empty(), "{}", out.describe());
    assert!(
        out.stdout.contains("kitchen-pi (profile pi4-iscsi"),
        "{}",
        out.describe()
    );
}

/// A Secure Boot (`grub`) machine: `check` lists its shim, GRUB, kernel and
/// initrd and the `<prefix>/grub.cfg` answered by its address, names each missing
/// piece, and fails when bootherd's DHCP server is off.
#[test]
fn check_names_a_secure_boot_machines_shim_grub_and_kernel() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    for file in ["bootnetx64.efi", "grubx64.efi", "linux", "initrd.gz"] {
        write_file(&root.join("di").join(file), file.as_bytes());
    }
    let config = dir.path().join("bootherd.toml");
    let text = |dhcp: bool| {
        format!(
            "[tftp]\nroot = {root:?}\n\
             [dhcp]\nenabled = {dhcp}\nlease_db = {db:?}\n\
             [[dhcp.pool]]\nsubnet = \"10.0.0.0/24\"\nrange = [\"10.0.0.200\", \"10.0.0.220\"]\n\
             [profiles.sb]\nkind = \"grub\"\nshim = \"di/bootnetx64.efi\"\n\
             grub_prefix = \"di/grub\"\nkernel = \"di/linux\"\ninitrd = \"di/initrd.gz\"\n\
             [[machines]]\nname = \"desk\"\nmac = \"52:54:00:5b:00:01\"\nip = \"10.0.0.70\"\n\
             profile = \"sb\"\n",
            root = root.display().to_string(),
            db = dir.path().join("leases.sqlite").display().to_string(),
        )
    };
    write_file(&config, text(true).as_bytes());
    let check = || run_bootherd(["check", "--config", config.to_str().unwrap()]);
    let out = check();
    assert!(out.success(), "{}", out.describe());
    for line in [
        "generated  di/grub/grub.cfg-01-52-54-00-5b-00-01",
        "generated  di/grub/grub.cfg (the same, when asked from 10.0.0.70",
        "found      m/52-54-00-5b-00-01/di/bootnetx64.efi (the signed shim",
        "found      m/52-54-00-5b-00-01/di/grubx64.efi (the signed GRUB",
        "found      m/52-54-00-5b-00-01/di/linux (kernel",
        "found      m/52-54-00-5b-00-01/di/initrd.gz (initramfs",
    ] {
        assert!(
            out.stdout.contains(line),
            "{line:?} not in:\n{}",
            out.stdout
        );
    }
    for file in ["bootnetx64.efi", "grubx64.efi", "linux"] {
        std::fs::remove_file(root.join("di").join(file)).unwrap();
    }
    let out = check();
    assert!(!out.success(), "{}", out.describe());
    for line in [
        "MISSING    m/52-54-00-5b-00-01/di/bootnetx64.efi",
        "MISSING    m/52-54-00-5b-00-01/di/grubx64.efi",
        "MISSING    m/52-54-00-5b-00-01/di/linux",
        "3 problem(s)",
    ] {
        assert!(
            out.stdout.contains(line),
            "{line:?} not in:\n{}",
            out.stdout
        );
    }
    write_file(&config, text(false).as_bytes());
    let out = check();
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("ERROR      [dhcp] is off") && out.stdout.contains("4 problem(s)"),
        "{}",
        out.stdout
    );
}

/// `<grub_prefix>/grub.cfg` is the machine's generated file when asked from its
/// `ip`, and the tree's own file when asked from any other address; the MAC-named
/// file is the same text from anywhere.
#[test]
fn grub_cfg_is_answered_by_the_asking_address() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root.join("di/grub/grub.cfg"), b"the tree's own grub.cfg");
    let config = dir.path().join("bootherd.toml");
    write_file(
        &config,
        format!(
            "[tftp]\nroot = {:?}\n\
             [profiles.sb]\nkind = \"grub\"\nshim = \"di/bootnetx64.efi\"\n\
             grub_prefix = \"di/grub\"\nkernel = \"di/linux\"\ncmdline = \"quiet\"\n\
             [[machines]]\nname = \"desk\"\nmac = \"52:54:00:5b:00:01\"\n\
             ip = \"127.0.0.70\"\nprofile = \"sb\"\n",
            root.display().to_string()
        )
        .as_bytes(),
    );
    let server = Server::start_local_config(&config);
    let tftp = server.tftp_addr();
    let by_mac = tftp_get(tftp, "di/grub/grub.cfg-01-52-54-00-5b-00-01").unwrap();
    let by_mac = String::from_utf8(by_mac).unwrap();
    assert!(
        by_mac.contains("linux /m/52-54-00-5b-00-01/di/linux quiet"),
        "{by_mac}"
    );
    assert_eq!(
        tftp_get_from("127.0.0.70", tftp, "di/grub/grub.cfg").unwrap(),
        by_mac.as_bytes()
    );
    // GRUB asks with a leading slash.
    assert_eq!(
        tftp_get_from("127.0.0.70", tftp, "/di/grub/grub.cfg").unwrap(),
        by_mac.as_bytes()
    );
    assert_eq!(
        tftp_get_from("127.0.0.71", tftp, "di/grub/grub.cfg").unwrap(),
        b"the tree's own grub.cfg"
    );
    assert_eq!(
        tftp_get(tftp, "di/grub/grub.cfg").unwrap(),
        b"the tree's own grub.cfg"
    );
    // Another prefix is not the machine's.
    assert!(tftp_get_from("127.0.0.70", tftp, "grub/grub.cfg").is_err());
}
