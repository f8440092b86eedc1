//! The HTTP service on 127.0.0.1 through real sockets: its answers, its limits
//! and its stop.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use super::*;
use crate::vfs::OpenFile;

/// Files held in memory, by path.
struct Files(HashMap<&'static str, Bytes>);

impl FileSource for Files {
    fn open(&self, _client: &ClientInfo, path: &str) -> Result<OpenFile, VfsError> {
        match self.0.get(path) {
            Some(bytes) => Ok(OpenFile::memory(bytes.clone())),
            None => Err(VfsError::NotFound),
        }
    }
}

const SMALL: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz\n";

/// A file larger than every socket buffer between client and server on loopback
/// (at most a few MiB each way).
const BIG_LEN: usize = 32 << 20;

/// The big file, made once for every test.
fn big() -> Bytes {
    static BIG: OnceLock<Bytes> = OnceLock::new();
    BIG.get_or_init(|| Bytes::from((0..BIG_LEN).map(|i| (i % 251) as u8).collect::<Vec<u8>>()))
        .clone()
}

/// A running service on 127.0.0.1.
struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<()>,
    big: Bytes,
}

async fn start(limits: HttpLimits) -> Running {
    let big = big();
    let files = Files(HashMap::from([
        ("small.txt", Bytes::from_static(SMALL)),
        ("big.bin", big.clone()),
    ]));
    let listeners = bind(&[Ipv4Addr::LOCALHOST], 0).await.unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run(listeners, Arc::new(files), limits, shutdown.clone()));
    Running {
        addr,
        shutdown,
        task,
        big,
    }
}

fn limits() -> HttpLimits {
    HttpLimits {
        max_connections: 8,
        max_connections_per_client: 4,
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        max_request_bytes: 4096,
    }
}

/// Connects from `source` (any 127.0.0.0/8 address is this host).
async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

fn get(path: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET /{path} HTTP/1.1\r\nHost: t\r\n{connection}\r\n").into_bytes()
}

/// Everything until the server closes, within `limit`. A reset counts as a close.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    timeout(limit, read_all)
        .await
        .expect("the server closed the connection in time");
    out
}

/// One response of `Content-Length` framing, read off a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed before a whole head: {data:?}");
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let len: usize = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = data[head_end + 4..].to_vec();
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.1 206") {
        return (head, body);
    }
    while body.len() < len {
        let n = timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the body in time")
            .unwrap();
        assert!(n > 0, "closed after {} of {len} body bytes", body.len());
        body.extend_from_slice(&buf[..n]);
    }
    (head, body)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn request(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(5)).await
}

