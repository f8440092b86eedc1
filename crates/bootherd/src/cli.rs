//! The command line: flags are parsed by clap, then checked into a [`Config`] in one place.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::logging::LogFormat;
use crate::validate::Checked;

/// bootherd: network-boot Raspberry Pis, U-Boot boards and PCs next to the LAN's own
/// DHCP server.
#[derive(Debug, Parser)]
#[command(name = "bootherd", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr (`RUST_LOG` sets the level, default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// bootherd's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: TFTP and HTTP on the boot tree, and proxyDHCP when asked.
    ///
    /// Without --config it serves --root (default ./tftp-root) over TFTP (port 69) and
    /// HTTP (port 80) on every IPv4 address of this host, and logs one line per
    /// service saying where it listens. --proxy adds proxyDHCP on UDP 67 and 4011.
    /// Command-line flags override the file.
    Serve(ServeArgs),
    /// Check a configuration file and the boot tree, and exit: 0 when every machine
    /// has what it needs, 1 with the file, line, key and problem, or with each
    /// missing file per machine, when not.
    ///
    /// The file goes through the checks `serve` makes, so what `serve` would refuse,
    /// `check` refuses. What depends on this host (an interface that does not exist,
    /// an address it does not have) is a warning here and an error for `serve`.
    Check(CheckArgs),
    /// Play a boot firmware's DHCP and TFTP conversation on this network and say
    /// whether it would boot: exit 0 when it would, 1 when not (with the first
    /// blocking problem), 2 when the probe cannot run here.
    ///
    /// The DHCP packets are the firmware's own (the Pi 3 ROM's DISCOVER byte for byte),
    /// with two changes that a probe without raw sockets needs: they leave from this
    /// host's address on the interface rather than 0.0.0.0, and the BOOTP broadcast
    /// flag is set (unless --exact) so that offers a server would unicast to the offered
    /// address reach this host. TFTP then runs from this host's address. Needs only
    /// UDP port 68 (root, or CAP_NET_BIND_SERVICE) and no DHCP client running here.
    Probe(ProbeArgs),
    /// List the DHCP server's leases from its database (a table, or --json).
    Leases(LeasesArgs),
    /// Show the fleet as a running bootherd sees it: each machine's kind, stage
    /// (never seen, DHCP answered, loading files, handed to the kernel, stuck) and
    /// when it was last seen, then the unknown boot clients. Reads the admin API.
    Status(StatusArgs),
    /// Follow a running bootherd's events as they happen, one line each (time,
    /// machine, what happened), like `journalctl -f`: every boot client's, or one
    /// machine's (by name, MAC or Pi serial). Reads the admin API; Ctrl-C stops.
    Watch(WatchArgs),
    /// Print the files bootherd generates for one machine (by name, MAC or serial).
    Show(ShowArgs),
    /// Write the bootherd configuration equivalent to a dnsmasq configuration
    /// and/or a tftpd-hpa defaults file (docs/IMPORT.md). Every line becomes a key,
    /// or a comment saying why it needs none or is not translated.
    Import(crate::import::ImportArgs),
    /// The storage server's side of iSCSI roots: export the targets (tgt or LIO)
    /// for the machines of the inventory, create a machine's backing file.
    Iscsi(crate::iscsi::IscsiArgs),
    /// Write a starting configuration for this host: its interfaces and subnets,
    /// the boot root, every kind of firmware found in the root switched on, and
    /// commented examples of each kind of machine.
    ///
    /// Without --output it goes to stdout. Then run `bootherd check` on it.
    Init(InitArgs),
}

/// Flags of `bootherd init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The boot root to look in and serve [default: /srv/bootherd].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write the configuration to FILE instead of stdout (`-` is stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Flags of `bootherd show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// TOML configuration file with the inventory.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// The machine: its name, MAC or Pi serial.
    #[arg(value_name = "MACHINE")]
    pub machine: String,
    /// Render for this server address [default: this host's first address].
    #[arg(long, value_name = "IP")]
    pub server: Option<Ipv4Addr>,
}

