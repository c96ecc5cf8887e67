//! How a gateway behaves: [`GatewayOptions`] and the limits it defaults to.
//!
//! The fleet configuration fills the options per account; these constants are what an account
//! gets when its configuration says nothing.

use std::num::NonZeroU32;
use std::time::Duration;

/// Reads in flight at once per account. ChargePoint publishes no concurrency limit; four keeps
/// one slow answer from stalling the account while staying far from anything that looks like
/// a burst to the service. Writes have their own ([`DEFAULT_WRITE_BURST`]).
pub(crate) const MAX_INFLIGHT_PER_ACCOUNT: usize = 4;

/// Requests that may wait per account (in the batching window and in the lanes). A station
/// has at most one read of each method waiting, and the stations of an account ask together,
/// so a 10,000-station account asks for up to ~60,000 reads in one window; beyond this the
/// gateway is not keeping up and saying so beats queueing without end.
pub(crate) const MAX_QUEUED_PER_ACCOUNT: usize = 65_536;

/// The account's request rate when the configuration says nothing. The service's limit is
/// unpublished; public clients poll at 30–60 s, so one call a second is a safe default.
pub(crate) const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;

/// Calls that may go back to back before the rate applies.
pub(crate) const DEFAULT_BURST: u32 = 5;

/// Write-lane calls that may go at once whatever the reads are doing: tokens of the account's
/// rate that reads leave to writes, on top of [`DEFAULT_BURST`], and write-lane calls in flight
/// at once. Writes come in bursts (a demand-response event, an energy manager setting several
/// stations), and each is confirmed by a read-back, a call of its own unless the station's
/// group is known and shared (not yet at start-up): ten writes of one account and their ten
/// read-backs are sent at once, so all are confirmed in two round trips while the fleet's
/// reads are queued. (With room for ten calls, the read-backs of a start-up burst went a token
/// apart: eight writes at 10,000 stations took up to 660 ms.) Beyond that they keep to the
/// rate.
pub(crate) const DEFAULT_WRITE_BURST: u32 = 20;

/// How long reads are collected before they are merged into calls.
pub(crate) const DEFAULT_BATCH_WINDOW: Duration = Duration::from_millis(100);

/// How long a failing call is retried before the gateway gives up with the last error.
pub(crate) const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(60);

/// The longest one attempt may take, on top of the client's own deadline.
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest pause between two retries of a call. A quarter of the default minute between
/// scrapes: once a fault clears, the next attempt comes well inside the scrape interval, so
/// fresh data follows within one interval.
pub(crate) const DEFAULT_MAX_RETRY_INTERVAL: Duration = Duration::from_secs(15);

/// How one gateway behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayOptions {
    /// How long reads are collected before they are merged.
    pub batch_window: Duration,
    /// The account's sustained request rate.
    pub requests_per_minute: NonZeroU32,
    /// Calls that may go back to back.
    pub burst: NonZeroU32,
    /// Writes (and their read-backs) that may go at once beyond `burst`, and in flight at
    /// once: the part of the account's rate reads leave to writes.
    pub write_burst: NonZeroU32,
    /// Reads in flight at once.
    pub max_inflight: usize,
    /// Requests that may wait before new ones are refused.
    pub max_queued: usize,
    /// How long a failing call is retried.
    pub retry_deadline: Duration,
    /// The longest pause between two retries (they start at 500 ms and double, with jitter).
    pub max_retry_interval: Duration,
    /// The longest one attempt may take.
    pub call_timeout: Duration,
}

/// The shortest attempt deadline [`GatewayOptions::fit_to_tick`] sets: a ChargePoint answer,
/// even a 500-station page, comes well within it.
pub(crate) const MIN_FITTED_CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl GatewayOptions {
    /// Fits the retry spacing and the attempt deadline to stations scraping every `tick`, so
    /// that fresh data follows within one tick of a fault clearing: retries at most a quarter
    /// tick apart, and a hung attempt given up after half a tick (not below
    /// [`MIN_FITTED_CALL_TIMEOUT`]). The defaults already fit the default minute.
    pub fn fit_to_tick(&mut self, tick: Duration) {
        self.max_retry_interval = self.max_retry_interval.min(tick / 4);
        self.call_timeout = self
            .call_timeout
            .min((tick / 2).max(MIN_FITTED_CALL_TIMEOUT));
    }
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            batch_window: DEFAULT_BATCH_WINDOW,
            requests_per_minute: NonZeroU32::new(DEFAULT_REQUESTS_PER_MINUTE)
                .unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(DEFAULT_BURST).unwrap_or(NonZeroU32::MIN),
            write_burst: NonZeroU32::new(DEFAULT_WRITE_BURST).unwrap_or(NonZeroU32::MIN),
            max_inflight: MAX_INFLIGHT_PER_ACCOUNT,
            max_queued: MAX_QUEUED_PER_ACCOUNT,
            retry_deadline: DEFAULT_RETRY_DEADLINE,
            max_retry_interval: DEFAULT_MAX_RETRY_INTERVAL,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_fit_a_short_tick_and_leave_the_minute_alone() {
        let mut minute = GatewayOptions::default();
        minute.fit_to_tick(Duration::from_secs(60));
        assert_eq!(minute, GatewayOptions::default());
        let mut short = GatewayOptions::default();
        short.fit_to_tick(Duration::from_secs(10));
        assert_eq!(short.max_retry_interval, Duration::from_millis(2500));
        assert_eq!(short.call_timeout, Duration::from_secs(5));
        let mut second = GatewayOptions::default();
        second.fit_to_tick(Duration::from_secs(1));
        assert_eq!(second.call_timeout, MIN_FITTED_CALL_TIMEOUT);
    }
}
