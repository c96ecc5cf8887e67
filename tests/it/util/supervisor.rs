//! Fixtures for the supervisor's API and end-to-end tests: a simulator on loopback with a real
//! fleet (SOAP client, gateway, station actors) supervising it, and a polling helper.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chargepoint_supervisor::run::{simulated_fleet, with_interval};
use chargepoint_supervisor::sim::{self, SimConfig, SimFleetConfig, SimHandle};
use chargepoint_supervisor::soap::{ClientConfig, SoapClient};
use chrono::{SubsecRound, Utc};
use cp_actors::{ChargePointApi, Connect, Fleet, FleetOptions, GatewayOptions};
use cp_registry::{Account, FleetConfig, PortNumber, StationId};

/// Scrape cadence in tests: quick enough that a test sees several scrapes in a few seconds.
pub const TEST_INTERVAL: Duration = Duration::from_secs(1);

/// The longest a test waits for the fleet to reach a state.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A simulator and the fleet supervising it.
pub struct Supervised {
    pub sim: SimHandle,
    pub fleet: Fleet,
}

impl Supervised {
    /// Stops the fleet, then the simulator.
    pub async fn stop(self) {
        self.fleet.shutdown().await;
        self.sim.shutdown().await;
    }

    /// The simulator's view of a port: what ChargePoint would really report.
    pub fn port(&self, station: &str, port: u16) -> sim::PortSnapshot {
        self.sim
            .state()
            .port(&StationId::new(station), PortNumber(port))
            .expect("the simulated station has this port")
    }
}

/// Fleet options for tests: short batching window, generous rate, quick read-backs.
pub fn quick_options() -> FleetOptions {
    FleetOptions {
        gateway: GatewayOptions {
            batch_window: Duration::from_millis(20),
            requests_per_minute: NonZeroU32::new(6_000).expect("non-zero"),
            burst: NonZeroU32::new(50).expect("non-zero"),
            retry_deadline: Duration::from_secs(5),
            call_timeout: Duration::from_secs(5),
            ..GatewayOptions::default()
        },
        confirm_timeout: Duration::from_secs(5),
        confirm_poll: Duration::from_millis(200),
        ..FleetOptions::default()
    }
}

/// Starts a simulator with `stations` stations of 2 ports over `accounts` accounts (simulated
/// time frozen, so loads hold still while a test looks), and a fleet supervising every station
/// with the example registry, every changing point at [`TEST_INTERVAL`].
pub async fn supervise(stations: usize, accounts: usize, options: FleetOptions) -> Supervised {
    supervise_spec(stations, accounts, options, |spec| {
        with_interval(spec, TEST_INTERVAL)
    })
    .await
}

/// [`supervise`] with the fleet spec shaped by `shape` instead of [`with_interval`].
pub async fn supervise_spec(
    stations: usize,
    accounts: usize,
    options: FleetOptions,
    shape: impl FnOnce(FleetConfig) -> FleetConfig,
) -> Supervised {
    let mut fleet = SimFleetConfig::generate(stations, 2, accounts);
    fleet.start = Utc::now().trunc_subsecs(0);
    let simulated = fleet.accounts.clone();
    let sim = sim::start(SimConfig {
        fleet,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts on loopback");
    let spec = shape(simulated_fleet(&simulated).expect("the example registry is valid"));
    let call_timeout = options.gateway.call_timeout;
    let fleet = Fleet::start(spec, connect(sim.endpoint(), call_timeout), options)
        .await
        .expect("the fleet starts");
    Supervised { sim, fleet }
}

/// Each account's SOAP client, pointed at `endpoint`, each request bounded by `timeout` (as
/// `run` bounds it by the gateway's call timeout).
pub fn connect(endpoint: String, timeout: Duration) -> Connect {
    Arc::new(move |account: &Account| {
        let client = SoapClient::new(ClientConfig {
            timeout,
            ..ClientConfig::new(
                endpoint.clone(),
                account.username.clone(),
                account.password.clone(),
            )
        })
        .expect("a loopback http endpoint is a valid SOAP endpoint");
        Arc::new(client) as Arc<dyn ChargePointApi>
    })
}

/// Polls `probe` every 50 ms until it returns `Some`, for at most [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `device` has `point` (its getLoad data has arrived).
pub async fn wait_for_point(fleet: &Fleet, device: &str, point: &str) {
    eventually(&format!("{device} {point}"), || async {
        fleet.get_point(device, point).await.ok().map(drop)
    })
    .await;
}
