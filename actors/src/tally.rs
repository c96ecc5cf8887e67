//! [`FleetTally`]: the fleet's health in numbers (stations up, starting and degraded, ports charging,
//! load, sheds, failing methods), kept up to date by the stations themselves.
//!
//! The running summary asks for these numbers every 30 s; asking every station actor for its
//! whole health, as `/api/health` does, cost a message, a reply and a timer per station, about
//! a tenth of the supervisor's CPU at 10,000 stations. Instead each station holds a
//! [`TallyShare`]: after every message it handles it puts its own numbers in, as a change
//! against what it had put in before, and its share is taken out again when its state is
//! dropped (the actor stopped or failed), so a station waiting for a restart counts as down, as
//! `/api/health` reports it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The sums of every running station's share. Cheap to read at any time; the counts of one
/// moment may mix stations' updates a message apart.
#[derive(Debug, Default)]
pub(crate) struct FleetTally {
    up: AtomicI64,
    starting: AtomicI64,
    degraded: AtomicI64,
    ports_charging: AtomicI64,
    /// Milliwatts: whole numbers add up exactly (ChargePoint reports kW to the watt).
    load_mw: AtomicI64,
    sheds_active: AtomicI64,
    errors: AtomicI64,
}

/// One station's numbers, as it puts them into the tally.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct StationCounts {
    pub(crate) up: bool,
    pub(crate) starting: bool,
    pub(crate) degraded: bool,
    pub(crate) ports_charging: usize,
    pub(crate) load_kw: f64,
    pub(crate) sheds_active: usize,
    pub(crate) errors: usize,
}

/// The tally's sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TallySums {
    pub(crate) up: usize,
    pub(crate) starting: usize,
    pub(crate) degraded: usize,
    pub(crate) ports_charging: usize,
    pub(crate) load_kw: f64,
    pub(crate) sheds_active: usize,
    pub(crate) errors: usize,
}

impl FleetTally {
    pub(crate) fn sums(&self) -> TallySums {
        let count = |n: &AtomicI64| usize::try_from(n.load(Ordering::Relaxed)).unwrap_or(0);
        TallySums {
            up: count(&self.up),
            starting: count(&self.starting),
            degraded: count(&self.degraded),
            ports_charging: count(&self.ports_charging),
            load_kw: self.load_mw.load(Ordering::Relaxed) as f64 / 1e6,
            sheds_active: count(&self.sheds_active),
            errors: count(&self.errors),
        }
    }

    /// Adds `counts` once (`sign` 1) or takes them out (`sign` -1).
    fn add(&self, counts: &StationCounts, sign: i64) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX) * sign;
        self.up
            .fetch_add(n(usize::from(counts.up)), Ordering::Relaxed);
        self.starting
            .fetch_add(n(usize::from(counts.starting)), Ordering::Relaxed);
        self.degraded
            .fetch_add(n(usize::from(counts.degraded)), Ordering::Relaxed);
        self.ports_charging
            .fetch_add(n(counts.ports_charging), Ordering::Relaxed);
        self.load_mw
            .fetch_add(milliwatts(counts.load_kw) * sign, Ordering::Relaxed);
        self.sheds_active
            .fetch_add(n(counts.sheds_active), Ordering::Relaxed);
        self.errors.fetch_add(n(counts.errors), Ordering::Relaxed);
    }
}

/// `kw` in whole milliwatts; loads are finite and at most 10,000 kW a station (the client
/// refuses anything else), so the cast cannot saturate.
fn milliwatts(kw: f64) -> i64 {
    (kw * 1e6).round() as i64
}

/// One station's part of the tally; taken out when dropped.
#[derive(Debug)]
pub(crate) struct TallyShare {
    tally: Arc<FleetTally>,
    counted: StationCounts,
}

impl TallyShare {
    /// A share that counts nothing yet.
    pub(crate) fn new(tally: Arc<FleetTally>) -> Self {
        TallyShare {
            tally,
            counted: StationCounts::default(),
        }
    }

    /// Makes the station's share `counts`.
    pub(crate) fn set(&mut self, counts: StationCounts) {
        if counts != self.counted {
            self.tally.add(&self.counted, -1);
            self.tally.add(&counts, 1);
            self.counted = counts;
        }
    }
}

impl Drop for TallyShare {
    fn drop(&mut self) {
        self.tally.add(&self.counted, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_change_and_leave_with_their_station() {
        let tally = Arc::new(FleetTally::default());
        let mut a = TallyShare::new(Arc::clone(&tally));
        let mut b = TallyShare::new(Arc::clone(&tally));
        a.set(StationCounts {
            up: true,
            ports_charging: 2,
            load_kw: 13.2,
            sheds_active: 1,
            ..StationCounts::default()
        });
        b.set(StationCounts {
            starting: true,
            load_kw: 0.042,
            errors: 1,
            ..StationCounts::default()
        });
        let sums = tally.sums();
        assert_eq!((sums.up, sums.starting, sums.errors), (1, 1, 1));
        assert_eq!((sums.ports_charging, sums.sheds_active), (2, 1));
        assert!((sums.load_kw - 13.242).abs() < 1e-9, "{sums:?}");
        b.set(StationCounts {
            up: true,
            ..StationCounts::default()
        });
        drop(a);
        let sums = tally.sums();
        assert_eq!((sums.up, sums.starting, sums.errors), (1, 0, 0));
        assert_eq!(sums.load_kw, 0.0);
    }
}