/// Flags of `bootherd status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The admin listener of the running bootherd.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9069")]
    pub admin: std::net::SocketAddr,
    /// A file holding the admin token, when the listener wants one
    /// [default: the BOOTHERD_ADMIN_TOKEN environment variable].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `bootherd watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only this machine's events: its name, MAC or Pi serial (any MAC or serial,
    /// for a client not in the inventory).
    #[arg(value_name = "MACHINE")]
    pub machine: Option<String>,
    /// The admin listener of the running bootherd.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9069")]
    pub admin: std::net::SocketAddr,
    /// A file holding the admin token, when the listener wants one
    /// [default: the BOOTHERD_ADMIN_TOKEN environment variable].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Flags of `bootherd leases`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LeasesArgs {
    /// Something to do with the lease database instead of listing it.
    #[command(subcommand)]
    pub action: Option<LeasesAction>,
    /// Configuration file whose `dhcp.lease_db` to read.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "db")]
    pub config: Option<PathBuf>,
    /// The lease database itself [default: ./leases.sqlite].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also list expired, released and declined records.
    #[arg(long)]
    pub all: bool,
}

/// What `bootherd leases` can do besides listing.
#[derive(Debug, Subcommand)]
pub enum LeasesAction {
    /// Copy every lease of an SQLite lease database into a PostgreSQL one
    /// (stop the server using the SQLite file first).
    Migrate(MigrateArgs),
}

/// Flags of `bootherd leases migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite lease database to copy.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into (`postgres://...`).
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// Flags of `bootherd probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The firmware to play.
    #[arg(long = "as", value_name = "FIRMWARE", value_parser = ["rpi3", "rpi4", "rpi5", "pxe-bios", "pxe-efi", "uboot"])]
    pub firmware: String,
    /// Interface to broadcast on [default: the only one with IPv4 besides loopback].
    #[arg(long, value_name = "IF")]
    pub interface: Option<String>,
    /// MAC address to use [default: the firmware's OUI (b8:27:eb, dc:a6:32, 2c:cf:67,
    /// 52:54:00) and the interface's last three bytes].
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    pub mac: Option<[u8; 6]>,
    /// Raspberry Pi serial, 8 hex digits; names the TFTP directory [default: the MAC's
    /// last three bytes, as on a Pi 3].
    #[arg(long, value_name = "HEX8", value_parser = parse_serial)]
    pub serial: Option<u32>,
    /// Which folder a Pi 4/5 tries first, as its EEPROM's `TFTP_PREFIX`: `serial`
    /// (0, `9ffefdef/`) or `mac` (2, `dc-a6-32-01-36-c2/`).
    #[arg(long, value_name = "serial|mac", default_value = "serial", value_parser = parse_tftp_prefix)]
    pub tftp_prefix: bootherd_proto::emulate::TftpPrefix,
    /// Seconds the DHCP phase lasts [default: the firmware's own: 25 for the Pi 3,
    /// 45 for the Pi 4/5, 60 for PXE, 34 for U-Boot]; a shorter one keeps the number
    /// of retries and shortens the gaps.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Write every file read whole under DIR (path as asked, empty and `..` parts
    /// dropped).
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Leave the broadcast flag as the firmware sends it; offers unicast to the
    /// offered address then never reach this host.
    #[arg(long)]
    pub exact: bool,
}

fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    bootherd_proto::client::parse_mac(text).ok_or_else(|| "expected aa:bb:cc:dd:ee:ff".into())
}

fn parse_serial(text: &str) -> Result<u32, String> {
    bootherd_proto::emulate::parse_serial(text).ok_or_else(|| "expected up to 8 hex digits".into())
}

fn parse_tftp_prefix(text: &str) -> Result<bootherd_proto::emulate::TftpPrefix, String> {
    use bootherd_proto::emulate::TftpPrefix;
    match text {
        "serial" | "0" => Ok(TftpPrefix::Serial),
        "mac" | "2" => Ok(TftpPrefix::Mac),
        _ => Err("expected serial (TFTP_PREFIX=0) or mac (TFTP_PREFIX=2)".into()),
    }
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 3600.0 => Ok(std::time::Duration::from_secs_f64(secs)),
        _ => Err("expected seconds, more than 0 and at most 3600".into()),
    }
}

