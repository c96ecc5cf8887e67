//! The Grafana dashboards and alert rules in `dashboards/`, proven against a real Prometheus.
//!
//! A real `prometheus` server (Debian's package, installed by `scripts/prometheus-test-env.sh`)
//! scrapes a live metrics endpoint every second with the shipped `dashboards/prometheus.yml`
//! and `dashboards/alerts.yml` (intervals shortened, every `for:` set to 0s). Then every query
//! of every dashboard panel, every template variable and every alert rule must return data, and
//! each alert must fire for exactly the fault that is present and for nothing healthy.
//!
//! The metrics come from [`metrics_source`]: today a fleet's worth of traffic recorded by this
//! test into a real `cp_actors::Metrics`; swap it for the supervisor running on the simulator
//! with faults injected, keeping the same stations and faults, and the rest of the test stands.
//!
//! Without `prometheus`/`promtool` on PATH the Prometheus tests print SKIPPED and pass.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use chrono::Utc;
use cp_actors::{ErrorKind, Metrics, WriteOutcome};
use cp_registry::{
    ApiMethod, ChargingSession, PortLoad, PortNumber, PortState, PortStatus, StationId,
    StationLoad, StationStatus,
};
use serde_json::Value;
use tokio::task::JoinSet;

/// The job name the shipped config scrapes and `CpSupervisorDown` watches (checked in both).
const JOB: &str = "chargepoint-supervisor";
/// The supervisor's metrics address in the shipped config, replaced by the test's endpoints.
const SHIPPED_TARGET: &str = "\"127.0.0.1:9464\"";
/// Grafana's variables, replaced the way Grafana would for a 1 s scrape interval.
const GRAFANA_VARIABLES: [(&str, &str); 3] = [
    ("$__rate_interval", "15s"),
    ("$__interval", "15s"),
    ("$__range", "5m"),
];
/// The station the station-detail dashboard is checked with: it has every kind of series,
/// including a method its account's plan refuses.
const DETAIL_STATION: &str = "1:20001";
/// How long Prometheus gets to start, scrape and fire; the whole test stays well under a minute.
const DEADLINE: Duration = Duration::from_secs(40);
/// Every HTTP request to Prometheus.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the simulated fleet records a round of calls, scrapes and writes.
const TRAFFIC_TICK: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------------
// The metrics source: the one piece to swap for the real supervisor.
// ---------------------------------------------------------------------------------------------

/// A metrics endpoint and the tasks behind it; dropping it stops them (the JoinSet aborts).
struct MetricsSource {
    addr: SocketAddr,
    _tasks: JoinSet<()>,
}

/// Serves `/metrics` for a two-account fleet with these faults present:
/// - station `1:10003` is down (its calls fail, it gets restarted);
/// - account `acme` has getLoad timing out on a third of its attempts (and retries them);
/// - account `globex`'s plan refuses getChargingSessionData (responseCode 101) for `1:20001`;
/// - writes of allowedLoad to `1:10002` fail.
async fn metrics_source() -> MetricsSource {
    let metrics = Metrics::new().expect("metric families register");
    for account in ["acme", "globex"] {
        metrics.add_account(account);
    }
    for station in FLEET.iter().map(|s| StationId::new(s.id)) {
        metrics.add_station(&station, &WRITABLE_ATTRIBUTES);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the metrics listener");
    let addr = listener.local_addr().expect("listener address");
    let served = metrics.clone();
    let router = Router::new().route("/metrics", get(move || async move { served.render() }));
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("metrics endpoint serves");
    });
    tasks.spawn(simulate_traffic(metrics));
    MetricsSource {
        addr,
        _tasks: tasks,
    }
}

struct FleetStation {
    id: &'static str,
    account: &'static str,
    up: bool,
}

const FLEET: [FleetStation; 4] = [
    FleetStation {
        id: "1:10001",
        account: "acme",
        up: true,
    },
    FleetStation {
        id: "1:10002",
        account: "acme",
        up: true,
    },
    FleetStation {
        id: "1:10003",
        account: "acme",
        up: false,
    },
    FleetStation {
        id: DETAIL_STATION,
        account: "globex",
        up: true,
    },
];

const WRITABLE_ATTRIBUTES: [&str; 4] = ["shedState", "allowedLoad", "percentShed", "clearAlarms"];

/// Records what a running supervisor would, one round per tick, until aborted.
async fn simulate_traffic(metrics: Metrics) {
    // One long session-data call stays in flight the whole time.
    metrics.set_calls_in_flight("globex", 1);
    let mut ticker = tokio::time::interval(TRAFFIC_TICK);
    for tick in 0u64.. {
        ticker.tick().await;
        record_round(&metrics, tick);
    }
}

