//! Fleet benchmark (issue 12, items 5 and 6): one simulator, and side by side on it this
//! supervisor and the per-station pattern VOLTTRON's driver follows.
//!
//! ```text
//! cargo bench --bench fleet                                   # 1,000 and 10,000 stations, 60 s
//! cargo bench --bench fleet -- --stations 50 --seconds 10     # smoke run, well under a minute
//! ```
//!
//! Every process measured is a child, so its RSS and CPU are its own (`/proc/<pid>/status`,
//! `/proc/<pid>/stat`):
//! - the simulator: `chargepoint-supervisor sim --accounts 4 ...`. First timed without added
//!   latency (a 500-station getStationStatus page, and the simulator's RSS), then
//!   `*=latency:100ms` is put in force through its admin endpoint for the two runs below;
//! - this supervisor: `chargepoint-supervisor run fleet.json` with the shipped registry
//!   (`registry/configs/chargepoint.csv`), every station of every account, 600 calls/min per
//!   account;
//! - the per-station pattern: this same binary re-run with `--per-station-child`: one loop per
//!   station asks every read method the registry needs, every 60 s scrape, through the same
//!   SOAP client (`src/soap`), each account paced to 600 calls/min, no gateway.
//!
//! Each run: start, time until every station has published (capped by `--publish-timeout`),
//! `--writes` writes (allowedLoad + shedState=1 on port 1) sent at once while the start-up
//! backlog is queued, then a `--seconds` window in which calls (the simulator's admin call
//! log) and CPU are counted and scaled to 60 s. Every request goes to 127.0.0.1 and every loop
//! ends by a deadline; children get SIGKILL when this process goes away (PR_SET_PDEATHSIG) or
//! when their guard drops.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chargepoint_supervisor::soap::{ClientConfig, SoapClient};
use clap::Parser;
use cp_actors::{
    AlarmQuery, ChargePointApi, LoadQuery, PortShed, RightsQuery, SessionQuery, ShedLimit,
    ShedRequest, ShedScope, SoapError, StationsQuery, StatusQuery,
};
use cp_registry::{ApiMethod, PortNumber, Registry, Secret, StationId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The supervisor's allocator and its options (src/main.rs), so that the children this binary
/// runs itself (the actor floor, the per-station pattern) pay for memory as the supervisor does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = chargepoint_supervisor::JEMALLOC_OPTIONS;

/// The VOLTTRON device interval of the shipped examples: one scrape of every point a minute.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(60);

/// How long a child may take to say it is ready (the simulator builds 24 h of history first).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Deadline of every HTTP request the benchmark itself makes (a write waits for confirmation,
/// which the supervisor bounds at 60 s).
const HTTP_TIMEOUT: Duration = Duration::from_secs(70);

/// getStationStatus pages timed against the bare simulator.
const SIM_PAGES: usize = 20;

/// Stations in one getStationStatus page (the service's maximum).
const PAGE_STATIONS: usize = 500;

#[derive(Debug, Parser)]
#[command(about = "Fleet benchmark: this supervisor vs the per-station pattern")]
struct Args {
    /// Fleet sizes to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    stations: Vec<usize>,
    /// Length of the measured window after start-up, in seconds (calls and CPU are scaled to 60 s).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Longest wait for every station to publish before the window starts anyway.
    #[arg(long, default_value_t = 90)]
    publish_timeout: u64,
    /// Simulated accounts (odd ones have the full plan, even ones a restricted plan).
    #[arg(long, default_value_t = 4)]
    accounts: usize,
    /// Ports per station.
    #[arg(long, default_value_t = 2)]
    ports: u16,
    /// Latency the simulator adds to every SOAP answer.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Calls per minute per account.
    #[arg(long, default_value_t = 600)]
    rate_per_minute: u32,
    /// Writes sent while the start-up backlog is queued.
    #[arg(long, default_value_t = 8)]
    writes: usize,
    /// The registry every station uses.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// The chargepoint-supervisor binary (default: the one cargo built with this bench).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Only time the bare simulator (item 5); no supervisor or per-station run.
    #[arg(long)]
    sim_only: bool,
    /// Passed by `cargo bench`: run the benchmark (without it, as under `cargo test`, nothing runs).
    #[arg(long)]
    bench: bool,
    /// Internal: run the per-station pattern against this SOAP endpoint and report.
    #[arg(long, hide = true, value_name = "ENDPOINT")]
    per_station_child: Option<String>,
    /// Internal: hold this many stations' empty actors to be measured.
    #[arg(long, hide = true, value_name = "STATIONS")]
    actor_floor_child: Option<usize>,
}

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("cannot start {what}")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} did not report {expected} within {after:?}")]
    NotReady {
        what: &'static str,
        expected: &'static str,
        after: Duration,
    },
    #[error("{what} ended before reporting {expected}")]
    Ended {
        what: &'static str,
        expected: &'static str,
    },
    #[error("reading {what}'s output")]
    Read {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{method} {url}")]
    Http {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url}: HTTP status {status}")]
    HttpStatus {
        method: &'static str,
        url: String,
        status: u16,
    },
    #[error("{what}: unexpected JSON")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {path}: {problems}")]
    Registry {
        path: PathBuf,
        problems: cp_registry::Problems,
    },
    #[error("SOAP client for {account}")]
    Client {
        account: String,
        #[source]
        source: chargepoint_supervisor::soap::ClientError,
    },
    #[error("timing a {PAGE_STATIONS}-station getStationStatus page")]
    Page(#[source] SoapError),
    #[error("/proc/{pid}/{file}: {detail}")]
    Proc {
        pid: u32,
        file: &'static str,
        detail: String,
    },
    #[error("the per-station run answered: {0}")]
    ChildResult(String),
    #[error("spawning an actor")]
    Actor(#[source] ractor::SpawnErr),
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // `cargo test --all-targets` runs bench targets too, without `--bench`: minutes of fleet
    // runs do not belong in the test suite, so only `cargo bench` (or an explicit `--bench`)
    // starts them.
    let child = args.per_station_child.is_some() || args.actor_floor_child.is_some();
    if !args.bench && !child {
        println!(
            "fleet benchmark: run it with `cargo bench --bench fleet` (see benches/README.md)"
        );
        return std::process::ExitCode::SUCCESS;
    }
    // One thread: the children's PR_SET_PDEATHSIG fires when the thread that spawned them
    // exits, so they must be spawned from a thread that lives as long as the benchmark.
    let runtime = if child {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the tokio runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match (&args.per_station_child, args.actor_floor_child) {
            (Some(endpoint), _) => per_station::child(&args, endpoint).await,
            (None, Some(stations)) => actor_floor::child(stations).await,
            (None, None) => bench(&args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", cp_actors::error_chain(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

fn registry_path(args: &Args) -> PathBuf {
    args.registry.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("registry/configs/chargepoint.csv")
    })
}

fn supervisor_bin(args: &Args) -> PathBuf {
    args.bin
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_chargepoint-supervisor")))
}

/// The parent: one simulator per fleet size, then both runs on it, then the table.
async fn bench(args: &Args) -> Result<(), BenchError> {
    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|source| BenchError::Http {
            method: "build",
            url: String::new(),
            source,
        })?;
    let mut report = String::new();
    let _ = writeln!(report, "{}", machine());
    for &stations in &args.stations {
        eprintln!("== {stations} stations: starting the simulator");
        let sim = Sim::start(args, stations).await?;
        let page = sim.time_page().await?;
        eprintln!(
            "   simulator: page p50 {:.1} ms, max {:.1} ms, CPU {:.1} ms/page, RSS {:.0} MiB",
            page.p50_ms, page.max_ms, page.cpu_ms_per_page, page.rss_mib
        );
        let _ = writeln!(
            report,
            "\nSimulator, {stations} stations on {} accounts: a {PAGE_STATIONS}-station \
             getStationStatus page (no added latency, {SIM_PAGES} sequential requests): \
             p50 {:.1} ms, max {:.1} ms wall; {:.1} ms CPU per page; simulator RSS {:.0} MiB \
             (peak {:.0} MiB) (targets <= 20 ms, <= 300 MiB).",
            args.accounts,
            page.p50_ms,
            page.max_ms,
            page.cpu_ms_per_page,
            page.rss_mib,
            page.hwm_mib
        );
        if args.sim_only {
            continue;
        }
        let floor = actor_floor::run(stations).await?;
        sim.add_fault(&http, &format!("*=latency:{}ms", args.latency_ms))
            .await?;
        eprintln!("== {stations} stations: supervisor");
        let ours = supervised::run(args, &http, &sim, stations).await?;
        eprintln!("== {stations} stations: per-station pattern");
        let theirs = per_station::run(args, &http, &sim, stations).await?;
        let _ = writeln!(
            report,
            "\n{}",
            table(args, stations, &ours, &theirs, &floor)
        );
    }
    println!("{report}");
    Ok(())
}

/// The machine line of the report: CPU model, cores, kernel, date.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    format!("Machine: {cpu}, {cores} cores, Linux {kernel}; {date}")
}

/// What one run measured; `None` where the row does not apply or nothing was seen.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct RunFigures {
    /// Calls in the window, scaled to 60 s, by WSDL method.
    calls_per_60s: BTreeMap<String, f64>,
    /// Seconds from process start until every station had published; `None` if not by the cap.
    published_s: Option<f64>,
    /// Stations that had published when the window started.
    published: usize,
    /// p99 data age per method at the end of the window, seconds.
    data_age_p99_s: BTreeMap<String, f64>,
    /// Write confirmation latencies (ms) of the writes that were confirmed.
    write_ms: Vec<f64>,
    writes_sent: usize,
    rss_mib: f64,
    hwm_mib: f64,
    cpu_ms_per_60s: f64,
    metrics_bytes: Option<usize>,
    metrics_series: Option<usize>,
    metrics_ms: Option<f64>,
}

fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values.get(rank.clamp(1, values.len()) - 1).copied()
}

