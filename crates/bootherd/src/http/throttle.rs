//! At most one log line per period for an event a client can repeat at will.

use std::time::{Duration, Instant};

/// Lets one event in per `period` through, counting the ones held back.
#[derive(Debug)]
pub struct LogThrottle {
    period: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogThrottle {
    /// A throttle letting one line through per `period`.
    pub const fn new(period: Duration) -> Self {
        LogThrottle {
            period,
            last: None,
            held_back: 0,
        }
    }

    /// Whether to log an event happening at `now`; when yes, how many events
    /// were held back since the last line.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.period => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_held_back() {
        let mut throttle = LogThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(throttle.allow(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(throttle.allow(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(throttle.allow(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(throttle.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(throttle.allow(t0 + Duration::from_secs(21)), Some(1));
    }
}