fn record_round(m: &Metrics, tick: u64) {
    let ms = |n: u64| Duration::from_millis(n);
    // Gateway: batched status and load calls per account, rate-limiter waits.
    for account in ["acme", "globex"] {
        let stations = FLEET.iter().filter(|s| s.account == account).count();
        m.record_rate_limit_wait(account, ms(tick % 7));
        m.record_call(
            account,
            ApiMethod::GetStationStatus,
            ms(60 + tick % 40),
            Ok(()),
        );
        m.record_batch(account, ApiMethod::GetStationStatus, stations);
        m.record_call(account, ApiMethod::GetAlarms, ms(45), Ok(()));
    }
    m.record_batch("acme", ApiMethod::GetLoad, 3);
    if tick % 3 == 0 {
        m.record_call(
            "acme",
            ApiMethod::GetLoad,
            ms(2_000),
            Err(ErrorKind::Timeout),
        );
        m.record_retry("acme", ApiMethod::GetLoad);
    }
    m.record_call("acme", ApiMethod::GetLoad, ms(120 + tick % 50), Ok(()));
    m.record_call("globex", ApiMethod::GetLoad, ms(90), Ok(()));
    m.record_call(
        "globex",
        ApiMethod::GetChargingSessionData,
        ms(30),
        Err(ErrorKind::PlanRights),
    );
    m.record_call("acme", ApiMethod::GetChargingSessionData, ms(210), Ok(()));
    m.set_queue_depth("acme", (tick % 4) as usize);
    if tick % 25 == 0 {
        m.record_overload_rejection("acme");
    }

    // Stations: scrapes, data age, telemetry.
    let now = Utc::now();
    for (index, station) in FLEET.iter().enumerate() {
        let id = StationId::new(station.id);
        m.set_station_up(&id, station.up);
        if !station.up {
            m.record_call(
                station.account,
                ApiMethod::GetStationStatus,
                ms(5),
                Err(ErrorKind::Connect),
            );
            if tick % 20 == 0 {
                m.record_station_restart(&id);
            }
            continue;
        }
        m.record_scrape(&id, ms(150 + 10 * index as u64), now);
        m.set_data_age(&id, ApiMethod::GetLoad, ms(200 + tick % 1_000));
        m.set_data_age(&id, ApiMethod::GetStationStatus, ms(1_500));
        m.record_station_load(&station_load(&id, index, tick));
        m.record_station_status(&station_status(&id));
        m.record_session(&latest_session(&id, tick));
    }
    let refused = StationId::new(DETAIL_STATION);
    m.set_method_refused(&refused, ApiMethod::GetChargingSessionData, true);
    m.set_method_refused(&refused, ApiMethod::GetLoad, false);

    // Sheds, alarms and writes.
    let shed = StationId::new("1:10001");
    let failing = StationId::new("1:10002");
    m.set_sheds_active(&shed, 1);
    m.set_sheds_active(&refused, 1);
    m.set_active_alarms(&failing, 1);
    m.set_active_alarms(&shed, 0);
    m.set_active_alarms(&refused, 0);
    if tick % 5 == 0 {
        m.record_write(&shed, "shedState", &WriteOutcome::Confirmed);
        m.record_write(&refused, "percentShed", &WriteOutcome::Pending);
        m.record_write(
            &failing,
            "allowedLoad",
            &WriteOutcome::Failed {
                reason: "shedLoad refused".into(),
            },
        );
    }
}

/// Two ports: port 1 shed to 3.3 kW on the even stations, port 2 shed by 40% on the odd ones.
fn station_load(id: &StationId, index: usize, tick: u64) -> StationLoad {
    let wobble = (tick % 10) as f64 / 10.0;
    let port1_capped = index % 2 == 0;
    let ports = vec![
        PortLoad {
            port: PortNumber(1),
            user_id: None,
            credential_id: None,
            shed_state: port1_capped,
            port_load: if port1_capped { 3.2 } else { 6.6 + wobble },
            allowed_load: if port1_capped { 3.3 } else { 0.0 },
            percent_shed: 0,
        },
        PortLoad {
            port: PortNumber(2),
            user_id: None,
            credential_id: None,
            shed_state: !port1_capped,
            port_load: 4.0 + wobble,
            allowed_load: 0.0,
            percent_shed: if port1_capped { 0 } else { 40 },
        },
    ];
    StationLoad {
        station_id: id.clone(),
        station_name: None,
        address: None,
        station_load: Some(ports.iter().map(|p| p.port_load).sum()),
        ports,
    }
}

