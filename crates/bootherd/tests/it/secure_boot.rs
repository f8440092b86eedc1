//! UEFI Secure Boot through bootherd, with Debian 12's real parts: OVMF with the
//! Microsoft keys enrolled (`OVMF_CODE_4M.ms.fd`, a per-guest copy of
//! `OVMF_VARS_4M.ms.fd`), the signed shim (`bootnetx64.efi`), the signed netboot
//! GRUB (`grubx64.efi`) and the signed installer kernel of
//! `debian-installer-12-netboot-amd64`. dnsmasq in `NAME-lan` is the LAN's DHCP
//! server and leaves three of the UEFI machines to bootherd, whose DHCP server
//! owns them (their inventory entries have an `ip`); bootherd in `NAME-srv`
//! serves TFTP and HTTP on port 80, and proxyDHCP. The four guests boot at once:
//! - `sb-pxe`: PXE, shim, GRUB, the generated `grub.cfg`, the signed kernel;
//!   the kernel's own `Secure boot enabled` and the generated command line (with a
//!   per-run tag) on the serial console prove the chain.
//! - `sb-http`: UEFI HTTP boot (PXE turned off through fw_cfg): the firmware
//!   gets bootherd's URL, downloads and verifies the shim, the shim downloads and
//!   verifies GRUB over HTTP; Debian 12's GRUB 2.06 then has no network
//!   configuration (it takes it only from the PXE base code's DHCP packets) and
//!   stops at its `grub>` prompt, asking nothing more. The test asserts exactly
//!   that, so a GRUB that gets further makes it fail, to be updated.
//! - `unsigned`: the negative control: its "shim" is Debian's unsigned
//!   `ipxe.efi`; the firmware downloads it and refuses it.
//! - `proxy-http`: not owned: UEFI HTTP boot with dnsmasq's address and the URL
//!   from bootherd's proxy (an `efi` machine whose binary is the shim); the shim
//!   runs and GRUB starts.
//!
//! Then a foreign client (busybox udhcpc) gets its lease from dnsmasq and no
//! packet from bootherd.
//!
//! What these parts do here (PROTOCOLS.md section 7 has the details and sources):
//! - The Secure Boot OVMF build needs SMM (`-machine q35,smm=on` and
//!   `-global driver=cfi.pflash01,property=secure,value=on`) and 1 GiB.
//! - OVMF honours `-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n` (and
//!   the IPv6 one): the NIC then has only its HTTP boot options.
//! - Debian's signed GRUB runs its built-in `normal (memdisk)/grub.cfg`, which
//!   sources `$prefix/grub.cfg` (prefix `/debian-installer/amd64/grub`); it never
//!   asks for `grub.cfg-01-<mac>`, so bootherd answers `$prefix/grub.cfg` by the
//!   asking address.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::dhcp_lab::{lease_of, owned_dhcp_section, start_dhcp_server_logging, write_tftp_config};
use crate::pxe_lab::Guest;
use crate::support::{
    in_range, need_lab_files, newc_cpio, tail, temp_dir, write_file, Capture, Dnsmasq, Lab, Server,
    BOOTHERD_DHCP_REPLIES, LAN_RANGE,
};

const QEMU: &str = "qemu-system-x86_64";
const OVMF_CODE_MS: &str = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd";
const OVMF_VARS_MS: &str = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";
/// Debian 12's amd64 netboot tree: signed shim, signed GRUB, signed kernel.
const DI: &str = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";
const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";

/// The d-i tree's folder, as the tree served here names it.
const FOLDER: &str = "debian-installer/amd64";

struct Machine {
    name: &'static str,
    mac: &'static str,
    ip: Ipv4Addr,
    profile: &'static str,
}

const SB_PXE: Machine = Machine {
    name: "sb-pxe",
    mac: "52:54:00:5b:00:01",
    ip: Ipv4Addr::new(10, 99, 0, 231),
    profile: "debian-sb",
};
const SB_HTTP: Machine = Machine {
    name: "sb-http",
    mac: "52:54:00:5b:00:02",
    ip: Ipv4Addr::new(10, 99, 0, 232),
    profile: "debian-sb",
};
const UNSIGNED: Machine = Machine {
    name: "unsigned",
    mac: "52:54:00:5b:00:03",
    ip: Ipv4Addr::new(10, 99, 0, 233),
    profile: "unsigned",
};

