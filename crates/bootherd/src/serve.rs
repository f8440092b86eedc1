//! `bootherd serve`: binds every service, builds the boot trees, and reloads the
//! configuration on SIGHUP or when its file changes, keeping the old one when the
//! new one is broken.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::dhcp::server::DhcpServer;
use crate::dhcp::Proxy;
use crate::inventory::Inventory;
use crate::render::Renderer;
use crate::shutdown::Shutdown;
use crate::tree::{BootTree, LiveTree};
use crate::validate::Checked;
use crate::vfs::FileSource;

/// How often the configuration file's modification time is looked at.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Produces the effective configuration, the file (if any) plus the command line,
/// checked by [`crate::validate::check`] like the first one.
pub type ConfigSource = Box<dyn Fn() -> anyhow::Result<Checked> + Send + Sync>;

/// What a reload can replace while serving.
struct Reloadable {
    tftp: Option<LiveTree>,
    http: Option<LiveTree>,
    proxy: Option<Arc<Proxy>>,
    server: Option<Arc<DhcpServer>>,
    http_port: Option<u16>,
    running: Config,
}

fn build_tree(
    root: &std::path::Path,
    inventory: &Arc<Inventory>,
    renderer: &Arc<Renderer>,
    http_port: Option<u16>,
) -> anyhow::Result<BootTree> {
    BootTree::new(root, inventory.clone(), renderer.clone(), http_port)
        .with_context(|| format!("opening root {}", root.display()))
}

/// Runs every enabled service until SIGINT or SIGTERM. `checked` has passed
/// everything the configuration could be refused for: nothing is bound before.
pub async fn run(
    checked: Checked,
    addrs: Vec<Ipv4Addr>,
    source: ConfigSource,
    watch: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    // First, so that a signal during start-up is an orderly stop too.
    let mut signals = Signals::new()?;
    let mut services = tokio::task::JoinSet::new();
    let Checked {
        config,
        inventory,
        renderer,
        ..
    } = checked;
    crate::events::hub().set_inventory(inventory.clone());
    let shutdown = Shutdown::new();
    let grace = Duration::from_millis(config.service.shutdown_grace_ms);
    if !inventory.is_empty() {
        info!(
            machines = inventory.machines().len(),
            profiles = inventory.profiles().len(),
            "inventory loaded"
        );
    }
    // HTTP binds first: its port goes into generated iPXE scripts and proxy URLs.
    let mut http_port = None;
    let listeners = match config.http.enabled {
        true => {
            let listeners = crate::http::bind(&addrs, config.http.port).await?;
            http_port = listeners
                .first()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.port());
            Some(listeners)
        }
        false => None,
    };
    let tftp_tree = match config.tftp.enabled {
        true => Some(LiveTree::new(build_tree(
            &config.tftp.root,
            &inventory,
            &renderer,
            http_port,
        )?)),
        false => None,
    };
    let http_tree = match config.http.enabled {
        true => Some(LiveTree::new(build_tree(
            config.http_root(),
            &inventory,
            &renderer,
            http_port,
        )?)),
        false => None,
    };
    if let Some(tree) = &tftp_tree {
        let sockets = crate::tftp::bind(&addrs, config.tftp.port)?;
        info!(
            root = %config.tftp.root.display(),
            "tftp listening on {}",
            list_addrs(sockets.iter().map(|s| s.local_addr()))
        );
        let source: Arc<dyn FileSource> = Arc::new(tree.clone());
        services.spawn(crate::tftp::run(
            sockets,
            source,
            (&config.tftp).into(),
            shutdown.clone(),
        ));
    }
    if let (Some(listeners), Some(tree)) = (listeners, &http_tree) {
        info!(
            root = %config.http_root().display(),
            "http listening on {}",
            list_addrs(listeners.iter().map(|l| l.local_addr()))
        );
        let source: Arc<dyn FileSource> = Arc::new(tree.clone());
        services.spawn(crate::http::run(
            listeners,
            source,
            (&config.http).into(),
            shutdown.clone(),
        ));
    }
    let mut proxy = None;
    let mut server = None;
    let mut dhcp_service = None;
    if config.proxy.enabled || config.dhcp.enabled {
        if config.proxy.enabled {
            proxy = Some(Arc::new(Proxy::new(
                &config,
                tftp_tree.clone(),
                http_tree.clone(),
                http_port,
            )?));
        }
        if config.dhcp.enabled {
            let opened = DhcpServer::open(&config.dhcp, &inventory, http_port).await?;
            services.spawn(opened.clone().precheck_loop());
            server = Some(opened);
        }
        let dhcp = crate::dhcp::bind(config.proxy.port)?;
        let pxe = match config.proxy.enabled {
            true => Some(crate::dhcp::bind(config.proxy.pxe_port)?),
            false => None,
        };
        if let Some(pxe) = &pxe {
            info!(
                "proxy listening on {}",
                list_addrs([dhcp.local_addr(), pxe.local_addr()].into_iter())
            );
        }
        if config.dhcp.enabled {
            info!(
                db = %crate::leases::redact(&config.dhcp.lease_db.to_string_lossy()),
                "dhcp server listening on {}",
                list_addrs([dhcp.local_addr()].into_iter())
            );
        }
        let responders = crate::dhcp::Responders {
            proxy: proxy.clone(),
            server: server.clone(),
        };
        dhcp_service = Some(
            crate::dhcp::start(dhcp, pxe, responders)
                .context("starting the DHCP receive threads")?,
        );
    }
    let admin = crate::admin::bind(&config.admin, server.clone()).await?;
    // Every socket is bound and the lease database open: `[service] user` now.
    crate::privilege::drop_privileges(&config)?;
    if services.is_empty() && dhcp_service.is_none() {
        anyhow::bail!("nothing to serve: every service is disabled");
    }
    if let Some(admin) = admin {
        services.spawn(crate::admin::run(admin));
    }
    // Every listener is bound: tell systemd (Type=notify), and feed its watchdog.
    crate::systemd::ready(&config);
    crate::systemd::spawn_watchdog();
    let reloadable = Reloadable {
        tftp: tftp_tree,
        http: http_tree,
        proxy,
        server: server.clone(),
        http_port,
        running: config,
    };
    let dhcp_ended = async {
        match dhcp_service.as_mut() {
            Some(service) => service.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = signals.next() => {}
        () = reload_loop(reloadable, source, watch) => {}
        () = dhcp_ended => anyhow::bail!("the DHCP service stopped unexpectedly"),
        _ = services.join_next() => anyhow::bail!("a service stopped unexpectedly"),
    }
    stop(shutdown, grace, services, dhcp_service, server, signals).await;
    Ok(ExitCode::SUCCESS)
}

