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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chargepoint_supervisor::soap::{ClientConfig, SoapClient};
use clap::Parser;
use cp_actors::{
    AlarmQuery, ChargePointApi, LoadQuery, PortShed, RightsQuery, SessionQuery, ShedLimit,
    ShedRequest, ShedScope, SoapError, StationsQuery, StatusQuery,
};
use cp_registry::{ApiMethod, PortNumber, Registry, Secret, StationId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

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
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // `cargo test --all-targets` runs bench targets too, without `--bench`: minutes of fleet
    // runs do not belong in the test suite, so only `cargo bench` (or an explicit `--bench`)
    // starts them.
    if !args.bench && args.per_station_child.is_none() {
        println!(
            "fleet benchmark: run it with `cargo bench --bench fleet` (see benches/README.md)"
        );
        return std::process::ExitCode::SUCCESS;
    }
    // One thread: the children's PR_SET_PDEATHSIG fires when the thread that spawned them
    // exits, so they must be spawned from a thread that lives as long as the benchmark.
    let runtime = if args.per_station_child.is_some() {
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
        match args.per_station_child.clone() {
            Some(endpoint) => per_station::child(&args, &endpoint).await,
            None => bench(&args).await,
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
        sim.add_fault(&http, &format!("*=latency:{}ms", args.latency_ms))
            .await?;
        eprintln!("== {stations} stations: supervisor");
        let ours = supervised::run(args, &http, &sim, stations).await?;
        eprintln!("== {stations} stations: per-station pattern");
        let theirs = per_station::run(args, &http, &sim, stations).await?;
        let _ = writeln!(report, "\n{}", table(args, stations, &ours, &theirs));
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

fn table(args: &Args, stations: usize, ours: &RunFigures, theirs: &RunFigures) -> String {
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

/// A child process that is killed when the guard drops (and, through PR_SET_PDEATHSIG, when
/// the benchmark's thread goes away).
struct Guarded {
    what: &'static str,
    child: Child,
    pid: u32,
    lines: Lines<BufReader<ChildStdout>>,
    /// The child's standard input: a line on it tells a per-station child that its figures
    /// have been read and it may finish (exiting earlier would leave nothing in /proc).
    stdin: Option<ChildStdin>,
}

impl Guarded {
    fn spawn(what: &'static str, mut command: Command) -> Result<Guarded, BenchError> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|source| BenchError::Spawn { what, source })?;
        let pid = child.id().ok_or(BenchError::Ended {
            what,
            expected: "its process id",
        })?;
        let stdout = child.stdout.take().ok_or(BenchError::Ended {
            what,
            expected: "its standard output",
        })?;
        let stdin = child.stdin.take();
        Ok(Guarded {
            what,
            child,
            pid,
            lines: BufReader::new(stdout).lines(),
            stdin,
        })
    }

    /// The next line of output for which `pick` returns something, within `within`.
    async fn wait_for<T>(
        &mut self,
        expected: &'static str,
        within: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, BenchError> {
        let what = self.what;
        let search = async {
            loop {
                match self.lines.next_line().await {
                    Ok(Some(line)) => {
                        if let Some(found) = pick(&line) {
                            return Ok(found);
                        }
                    }
                    Ok(None) => return Err(BenchError::Ended { what, expected }),
                    Err(source) => return Err(BenchError::Read { what, source }),
                }
            }
        };
        tokio::time::timeout(within, search)
            .await
            .map_err(|_| BenchError::NotReady {
                what,
                expected,
                after: within,
            })?
    }

    /// Resident set now and at its peak, MiB.
    fn rss_mib(&self) -> Result<(f64, f64), BenchError> {
        let status = read_proc(self.pid, "status")?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
                .ok_or_else(|| BenchError::Proc {
                    pid: self.pid,
                    file: "status",
                    detail: format!("no {name} line"),
                })
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// User + system CPU time so far, ms (clock-tick resolution, usually 10 ms).
    fn cpu_ms(&self) -> Result<f64, BenchError> {
        let stat = read_proc(self.pid, "stat")?;
        let bad = |detail: &str| BenchError::Proc {
            pid: self.pid,
            file: "stat",
            detail: detail.into(),
        };
        // Fields after the command name, which may itself contain spaces: ") state ppid ...",
        // utime and stime are fields 14 and 15 of the line, 12th and 13th after the ')'.
        let rest = stat.rsplit_once(')').ok_or_else(|| bad("no ')'"))?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| bad("short line"))
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Ok((ticks(11)? + ticks(12)?) * 1000.0 / hz)
    }

    /// Sends `line` to the child's standard input.
    async fn tell(&mut self, line: &str) -> Result<(), BenchError> {
        let what = self.what;
        let stdin = self.stdin.as_mut().ok_or(BenchError::Ended {
            what,
            expected: "its standard input",
        })?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|source| BenchError::Read { what, source })
    }

    async fn stop(mut self) {
        // Already gone is fine: the guard's job is only that it does not outlive us.
        let _ = self.child.kill().await;
    }
}

fn read_proc(pid: u32, file: &'static str) -> Result<String, BenchError> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|e| BenchError::Proc {
        pid,
        file,
        detail: e.to_string(),
    })
}

/// The simulator child and where it listens.
struct Sim {
    child: Guarded,
    endpoint: String,
    admin: String,
    stations: usize,
    accounts: usize,
}

/// The bare simulator's answer to one 500-station page.
struct PageFigures {
    p50_ms: f64,
    max_ms: f64,
    cpu_ms_per_page: f64,
    rss_mib: f64,
    hwm_mib: f64,
}

impl Sim {
    async fn start(args: &Args, stations: usize) -> Result<Sim, BenchError> {
        let mut command = Command::new(supervisor_bin(args));
        command
            .arg("sim")
            .args(["--stations", &stations.to_string()])
            .args(["--accounts", &args.accounts.to_string()])
            .args(["--ports", &args.ports.to_string()])
            .stderr(Stdio::null());
        let mut child = Guarded::spawn("the simulator", command)?;
        let value = |line: &str, key: &str| {
            line.trim()
                .strip_prefix(key)
                .map(|rest| rest.trim().to_string())
        };
        let endpoint = child
            .wait_for("its endpoint", READY_TIMEOUT, |l| value(l, "endpoint:"))
            .await?;
        let admin = child
            .wait_for("its admin URL", READY_TIMEOUT, |l| value(l, "admin:"))
            .await?;
        Ok(Sim {
            child,
            endpoint,
            admin,
            stations,
            accounts: args.accounts,
        })
    }

    /// Times `SIM_PAGES` getStationStatus requests naming 500 stations of account 1.
    async fn time_page(&self) -> Result<PageFigures, BenchError> {
        let client = client(&self.endpoint, 1)?;
        let per_account = self.stations / self.accounts.max(1);
        let ids: Vec<StationId> = (1..=per_account.min(PAGE_STATIONS))
            .map(|n| station_id(1, n))
            .collect();
        let query = StatusQuery { station_ids: ids };
        // One unmeasured request: connection set-up and first-touch allocations.
        client
            .get_station_status(&query)
            .await
            .map_err(BenchError::Page)?;
        let cpu0 = self.child.cpu_ms()?;
        let mut ms = Vec::with_capacity(SIM_PAGES);
        for _ in 0..SIM_PAGES {
            let t = Instant::now();
            client
                .get_station_status(&query)
                .await
                .map_err(BenchError::Page)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let cpu = self.child.cpu_ms()? - cpu0;
        let (rss_mib, hwm_mib) = self.child.rss_mib()?;
        Ok(PageFigures {
            p50_ms: percentile(&mut ms, 50.0).unwrap_or(f64::NAN),
            max_ms: percentile(&mut ms, 100.0).unwrap_or(f64::NAN),
            cpu_ms_per_page: cpu / SIM_PAGES as f64,
            rss_mib,
            hwm_mib,
        })
    }

    async fn add_fault(&self, http: &reqwest::Client, spec: &str) -> Result<(), BenchError> {
        let url = format!("{}/faults", self.admin);
        let body = serde_json::json!({ "spec": spec }).to_string();
        send(
            "POST",
            &url,
            http.post(&url)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
        .map(drop)
    }

    async fn reset_calls(&self, http: &reqwest::Client) -> Result<(), BenchError> {
        let url = format!("{}/calls", self.admin);
        send("DELETE", &url, http.delete(&url)).await.map(drop)
    }

    /// Calls per method since the last reset.
    async fn calls(&self, http: &reqwest::Client) -> Result<BTreeMap<String, f64>, BenchError> {
        #[derive(serde::Deserialize)]
        struct Calls {
            by_method: BTreeMap<String, f64>,
        }
        let url = format!("{}/calls", self.admin);
        let text = send("GET", &url, http.get(&url)).await?;
        let calls: Calls =
            serde_json::from_str(&text).map_err(|source| BenchError::Json { what: url, source })?;
        Ok(calls.by_method)
    }
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

/// This supervisor as a child process.
mod supervised {
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
        let writes =
            futures::future::join_all(targets.iter().map(|&n| write(http, &api, n, known_by)));
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
            Ok(text) if text.matches("\"confirmed\"").count() >= 2 => {
                Some(t.elapsed().as_secs_f64() * 1000.0)
            }
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

    /// p99 per method of each station's data age now: the age its last scrape reported
    /// (`cp_station_data_age_seconds`) plus the time since that scrape.
    fn data_ages(text: &str) -> BTreeMap<String, f64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut last_scrape = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with("cp_station_last_scrape_timestamp_seconds{") {
                if let (Some(station), Some(v)) = (label(line, "station"), sample_value(line)) {
                    last_scrape.insert(station.to_string(), v);
                }
            }
        }
        let mut by_method: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for line in text.lines() {
            if !line.starts_with("cp_station_data_age_seconds{") {
                continue;
            }
            let (Some(station), Some(method), Some(age)) = (
                label(line, "station"),
                label(line, "method"),
                sample_value(line),
            ) else {
                continue;
            };
            let since = last_scrape.get(station).map_or(0.0, |t| (now - t).max(0.0));
            by_method
                .entry(method.to_string())
                .or_default()
                .push(age + since);
        }
        by_method
            .into_iter()
            .filter_map(|(m, mut ages)| percentile(&mut ages, 99.0).map(|p| (m, p)))
            .collect()
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
}

/// The per-station pattern, VOLTTRON's driver as it is: each station asks each method its
/// registry needs, every scrape, on its own.
mod per_station {
    use super::*;

    /// Parent side: runs this binary with `--per-station-child` and measures it.
    pub(super) async fn run(
        args: &Args,
        http: &reqwest::Client,
        sim: &Sim,
        stations: usize,
    ) -> Result<RunFigures, BenchError> {
        sim.reset_calls(http).await?;
        let exe = std::env::current_exe().map_err(|source| BenchError::Spawn {
            what: "the per-station run",
            source,
        })?;
        let mut command = Command::new(exe);
        command
            .args(["--per-station-child", &sim.endpoint])
            .args(["--stations", &stations.to_string()])
            .args(["--seconds", &args.seconds.to_string()])
            .args(["--publish-timeout", &args.publish_timeout.to_string()])
            .args(["--accounts", &args.accounts.to_string()])
            .args(["--rate-per-minute", &args.rate_per_minute.to_string()])
            .args(["--writes", &args.writes.to_string()])
            .arg("--registry")
            .arg(registry_path(args))
            .stderr(Stdio::inherit());
        let mut child = Guarded::spawn("the per-station run", command)?;
        let until_window = Duration::from_secs(args.publish_timeout) + READY_TIMEOUT;
        child
            .wait_for("window-start", until_window, |l| {
                (l == "window-start").then_some(())
            })
            .await?;
        sim.reset_calls(http).await?;
        let cpu0 = child.cpu_ms()?;
        let window = Instant::now();
        let window_len = Duration::from_secs(args.seconds) + READY_TIMEOUT;
        child
            .wait_for("window-end", window_len, |l| {
                (l == "window-end").then_some(())
            })
            .await?;
        let cpu = child.cpu_ms()? - cpu0;
        let scale = 60.0 / window.elapsed().as_secs_f64();
        let calls = sim.calls(http).await?;
        let (rss_mib, hwm_mib) = child.rss_mib()?;
        child.tell("measured").await?;
        let result = child
            .wait_for("its result", READY_TIMEOUT, |l| {
                l.strip_prefix("result ").map(str::to_string)
            })
            .await?;
        child.stop().await;
        let mut figures: RunFigures =
            serde_json::from_str(&result).map_err(|source| BenchError::Json {
                what: "the per-station result".into(),
                source,
            })?;
        figures.calls_per_60s = calls.into_iter().map(|(m, c)| (m, c * scale)).collect();
        figures.rss_mib = rss_mib;
        figures.hwm_mib = hwm_mib;
        figures.cpu_ms_per_60s = cpu * scale;
        Ok(figures)
    }

    /// One account's pace: calls leave at most every `period`, first come first served (the
    /// tokio mutex is fair), as one VOLTTRON platform sharing an account's quota would.
    struct Pace {
        next: tokio::sync::Mutex<Instant>,
        period: Duration,
    }

    impl Pace {
        /// Waits for this caller's slot; `false` when the slot is past `deadline`.
        async fn wait(&self, deadline: Instant) -> bool {
            let slot = {
                let mut next = self.next.lock().await;
                let slot = (*next).max(Instant::now());
                *next = slot + self.period;
                slot
            };
            if slot > deadline {
                return false;
            }
            tokio::time::sleep_until(slot.into()).await;
            true
        }
    }

    /// When each method last answered a station, and whether it refuses the station's plan.
    #[derive(Default)]
    struct Track {
        last_ok: BTreeMap<ApiMethod, Instant>,
        refused: std::collections::BTreeSet<ApiMethod>,
    }

    /// Child side: the loops, then one `result {json}` line.
    pub(super) async fn child(args: &Args, endpoint: &str) -> Result<(), BenchError> {
        let path = registry_path(args);
        let registry =
            Registry::parse(&path).map_err(|problems| BenchError::Registry { path, problems })?;
        let methods: Vec<ApiMethod> = registry.read_methods().into_iter().collect();
        let stations = args.stations.first().copied().unwrap_or(0);
        let per_account = stations / args.accounts.max(1);
        let period = Duration::from_secs(60) / args.rate_per_minute.max(1);
        let started = Instant::now();
        let hard_deadline =
            started + Duration::from_secs(args.publish_timeout) + Duration::from_secs(args.seconds);
        let published = Arc::new(AtomicUsize::new(0));
        let mut tracks = Vec::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut paces = Vec::new();
        let mut clients = Vec::new();
        for k in 1..=args.accounts {
            clients.push(Arc::new(client(endpoint, k)?));
            paces.push(Arc::new(Pace {
                next: tokio::sync::Mutex::new(Instant::now()),
                period,
            }));
        }
        for k in 1..=args.accounts {
            for n in 1..=per_account {
                let track = Arc::new(Mutex::new(Track::default()));
                tracks.push(Arc::clone(&track));
                tasks.spawn(station_loop(
                    station_id(k, n),
                    Arc::clone(&clients[k - 1]),
                    Arc::clone(&paces[k - 1]),
                    methods.clone(),
                    track,
                    Arc::clone(&published),
                    hard_deadline,
                ));
            }
        }
        // The writes go in a second later, behind the calls every station has queued by then.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut writes = tokio::task::JoinSet::new();
        let targets = write_targets(args, stations);
        for &n in &targets {
            writes.spawn(write(
                station_id(1, n),
                Arc::clone(&clients[0]),
                Arc::clone(&paces[0]),
                hard_deadline,
            ));
        }

        let cap = started + Duration::from_secs(args.publish_timeout);
        let mut published_s = None;
        while Instant::now() < cap {
            if published.load(Ordering::Relaxed) >= tracks.len() {
                published_s = Some(started.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let published_at_window = published.load(Ordering::Relaxed);
        println!("window-start");
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        println!("window-end");
        // Wait (bounded) for the parent to read this process's RSS and CPU before finishing.
        let mut stdin = BufReader::new(tokio::io::stdin()).lines();
        let _ = tokio::time::timeout(READY_TIMEOUT, stdin.next_line()).await;

        let now = Instant::now();
        let mut ages: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for track in &tracks {
            let track = track.lock().unwrap_or_else(|p| p.into_inner());
            for method in &methods {
                if track.refused.contains(method) {
                    continue;
                }
                let since = track.last_ok.get(method).copied().unwrap_or(started);
                ages.entry(method.name().to_string())
                    .or_default()
                    .push(now.duration_since(since).as_secs_f64());
            }
        }
        tasks.abort_all();
        let mut write_ms = Vec::new();
        while let Some(done) = writes.join_next().await {
            if let Ok(Some(ms)) = done {
                write_ms.push(ms);
            }
        }
        let figures = RunFigures {
            published_s,
            published: published_at_window,
            data_age_p99_s: ages
                .into_iter()
                .filter_map(|(m, mut a)| percentile(&mut a, 99.0).map(|p| (m, p)))
                .collect(),
            writes_sent: targets.len(),
            write_ms,
            ..RunFigures::default()
        };
        let json =
            serde_json::to_string(&figures).map_err(|e| BenchError::ChildResult(e.to_string()))?;
        println!("result {json}");
        Ok(())
    }

    async fn station_loop(
        station: StationId,
        client: Arc<SoapClient>,
        pace: Arc<Pace>,
        methods: Vec<ApiMethod>,
        track: Arc<Mutex<Track>>,
        published: Arc<AtomicUsize>,
        deadline: Instant,
    ) {
        let mut first = true;
        loop {
            let scrape = Instant::now();
            for &method in &methods {
                if !pace.wait(deadline).await {
                    return;
                }
                let outcome = call(&client, method, &station).await;
                let mut track = track.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ok(()) => {
                        track.last_ok.insert(method, Instant::now());
                    }
                    Err(SoapError::PlanRights { .. }) => {
                        track.refused.insert(method);
                    }
                    Err(_) => {}
                }
            }
            if first {
                published.fetch_add(1, Ordering::Relaxed);
                first = false;
            }
            let next = scrape + SCRAPE_INTERVAL;
            if next > deadline {
                return;
            }
            tokio::time::sleep_until(next.into()).await;
        }
    }

    /// One read of `method` for one station, as the per-station driver asks it.
    async fn call(
        client: &SoapClient,
        method: ApiMethod,
        station: &StationId,
    ) -> Result<(), SoapError> {
        let id = Some(station.clone());
        match method {
            ApiMethod::GetStationStatus => client
                .get_station_status(&StatusQuery {
                    station_ids: vec![station.clone()],
                })
                .await
                .map(drop),
            ApiMethod::GetLoad => client
                .get_load(&LoadQuery::Station(station.clone()))
                .await
                .map(drop),
            ApiMethod::GetAlarms => client
                .get_alarms(&AlarmQuery {
                    station_id: id,
                    ..AlarmQuery::default()
                })
                .await
                .map(drop),
            ApiMethod::GetStationRights => client
                .get_station_rights(&RightsQuery {
                    station_id: id,
                    ..RightsQuery::default()
                })
                .await
                .map(drop),
            ApiMethod::GetChargingSessionData => client
                .get_charging_sessions(&SessionQuery {
                    station_id: id,
                    ..SessionQuery::default()
                })
                .await
                .map(drop),
            ApiMethod::GetStations => client
                .get_stations(&StationsQuery {
                    station_id: id,
                    ..StationsQuery::default()
                })
                .await
                .map(drop),
            // Writes are not scraped.
            ApiMethod::ClearAlarms | ApiMethod::ShedLoad | ApiMethod::ClearShedState => Ok(()),
        }
    }

    /// shedLoad 3 kW on port 1, then getLoad until it reads back; ms until confirmed.
    async fn write(
        station: StationId,
        client: Arc<SoapClient>,
        pace: Arc<Pace>,
        deadline: Instant,
    ) -> Option<f64> {
        let t = Instant::now();
        let request = ShedRequest {
            scope: ShedScope::Station(station.clone()),
            station_limit: None,
            ports: vec![PortShed {
                port: PortNumber(1),
                limit: ShedLimit::AllowedLoad(3.0),
            }],
            time_interval_minutes: 0,
        };
        if !pace.wait(deadline).await {
            return None;
        }
        client.shed_load(&request).await.ok()?;
        // Bounded: each read takes a slot, and slots stop at the deadline.
        while pace.wait(deadline).await {
            let report = client
                .get_load(&LoadQuery::Station(station.clone()))
                .await
                .ok()?;
            let shed = report
                .stations
                .iter()
                .flat_map(|s| &s.ports)
                .any(|p| p.port == PortNumber(1) && p.shed_state && p.allowed_load == 3.0);
            if shed {
                return Some(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        None
    }
}
