//! bootstorm: a fleet boot storm. Many emulated boards power on at the same
//! instant and boot as their firmware would (`bootherd_proto::emulate`): Pi 4s
//! (proxyDHCP, then config.txt, start4.elf, fixup4.dat, device tree, kernel and
//! the initramfs config.txt names, by lock-step TFTP at the EEPROM's blksize),
//! U-Boot boards (full DHCP, the pxelinux.cfg lookup, kernel and initrd) and
//! UEFI PXE clients (proxyDHCP, port 4011, the boot file). Each board has its own
//! MAC, transaction ID and, for TFTP, its own address. Every whole file is
//! checked against the served directory (SHA-256).
//!
//! The DHCP goes through one relay address (`--relay`, bound on port 67): the
//! servers answer it, not a broadcast, so no raw socket is needed. The boards'
//! addresses (handed out by the LAN server or, for U-Boot, by `--uboot-dhcp`)
//! must be local to the namespace it runs in: the caller routes the boards'
//! subnet to `lo` (`ip route add local 10.98.0.0/16 dev lo`) and the servers'
//! side routes it back through this namespace.
//!
//! Prints one `key=value` summary line; exit 0 when every board booted, 1 when
//! any failed, 2 on bad arguments.
//!
//! Safety: as dhcpload, it sends only to loopback or from inside a network
//! namespace other than the initial one, and every run ends within
//! `--max-seconds`.

#[path = "../../dhcpload/src/netns.rs"]
mod netns;
// bootherd's level-triggered epoll set, for the boards' TFTP loop (which needs
// only part of it).
#[allow(dead_code)]
#[path = "../../bootherd/src/tftp/epoll.rs"]
mod epoll;

mod board;
mod expected;
mod relay;
mod tftp_get;
mod tftp_loop;
mod usage;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use bootherd_proto::client::format_mac;
use bootherd_proto::emulate::{self, Emulated, Identity};
use clap::Parser;

use board::{Board, Outcome, Servers};
use expected::Expected;
use relay::Relay;
use tftp_loop::TftpLoop;

