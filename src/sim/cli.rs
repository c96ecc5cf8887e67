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

/// The most simulated history before start: a week. Building it is CPU work in proportion to
/// stations times minutes (24 h of 50 stations takes 0.6 s in a debug build, and 100,000,000
/// hours never finished), and a week covers the supervisor's longest look back (24 h of
/// sessions) many times over.
pub const MAX_HISTORY_HOURS: u32 = 7 * 24;

/// The most simulated accounts: each is a login with its own station block; a hundred is far
/// beyond any test (the fleet benchmark uses four).
pub const MAX_ACCOUNTS: usize = 100;

/// The fastest simulated clock: a day per real second.
pub const MAX_TIME_SCALE: f64 = 86_400.0;

/// Flags of `chargepoint-supervisor sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on, loopback only (port 0 picks a free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:0", value_parser = parse_loopback)]
    pub listen: SocketAddr,
    /// Number of stations, split evenly across the accounts.
    #[arg(long, default_value_t = 50)]
    pub stations: usize,
    /// Ports per station.
    #[arg(long, default_value_t = 2)]
    pub ports: u16,
    /// Number of accounts (account1 full plan, account2 restricted, alternating), 1 to 100.
    #[arg(long, default_value_t = 2, value_parser = parse_accounts)]
    pub accounts: usize,
    /// Stations per station group.
    #[arg(long, default_value_t = 10)]
    pub stations_per_group: usize,
    /// Seed of every random choice; same seed and same steps give the same fleet history.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per real second, 0 to 86400; 0 freezes time (step it with POST
    /// /admin/advance).
    #[arg(long, default_value_t = 1.0, value_parser = parse_time_scale)]
    pub time_scale: f64,
    /// Simulated time to start at (RFC 3339); default now.
    #[arg(long)]
    pub start: Option<DateTime<Utc>>,
    /// Hours of fleet history simulated before start, 0 to 168 (a week).
    #[arg(
        long,
        default_value_t = 24,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_HISTORY_HOURS))
    )]
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

/// `--listen`: a loopback address only. The simulator prints its accounts' passwords and
/// answers whoever connects; it is a test double, never a service for other hosts.
fn parse_loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| "expected an address like 127.0.0.1:0".to_string())?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{} is not a loopback address: the simulator answers anyone with its accounts' \
             public test passwords, so it listens on 127.0.0.1 or [::1] only",
            addr.ip()
        ))
    }
}

fn parse_accounts(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_ACCOUNTS).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of accounts from 1 to {MAX_ACCOUNTS}"
        )),
    }
}

fn parse_time_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=MAX_TIME_SCALE).contains(&s) => Ok(s),
        _ => Err(format!(
            "expected simulated seconds per real second from 0 to {MAX_TIME_SCALE}"
        )),
    }
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

    /// Issue 14: `--history-hours 100000000` never started; `--listen 0.0.0.0:0` served the
    /// passwords to the network.
    #[test]
    fn out_of_range_flags_are_refused_naming_the_range() {
        let error = |args: &[&str]| {
            let err = Cli::try_parse_from(std::iter::once("sim").chain(args.iter().copied()))
                .unwrap_err()
                .to_string();
            err.lines().next().unwrap_or_default().to_string()
        };
        assert_eq!(
            error(&["--history-hours", "100000000"]),
            "error: invalid value '100000000' for '--history-hours <HISTORY_HOURS>': 100000000 is not in 0..=168"
        );
        assert_eq!(
            error(&["--listen", "0.0.0.0:0"]),
            "error: invalid value '0.0.0.0:0' for '--listen <LISTEN>': 0.0.0.0 is not a loopback address: the simulator answers anyone with its accounts' public test passwords, so it listens on 127.0.0.1 or [::1] only"
        );
        assert_eq!(
            error(&["--accounts", "100000"]),
            "error: invalid value '100000' for '--accounts <ACCOUNTS>': expected a number of accounts from 1 to 100"
        );
        assert_eq!(
            error(&["--time-scale", "NaN"]),
            "error: invalid value 'NaN' for '--time-scale <TIME_SCALE>': expected simulated seconds per real second from 0 to 86400"
        );
        let cli = Cli::try_parse_from(["sim", "--listen", "[::1]:0", "--history-hours", "168"])
            .expect("loopback and a week are fine");
        assert!(cli.sim.listen.ip().is_loopback());
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