fn station_status(id: &StationId) -> StationStatus {
    let port = |n, status| PortStatus {
        port: PortNumber(n),
        status,
        timestamp: Utc::now(),
        connector: None,
        power: None,
    };
    StationStatus {
        station_id: id.clone(),
        ports: vec![port(1, PortState::InUse), port(2, PortState::Available)],
    }
}

fn latest_session(id: &StationId, tick: u64) -> ChargingSession {
    ChargingSession {
        station_id: id.clone(),
        station_name: None,
        port: Some(PortNumber(1)),
        address: None,
        city: None,
        state: None,
        country: None,
        postal_code: None,
        session_id: 4_000_000 + tick as i64,
        energy: 5.0 + tick as f64 / 100.0,
        start_time: Utc::now(),
        end_time: None,
        user_id: None,
        record_number: None,
        credential_id: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus, promtool and the shipped files.
// ---------------------------------------------------------------------------------------------

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// False (with a SKIPPED line) when Debian's prometheus package is not installed.
fn prometheus_installed(test: &str) -> bool {
    let found = ["prometheus", "promtool"].iter().all(|tool| {
        std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !found {
        eprintln!(
            "SKIPPED {test}: `prometheus`/`promtool` not found; install them with \
             scripts/prometheus-test-env.sh"
        );
    }
    found
}

/// Runs promtool and fails the test with its output unless it succeeds.
async fn promtool(args: &[&str]) {
    let out = tokio::time::timeout(
        HTTP_TIMEOUT * 2,
        tokio::process::Command::new("promtool")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("promtool {args:?} did not finish"))
    .expect("promtool starts");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped config with 1 s intervals, scraping `live` and `dead` instead of the supervisor.
fn test_config(live: SocketAddr, dead: SocketAddr) -> String {
    let shipped = read(&dashboards_dir().join("prometheus.yml"));
    assert!(
        shipped.contains(&format!("job_name: {JOB}")),
        "shipped job name"
    );
    let mut config = shipped.clone();
    for (from, to) in [
        ("scrape_interval: 15s", "scrape_interval: 1s".to_string()),
        (
            "evaluation_interval: 15s",
            "evaluation_interval: 1s".to_string(),
        ),
        (SHIPPED_TARGET, format!("\"{live}\", \"{dead}\"")),
    ] {
        assert_eq!(
            shipped.matches(from).count(),
            1,
            "dashboards/prometheus.yml should contain `{from}` once"
        );
        config = config.replace(from, &to);
    }
    config
}

/// The shipped rules with every `for:` set to 0s, so each alert fires on its first evaluation.
fn rules_firing_at_once() -> String {
    read(&dashboards_dir().join("alerts.yml"))
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for:") {
            Some(_) => format!("{}for: 0s", &line[..line.len() - line.trim_start().len()]),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A running Prometheus; dropping it kills the server (and the temp dir holding its storage).
struct Prometheus {
    child: Child,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Writes the config and rules to a temp dir and starts `prometheus` on a free port.
    async fn start(config: &str, rules: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write config");
        std::fs::write(dir.path().join("alerts.yml"), rules).expect("write rules");
        promtool(&[
            "check",
            "config",
            config_path.to_str().expect("utf-8 temp path"),
        ])
        .await;

        let listen = free_port().await;
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("http client");
        let prometheus = Prometheus {
            child,
            base: format!("http://{listen}"),
            http,
            dir,
        };
        prometheus.wait_ready().await;
        prometheus
    }

    async fn wait_ready(&self) {
        let url = format!("{}/-/ready", self.base);
        let started = Instant::now();
        loop {
            if let Ok(resp) = self.http.get(&url).send().await {
                if resp.status().is_success() {
                    return;
                }
            }
            self.assert_before_deadline(started, "Prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn assert_before_deadline(&self, started: Instant, what: &str) {
        if started.elapsed() > DEADLINE {
            let log =
                std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
            panic!("{what} within {DEADLINE:?}; Prometheus log:\n{log}");
        }
    }

    /// GET an API path with query parameters; returns `data` of a `success` answer.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .expect("valid API URL");
        let body = self
            .http
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} {params:?}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path} {params:?}: body: {e}"));
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path} {params:?}: not JSON ({e}): {body}"));
        assert_eq!(
            answer["status"], "success",
            "GET {path} {params:?} failed: {body}"
        );
        answer["data"].clone()
    }

    /// An instant query's result vector.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.api("/api/v1/query", &[("query", expr)]).await;
        assert_eq!(
            data["resultType"], "vector",
            "`{expr}` is not an instant vector"
        );
        data["result"].as_array().cloned().unwrap_or_default()
    }
}

/// A loopback port nobody listens on (bound, then released).
async fn free_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a probe port");
    listener.local_addr().expect("probe address")
}

// ---------------------------------------------------------------------------------------------
// The dashboards' JSON.
// ---------------------------------------------------------------------------------------------

const DASHBOARDS: [&str; 3] = [
    "fleet-overview.json",
    "api-health.json",
    "station-detail.json",
];

fn load_dashboard(name: &str) -> Value {
    let text = read(&dashboards_dir().join(name));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"))
}

/// Every panel, including those nested in (collapsed) rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// A panel query: where it comes from, and its PromQL with Grafana's variables replaced.
struct PanelQuery {
    origin: String,
    expr: String,
}

fn panel_queries(name: &str, dashboard: &Value, station: &str) -> Vec<PanelQuery> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            let mut expr = expr.replace("$station", station);
            for (variable, value) in GRAFANA_VARIABLES {
                expr = expr.replace(variable, value);
            }
            assert!(
                !expr.contains('$'),
                "{name}: unreplaced variable in `{expr}`"
            );
            queries.push(PanelQuery {
                origin: format!("{name} / {} / {}", panel["title"], target["refId"]),
                expr,
            });
        }
    }
    queries
}

