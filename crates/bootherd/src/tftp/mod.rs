//! The TFTP service: one listening socket per address; each read request gets a
//! transfer slot (a cap in all and per client address, [`slots`]) and its own socket
//! (a new TID, RFC 1350), and one of the transfer loops ([`loops`]) drives a
//! `bootherd_proto` transfer over it, many transfers per thread.

mod epoll;
mod loops;
mod read_now;
mod slots;
mod window;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bootherd_proto::tftp::transfer::{Outcome, Transfer, TransferConfig, MAX_BLKSIZE, MIN_BLKSIZE};
use bootherd_proto::wire::tftp::{self as wire, ErrorCode, Mode, Packet, Request};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use loops::{Job, Loops};
use slots::{Slot, Slots};

use crate::config::TftpConfig;
use crate::events::{FileEvents, Protocol};
use crate::net;
use crate::rewrite::Rewrites;
use crate::shutdown::Shutdown;
use crate::throttle::Throttle;
use crate::vfs::{clean_path, ClientInfo, FileSource, OpenFile, VfsError};

/// IPv4 + UDP + TFTP DATA header: what a block must leave room for inside the MTU.
const HEADER_OVERHEAD: u32 = 20 + 8 + 4;
/// Receive buffer of each listening socket.
const LISTEN_BUFFER: usize = 4 << 20;
/// Netascii files are converted in memory; larger ones are refused. Netascii is
/// for text (boot menus, configs); the bound keeps a client that opens many
/// netascii transfers of a large file from costing more than a few MiB each.
const NETASCII_LIMIT: u64 = 1 << 20;

/// Settings a running service needs, taken from [`TftpConfig`].
#[derive(Debug, Clone)]
pub struct TftpSettings {
    /// Transfers in flight at once.
    pub max_transfers: usize,
    /// Transfers in flight at once from one client address.
    pub max_per_client: usize,
    /// Protocol limits handed to each transfer (blksize is clamped further per path
    /// MTU unless `clamp_to_mtu` is off).
    pub transfer: TransferConfig,
    /// Whether blksize is clamped to the path MTU (no IP fragmentation).
    pub clamp_to_mtu: bool,
    /// `[[tftp.rewrite]]` rules for request names.
    pub rewrites: Rewrites,
    /// How long a transfer loop polls before it sleeps while transfers run.
    pub busy_poll: Duration,
}

impl From<&TftpConfig> for TftpSettings {
    fn from(c: &TftpConfig) -> Self {
        TftpSettings {
            max_transfers: c.max_transfers,
            transfer: TransferConfig {
                max_blksize: c.max_blksize,
                max_windowsize: c.max_windowsize,
                default_timeout: Duration::from_millis(c.timeout_ms),
                max_retries: c.retries,
                max_client_timeout: c.max_client_timeout_secs,
                stall_limit: Duration::from_millis(c.stall_timeout_ms),
            },
            max_per_client: c.max_transfers_per_client,
            clamp_to_mtu: !c.allow_fragmentation,
            // Checked by `Config::validate`; a bad rule cannot reach here.
            rewrites: Rewrites::new(&c.rewrites).unwrap_or_default(),
            busy_poll: Duration::from_micros(u64::from(c.busy_poll_us)),
        }
    }
}

/// Binds one UDP socket per address on `port` (0 lets the kernel choose).
pub fn bind(addrs: &[Ipv4Addr], port: u16) -> anyhow::Result<Vec<UdpSocket>> {
    addrs
        .iter()
        .map(|&ip| {
            let addr = SocketAddrV4::new(ip, port);
            let socket =
                std::net::UdpSocket::bind(addr).map_err(|e| bind_error("TFTP", addr, e))?;
            // A rack powering on sends hundreds of requests at once; the default
            // buffer (about 200 KiB) drops some of them.
            net::grow_receive_buffer(&socket, LISTEN_BUFFER)?;
            socket.set_nonblocking(true)?;
            Ok(UdpSocket::from_std(socket)?)
        })
        .collect()
}

pub(crate) fn bind_error(what: &str, addr: SocketAddrV4, err: std::io::Error) -> anyhow::Error {
    let hint = if err.kind() == std::io::ErrorKind::PermissionDenied && addr.port() < 1024 {
        " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    } else {
        ""
    };
    anyhow::anyhow!("cannot listen for {what} on {addr}: {err}{hint}")
}

