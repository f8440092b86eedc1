//! dnsmasq in `NAME-lan` as the LAN's own DHCP server.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{read_lossy, wait_until, Bg, Lab};

/// The LAN's DHCP server (dnsmasq in `NAME-lan`).
pub const LAN_DHCP_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
/// dnsmasq's pool in [`Dnsmasq::lan`].
pub const LAN_RANGE: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(10, 99, 0, 150), Ipv4Addr::new(10, 99, 0, 199));

/// dnsmasq in `NAME-lan` on its eth0: DHCP only (`--port=0`), no ping before
/// offering (it answers at once), lease file and log in `dir`. A [`Bg`]:
/// bounded by `timeout`, stopped with its process group on drop.
pub struct Dnsmasq {
    _process: Bg,
    pub leases: PathBuf,
    pub log: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq with the DHCP options `dhcp` and waits until it has bound
    /// its DHCP socket.
    pub fn start<S: AsRef<str>>(lab: &Lab, dir: &Path, dhcp: &[S]) -> Dnsmasq {
        let ns = lab.lan();
        let leases = dir.join("dnsmasq.leases");
        let log = dir.join("dnsmasq.log");
        let mut args: Vec<String> = [
            "dnsmasq",
            "-k",
            "--conf-file=/dev/null",
            "--port=0",
            "--no-ping",
            "--user=root",
            "--bind-interfaces",
            "--interface=eth0",
            "--log-dhcp",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--dhcp-leasefile={}", leases.display()));
        args.push(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
        args.push(format!("--log-facility={}", log.display()));
        args.extend(dhcp.iter().map(|a| a.as_ref().to_string()));
        let mut bg = Bg::spawn(&ns, 900, &args, dir, "dnsmasq");
        let ready = wait_until(Duration::from_secs(10), || {
            read_lossy(&log).contains("DHCP, sockets bound exclusively to interface eth0")
                || !bg.is_running()
        });
        assert!(
            ready && bg.is_running(),
            "dnsmasq did not start in {ns}: {}\n--- log ---\n{}",
            bg.describe(),
            read_lossy(&log)
        );
        Dnsmasq {
            _process: bg,
            leases,
            log,
        }
    }

    /// The LAN's DHCP server: pool [`LAN_RANGE`], leases of `lease` (dnsmasq's
    /// `1h`, `10m`). Each MAC in `ignore` gets nothing from it
    /// (`--dhcp-host=MAC,ignore`), the way an administrator leaves a board to
    /// bootherd.
    pub fn lan(lab: &Lab, dir: &Path, lease: &str, ignore: &[&str]) -> Dnsmasq {
        Dnsmasq::start(lab, dir, &Dnsmasq::lan_options(lease, ignore))
    }

    /// [`Dnsmasq::lan`] that also sends IPv6 router advertisements (`ra-only`,
    /// no DHCPv6), with IPv6 turned on for `NAME-lan` only: iPXE otherwise waits
    /// about 15 s for a router before it runs its script, on every boot.
    pub fn lan_with_router_adverts(lab: &Lab, dir: &Path, lease: &str) -> Dnsmasq {
        let ns = lab.lan();
        for cmd in [
            vec!["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"],
            vec!["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"],
            vec!["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0"],
            vec!["ip", "addr", "add", "fd99::2/64", "dev", "eth0", "nodad"],
        ] {
            let out = lab.exec(&ns, 10, &cmd);
            assert!(out.success(), "{cmd:?} in {ns}: {}", out.describe());
        }
        let mut dhcp = Dnsmasq::lan_options(lease, &[]);
        dhcp.push("--enable-ra".into());
        dhcp.push("--dhcp-range=fd99::,ra-only,64".into());
        Dnsmasq::start(lab, dir, &dhcp)
    }

    fn lan_options(lease: &str, ignore: &[&str]) -> Vec<String> {
        let (first, last) = LAN_RANGE;
        let mut dhcp = vec![format!("--dhcp-range={first},{last},255.255.255.0,{lease}")];
        dhcp.extend(ignore.iter().map(|mac| format!("--dhcp-host={mac},ignore")));
        dhcp
    }

    pub fn log_text(&self) -> String {
        read_lossy(&self.log)
    }

    pub fn leases_text(&self) -> String {
        read_lossy(&self.leases)
    }

    /// The address dnsmasq leased to `mac`, from its lease file.
    pub fn lease_of(&self, mac: &str) -> Option<Ipv4Addr> {
        self.leases_text().lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 3 && fields[1].eq_ignore_ascii_case(mac))
                .then(|| fields[2].parse().ok())
                .flatten()
        })
    }
}