/// The `label_values(metric, label)` template variables of a dashboard, as (metric, label).
fn label_value_variables(dashboard: &Value) -> Vec<(String, String)> {
    let mut variables = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap_or_else(|| panic!("variable {} has no query", variable["name"]));
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| {
                panic!("variable query `{query}` is not label_values(metric, label)")
            });
        let (metric, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("variable query `{query}` names no label"));
        variables.push((metric.trim().to_string(), label.trim().to_string()));
    }
    variables
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn dashboards_are_provisionable_and_use_only_the_provisioned_datasource() {
    let datasource = read(&dashboards_dir().join("provisioning/datasources/prometheus.yml"));
    assert!(datasource.contains("uid: cp-prometheus"), "datasource uid");
    let provider = read(&dashboards_dir().join("provisioning/dashboards/chargepoint.yml"));
    assert!(provider.contains("type: file"), "file dashboard provider");

    let mut uids = BTreeSet::new();
    for name in DASHBOARDS {
        let text = read(&dashboards_dir().join(name));
        assert!(
            !text.contains("${DS_"),
            "{name}: import-time datasource inputs"
        );
        assert!(!text.contains("__inputs"), "{name}: import-time inputs");
        let dashboard = load_dashboard(name);
        assert_eq!(dashboard["schemaVersion"], 39, "{name}: schemaVersion");
        let uid = dashboard["uid"].as_str().expect("dashboard uid");
        assert!(uids.insert(uid.to_string()), "{name}: uid {uid} reused");
        let mut ids = BTreeSet::new();
        let mut queries = 0;
        for panel in panels(&dashboard) {
            let title = &panel["title"];
            assert!(
                ids.insert(panel["id"].as_i64().expect("panel id")),
                "{name}: id of {title} reused"
            );
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(
                panel["datasource"]["uid"], "cp-prometheus",
                "{name} / {title}"
            );
            let targets = panel["targets"].as_array().expect("panel targets");
            assert!(!targets.is_empty(), "{name} / {title}: no query");
            for target in targets {
                assert_eq!(
                    target["datasource"]["uid"], "cp-prometheus",
                    "{name} / {title}"
                );
                assert!(
                    target["expr"].as_str().is_some_and(|e| !e.is_empty()),
                    "{name} / {title}"
                );
                queries += 1;
            }
        }
        assert!(queries >= 10, "{name}: only {queries} queries");
    }
    let detail = load_dashboard("station-detail.json");
    assert_eq!(
        label_value_variables(&detail),
        [("cp_station_up".to_string(), "station".to_string())]
    );
}