/// Serves read requests on `sockets` until `shutdown` begins; transfers in flight
/// are tracked by `shutdown` and end when it aborts.
pub async fn run(
    sockets: Vec<UdpSocket>,
    source: Arc<dyn FileSource>,
    settings: TftpSettings,
    shutdown: Shutdown,
) {
    let loops = match Loops::start(
        tokio::runtime::Handle::current(),
        shutdown.clone(),
        settings.busy_poll,
    ) {
        Ok(loops) => Arc::new(loops),
        Err(err) => {
            warn!(%err, "tftp: cannot start the transfer loops; TFTP is not served");
            return;
        }
    };
    let slots = Arc::new(Slots::new(settings.max_transfers, settings.max_per_client));
    let noise = Arc::new(Noise::default());
    let settings = Arc::new(settings);
    let mut listeners = tokio::task::JoinSet::new();
    for socket in sockets {
        listeners.spawn(listen(
            socket,
            source.clone(),
            settings.clone(),
            slots.clone(),
            noise.clone(),
            loops.clone(),
            shutdown.clone(),
        ));
    }
    tokio::select! {
        () = shutdown.stopping() => {}
        _ = async { while listeners.join_next().await.is_some() {} } => {}
    }
}

/// Requests a flood could repeat, logged at info at most once every ten seconds
/// each (with how many they stand for), every one at debug.
#[derive(Default)]
struct Noise {
    write: Throttle,
    malformed: Throttle,
}

async fn listen(
    socket: UdpSocket,
    source: Arc<dyn FileSource>,
    settings: Arc<TftpSettings>,
    slots: Arc<Slots>,
    noise: Arc<Noise>,
    loops: Arc<Loops>,
    shutdown: Shutdown,
) {
    let local = match socket.local_addr() {
        Ok(SocketAddr::V4(a)) => a,
        _ => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    };
    let mut buf = vec![0u8; 4096];
    let mut heartbeat = crate::liveness::register(format!("tftp listener {local}"));
    loop {
        let received = tokio::select! {
            () = shutdown.stopping() => return,
            () = heartbeat.tick() => continue,
            received = socket.recv_from(&mut buf) => received,
        };
        let (n, peer) = match received {
            Ok(r) => r,
            Err(err) => {
                // ICMP errors from earlier sends surface here; they are not fatal.
                debug!(%err, "tftp: receive error on listening socket");
                continue;
            }
        };
        match Packet::parse(&buf[..n]) {
            Ok(Packet::Rrq(request)) => {
                let slot = match slots.take(peer.ip(), settings.max_transfers) {
                    Ok(slot) => slot,
                    Err(msg) => {
                        let _ = socket
                            .send_to(&wire::error_packet(ErrorCode::NotDefined, &msg), peer)
                            .await;
                        continue;
                    }
                };
                shutdown.spawn(serve_read(
                    local,
                    peer,
                    request,
                    source.clone(),
                    settings.clone(),
                    slot,
                    loops.clone(),
                ));
            }
            Ok(Packet::Wrq(request)) => {
                let file = String::from_utf8_lossy(&request.filename);
                match noise.write.due_now() {
                    Some(count) => {
                        info!(%peer, %file, refused = count, "tftp: write request refused: server is read-only")
                    }
                    None => {
                        debug!(%peer, %file, "tftp: write request refused: server is read-only")
                    }
                }
                let packet =
                    wire::error_packet(ErrorCode::AccessViolation, "bootherd is read-only");
                let _ = socket.send_to(&packet, peer).await;
            }
            Ok(other) => debug!(%peer, ?other, "tftp: unexpected packet on the listening port"),
            Err(err) if is_request(&buf[..n]) => {
                // A request we cannot read (an embedded NUL shifts the mode, say) gets
                // a clear error rather than silence, so the client stops retrying.
                match noise.malformed.due_now() {
                    Some(count) => {
                        info!(%peer, %err, refused = count, "tftp: malformed request refused")
                    }
                    None => debug!(%peer, %err, "tftp: malformed request refused"),
                }
                let msg = format!("malformed request: {err}");
                let _ = socket
                    .send_to(&wire::error_packet(ErrorCode::IllegalOperation, &msg), peer)
                    .await;
            }
            Err(err) => debug!(%peer, %err, "tftp: malformed packet dropped"),
        }
    }
}

/// RRQ or WRQ opcode, whatever follows.
fn is_request(datagram: &[u8]) -> bool {
    matches!(datagram, [0, 1 | 2, ..])
}