/// Flags of `bootherd serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see README.md for the keys).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory served over TFTP and HTTP [default: ./tftp-root].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Listen only on this IPv4 address (repeatable) [default: every address].
    #[arg(long, value_name = "IP")]
    pub listen: Vec<Ipv4Addr>,
    /// Listen only on this interface's addresses (repeatable).
    #[arg(long, value_name = "NAME")]
    pub interface: Vec<String>,
    /// TFTP port; 0 lets the kernel choose [default: 69].
    #[arg(long, value_name = "PORT")]
    pub tftp_port: Option<u16>,
    /// HTTP port; 0 lets the kernel choose [default: 80].
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Do not serve HTTP.
    #[arg(long)]
    pub no_http: bool,
    /// Answer PXE firmware and Raspberry Pis with proxyDHCP on UDP 67 and 4011
    /// (boot information only, never addresses).
    #[arg(long)]
    pub proxy: bool,
}

/// Flags of `bootherd check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// TOML configuration file to check.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

/// The admin token of `status` and `watch`: from `--token-file`, else
/// `BOOTHERD_ADMIN_TOKEN`.
fn admin_token(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    Ok(match file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("BOOTHERD_ADMIN_TOKEN").ok(),
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => check(&args.config),
        Command::Leases(args) => leases(&args),
        Command::Import(args) => crate::import::run(&args),
        Command::Iscsi(args) => crate::iscsi::run(args),
        Command::Status(args) => {
            let token = admin_token(args.token_file.as_deref())?;
            crate::admin::status(args.admin, token.as_deref(), args.json)
        }
        Command::Watch(args) => {
            let token = admin_token(args.token_file.as_deref())?;
            crate::admin::watch(args.admin, token.as_deref(), args.machine.as_deref())
        }
        Command::Show(args) => {
            let checked = crate::validate::check(Config::load(&args.config)?, &args.config)?;
            let tree = crate::report::tree(&checked)?;
            let shown = crate::report::show(&checked.config, &tree, &args.machine, args.server)?;
            print!("{shown}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => {
            crate::init::run(args.root.as_deref(), args.output.as_deref(), args.force)
        }
        Command::Probe(args) => Ok(crate::probe::run(crate::probe::ProbeOptions {
            kind: bootherd_proto::emulate::Emulated::from_id(&args.firmware)
                .expect("clap checked the name"),
            interface: args.interface,
            mac: args.mac,
            serial: args.serial,
            tftp_prefix: args.tftp_prefix,
            timeout: args.timeout,
            json: args.json,
            save: args.save,
            exact: args.exact,
        })),
    }
}

fn leases(args: &LeasesArgs) -> anyhow::Result<ExitCode> {
    if let Some(LeasesAction::Migrate(migrate)) = &args.action {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let copied = runtime.block_on(crate::dhcp::server::migrate_leases(
            &migrate.from,
            &migrate.to,
        ))?;
        println!(
            "copied {copied} leases from {} to {}",
            migrate.from.display(),
            crate::leases::redact(&migrate.to)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let db = match (&args.db, &args.config) {
        (Some(db), _) => db.clone(),
        (None, Some(config)) => Config::load(config)?.dhcp.lease_db,
        (None, None) => crate::config::DhcpConfig::default().lease_db,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let leases = runtime.block_on(crate::dhcp::server::read_leases(&db))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let shown: Vec<_> = leases
        .iter()
        .filter(|l| args.all || l.is_live(now))
        .collect();
    print!(
        "{}",
        crate::dhcp::server::format_leases(&shown, now, args.json)
    );
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    // The checks serve makes, through the same function.
    let checked = crate::validate::check(Config::load(path)?, path)?;
    for problem in crate::validate::host_problems(&checked.config, path) {
        eprintln!("warning: {problem} (serve refuses this on this host)");
    }
    let tree = crate::report::tree(&checked)?;
    let config = &checked.config;
    let report = crate::report::check(config, &tree);
    print!("{}", report.text);
    for warning in privilege_warnings(config) {
        println!("warning: {warning}");
    }
    if report.problems > 0 {
        println!(
            "{}: {} problem(s): the machines above marked MISSING or ERROR would not boot",
            path.display(),
            report.problems
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{}: ok (tftp root {}, http root {}, {} machines)",
        path.display(),
        config.tftp.root.display(),
        config.http_root().display(),
        tree.inventory().machines().len()
    );
    Ok(ExitCode::SUCCESS)
}

/// What `[service] user` could not write once bootherd has dropped to it (the
/// lease database); `serve` still starts.
fn privilege_warnings(config: &Config) -> Vec<String> {
    match crate::privilege::Target::resolve(&config.service) {
        Ok(Some(target)) if config.dhcp.enabled => {
            crate::privilege::lease_db_problems(&config.dhcp.lease_db, &target)
                .into_iter()
                .map(|p| format!("service.user {}: lease database: {p}", target.user))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Builds the effective configuration, the file (or defaults) then the flags, and
/// checks everything serve would refuse in it ([`crate::validate::check`]). Also
/// returns the [`crate::validate::host_problems`], which serve refuses at its start.
fn effective_config(args: &ServeArgs) -> anyhow::Result<(Checked, Vec<ConfigError>)> {
    let (mut config, origin) = match &args.config {
        Some(path) => (Config::load(path)?, path.clone()),
        None => (Config::defaults(), PathBuf::from("<command line>")),
    };
    if let Some(root) = &args.root {
        config.tftp.root = root.clone();
    }
    if !args.listen.is_empty() {
        config.net.listen = args.listen.clone();
    }
    if !args.interface.is_empty() {
        config.net.interfaces = args.interface.clone();
    }
    if let Some(port) = args.tftp_port {
        config.tftp.port = port;
    }
    if let Some(port) = args.http_port {
        config.http.port = port;
    }
    if args.no_http {
        config.http.enabled = false;
    }
    if args.proxy {
        config.proxy.enabled = true;
    }
    // A problem with a value a flag set is the command line's, not the file's line.
    let flags = [
        ("tftp.root", args.root.is_some()),
        (
            "http.root",
            args.root.is_some() && config.http.root.is_none(),
        ),
        ("net.listen", !args.listen.is_empty()),
        ("net.interfaces", !args.interface.is_empty()),
        ("tftp.port", args.tftp_port.is_some()),
        ("http.port", args.http_port.is_some()),
    ];
    let from_flags = |err: ConfigError| match err {
        ConfigError::Invalid { key, message, .. }
            if flags.iter().any(|&(flag, set)| {
                set && (key == flag || key.starts_with(&format!("{flag}[")))
            }) =>
        {
            ConfigError::Invalid {
                path: PathBuf::from("<command line>"),
                line: None,
                key,
                message,
            }
        }
        err => err,
    };
    let checked = crate::validate::check(config, &origin).map_err(from_flags)?;
    let host = crate::validate::host_problems(&checked.config, &origin);
    Ok((checked, host.into_iter().map(from_flags).collect()))
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (checked, host) = effective_config(&args)?;
    if let Some(problem) = host.into_iter().next() {
        return Err(problem.into());
    }
    let addrs = crate::net::listen_addresses(&checked.config.net).context("choosing addresses")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let watch = args.config.clone();
    // A reload refuses what the start refuses, but for what depends on the host:
    // `[net]` takes effect only at the next start, so a reload only warns.
    let source: crate::serve::ConfigSource = Box::new(move || {
        let (checked, host) = effective_config(&args)?;
        for problem in host {
            tracing::warn!("{problem} (the next start would refuse this)");
        }
        Ok(checked)
    });
    let result = runtime.block_on(crate::serve::run(checked, addrs, source, watch));
    // Blocking work sees the shutdown's abort within a fraction of this.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
