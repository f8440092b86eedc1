//! The transfer loops: a few threads (one per CPU this process may use) that drive
//! every TFTP transfer, each thread many at once, as dnsmasq's single loop does. A
//! loop waits in one `epoll_wait` for all its transfers' sockets, level-triggered,
//! so a ready socket costs one `recv` (no second one to learn it is empty), and
//! for the earliest of their deadlines, kept in a heap. An ACK then costs a
//! `recv` and a `sendmsg`, and no thread switch: with a thread per transfer, 42%
//! of the server's time in a 200-board storm went to switching threads.
//!
//! Nothing on a loop waits for a disk: reads are tried with `RWF_NOWAIT`
//! ([`super::read_now`]), and one that would wait goes to the blocking pool of the
//! tokio runtime; its transfer sleeps (its socket unwatched, its timer ignored)
//! until the bytes are back. Each loop beats a heartbeat ([`crate::liveness`]),
//! so a loop that stalls anyway is seen by the watchdog.
//!
//! While transfers run, a loop polls its sockets for `tftp.busy_poll_us` (50 us by
//! default) before it sleeps: on this project's VM a lock-step round trip was
//! mostly the wake-up of a sleeping thread on a halted vCPU (BENCHMARKS.md).
//!
//! Hand-written on epoll ([`super::epoll`] says why not tokio or `polling`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bootherd_proto::tftp::transfer::{Transfer, Transmit};
use bootherd_proto::wire::tftp::{self as wire, ErrorCode};
use slab::Slab;
use tokio::sync::oneshot;
use tracing::{error, warn};

use super::epoll::{Epoll, Ready};
use super::read_now::{read_now, ReadNow, Way};
use super::window::{self, Stretch, Window};
use crate::liveness::{self, BEAT_INTERVAL};
use crate::shutdown::{Shutdown, ABORT_CHECK};
use crate::vfs::OpenFile;

/// One transfer handed to a loop: its socket (connected to the client), the
/// transfer as negotiated, the file.
pub struct Job {
    pub socket: std::net::UdpSocket,
    pub transfer: Transfer,
    pub file: Arc<OpenFile>,
    pub blksize: u16,
}

/// How a transfer ended on its loop: the transfer (its outcome says how it ended
/// for the protocol), or the error that ended it early (a read failed, the client's
/// port is closed, the server shuts down: `Interrupted`).
pub type Finished = (Transfer, io::Result<()>);

/// The loops; dropping the last handle lets their threads end once their
/// transfers have.
pub struct Loops {
    loops: Vec<Arc<Shared>>,
    next: AtomicUsize,
}

/// What a loop's thread and the rest of the process share.
struct Shared {
    epoll: Epoll,
    inbox: Mutex<Vec<Message>>,
    /// No new transfers will come: end once the last one has.
    closing: AtomicBool,
    /// The loop's thread panicked: messages are dropped (their senders with them).
    dead: AtomicBool,
}

enum Message {
    Start(Job, oneshot::Sender<Finished>),
    /// A read done off the loop for transfer `key`: the buffer, or why it failed.
    Read {
        key: usize,
        id: u64,
        stretch: Stretch,
        result: io::Result<Vec<u8>>,
    },
}

