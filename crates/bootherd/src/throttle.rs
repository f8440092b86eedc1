//! Rate limits for log lines a flood could repeat: one line every ten seconds,
//! counting the rest.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lets a repeated warning through at most every ten seconds, counting the rest.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// When (Unix seconds) the last one was let through; 0 = never.
    last: AtomicU64,
    /// Occurrences since then, this one included.
    count: AtomicU64,
}

impl Throttle {
    /// Counts one occurrence at `now`; if a warning is due, returns how many
    /// occurrences it speaks for.
    /// [`Throttle::due`] at the current time.
    pub(crate) fn due_now(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.due(now)
    }

    pub(crate) fn due(&self, now: u64) -> Option<u64> {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = (last == 0 || now >= last + 10)
            && self
                .last
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        due.then(|| {
            self.count.fetch_sub(count, Ordering::Relaxed);
            count
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_warning_through_every_ten_seconds() {
        let throttle = Throttle::default();
        assert_eq!(throttle.due(1000), Some(1));
        assert_eq!(throttle.due(1001), None);
        assert_eq!(throttle.due(1009), None);
        assert_eq!(throttle.due(1010), Some(3));
        assert_eq!(throttle.due(1010), None);
        assert_eq!(throttle.due(2000), Some(2));
    }
}
