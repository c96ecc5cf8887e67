//! The simulator's page time in-process (issue 12, item 5): what one 500-station page costs the
//! simulator itself, without HTTP, sockets or the client.
//!
//! ```text
//! cargo bench --bench sim_page                          # 10,000 stations, 4 accounts
//! cargo bench --bench sim_page -- --stations 1000 --pages 50
//! ```
//!
//! The fleet is built as `chargepoint-supervisor sim --stations N --accounts 4 --ports 2`
//! builds it (24 h of history). Each page moves simulated time on by `--step-seconds` (60: every
//! station is read once a simulated minute, as a 60 s scrape reads it) and is then answered
//! (`SimFleet::answer`) and written (`write_response`) as the server does. Three pages, all of
//! account 1: getStationStatus naming 500 stations, getStations with numStations 500, getLoad
//! of the organisation-wide group (2,500 stations at 10,000). Printed per page: wall time and
//! this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), p50 and max, and the answer's size.
//!
//! Under `cargo test --all-targets` (no `--bench`) it answers each page twice on a 40-station
//! fleet and checks the answers succeed: a smoke test, not a measurement.

use std::time::{Duration, Instant};

use chargepoint_supervisor::sim::{SimFleet, SimFleetConfig};
use chargepoint_supervisor::soap::{codes, write_response, Request};
use clap::Parser;
use cp_actors::{LoadQuery, StationsQuery, StatusQuery};
use cp_registry::{GroupId, StationId};

/// Stations in one page (the service's getStations maximum).
const PAGE_STATIONS: usize = 500;

#[derive(Debug, Parser)]
#[command(about = "The simulator's page time, in-process")]
struct Args {
    /// Passed by `cargo bench`: measure (without it, as under `cargo test`, only the smoke test runs).
    #[arg(long)]
    bench: bool,
    /// Stations in the fleet, split across the accounts.
    #[arg(long, default_value_t = 10_000)]
    stations: usize,
    /// Simulated accounts (pages are account 1's).
    #[arg(long, default_value_t = 4)]
    accounts: usize,
    /// Pages timed per request kind.
    #[arg(long, default_value_t = 40)]
    pages: usize,
    /// Simulated seconds between two pages.
    #[arg(long, default_value_t = 60)]
    step_seconds: i64,
}

fn main() -> std::process::ExitCode {
    let mut args = Args::parse();
    if !args.bench {
        args.stations = 40;
        args.accounts = 4;
        args.pages = 2;
    }
    let started = Instant::now();
    let config = SimFleetConfig::generate(args.stations, 2, args.accounts);
    let mut fleet = SimFleet::new(&config);
    let Some(account) = fleet.authenticate("account1", "sim-password-1") else {
        eprintln!("error: account1 does not log in");
        return std::process::ExitCode::FAILURE;
    };
    let per_account = args.stations / args.accounts.max(1);
    let page = per_account.min(PAGE_STATIONS);
    if args.bench {
        println!(
            "simulator page time: {} stations x 2 ports, {} accounts (built in {:.1} s); \
             {} pages each, {} simulated s apart",
            args.stations,
            args.accounts,
            started.elapsed().as_secs_f64(),
            args.pages,
            args.step_seconds
        );
    }
    let requests = [
        (
            format!("getStationStatus, {page} stationIDs"),
            Request::GetStationStatus {
                query: StatusQuery {
                    station_ids: (1..=page)
                        .map(|n| StationId::new(format!("1:{}", 10_000 + n)))
                        .collect(),
                },
                start_record: None,
                num_stations: None,
            },
        ),
        (
            format!("getStations, numStations {PAGE_STATIONS}"),
            Request::GetStations {
                query: StationsQuery::default(),
                start_record: None,
                num_stations: i32::try_from(PAGE_STATIONS).ok(),
            },
        ),
        (
            format!("getLoad, sgID 1000 ({per_account} stations)"),
            Request::GetLoad(LoadQuery::Group(GroupId(1000))),
        ),
    ];
    let mut now = fleet.now();
    for (name, request) in &requests {
        let mut wall = Vec::with_capacity(args.pages);
        let mut cpu = Vec::with_capacity(args.pages);
        let mut bytes = 0;
        for _ in 0..args.pages {
            now += chrono::Duration::seconds(args.step_seconds);
            let (t, c) = (Instant::now(), on_cpu());
            fleet.set_time(now);
            let response = fleet.answer(account, request);
            let body = write_response(&response);
            let (c, t) = (on_cpu().saturating_sub(c), t.elapsed());
            if response.outcome().code != codes::SUCCESS {
                eprintln!("error: {name} answered {:?}", response.outcome());
                return std::process::ExitCode::FAILURE;
            }
            bytes = body.len();
            wall.push(t);
            cpu.push(c);
        }
        if args.bench {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let (wall, cpu) = (quantiles(&mut wall), quantiles(&mut cpu));
            println!(
                "  {name:<44} wall p50 {:6.2} ms max {:6.2} ms | CPU p50 {:6.2} ms max {:6.2} ms | {bytes} bytes",
                ms(wall.0),
                ms(wall.1),
                ms(cpu.0),
                ms(cpu.1)
            );
        }
    }
    if !args.bench {
        println!("sim_page smoke passed; measure with `cargo bench --bench sim_page`");
    }
    std::process::ExitCode::SUCCESS
}

/// Median and maximum.
fn quantiles(values: &mut [Duration]) -> (Duration, Duration) {
    values.sort();
    let median = values.get(values.len() / 2).copied().unwrap_or_default();
    let max = values.last().copied().unwrap_or_default();
    (median, max)
}

/// This thread's time on a CPU: the page's own cost, whatever else the machine runs.
fn on_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}
