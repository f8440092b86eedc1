//! `bootherd init`: a starting configuration for this host, so that a first run
//! needs no reading. It lists the host's interfaces and subnets, fills in the
//! boot root, switches on every kind of firmware it finds there, and ends with
//! commented examples of each kind of machine. Gathering the facts ([`Host`],
//! [`Found`]) is kept apart from writing the file ([`render`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

/// Where the boot files live when `--root` is not given (the packaged
/// configuration's root too).
pub const DEFAULT_ROOT: &str = "/srv/bootherd";

/// Where the packaged service keeps its lease database, used when its
/// directory exists (the package is installed).
pub const LEASE_DB: &str = "/var/lib/bootherd/leases.sqlite";

/// The lease database otherwise: next to the configuration file.
const LEASE_DB_BESIDE: &str = "leases.sqlite";

/// Addresses the DHCP server for U-Boot boards hands out, at the top of the subnet.
const POOL_SIZE: u32 = 20;

/// One IPv4 address of one interface, with its subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddr {
    /// Interface name.
    pub interface: String,
    /// The address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The default route's gateway through this interface, if there is one.
    pub gateway: Option<Ipv4Addr>,
}

impl HostAddr {
    fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & mask(self.prefix))
    }

    fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    fn subnet(&self) -> String {
        format!("{}/{}", self.network(), self.prefix)
    }

    /// [`POOL_SIZE`] addresses at the top of the subnet, below its last usable
    /// one (often a router's), clear of this host's address and the gateway;
    /// `None` when the subnet is too small.
    fn pool(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let network = u32::from(self.network());
        let mut last = u32::from(self.broadcast()).checked_sub(2)?;
        let taken = [Some(self.addr), self.gateway];
        loop {
            let first = last.checked_sub(POOL_SIZE - 1)?;
            if first <= network {
                return None;
            }
            let clash = taken
                .iter()
                .flatten()
                .map(|&a| u32::from(a))
                .filter(|a| (first..=last).contains(a))
                .min();
            match clash {
                None => return Some((Ipv4Addr::from(first), Ipv4Addr::from(last))),
                Some(a) => last = a.checked_sub(1)?,
            }
        }
    }
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// This host's IPv4 addresses on interfaces that are up, loopback left out.
pub fn host_addresses() -> anyhow::Result<Vec<HostAddr>> {
    use nix::net::if_::InterfaceFlags;
    let gateways = default_gateways();
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().context("listing this host's interfaces")? {
        if !ifa.flags.contains(InterfaceFlags::IFF_UP)
            || ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK)
        {
            continue;
        }
        let Some(addr) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            continue;
        };
        let prefix = ifa
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in())
            .map_or(32, |m| u32::from(m.ip()).count_ones() as u8);
        let host = HostAddr {
            gateway: gateways
                .iter()
                .find(|(name, _)| *name == ifa.interface_name)
                .map(|&(_, gw)| gw),
            interface: ifa.interface_name,
            addr: addr.ip(),
            prefix,
        };
        if !out.contains(&host) {
            out.push(host);
        }
    }
    Ok(out)
}

/// (interface, gateway) of each IPv4 default route, from `/proc/net/route`
/// (nothing when it cannot be read).
fn default_gateways() -> Vec<(String, Ipv4Addr)> {
    std::fs::read_to_string("/proc/net/route")
        .map(|text| parse_routes(&text))
        .unwrap_or_default()
}

/// The default routes in `/proc/net/route`'s text: `Iface Destination Gateway
/// ...`, addresses in hex, in the host's byte order.
fn parse_routes(text: &str) -> Vec<(String, Ipv4Addr)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (iface, dest, gateway) = (fields.next()?, fields.next()?, fields.next()?);
            if dest != "00000000" {
                return None;
            }
            // The kernel prints the address's four bytes as one host-order number.
            let gateway = Ipv4Addr::from(u32::from_str_radix(gateway, 16).ok()?.to_ne_bytes());
            (!gateway.is_unspecified()).then(|| (iface.to_string(), gateway))
        })
        .collect()
}