fn table(
    args: &Args,
    stations: usize,
    ours: &RunFigures,
    theirs: &RunFigures,
    floor: &actor_floor::FloorFigures,
) -> String {
    let big = stations >= 10_000;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#### {stations} stations x {} ports, {} accounts, {} ms added latency, {}/min per account, \
         {} s window\n",
        args.ports, args.accounts, args.latency_ms, args.rate_per_minute, args.seconds
    );
    let _ = writeln!(
        out,
        "| row | this supervisor | per-station pattern | target |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let mut row = |name: &str, a: String, b: String, target: &str| {
        let _ = writeln!(out, "| {name} | {a} | {b} | {target} |");
    };
    // Folded from +0.0: an empty float `sum` is -0.0.
    let total = |f: &RunFigures| f.calls_per_60s.values().fold(0.0, |a, b| a + b);
    row(
        "SOAP calls per 60 s",
        format!("{:.0}", total(ours)),
        format!("{:.0}", total(theirs)),
        if big { "<= 100" } else { "<= 20" },
    );
    let methods: std::collections::BTreeSet<&String> = ours
        .calls_per_60s
        .keys()
        .chain(theirs.calls_per_60s.keys())
        .collect();
    for method in methods {
        let get = |f: &RunFigures| {
            f.calls_per_60s
                .get(method)
                .map_or("0".into(), |v| format!("{v:.0}"))
        };
        row(&format!("  {method}"), get(ours), get(theirs), "");
    }
    let published = |f: &RunFigures| match f.published_s {
        Some(s) => format!("{s:.1} s"),
        None => format!(
            "not within {} s ({}/{stations})",
            args.publish_timeout, f.published
        ),
    };
    row(
        "every station published",
        published(ours),
        published(theirs),
        if big { "<= 30 s" } else { "<= 10 s" },
    );
    let ages: std::collections::BTreeSet<&String> = ours
        .data_age_p99_s
        .keys()
        .chain(theirs.data_age_p99_s.keys())
        .collect();
    for method in ages {
        let get = |f: &RunFigures| {
            f.data_age_p99_s
                .get(method)
                .map_or("-".into(), |v| format!("{v:.1} s"))
        };
        row(
            &format!("data age p99, {method}"),
            get(ours),
            get(theirs),
            "<= currency + interval",
        );
    }
    let writes = |f: &RunFigures| {
        let mut ms = f.write_ms.clone();
        match (percentile(&mut ms, 50.0), percentile(&mut ms, 99.0)) {
            (Some(p50), Some(p99)) => format!(
                "{p50:.0} / {p99:.0} ms ({}/{} confirmed)",
                ms.len(),
                f.writes_sent
            ),
            _ => format!("none confirmed (0/{})", f.writes_sent),
        }
    };
    row(
        "write confirmed p50 / p99, start-up backlog queued",
        writes(ours),
        writes(theirs),
        &format!("p99 <= {} ms", 3 * args.latency_ms + 100),
    );
    row(
        "RSS at window end (peak)",
        format!("{:.0} MiB ({:.0})", ours.rss_mib, ours.hwm_mib),
        format!("{:.0} MiB ({:.0})", theirs.rss_mib, theirs.hwm_mib),
        if big { "<= 200 MiB" } else { "<= 48 MiB" },
    );
    row(
        "  of which the station actors alone",
        format!(
            "{:.0} MiB ({} empty actors, {:.0} B each)",
            floor.mib,
            floor.actors,
            floor.bytes_per_actor()
        ),
        "-".into(),
        "",
    );
    row(
        "CPU per 60 s",
        format!("{:.0} ms", ours.cpu_ms_per_60s),
        format!("{:.0} ms", theirs.cpu_ms_per_60s),
        if big { "<= 1 s" } else { "<= 100 ms" },
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    row(
        "/metrics bytes",
        opt(ours.metrics_bytes.map(|b| b.to_string())),
        "-".into(),
        "",
    );
    row(
        "/metrics series (per station)",
        opt(ours
            .metrics_series
            .map(|s| format!("{s} ({:.1})", s as f64 / stations as f64))),
        "-".into(),
        "<= 16 per 2-port station",
    );
    row(
        "time to render /metrics",
        opt(ours.metrics_ms.map(|ms| format!("{ms:.0} ms"))),
        "-".into(),
        "",
    );
    out
}