async fn serve_read(
    local: SocketAddrV4,
    peer: SocketAddr,
    request: Request,
    source: Arc<dyn FileSource>,
    settings: Arc<TftpSettings>,
    _slot: Slot,
    loops: Arc<Loops>,
) {
    let name = String::from_utf8_lossy(&request.filename).into_owned();
    let record = FileEvents::new(Protocol::Tftp, peer, &name);
    let socket = match transfer_socket(*local.ip(), peer) {
        Ok(s) => s,
        Err(err) => {
            warn!(%peer, file = %name, %err, "tftp: cannot open a transfer socket");
            return;
        }
    };
    let client = ClientInfo {
        addr: peer,
        local: local.into(),
    };
    let file = match open(&request, &settings.rewrites, &client, &*source) {
        Ok(file) => file,
        Err((code, reason)) => {
            info!(%peer, file = %name, %reason, "tftp: refused");
            record.refused(&reason);
            let _ = socket.send(&wire::error_packet(code, &reason));
            return;
        }
    };
    let mut config = settings.transfer.clone();
    if let Some(mtu) = net::path_mtu(&socket).filter(|_| settings.clamp_to_mtu) {
        let fit = mtu
            .saturating_sub(HEADER_OVERHEAD)
            .clamp(u32::from(MIN_BLKSIZE), u32::from(MAX_BLKSIZE)) as u16;
        config.max_blksize = config.max_blksize.min(fit);
    }
    let started = Instant::now();
    let transfer = Transfer::new(&request.options, file.len(), &config, started);
    let negotiated = transfer.negotiated();
    let job = Job {
        socket,
        transfer,
        file: Arc::new(file),
        blksize: negotiated.blksize,
    };
    let transfer = match loops.run(job).await {
        Some((transfer, Ok(()))) => transfer,
        Some((_, Err(err))) => {
            debug!(%peer, file = %name, %err, "tftp: transfer ended early");
            record.abandoned(None, &err.to_string());
            return;
        }
        None => {
            warn!(%peer, file = %name, "tftp: transfer lost: its loop ended");
            record.abandoned(None, "server error");
            return;
        }
    };
    let elapsed = started.elapsed();
    match transfer.outcome() {
        Some(Outcome::Completed { bytes, retransmits }) => {
            let rate = *bytes as f64 / elapsed.as_secs_f64().max(1e-6) / 1e6;
            info!(
                %peer,
                file = %name,
                bytes,
                blksize = negotiated.blksize,
                windowsize = negotiated.windowsize,
                retransmits,
                ms = elapsed.as_millis() as u64,
                mb_per_s = format_args!("{rate:.1}"),
                "tftp: sent"
            );
            record.served(*bytes, elapsed, *retransmits);
        }
        Some(Outcome::ClientAborted {
            code,
            message,
            acked_blocks,
        }) => {
            debug!(%peer, file = %name, ?code, %message, acked_blocks, "tftp: client ended the transfer");
            record.abandoned(
                Some(*acked_blocks),
                &format!("client ended the transfer: {message}"),
            );
        }
        Some(Outcome::TimedOut { acked_blocks }) => {
            debug!(%peer, file = %name, acked_blocks, "tftp: client went silent, transfer dropped");
            record.abandoned(Some(*acked_blocks), "client went silent");
        }
        Some(Outcome::Stalled { acked_blocks }) => {
            info!(%peer, file = %name, acked_blocks, "tftp: no progress for {} ms, transfer ended with an error", settings.transfer.stall_limit.as_millis());
            record.abandoned(Some(*acked_blocks), "no progress");
        }
        None => {}
    }
}

/// Opens the requested file, or says which TFTP error to send and why.
fn open(
    request: &Request,
    rewrites: &Rewrites,
    client: &ClientInfo,
    source: &dyn FileSource,
) -> Result<OpenFile, (ErrorCode, String)> {
    let path = clean_path(&rewrites.apply(&request.filename)).map_err(vfs_error)?;
    let file = source.open(client, &path).map_err(vfs_error)?;
    match request.mode {
        Mode::Octet => Ok(file),
        Mode::Netascii => {
            let data = file
                .read_all(NETASCII_LIMIT)
                .map_err(|e| (ErrorCode::NotDefined, format!("netascii: {e}")))?;
            Ok(OpenFile::memory(wire::to_netascii(&data)))
        }
        Mode::Mail => Err((
            ErrorCode::IllegalOperation,
            "mail mode is not supported".into(),
        )),
    }
}

fn vfs_error(err: VfsError) -> (ErrorCode, String) {
    let code = match err {
        VfsError::NotFound => ErrorCode::FileNotFound,
        VfsError::BadName(_) | VfsError::Forbidden(_) => ErrorCode::AccessViolation,
        VfsError::Io(_) => ErrorCode::NotDefined,
    };
    (code, err.to_string())
}

/// A socket for one transfer: bound to the address the request came to, connected to
/// the client, so the kernel filters out packets from any other TID.
fn transfer_socket(local: Ipv4Addr, peer: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind((local, 0))?;
    socket.connect(peer)?;
    Ok(socket)
}
