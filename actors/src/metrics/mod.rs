//! Prometheus metrics of the supervisor: API calls, fleet health and port telemetry.
//!
//! [`Metrics`] owns one `prometheus::Registry` with the account and fleet-wide families, and the
//! rows of the families labelled by station (`station_series`). It is the gateways' and the
//! stations' observer ([`CallObserver`](crate::CallObserver),
//! [`StationObserver`](crate::StationObserver)) and records each event they report (a call
//! finished, a station scraped, a write confirmed, a getLoad answer arrived) with one
//! crate-private method per event, so no caller touches label order or units. The supervisor serves
//! [`Metrics::render`] at `/metrics` on its own listener; `dashboards/` holds the Grafana
//! dashboards and alert rules built on these names.
//!
//! Conventions, checked by `promtool check metrics` in the tests:
//! - few series per station (see `families`): a 2-port station costs at most 16, its share of
//!   the fleet-wide series included;
//! - names start with `cp_`, counters end in `_total`, values are in base units: durations in
//!   seconds, power in watts (ChargePoint's kW × 1000), energy in joules (kWh × 3.6e6);
//! - ChargePoint's `percentShed` (0..100) is exported as `cp_port_shed_ratio` (0..1), the
//!   Prometheus convention for fractions; Grafana shows it with the `percentunit` unit;
//! - label values are bounded: accounts, stations and ports come from the configuration,
//!   methods from [`ApiMethod`](cp_registry::ApiMethod), error kinds from
//!   [`ErrorKind::as_str`](crate::ErrorKind::as_str), write attributes from the registry
//!   catalog. Session IDs, error texts and user IDs never become labels.
//!
//! Layout:
//! - this file: [`Metrics`] itself, its registry and rendering;
//! - `families`: the prometheus crate's families (calls, fleet-wide distributions, writes):
//!   name, help, labels and buckets, and their registration;
//! - `station_series`: the families labelled by station and port, kept as a row per station
//!   and written out at render;
//! - `calls`: the gateway's events by account, and the [`CallObserver`](crate::CallObserver) impl;
//! - `stations`: fleet health and telemetry by station and port (scrape durations and data ages
//!   fleet-wide, writes by account), forgetting a station, and the
//!   [`StationObserver`](crate::StationObserver) impl;
//! - `tests`: the rendered output, checked line by line and with promtool.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus::TextEncoder;

mod calls;
mod families;
mod station_series;
mod stations;
#[cfg(test)]
mod tests;

use families::Families;

/// Every metric family of the supervisor, registered in one registry. Cheap to clone: all
/// clones record into the same families.
#[derive(Clone)]
pub struct Metrics {
    families: Arc<Families>,
    /// Accounts whose series [`Metrics::add_account`] has started at zero: the gateway has no
    /// start hook, so its first call does it.
    accounts: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates every family and registers it in a fresh registry.
    ///
    /// # Errors
    /// A `prometheus::Error` if a family's options are invalid or two families share a name:
    /// a programming error, reported rather than panicking so `main` can print it.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        Ok(Metrics {
            families: Arc::new(Families::new()?),
            accounts: Arc::default(),
        })
    }

    /// Every series in the Prometheus text exposition format (version 0.0.4).
    ///
    /// At thousands of stations this takes a while (tens of milliseconds a thousand stations):
    /// call it where blocking is allowed.
    pub fn render(&self) -> String {
        // The text encoder fails only on a family without metrics or name: `gather` drops
        // empty families and every family here is named, and writing to a String cannot fail.
        let mut text = TextEncoder::new()
            .encode_to_string(&self.families.registry.gather())
            .expect("gathered families are named and non-empty");
        self.families.stations.render_into(&mut text);
        text
    }
}