/// Not owned (no `ip`): dnsmasq gives its address, bootherd's proxy its URL.
const PROXY_HTTP: Machine = Machine {
    name: "proxy-http",
    mac: "52:54:00:5b:00:04",
    ip: Ipv4Addr::UNSPECIFIED,
    profile: "shim-via-proxy",
};

/// How long a guest may take to reach the kernel or GRUB (TCG, four guests at
/// once on a busy 2-core machine: 50 to 110 s here).
const BOOT_LIMIT: Duration = Duration::from_secs(240);

impl Machine {
    fn dashes(&self) -> String {
        self.mac.replace(':', "-")
    }

    /// Its path for `file` in its namespace, as bootherd serves it.
    fn path(&self, file: &str) -> String {
        format!("m/{}/{file}", self.dashes())
    }

    fn entry(&self) -> String {
        format!(
            "[[machines]]\nname = \"{}\"\nmac = \"{}\"\nip = \"{}\"\nprofile = \"{}\"\n",
            self.name, self.mac, self.ip, self.profile
        )
    }
}

/// The boot tree: the d-i files and the unsigned ipxe.efi, a tiny initrd (the
/// firmware checks no initrd: it only has to exist), and the inventory.
fn build_tree(root: &Path, tag: &str) -> String {
    for file in ["bootnetx64.efi", "grubx64.efi", "linux"] {
        let from = format!("{DI}/{file}");
        let bytes = std::fs::read(&from).unwrap_or_else(|e| panic!("read {from}: {e}"));
        write_file(&root.join(FOLDER).join(file), &bytes);
    }
    let marker = format!("bootherd secure boot {tag}\n");
    write_file(
        &root.join(FOLDER).join("bh-initrd.cpio"),
        &newc_cpio(&[("bootherd-tag", marker.as_bytes())]),
    );
    let ipxe = std::fs::read(IPXE_EFI).unwrap_or_else(|e| panic!("read {IPXE_EFI}: {e}"));
    write_file(&root.join("ipxe.efi"), &ipxe);
    // Nothing under the prefix: every grub.cfg GRUB reads comes from bootherd.
    assert!(!root.join(FOLDER).join("grub").exists());
    format!(
        "[profiles.debian-sb]\n\
         kind = \"grub\"\n\
         shim = \"{FOLDER}/bootnetx64.efi\"\n\
         grub_prefix = \"{FOLDER}/grub\"\n\
         kernel = \"{FOLDER}/linux\"\n\
         initrd = \"{FOLDER}/bh-initrd.cpio\"\n\
         cmdline = \"console=ttyS0,115200 panic=-1 bootherd.tag={tag}-{{name}}\"\n\
         [profiles.unsigned]\n\
         kind = \"grub\"\n\
         shim = \"ipxe.efi\"\n\
         grub_prefix = \"{FOLDER}/grub\"\n\
         kernel = \"{FOLDER}/linux\"\n\
         [profiles.shim-via-proxy]\n\
         kind = \"efi\"\n\
         kernel = \"{FOLDER}/bootnetx64.efi\"\n\
         {}{}{}\
         [[machines]]\n\
         name = \"{}\"\n\
         mac = \"{}\"\n\
         profile = \"shim-via-proxy\"\n",
        SB_PXE.entry(),
        SB_HTTP.entry(),
        UNSIGNED.entry(),
        PROXY_HTTP.name,
        PROXY_HTTP.mac,
    )
}

/// QEMU arguments for OVMF with Secure Boot enforced, on tap `tap`, with its own
/// copy of the variable store in `dir`; `http_only` turns its PXE options off.
fn ovmf_machine(dir: &Path, tap: &str, mac: &str, http_only: bool) -> Vec<String> {
    let vars = dir.join("OVMF_VARS.fd");
    std::fs::copy(OVMF_VARS_MS, &vars).expect("copy OVMF_VARS_4M.ms.fd");
    let mut args: Vec<String> = [
        "-machine",
        "q35,smm=on",
        "-global",
        "driver=cfi.pflash01,property=secure,value=on",
        "-m",
        "1024",
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE_MS}"),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
        "-netdev".into(),
        format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
        // No option ROM: OVMF's own network stack, first in the boot order.
        "-device".into(),
        format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=0"),
    ]);
    if http_only {
        for knob in ["IPv4PXESupport", "IPv6PXESupport"] {
            args.push("-fw_cfg".into());
            args.push(format!("name=opt/org.tianocore/{knob},string=n"));
        }
    }
    args
}

