//! The TFTP service: one listening socket per address; each read request gets a
//! transfer slot (a cap in all and per client address) and its own socket (a new TID,
//! RFC 1350), and a blocking thread drives a `bootherd_proto` transfer over it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bootherd_proto::tftp::transfer::{
    Outcome, Transfer, TransferConfig, Transmit, MAX_BLKSIZE, MIN_BLKSIZE,
};
use bootherd_proto::wire::tftp::{self as wire, ErrorCode, Mode, Packet, Request};
use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use crate::config::TftpConfig;
use crate::events::{FileEvents, Protocol};
use crate::net;
use crate::rewrite::Rewrites;
use crate::shutdown::{Shutdown, ABORT_CHECK};
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
            shutdown.clone(),
        ));
    }
    tokio::select! {
        () = shutdown.stopping() => {}
        _ = async { while listeners.join_next().await.is_some() {} } => {}
    }
}

/// Who holds the transfer slots: a cap on all transfers and one per client address,
/// so one host cannot take every slot.
struct Slots {
    total: Arc<Semaphore>,
    max_per_client: usize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Refusals, logged at most once every ten seconds per limit.
    busy_log: Throttle,
    client_log: Throttle,
}

/// One transfer's slot, given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    client: IpAddr,
    _total: OwnedSemaphorePermit,
}

impl Slots {
    fn new(max_transfers: usize, max_per_client: usize) -> Slots {
        Slots {
            total: Arc::new(Semaphore::new(max_transfers)),
            max_per_client,
            per_client: Mutex::new(HashMap::new()),
            busy_log: Throttle::default(),
            client_log: Throttle::default(),
        }
    }

