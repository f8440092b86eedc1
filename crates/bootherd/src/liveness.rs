//! Heartbeats of the service loops: each DHCP receive thread, TFTP listener and
//! HTTP accept loop holds a [`Heartbeat`] and beats it as it goes round, at least
//! every [`BEAT_INTERVAL`] while it is healthy, busy or idle. [`stalled`] names
//! the loops that have not beaten for a while; the systemd watchdog
//! ([`crate::systemd`]) is fed only while there are none, so a wedged loop gets
//! the service restarted even though the main thread is fine.
//!
//! The registry is process-wide so that a loop deep inside a service can join
//! it with one line; a heartbeat leaves it when dropped (its loop ended).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often an async loop beats while it waits ([`Heartbeat::tick`]).
pub const BEAT_INTERVAL: Duration = Duration::from_secs(1);

/// The loops that beat, process-wide.
static LOOPS: Registry = Registry::new();

/// A set of loops and when each last beat.
#[derive(Debug)]
pub struct Registry {
    loops: Mutex<Vec<Arc<Entry>>>,
}

#[derive(Debug)]
struct Entry {
    name: String,
    /// Milliseconds since [`epoch`] at the last beat.
    last: AtomicU64,
}

/// One loop's membership in a [`Registry`]; leaves it when dropped.
#[derive(Debug)]
pub struct Heartbeat {
    entry: Arc<Entry>,
    registry: &'static Registry,
    ticker: Option<tokio::time::Interval>,
}

/// The registry of the loops of this process.
pub fn register(name: impl Into<String>) -> Heartbeat {
    LOOPS.register(name)
}

/// The loops of this process that have not beaten for `max_age`, by name.
pub fn stalled(max_age: Duration) -> Vec<String> {
    LOOPS.stalled(max_age, now_ms())
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Registry {
    /// An empty registry.
    pub const fn new() -> Registry {
        Registry {
            loops: Mutex::new(Vec::new()),
        }
    }

    /// Adds a loop named `name` that has just beaten.
    pub fn register(&'static self, name: impl Into<String>) -> Heartbeat {
        let entry = Arc::new(Entry {
            name: name.into(),
            last: AtomicU64::new(now_ms()),
        });
        self.lock().push(entry.clone());
        Heartbeat {
            entry,
            registry: self,
            ticker: None,
        }
    }

    /// The loops whose last beat is older than `max_age` at `now` (milliseconds
    /// since [`epoch`]).
    fn stalled(&self, max_age: Duration, now: u64) -> Vec<String> {
        let max_age = max_age.as_millis() as u64;
        self.lock()
            .iter()
            .filter(|e| now.saturating_sub(e.last.load(Ordering::Relaxed)) > max_age)
            .map(|e| e.name.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Entry>>> {
        // A list of names and counters holds no invariant a panic could break.
        self.loops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Heartbeat {
    /// Records that the loop is making progress now (an atomic store).
    pub fn beat(&self) {
        self.entry.last.store(now_ms(), Ordering::Relaxed);
    }

    /// For an async loop's `select!`: resolves every [`BEAT_INTERVAL`], having
    /// beaten. It beats only while the loop polls it, that is, while the loop
    /// is back waiting for work. Cancel-safe; needs a tokio runtime.
    pub async fn tick(&mut self) {
        let ticker = self.ticker.get_or_insert_with(|| {
            let mut ticker = tokio::time::interval(BEAT_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        });
        ticker.tick().await;
        self.beat();
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.registry
            .lock()
            .retain(|e| !Arc::ptr_eq(e, &self.entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_is_named_until_it_beats_or_leaves() {
        static REGISTRY: Registry = Registry::new();
        let busy = REGISTRY.register("dhcp-67");
        let idle = REGISTRY.register("tftp 10.0.0.1:69");
        let start = now_ms();
        let age = Duration::from_millis(3000);
        assert!(REGISTRY.stalled(age, start).is_empty());
        // Both beat at `start` at the latest; 5 s on, both are stalled.
        let later = start + 5000;
        assert_eq!(
            REGISTRY.stalled(age, later),
            vec!["dhcp-67".to_string(), "tftp 10.0.0.1:69".to_string()]
        );
        busy.entry.last.store(later - 100, Ordering::Relaxed);
        assert_eq!(REGISTRY.stalled(age, later), vec!["tftp 10.0.0.1:69"]);
        drop(idle);
        assert!(REGISTRY.stalled(age, later).is_empty());
        drop(busy);
        assert!(REGISTRY.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn tick_beats_once_per_interval() {
        static REGISTRY: Registry = Registry::new();
        let mut heartbeat = REGISTRY.register("http 10.0.0.1:80");
        // `epoch` is at least as old as the registration: a beat now is past 0.
        std::thread::sleep(Duration::from_millis(2));
        heartbeat.entry.last.store(0, Ordering::Relaxed);
        // The first tick of an interval is immediate, and it beats.
        heartbeat.tick().await;
        let first = heartbeat.entry.last.load(Ordering::Relaxed);
        assert!(first > 0, "tick did not beat");
        let second = tokio::time::timeout(BEAT_INTERVAL * 2, heartbeat.tick()).await;
        assert!(second.is_ok(), "no tick within two intervals");
        assert!(heartbeat.entry.last.load(Ordering::Relaxed) >= first);
    }
}