/// A fleet boot storm: emulated Pi 4s, U-Boot boards and UEFI PXE clients boot
/// at once through a DHCP relay; every file is checksummed. Prints one
/// key=value summary line.
#[derive(Debug, Parser)]
#[command(name = "bootstorm", version)]
struct Cli {
    /// The boot server: proxyDHCP and TFTP.
    #[arg(long)]
    boot_server: Ipv4Addr,
    /// The LAN's DHCP server (addresses for Pis and UEFI clients).
    #[arg(long)]
    lan: Ipv4Addr,
    /// Who gives U-Boot boards address and boot file (default: the boot server).
    #[arg(long)]
    uboot_dhcp: Option<Ipv4Addr>,
    /// The relay address (giaddr), bound on port 67 here.
    #[arg(long)]
    relay: Ipv4Addr,
    /// Raspberry Pi 4 boards.
    #[arg(long, default_value_t = 0)]
    pis: u32,
    /// U-Boot boards.
    #[arg(long, default_value_t = 0)]
    uboots: u32,
    /// UEFI PXE clients.
    #[arg(long, default_value_t = 0)]
    uefis: u32,
    /// The directory the server serves, for the checksums.
    #[arg(long)]
    root: PathBuf,
    /// Server processes whose CPU time and memory to report (repeatable).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Second byte of every MAC's tail, so two runs can use distinct MACs.
    #[arg(long, default_value_t = 0)]
    mac_seed: u8,
    /// The storm ends (boards still booting count as failed) after this long.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
    /// Print every board's outcome to standard error.
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let boards = cli.pis + cli.uboots + cli.uefis;
    if boards == 0 || boards > 4096 {
        eprintln!("bootstorm: 1 to 4096 boards in all");
        return ExitCode::from(2);
    }
    if !(1..=3600).contains(&cli.max_seconds) {
        eprintln!("bootstorm: --max-seconds must be 1..=3600");
        return ExitCode::from(2);
    }
    let uboot_dhcp = cli.uboot_dhcp.unwrap_or(cli.boot_server);
    for target in [cli.boot_server, cli.lan, uboot_dhcp] {
        if let Err(e) = netns::check_target(target) {
            eprintln!("bootstorm: {e}");
            return ExitCode::from(2);
        }
    }
    let expected = match Expected::load(&cli.root) {
        Ok(e) if e.len() > 0 => e,
        Ok(_) => {
            eprintln!("bootstorm: no files under {}", cli.root.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("bootstorm: reading {}: {e}", cli.root.display());
            return ExitCode::from(2);
        }
    };
    let relay = match Relay::bind(cli.relay) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("bootstorm: binding {}:67: {e}", cli.relay);
            return ExitCode::from(2);
        }
    };
    let servers = Arc::new(Servers {
        boot: cli.boot_server,
        lan: cli.lan,
        uboot: uboot_dhcp,
    });
    let expected = Arc::new(expected);
    let tftp = match TftpLoop::start() {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("bootstorm: cannot start the TFTP loop: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let relay_thread = {
        let relay = relay.clone();
        let stop = stop.clone();
        std::thread::spawn(move || relay.run(&stop))
    };

    let mut kinds = Vec::new();
    kinds.extend(std::iter::repeat_n(Emulated::Rpi4, cli.pis as usize));
    kinds.extend(std::iter::repeat_n(Emulated::UBoot, cli.uboots as usize));
    kinds.extend(std::iter::repeat_n(Emulated::PxeEfi, cli.uefis as usize));
    let start_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let barrier = Arc::new(Barrier::new(kinds.len() + 1));
    let (done, results) = mpsc::channel::<Outcome>();
    for (i, kind) in kinds.into_iter().enumerate() {
        let n = i as u16;
        let mac = emulate::default_mac(kind, [cli.mac_seed, (n >> 8) as u8, n as u8]);
        let machine = Identity::new(kind, mac, None);
        let replies = relay.register(machine.xid);
        let (relay, servers, expected) = (relay.clone(), servers.clone(), expected.clone());
        let tftp = tftp.clone();
        let (start_at, barrier, done) = (start_at.clone(), barrier.clone(), done.clone());
        let spawned = std::thread::Builder::new()
            .stack_size(512 << 10)
            .spawn(move || {
                barrier.wait();
                let start = *start_at.get().expect("set before the barrier opens");
                let board = Board {
                    machine,
                    relay: &relay,
                    servers: &servers,
                    expected: &expected,
                    tftp: &tftp,
                    replies,
                };
                let _ = done.send(board.boot(start));
            });
        if let Err(e) = spawned {
            eprintln!("bootstorm: cannot start a board thread: {e}");
            return ExitCode::from(2);
        }
    }
    drop(done);

    let pids = cli.server_pid.clone();
    let cpu_before: f64 = pids.iter().filter_map(|&p| usage::cpu_seconds(p)).sum();
    let own_before = usage::cpu_seconds(std::process::id()).unwrap_or(0.0);
    let mut rss_peak: u64 = 0;
    let start = Instant::now();
    start_at.set(start).expect("set once");
    barrier.wait();
    let deadline = start + Duration::from_secs(cli.max_seconds);
    let mut outcomes: Vec<Outcome> = Vec::new();
    while outcomes.len() < boards as usize && Instant::now() < deadline {
        rss_peak = rss_peak.max(pids.iter().filter_map(|&p| usage::rss_kb(p)).sum());
        match results.recv_timeout(Duration::from_millis(50)) {
            Ok(outcome) => outcomes.push(outcome),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let wall = start.elapsed();
    let cpu_after: f64 = pids.iter().filter_map(|&p| usage::cpu_seconds(p)).sum();
    let own_cpu = usage::cpu_seconds(std::process::id()).unwrap_or(0.0) - own_before;
    stop.store(true, Ordering::Relaxed);

    let unfinished = boards as usize - outcomes.len();
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count() + unfinished;
    let mut times: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.failure.is_none())
        .map(|o| o.elapsed.as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if times.is_empty() {
            return f64::NAN;
        }
        let at = ((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1;
        times[at]
    };
    for o in &outcomes {
        if let Some(why) = &o.failure {
            eprintln!(
                "bootstorm: {} {} failed after {:.2} s: {why}",
                o.kind.id(),
                format_mac(&o.mac),
                o.elapsed.as_secs_f64()
            );
        } else if cli.verbose {
            eprintln!(
                "bootstorm: {} {} booted in {:.2} s: {} files, {} bytes",
                o.kind.id(),
                format_mac(&o.mac),
                o.elapsed.as_secs_f64(),
                o.files,
                o.bytes
            );
        }
    }
    if unfinished > 0 {
        eprintln!(
            "bootstorm: {unfinished} boards still booting after {} s",
            cli.max_seconds
        );
    }
    let sum = |f: fn(&Outcome) -> u64| -> u64 { outcomes.iter().map(f).sum() };
    let bytes = sum(|o| o.bytes);
    let last = times.last().copied().unwrap_or(f64::NAN);
    // The DHCP phase: when the last board had its answer.
    let dhcp_last = outcomes
        .iter()
        .filter_map(|o| o.dhcp_done)
        .max()
        .map_or(f64::NAN, |d| d.as_secs_f64());
    println!(
        "boards={boards} pis={} uboots={} uefis={} booted={} failed={failed} \
         last_board_s={last:.3} dhcp_last_s={dhcp_last:.3} p50_s={:.3} p99_s={:.3} wall_s={:.3} files={} bytes={bytes} \
         mb_per_s={:.1} client_resends={} server_resends={} dhcp_resends={} \
         server_cpu_s={} server_rss_peak_kb={} client_cpu_s={own_cpu:.2}",
        cli.pis,
        cli.uboots,
        cli.uefis,
        boards as usize - failed,
        pct(0.50),
        pct(0.99),
        wall.as_secs_f64(),
        sum(|o| o.files),
        bytes as f64 / last.max(1e-6) / 1e6,
        sum(|o| o.resends.by_client),
        sum(|o| o.resends.by_server),
        sum(|o| o.dhcp_resends),
        if pids.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}", cpu_after - cpu_before)
        },
        if pids.is_empty() {
            "-".to_string()
        } else {
            rss_peak.to_string()
        },
    );
    if unfinished > 0 {
        // Board threads still blocked in a transfer end with the process.
        std::process::exit(1);
    }
    let _ = relay_thread.join();
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