/// Polls `cond` every 20 ms for up to five seconds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn get_head_range_and_refusals_answer_as_before() {
    let server = start(limits()).await;
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();

    let got = text(request(server.addr, &get("small.txt", true)).await);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.ends_with(std::str::from_utf8(SMALL).unwrap()), "{got}");
    assert!(
        got.to_ascii_lowercase().contains("accept-ranges: bytes"),
        "{got}"
    );

    let got = text(
        request(
            server.addr,
            b"HEAD /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(header(head, "content-length"), Some("37"), "{head}");
    assert_eq!(body, "", "HEAD has no body");

    let got = text(
        request(
            server.addr,
            b"GET /small.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=10-15\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 206 Partial Content"), "{head}");
    assert_eq!(
        header(head, "content-range"),
        Some("bytes 10-15/37"),
        "{head}"
    );
    assert_eq!(body, "abcdef");

    let got = text(
        request(
            server.addr,
            b"GET /small.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=100-\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    assert!(got.starts_with("HTTP/1.1 416 "), "{got}");
    assert_eq!(
        header(got.split_once("\r\n\r\n").unwrap().0, "content-range"),
        Some("bytes */37")
    );

    let got = text(request(server.addr, &get("..%2fetc/passwd", true)).await);
    assert!(got.starts_with("HTTP/1.1 403 "), "{got}");
    let got = text(request(server.addr, &get("missing", true)).await);
    assert!(got.starts_with("HTTP/1.1 404 "), "{got}");
    let got = text(
        request(
            server.addr,
            b"POST /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
        .await,
    );
    assert!(got.starts_with("HTTP/1.1 405 "), "{got}");
    assert_eq!(
        header(got.split_once("\r\n\r\n").unwrap().0, "allow"),
        Some("GET, HEAD")
    );
}

#[tokio::test]
async fn past_the_per_client_cap_a_client_gets_503_and_others_are_served() {
    let server = start(limits()).await;
    let a = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(a, server.addr).await);
    }
    let mut extra = connect_from(a, server.addr).await;
    let got = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    assert_eq!(
        String::from_utf8(got).unwrap(),
        String::from_utf8(refuse::response(&caps::Refusal::PerClient { max: 4 })).unwrap()
    );

    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 3), server.addr).await;
    other.write_all(&get("small.txt", true)).await.unwrap();
    let got = read_until_closed(&mut other, Duration::from_secs(5)).await;
    assert!(got.starts_with(b"HTTP/1.1 200 OK"), "{got:?}");

    // A held connection that closes gives its place back.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from(a, server.addr).await;
        again.write_all(&get("small.txt", true)).await.unwrap();
        let got = read_until_closed(&mut again, Duration::from_secs(5)).await;
        if got.starts_with(b"HTTP/1.1 200 OK") {
            break;
        }
        assert!(got.starts_with(b"HTTP/1.1 503"), "{got:?}");
        assert!(Instant::now() < deadline, "no place came free within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn past_the_total_cap_every_client_gets_503() {
    let server = start(HttpLimits {
        max_connections: 3,
        max_connections_per_client: 2,
        ..limits()
    })
    .await;
    let _a = connect_from(Ipv4Addr::new(127, 0, 0, 2), server.addr).await;
    let _b = connect_from(Ipv4Addr::new(127, 0, 0, 3), server.addr).await;
    let _c = connect_from(Ipv4Addr::new(127, 0, 0, 3), server.addr).await;
    let mut d = connect_from(Ipv4Addr::new(127, 0, 0, 4), server.addr).await;
    let got = String::from_utf8(read_until_closed(&mut d, Duration::from_secs(5)).await).unwrap();
    assert!(
        got.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{got}"
    );
    assert!(
        got.ends_with("bootherd: server busy: too many connections (http.max_connections = 3)\n"),
        "{got}"
    );
}

#[tokio::test]
async fn silent_and_dribbling_clients_are_closed_after_the_header_timeout() {
    let header_timeout = Duration::from_millis(500);
    let server = start(HttpLimits {
        header_timeout,
        ..limits()
    })
    .await;
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut dribbler = TcpStream::connect(server.addr).await.unwrap();
    let dribble = async {
        // A header that never ends, one byte every 50 ms.
        for byte in b"GET /small.txt HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain([b'a'; 200].iter())
        {
            if dribbler.write_all(&[*byte]).await.is_err() {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server still took bytes after 11 s");
    };
    let (silent_got, dribbler_cut) = tokio::join!(
        async {
            let got = read_until_closed(&mut silent, Duration::from_secs(5)).await;
            (got, t0.elapsed())
        },
        dribble
    );
    let (got, silent_closed) = silent_got;
    // Closed without an answer.
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert!(
        silent_closed >= header_timeout && silent_closed < Duration::from_secs(4),
        "{silent_closed:?}"
    );
    let dribbled = dribbler_cut - t0;
    assert!(
        dribbled >= header_timeout && dribbled < Duration::from_secs(4),
        "{dribbled:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_after_the_header_timeout() {
    let header_timeout = Duration::from_millis(500);
    let server = start(HttpLimits {
        header_timeout,
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..2 {
        stream.write_all(&get("small.txt", false)).await.unwrap();
        let (head, body) = read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, SMALL);
    }
    let t0 = Instant::now();
    let rest = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let waited = t0.elapsed();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        waited >= header_timeout - Duration::from_millis(50) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_request_head_over_the_limit_gets_431() {
    let server = start(limits()).await;
    let mut raw = b"GET /small.txt HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 5000));
    raw.extend_from_slice(b"\r\n\r\n");
    let got = request(server.addr, &raw).await;
    assert!(
        got.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    // Just under the limit is served.
    let mut raw = b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 3900));
    raw.extend_from_slice(b"\r\n\r\n");
    let got = request(server.addr, &raw).await;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{got:?}");
}

#[tokio::test]
async fn a_download_the_client_stopped_reading_is_closed_after_the_idle_timeout() {
    let idle_timeout = Duration::from_millis(500);
    let server = start(HttpLimits {
        idle_timeout,
        ..limits()
    })
    .await;
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled.write_all(&get("big.bin", false)).await.unwrap();
    // Long past the idle timeout, with every buffer full.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = read_until_closed(&mut stalled, Duration::from_secs(10)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK"),
        "{:?}",
        &got[..got.len().min(100)]
    );
    assert!(
        got.len() < BIG_LEN,
        "the whole {} bytes came although the client stopped reading",
        got.len()
    );

    // A slow reader moves bytes all along and gets the whole file.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(&get("small.txt", false)).await.unwrap();
    read_response(&mut slow).await;
    slow.write_all(&get("big.bin", true)).await.unwrap();
    let mut total = Vec::with_capacity(BIG_LEN + 1024);
    let mut buf = vec![0u8; 4 << 20];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "slow download not done in 60 s");
        match timeout(Duration::from_secs(5), slow.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => total.extend_from_slice(&buf[..n]),
            other => panic!("slow download: {other:?} after {} bytes", total.len()),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let body_start = total.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        total[body_start..] == server.big[..],
        "slow download differs"
    );
}

#[tokio::test]
async fn after_begin_new_connections_are_refused_and_a_download_in_flight_completes() {
    let server = start(limits()).await;
    // An idle keep-alive connection and a download in flight.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(&get("small.txt", false)).await.unwrap();
    read_response(&mut idle).await;
    let mut download = TcpStream::connect(server.addr).await.unwrap();
    download.write_all(&get("big.bin", false)).await.unwrap();
    let mut first = vec![0u8; 64 * 1024];
    let n = download.read(&mut first).await.unwrap();
    assert!(n > 0);
    let mut received = first[..n].to_vec();

    server.shutdown.begin();
    timeout(Duration::from_secs(5), server.task)
        .await
        .expect("run returns once stopping")
        .unwrap();
    match TcpStream::connect(server.addr).await {
        Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}"),
        Ok(_) => panic!("a connection was accepted after begin()"),
    }
    let rest = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(rest.is_empty(), "the idle connection got {rest:?}");
    eventually("only the download is left", || {
        server.shutdown.in_flight() == 1
    })
    .await;

    let rest = read_until_closed(&mut download, Duration::from_secs(30)).await;
    received.extend_from_slice(&rest);
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&received[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        received[head_end + 4..] == server.big[..],
        "the download in flight was cut: {} of {BIG_LEN} bytes",
        received.len() - head_end - 4
    );
    timeout(Duration::from_secs(5), server.shutdown.drained())
        .await
        .expect("no connection left once the download ended");
}

#[tokio::test]
async fn abort_drops_a_download_in_flight() {
    let server = start(limits()).await;
    let mut download = TcpStream::connect(server.addr).await.unwrap();
    download.write_all(&get("big.bin", false)).await.unwrap();
    let mut first = vec![0u8; 1024];
    assert!(download.read(&mut first).await.unwrap() > 0);
    eventually("the download is in flight", || {
        server.shutdown.in_flight() == 1
    })
    .await;
    server.shutdown.abort();
    timeout(Duration::from_secs(5), server.shutdown.drained())
        .await
        .expect("abort ends every connection");
    let rest = read_until_closed(&mut download, Duration::from_secs(10)).await;
    assert!(rest.len() + 1024 < BIG_LEN, "the whole file still came");
}