#[tokio::test]
async fn shipped_rules_and_config_pass_promtool() {
    if !prometheus_installed("shipped_rules_and_config_pass_promtool") {
        return;
    }
    let dir = dashboards_dir();
    promtool(&[
        "check",
        "rules",
        dir.join("alerts.yml").to_str().expect("utf-8 path"),
    ])
    .await;
    promtool(&[
        "check",
        "config",
        dir.join("prometheus.yml").to_str().expect("utf-8 path"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_and_alerts_fire_for_present_faults() {
    if !prometheus_installed(
        "every_dashboard_query_returns_data_and_alerts_fire_for_present_faults",
    ) {
        return;
    }
    let source = metrics_source().await;
    let dead_supervisor = free_port().await;
    let prometheus = Prometheus::start(
        &test_config(source.addr, dead_supervisor),
        &rules_firing_at_once(),
    )
    .await;

    // Wait for enough scrapes that rate() over 15 s has several samples.
    let started = Instant::now();
    loop {
        let samples = prometheus.query("count_over_time(cp_station_up[1m])").await;
        let scrapes = samples
            .first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if scrapes >= 4.0 {
            break;
        }
        prometheus.assert_before_deadline(started, "Prometheus did not scrape the metrics source");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Template variables list every station.
    for name in DASHBOARDS {
        for (metric, label) in label_value_variables(&load_dashboard(name)) {
            let values = prometheus
                .api(
                    &format!("/api/v1/label/{label}/values"),
                    &[("match[]", &metric)],
                )
                .await;
            let values: BTreeSet<&str> = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let expected: BTreeSet<&str> = FLEET.iter().map(|s| s.id).collect();
            assert_eq!(values, expected, "{name}: label_values({metric}, {label})");
        }
    }

    // Every panel query returns at least one series with a number in it.
    let mut empty = Vec::new();
    let mut checked = 0;
    for name in DASHBOARDS {
        for query in panel_queries(name, &load_dashboard(name), DETAIL_STATION) {
            checked += 1;
            let result = prometheus.query(&query.expr).await;
            let has_number = result.iter().any(|series| {
                series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(f64::is_finite)
            });
            if !has_number {
                empty.push(format!("{}: `{}` -> {result:?}", query.origin, query.expr));
            }
        }
    }
    assert!(
        empty.is_empty(),
        "panel queries without data:\n{}",
        empty.join("\n")
    );
    assert!(checked >= 40, "only {checked} panel queries found");

    // Every alert rule Prometheus loaded returns series and fires, for the faulty things only.
    let groups = prometheus.api("/api/v1/rules", &[("type", "alert")]).await;
    let rules: Vec<(String, String)> = groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["query"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let shipped_alerts = read(&dashboards_dir().join("alerts.yml"))
        .matches("- alert:")
        .count();
    assert_eq!(rules.len(), shipped_alerts, "Prometheus loaded {rules:?}");
    for (name, expr) in &rules {
        assert!(
            !prometheus.query(expr).await.is_empty(),
            "alert {name}: `{expr}` returns nothing"
        );
    }

    let expected: BTreeSet<(String, String)> = [
        ("CpSupervisorDown", format!("instance={dead_supervisor}")),
        ("CpStationDown", "station=1:10003".to_string()),
        (
            "CpApiErrorRateHigh",
            "account=acme method=getLoad".to_string(),
        ),
        (
            "CpApiErrorRateHigh",
            "account=acme method=getStationStatus".to_string(),
        ),
        (
            "CpPlanRightsErrors",
            "account=globex method=getChargingSessionData".to_string(),
        ),
        (
            "CpStationMethodRefused",
            "station=1:20001 method=getChargingSessionData".to_string(),
        ),
        (
            "CpWriteFailures",
            "station=1:10002 attribute=allowedLoad".to_string(),
        ),
    ]
    .into_iter()
    .map(|(name, labels)| (name.to_string(), labels))
    .collect();
    let started = Instant::now();
    loop {
        let firing = firing_alerts(&prometheus).await;
        if firing == expected {
            break;
        }
        if started.elapsed() > DEADLINE {
            panic!("firing alerts:\n{firing:#?}\nexpected:\n{expected:#?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(prometheus);
    drop(source);
}

/// The firing alerts as (name, "label=value ..." of the labels that say what is faulty).
async fn firing_alerts(prometheus: &Prometheus) -> BTreeSet<(String, String)> {
    let data = prometheus.api("/api/v1/alerts", &[]).await;
    data["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "firing")
        .map(|alert| {
            let labels = &alert["labels"];
            let name = labels["alertname"].as_str().unwrap_or_default().to_string();
            let subject: Vec<String> = ["instance", "station", "account", "method", "attribute"]
                .into_iter()
                .filter(|key| !(*key == "instance" && name != "CpSupervisorDown"))
                .filter_map(|key| labels[key].as_str().map(|v| format!("{key}={v}")))
                .collect();
            (name, subject.join(" "))
        })
        .collect()
}
