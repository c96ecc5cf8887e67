//! This supervisor as a child process.

use super::*;

pub(super) async fn run(
    args: &Args,
    http: &reqwest::Client,
    sim: &Sim,
    stations: usize,
) -> Result<RunFigures, BenchError> {
    let dir = tempfile::tempdir().map_err(|source| BenchError::File {
        path: std::env::temp_dir(),
        source,
    })?;
    let fleet = dir.path().join("fleet.json");
    write_file(&fleet, &fleet_file(args, &registry_path(args)))?;
    let log = dir.path().join("supervisor.log");
    let log_file = std::fs::File::create(&log).map_err(|source| BenchError::File {
        path: log.clone(),
        source,
    })?;
    sim.reset_calls(http).await?;
    let mut command = Command::new(supervisor_bin(args));
    command
        .arg("run")
        .arg(&fleet)
        .args(["--endpoint", &sim.endpoint])
        .args(["--api-listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .args(["--no-summary", "--log-format", "json"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::from(log_file));
    let started = Instant::now();
    let mut child = Guarded::spawn("the supervisor", command)?;
    let (api, metrics) = child
        .wait_for("its listening line", READY_TIMEOUT, |line| {
            let rest = line.strip_prefix("listening api=")?;
            let (api, rest) = rest.split_once(" metrics=")?;
            let metrics = rest.split_whitespace().next()?;
            Some((api.to_string(), metrics.to_string()))
        })
        .await?;

    let targets = write_targets(args, stations);
    let known_by = started + Duration::from_secs(args.publish_timeout);
    let writes = futures::future::join_all(targets.iter().map(|&n| write(http, &api, n, known_by)));
    let publishing = wait_published(http, &metrics, stations, started, args);
    let (write_ms, (published_s, published)) = tokio::join!(writes, publishing);
    let write_ms: Vec<f64> = write_ms.into_iter().flatten().collect();

    sim.reset_calls(http).await?;
    let cpu0 = child.cpu_ms()?;
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let cpu = child.cpu_ms()? - cpu0;
    let scale = 60.0 / window.elapsed().as_secs_f64();
    let calls = sim.calls(http).await?;
    let (rss_mib, hwm_mib) = child.rss_mib()?;

    let mut render = Vec::new();
    let mut text = String::new();
    for _ in 0..3 {
        let t = Instant::now();
        text = send("GET", &metrics, http.get(&metrics)).await?;
        render.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let series = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    let figures = RunFigures {
        calls_per_60s: calls.into_iter().map(|(m, c)| (m, c * scale)).collect(),
        published_s,
        published,
        data_age_p99_s: data_ages(&text),
        writes_sent: targets.len(),
        write_ms,
        rss_mib,
        hwm_mib,
        cpu_ms_per_60s: cpu * scale,
        metrics_bytes: Some(text.len()),
        metrics_series: Some(series),
        metrics_ms: percentile(&mut render, 50.0),
    };
    child.stop().await;
    Ok(figures)
}

fn write_file(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|source| BenchError::File {
        path: path.to_path_buf(),
        source,
    })
}

/// Every station of every simulated account, the shipped registry, 60 s interval.
fn fleet_file(args: &Args, registry: &Path) -> String {
    let accounts: Vec<serde_json::Value> = (1..=args.accounts)
        .map(|k| {
            serde_json::json!({
                "name": format!("account{k}"),
                "username": format!("account{k}"),
                "password": format!("sim-password-{k}"),
                "rate_limit_per_minute": args.rate_per_minute,
            })
        })
        .collect();
    let sets: Vec<serde_json::Value> = (1..=args.accounts)
        .map(|k| {
            serde_json::json!({
                "account": format!("account{k}"),
                "registry_config": registry,
                "device_path": format!("bench/account{k}/{{station_number}}"),
                "interval": SCRAPE_INTERVAL.as_secs(),
                "timezone": "UTC",
                "stations": "all",
            })
        })
        .collect();
    serde_json::json!({ "accounts": accounts, "station_sets": sets }).to_string()
}

/// allowedLoad 3 kW and shedState 1 on port 1 of station `n` of account 1, in one
/// request; its latency in ms when the supervisor says both are confirmed.
async fn write(http: &reqwest::Client, api: &str, n: usize, known_by: Instant) -> Option<f64> {
    let id = 10_000 + n;
    // `"stations": "all"` is discovered after the API listens: until then the device is
    // unknown (404). The write goes as soon as the device is listed.
    let device = format!("\"bench/account1/{id}\"");
    let devices = format!("{api}/api/devices");
    loop {
        if Instant::now() > known_by {
            eprintln!("   device of {id} not listed by the publish timeout");
            return None;
        }
        match send("GET", &devices, http.get(&devices)).await {
            Ok(text) if text.contains(&device) => break,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let url = format!("{api}/api/devices/bench/account1/{id}/points");
    let body = serde_json::json!({
        "points": { "port1.allowedLoad": 3.0, "port1.shedState": 1 }
    })
    .to_string();
    let t = Instant::now();
    let request = http
        .put(&url)
        .header("content-type", "application/json")
        .body(body);
    match send("PUT", &url, request).await {
        // The limit alone is stored; the shed that applies it is what ChargePoint confirms.
        Ok(text) if shed_confirmed(&text) => Some(t.elapsed().as_secs_f64() * 1000.0),
        Ok(text) => {
            eprintln!("   write to {id} not confirmed: {text}");
            None
        }
        Err(error) => {
            eprintln!(
                "   write to {id} failed: {}",
                cp_actors::error_chain(&error)
            );
            None
        }
    }
}

/// Polls /metrics every second until every station has a last-scrape time, or the cap.
async fn wait_published(
    http: &reqwest::Client,
    metrics: &str,
    stations: usize,
    started: Instant,
    args: &Args,
) -> (Option<f64>, usize) {
    let cap = Duration::from_secs(args.publish_timeout);
    let mut published = 0;
    while started.elapsed() < cap {
        if let Ok(text) = send("GET", metrics, http.get(metrics)).await {
            published = text
                .lines()
                .filter(|l| l.starts_with("cp_station_last_scrape_timestamp_seconds{"))
                .filter(|l| sample_value(l).is_some_and(|v| v > 0.0))
                .count();
            if published >= stations {
                return (Some(started.elapsed().as_secs_f64()), published);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (None, published)
}

/// p99 per method of the data ages the stations published with since start:
/// `cp_data_age_seconds`, the fleet-wide histogram (the supervisor keeps no age per station and
/// method), read as Prometheus' `histogram_quantile` reads it.
fn data_ages(text: &str) -> BTreeMap<String, f64> {
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for line in text.lines() {
        if !line.starts_with("cp_data_age_seconds_bucket{") {
            continue;
        }
        let (Some(method), Some(le), Some(count)) =
            (label(line, "method"), label(line, "le"), sample_value(line))
        else {
            continue;
        };
        let Ok(bound) = le.parse::<f64>() else {
            continue;
        };
        buckets
            .entry(method.to_string())
            .or_default()
            .push((bound, count));
    }
    buckets
        .into_iter()
        .filter_map(|(method, mut cumulative)| {
            cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
            histogram_quantile(0.99, &cumulative).map(|q| (method, q))
        })
        .collect()
}

/// The `q` quantile of cumulative `(upper bound, count)` buckets sorted by bound: linear within
/// the bucket it falls in (the first from 0), and the highest finite bound if it falls in +Inf.
fn histogram_quantile(q: f64, cumulative: &[(f64, f64)]) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower_bound, mut lower_count) = (0.0, 0.0);
    for &(bound, count) in cumulative {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower_bound);
            }
            let width = count - lower_count;
            let fraction = if width > 0.0 {
                (rank - lower_count) / width
            } else {
                1.0
            };
            return Some(lower_bound + (bound - lower_bound) * fraction);
        }
        (lower_bound, lower_count) = (bound, count);
    }
    None
}

fn label<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = line.find(&key)? + key.len();
    let end = line[start..].find('"')?;
    Some(&line[start..start + end])
}

fn sample_value(line: &str) -> Option<f64> {
    line.rsplit(' ').next()?.parse().ok()
}

/// Whether a write answer says the shed (`port1.shedState`) was confirmed.
fn shed_confirmed(answer: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(answer)
        .is_ok_and(|v| v["points"]["port1.shedState"]["outcome"] == "confirmed")
}
