//! The answer to a connection past a cap: a short `503 Service Unavailable` with
//! `Connection: close`, then the connection is closed.
//!
//! The answer is written without waiting (a new socket's send buffer always takes
//! a few hundred bytes). Closing a socket whose client has sent a request we did
//! not read makes the kernel send a reset, which some clients take as an error
//! before they read our answer; so after the answer the connection half-closes
//! and reads whatever the client sends, for at most [`LINGER`], before closing.
//! At most [`MAX_LINGERING`] refused connections linger at once; past that a
//! refused connection is closed right after the answer, so refusals cannot hold
//! file descriptors either.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::warn;

use super::caps::Refusal;
use crate::shutdown::Shutdown;
use crate::throttle::Throttle;

/// How long a refused connection may stay open to read what the client sent.
pub const LINGER: Duration = Duration::from_secs(1);

/// How much a refused connection reads before it closes anyway.
const LINGER_BYTES: usize = 64 * 1024;

/// Refused connections lingering at once, at most.
pub const MAX_LINGERING: usize = 64;

/// The bytes a refused client receives.
pub fn response(refusal: &Refusal) -> Vec<u8> {
    let body = format!("bootherd: {refusal}\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         content-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n\
         connection: close\r\n\
         \r\n\
         {body}",
        body.len()
    )
    .into_bytes()
}

/// Refuses connections: answers, logs (throttled) and bounds the lingering.
#[derive(Debug)]
pub struct Refuser {
    lingering: Arc<AtomicUsize>,
    log: Throttle,
}

impl Default for Refuser {
    fn default() -> Self {
        Refuser {
            lingering: Arc::new(AtomicUsize::new(0)),
            log: Throttle::default(),
        }
    }
}

impl Refuser {
    /// Answers `stream` from `client` with the 503 for `refusal` and closes it,
    /// lingering in a task of `shutdown` while there is room.
    pub fn refuse(&self, stream: TcpStream, client: IpAddr, refusal: Refusal, shutdown: &Shutdown) {
        self.log(client, refusal);
        let answer = response(&refusal);
        if !matches!(stream.try_write(&answer), Ok(n) if n == answer.len()) {
            return;
        }
        if let Some(slot) = self.linger_slot() {
            let shutdown_ = shutdown.clone();
            shutdown.spawn(async move {
                tokio::select! {
                    () = linger(stream) => {}
                    () = shutdown_.aborting() => {}
                }
                drop(slot);
            });
        }
    }

    fn log(&self, client: IpAddr, refusal: Refusal) {
        if let Some(count) = self.log.due_now() {
            warn!(
                peer = %client,
                limit = refusal.key(),
                refused = count,
                "http: connection refused with 503: {refusal}"
            );
        }
    }

    fn linger_slot(&self) -> Option<LingerSlot> {
        self.lingering
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_LINGERING).then_some(n + 1)
            })
            .ok()
            .map(|_| LingerSlot(Arc::clone(&self.lingering)))
    }

    /// Refused connections lingering now.
    pub fn lingering(&self) -> usize {
        self.lingering.load(Ordering::Acquire)
    }
}

struct LingerSlot(Arc<AtomicUsize>);

impl Drop for LingerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Half-closes, then reads and drops what the client sends until it closes, for
/// at most [`LINGER`] and [`LINGER_BYTES`].
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while read < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_a_complete_503_that_closes() {
        let bytes = response(&Refusal::PerClient { max: 32 });
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}", body.len())),
            "{head}"
        );
        assert_eq!(
            body,
            "bootherd: too many connections from your address \
             (http.max_connections_per_client = 32)\n"
        );
    }

    #[test]
    fn lingering_is_bounded() {
        let refuser = Refuser::default();
        let slots: Vec<_> = (0..MAX_LINGERING)
            .map(|_| refuser.linger_slot().expect("room to linger"))
            .collect();
        assert!(refuser.linger_slot().is_none(), "one past the bound");
        assert_eq!(refuser.lingering(), MAX_LINGERING);
        drop(slots);
        assert_eq!(refuser.lingering(), 0);
        assert!(refuser.linger_slot().is_some());
    }
}
