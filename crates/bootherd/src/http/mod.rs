//! The HTTP service: serves the same files as TFTP over HTTP/1.1, with Range support,
//! for iPXE, UEFI HTTP boot and the Raspberry Pi HTTP boot mode.
//!
//! Every connection lives within [`HttpLimits`]: caps on connections in all and
//! per client address ([`caps`], with a 503 past them from [`refuse`]), a
//! header timeout and a request-size limit (hyper's), and an idle timeout
//! ([`idle`]). [`connection`] serves one connection within them.

pub mod caps;
pub mod connection;
pub mod idle;
pub mod limits;
pub mod range;
pub mod refuse;

#[cfg(test)]
mod tests;

pub use limits::HttpLimits;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::{TcpListener, TcpSocket};
use tracing::{info, warn};

use self::caps::ConnectionCaps;
use self::connection::Serving;
use self::range::RangePlan;
use self::refuse::Refuser;
use crate::events::{FileEvents, Protocol};
use crate::shutdown::Shutdown;
use crate::throttle::Throttle;
use crate::vfs::{clean_path, ClientInfo, Content, FileSource, VfsError};

/// Connections the kernel may hold completed for us before we accept them (the
/// kernel caps it at `net.core.somaxconn`). tokio's default, 128, overflows
/// when hundreds of clients connect at once, and a client whose handshake is
/// dropped waits a second to try again.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds one TCP listener per address on `port` (0 lets the kernel choose).
pub async fn bind(addrs: &[Ipv4Addr], port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(addrs.len());
    for &ip in addrs {
        let addr = SocketAddrV4::new(ip, port);
        let listen = || {
            let socket = TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind(addr.into())?;
            socket.listen(LISTEN_BACKLOG)
        };
        let listener = listen().map_err(|e| crate::tftp::bind_error("HTTP", addr, e))?;
        out.push(listener);
    }
    Ok(out)
}

/// The router: every GET or HEAD path is a file lookup.
pub fn router(source: Arc<dyn FileSource>) -> Router {
    Router::new().fallback(serve_file).with_state(source)
}

/// Serves HTTP on every listener, within `limits`, until `shutdown` stops it:
/// then the listeners close and `run` returns; the connections, spawned on
/// `shutdown`, finish their response in flight, or are dropped when it aborts.
pub async fn run(
    listeners: Vec<TcpListener>,
    source: Arc<dyn FileSource>,
    limits: HttpLimits,
    shutdown: Shutdown,
) {
    let service = Arc::new(Service {
        caps: ConnectionCaps::new(limits.max_connections, limits.max_connections_per_client),
        refuser: Refuser::default(),
        serving: Serving::new(router(source), limits),
        accept_errors: Throttle::default(),
    });
    let mut loops = tokio::task::JoinSet::new();
    for listener in listeners {
        loops.spawn(accept_loop(
            listener,
            Arc::clone(&service),
            shutdown.clone(),
        ));
    }
    while loops.join_next().await.is_some() {}
}

/// How long to wait after `accept` fails for want of resources (file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What every listener of one service shares.
struct Service {
    caps: Arc<ConnectionCaps>,
    refuser: Refuser,
    serving: Serving,
    accept_errors: Throttle,
}

/// Accepts connections on `listener` until `shutdown` stops; each goes to
/// [`Serving`] when the caps admit it, to the [`Refuser`] when not.
async fn accept_loop(listener: TcpListener, service: Arc<Service>, shutdown: Shutdown) {
    let name = listener
        .local_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    let mut heartbeat = crate::liveness::register(format!("http accept loop {name}"));
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.stopping() => return,
            () = heartbeat.tick() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // A connection that went away before it was accepted is no news.
            Err(err) if is_connection_error(&err) => continue,
            // Out of file descriptors or memory: wait a little for some to come free.
            Err(err) => {
                service.accept_failed(&listener, &err);
                tokio::select! {
                    () = shutdown.stopping() => return,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
                continue;
            }
        };
        match service.caps.admit(peer.ip()) {
            Ok(admission) => {
                let service = Arc::clone(&service);
                let stop = shutdown.clone();
                shutdown.spawn(async move {
                    service.serving.serve(stream, peer, admission, stop).await;
                });
            }
            Err(refusal) => service
                .refuser
                .refuse(stream, peer.ip(), refusal, &shutdown),
        }
    }
}