/// The orderly stop after the first SIGTERM or SIGINT: take no new requests, give
/// work in flight `grace` to finish, cancel what is left, and let the lease
/// committer write what it was given. A second signal exits at once.
async fn stop(
    shutdown: Shutdown,
    grace: Duration,
    mut services: tokio::task::JoinSet<()>,
    dhcp: Option<crate::dhcp::Service>,
    server: Option<Arc<DhcpServer>>,
    mut signals: Signals,
) {
    info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: no new requests; work in flight may finish within the grace"
    );
    crate::systemd::stopping();
    shutdown.begin();
    if let Some(dhcp) = dhcp {
        dhcp.stop().await;
    }
    services.abort_all();
    let finished = async {
        shutdown.drained().await;
        if let Some(server) = &server {
            server.committed().await;
        }
    };
    tokio::select! {
        () = finished => info!("work in flight finished"),
        () = tokio::time::sleep(grace) => {
            warn!(
                in_flight = shutdown.in_flight(),
                "shutdown grace over: cancelling the work still in flight"
            );
        }
        () = signals.next() => {
            warn!("second signal: exiting at once");
            std::process::exit(1);
        }
    }
    shutdown.abort();
    // Transfers see the abort within ABORT_CHECK; a commit already under way
    // finishes (SQLite commits whole or not at all either way).
    let cancelled = async {
        shutdown.drained().await;
        if let Some(server) = &server {
            server.committed().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(1), cancelled)
        .await
        .is_err()
    {
        warn!(
            in_flight = shutdown.in_flight(),
            "work still in flight a second after cancelling; exiting anyway"
        );
    }
    info!("stopped");
}

