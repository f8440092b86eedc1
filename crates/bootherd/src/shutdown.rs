//! An orderly stop, shared by every service.
//!
//! SIGTERM or SIGINT first *stops* the services: listeners close and no new
//! request is taken. Work in flight (TFTP transfers, HTTP connections, lease
//! commits) then gets a bounded grace to finish; whatever is left after it is
//! *aborted*: transfers end with a TFTP error, connections are dropped. A
//! service spawns its in-flight work with [`Shutdown::spawn`] or
//! [`Shutdown::spawn_blocking`], so `serve` can wait for exactly that work.
//! Blocking code polls [`Shutdown::is_aborting`] at least every
//! [`ABORT_CHECK`].

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The longest a blocking wait may go without looking at [`Shutdown::is_aborting`].
pub const ABORT_CHECK: Duration = Duration::from_millis(200);

/// Tells services when to stop taking work and when to give up on work in
/// flight, and counts that work. Cheap to clone; every clone is the same stop.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    stop: CancellationToken,
    abort: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// A shutdown that has not begun.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stop taking new work: listeners return. Idempotent.
    pub fn begin(&self) {
        self.stop.cancel();
        self.tracker.close();
    }

    /// Give up on work still in flight. Implies [`Shutdown::begin`].
    pub fn abort(&self) {
        self.begin();
        self.abort.cancel();
    }

    /// Whether services should stop taking work.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Whether work in flight should end now.
    pub fn is_aborting(&self) -> bool {
        self.abort.is_cancelled()
    }

    /// Resolves when services should stop taking work.
    pub async fn stopping(&self) {
        self.stop.cancelled().await
    }

    /// Resolves when work in flight should end.
    pub async fn aborting(&self) {
        self.abort.cancelled().await
    }

    /// Spawns a piece of work in flight on the current runtime.
    pub fn spawn<F>(&self, work: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(work)
    }

    /// Spawns a piece of blocking work in flight; it must poll
    /// [`Shutdown::is_aborting`] at least every [`ABORT_CHECK`].
    pub fn spawn_blocking<F, T>(&self, work: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.tracker.spawn_blocking(work)
    }

    /// Pieces of work in flight.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Resolves once shutdown has begun and no work is in flight.
    pub async fn drained(&self) {
        self.tracker.wait().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drained_waits_for_tracked_work_and_abort_ends_it() {
        let shutdown = Shutdown::new();
        let worker = shutdown.clone();
        shutdown.spawn(async move { worker.aborting().await });
        let blocking = shutdown.clone();
        shutdown.spawn_blocking(move || {
            for _ in 0..100 {
                if blocking.is_aborting() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("abort not seen within a second");
        });
        assert_eq!(shutdown.in_flight(), 2);
        shutdown.begin();
        assert!(shutdown.is_stopping() && !shutdown.is_aborting());
        let early = tokio::time::timeout(Duration::from_millis(50), shutdown.drained()).await;
        assert!(early.is_err(), "work in flight ended before the abort");
        shutdown.abort();
        tokio::time::timeout(Duration::from_secs(2), shutdown.drained())
            .await
            .expect("tracked work ends after the abort");
        assert_eq!(shutdown.in_flight(), 0);
    }
}
