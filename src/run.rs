//! `run`: wires the fleet, the device API, `/metrics`, the summary and the signals together.
//!
//! ```text
//! chargepoint-supervisor run                 # the embedded simulator, 50 stations x 2 ports
//! chargepoint-supervisor run fleet/          # real endpoints, VOLTTRON device configs
//! ```
//!
//! Startup order: load (or simulate) the fleet, start the actors, bind both listeners, print
//! one `listening api=… metrics=…` line (tests parse it), then serve until ctrl-c / SIGTERM.
//! SIGHUP reloads the fleet file. Shutdown runs the other way: stop accepting requests (axum
//! finishes the ones in flight), stop the summary, stop the fleet (see `cp_actors::Fleet` for
//! what happens to active sheds), stop the simulator.

use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::{SubsecRound, Utc};
use cp_actors::{ChargePointApi, Connect, Fleet, FleetError, FleetOptions, Metrics};
use cp_registry::{
    Account, AccountId, DevicePattern, FleetConfig, Position, Registry, Secret, StationSelection,
    StationSet, DEFAULT_INTERVAL,
};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::RunConfig;
use crate::http::{metrics_router, router, AppState, ServeLimits};
use crate::sim::{SimConfig, SimFleetConfig, SimHandle};
use crate::soap::{ClientConfig, SoapClient};
use crate::summary::{self, SummaryOutput};

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create the metric families")]
    Metrics(#[source] prometheus::Error),
    #[error("fleet {path}:\n{problems}")]
    Fleet {
        path: PathBuf,
        problems: cp_registry::Problems,
    },
    #[error("account {account}: cannot build its SOAP client")]
    Client {
        account: String,
        #[source]
        source: crate::soap::ClientError,
    },
    /// `--account-endpoint` names an account the fleet does not have: a typo would otherwise
    /// send that account's calls to the default endpoint unnoticed.
    #[error("--account-endpoint {account}=…: the fleet has no account {account} (its accounts, by name or username: {known})")]
    UnknownAccountEndpoint { account: String, known: String },
    #[error("cannot start the embedded simulator")]
    Simulator(#[from] crate::sim::SimError),
    #[error("cannot start the fleet")]
    StartFleet(#[from] FleetError),
    #[error("cannot bind the {what} listener to {addr}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the {signal} handler")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the {what} server failed")]
    Serve {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Completes on ctrl-c or SIGTERM: the one shutdown trigger of `run`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        // Without a ctrl-c handler the process still stops on SIGTERM (below) or SIGINT's
        // default action, so a failure to install it is logged, not fatal.
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(cause = %error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::warn!(cause = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// The bearer token writes require: `--token` / `CP_SUPERVISOR_TOKEN` when given, else the
/// fleet file's `api` token, else none (writes are open). Read once at start: a SIGHUP reload
/// does not change it.
fn write_token(flag: Option<&Secret>, fleet: &FleetConfig) -> Option<Secret> {
    flag.or(fleet.api_token.as_ref()).cloned()
}

/// Runs the supervisor until `shutdown` completes.
///
/// # Errors
/// A fleet that does not load, a listener that cannot bind, a server that fails.
pub async fn run(config: RunConfig, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let metrics = Metrics::new().map_err(RunError::Metrics)?;
    let target = Target::start(&config).await?;
    let spec = target.spec(&config)?;
    let token = write_token(config.token.as_ref(), &spec);
    if token.is_none() && !config.api_listen.ip().is_loopback() {
        tracing::warn!(
            api_listen = %config.api_listen,
            "the device API listens beyond loopback without a token: other hosts may read \
             every point, and their writes are refused (403); set --token to allow them"
        );
    }
    if let Some(files) = crate::http::raise_file_limit() {
        tracing::debug!(files, "open-file limit");
    }
    let fleet = target.start_fleet(&config, spec, metrics.clone()).await?;

    // Every signal handler is in place before the `listening` line: a SIGHUP or SIGTERM sent
    // once it is printed must reload or stop, not end the process by the default action.
    // `shutdown` installs its handlers when first polled, hence the poll here.
    let mut hangups = signal(SignalKind::hangup()).map_err(|source| RunError::Signal {
        signal: "SIGHUP",
        source,
    })?;
    tokio::pin!(shutdown);
    let stopping = futures::FutureExt::now_or_never(&mut shutdown).is_some();
    let api = bind("device API", config.api_listen).await?;
    let prometheus = bind("metrics", config.metrics_listen).await?;
    let api_addr = local_addr("device API", &api)?;
    let metrics_addr = local_addr("metrics", &prometheus)?;
    println!(
        "listening api=http://{api_addr} metrics=http://{metrics_addr}/metrics{}",
        target.describe()
    );
    tracing::info!(%api_addr, %metrics_addr, "serving");

    // Cancelled once, on shutdown: every server and the summary stop on it.
    let stop = CancellationToken::new();
    let mut servers = JoinSet::new();
    let state = AppState {
        fleet: fleet.clone(),
        token,
    };
    servers.spawn(serve(api, router(state), stop.clone()));
    servers.spawn(serve(
        prometheus,
        metrics_router(metrics.clone()),
        stop.clone(),
    ));
    let output = if config.summary && std::io::stdout().is_terminal() {
        SummaryOutput::Terminal
    } else {
        SummaryOutput::Log
    };
    let summary = tokio::spawn(summary::run(fleet.clone(), output, stop.clone()));

    let outcome = if stopping {
        Ok(())
    } else {
        loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                _ = hangups.recv() => target.reload(&config, &fleet).await,
                Some(ended) = servers.join_next() => break server_ended(ended),
            }
        }
    };

    tracing::info!("shutting down");
    stop.cancel();
    while let Some(ended) = servers.join_next().await {
        if let Err(error) = server_ended(ended) {
            tracing::error!(error = %cp_actors::error_chain(&error), "server stopped with an error");
        }
    }
    // The summary only reads metrics; if it panicked there is nothing left to clean up.
    let _ = summary.await;
    fleet.shutdown().await;
    target.shutdown().await;
    outcome
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { what, addr, source })
}

fn local_addr(what: &'static str, listener: &TcpListener) -> Result<SocketAddr, RunError> {
    listener
        .local_addr()
        .map_err(|source| RunError::Serve { what, source })
}

/// Serves `app` until `stop` is cancelled, letting requests in flight finish (within
/// `http::serve`'s grace), with the header timeout and connection cap of [`ServeLimits`].
async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> Result<(), RunError> {
    crate::http::serve(listener, app, ServeLimits::default(), stop).await;
    Ok(())
}

/// A server task's end: before shutdown any end is a failure worth stopping for.
fn server_ended(
    ended: Result<Result<(), RunError>, tokio::task::JoinError>,
) -> Result<(), RunError> {
    match ended {
        Ok(result) => result,
        Err(join) => Err(RunError::Serve {
            what: "HTTP",
            source: std::io::Error::other(join),
        }),
    }
}

/// What `run` supervises: a fleet from disk, or the embedded simulator.
enum Target {
    Fleet {
        path: PathBuf,
    },
    Simulator {
        sim: SimHandle,
        /// The simulated accounts and their (public, test-only) credentials.
        accounts: Vec<crate::sim::AccountSpec>,
    },
}

impl Target {
    /// Starts the embedded simulator when no fleet path is given.
    async fn start(config: &RunConfig) -> Result<Target, RunError> {
        match &config.fleet {
            Some(path) => Ok(Target::Fleet { path: path.clone() }),
            None => {
                let mut fleet = SimFleetConfig::generate(
                    config.sim.stations as usize,
                    config.sim.ports,
                    EMBEDDED_ACCOUNTS,
                );
                fleet.start = Utc::now().trunc_subsecs(0);
                let accounts = fleet.accounts.clone();
                let sim = crate::sim::start(SimConfig {
                    fleet,
                    listen: config.sim.listen,
                    ..SimConfig::default()
                })
                .await?;
                Ok(Target::Simulator { sim, accounts })
            }
        }
    }

    /// The fleet to supervise: loaded from disk, or every station of every simulated account
    /// with the example registry.
    fn spec(&self, config: &RunConfig) -> Result<FleetConfig, RunError> {
        Ok(match self {
            Target::Fleet { path } => {
                let spec = load_fleet(path)?;
                match config.interval {
                    Some(interval) => with_interval(spec, interval),
                    None => spec,
                }
            }
            Target::Simulator { accounts, .. } => with_interval(
                simulated_fleet(accounts)?,
                config.interval.unwrap_or(EMBEDDED_INTERVAL),
            ),
        })
    }

    /// Where each account's SOAP client connects.
    fn endpoints(&self, config: &RunConfig) -> Endpoints {
        match self {
            Target::Simulator { sim, .. } => Endpoints {
                default: sim.endpoint(),
                overrides: Vec::new(),
            },
            Target::Fleet { .. } => Endpoints {
                default: config.endpoint.to_string(),
                overrides: config
                    .account_endpoints
                    .iter()
                    .map(|(account, url)| (account.clone(), url.to_string()))
                    .collect(),
            },
        }
    }

    async fn start_fleet(
        &self,
        config: &RunConfig,
        spec: FleetConfig,
        metrics: Metrics,
    ) -> Result<Fleet, RunError> {
        let endpoints = self.endpoints(config);
        endpoints.check(&spec)?;
        endpoints.all_name_accounts(&spec)?;
        // One Metrics serves both hooks: the gateways' calls and the stations' health.
        let metrics = Arc::new(metrics);
        let options = FleetOptions {
            observer: metrics.clone(),
            station_observer: metrics,
            write_answer_timeout: config.write_answer_timeout,
            ..FleetOptions::default()
        };
        let connect: Connect = Arc::new(move |account: &Account| {
            let client = endpoints
                .client(account)
                .expect("every account's client was built once when the fleet was (re)loaded");
            Arc::new(client) as Arc<dyn ChargePointApi>
        });
        Ok(Fleet::start(spec, connect, options).await?)
    }

    /// SIGHUP: reload the fleet file and hand it to the fleet. A fleet that does not load
    /// leaves the running one as it is.
    async fn reload(&self, config: &RunConfig, fleet: &Fleet) {
        let Target::Fleet { path } = self else {
            tracing::info!("SIGHUP: the embedded simulator's fleet has nothing to reload");
            return;
        };
        let checked = self
            .spec(config)
            .and_then(|spec| self.endpoints(config).check(&spec).map(|()| spec));
        if let Ok(spec) = &checked {
            // At start this is refused; a reload that drops the account only says so.
            if let Err(error) = self.endpoints(config).all_name_accounts(spec) {
                tracing::warn!(%error, "SIGHUP: an --account-endpoint names no account of the reloaded fleet");
            }
        }
        match checked {
            Ok(spec) => match fleet.reload(spec).await {
                Ok(()) => tracing::info!(path = %path.display(), "fleet reloaded"),
                Err(error) => {
                    tracing::error!(path = %path.display(), cause = %error, "fleet reload failed")
                }
            },
            Err(error) => {
                tracing::error!(error = %cp_actors::error_chain(&error), "fleet reload refused")
            }
        }
    }

    /// ` sim=…` for the listening line when the embedded simulator runs.
    fn describe(&self) -> String {
        match self {
            Target::Fleet { .. } => String::new(),
            Target::Simulator { sim, .. } => format!(" sim={}", sim.endpoint()),
        }
    }

    async fn shutdown(self) {
        if let Target::Simulator { sim, .. } = self {
            sim.shutdown().await;
        }
    }
}

/// Accounts of the embedded simulator: account1 with the full plan, account2 with a
/// restricted one, so its plan-rights refusals show.
const EMBEDDED_ACCOUNTS: usize = 2;

/// The embedded simulator's request rate per account. It is local and never throttles, so
/// the supervisor may read it faster than a real account's default and the whole fleet is up
/// within seconds of `run`.
const EMBEDDED_RATE_PER_MINUTE: u32 = 1_200;

/// The embedded simulator's scrape interval unless `--interval` says otherwise: the
/// simulator is local, so the fleet is scraped often enough for the summary to move.
const EMBEDDED_INTERVAL: Duration = Duration::from_secs(10);

/// The embedded simulator's heartbeat point: toggles 0/1 at each publish, so a reader (or
/// `get sim/account1/10001 Heartbeat`) sees the station is being scraped.
pub const EMBEDDED_HEARTBEAT_POINT: &str = "Heartbeat";

/// The example registry, compiled in so `run` works from any directory.
const EXAMPLE_REGISTRY: &str = include_str!("../registry/configs/chargepoint.csv");

/// Every station of every simulated account, each a device `sim/<account>/<station number>`
/// with the example registry. Stations are found with getStations at start.
pub fn simulated_fleet(simulated: &[crate::sim::AccountSpec]) -> Result<FleetConfig, RunError> {
    let source = Position::new("(embedded simulator)", 0);
    let registry =
        Registry::parse_reader(EXAMPLE_REGISTRY.as_bytes(), Path::new("chargepoint.csv")).map_err(
            |problems| RunError::Fleet {
                path: PathBuf::from("chargepoint.csv (embedded)"),
                problems,
            },
        )?;
    let registry = Arc::new(registry);
    let accounts: Vec<Account> = simulated
        .iter()
        .map(|account| Account {
            id: AccountId(account.username.clone()),
            username: account.username.clone(),
            password: account.password.clone(),
            rate_limit_per_minute: Some(EMBEDDED_RATE_PER_MINUTE),
            source: source.clone(),
        })
        .collect();
    let station_sets = accounts
        .iter()
        .map(|account| StationSet {
            account: account.id.clone(),
            registry: Arc::clone(&registry),
            stations: StationSelection::All,
            device_path: DevicePattern::Template(format!(
                "sim/{}/{{station_number}}",
                account.username
            )),
            interval: DEFAULT_INTERVAL,
            heart_beat_point: Some(EMBEDDED_HEARTBEAT_POINT.to_string()),
            timezone: None,
            cache_expiration: None,
            shed_lease_minutes: None,
            source: source.clone(),
        })
        .collect();
    Ok(FleetConfig {
        accounts,
        station_sets,
        api_token: None,
    })
}

/// `--interval`: every point that changes is scraped, and may be as old as, `interval`.
/// getStations' nameplate points keep their own cadence.
pub fn with_interval(mut spec: FleetConfig, interval: Duration) -> FleetConfig {
    for set in &mut spec.station_sets {
        let mut registry = (*set.registry).clone();
        for point in &mut registry.points {
            if !point.attribute.is_static() {
                point.scrape_interval = Some(interval);
                point.data_currency = Some(interval);
            }
        }
        set.registry = Arc::new(registry);
        set.interval = interval;
    }
    spec
}

/// Loads the fleet at `path`, logging each warning (what VOLTTRON would load too but is likely
/// a mistake: `check` lists them the same way).
fn load_fleet(path: &Path) -> Result<FleetConfig, RunError> {
    let (fleet, warnings) =
        cp_registry::FleetConfig::load_with_warnings(path).map_err(|problems| RunError::Fleet {
            path: path.to_path_buf(),
            problems,
        })?;
    for warning in warnings {
        tracing::warn!(%warning, "configuration");
    }
    Ok(fleet)
}

/// Where each account's SOAP client connects: one URL for all, or a per-account override
/// (matched by account name or username).
#[derive(Debug, Clone)]
struct Endpoints {
    default: String,
    overrides: Vec<(String, String)>,
}

impl Endpoints {
    fn client(&self, account: &Account) -> Result<SoapClient, RunError> {
        let endpoint = self
            .overrides
            .iter()
            .find(|(name, _)| *name == account.id.0 || *name == account.username)
            .map_or(&self.default, |(_, url)| url);
        SoapClient::new(ClientConfig::new(
            endpoint.clone(),
            account.username.clone(),
            account.password.clone(),
        ))
        .map_err(|source| RunError::Client {
            account: account.id.0.clone(),
            source,
        })
    }

    /// Every override names an account of `spec`, by name or username.
    fn all_name_accounts(&self, spec: &FleetConfig) -> Result<(), RunError> {
        let Some((account, _)) = self.overrides.iter().find(|(name, _)| {
            !spec
                .accounts
                .iter()
                .any(|a| *name == a.id.0 || *name == a.username)
        }) else {
            return Ok(());
        };
        Err(RunError::UnknownAccountEndpoint {
            account: account.clone(),
            known: spec
                .accounts
                .iter()
                .map(|a| a.id.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Builds every account's client once, so a bad endpoint is an error at (re)load time and
    /// never inside an actor.
    fn check(&self, spec: &FleetConfig) -> Result<(), RunError> {
        spec.accounts
            .iter()
            .try_for_each(|account| self.client(account).map(drop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulated() -> FleetConfig {
        let accounts = SimFleetConfig::generate(4, 2, 2).accounts;
        simulated_fleet(&accounts).expect("the example registry is valid")
    }

    #[test]
    fn embedded_fleet_has_one_device_set_per_simulated_account() {
        let spec = simulated();
        let usernames: Vec<&str> = spec.accounts.iter().map(|a| a.username.as_str()).collect();
        assert_eq!(usernames, ["account1", "account2"]);
        let set = &spec.station_sets[1];
        assert_eq!(set.stations, StationSelection::All);
        let device = set
            .device(&cp_registry::StationId::new("2:20003"))
            .expect("a valid device path");
        assert_eq!(device.path.as_str(), "sim/account2/20003");
    }

    #[test]
    fn interval_override_spares_nameplate_points() {
        let spec = with_interval(simulated(), Duration::from_secs(2));
        let registry = &spec.station_sets[0].registry;
        let load = registry
            .point("port1.portLoad")
            .expect("in the example registry");
        assert_eq!(load.scrape_interval, Some(Duration::from_secs(2)));
        assert_eq!(load.data_currency, Some(Duration::from_secs(2)));
        let model = registry
            .point("stationModel")
            .expect("in the example registry");
        assert_eq!(model.scrape_interval, Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn the_token_flag_wins_over_the_fleet_files_token() {
        let mut spec = simulated();
        assert_eq!(write_token(None, &spec), None);
        spec.api_token = Some(Secret::new("from-fleet"));
        let token =
            |flag: Option<&Secret>| write_token(flag, &spec).map(|t| t.expose().to_string());
        assert_eq!(token(None), Some("from-fleet".to_string()));
        let flag = Secret::new("from-flag");
        assert_eq!(token(Some(&flag)), Some("from-flag".to_string()));
    }

    #[test]
    fn account_endpoint_override_matches_name_or_username() {
        let endpoints = Endpoints {
            default: "https://default.example/cp".into(),
            overrides: vec![("org2".into(), "not a url".into())],
        };
        let account = |id: &str, username: &str| Account {
            id: AccountId(id.into()),
            username: username.into(),
            password: Secret::new("pw"),
            rate_limit_per_minute: None,
            source: Position::new("fleet.json", 1),
        };
        assert!(endpoints.client(&account("org1", "user1")).is_ok());
        let error = endpoints
            .client(&account("org2", "user2"))
            .expect_err("the override is used, and it is not a URL");
        assert_eq!(
            error.to_string(),
            "account org2: cannot build its SOAP client"
        );
        assert!(endpoints.client(&account("x", "org2")).is_err());
    }

    /// Issue 14: `--account-endpoint nobody=URL` was accepted and never used.
    #[test]
    fn an_account_endpoint_for_no_account_of_the_fleet_is_refused() {
        let endpoints = Endpoints {
            default: "https://default.example/cp".into(),
            overrides: vec![("nobody".into(), "http://127.0.0.1:9/cp".into())],
        };
        let error = endpoints
            .all_name_accounts(&simulated())
            .expect_err("no account is called nobody");
        assert_eq!(
            error.to_string(),
            "--account-endpoint nobody=…: the fleet has no account nobody (its accounts, by name or username: account1, account2)"
        );
        let named = Endpoints {
            overrides: vec![("account2".into(), "http://127.0.0.1:9/cp".into())],
            ..endpoints
        };
        assert!(named.all_name_accounts(&simulated()).is_ok());
    }
}
