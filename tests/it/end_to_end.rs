//! End to end over loopback: the real SOAP client, gateway and actors against the simulator,
//! checked by the simulator's own state and call log; and the built binary (`run`, then `set`,
//! `get`, `revert` in other processes) the way a user drives it.
//!
//! Just over the ~600-line guide: the in-process and the built-binary scenarios share one
//! supervised-simulator fixture each, and every test here is one user story from start to end.

use std::io::{BufRead, BufReader};
use std::num::NonZeroU32;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::util::supervisor::{
    self as supervisor_util, eventually, quick_options, supervise, supervise_spec, wait_for_point,
    PATIENCE,
};
use cp_actors::{
    DeviceError, Fleet, FleetOptions, GatewayOptions, LoadScope, Metrics, WriteOutcome,
};
use cp_registry::{ApiMethod, FleetConfig, PointValue, PortNumber};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

const DEVICE: &str = "sim/account1/10001";

/// The spec's write semantics, one case after another, each confirmed by the simulator.
#[tokio::test]
async fn write_semantics_follow_the_spec() {
    let supervised = supervise(2, 1, quick_options()).await;
    let fleet = &supervised.fleet;
    wait_for_point(fleet, DEVICE, "port1.portLoad").await;

    // Writing allowedLoad only stores the intent.
    let outcome = fleet
        .set_point(DEVICE, "port1.allowedLoad", json!(2.0))
        .await;
    assert_eq!(outcome.unwrap().outcome, WriteOutcome::Stored);
    assert!(!supervised.port("1:10001", 1).load.shed_state);

    // shedState=1 sheds with the stored allowedLoad.
    let outcome = fleet.set_point(DEVICE, "port1.shedState", json!(1)).await;
    assert_eq!(outcome.unwrap().outcome, WriteOutcome::Confirmed);
    let port = supervised.port("1:10001", 1);
    assert!(port.load.shed_state);
    assert_eq!((port.load.allowed_load, port.load.percent_shed), (2.0, 0));
    // The write's read-back is what the next read shows, without waiting for a scrape.
    assert_eq!(read(fleet, "port1.shedState").await, PointValue::Int(1));
    assert_eq!(
        read(fleet, "port1.allowedLoad").await,
        PointValue::Float(2.0)
    );

    // While shed, a new percentShed replaces the allowedLoad intent and applies at once.
    let outcome = fleet
        .set_point(DEVICE, "port1.percentShed", json!(25))
        .await;
    assert_eq!(outcome.unwrap().outcome, WriteOutcome::Confirmed);
    let port = supervised.port("1:10001", 1);
    assert!(port.load.shed_state);
    assert_eq!((port.load.allowed_load, port.load.percent_shed), (0.0, 25));

    // shedState=0 clears the shed.
    let outcome = fleet.set_point(DEVICE, "port1.shedState", json!(0)).await;
    assert_eq!(outcome.unwrap().outcome, WriteOutcome::Confirmed);
    assert!(!supervised.port("1:10001", 1).load.shed_state);
    assert_eq!(read(fleet, "port1.shedState").await, PointValue::Int(0));

    // shedState=1 on a port with no intent is refused and sends nothing.
    let sheds_before = supervised.sim.state().calls().count("shedLoad");
    let refused = fleet.set_point(DEVICE, "port2.shedState", json!(1)).await;
    assert!(
        matches!(
            refused,
            Err(DeviceError::NoShedIntent {
                scope: LoadScope::Port(PortNumber(2)),
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        supervised.sim.state().calls().count("shedLoad"),
        sheds_before
    );
    assert!(!supervised.port("1:10001", 2).load.shed_state);

    // Out-of-range values never reach ChargePoint.
    let refused = fleet
        .set_point(DEVICE, "port2.percentShed", json!(101))
        .await;
    assert!(
        matches!(refused, Err(DeviceError::BadValue { .. })),
        "{refused:?}"
    );
    let refused = fleet
        .set_point(DEVICE, "port2.allowedLoad", json!(-1.0))
        .await;
    assert!(
        matches!(refused, Err(DeviceError::BadValue { .. })),
        "{refused:?}"
    );

    // clearAlarms=1 sends clearAlarms for the station.
    let outcome = fleet.set_point(DEVICE, "clearAlarms", json!(1)).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let clears = supervised.sim.state().calls().count("clearAlarms");
    assert_eq!(clears, 1);
    supervised.stop().await;
}

/// `point` of [`DEVICE`] as get_point answers it now.
async fn read(fleet: &Fleet, point: &str) -> PointValue {
    let reading = fleet.get_point(DEVICE, point).await;
    reading
        .unwrap_or_else(|e| panic!("get_point {point}: {e}"))
        .value
}

/// 100 stations on one account: getLoad and getStationStatus are batched across stations,
/// and the account's request rate is never exceeded.
#[tokio::test]
async fn a_hundred_stations_are_read_in_batches_within_the_rate_limit() {
    const STATIONS: u64 = 100;
    const PER_MINUTE: u32 = 1_200;
    const BURST: u32 = 20;
    let options = FleetOptions {
        gateway: GatewayOptions {
            requests_per_minute: NonZeroU32::new(PER_MINUTE).expect("non-zero"),
            burst: NonZeroU32::new(BURST).expect("non-zero"),
            ..quick_options().gateway
        },
        ..quick_options()
    };
    // Only load and status are read every second; sessions, alarms and rights are per-station
    // calls at the registry's own cadence, as in production.
    let fast_reads_only = |mut spec: FleetConfig| {
        for set in &mut spec.station_sets {
            let mut registry = (*set.registry).clone();
            for point in &mut registry.points {
                if matches!(
                    point.method(),
                    ApiMethod::GetLoad | ApiMethod::GetStationStatus
                ) {
                    point.scrape_interval = Some(supervisor_util::TEST_INTERVAL);
                    point.data_currency = Some(supervisor_util::TEST_INTERVAL);
                }
            }
            set.registry = Arc::new(registry);
        }
        spec
    };
    let supervised = supervise_spec(STATIONS as usize, 1, options, fast_reads_only).await;
    let fleet = &supervised.fleet;
    eventually("every station scraped", || async {
        let health = fleet.health().await.ok()?;
        (health.stations_total == STATIONS as usize && health.stations_up == STATIONS as usize)
            .then_some(())
    })
    .await;

    let state = supervised.sim.state();
    state.reset_calls();
    let window = Duration::from_secs(4);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let calls = state.calls();
    let elapsed = started.elapsed().as_secs_f64();

    // One call per station per method per interval would be STATIONS per second each.
    let intervals = elapsed / supervisor_util::TEST_INTERVAL.as_secs_f64();
    let unbatched = STATIONS as f64 * intervals;
    for method in ["getLoad", "getStationStatus"] {
        let count = calls.count(method) as f64;
        assert!(count > 0.0, "{method} was called during the window");
        assert!(
            count < unbatched / 5.0,
            "{method}: {count} calls in {elapsed:.1} s for {STATIONS} stations is not batched"
        );
    }
    let allowed = f64::from(PER_MINUTE) / 60.0 * elapsed + f64::from(BURST);
    assert!(
        (calls.total as f64) <= allowed,
        "{} calls in {elapsed:.1} s exceed the account's {PER_MINUTE}/min (burst {BURST})",
        calls.total
    );
    supervised.stop().await;
}

/// A port actor that panics is restarted by its station with the registers it had: the
/// allowedLoad written before the panic is what a later shedState=1 sheds with.
#[tokio::test]
async fn a_panicking_port_restarts_with_the_limit_written_before() {
    let supervised = supervise(1, 1, quick_options()).await;
    let fleet = &supervised.fleet;
    wait_for_point(fleet, DEVICE, "port1.portLoad").await;
    let outcome = fleet
        .set_point(DEVICE, "port1.allowedLoad", json!(2.5))
        .await;
    assert_eq!(outcome.unwrap().outcome, WriteOutcome::Stored);

    fleet
        .inject_port_panic(DEVICE, PortNumber(1))
        .await
        .expect("the port actor is running");
    // Until its station has restarted it, the port does not answer and the write is refused
    // as unavailable, before anything is sent.
    let outcome = eventually("shedState=1 once the port is back", || async {
        match fleet.set_point(DEVICE, "port1.shedState", json!(1)).await {
            Err(DeviceError::Unavailable { .. }) => None,
            other => Some(other),
        }
    })
    .await;
    assert_eq!(outcome.unwrap().outcome, WriteOutcome::Confirmed);
    let port = supervised.port("1:10001", 1);
    assert!(port.load.shed_state);
    assert_eq!((port.load.allowed_load, port.load.percent_shed), (2.5, 0));
    supervised.stop().await;
}

/// A station actor that panics is restarted by the fleet (with its restart counted) and
/// publishes again; the other stations' publishes go on at their cadence throughout.
#[tokio::test]
async fn a_panicking_station_restarts_and_the_others_keep_publishing() {
    let metrics = Metrics::new().expect("the metric families register");
    let options = FleetOptions {
        observer: Arc::new(metrics.clone()),
        station_observer: Arc::new(metrics.clone()),
        ..quick_options()
    };
    let supervised = supervise(3, 1, options).await;
    let fleet = &supervised.fleet;
    let devices: Vec<String> = eventually("the fleet's three devices", || async {
        let devices = fleet.devices().await.ok()?;
        (devices.len() == 3).then(|| devices.into_iter().map(|d| d.path).collect())
    })
    .await;
    for device in &devices {
        wait_for_point(fleet, device, "port1.portLoad").await;
    }
    let restarts = r#"cp_station_restarts_total{station="1:10001"}"#;
    assert!(
        metrics.render().contains(&format!("{restarts} 0\n")),
        "{}",
        metrics.render()
    );

    fleet
        .inject_panic(DEVICE)
        .await
        .expect("the station actor is running");
    eventually("the panicked station to be down", || async {
        let health = fleet.health().await.ok()?;
        let station = health.stations.iter().find(|s| s.device.path == DEVICE)?;
        (!station.device.up).then_some(())
    })
    .await;
    // Subscribed once the actor is gone: any publish of DEVICE from now on is the new actor's.
    let mut publishes = fleet.subscribe();
    let down_at = Instant::now();
    let mut seen: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let back_at = loop {
        let publish = match tokio::time::timeout_at(deadline, publishes.recv()).await {
            Ok(Ok(publish)) => publish,
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) | Err(_) => panic!("{DEVICE} never published again"),
        };
        if publish.device == DEVICE {
            break Instant::now();
        }
        seen.entry(publish.device).or_default().push(Instant::now());
    };
    assert!(
        metrics.render().contains(&format!("{restarts} 1\n")),
        "{}",
        metrics.render()
    );

    // Each sibling published throughout the outage, never stalling for much over its interval.
    let most = supervisor_util::TEST_INTERVAL * 5 / 2;
    for device in devices.iter().filter(|d| *d != DEVICE) {
        let times = seen.get(device).map(Vec::as_slice).unwrap_or_default();
        let mut edges = vec![down_at];
        edges.extend_from_slice(times);
        edges.push(back_at);
        let gap = edges
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        assert!(
            !times.is_empty() && gap <= most,
            "{device}: {} publishes, longest gap {gap:?} while {DEVICE} restarted in {:?}",
            times.len(),
            back_at - down_at
        );
    }
    let health = fleet.health().await.expect("the fleet answers");
    assert_eq!(health.stations_up, 3, "{health:?}");
    supervised.stop().await;
}

/// account2's plan refuses getLoad: its load points go missing with a plan-rights error,
/// its other points (status, from getStationStatus) keep coming.
#[tokio::test]
async fn plan_refusal_hides_only_the_refused_methods_points() {
    let supervised = supervise(2, 2, quick_options()).await;
    let fleet = &supervised.fleet;
    let device = "sim/account2/20001";
    wait_for_point(fleet, device, "port1.Status").await;
    let refused = eventually("getLoad refused for account2", || async {
        match fleet.get_point(device, "port1.portLoad").await {
            Err(error @ DeviceError::PointUnavailable { .. }) => Some(error),
            _ => None,
        }
    })
    .await;
    let DeviceError::PointUnavailable { method, kind, .. } = refused else {
        unreachable!("matched above");
    };
    assert_eq!((method.name(), kind.as_str()), ("getLoad", "plan_rights"));

    let publish = fleet
        .scrape_all(device)
        .await
        .expect("a scrape of account2's station");
    let values = &serde_json::to_value(&publish.message).expect("a publish serialises")[0];
    assert!(values.get("port1.Status").is_some(), "{values}");
    assert!(values.get("port1.portLoad").is_none(), "{values}");

    // account1's full plan still reads load.
    wait_for_point(fleet, DEVICE, "port1.portLoad").await;
    supervised.stop().await;
}

/// The binary: `run` on ephemeral ports, then `set`, `get` and `revert` against it. Shedding a
/// charging port makes the simulator's load drop; reverting brings it back.
#[test]
fn cli_shed_drops_the_simulated_load_and_revert_restores_it() {
    let token = "e2e-token";
    let mut supervisor = Supervisor::start(&[
        "run",
        "--api-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--sim-stations",
        "10",
        "--interval",
        "1",
        "--token",
        token,
    ]);
    let (station, port, before) = supervisor.charging_port();
    let device = format!("sim/account1/{}", station.trim_start_matches("1:"));
    let load_point = format!("port{port}.portLoad");
    wait_until("the port's load is readable", || {
        cli(&supervisor.api, token, &["get", &device, &load_point])
            .status
            .success()
    });

    let cap = (before / 2.0).max(0.5);
    let allowed = format!("port{port}.allowedLoad");
    let shed = format!("port{port}.shedState");
    let set = cli(
        &supervisor.api,
        token,
        &["set", &device, &allowed, &cap.to_string(), &shed, "1"],
    );
    assert!(
        set.status.success(),
        "set failed: {}",
        String::from_utf8_lossy(&set.stderr)
    );
    let answer = String::from_utf8_lossy(&set.stdout);
    assert!(answer.contains(&format!("{shed}: confirmed")), "{answer}");
    let capped = supervisor.sim_port(&station, port);
    assert_eq!(capped["shed_state"], true);
    let capped_load = capped["load_kw"].as_f64().expect("a load");
    assert!(
        capped_load <= cap + 1e-6 && capped_load < before,
        "{capped_load} kW, was {before} kW, cap {cap} kW"
    );

    // The binary's metrics carry station health and writes (counted per account), not only API
    // calls. The station's health shows from its first publish, which a write need not wait for.
    let up = format!("cp_station_up{{account=\"account1\",station=\"{station}\"}} 1");
    wait_until("the station's first publish in the metrics", || {
        supervisor.metrics().contains(&up)
    });
    let metrics = supervisor.metrics();
    let writes =
        "cp_writes_total{account=\"account1\",attribute=\"shedState\",outcome=\"confirmed\"} 1";
    assert!(metrics.contains(writes), "no {writes} in:\n{metrics}");

    // Without the token, a write is refused and says why.
    let refused = cli(&supervisor.api, "", &["revert", &device]);
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "error: writes need an 'Authorization: Bearer <token>' header (HTTP 401, missing_token)"
    );

    let revert = cli(&supervisor.api, token, &["revert", &device]);
    assert!(
        revert.status.success(),
        "revert failed: {}",
        String::from_utf8_lossy(&revert.stderr)
    );
    let restored = supervisor.sim_port(&station, port);
    assert_eq!(restored["shed_state"], false);
    assert!(restored["load_kw"].as_f64().expect("a load") > capped_load);

    supervisor.stop();
}

/// The binary's `get` and `set` on the edges: the default run's heartbeat reads, a
/// dictionary prints in full, a negative value reaches the server (which answers with its
/// range), and a plan refusal names the refused method.
#[test]
fn cli_reads_heartbeat_and_dictionaries_passes_negative_values_and_names_refused_methods() {
    let token = "e2e-token";
    let mut supervisor = Supervisor::start(&[
        "run",
        "--api-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--sim-stations",
        "4",
        "--interval",
        "1",
        "--token",
        token,
    ]);
    let device = "sim/account1/10001";
    let get = |point: &str| cli(&supervisor.api, token, &["get", device, point]);
    wait_until("the heartbeat is readable", || {
        get("Heartbeat").status.success()
    });
    let heartbeat = String::from_utf8_lossy(&get("Heartbeat").stdout).to_string();
    assert!(heartbeat.starts_with("Heartbeat: "), "{heartbeat}");

    wait_until("the rights profile is readable", || {
        get("stationRightsProfile").status.success()
    });
    let rights = String::from_utf8_lossy(&get("stationRightsProfile").stdout).to_string();
    assert!(
        rights.starts_with("stationRightsProfile: {\"") && !rights.contains("{}"),
        "{rights}"
    );

    let negative = cli(
        &supervisor.api,
        token,
        &["set", device, "port1.allowedLoad", "-1"],
    );
    assert!(!negative.status.success());
    assert_eq!(
        String::from_utf8_lossy(&negative.stderr).trim(),
        "error: device sim/account1/10001: point port1.allowedLoad: expected a number of kW from 0 to 1000, found -1 (HTTP 400, bad_value)"
    );

    let refused_device = "sim/account2/20001";
    let mut refusal = String::new();
    wait_until("account2's getLoad refusal", || {
        let out = cli(
            &supervisor.api,
            token,
            &["get", refused_device, "port1.portLoad"],
        );
        refusal = String::from_utf8_lossy(&out.stderr).trim().to_string();
        refusal.contains("plan_rights")
    });
    assert_eq!(
        refusal,
        "error: the account's plan does not permit getLoad, the ChargePoint method behind this point (HTTP 502, plan_rights)"
    );
    supervisor.stop();
}

/// The body of a GET, from a blocking test.
fn http_get(url: &str) -> Vec<u8> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("the endpoint answers")
            .bytes()
            .await
            .expect("a readable answer")
            .to_vec()
    })
}