impl Service {
    fn accept_failed(&self, listener: &TcpListener, err: &std::io::Error) {
        if let Some(count) = self.accept_errors.due_now() {
            let addr = listener.local_addr().ok();
            warn!(?addr, %err, failures = count, "http: accept failed");
        }
    }
}

/// Errors of one connection that went away before it was accepted; the
/// listener itself is fine.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Both ends of an HTTP connection: who asks, and which of our addresses they asked.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    /// The client.
    pub peer: SocketAddr,
    /// Our address the client connected to.
    pub local: SocketAddr,
}

async fn serve_file(
    State(source): State<Arc<dyn FileSource>>,
    ConnectInfo(ends): ConnectInfo<Ends>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let peer = ends.peer;
    let client = ClientInfo {
        addr: ends.peer,
        local: ends.local,
    };
    let started = std::time::Instant::now();
    let record = FileEvents::new(Protocol::Http, peer, uri.path());
    let response = respond(&*source, &client, &method, &uri, &headers).await;
    record_outcome(&record, &method, &response, started.elapsed());
    info!(
        %peer,
        %method,
        path = uri.path(),
        status = response.status().as_u16(),
        "http: request"
    );
    response
}

/// The response's outcome on the client's timeline: served (the bytes the
/// response carries, the time to its headers), or refused with its status.
fn record_outcome(record: &FileEvents, method: &Method, response: &Response, took: Duration) {
    let status = response.status();
    if status.is_success() {
        let bytes = match *method {
            Method::GET => response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0),
            _ => 0,
        };
        record.served(bytes, took, 0);
    } else {
        let reason = status.canonical_reason().unwrap_or("error");
        record.refused(&format!("{} {reason}", status.as_u16()));
    }
}

async fn respond(
    source: &dyn FileSource,
    client: &ClientInfo,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "bootherd serves files with GET and HEAD only\n",
        )
            .into_response();
    }
    let raw = uri.path().trim_start_matches('/');
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    let file = match clean_path(&decoded).and_then(|path| source.open(client, &path)) {
        Ok(file) => file,
        Err(err) => return error_response(err),
    };
    let len = file.len();
    let mut status = StatusCode::OK;
    let mut start = 0;
    let mut count = len;
    let mut extra = HeaderMap::new();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match range::plan(range, len) {
        RangePlan::Partial {
            start: first,
            count: n,
        } => {
            start = first;
            count = n;
            status = StatusCode::PARTIAL_CONTENT;
            extra.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {first}-{}/{len}", first + n - 1)),
            );
        }
        RangePlan::Unsatisfiable => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response();
        }
        RangePlan::Whole => {}
    }
    extra.insert(header::CONTENT_LENGTH, header_value(&count.to_string()));
    extra.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    extra.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(raw)),
    );
    if method == Method::HEAD {
        return (status, extra).into_response();
    }
    let body = match file.into_content() {
        Content::Memory(bytes) => Body::from(bytes.slice(start as usize..(start + count) as usize)),
        Content::Disk(std_file) => {
            let mut file = tokio::fs::File::from_std(std_file);
            if let Err(err) = file.seek(std::io::SeekFrom::Start(start)).await {
                return error_response(VfsError::Io(err));
            }
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                file.take(count),
                64 * 1024,
            ))
        }
    };
    (status, extra, body).into_response()
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("ASCII header value")
}

fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "ipxe" | "txt" | "cfg" | "conf" => "text/plain; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn error_response(err: VfsError) -> Response {
    let status = match err {
        VfsError::NotFound => StatusCode::NOT_FOUND,
        VfsError::BadName(_) | VfsError::Forbidden(_) => StatusCode::FORBIDDEN,
        VfsError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Bytes::from(format!("{err}\n"))).into_response()
}
