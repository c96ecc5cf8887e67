//! Recording the gateway's events: ChargePoint calls, retries, rate-limit waits, batches and
//! queue depth, all labelled by account; and [`CallObserver`] for [`Metrics`].

use std::time::Duration;

use cp_registry::{AccountId, ApiMethod};

use super::Metrics;
use crate::error::ErrorKind;
use crate::observe::CallObserver;

impl Metrics {
    /// Starts the account's event counters at zero for every method. Call once per account at
    /// start: Prometheus sees no increase in a series that is born at 1, so without this the
    /// first plan-rights refusal or retry would never show in `increase()` or an alert.
    pub fn add_account(&self, account: &str) {
        self.known_account(account);
        self.start_account(account);
    }

    /// Marks the account known; true the first time.
    fn known_account(&self, account: &str) -> bool {
        // Held for one set lookup; a panic elsewhere cannot leave the set half-written.
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        !accounts.contains(account) && accounts.insert(account.to_string())
    }

    /// Starts the account's series at zero unless that was done already.
    fn ensure_account(&self, account: &str) {
        if self.known_account(account) {
            self.start_account(account);
        }
    }

    fn start_account(&self, account: &str) {
        let f = &self.families;
        for method in ApiMethod::ALL {
            let labels = [account, method.name()];
            f.requests
                .with_label_values(&[account, method.name(), "ok"])
                .inc_by(0);
            f.retries.with_label_values(&labels).inc_by(0);
            f.plan_rights_errors.with_label_values(&labels).inc_by(0);
        }
        f.overload_rejections
            .with_label_values(&[account])
            .inc_by(0);
        f.in_flight.with_label_values(&[account]).set(0.0);
        f.queued_requests.with_label_values(&[account]).set(0.0);
    }

    /// One attempt at one ChargePoint call finished: counts it by outcome, times it, and counts
    /// its error kind; a plan-rights refusal is also counted in `cp_plan_rights_errors_total`.
    pub(crate) fn record_call(
        &self,
        account: &str,
        method: ApiMethod,
        elapsed: Duration,
        outcome: Result<(), ErrorKind>,
    ) {
        let f = &self.families;
        let method = method.name();
        f.request_duration
            .with_label_values(&[account, method])
            .observe(elapsed.as_secs_f64());
        let outcome_label = match outcome {
            Ok(()) => "ok",
            Err(kind) => kind.as_str(),
        };
        f.requests
            .with_label_values(&[account, method, outcome_label])
            .inc();
        if let Err(kind) = outcome {
            f.errors
                .with_label_values(&[account, method, kind.as_str()])
                .inc();
            if kind == ErrorKind::PlanRights {
                f.plan_rights_errors
                    .with_label_values(&[account, method])
                    .inc();
            }
        }
    }

    /// The gateway decided to try a call again after a transient failure.
    pub(crate) fn record_retry(&self, account: &str, method: ApiMethod) {
        self.families
            .retries
            .with_label_values(&[account, method.name()])
            .inc();
    }

    /// A call waited `waited` for the account's rate limiter (record zero waits too, so the
    /// histogram shows how often the limiter bites).
    pub(crate) fn record_rate_limit_wait(&self, account: &str, waited: Duration) {
        self.families
            .rate_limit_wait
            .with_label_values(&[account])
            .observe(waited.as_secs_f64());
    }

    /// The number of the account's calls on the wire right now.
    pub(crate) fn set_calls_in_flight(&self, account: &str, count: usize) {
        self.families
            .in_flight
            .with_label_values(&[account])
            .set(count as f64);
    }

    /// One batched call covered `stations` stations (getStationStatus with a list of IDs,
    /// getLoad by station group).
    pub(crate) fn record_batch(&self, account: &str, method: ApiMethod, stations: usize) {
        self.families
            .batch_stations
            .with_label_values(&[account, method.name()])
            .observe(stations as f64);
    }

    /// The number of requests now waiting in the account's gateway queue.
    pub(crate) fn set_queue_depth(&self, account: &str, depth: usize) {
        self.families
            .queued_requests
            .with_label_values(&[account])
            .set(depth as f64);
    }

    /// A request was refused because the account's gateway queue was full.
    pub(crate) fn record_overload_rejection(&self, account: &str) {
        self.families
            .overload_rejections
            .with_label_values(&[account])
            .inc();
    }
}

/// The gateway's hook: every call event lands in its family.
impl CallObserver for Metrics {
    fn call_finished(
        &self,
        account: &AccountId,
        op: ApiMethod,
        elapsed: Duration,
        outcome: Result<(), ErrorKind>,
    ) {
        self.ensure_account(&account.0);
        self.record_call(&account.0, op, elapsed, outcome);
    }

    fn call_retried(&self, account: &AccountId, op: ApiMethod) {
        self.ensure_account(&account.0);
        self.record_retry(&account.0, op);
    }

    fn rate_limit_waited(&self, account: &AccountId, waited: Duration) {
        self.record_rate_limit_wait(&account.0, waited);
    }

    fn plan_refusal(&self, account: &AccountId, op: ApiMethod, standing: bool) {
        let gauge = &self.families.plan_refused;
        let labels = [account.0.as_str(), op.name()];
        if standing {
            gauge.with_label_values(&labels).set(1.0);
        } else if gauge.get_metric_with_label_values(&labels).is_ok() {
            // Only a method once refused has the series; it stays, at 0, once granted again.
            gauge.with_label_values(&labels).set(0.0);
        }
    }

    fn calls_in_flight(&self, account: &AccountId, count: usize) {
        self.set_calls_in_flight(&account.0, count);
    }

    fn batch_sent(&self, account: &AccountId, op: ApiMethod, stations: usize) {
        self.record_batch(&account.0, op, stations);
    }

    fn queue_depth(&self, account: &AccountId, depth: usize) {
        self.set_queue_depth(&account.0, depth);
    }

    fn overloaded(&self, account: &AccountId) {
        self.ensure_account(&account.0);
        self.record_overload_rejection(&account.0);
    }
}