/// Reloads on SIGHUP and on a change of the watched file, forever.
async fn reload_loop(mut state: Reloadable, source: ConfigSource, watch: Option<PathBuf>) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(err) => {
            warn!(%err, "cannot watch SIGHUP; reload by file change only");
            None
        }
    };
    let mtime = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = watch.as_ref().and_then(mtime);
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        let why = tokio::select! {
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => None } } => "SIGHUP",
            _ = tick.tick() => {
                let Some(path) = &watch else { continue };
                let now = mtime(path);
                if now == seen {
                    continue;
                }
                seen = now;
                "file changed"
            }
        };
        crate::systemd::reloading();
        match reload(&mut state, &source) {
            Ok(summary) => {
                info!(trigger = why, "configuration reloaded: {summary}");
                crate::events::hub().reload(true, format!("{why}: {summary}"));
                crate::systemd::reloaded(&format!("configuration reloaded: {summary}"));
            }
            Err(err) => {
                error!(
                    trigger = why,
                    "configuration NOT reloaded, still serving the previous one: {err:#}"
                );
                crate::events::hub().reload(false, format!("{why}: {err:#}"));
                crate::systemd::reloaded("configuration NOT reloaded (see the log)");
            }
        }
    }
}

/// Builds everything the new configuration needs before swapping anything, so a
/// broken file changes nothing. The source refuses what startup would refuse in
/// the file (what depends on the host, it only warns about).
fn reload(state: &mut Reloadable, source: &ConfigSource) -> anyhow::Result<String> {
    let Checked {
        config,
        inventory,
        renderer,
        dhcp,
    } = source()?;
    let tftp = match &state.tftp {
        Some(_) => Some(build_tree(
            &config.tftp.root,
            &inventory,
            &renderer,
            state.http_port,
        )?),
        None => None,
    };
    let http = match &state.http {
        Some(_) => Some(build_tree(
            config.http_root(),
            &inventory,
            &renderer,
            state.http_port,
        )?),
        None => None,
    };
    // Built and checked by the source when `dhcp.enabled`.
    let server_config = state.server.as_ref().and(dhcp);
    // Everything built: swap.
    if let (Some(live), Some(tree)) = (&state.tftp, tftp) {
        live.replace(tree);
    }
    if let (Some(live), Some(tree)) = (&state.http, http) {
        live.replace(tree);
    }
    if let Some(proxy) = &state.proxy {
        proxy.update(&config.proxy);
    }
    crate::events::hub().set_inventory(inventory.clone());
    if let (Some(server), Some(sc)) = (&state.server, server_config) {
        server.update(sc);
    }
    let old = &state.running;
    let mut restart = Vec::new();
    if old.net != config.net {
        restart.push("[net]");
    }
    if (old.tftp.enabled, old.tftp.port) != (config.tftp.enabled, config.tftp.port)
        || old.tftp.max_transfers != config.tftp.max_transfers
        || old.tftp.max_blksize != config.tftp.max_blksize
        || old.tftp.max_windowsize != config.tftp.max_windowsize
        || old.tftp.timeout_ms != config.tftp.timeout_ms
        || old.tftp.retries != config.tftp.retries
        || old.tftp.max_transfers_per_client != config.tftp.max_transfers_per_client
        || old.tftp.max_client_timeout_secs != config.tftp.max_client_timeout_secs
        || old.tftp.stall_timeout_ms != config.tftp.stall_timeout_ms
        || old.tftp.busy_poll_us != config.tftp.busy_poll_us
        || old.tftp.rewrites != config.tftp.rewrites
    {
        restart.push("tftp limits, rewrites and ports");
    }
    if (old.http.enabled, old.http.port) != (config.http.enabled, config.http.port) {
        restart.push("http.enabled/port");
    }
    if crate::http::HttpLimits::from(&old.http) != (&config.http).into() {
        restart.push("http limits");
    }
    if (old.proxy.enabled, old.proxy.port, old.proxy.pxe_port)
        != (
            config.proxy.enabled,
            config.proxy.port,
            config.proxy.pxe_port,
        )
        || (old.dhcp.enabled, &old.dhcp.lease_db) != (config.dhcp.enabled, &config.dhcp.lease_db)
    {
        restart.push("enabling services, DHCP ports, lease_db");
    }
    if old.admin != config.admin {
        restart.push("[admin]");
    }
    if (&old.service.user, &old.service.group) != (&config.service.user, &config.service.group) {
        restart.push("service.user/group");
    }
    if !restart.is_empty() {
        warn!(
            "changed settings that take effect only after a restart: {}",
            restart.join(", ")
        );
    }
    let summary = format!(
        "{} machines, {} profiles",
        inventory.machines().len(),
        inventory.profiles().len()
    );
    state.running = config;
    Ok(summary)
}

fn list_addrs(addrs: impl Iterator<Item = std::io::Result<std::net::SocketAddr>>) -> String {
    addrs
        .filter_map(Result::ok)
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// SIGTERM and SIGINT, registered once so a second one is seen too.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("watching SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("watching SIGINT")?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