/// The kinds of boot firmware found in a boot root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Raspberry Pi firmware (`bootcode.bin`, `start4.elf`), as paths in the root.
    pub rpi: Vec<String>,
    /// iPXE for UEFI x86-64 PCs.
    pub ipxe_efi: bool,
    /// iPXE for BIOS PCs.
    pub undionly: bool,
    /// PXELINUX for BIOS PCs.
    pub pxelinux_0: bool,
    /// `pxelinux.cfg/`: U-Boot boards (and PXELINUX).
    pub pxelinux_cfg: bool,
}

impl Found {
    /// Looks in `root` and, for the Pi firmware, in its direct subdirectories
    /// (a Pi's serial or MAC folder). A root that does not exist holds nothing.
    pub fn scan(root: &Path) -> Found {
        let is_file = |name: &str| root.join(name).is_file();
        let mut rpi = Vec::new();
        for name in RPI_FIRMWARE {
            if is_file(name) {
                rpi.push(name.to_string());
            }
        }
        let mut folders: Vec<PathBuf> = std::fs::read_dir(root)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        folders.sort();
        for folder in folders {
            for name in RPI_FIRMWARE {
                if folder.join(name).is_file() {
                    let folder = folder.file_name().unwrap_or_default().to_string_lossy();
                    rpi.push(format!("{folder}/{name}"));
                }
            }
        }
        Found {
            rpi,
            ipxe_efi: is_file("ipxe.efi"),
            undionly: is_file("undionly.kpxe"),
            pxelinux_0: is_file("pxelinux.0"),
            pxelinux_cfg: root.join("pxelinux.cfg").is_dir(),
        }
    }

    fn anything(&self) -> bool {
        !self.rpi.is_empty() || self.ipxe_efi || self.undionly || self.pxelinux_0
    }
}

/// The Raspberry Pi firmware files whose presence means Pis boot from the root.
const RPI_FIRMWARE: [&str; 2] = ["bootcode.bin", "start4.elf"];

/// The lease database `init` names: the package's state directory when it
/// exists, else a file next to the configuration.
pub fn lease_db() -> &'static str {
    match Path::new(LEASE_DB).parent().is_some_and(Path::is_dir) {
        true => LEASE_DB,
        false => LEASE_DB_BESIDE,
    }
}

