//! `chargepoint-supervisor sim`: the simulator's command-line flags and its run loop.
//!
//! Wiring in `main.rs` is one line:
//! `Command::Sim(args) => sim::run_sim(args, shutdown_signal()).await?`.

use std::future::Future;
use std::net::SocketAddr;

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::faults::FaultRule;
use super::layout::SimFleetConfig;
use super::server::{start, SimConfig};
use super::SimError;

/// Flags of `chargepoint-supervisor sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Number of stations, split evenly across the accounts.
    #[arg(long, default_value_t = 50)]
    pub stations: usize,
    /// Ports per station.
    #[arg(long, default_value_t = 2)]
    pub ports: u16,
    /// Number of accounts (account1 full plan, account2 restricted, alternating).
    #[arg(long, default_value_t = 2)]
    pub accounts: usize,
    /// Stations per station group.
    #[arg(long, default_value_t = 10)]
    pub stations_per_group: usize,
    /// Seed of every random choice; same seed and same steps give the same fleet history.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per real second; 0 freezes time (step it with POST /admin/advance).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Simulated time to start at (RFC 3339); default now.
    #[arg(long)]
    pub start: Option<DateTime<Utc>>,
    /// Hours of fleet history simulated before start.
    #[arg(long, default_value_t = 24)]
    pub history_hours: u32,
    /// Fault rules in force from the start (syntax on [`FaultRule`]).
    #[arg(
        long = "fault",
        value_name = "RULE",
        value_parser = parse_fault,
        help = "Fault rule METHOD=KIND[:ARG][:next=N][:p=P], repeatable, \
                e.g. --fault getLoad=http503:next=3 --fault '*=latency:250ms'"
    )]
    pub faults: Vec<FaultRule>,
}

fn parse_fault(spec: &str) -> Result<FaultRule, String> {
    FaultRule::parse(spec).map_err(|e| e.to_string())
}

impl SimArgs {
    /// The simulator configuration these flags describe.
    pub fn into_config(self) -> SimConfig {
        let mut fleet = SimFleetConfig::generate(self.stations, self.ports, self.accounts);
        fleet.stations_per_group = self.stations_per_group;
        fleet.seed = self.seed;
        fleet.start = self.start.unwrap_or_else(|| Utc::now().trunc_subsecs(0));
        fleet.history = Duration::hours(i64::from(self.history_hours));
        SimConfig {
            fleet,
            listen: self.listen,
            time_scale: self.time_scale,
            faults: self.faults,
        }
    }
}

/// Starts the simulator, prints where it listens and who may log in, and serves until
/// `shutdown` completes.
///
/// # Errors
/// Whatever [`start`] refuses: a fleet out of range or an address that cannot be bound.
pub async fn run_sim(args: SimArgs, shutdown: impl Future<Output = ()>) -> Result<(), SimError> {
    let config = args.into_config();
    let accounts = config.fleet.accounts.clone();
    let handle = start(config).await?;
    println!("ChargePoint simulator (SOAP API 5.0)");
    println!("  endpoint: {}", handle.endpoint());
    println!("  wsdl:     {}?wsdl", handle.endpoint());
    println!("  admin:    {}", handle.admin_url());
    println!("  accounts (the simulator's own public test credentials, not secrets):");
    for account in &accounts {
        println!(
            "    {:<10} password {:<16} plan {:?}, {} stations",
            account.username,
            account.password.expose(),
            account.plan,
            account.stations
        );
    }
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn flags_build_the_fleet_and_faults() {
        let cli = Cli::try_parse_from([
            "sim",
            "--stations",
            "7",
            "--accounts",
            "3",
            "--fault",
            "getLoad=http503:next=3",
            "--fault",
            "*=latency:250ms",
        ])
        .unwrap();
        let config = cli.sim.into_config();
        let counts: Vec<usize> = config.fleet.accounts.iter().map(|a| a.stations).collect();
        assert_eq!(counts, [3, 2, 2]);
        assert_eq!(config.faults.len(), 2);
    }

    #[test]
    fn a_bad_fault_flag_names_the_flag_and_the_problem() {
        let err = Cli::try_parse_from(["sim", "--fault", "getLoad=http999"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "error: invalid value 'getLoad=http999' for '--fault <RULE>': \
                 fault 'getLoad=http999': http999: expected an HTTP status 400..599"
            ),
            "{text}"
        );
    }

    #[tokio::test]
    async fn run_sim_serves_until_shutdown_then_returns() {
        let cli = Cli::try_parse_from(["sim", "--stations", "2", "--history-hours", "1"]).unwrap();
        let shutdown = tokio::time::sleep(std::time::Duration::from_millis(100));
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            run_sim(cli.sim, shutdown),
        )
        .await
        .expect("run_sim returns after shutdown")
        .expect("run_sim succeeds");
    }

    #[tokio::test]
    async fn an_address_in_use_is_a_bind_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let cli = Cli::try_parse_from(["sim", "--listen", &addr]).unwrap();
        let err = run_sim(cli.sim, std::future::ready(())).await.unwrap_err();
        assert_eq!(err.to_string(), format!("cannot listen on {addr}"));
    }
}
