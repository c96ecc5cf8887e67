//! The live one-line fleet summary `run` shows: stations up, ports charging, kW, sheds, errors.
//!
//! It is read from the Prometheus families the actors already keep ([`Metrics`]), so the
//! summary shows exactly what `/metrics` shows and asks the fleet nothing. On a terminal the
//! line is redrawn in place with `\r`; otherwise it is logged as a structured event now and
//! then, so a service log has the same numbers without a torn screen.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use cp_actors::Metrics;
use prometheus::proto::MetricFamily;
use tokio_util::sync::CancellationToken;

/// How often the terminal line is redrawn.
pub const REDRAW_EVERY: Duration = Duration::from_secs(1);

/// How often the summary is logged when stdout is not a terminal: often enough to follow a
/// fleet, rarely enough not to flood a service log.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

/// The fleet in five numbers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FleetSummary {
    pub stations_up: usize,
    pub stations: usize,
    pub ports_charging: usize,
    pub ports: usize,
    pub load_kw: f64,
    pub sheds: usize,
    pub errors: u64,
}

impl FleetSummary {
    /// Reads the current values of the station, port and error families.
    pub fn from_metrics(metrics: &Metrics) -> FleetSummary {
        let families = metrics.registry().gather();
        let values = |name: &str| -> Vec<f64> {
            families
                .iter()
                .filter(|f| f.name() == name)
                .flat_map(MetricFamily::get_metric)
                .map(|m| {
                    if m.gauge.is_some() {
                        m.get_gauge().value()
                    } else {
                        m.get_counter().value()
                    }
                })
                .collect()
        };
        let station_up = values("cp_station_up");
        let port_load = values("cp_port_load_watts");
        FleetSummary {
            stations_up: station_up.iter().filter(|v| **v >= 1.0).count(),
            stations: station_up.len(),
            ports_charging: port_load.iter().filter(|w| **w > 0.0).count(),
            ports: port_load.len(),
            load_kw: port_load.iter().sum::<f64>() / 1000.0,
            sheds: values("cp_sheds_active").iter().sum::<f64>() as usize,
            errors: values("cp_soap_errors_total").iter().sum::<f64>() as u64,
        }
    }
}

impl fmt::Display for FleetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stations up {}/{} | ports charging {}/{} | {:.1} kW | sheds {} | errors {}",
            self.stations_up,
            self.stations,
            self.ports_charging,
            self.ports,
            self.load_kw,
            self.sheds,
            self.errors
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
pub async fn run(metrics: Metrics, output: SummaryOutput, stop: CancellationToken) {
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
        let summary = FleetSummary::from_metrics(&metrics);
        match output {
            SummaryOutput::Terminal => redraw(&summary),
            SummaryOutput::Log => tracing::info!(
                stations_up = summary.stations_up,
                stations = summary.stations,
                ports_charging = summary.ports_charging,
                ports = summary.ports,
                load_kw = summary.load_kw,
                sheds = summary.sheds,
                errors = summary.errors,
                "fleet summary"
            ),
        }
    }
    if output == SummaryOutput::Terminal {
        println!();
    }
}

/// `\r`, the line, and "erase to end of line" so a shorter line leaves no tail.
fn redraw(summary: &FleetSummary) {
    let mut out = std::io::stdout().lock();
    // A terminal that went away is no reason to stop supervising.
    let _ = write!(out, "\r{summary}\x1b[K");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use cp_registry::{PortLoad, PortNumber, StationId, StationLoad};

    use super::*;

    fn load(station: &str, ports: &[f64]) -> StationLoad {
        StationLoad {
            station_id: StationId::new(station),
            station_name: None,
            address: None,
            station_load: Some(ports.iter().sum()),
            ports: ports
                .iter()
                .enumerate()
                .map(|(i, kw)| PortLoad {
                    port: PortNumber(i as u16 + 1),
                    user_id: None,
                    credential_id: None,
                    shed_state: false,
                    port_load: *kw,
                    allowed_load: 0.0,
                    percent_shed: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn summary_counts_what_the_metrics_hold() {
        let metrics = Metrics::new().unwrap();
        let (a, b) = (StationId::new("1:1"), StationId::new("1:2"));
        metrics.set_station_up(&a, true);
        metrics.set_station_up(&b, false);
        metrics.record_station_load(&load("1:1", &[6.6, 0.0]));
        metrics.record_station_load(&load("1:2", &[1.4, 0.0]));
        metrics.set_sheds_active(&a, 1);
        let summary = FleetSummary::from_metrics(&metrics);
        assert_eq!(
            summary.to_string(),
            "stations up 1/2 | ports charging 2/4 | 8.0 kW | sheds 1 | errors 0"
        );
    }
}