/// Sends a request and returns its body; any status but 2xx is an error.
async fn send(
    method: &'static str,
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<String, BenchError> {
    let http = |source| BenchError::Http {
        method,
        url: url.to_string(),
        source,
    };
    let response = request.send().await.map_err(http)?;
    let status = response.status();
    let text = response.text().await.map_err(http)?;
    if !status.is_success() {
        return Err(BenchError::HttpStatus {
            method,
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    Ok(text)
}

/// This bench binary, to run as the child `what` (given its `--...-child` flag by the caller).
fn this_binary(what: &'static str) -> Result<Command, BenchError> {
    let exe = std::env::current_exe().map_err(|source| BenchError::Spawn { what, source })?;
    Ok(Command::new(exe))
}

/// Station `n` (from 1) of account `k`, as the simulator names it.
fn station_id(k: usize, n: usize) -> StationId {
    StationId::new(format!("{k}:{}", k * 10_000 + n))
}

/// A SOAP client for simulated account `k` (its public test credentials).
fn client(endpoint: &str, k: usize) -> Result<SoapClient, BenchError> {
    let username = format!("account{k}");
    SoapClient::new(ClientConfig::new(
        endpoint,
        username.clone(),
        Secret::new(format!("sim-password-{k}")),
    ))
    .map_err(|source| BenchError::Client {
        account: username,
        source,
    })
}

/// The stations written to: spread over account 1 (full plan), so each waits behind a
/// different part of the start-up backlog.
fn write_targets(args: &Args, stations: usize) -> Vec<usize> {
    let per_account = (stations / args.accounts.max(1)).max(1);
    let count = args.writes.min(per_account);
    (0..count)
        .map(|i| 1 + i * per_account / count.max(1))
        .collect()
}

/// The station actors' own memory.
mod actor_floor;
/// The child processes: the kill guard, /proc readings, the simulator.
mod children;
/// The per-station pattern run.
mod per_station;
/// The supervisor run.
mod supervised;

use children::{Guarded, Sim};