/// Runs the CLI against `api`; an empty token means none.
fn cli(api: &str, token: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chargepoint-supervisor"));
    command
        .args(args)
        .args(["--api", api])
        .env_remove("CP_SUPERVISOR_TOKEN");
    if !token.is_empty() {
        command.args(["--token", token]);
    }
    command.output().expect("the CLI runs")
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `run` process and the addresses it printed.
struct Supervisor {
    child: Child,
    /// Kept open so the child's later writes to stdout never meet a closed pipe.
    _stdout: BufReader<ChildStdout>,
    api: String,
    /// The `/metrics` URL.
    metrics: String,
    sim: String,
}

impl Supervisor {
    fn start(args: &[&str]) -> Supervisor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chargepoint-supervisor"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the supervisor starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the supervisor prints where it listens");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
                .to_string()
        };
        let api = field("api");
        let metrics = field("metrics");
        let sim = field("sim");
        let sim = sim[..sim.find("/webservices").expect("a SOAP endpoint URL")].to_string();
        Supervisor {
            child,
            _stdout: stdout,
            api,
            metrics,
            sim,
        }
    }

    /// The simulator's view of a port, from its admin endpoint.
    fn sim_port(&self, station: &str, port: u16) -> Value {
        let url = format!("{}/admin/stations/{station}/ports/{port}", self.sim);
        serde_json::from_slice(&http_get(&url)).expect("a JSON port")
    }

    /// The supervisor's Prometheus text.
    fn metrics(&self) -> String {
        String::from_utf8(http_get(&self.metrics)).expect("UTF-8 metrics")
    }

    /// A port of account1 drawing more than 1 kW: (station, port, kW).
    fn charging_port(&self) -> (String, u16, f64) {
        for n in 1..=5 {
            let station = format!("1:{}", 10000 + n);
            for port in 1..=2 {
                let snapshot = self.sim_port(&station, port);
                let load = snapshot["load_kw"].as_f64().unwrap_or(0.0);
                if load > 1.0 {
                    return (station, port, load);
                }
            }
        }
        panic!("no charging port among account1's first stations");
    }

    /// SIGTERM, then the process must exit cleanly.
    fn stop(&mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited on") {
                assert!(status.success(), "the supervisor exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the supervisor did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Supervisor {
    /// A failed test must not leave its supervisor running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
