//! The account's request rate: one token bucket (GCRA) shared by every request of the account,
//! the first of each call, its retries and the further pages of a paged call alike, with a
//! part of it that only writes may take.
//!
//! A burst of writes (a demand-response event sheds many stations at once, each shed is
//! confirmed by a read-back) must not find the bucket emptied by the read backlog of a fleet.
//! The bucket holds the account's `burst` plus a `write_burst`, and a read takes a token only
//! while more than `write_burst` are left: reads go as before (`burst` back to back, then the
//! steady rate), and under any read backlog `write_burst` tokens stay for writes to take at
//! once. Writes still go first when both wait (the write lane is served first, see
//! `call.rs`). Reads and writes together keep to the steady rate; at most `burst +
//! write_burst` requests go back to back.
//!
//! Not `governor`, which the gateway used before: it has no way to let one kind of request
//! take tokens that another must leave, nor to look at the bucket without taking from it.

use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Which kind of request asks for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// A write, or a write's read-back: may take any token of the bucket.
    Write,
    /// Any other read, its retries and its further pages: leaves `write_burst` tokens.
    Read,
}

/// A GCRA token bucket of `burst + write_burst` tokens refilled at `per_minute`, of which reads
/// leave `write_burst`; on tokio's clock (a paused test clock pauses it too).
#[derive(Debug)]
pub(super) struct AccountRate {
    /// Time per token.
    interval: Duration,
    /// How far ahead of now the bucket's theoretical arrival time may run for a write: the
    /// whole bucket less one token.
    write_tolerance: Duration,
    /// The same for a read: `burst` less one token.
    read_tolerance: Duration,
    origin: Instant,
    /// The theoretical arrival time of the next request, since `origin`. std Mutex: held only
    /// to compare and add, never across an await.
    tat: Mutex<Duration>,
}

impl AccountRate {
    pub(super) fn new(per_minute: NonZeroU32, burst: NonZeroU32, write_burst: u32) -> Self {
        let interval = Duration::from_secs(60) / per_minute.get();
        let read_tolerance = interval * (burst.get() - 1);
        let write_tolerance = read_tolerance + interval * write_burst;
        AccountRate {
            interval,
            write_tolerance,
            read_tolerance,
            origin: Instant::now(),
            tat: Mutex::new(Duration::ZERO),
        }
    }

    /// Takes a token for a request of `lane` now, or says how long until one is free for it.
    ///
    /// # Errors
    /// The wait until a token is free, when none is now.
    pub(super) fn try_take(&self, lane: Lane) -> Result<(), Duration> {
        let tolerance = match lane {
            Lane::Write => self.write_tolerance,
            Lane::Read => self.read_tolerance,
        };
        let now = self.origin.elapsed();
        // A panic elsewhere mid-update leaves a valid time: it is one plain value.
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        let earliest = tat.saturating_sub(tolerance);
        if now < earliest {
            return Err(earliest - now);
        }
        *tat = (*tat).max(now) + self.interval;
        Ok(())
    }

    /// Waits until a token is free for a request of `lane` and takes it; returns how long
    /// that took.
    pub(super) async fn take(&self, lane: Lane) -> Duration {
        let started = Instant::now();
        while let Err(wait) = self.try_take(lane) {
            tokio::time::sleep(wait).await;
        }
        started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: u32, burst: u32, write_burst: u32) -> AccountRate {
        AccountRate::new(
            NonZeroU32::new(per_minute).unwrap(),
            NonZeroU32::new(burst).unwrap(),
            write_burst,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn reads_take_their_burst_and_leave_the_writes_theirs() {
        let bucket = rate(600, 2, 3);
        // A full bucket: reads take their burst of two.
        assert_eq!(bucket.try_take(Lane::Read), Ok(()));
        assert_eq!(bucket.try_take(Lane::Read), Ok(()));
        assert_eq!(bucket.try_take(Lane::Read), Err(Duration::from_millis(100)));
        // Writes find their three.
        for _ in 0..3 {
            assert_eq!(bucket.try_take(Lane::Write), Ok(()));
        }
        assert_eq!(
            bucket.try_take(Lane::Write),
            Err(Duration::from_millis(100))
        );
        // Refilled at 10 a second, the writes' share first.
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(bucket.try_take(Lane::Read), Err(Duration::from_millis(300)));
        assert_eq!(bucket.try_take(Lane::Write), Ok(()));
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(bucket.try_take(Lane::Read), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_read_lane_leaves_the_writes_share_full() {
        let bucket = rate(600, 5, 10);
        // Fifty reads, one after another: a burst of five, then the steady rate.
        let started = Instant::now();
        for _ in 0..50 {
            bucket.take(Lane::Read).await;
        }
        assert_eq!(started.elapsed(), Duration::from_millis(4_500));
        // Then a burst of writes finds ten tokens at once.
        for _ in 0..10 {
            assert_eq!(bucket.try_take(Lane::Write), Ok(()));
        }
        assert!(bucket.try_take(Lane::Write).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_write_burst_reads_and_writes_share_one_bucket() {
        let bucket = rate(60, 1, 0);
        assert_eq!(bucket.try_take(Lane::Read), Ok(()));
        assert_eq!(bucket.try_take(Lane::Write), Err(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(bucket.try_take(Lane::Write), Ok(()));
        assert_eq!(bucket.try_take(Lane::Read), Err(Duration::from_secs(1)));
    }
}
