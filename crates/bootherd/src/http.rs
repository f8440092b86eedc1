//! The HTTP service: serves the same files as TFTP over HTTP/1.1, with Range support,
//! for iPXE, UEFI HTTP boot and the Raspberry Pi HTTP boot mode.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use axum::Router;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::http_range::{self, RangePlan};
use crate::vfs::{clean_path, ClientInfo, Content, FileSource, VfsError};

/// Binds one TCP listener per address on `port` (0 lets the kernel choose).
pub async fn bind(addrs: &[Ipv4Addr], port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(addrs.len());
    for &ip in addrs {
        let addr = SocketAddrV4::new(ip, port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| crate::tftp::bind_error("HTTP", addr, e))?;
        out.push(listener);
    }
    Ok(out)
}

/// The router: every GET or HEAD path is a file lookup.
pub fn router(source: Arc<dyn FileSource>) -> Router {
    Router::new().fallback(serve_file).with_state(source)
}

/// Serves HTTP on every listener until the task is dropped.
pub async fn run(listeners: Vec<TcpListener>, source: Arc<dyn FileSource>) {
    let app = router(source);
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let service = app.clone().into_make_service_with_connect_info::<Ends>();
        servers.spawn(async move {
            if let Err(err) = axum::serve(listener, service).await {
                warn!(%err, "http: server stopped");
            }
        });
    }
    while servers.join_next().await.is_some() {}
}

/// Both ends of an HTTP connection: who asks, and which of our addresses they asked.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    /// The client.
    pub peer: SocketAddr,
    /// Our address the client connected to.
    pub local: SocketAddr,
}

impl Connected<IncomingStream<'_, TcpListener>> for Ends {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        let peer = *stream.remote_addr();
        let local = stream
            .io()
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ends { peer, local }
    }
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
    let response = respond(&*source, &client, &method, &uri, &headers).await;
    info!(
        %peer,
        %method,
        path = uri.path(),
        status = response.status().as_u16(),
        "http: request"
    );
    response
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
    match http_range::plan(range, len) {
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
