//! Codec throughput: reading a 1,000-station getStationStatus answer (2 ports each), writing it,
//! and writing requests. Run with `cargo bench --bench soap_codec`; the target is >= 200 MB/s
//! for the read on one core.
//!
//! `quick_xml_events_only` is quick-xml alone producing events for the same bytes, doing nothing
//! with them: the least a read that sent every tag through quick-xml would cost. The reader
//! beats it by reading the plainest markup itself (`src/soap/xml/plain.rs`).
//!
//! Each benchmark is measured twice: in wall time (criterion's default) and in time on CPU
//! (`cpu/…`, this thread's `CLOCK_THREAD_CPUTIME_ID`). The second is the "one core" figure: on a
//! machine shared with compilers, wall time mostly measures waiting for a core.

use std::hint::black_box;
use std::time::Duration;

use chargepoint_supervisor::soap::{
    read_response, write_request, write_response, Outcome, Request, Response, UsernameToken,
};
use chrono::{TimeZone, Utc};
use cp_actors::{PortShed, ShedLimit, ShedRequest, ShedScope, StatusQuery};
use cp_registry::{
    ApiMethod, PortNumber, PortStatus, PortStatusWord, Secret, StationId, StationStatus,
};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Nanoseconds this thread has spent on a CPU. Criterion times a whole batch of iterations
/// between one `start` and one `end`, so the clock is read twice per sample, not per iteration.
struct CpuTime;

static WALL: WallTime = WallTime;

/// This thread's CPU clock, to the nanosecond. `/proc/thread-self/schedstat`, used before, only
/// advances at scheduler ticks and context switches: a batch shorter than a tick read as zero
/// and criterion rejected every `cpu/` row ("took zero time per iteration").
fn on_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(
        status,
        0,
        "clock_gettime(CLOCK_THREAD_CPUTIME_ID): {}",
        std::io::Error::last_os_error()
    );
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        on_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        on_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    /// Values are nanoseconds, like wall time, so its formatter fits.
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn fleet_status(stations: usize) -> Response {
    let timestamp = Utc.with_ymd_and_hms(2016, 11, 7, 19, 19, 19).unwrap();
    let stations = (0..stations)
        .map(|n| StationStatus {
            station_id: StationId(format!("1:{}", 30000 + n)),
            ports: vec![
                PortStatus {
                    port: PortNumber(1),
                    status: PortStatusWord::Available,
                    timestamp,
                    connector: Some("J1772".into()),
                    power: Some("6.6".into()),
                },
                PortStatus {
                    port: PortNumber(2),
                    status: PortStatusWord::InUse,
                    timestamp,
                    connector: None,
                    power: None,
                },
            ],
        })
        .collect();
    Response::GetStationStatus {
        outcome: Outcome::success(),
        stations,
        more: false,
    }
}

fn requests() -> Vec<(&'static str, Request)> {
    let status = Request::GetStationStatus {
        query: StatusQuery {
            station_ids: (0..50)
                .map(|n| StationId(format!("1:{}", 30000 + n)))
                .collect(),
        },
        start_record: Some(1),
        num_stations: Some(50),
    };
    let shed = Request::ShedLoad(ShedRequest {
        scope: ShedScope::Station(StationId::new("1:30000")),
        station_limit: None,
        ports: vec![PortShed {
            port: PortNumber(1),
            limit: ShedLimit::AllowedLoad(3.0),
        }],
        time_interval_minutes: 0,
    });
    vec![("getStationStatus_50_ids", status), ("shedLoad", shed)]
}

fn codec<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let response = fleet_status(1000);
    let bytes = write_response(&response);

    let mut group = c.benchmark_group(format!("{prefix}getStationStatus_1000_stations"));
    group.throughput(Throughput::BytesDecimal(bytes.len() as u64));
    group.bench_function("read_response", |b| {
        b.iter(|| read_response(ApiMethod::GetStationStatus, black_box(&bytes)).unwrap())
    });
    // quick-xml producing every event with nothing done with them: what the read would cost at
    // the least with every tag going through quick-xml.
    group.bench_function("quick_xml_events_only", |b| {
        b.iter(|| {
            let mut reader = quick_xml::Reader::from_reader(black_box(&bytes[..]));
            let mut events = 0usize;
            while !matches!(
                reader.read_event(),
                Ok(quick_xml::events::Event::Eof) | Err(_)
            ) {
                events += 1;
            }
            events
        })
    });
    group.bench_function("write_response", |b| {
        b.iter(|| write_response(black_box(&response)))
    });
    group.finish();

    let token = UsernameToken {
        username: "bench-user".into(),
        password: Secret::new("bench-password"),
    };
    let mut group = c.benchmark_group(format!("{prefix}write_request"));
    for (name, request) in requests() {
        group.throughput(Throughput::BytesDecimal(
            write_request(&request, &token).len() as u64,
        ));
        group.bench_function(name, |b| {
            b.iter(|| write_request(black_box(&request), black_box(&token)))
        });
    }
    group.finish();
}

fn wall(c: &mut Criterion) {
    codec(c, "");
}

fn cpu(c: &mut Criterion<CpuTime>) {
    codec(c, "cpu/");
}

fn config<M: Measurement>(measurement: M) -> Criterion<M> {
    Criterion::default()
        .with_measurement(measurement)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
}

criterion_group! {
    name = wall_time;
    config = config(WallTime);
    targets = wall
}
criterion_group! {
    name = cpu_time;
    config = config(CpuTime);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
