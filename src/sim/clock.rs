//! The simulator's clock: simulated time that runs at a chosen speed and can be stepped.
//!
//! The fleet model never reads the wall clock itself; it is advanced to [`SimClock::now`]
//! before each answer. A scale of 1.0 follows real time, 0.0 freezes time so that only
//! [`SimClock::advance`] (the admin endpoint's `POST /admin/advance?seconds=N`) moves it, which
//! is what deterministic tests use.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Simulated time: `start + scale × real elapsed + manual steps`.
#[derive(Debug)]
pub struct SimClock {
    start: DateTime<Utc>,
    real_origin: Instant,
    scale: f64,
    /// Sum of every manual step. std Mutex: held only to add or read one number.
    stepped: Mutex<Duration>,
}

impl SimClock {
    /// A clock that reads `start` now and then runs `scale` simulated seconds per real second.
    /// Negative or non-finite scales are treated as 0 (frozen).
    pub fn new(start: DateTime<Utc>, scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        SimClock {
            start,
            real_origin: Instant::now(),
            scale,
            stepped: Mutex::new(Duration::ZERO),
        }
    }

    /// A frozen clock: time moves only when stepped.
    pub fn frozen(start: DateTime<Utc>) -> Self {
        SimClock::new(start, 0.0)
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        let real = self.real_origin.elapsed().mul_f64(self.scale);
        let stepped = *self.stepped.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = chrono::Duration::from_std(real + stepped).unwrap_or(chrono::Duration::MAX);
        self.start
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Moves simulated time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut stepped = self.stepped.lock().unwrap_or_else(|p| p.into_inner());
        *stepped = stepped.saturating_add(by);
    }

    /// Simulated seconds per real second.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn frozen_clock_moves_only_when_stepped() {
        let start = Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap();
        let clock = SimClock::frozen(start);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
    }

    #[test]
    fn scaled_clock_runs_faster_than_real_time() {
        let start = Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap();
        let clock = SimClock::new(start, 1000.0);
        std::thread::sleep(Duration::from_millis(10));
        assert!(clock.now() >= start + chrono::Duration::seconds(10));
    }
}