impl Loops {
    /// Starts one loop per CPU this process may run on. `blocking` runs the reads
    /// that would wait; `shutdown` ends every transfer when it aborts; each loop
    /// polls for `busy_poll` before it sleeps while it has transfers.
    pub fn start(
        blocking: tokio::runtime::Handle,
        shutdown: Shutdown,
        busy_poll: Duration,
    ) -> io::Result<Loops> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        Loops::with_reader(count, read_now, busy_poll, blocking, shutdown)
    }

    /// [`Loops::start`] with `count` loops and `reader` for the reads tried on them.
    fn with_reader(
        count: usize,
        reader: Reader,
        busy_poll: Duration,
        blocking: tokio::runtime::Handle,
        shutdown: Shutdown,
    ) -> io::Result<Loops> {
        let mut loops = Vec::with_capacity(count);
        for i in 0..count {
            let shared = Arc::new(Shared {
                epoll: Epoll::new()?,
                inbox: Mutex::new(Vec::new()),
                closing: AtomicBool::new(false),
                dead: AtomicBool::new(false),
            });
            let mut run = Loop {
                shared: shared.clone(),
                transfers: Slab::new(),
                timers: BinaryHeap::new(),
                blocking: blocking.clone(),
                shutdown: shutdown.clone(),
                started: 0,
                reader,
                busy_poll,
            };
            std::thread::Builder::new()
                .name(format!("tftp-loop-{i}"))
                .spawn(move || {
                    let heartbeat = liveness::register(format!("tftp transfer loop {i}"));
                    let shared = run.shared.clone();
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run.run(&heartbeat)
                    }));
                    if ran.is_err() {
                        // Its transfers are gone; later ones are refused at once, and
                        // the heartbeat stays registered without beating, so the
                        // watchdog sees the loop stalled.
                        error!("tftp: transfer loop {i} panicked; its transfers ended");
                        shared.dead.store(true, Ordering::Release);
                        shared
                            .inbox
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clear();
                        std::mem::forget(heartbeat);
                    }
                })?;
            loops.push(shared);
        }
        Ok(Loops {
            loops,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `job` on the next loop, in turn; resolves when it has ended, or with
    /// `None` if its loop died (a bug: the loop's heartbeat stops, and the
    /// watchdog restarts the service).
    pub async fn run(&self, job: Job) -> Option<Finished> {
        let (tx, rx) = oneshot::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.loops.len();
        self.loops[i].post(Message::Start(job, tx));
        rx.await.ok()
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        for shared in &self.loops {
            shared.closing.store(true, Ordering::Release);
            shared.epoll.wake();
        }
    }
}

impl Shared {
    fn post(&self, message: Message) {
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        if self.dead.load(Ordering::Acquire) {
            return;
        }
        inbox.push(message);
        drop(inbox);
        self.epoll.wake();
    }
}

/// One loop's own state, on its thread.
struct Loop {
    shared: Arc<Shared>,
    transfers: Slab<Running>,
    /// Deadlines, earliest first: (when, transfer key). An entry whose transfer
    /// has since armed another time (`Running::armed`) is stale and skipped.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    blocking: tokio::runtime::Handle,
    shutdown: Shutdown,
    /// Transfers started so far: each one's id, which a slab key is not (keys
    /// are reused), so a late read result never reaches a later transfer.
    started: u64,
    reader: Reader,
    /// How long to poll before sleeping while transfers run (`tftp.busy_poll_us`).
    busy_poll: Duration,
}

/// How a loop tries a read without waiting: [`read_now`] (tests force the other way).
type Reader = fn(&OpenFile, &mut Way, u64, &mut [u8]) -> ReadNow;

/// A transfer on its loop.
struct Running {
    id: u64,
    socket: std::net::UdpSocket,
    transfer: Transfer,
    file: Arc<OpenFile>,
    window: Window,
    done: Option<oneshot::Sender<Finished>>,
    /// The deadline in the heap for this transfer, if any.
    armed: Option<Instant>,
    /// A read is out on another thread: the socket is not watched meanwhile.
    reading: bool,
    /// How its reads are made.
    way: Way,
}

/// The receive buffer: an ACK or ERROR is small; anything longer is not one.
const INBOUND: usize = 1024;

impl Loop {
    fn run(&mut self, heartbeat: &liveness::Heartbeat) {
        let mut ready = Ready::with_capacity(256);
        let mut inbound = vec![0u8; INBOUND];
        let mut inbox = Vec::new();
        loop {
            heartbeat.beat();
            let now = Instant::now();
            let wait = self
                .timers
                .peek()
                .map_or(BEAT_INTERVAL, |Reverse((at, _))| {
                    at.saturating_duration_since(now)
                })
                .min(BEAT_INTERVAL)
                .min(ABORT_CHECK);
            if !self.poll_briefly(&mut ready) {
                if let Err(err) = self.shared.epoll.wait(&mut ready, wait) {
                    warn!(%err, "tftp: transfer loop cannot wait for its sockets");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            for key in ready.keys() {
                self.readable(key, &mut inbound);
            }
            if ready.woken {
                std::mem::swap(
                    &mut inbox,
                    &mut *self.shared.inbox.lock().unwrap_or_else(|e| e.into_inner()),
                );
            }
            for message in inbox.drain(..) {
                match message {
                    Message::Start(job, done) => self.start(job, done),
                    Message::Read {
                        key,
                        id,
                        stretch,
                        result,
                    } => self.read_done(key, id, stretch, result),
                }
            }
            self.fire_timers(Instant::now());
            if self.shutdown.is_aborting() {
                let keys: Vec<usize> = self.transfers.iter().map(|(k, _)| k).collect();
                for key in keys {
                    let msg = "server shutting down";
                    let _ = self.transfers[key]
                        .socket
                        .send(&wire::error_packet(ErrorCode::NotDefined, msg));
                    self.finish(key, Err(io::Error::new(io::ErrorKind::Interrupted, msg)));
                }
            }
            if self.transfers.is_empty() && self.shared.closing.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// While transfers run, polls the sockets (`epoll_wait` with no timeout) for up
    /// to `busy_poll` before the loop sleeps: the next ACK of a lock-step transfer
    /// often comes sooner than a sleeping thread wakes. True when `ready` now holds
    /// something; false when the loop should sleep (`ready` is then empty).
    fn poll_briefly(&self, ready: &mut Ready) -> bool {
        if self.busy_poll.is_zero() || self.transfers.is_empty() {
            return false;
        }
        let until = Instant::now() + self.busy_poll;
        loop {
            if self.shared.epoll.wait(ready, Duration::ZERO).is_err() {
                return false;
            }
            if !ready.is_empty() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    fn start(&mut self, job: Job, done: oneshot::Sender<Finished>) {
        let Job {
            socket,
            transfer,
            file,
            blksize,
        } = job;
        if let Err(err) = socket.set_nonblocking(true) {
            let _ = done.send((transfer, Err(err)));
            return;
        }
        self.started += 1;
        let key = self.transfers.insert(Running {
            id: self.started,
            socket,
            transfer,
            file,
            window: Window::new(blksize),
            done: Some(done),
            armed: None,
            reading: false,
            way: Way::CacheFirst,
        });
        // Removed from the set in `finish`, before the socket is closed.
        match self.shared.epoll.add(&self.transfers[key].socket, key) {
            Ok(()) => self.pump(key),
            Err(err) => {
                let running = self.transfers.remove(key);
                if let Some(done) = running.done {
                    let _ = done.send((running.transfer, Err(err)));
                }
            }
        }
    }

    /// The socket of transfer `key` has a datagram (or an error) to read.
    fn readable(&mut self, key: usize, inbound: &mut [u8]) {
        let Some(running) = self.transfers.get_mut(key) else {
            return;
        };
        if running.reading {
            return;
        }
        match running.socket.recv(inbound) {
            Ok(n) => running
                .transfer
                .handle_datagram(Instant::now(), &inbound[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return,
            // The client is gone (ICMP port unreachable), say.
            Err(err) => return self.finish(key, Err(err)),
        }
        self.pump(key);
    }

    /// Sends what transfer `key` asks for until it waits for its client, a read, or
    /// has ended; then arms its timer.
    fn pump(&mut self, key: usize) {
        loop {
            let running = &mut self.transfers[key];
            while !running.window.is_full() {
                match running.transfer.poll_transmit() {
                    Some(Transmit::Data { block, offset, len }) => {
                        running.window.push(block, offset, len)
                    }
                    Some(Transmit::Oack(packet) | Transmit::Error(packet)) => {
                        running.window.then(packet);
                        break;
                    }
                    None => break,
                }
            }
            if running.window.is_empty() {
                break;
            }
            let read_ahead = window::read_ahead(self.transfers.len());
            let running = &mut self.transfers[key];
            if let Some(stretch) = running.window.missing(running.file.len(), read_ahead) {
                let mut buf = running.window.take_buffer(stretch);
                match (self.reader)(&running.file, &mut running.way, stretch.offset, &mut buf) {
                    ReadNow::Done => running.window.filled(stretch, buf),
                    ReadNow::WouldWait => return self.read_off_loop(key, stretch, buf),
                    ReadNow::Failed(err) => return self.read_failed(key, err),
                }
            }
            if let Err(err) = running.window.send(&running.socket) {
                return self.finish(key, Err(err));
            }
        }
        let running = &mut self.transfers[key];
        let Some(deadline) = running.transfer.poll_timeout() else {
            return self.finish(key, Ok(()));
        };
        // A lock-step transfer's deadline moves later with every ACK: the heap is
        // touched only when it comes earlier, about once per timeout, not per block.
        if running.armed.is_none_or(|at| deadline < at) {
            running.armed = Some(deadline);
            self.timers.push(Reverse((deadline, key)));
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(running) = self.transfers.get_mut(key) else {
                continue;
            };
            if running.armed != Some(at) || running.reading {
                continue;
            }
            running.armed = None;
            match running.transfer.poll_timeout() {
                Some(deadline) if deadline <= now => {
                    running.transfer.handle_timeout(now);
                    self.pump(key);
                }
                Some(deadline) => {
                    running.armed = Some(deadline);
                    self.timers.push(Reverse((deadline, key)));
                }
                None => self.finish(key, Ok(())),
            }
        }
    }

    /// Reads `stretch` on a thread that may wait; the transfer sleeps until then.
    fn read_off_loop(&mut self, key: usize, stretch: Stretch, mut buf: Vec<u8>) {
        let running = &mut self.transfers[key];
        running.reading = true;
        running.armed = None;
        // Unwatched while it sleeps: level-triggered, its queued ACKs would wake
        // the loop again and again.
        let _ = self.shared.epoll.watch(&running.socket, key, false);
        let file = running.file.clone();
        let id = running.id;
        let shared = self.shared.clone();
        self.blocking.spawn_blocking(move || {
            let result = file.read_exact_at(stretch.offset, &mut buf).map(|()| buf);
            shared.post(Message::Read {
                key,
                id,
                stretch,
                result,
            });
        });
    }

    fn read_done(&mut self, key: usize, id: u64, stretch: Stretch, result: io::Result<Vec<u8>>) {
        let Some(running) = self.transfers.get_mut(key).filter(|r| r.id == id) else {
            // That transfer has ended (the server is shutting down, say).
            return;
        };
        running.reading = false;
        let _ = self.shared.epoll.watch(&running.socket, key, true);
        match result {
            Ok(buf) => {
                running.window.filled(stretch, buf);
                if let Err(err) = running.window.send(&running.socket) {
                    return self.finish(key, Err(err));
                }
                self.pump(key);
            }
            Err(err) => self.read_failed(key, err),
        }
    }

    /// Tells the client a read failed and ends the transfer with that error.
    fn read_failed(&mut self, key: usize, err: io::Error) {
        let msg = format!("read failed: {err}");
        let _ = self.transfers[key]
            .socket
            .send(&wire::error_packet(ErrorCode::NotDefined, &msg));
        self.finish(key, Err(err));
    }

    /// Ends transfer `key`: its socket leaves the epoll set and is closed, its result
    /// goes back to the task that started it.
    fn finish(&mut self, key: usize, result: io::Result<()>) {
        let running = self.transfers.remove(key);
        let _ = self.shared.epoll.delete(&running.socket);
        if let Some(done) = running.done {
            let _ = done.send((running.transfer, result));
        }
    }
}

#[cfg(test)]
#[path = "loops_tests.rs"]
mod tests;
