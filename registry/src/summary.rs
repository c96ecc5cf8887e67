//! What a fleet will do, in numbers: stations, ports, points, accounts, and how often each API
//! method will be called. `check` prints it after a clean validation.
//!
//! Rates are per-station calls: a station calls a method at the shortest data currency of its
//! points needing it (one getLoad serves every port), never more often than its scrapes and
//! never more often than `cacheExpiration` allows; getStations is static (see
//! [`crate::STATIC_MIN_CURRENCY`]). The gateway batches getStationStatus and getLoad across
//! stations, so the real number of requests is at most this.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use crate::fleet::{AccountId, Device, FleetConfig, StationSelection};
use crate::method::ApiMethod;
use crate::registry::Registry;

/// Calls per hour of one method over the whole fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodRate {
    pub method: ApiMethod,
    pub calls_per_hour: f64,
    /// How many stations call it.
    pub stations: usize,
    /// The longest period of one station's calls (shown for static data).
    pub longest_period: Duration,
    /// Stations that call it only for their station group (getStations with no point reading
    /// it, see `Registry::needs_station_group`).
    pub for_group: usize,
}

/// One account's share of the calls.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRate {
    pub account: AccountId,
    pub stations: usize,
    pub calls_per_minute: f64,
    pub limit_per_minute: Option<u32>,
}

/// The numbers `check` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSummary {
    pub accounts: usize,
    pub devices: usize,
    pub stations: usize,
    pub ports: usize,
    pub points: usize,
    /// Accounts with a `"stations": "all"` set: their stations are found at start.
    pub runtime_sets: Vec<AccountId>,
    pub methods: Vec<MethodRate>,
    /// The methods set_point may call (on demand, not counted in the rates).
    pub write_methods: BTreeSet<ApiMethod>,
    pub per_account: Vec<AccountRate>,
}

impl Device {
    /// How often this device's station calls each method it needs (see the module doc).
    pub fn call_periods(&self) -> Vec<(ApiMethod, Duration)> {
        let mut periods = self.registry.call_periods(self.interval);
        if let Some(cache) = self.cache_expiration {
            for (_, p) in &mut periods {
                *p = (*p).max(cache);
            }
        }
        periods
    }
}

#[derive(Default)]
struct Tally {
    methods: BTreeMap<ApiMethod, MethodRate>,
}

impl Tally {
    fn add(&mut self, periods: &[(ApiMethod, Duration)], for_group: bool) -> f64 {
        let mut per_hour_total = 0.0;
        for &(method, period) in periods {
            let per_hour = 3600.0 / period.as_secs_f64();
            per_hour_total += per_hour;
            let r = self.methods.entry(method).or_insert(MethodRate {
                method,
                calls_per_hour: 0.0,
                stations: 0,
                longest_period: Duration::ZERO,
                for_group: 0,
            });
            if for_group && method == ApiMethod::GetStations {
                r.for_group += 1;
            }
            r.calls_per_hour += per_hour;
            r.stations += 1;
            r.longest_period = r.longest_period.max(period);
        }
        per_hour_total
    }
}

impl FleetSummary {
    /// Summarises a loaded fleet.
    pub fn of(fleet: &FleetConfig) -> FleetSummary {
        let devices = fleet.devices();
        let mut tally = Tally::default();
        let mut per_account: BTreeMap<AccountId, (BTreeSet<&str>, f64)> = BTreeMap::new();
        for d in &devices {
            let per_hour = tally.add(&d.call_periods(), d.registry.needs_station_group());
            let entry = per_account.entry(d.account.clone()).or_default();
            entry.0.insert(d.station.as_str());
            entry.1 += per_hour;
        }
        let stations: BTreeSet<&str> = devices.iter().map(|d| d.station.as_str()).collect();
        FleetSummary {
            accounts: fleet.accounts.len(),
            devices: devices.len(),
            stations: stations.len(),
            ports: devices.iter().map(|d| d.registry.ports().len()).sum(),
            points: devices.iter().map(|d| d.registry.points.len()).sum(),
            runtime_sets: fleet
                .station_sets
                .iter()
                .filter(|s| s.stations == StationSelection::All)
                .map(|s| s.account.clone())
                .collect(),
            methods: tally.methods.into_values().collect(),
            write_methods: devices
                .iter()
                .flat_map(|d| d.registry.write_methods())
                .collect(),
            per_account: fleet
                .accounts
                .iter()
                .map(|a| {
                    let (stations, per_hour) = per_account.remove(&a.id).unwrap_or_default();
                    AccountRate {
                        account: a.id.clone(),
                        stations: stations.len(),
                        calls_per_minute: per_hour / 60.0,
                        limit_per_minute: a.rate_limit_per_minute,
                    }
                })
                .collect(),
        }
    }

    /// Summarises one registry as the registry of a single station scraped every `interval`.
    pub fn of_registry(registry: &Registry, interval: Duration) -> FleetSummary {
        let mut tally = Tally::default();
        tally.add(
            &registry.call_periods(interval),
            registry.needs_station_group(),
        );
        FleetSummary {
            accounts: 0,
            devices: 1,
            stations: 1,
            ports: registry.ports().len(),
            points: registry.points.len(),
            runtime_sets: Vec::new(),
            methods: tally.methods.into_values().collect(),
            write_methods: registry.write_methods(),
            per_account: Vec::new(),
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s >= 60 && s % 60 == 0 {
        format!("{}min", s / 60)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

impl fmt::Display for FleetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}, {}, {}, {}, {}",
            plural(self.stations, "station"),
            plural(self.devices, "device"),
            plural(self.ports, "port"),
            plural(self.points, "point"),
            plural(self.accounts, "account"),
        )?;
        for a in &self.runtime_sets {
            writeln!(
                f,
                "plus every station account {a} can see (found with getStations at start)"
            )?;
        }
        writeln!(f, "API calls per hour (per station, before batching):")?;
        for m in &self.methods {
            write!(
                f,
                "  {:<24} {:>10.2}/h  from {}",
                m.method.name(),
                m.calls_per_hour,
                plural(m.stations, "station")
            )?;
            if m.method == ApiMethod::GetStations {
                let every = human(m.longest_period);
                if m.for_group == m.stations {
                    write!(
                        f,
                        " (no point reads it: the station group, so getLoad reads a group at once; at start, then every {every})"
                    )?;
                } else {
                    write!(f, " (static: at start, then every {every})")?;
                    if m.for_group > 0 {
                        write!(
                            f,
                            "; {} call it for the station group only",
                            plural(m.for_group, "station")
                        )?;
                    }
                }
            }
            writeln!(f)?;
        }
        if !self.write_methods.is_empty() {
            let names: Vec<&str> = self.write_methods.iter().map(|m| m.name()).collect();
            writeln!(f, "on set_point only: {}", names.join(", "))?;
        }
        for a in &self.per_account {
            write!(
                f,
                "account {}: {}, {:.1} calls/min",
                a.account,
                plural(a.stations, "station"),
                a.calls_per_minute
            )?;
            match a.limit_per_minute {
                Some(limit) if a.calls_per_minute > f64::from(limit) => write!(
                    f,
                    " (over its limit of {limit}/min: scrapes will be slowed to fit)"
                )?,
                Some(limit) => write!(f, " (limit {limit}/min)")?,
                None => {}
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
