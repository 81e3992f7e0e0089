//! The simulator's clock: real time plus an offset that the admin API moves forward, so a test
//! can let an hour pass (a `requestId` replay window, a maintenance window) in a moment. Token
//! lifetimes and provisioning delays keep to real time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicU64,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        Timestamp::now() + self.offset()
    }

    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by`; returns the times before and after.
    pub fn advance(&self, by: Duration) -> (Timestamp, Timestamp) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let before = self.now();
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        (before, before + by)
    }

    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let c = Clock::default();
        let (before, after) = c.advance(Duration::from_secs(3600));
        assert_eq!(after.duration_since(before).as_secs(), 3600);
        assert!(c.now() >= after);
        c.reset();
        assert!(c.now() < after);
    }
}
