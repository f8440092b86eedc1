//! dhcpload: a DHCP load generator cheap enough per packet that the server,
//! not the generator, is what a benchmark on a small machine measures.
//!
//! It acts as a relay, like perfdhcp: it binds `RELAY:67`, sends BIOS PXE
//! DISCOVERs (giaddr = RELAY, hops 1), each from a new MAC and with a new
//! xid, to `SERVER:67` at a fixed rate for a fixed time, and counts the
//! answers (OFFER or ACK) that come back within the timeout. With `--dora`
//! it answers every OFFER that carries an address with a REQUEST and counts
//! the ACKs. One `key=value` summary line goes to standard output.
//!
//! Safety: it sends only to loopback (127.0.0.0/8), or to any address when
//! it runs inside a network namespace other than the initial one, and every
//! run ends after `--seconds` plus `--wait-ms`.

mod netns;
mod packet;
mod run;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;

use clap::Parser;

/// DHCP load generator acting as a relay: PXE DISCOVERs at a fixed rate,
/// answers counted. Prints one key=value summary line.
#[derive(Debug, Parser)]
#[command(name = "dhcpload", version)]
struct Cli {
    /// Server address (IPv4). Anything but 127.0.0.0/8 is refused unless
    /// dhcpload runs in a network namespace other than the initial one.
    #[arg(long)]
    server: Ipv4Addr,
    /// Server UDP port.
    #[arg(long, default_value_t = 67)]
    port: u16,
    /// Our address: the socket is bound to it and it is the giaddr of every
    /// request, so servers answer to it.
    #[arg(long)]
    relay: Ipv4Addr,
    /// Our UDP port (a relay uses 67; 0 = any free port).
    #[arg(long, default_value_t = 67)]
    local_port: u16,
    /// DISCOVERs per second (0 = as fast as possible).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of load (0 < S <= 3600).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Milliseconds to listen for late answers after the last DISCOVER (<= 60000).
    #[arg(long, default_value_t = 300)]
    wait_ms: u64,
    /// An answer later than this many milliseconds counts as lost (1..=10000).
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// MAC of the first client; each DISCOVER comes from the next one.
    #[arg(long, default_value = "00:0c:03:00:00:00")]
    mac_base: String,
    /// xid of the first client (default: random); client n uses base + n.
    #[arg(long)]
    xid_base: Option<u32>,
    /// Full exchange: REQUEST every offered address, count ACKs and
    /// addresses offered to two MACs.
    #[arg(long)]
    dora: bool,
    /// Option 60 of every request (default: a BIOS PXE ROM's).
    #[arg(long, default_value = packet::PXE_BIOS_CLASS)]
    vendor_class: String,
    /// Pacing tick in microseconds: DISCOVERs go out in batches at most this
    /// often, rate x tick each (50..=100000).
    #[arg(long, default_value_t = 1000)]
    tick_us: u64,
    /// Receive buffer to ask for, in bytes.
    #[arg(long, default_value_t = 32 << 20)]
    rcvbuf: usize,
    /// Send at most this many DISCOVERs (bounds memory: about 9 bytes each).
    #[arg(long, default_value_t = 50_000_000)]
    max_sent: u64,
    /// Check the arguments and the safety rule, print "ok" and exit without
    /// sending anything.
    #[arg(long)]
    dry_run: bool,
}

fn random_xid() -> u32 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let mut x = (ts.tv_sec as u64) ^ ((ts.tv_nsec as u64) << 20) ^ u64::from(std::process::id());
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) as u32
}

fn config(cli: &Cli) -> Result<run::Config, String> {
    if !(cli.seconds > 0.0 && cli.seconds <= 3600.0) {
        return Err(format!("--seconds {} is not in (0, 3600]", cli.seconds));
    }
    if cli.wait_ms > 60_000 {
        return Err(format!("--wait-ms {} is over 60000", cli.wait_ms));
    }
    if !(1..=10_000).contains(&cli.timeout_ms) {
        return Err(format!(
            "--timeout-ms {} is not in 1..=10000",
            cli.timeout_ms
        ));
    }
    if cli.max_sent == 0 || cli.max_sent > 200_000_000 {
        return Err("--max-sent must be 1..=200000000".into());
    }
    if !(50..=100_000).contains(&cli.tick_us) {
        return Err(format!("--tick-us {} is not in 50..=100000", cli.tick_us));
    }
    if cli.port == 0 {
        return Err("--port must not be 0".into());
    }
    if cli.vendor_class.is_empty() || cli.vendor_class.len() > 255 {
        return Err("--vendor-class must be 1 to 255 bytes".into());
    }
    netns::check_target(cli.server)?;
    Ok(run::Config {
        server: SocketAddrV4::new(cli.server, cli.port),
        relay: cli.relay,
        local_port: cli.local_port,
        rate: cli.rate,
        seconds: cli.seconds,
        wait_ms: cli.wait_ms,
        timeout_ms: cli.timeout_ms,
        mac_base: packet::parse_mac(&cli.mac_base)?,
        xid_base: cli.xid_base.unwrap_or_else(random_xid),
        dora: cli.dora,
        vendor_class: cli.vendor_class.clone().into_bytes(),
        rcvbuf: cli.rcvbuf,
        tick_ns: cli.tick_us * 1000,
        max_sent: cli.max_sent,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match config(&cli) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("dhcpload: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.dry_run {
        println!("ok");
        return ExitCode::SUCCESS;
    }
    match run::run(cfg) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dhcpload: {e}");
            ExitCode::from(1)
        }
    }
}