/// What `init` writes, for a host with `addrs`, boot root `root` holding `found`,
/// with the DHCP server's leases in `lease_db`.
pub fn render(addrs: &[HostAddr], root: &Path, found: &Found, lease_db: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    let root_text = root.display().to_string();
    let _ = writeln!(
        w,
        "# bootherd configuration, a starting point written by `bootherd init`.\n\
         # Check it with `bootherd check --config FILE`; README.md lists every key.\n"
    );

    let _ = writeln!(w, "[net]");
    if addrs.is_empty() {
        let _ = writeln!(
            w,
            "# No interface with an IPv4 address was found: bootherd serves on every\n\
             # address the host has when it starts.\n\
             # interfaces = [\"eth0\"]"
        );
    } else {
        let _ = writeln!(
            w,
            "# This host's interfaces (remove those that must not serve boot files):"
        );
        for a in addrs {
            let gateway = a
                .gateway
                .map(|g| format!(", gateway {g}"))
                .unwrap_or_default();
            let _ = writeln!(
                w,
                "#   {:<10} {}/{} (subnet {}{gateway})",
                a.interface,
                a.addr,
                a.prefix,
                a.subnet()
            );
        }
        let mut names: Vec<&str> = Vec::new();
        for a in addrs {
            if !names.contains(&a.interface.as_str()) {
                names.push(&a.interface);
            }
        }
        let _ = writeln!(w, "interfaces = {}", toml_list(&names));
    }

    let _ = writeln!(w, "\n[tftp]");
    let _ = writeln!(
        w,
        "root = {}   # the boot files; also served over HTTP",
        toml_str(&root_text)
    );
    if !root.is_dir() {
        let _ = writeln!(
            w,
            "# {root_text} does not exist yet: create it and put the boot files there."
        );
    }

    let _ = writeln!(
        w,
        "\n[proxy]   # boot answers for Pis and PCs; never addresses"
    );
    let _ = writeln!(
        w,
        "enabled = {}{}",
        found.anything(),
        match found.anything() {
            true => "   # firmware found in the root, switched on below",
            false => "   # nothing to boot found in the root yet: add firmware, then set true",
        }
    );
    let _ = writeln!(
        w,
        "rpi = {}{}",
        !found.rpi.is_empty(),
        match found.rpi.is_empty() {
            true => "   # no bootcode.bin or start4.elf found".to_string(),
            false => format!("   # Raspberry Pi firmware found: {}", found.rpi.join(", ")),
        }
    );
    let bios = match (found.undionly, found.pxelinux_0) {
        (true, _) => ("undionly.kpxe", "iPXE for BIOS PCs found"),
        (false, true) => ("pxelinux.0", "PXELINUX found"),
        (false, false) => ("", "no undionly.kpxe or pxelinux.0 found"),
    };
    let _ = writeln!(w, "bios = {}   # {}", toml_str(bios.0), bios.1);
    let (efi, why) = match found.ipxe_efi {
        true => ("ipxe.efi", "iPXE for UEFI PCs found"),
        false => ("", "no ipxe.efi found"),
    };
    let _ = writeln!(w, "uefi_x64 = {}   # {why}", toml_str(efi));
    let _ = writeln!(w, "http_x64 = {}   # UEFI HTTP boot", toml_str(efi));

    let _ = writeln!(
        w,
        "\n[dhcp]   # bootherd's DHCP server, for U-Boot boards: they drop offers without an address"
    );
    let pool = addrs.iter().find_map(|a| Some((a, a.pool()?)));
    match (found.pxelinux_cfg, pool) {
        (true, Some((a, (first, last)))) => {
            let _ = writeln!(
                w,
                "enabled = true   # pxelinux.cfg/ found: U-Boot boards boot from it\n\
                 lease_db = {}\n\
                 own_vendor_classes = [\"U-Boot.*\"]   # every U-Boot board; or list own_macs = [...]\n\
                 [dhcp.boot]\n\
                 file = \"pxelinux.0\"   # U-Boot looks for pxelinux.cfg/ next to it\n\
                 [[dhcp.pool]]\n\
                 subnet = {}\n\
                 # Make sure the LAN's own DHCP server does not hand out these addresses.\n\
                 range = [{}, {}]",
                toml_str(lease_db),
                toml_str(&a.subnet()),
                toml_str(&first.to_string()),
                toml_str(&last.to_string()),
            );
            if let Some(gateway) = a.gateway {
                let _ = writeln!(w, "router = {}", toml_str(&gateway.to_string()));
            }
        }
        (true, None) => {
            let _ = writeln!(
                w,
                "# pxelinux.cfg/ found, but no subnet here has room for a pool: fill one in.\n\
                 enabled = false\n\
                 lease_db = {}",
                toml_str(lease_db)
            );
        }
        (false, _) => {
            let _ = writeln!(
                w,
                "enabled = false   # no pxelinux.cfg/ found\n\
                 lease_db = {}",
                toml_str(lease_db)
            );
        }
    }

    let server = addrs
        .first()
        .map_or(Ipv4Addr::new(10, 0, 0, 5), |a| a.addr)
        .to_string();
    out.push('\n');
    out.push_str(&commented(&examples(&server)));
    out
}

/// One profile and one machine of each kind, as valid TOML (see the tests).
fn examples(server: &str) -> String {
    EXAMPLES.replace("SERVER", server)
}

const EXAMPLES: &str = r#"# Machines: one profile per kind of board, one [[machines]] entry per board.
# Uncomment and edit; `bootherd show --config FILE NAME` prints what a machine
# is served, and docs/EXAMPLES.md walks through each kind.

# A Raspberry Pi 4 with its root on NFS (model = "pi3" for a Pi 3):
[profiles.pi4-nfs]
kind = "rpi"
kernel = "kernel8.img"
cmdline = "console=serial0,115200 console=tty1"
root = { type = "nfs", server = "SERVER", path = "/srv/nfs/{name}" }

