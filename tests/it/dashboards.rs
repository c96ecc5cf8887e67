//! The Grafana dashboards and alert rules in `dashboards/`, proven against a real Prometheus
//! scraping the real supervisor.
//!
//! The simulator runs in-process, the supervisor's fleet runs on it wired as `run` wires it
//! (its own `Metrics` as call and station observer, served by `metrics_router`), scraping every
//! second. A real `prometheus` server (Debian's package, installed by
//! `scripts/prometheus-test-env.sh`) scrapes that endpoint every second with the shipped
//! `dashboards/prometheus.yml` and `dashboards/alerts.yml` (intervals shortened, every `for:`
//! set to 0s). Faults are injected into the simulator (503s, malformed answers, a write the
//! plan refuses); the counters they must move are checked, then every query of every dashboard
//! panel, every template variable and every alert rule must return data, and each injected
//! fault's alert must fire while nothing healthy alerts. `promtool check metrics` passes on the
//! supervisor's `/metrics` before and after the faults.
//!
//! Without `prometheus`/`promtool` on PATH the Prometheus tests fail, naming the missing tool and
//! its install command (see `util` for the opt-out).
//!
//! Over the ~600-line guide: one scenario (a real Prometheus over a faulted fleet) with the
//! fixture only it uses (the Prometheus process, its config, the dashboards' panel queries);
//! split apart, each half would be read only with the other.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chargepoint_supervisor::http::metrics_router;
use cp_actors::{DeviceError, Fleet, FleetOptions, Metrics, WriteOutcome};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::util::supervisor::{quick_options, supervise, Supervised};
use crate::util::{tools_present, PROMETHEUS, PROMTOOL};

/// The job name the shipped config scrapes and `CpSupervisorDown` watches (checked in both).
const JOB: &str = "chargepoint-supervisor";
/// The supervisor's metrics address in the shipped config, replaced by the test's endpoints.
const SHIPPED_TARGET: &str = "\"127.0.0.1:9464\"";
/// Grafana's variables, replaced as Grafana does for the shipped 15 s scrape interval
/// (`$__rate_interval` is at least four scrape intervals). A shorter window made the
/// drill-down's scrape-duration quantiles NaN whenever the faulted station had not finished a
/// scrape in the last few seconds: retries against the injected faults take that long.
const GRAFANA_VARIABLES: [(&str, &str); 3] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "15s"),
    ("$__range", "5m"),
];
/// The simulated stations: account1 (full plan) and account2 (restricted plan).
const STATION_IDS: [&str; STATIONS] = [
    "1:10001", "1:10002", "1:10003", "2:20001", "2:20002", "2:20003",
];
/// A station on the full plan that nothing is written to.
const DETAIL_STATION: &str = "1:10001";
/// The shed written to a station whose plan refuses shedLoad.
const WRITE_STATION: &str = "2:20001";
const WRITE_DEVICE: &str = "sim/account2/20001";
const WRITE_ACCOUNT: &str = "account2";
/// A station shed for real (account1's plan grants shedLoad).
const SHED_STATION: &str = "1:10002";
const SHED_DEVICE: &str = "sim/account1/10002";
/// The stations the station-detail dashboard is checked with; each of its queries must show
/// data for one of them. A station has the series of what is there only: a port's cap and shed
/// fraction while it is shed (the full-plan station shed for real has them), a refused method
/// while the plan refuses it (the restricted-plan station has that).
const DETAIL_STATIONS: [&str; 2] = [SHED_STATION, WRITE_STATION];
/// How long Prometheus gets to start, scrape and fire; the whole test stays well under a minute.
const DEADLINE: Duration = Duration::from_secs(40);
/// Every HTTP request to Prometheus.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The metrics source: the real supervisor's fleet on the simulator, with faults injected.
// ---------------------------------------------------------------------------------------------

/// The simulator, the supervisor's fleet on it (recording into its own `Metrics`) and the
/// `/metrics` endpoint `run` serves. Dropping it stops the endpoint; `shutdown` stops the rest.
struct MetricsSource {
    addr: SocketAddr,
    metrics: Metrics,
    supervised: Supervised,
    _server: JoinSet<()>,
}

/// Simulated stations, 3 per account, 2 ports each.
const STATIONS: usize = 6;

/// Starts the simulator (account1 full plan, account2 restricted: getLoad, shedLoad and
/// clearShedState answer 101) and the supervisor's fleet on it with `Metrics` as its call and
/// station observer, scraping every second, and serves `/metrics` as `run` does.
async fn metrics_source() -> MetricsSource {
    let metrics = Metrics::new().expect("metric families register");
    let options = FleetOptions {
        observer: Arc::new(metrics.clone()),
        station_observer: Arc::new(metrics.clone()),
        ..quick_options()
    };
    let supervised = supervise(STATIONS, 2, options).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the metrics listener");
    let addr = listener.local_addr().expect("listener address");
    let router = metrics_router(metrics.clone());
    let mut server = JoinSet::new();
    server.spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("metrics endpoint serves");
    });
    MetricsSource {
        addr,
        metrics,
        supervised,
        _server: server,
    }
}