/// Waits until every needle is on `guest`'s console, in any order; the console,
/// or why not.
fn wait_all(guest: &mut Guest, needles: &[&str], limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    loop {
        let console = guest.console();
        if needles.iter().all(|n| console.contains(n)) {
            return Ok(console);
        }
        let missing: Vec<&&str> = needles.iter().filter(|n| !console.contains(**n)).collect();
        if !guest.bg.is_running() {
            return Err(format!(
                "QEMU exited without {missing:?} on the console: {}\n--- serial (tail) ---\n{}",
                guest.bg.describe(),
                tail(&console, 5000)
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{missing:?} not on the console within {limit:?}\n--- serial (tail) ---\n{}",
                tail(&console, 5000)
            ));
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// One guest with its own directory (console, variable store) and tap.
fn start_guest(lab: &Lab, dir: &Path, machine: &Machine, tap: &str, http: bool) -> Guest {
    let own: PathBuf = dir.join(machine.name);
    std::fs::create_dir_all(&own).unwrap();
    lab.add_tap(tap);
    let args = ovmf_machine(&own, tap, machine.mac, http);
    Guest::start(lab, &own, &args, BOOT_LIMIT.as_secs() + 60)
}

/// Fails with the console, bootherd's log and dnsmasq's log tail.
fn fail(why: &str, server: &Server, lan: &Dnsmasq) -> ! {
    panic!(
        "{why}\n--- bootherd ---\n{}\n--- dnsmasq (tail) ---\n{}",
        tail(&server.log_text(), 12000),
        tail(&lan.log_text(), 3000)
    )
}

#[test]
fn secure_boot_shim_grub_signed_kernel_over_pxe_and_http_and_unsigned_refused() {
    let test =
        "secure_boot::secure_boot_shim_grub_signed_kernel_over_pxe_and_http_and_unsigned_refused";
    let di_files: Vec<String> = ["bootnetx64.efi", "grubx64.efi", "linux"]
        .iter()
        .map(|f| format!("{DI}/{f}"))
        .collect();
    let mut files = vec![OVMF_CODE_MS, OVMF_VARS_MS, IPXE_EFI];
    files.extend(di_files.iter().map(String::as_str));
    if !need_lab_files(test, &[QEMU, "dnsmasq", "tcpdump", "busybox"], &files) {
        return;
    }
    let started = Instant::now();
    let dir = temp_dir();
    let root = dir.path().join("root");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag = format!("bh{}x{nanos:x}", std::process::id());
    let inventory = build_tree(&root, &tag);
    let db = dir.path().join("leases.sqlite");
    let config = write_tftp_config(
        dir.path(),
        &root,
        &format!(
            "[proxy]\nenabled = true\n{}\n{inventory}",
            owned_dhcp_section(&db, &[], &[], "")
        ),
    );
    let lab = Lab::up();
    // The LAN's server leaves the three owned UEFI machines to bootherd, as its
    // administrator would; it gives proxy-http its address.
    let lan = Dnsmasq::lan(
        &lab,
        dir.path(),
        "1h",
        &[SB_PXE.mac, SB_HTTP.mac, UNSIGNED.mac],
    );
    let server = start_dhcp_server_logging(&lab.srv(), &config, &[], Some("info"));

    let mut boots = [
        start_guest(&lab, dir.path(), &SB_PXE, "tapsb0", false),
        start_guest(&lab, dir.path(), &SB_HTTP, "tapsb1", true),
        start_guest(&lab, dir.path(), &UNSIGNED, "tapsb2", false),
        start_guest(&lab, dir.path(), &PROXY_HTTP, "tapsb3", true),
    ];

    // (a) The kernel runs, with Secure Boot on, and the generated command line.
    let cmdline = format!("bootherd.tag={tag}-{}", SB_PXE.name);
    let pxe = wait_all(
        &mut boots[0],
        &["Secure boot enabled", &cmdline, "Freeing initrd memory"],
        BOOT_LIMIT,
    );
    let pxe_secs = boots[0].started.elapsed().as_secs_f64();
    boots[0].bg.stop(Duration::from_secs(3));
    let pxe_console = pxe.unwrap_or_else(|why| fail(&format!("sb-pxe: {why}"), &server, &lan));
    // (b) Over HTTP boot the firmware and shim do their part; Debian 12's GRUB
    // 2.06 then finds no network configuration and stops at its prompt.
    let http = wait_all(&mut boots[1], &["Welcome to GRUB!", "grub> "], BOOT_LIMIT);
    let http_secs = boots[1].started.elapsed().as_secs_f64();
    // Anything GRUB would still ask for, it asks within these seconds.
    thread::sleep(Duration::from_secs(5));
    boots[1].bg.stop(Duration::from_secs(3));
    let http_console = http.unwrap_or_else(|why| fail(&format!("sb-http: {why}"), &server, &lan));
    // (c): the unsigned binary is downloaded, then refused.
    let refused = wait_all(&mut boots[2], &["Access Denied"], BOOT_LIMIT);
    let unsigned_secs = boots[2].started.elapsed().as_secs_f64();
    // Give it a moment to show that nothing runs after the refusal.
    thread::sleep(Duration::from_secs(2));
    let unsigned_console = boots[2].console();
    boots[2].bg.stop(Duration::from_secs(3));
    if let Err(why) = refused {
        fail(&format!("unsigned: {why}"), &server, &lan);
    }
    // HTTP boot through the proxy: the shim runs and loads GRUB.
    let proxied = wait_all(&mut boots[3], &["Welcome to GRUB!"], BOOT_LIMIT);
    let proxied_secs = boots[3].started.elapsed().as_secs_f64();
    boots[3].bg.stop(Duration::from_secs(3));
    let proxied_console =
        proxied.unwrap_or_else(|why| fail(&format!("proxy-http: {why}"), &server, &lan));
    drop(boots);

    let lines = |console: &str, words: &[&str]| {
        console
            .lines()
            .filter(|l| words.iter().any(|w| l.contains(w)))
            .map(|l| l.chars().take(200).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n  ")
    };
    eprintln!(
        "sb-pxe: kernel with Secure Boot after {pxe_secs:.1} s:\n  {}",
        lines(
            &pxe_console,
            &["Secure boot", "Command line:", "BdsDxe", "initrd memory"]
        )
    );
    eprintln!(
        "sb-http: GRUB prompt after {http_secs:.1} s:\n  {}",
        lines(&http_console, &["URI:", "BdsDxe", "GRUB"])
    );
    assert!(
        pxe_console.contains("Start PXE over IPv4"),
        "sb-pxe did not boot through OVMF's PXE client:\n{}",
        tail(&pxe_console, 4000)
    );
    let uri = format!(
        "URI: http://10.99.0.1/{}",
        SB_HTTP.path(&format!("{FOLDER}/bootnetx64.efi"))
    );
    assert!(
        http_console.contains("Start HTTP Boot over IPv4")
            && http_console.contains(&uri)
            && !http_console.contains("Start PXE"),
        "sb-http did not boot through OVMF's HTTP boot client alone, from bootherd's URI:\n{}",
        tail(&http_console, 4000)
    );

    // Each machine has its reserved address from bootherd, and bootherd sent
    // each link of the chain to it.
    for m in [&SB_PXE, &SB_HTTP, &UNSIGNED] {
        let lease = lease_of(&db, m.mac);
        assert!(
            matches!(&lease, Some(l) if l.ip == m.ip),
            "{}: bootherd's lease database holds {lease:?}, not {}",
            m.name,
            m.ip
        );
        assert_eq!(lan.lease_of(m.mac), None, "{} has a dnsmasq lease", m.name);
    }
    let shim = format!("{FOLDER}/bootnetx64.efi");
    let grub = format!("{FOLDER}/grubx64.efi");
    // PXE: shim and GRUB over TFTP from the machine's folder, then GRUB's config
    // by its address, the kernel by the generated config's path. (The initrd
    // is proven by the kernel's "Freeing initrd memory": GRUB starts the kernel
    // right after its last block, and its last ACK may never leave the NIC, so
    // bootherd does not always log it as sent.)
    for file in [
        SB_PXE.path(&shim),
        SB_PXE.path(&grub),
        format!("/{FOLDER}/grub/grub.cfg"),
        format!("/{}", SB_PXE.path(&format!("{FOLDER}/linux"))),
    ] {
        let sent = server.log_lines_with(&[
            "tftp: sent",
            &format!("peer={}:", SB_PXE.ip),
            &format!("file={file} "),
        ]);
        if sent.is_empty() {
            fail(
                &format!("sb-pxe: bootherd did not send {file}"),
                &server,
                &lan,
            );
        }
    }
    // HTTP: shim, then GRUB over HTTP (shim asks with a doubled slash), then
    // nothing: no grub.cfg, no kernel.
    for path in [
        format!("/{}", SB_HTTP.path(&shim)),
        format!("/{}", SB_HTTP.path(&format!("{FOLDER}//grubx64.efi"))),
    ] {
        let got = server.log_lines_with(&[
            "http: request",
            &format!("peer={}:", SB_HTTP.ip),
            "method=GET",
            &format!("path=\"{path}\""),
            "status=200",
        ]);
        if got.is_empty() {
            fail(
                &format!("sb-http: bootherd did not send {path} over HTTP"),
                &server,
                &lan,
            );
        }
    }
    let after_grub: Vec<String> = server
        .log_lines_with(&[&format!("peer={}:", SB_HTTP.ip)])
        .into_iter()
        .skip_while(|l| !l.contains("grubx64.efi"))
        .skip(1)
        .collect();
    assert!(
        after_grub.is_empty(),
        "GRUB after HTTP boot asked bootherd for more: update PROTOCOLS.md section 7 and this test:\n{}",
        after_grub.join("\n")
    );

    // The negative control: ipxe.efi downloaded whole, then refused; iPXE never ran.
    let ipxe_len = std::fs::metadata(root.join("ipxe.efi")).unwrap().len();
    let sent = server.log_lines_with(&[
        "tftp: sent",
        &format!("peer={}:", UNSIGNED.ip),
        &format!("file={} ", UNSIGNED.path("ipxe.efi")),
        &format!("bytes={ipxe_len} "),
    ]);
    if sent.is_empty() {
        fail(
            "unsigned: bootherd did not log sending ipxe.efi whole",
            &server,
            &lan,
        );
    }
    assert!(
        !unsigned_console.contains("iPXE"),
        "the unsigned iPXE ran under Secure Boot:\n{}",
        tail(&unsigned_console, 4000)
    );
    eprintln!(
        "unsigned: refused after {unsigned_secs:.1} s: {}",
        unsigned_console
            .lines()
            .filter(|l| l.contains("Access Denied"))
            .collect::<Vec<_>>()
            .join(" | ")
    );

    // UEFI HTTP boot through the proxy: the address from dnsmasq, the URL from
    // bootherd, shim and GRUB over HTTP.
    eprintln!(
        "proxy-http: GRUB after {proxied_secs:.1} s:\n  {}",
        lines(&proxied_console, &["URI:", "Station IP", "GRUB"])
    );
    let proxied_ip = lan.lease_of(PROXY_HTTP.mac);
    assert!(
        matches!(proxied_ip, Some(ip) if in_range(ip, LAN_RANGE)),
        "proxy-http has no dnsmasq lease: {proxied_ip:?}\n{}",
        lan.leases_text()
    );
    let proxied_ip = proxied_ip.unwrap();
    let uri = format!(
        "URI: http://10.99.0.1/{}",
        PROXY_HTTP.path(&format!("{FOLDER}/bootnetx64.efi"))
    );
    assert!(
        proxied_console.contains(&format!("Station IP address is {proxied_ip}"))
            && proxied_console.contains(&uri),
        "proxy-http did not HTTP boot from bootherd's URI with dnsmasq's address:\n{}",
        tail(&proxied_console, 4000)
    );
    for path in [
        format!("/{}", PROXY_HTTP.path(&shim)),
        format!("/{}", PROXY_HTTP.path(&format!("{FOLDER}//grubx64.efi"))),
    ] {
        let got = server.log_lines_with(&[
            "http: request",
            &format!("peer={proxied_ip}:"),
            "method=GET",
            &format!("path=\"{path}\""),
            "status=200",
        ]);
        if got.is_empty() {
            fail(
                &format!("proxy-http: bootherd did not send {path}"),
                &server,
                &lan,
            );
        }
    }
    if server
        .log_lines_with(&[
            "proxy: offer",
            &format!("mac={}", PROXY_HTTP.mac),
            "UEFI HTTP boot",
        ])
        .is_empty()
    {
        fail(
            "proxy-http: bootherd's proxy logged no answer to it",
            &server,
            &lan,
        );
    }

    // (d) A foreign client: its lease from dnsmasq, not one packet from bootherd.
    let mut from_server =
        Capture::on_server(&lab, BOOTHERD_DHCP_REPLIES, dir.path(), "from-bootherd");
    let out = lab.udhcpc_once("br0", 3, &[]);
    let said = format!("{}{}", out.stdout, out.stderr);
    let leased: Option<Ipv4Addr> = said
        .split("lease of ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|ip| ip.parse().ok());
    assert!(
        matches!(leased, Some(ip) if in_range(ip, LAN_RANGE)),
        "udhcpc got no dnsmasq lease: {}",
        out.describe()
    );
    from_server.expect_silent(
        Duration::from_millis(500),
        "a client bootherd does not own must get no DHCP packet from it",
    );
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}