[[machines]]
name = "kitchen-pi"
mac = "dc:a6:32:01:36:c2"
serial = "9ffefdef"   # /proc/cpuinfo's Serial, its last 8 digits
profile = "pi4-nfs"

# A U-Boot board (ROCK64) with PXELINUX files; it needs [dhcp] above:
[profiles.rock64]
kind = "pxelinux"
kernel = "Image"
initrd = "initrd.img"
fdtdir = "dtbs"
cmdline = "console=ttyS2,1500000"
root = { type = "nfs", server = "SERVER", path = "/srv/nfs/rock64/{mac}" }

[[machines]]
name = "rock64-a"
mac = "02:ab:cd:00:00:01"
profile = "rock64"

# A PC that boots iPXE, then its own script over HTTP:
[profiles.pc-ipxe]
kind = "ipxe"
kernel = "vmlinuz"
initrd = "initrd.img"
cmdline = "console=tty0"
root = { type = "nfs", server = "SERVER", path = "/srv/nfs/pc", options = "ro" }

[[machines]]
name = "office-pc"
mac = "52:54:00:12:34:56"
profile = "pc-ipxe"

# A UEFI PC that boots an EFI program of its own (GRUB here):
[profiles.grub]
kind = "efi"
kernel = "grubnetx64.efi"

[[machines]]
name = "lab-pc"
mac = "52:54:00:12:34:57"
profile = "grub"
"#;

/// Comments out every TOML line of `toml` (comment and blank lines stay).
fn commented(toml: &str) -> String {
    toml.lines()
        .map(|line| match line.is_empty() || line.starts_with('#') {
            true => format!("{line}\n"),
            false => format!("# {line}\n"),
        })
        .collect()
}

fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn toml_list(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|i| toml_str(i)).collect();
    format!("[{}]", items.join(", "))
}

