//! The live one-line fleet summary `run` shows: stations up, ports charging, kW, sheds, errors.
//!
//! It is the fleet's own health report in one line: the sums of [`Fleet::health`], as the
//! stations keep them ([`Fleet::counts`], which asks no station, so a summary costs the same at
//! 10 stations and at 10,000). On a terminal the line is redrawn in place with `\r`; otherwise
//! it is logged as a structured event now and then, so a service log has the same numbers
//! without a torn screen.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use cp_actors::{Fleet, FleetCounts};
use tokio_util::sync::CancellationToken;

/// How often the terminal line is redrawn.
pub const REDRAW_EVERY: Duration = Duration::from_secs(1);

/// How often the summary is logged when stdout is not a terminal: often enough to follow a
/// fleet, rarely enough not to flood a service log.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

/// The fleet's health in one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryLine<'a>(pub &'a FleetCounts);

impl fmt::Display for SummaryLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.0;
        write!(
            f,
            "stations up {}/{}{}{} | ports charging {}/{} | {:.1} kW | sheds {} | errors {}",
            h.stations_up,
            h.stations_total,
            match h.stations_starting {
                0 => String::new(),
                n => format!(" ({n} starting)"),
            },
            match h.stations_degraded {
                0 => String::new(),
                n => format!(" ({n} degraded)"),
            },
            h.ports_charging,
            h.ports,
            // An empty sum is -0.0; adding 0.0 prints it as 0.0.
            h.total_kw + 0.0,
            h.sheds_active,
            h.errors
        )
    }
}

/// Where the summary goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryOutput {
    /// Redraw one line on stdout, a terminal.
    Terminal,
    /// Log it with tracing.
    Log,
}

/// Shows the summary until `stop` is cancelled; on a terminal, ends the line so the shell
/// prompt starts on a fresh one.
pub async fn run(fleet: Fleet, output: SummaryOutput, stop: CancellationToken) {
    let every = match output {
        SummaryOutput::Terminal => REDRAW_EVERY,
        SummaryOutput::Log => LOG_EVERY,
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let health = fleet.counts();
        match output {
            SummaryOutput::Terminal => redraw(&SummaryLine(&health)),
            SummaryOutput::Log => tracing::info!(
                stations_up = health.stations_up,
                stations_starting = health.stations_starting,
                stations_degraded = health.stations_degraded,
                stations = health.stations_total,
                ports_charging = health.ports_charging,
                load_kw = health.total_kw,
                sheds = health.sheds_active,
                errors = health.errors,
                "fleet summary"
            ),
        }
    }
    if output == SummaryOutput::Terminal {
        println!();
    }
}

/// `\r`, the line, and "erase to end of line" so a shorter line leaves no tail.
fn redraw(summary: &SummaryLine<'_>) {
    let mut out = std::io::stdout().lock();
    // A terminal that went away is no reason to stop supervising.
    let _ = write!(out, "\r{summary}\x1b[K");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cp_actors::Liveness;
    use cp_actors::{DeviceSummary, FleetHealth, StationHealth};
    use cp_registry::{AccountId, StationId};

    use super::*;

    fn station(id: &str, up: bool, charging: usize, kw: f64, sheds: usize) -> StationHealth {
        StationHealth {
            device: DeviceSummary {
                path: format!("sim/account1/{id}"),
                station: StationId::new(id),
                account: AccountId("account1".into()),
                ports: vec![1, 2],
                up,
                state: if up { Liveness::Up } else { Liveness::Down },
                last_scrape: None,
            },
            last_ok_scrape: None,
            failures: BTreeMap::new(),
            ports_charging: charging,
            load_kw: kw,
            sheds_active: sheds,
        }
    }

    #[test]
    fn summary_line_shows_the_fleet_in_five_numbers() {
        let health = FleetHealth::from_stations(vec![
            station("1:10001", true, 2, 13.24, 1),
            station("1:10002", false, 0, 0.0, 0),
        ]);
        assert_eq!(
            SummaryLine(&health.counts()).to_string(),
            "stations up 1/2 | ports charging 2/4 | 13.2 kW | sheds 1 | errors 0"
        );
    }

    #[test]
    fn degraded_stations_are_counted_apart_from_those_down() {
        let mut degraded = station("1:10002", false, 0, 0.0, 0);
        degraded.device.state = Liveness::Degraded;
        let health = FleetHealth::from_stations(vec![
            station("1:10001", true, 0, 0.0, 0),
            degraded,
            station("1:10003", false, 0, 0.0, 0),
        ]);
        assert_eq!(
            SummaryLine(&health.counts()).to_string(),
            "stations up 1/3 (1 degraded) | ports charging 0/6 | 0.0 kW | sheds 0 | errors 0"
        );
    }

    #[test]
    fn a_fleet_with_no_station_yet_shows_zero_load() {
        let health = FleetHealth::from_stations(Vec::new());
        assert_eq!(
            SummaryLine(&health.counts()).to_string(),
            "stations up 0/0 | ports charging 0/0 | 0.0 kW | sheds 0 | errors 0"
        );
    }
}