    /// A slot for a transfer to `client`, or the error message to send it.
    fn take(self: &Arc<Self>, client: IpAddr, max_transfers: usize) -> Result<Slot, String> {
        let mut per_client = self.lock();
        let held = per_client.get(&client).copied().unwrap_or(0);
        if held >= self.max_per_client {
            let msg = format!(
                "too many transfers from {client}: {held} in progress, the limit is {}",
                self.max_per_client
            );
            if let Some(count) = self.client_log.due_now() {
                warn!(%client, refused = count, "tftp: refused a request: {msg}");
            }
            return Err(msg);
        }
        let Ok(permit) = self.total.clone().try_acquire_owned() else {
            let msg =
                format!("server busy: {max_transfers} transfers in progress, try again later");
            if let Some(count) = self.busy_log.due_now() {
                warn!(%client, refused = count, "tftp: refused a request: {msg}");
            }
            return Err(msg);
        };
        per_client.insert(client, held + 1);
        Ok(Slot {
            slots: self.clone(),
            client,
            _total: permit,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_client.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_client = self.slots.lock();
        if let Some(held) = per_client.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                per_client.remove(&self.client);
            }
        }
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
                    shutdown.clone(),
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
    shutdown: Shutdown,
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
    let mut transfer = Transfer::new(&request.options, file.len(), &config, started);
    let negotiated = transfer.negotiated();
    // The transfer runs on a blocking thread: a lock-step transfer is one round trip
    // per block, and a blocking receive wakes sooner than a task woken by epoll.
    let driven = tokio::task::spawn_blocking(move || {
        let result = drive(&socket, &mut transfer, &file, negotiated.blksize, &shutdown);
        (transfer, result)
    })
    .await;
    let transfer = match driven {
        Ok((transfer, Ok(()))) => transfer,
        Ok((_, Err(err))) => {
            debug!(%peer, file = %name, %err, "tftp: transfer ended early");
            record.abandoned(None, &err.to_string());
            return;
        }
        Err(err) => {
            warn!(%peer, file = %name, %err, "tftp: transfer thread failed");
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

/// Runs the transfer to its end on this (blocking) thread: sends what it asks,
/// feeds it replies and timeouts. When `shutdown` aborts, tells the client and
/// returns an `Interrupted` error.
fn drive(
    socket: &std::net::UdpSocket,
    transfer: &mut Transfer,
    file: &OpenFile,
    blksize: u16,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    use std::io::ErrorKind;
    let mut window = Window::new(blksize);
    let mut inbound = vec![0u8; 1024];
    // The receive timeout set on the socket, rounded up to 10 ms so that the
    // steady state of a transfer needs no setsockopt per block.
    let mut armed: Option<Duration> = None;
    loop {
        while let Some(transmit) = transfer.poll_transmit() {
            match transmit {
                Transmit::Oack(packet) | Transmit::Error(packet) => {
                    window.flush(socket, file)?;
                    socket.send(&packet)?;
                }
                Transmit::Data { block, offset, len } => {
                    if window.is_full() {
                        window.flush(socket, file)?;
                    }
                    window.push(block, offset, len);
                }
            }
        }
        window.flush(socket, file)?;
        let Some(deadline) = transfer.poll_timeout() else {
            return Ok(());
        };
        if shutdown.is_aborting() {
            let msg = "server shutting down";
            let _ = socket.send(&wire::error_packet(ErrorCode::NotDefined, msg));
            return Err(std::io::Error::new(ErrorKind::Interrupted, msg));
        }
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            transfer.handle_timeout(now);
            continue;
        };
        // Rounded up to 10 ms, and never longer than the shutdown check.
        let wait = Duration::from_millis(left.as_millis().div_ceil(10) as u64 * 10)
            .clamp(Duration::from_millis(10), ABORT_CHECK);
        if armed != Some(wait) {
            socket.set_read_timeout(Some(wait))?;
            armed = Some(wait);
        }
        match socket.recv(&mut inbound) {
            Ok(n) => transfer.handle_datagram(Instant::now(), &inbound[..n]),
            // A timeout fired (handle_timeout ignores an early call), or the client
            // is gone (ICMP port unreachable): the core's retry count decides.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                transfer.handle_timeout(Instant::now());
            }
            Err(e) => return Err(e),
        }
    }
}

/// The DATA packets one round of `poll_transmit` asked for, sent together: the file
/// bytes of the whole window are read with as few `pread`s as their offsets allow
/// (one, for consecutive blocks) straight into one buffer, and the packets go out
/// with one `sendmmsg`, each gathered from its 4-byte header and its slice of that
/// buffer. A lone block (lock-step) is sent from a read-ahead buffer of
/// [`READ_AHEAD`] bytes, so a lock-step transfer costs one receive and one send per
/// block and a `pread` only every few dozen blocks.
struct Window {
    blksize: usize,
    /// Blocks queued: number, file offset, length.
    blocks: Vec<(u16, u64, usize)>,
    headers: Vec<[u8; 4]>,
    data: Vec<u8>,
    /// Lock-step read-ahead: `ahead` holds the file bytes from `ahead_at`.
    ahead: Vec<u8>,
    ahead_at: u64,
}

/// The most file bytes one window buffer holds; a larger window is sent in parts,
/// so a transfer with 64 KiB blocks and windowsize 64 does not hold 4 MiB.
const WINDOW_BYTES: usize = 256 << 10;
/// File bytes read at once for a lock-step transfer.
const READ_AHEAD: usize = 16 << 10;

impl Window {
    fn new(blksize: u16) -> Window {
        Window {
            blksize: usize::from(blksize),
            blocks: Vec::new(),
            headers: Vec::new(),
            data: Vec::new(),
            ahead: Vec::new(),
            ahead_at: 0,
        }
    }

    fn is_full(&self) -> bool {
        !self.blocks.is_empty() && (self.blocks.len() + 1) * self.blksize > WINDOW_BYTES
    }

    fn push(&mut self, block: u16, offset: u64, len: usize) {
        self.blocks.push((block, offset, len));
    }

    /// Sends the queued blocks; on a read failure tells the client and returns it.
    fn flush(&mut self, socket: &std::net::UdpSocket, file: &OpenFile) -> std::io::Result<()> {
        let result = match self.blocks[..] {
            [] => return Ok(()),
            [(block, offset, len)] => self.send_one(socket, file, block, offset, len),
            _ => self.send_window(socket, file),
        };
        self.blocks.clear();
        result
    }

    /// One block, from the read-ahead buffer (refilled when the block is not in it).
    fn send_one(
        &mut self,
        socket: &std::net::UdpSocket,
        file: &OpenFile,
        block: u16,
        offset: u64,
        len: usize,
    ) -> std::io::Result<()> {
        let held = self.ahead_at..self.ahead_at + self.ahead.len() as u64;
        if !(held.contains(&offset) && offset + len as u64 <= held.end) {
            let rest = usize::try_from(file.len().saturating_sub(offset)).unwrap_or(usize::MAX);
            self.ahead.resize(rest.min(READ_AHEAD).max(len), 0);
            self.ahead_at = offset;
            if let Err(err) = file.read_exact_at(offset, &mut self.ahead) {
                self.ahead.clear();
                return Err(read_failed(socket, err));
            }
        }
        let at = (offset - self.ahead_at) as usize;
        let header = wire::data_header(block);
        net::send_gathered(socket, &[(&header[..], &self.ahead[at..at + len])])
    }

    /// Several blocks: their bytes read into one buffer, one `sendmmsg`.
    fn send_window(
        &mut self,
        socket: &std::net::UdpSocket,
        file: &OpenFile,
    ) -> std::io::Result<()> {
        let total: usize = self.blocks.iter().map(|b| b.2).sum();
        self.data.resize(total, 0);
        // Runs of consecutive blocks are read with one pread each.
        let mut at = 0;
        let mut i = 0;
        while i < self.blocks.len() {
            let (_, start, _) = self.blocks[i];
            let mut run = 0;
            let mut j = i;
            while j < self.blocks.len() && self.blocks[j].1 == start + run as u64 {
                run += self.blocks[j].2;
                j += 1;
            }
            if let Err(err) = file.read_exact_at(start, &mut self.data[at..at + run]) {
                return Err(read_failed(socket, err));
            }
            at += run;
            i = j;
        }
        self.headers.clear();
        self.headers
            .extend(self.blocks.iter().map(|b| wire::data_header(b.0)));
        let mut at = 0;
        let datagrams: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .zip(&self.blocks)
            .map(|(header, &(_, _, len))| {
                let payload = &self.data[at..at + len];
                at += len;
                (&header[..], payload)
            })
            .collect();
        net::send_gathered(socket, &datagrams)
    }
}

/// Tells the client a read failed and gives the error back.
fn read_failed(socket: &std::net::UdpSocket, err: std::io::Error) -> std::io::Error {
    let msg = format!("read failed: {err}");
    let _ = socket.send(&wire::error_packet(ErrorCode::NotDefined, &msg));
    err
}