impl MetricsSource {
    async fn shutdown(self) {
        self.supervised.stop().await;
    }

    /// The sum of the rendered samples of `metric` whose labels contain all of `labels`
    /// (0 when there are none): what the supervisor itself recorded, before any scrape.
    fn sample(&self, metric: &str, labels: &[&str]) -> f64 {
        self.metrics
            .render()
            .lines()
            .filter(|line| {
                line.starts_with(metric)
                    && line[metric.len()..].starts_with('{')
                    && labels.iter().all(|l| line.contains(l))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// Polls `check` until it holds or the deadline passes.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < DEADLINE, "{what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
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

/// Runs promtool and fails the test with its output unless it succeeds.
async fn promtool(args: &[&str]) {
    promtool_with_input(args, Vec::new()).await;
}

/// Runs promtool with `input` on its stdin and fails the test with its output unless it
/// succeeds.
async fn promtool_with_input(args: &[&str], input: Vec<u8>) {
    use tokio::io::AsyncWriteExt;

    let run = async {
        let mut child = tokio::process::Command::new("promtool")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("promtool starts");
        let mut stdin = child.stdin.take().expect("promtool's stdin is piped");
        stdin
            .write_all(&input)
            .await
            .expect("write promtool's input");
        drop(stdin);
        child.wait_with_output().await.expect("promtool's output")
    };
    let out = tokio::time::timeout(HTTP_TIMEOUT * 2, run)
        .await
        .unwrap_or_else(|_| panic!("promtool {args:?} did not finish"));
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

    /// Polls until `expr` returns a series.
    async fn wait_for_series(&self, expr: &str) {
        let started = Instant::now();
        while self.query(expr).await.is_empty() {
            self.assert_before_deadline(started, &format!("`{expr}` returned nothing"));
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
    if !tools_present(&[PROMTOOL]) {
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
    if !tools_present(&[PROMETHEUS, PROMTOOL]) {
        return;
    }
    let source = metrics_source().await;
    let dead_supervisor = free_port().await;
    let prometheus = Prometheus::start(
        &test_config(source.addr, dead_supervisor),
        &rules_firing_at_once(),
    )
    .await;

    // The whole fleet is scraped once before any fault, so every station has its series.
    eventually("every station up", || {
        source.sample("cp_station_up", &[]) == STATIONS as f64
    })
    .await;
    promtool_check_metrics(source.addr).await;
    // Prometheus holds the zero every counter starts at, so the faults show as increases.
    prometheus
        .wait_for_series(&format!(
            "cp_station_up == 1 and on (account) \
             cp_writes_total{{account=\"{WRITE_ACCOUNT}\",outcome=\"failed\"}}"
        ))
        .await;

    // Faults, each injected the way an operator would through the simulator's admin API.
    let baseline = FaultCounters::read(&source);
    let sim = source.supervised.sim.state();
    // Half the status calls answer 503: errors and retries move, the calls still succeed.
    sim.add_fault("getStationStatus=http503:p=0.5")
        .expect("valid fault");
    // Every alarm fetch fails: the stations' alarm points go stale, so they are down.
    sim.add_fault("getAlarms=malformed").expect("valid fault");
    // The same shed on a station of each account: account1's plan grants shedLoad, account2's
    // refuses it. The limit is kept as the port's intent; applying it sheds or fails.
    let (granted, refused) = tokio::join!(
        shed(&source.supervised.fleet, SHED_DEVICE),
        shed(&source.supervised.fleet, WRITE_DEVICE)
    );
    assert!(
        matches!(granted, Ok(WriteOutcome::Confirmed | WriteOutcome::Pending)),
        "a shed on the full plan: {granted:?}"
    );
    assert!(
        !matches!(refused, Ok(WriteOutcome::Confirmed)),
        "a shed refused by the plan was confirmed: {refused:?}"
    );
    eventually("the faults move the counters", || {
        let now = FaultCounters::read(&source);
        now.plan_rights > baseline.plan_rights
            && now.http_status_errors > baseline.http_status_errors
            && now.retries > baseline.retries
            && now.failed_writes > baseline.failed_writes
            && source.sample("cp_station_up", &[]) == 0.0
    })
    .await;
    promtool_check_metrics(source.addr).await;

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
        prometheus.assert_before_deadline(started, "Prometheus did not scrape the supervisor");
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
            let expected: BTreeSet<&str> = STATION_IDS.into_iter().collect();
            assert_eq!(values, expected, "{name}: label_values({metric}, {label})");
        }
    }

    // Every panel query returns at least one series with a number in it (the drill-down's for
    // one of DETAIL_STATIONS). Polled: a rate over the faulted stations' scrapes has a number
    // only once a scrape finished inside the window, and retries against the injected faults
    // make those scrapes slow.
    let started = Instant::now();
    let (empty, checked) = loop {
        let mut empty = Vec::new();
        let mut checked = 0;
        for name in DASHBOARDS {
            let dashboard = load_dashboard(name);
            let per_station: Vec<Vec<PanelQuery>> = DETAIL_STATIONS
                .iter()
                .map(|station| panel_queries(name, &dashboard, station))
                .collect();
            for (i, query) in per_station[0].iter().enumerate() {
                checked += 1;
                // A query that names no station is the same for each: asked once.
                let mut exprs: Vec<&str> = per_station.iter().map(|q| q[i].expr.as_str()).collect();
                exprs.dedup();
                let mut tried = Vec::new();
                let mut has_number = false;
                for expr in exprs {
                    let result = prometheus.query(expr).await;
                    has_number = result.iter().any(|series| {
                        series["value"][1]
                            .as_str()
                            .and_then(|v| v.parse::<f64>().ok())
                            .is_some_and(f64::is_finite)
                    });
                    if has_number {
                        break;
                    }
                    tried.push(format!("`{expr}` -> {result:?}"));
                }
                if !has_number {
                    empty.push(format!("{}: {}", query.origin, tried.join("; ")));
                }
            }
        }
        if empty.is_empty() || started.elapsed() > DEADLINE {
            break (empty, checked);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        empty.is_empty(),
        "panel queries without data:\n{}",
        empty.join("\n")
    );
    assert!(checked >= 40, "only {checked} panel queries found");

    // Every alert rule Prometheus loaded returns series.
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

    // Each injected fault fires its alert; nothing fires for what is healthy.
    let must_fire: BTreeSet<(String, String)> = [
        ("CpSupervisorDown", format!("instance={dead_supervisor}")),
        (
            "CpStationDown",
            format!("station={DETAIL_STATION} account=account1"),
        ),
        (
            "CpApiErrorRateHigh",
            "account=account1 method=getAlarms".to_string(),
        ),
        (
            "CpApiErrorRateHigh",
            "account=account1 method=getStationStatus".to_string(),
        ),
        (
            "CpPlanRightsErrors",
            "account=account2 method=getLoad".to_string(),
        ),
        (
            "CpPlanRightsErrors",
            "account=account2 method=shedLoad".to_string(),
        ),
        (
            "CpStationMethodRefused",
            format!("station={WRITE_STATION} method=getLoad"),
        ),
        (
            "CpStationMethodFailing",
            format!("station={DETAIL_STATION} method=getAlarms"),
        ),
        (
            "CpWriteFailures",
            format!("account={WRITE_ACCOUNT} attribute=shedState"),
        ),
    ]
    .into_iter()
    .map(|(name, labels)| (name.to_string(), labels))
    .collect();
    let started = Instant::now();
    loop {
        let firing = firing_alerts(&prometheus).await;
        let healthy_firing: Vec<&(String, String)> = firing
            .iter()
            .filter(|(name, labels)| match name.as_str() {
                "CpSupervisorDown" => labels.contains(&source.addr.to_string()),
                "CpPlanRightsErrors" => labels.contains("account=account1"),
                "CpStationMethodRefused" => !labels.contains("station=2:"),
                _ => false,
            })
            .collect();
        assert!(
            healthy_firing.is_empty(),
            "alerts fire for healthy things: {healthy_firing:#?}"
        );
        if firing.is_superset(&must_fire) {
            break;
        }
        if started.elapsed() > DEADLINE {
            panic!("firing alerts:\n{firing:#?}\nexpected at least:\n{must_fire:#?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(prometheus);
    source.shutdown().await;
}

/// The counters each injected fault must move, read from the supervisor's own recording.
struct FaultCounters {
    plan_rights: f64,
    http_status_errors: f64,
    retries: f64,
    failed_writes: f64,
}

impl FaultCounters {
    fn read(source: &MetricsSource) -> FaultCounters {
        FaultCounters {
            plan_rights: source.sample("cp_plan_rights_errors_total", &[]),
            http_status_errors: source.sample("cp_soap_errors_total", &["kind=\"http_status\""]),
            retries: source.sample("cp_soap_retries_total", &[]),
            failed_writes: source.sample("cp_writes_total", &["outcome=\"failed\""]),
        }
    }
}

/// `promtool check metrics` on what the supervisor's `/metrics` serves.
async fn promtool_check_metrics(addr: SocketAddr) {
    let body = reqwest::Client::builder()
        .no_proxy()
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("http client")
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .bytes()
        .await
        .expect("/metrics body");
    promtool_with_input(&["check", "metrics"], body.to_vec()).await;
}

/// Sets port 1's limit to 3.3 kW and sheds it; the shed's outcome.
async fn shed(fleet: &Fleet, device: &str) -> Result<WriteOutcome, DeviceError> {
    let writes = tokio::time::timeout(
        DEADLINE,
        fleet.set_multiple_points(
            device,
            vec![
                ("port1.allowedLoad".to_string(), serde_json::json!(3.3)),
                ("port1.shedState".to_string(), serde_json::json!(1)),
            ],
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("{device}: the writes are not answered"))
    .unwrap_or_else(|e| panic!("{device}: the device takes no writes: {e}"));
    writes
        .into_iter()
        .find(|(point, _)| point == "port1.shedState")
        .map(|(_, result)| result.map(|answer| answer.outcome))
        .unwrap_or_else(|| panic!("{device}: no answer for port1.shedState"))
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
