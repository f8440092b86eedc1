//! All the boards' TFTP reads on one thread: an epoll set of their sockets
//! (bootherd's own, `tftp/epoll.rs`), one `recv` per ready socket, the timeouts
//! checked every few milliseconds. A board thread starts its read, hands it over
//! and sleeps until it is over ([`TftpLoop::get`]).
//!
//! One thread rather than a blocking receive per board: with 200 boards each
//! DATA packet woke a board thread, and the thread switches made the emulated
//! boards, not the server, the bound of the storm (both CPUs busy, the server's
//! 15% idle waiting for the boards).

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bootherd_proto::emulate::Fetch;

use crate::epoll::{Epoll, Ready};
use crate::tftp_get::{Got, Resends, TftpRead};

/// How often the reads' deadlines are looked at: a try lasts a second.
const TIMEOUT_CHECK: Duration = Duration::from_millis(10);

type Answer = mpsc::Sender<(io::Result<Got>, Resends)>;

/// The thread every board's reads run on; it ends when this is dropped.
pub struct TftpLoop {
    shared: Arc<Shared>,
}

struct Shared {
    epoll: Epoll,
    inbox: Mutex<Vec<(TftpRead, Answer)>>,
    stop: AtomicBool,
}

impl TftpLoop {
    pub fn start() -> io::Result<TftpLoop> {
        let shared = Arc::new(Shared {
            epoll: Epoll::new()?,
            inbox: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let run = shared.clone();
        std::thread::Builder::new()
            .name("tftp-reads".into())
            .spawn(move || run_loop(&run))?;
        Ok(TftpLoop { shared })
    }

    /// Reads `fetch` from `local` as the board's firmware would; returns when the
    /// read is over. Resends are added to `resends`.
    pub fn get(&self, fetch: &Fetch, local: Ipv4Addr, resends: &mut Resends) -> io::Result<Got> {
        let read = TftpRead::start(fetch, local)?;
        let (tx, rx) = mpsc::channel();
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((read, tx));
        self.shared.epoll.wake();
        let (got, counted) = rx
            .recv()
            .map_err(|_| io::Error::other("the TFTP loop ended"))?;
        resends.by_client += counted.by_client;
        resends.by_server += counted.by_server;
        got
    }
}

impl Drop for TftpLoop {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.epoll.wake();
    }
}

fn run_loop(shared: &Shared) {
    let mut reads: HashMap<usize, (TftpRead, Answer)> = HashMap::new();
    let mut next_key = 0usize;
    let mut ready = Ready::with_capacity(256);
    let mut buf = vec![0u8; 65536];
    let mut next_check = Instant::now() + TIMEOUT_CHECK;
    while !shared.stop.load(Ordering::Acquire) {
        let wait = next_check.saturating_duration_since(Instant::now());
        if shared.epoll.wait(&mut ready, wait).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
        for key in ready.keys() {
            let Some((read, _)) = reads.get_mut(&key) else {
                continue;
            };
            let over = match read.socket.recv_from(&mut buf) {
                Ok((len, from)) => read.datagram(&buf[..len], from),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(Some(Got::Failed(
                    "nothing listens on the server's port".into(),
                ))),
                Err(e) => Err(e),
            };
            finish_if_over(shared, &mut reads, key, over);
        }
        if ready.woken {
            let new = std::mem::take(&mut *shared.inbox.lock().unwrap_or_else(|e| e.into_inner()));
            for (read, answer) in new {
                let key = next_key;
                next_key += 1;
                if let Err(e) = shared.epoll.add(&read.socket, key) {
                    let _ = answer.send((Err(e), read.resends));
                    continue;
                }
                reads.insert(key, (read, answer));
            }
        }
        let now = Instant::now();
        if now >= next_check {
            next_check = now + TIMEOUT_CHECK;
            let due: Vec<usize> = reads
                .iter()
                .filter(|(_, (read, _))| read.deadline <= now)
                .map(|(&k, _)| k)
                .collect();
            for key in due {
                let over = reads.get_mut(&key).map_or(Ok(None), |(r, _)| r.timeout());
                finish_if_over(shared, &mut reads, key, over);
            }
        }
    }
}

/// Ends read `key` if `over` says so (a result or an error) and answers its board.
fn finish_if_over(
    shared: &Shared,
    reads: &mut HashMap<usize, (TftpRead, Answer)>,
    key: usize,
    over: io::Result<Option<Got>>,
) {
    let result = match over {
        Ok(None) => return,
        Ok(Some(got)) => Ok(got),
        Err(e) => Err(e),
    };
    if let Some((read, answer)) = reads.remove(&key) {
        let _ = shared.epoll.delete(&read.socket);
        let _ = answer.send((result, read.resends));
    }
}