/// Runs `bootherd init`: writes the configuration to `output` (refusing to
/// replace a file unless `force`), or to stdout, and says what to do next.
pub fn run(root: Option<&Path>, output: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
    let root = match root {
        Some(root) => {
            std::path::absolute(root).with_context(|| format!("--root {}", root.display()))?
        }
        None => PathBuf::from(DEFAULT_ROOT),
    };
    let addrs = host_addresses()?;
    let found = Found::scan(&root);
    let text = render(&addrs, &root, &found, lease_db());
    let shown = match output.filter(|p| *p != Path::new("-")) {
        None => {
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("writing to stdout")?;
            "FILE".to_string()
        }
        Some(path) => {
            if path.exists() && !force {
                bail!(
                    "{} exists; not replacing it (--force replaces it)",
                    path.display()
                );
            }
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("bootherd init: wrote {}", path.display());
            path.display().to_string()
        }
    };
    if !found.anything() && !found.pxelinux_cfg {
        eprintln!(
            "bootherd init: no boot firmware found in {}: proxyDHCP stays off until you add some",
            root.display()
        );
    }
    eprintln!("bootherd init: next, run `bootherd check --config {shown}`");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn host(interface: &str, addr: [u8; 4], prefix: u8, gateway: Option<[u8; 4]>) -> HostAddr {
        HostAddr {
            interface: interface.into(),
            addr: addr.into(),
            prefix,
            gateway: gateway.map(Ipv4Addr::from),
        }
    }

    #[test]
    fn routes_give_the_default_gateway_per_interface() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                    eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            parse_routes(text),
            vec![("eth0".to_string(), Ipv4Addr::new(192, 168, 0, 1))]
        );
    }

    #[test]
    fn the_pool_sits_at_the_top_of_the_subnet_clear_of_host_and_gateway() {
        let a = host("eth0", [192, 168, 1, 10], 24, Some([192, 168, 1, 1]));
        assert_eq!(a.subnet(), "192.168.1.0/24");
        assert_eq!(
            a.pool(),
            Some(([192, 168, 1, 234].into(), [192, 168, 1, 253].into()))
        );
        let b = host("eth0", [192, 168, 1, 240], 24, Some([192, 168, 1, 254]));
        assert_eq!(
            b.pool(),
            Some(([192, 168, 1, 220].into(), [192, 168, 1, 239].into()))
        );
        assert_eq!(host("eth0", [10, 0, 0, 1], 28, None).pool(), None);
        assert!(host("eth0", [10, 0, 0, 1], 27, None).pool().is_some());
    }

    fn root_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            match f.strip_suffix('/') {
                Some(_) => std::fs::create_dir_all(&path).unwrap(),
                None => {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, b"x").unwrap();
                }
            }
        }
        dir
    }

    /// What `render` wrote, parsed and checked as `serve` would (with the lease
    /// database in a directory that exists here).
    fn checked(text: &str) -> Config {
        let state = tempfile::tempdir().unwrap();
        let db = state.path().join("leases.sqlite").display().to_string();
        let text = &text.replace(LEASE_DB, &db);
        let config = Config::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        crate::validate::check(config, Path::new("<init>"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .config
    }

    #[test]
    fn every_kind_of_firmware_found_is_switched_on() {
        let root = root_with(&[
            "bootcode.bin",
            "9ffefdef/start4.elf",
            "ipxe.efi",
            "undionly.kpxe",
            "pxelinux.0",
            "pxelinux.cfg/",
        ]);
        let found = Found::scan(root.path());
        assert_eq!(found.rpi, vec!["bootcode.bin", "9ffefdef/start4.elf"]);
        let addrs = [
            host("eth0", [10, 0, 0, 5], 24, Some([10, 0, 0, 1])),
            host("wlan0", [192, 168, 7, 3], 24, None),
        ];
        let text = render(&addrs, root.path(), &found, LEASE_DB);
        let config = checked(&text);
        assert_eq!(config.net.interfaces, ["eth0", "wlan0"]);
        assert_eq!(config.tftp.root, root.path());
        assert!(config.proxy.enabled && config.proxy.rpi);
        assert_eq!(config.proxy.bios, "undionly.kpxe");
        assert_eq!(config.proxy.uefi_x64, "ipxe.efi");
        assert!(config.dhcp.enabled);
        assert!(text.contains(&format!("lease_db = \"{LEASE_DB}\"")));
        assert_eq!(config.dhcp.pools[0].subnet, "10.0.0.0/24");
        assert_eq!(
            config.dhcp.pools[0].router,
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert!(text.contains("#   eth0       10.0.0.5/24 (subnet 10.0.0.0/24, gateway 10.0.0.1)"));
        assert!(text.contains("# [profiles.pi4-nfs]"), "{text}");
    }

    #[test]
    fn an_empty_root_switches_nothing_on() {
        let root = root_with(&[]);
        let text = render(&[], root.path(), &Found::scan(root.path()), LEASE_DB);
        let config = checked(&text);
        assert!(!config.proxy.enabled && !config.proxy.rpi && !config.dhcp.enabled);
        assert!(config.net.interfaces.is_empty());
        assert_eq!(config.proxy.bios, "");
        assert_eq!(config.proxy.uefi_x64, "");
    }

    #[test]
    fn pxelinux_without_ipxe_boots_bios_pcs_with_pxelinux() {
        let root = root_with(&["pxelinux.0", "pxelinux.cfg/default"]);
        let text = render(&[], root.path(), &Found::scan(root.path()), LEASE_DB);
        let config = checked(&text);
        assert_eq!(config.proxy.bios, "pxelinux.0");
        // No subnet to put a pool in: the DHCP server stays off.
        assert!(!config.dhcp.enabled);
    }

    #[test]
    fn the_examples_are_a_valid_inventory() {
        let root = root_with(&[]);
        let text = format!(
            "[tftp]\nroot = {}\n{}",
            toml_str(&root.path().display().to_string()),
            examples("10.0.0.5")
        );
        let config = checked(&text);
        assert_eq!(config.machines.len(), 4);
        let commented = commented(&examples("10.0.0.5"));
        assert!(commented
            .lines()
            .all(|l| l.is_empty() || l.starts_with('#')));
    }
}
