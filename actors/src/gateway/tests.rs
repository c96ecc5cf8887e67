//! Gateway behaviour against the in-memory fake account, on tokio's paused clock.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use cp_registry::{ApiMethod, GroupId, PortNumber};
use futures::future::join_all;

use super::*;
use crate::api::{PortShed, ShedLimit, ShedRequest, ShedScope};
use crate::error::{ErrorKind, FailureKind};
use crate::fake_api::{start_gateway as start, station_id, Fail, FakeApi};

const PATIENCE: Duration = Duration::from_secs(600);

/// How fresh an account answer a read accepts: half of a 60 s tick, as a station asks.
const FRESH: Duration = Duration::from_secs(30);

fn options() -> GatewayOptions {
    GatewayOptions {
        retry_deadline: Duration::from_secs(20),
        ..GatewayOptions::default()
    }
}

/// A gateway that sends one call at a time to six stations (in groups of `group_size`), each
/// call taking `latency`.
async fn busy(group_size: usize, latency: Duration) -> (Arc<FakeApi>, GatewayHandle) {
    let api = Arc::new(FakeApi::new(6, 1, group_size));
    api.set_latency(latency);
    let options = GatewayOptions {
        max_inflight: 1,
        ..options()
    };
    (api.clone(), start(api, options).await)
}

/// As [`busy`], and with one write at a time: a write's call keeps the next waiting.
async fn busy_writes(group_size: usize, latency: Duration) -> (Arc<FakeApi>, GatewayHandle) {
    let api = Arc::new(FakeApi::new(6, 1, group_size));
    api.set_latency(latency);
    let options = GatewayOptions {
        max_inflight: 1,
        write_burst: NonZeroU32::MIN,
        ..options()
    };
    (api.clone(), start(api, options).await)
}

/// Station 0's reads of five methods: five account-wide calls, sent one after another by a
/// `busy` gateway.
async fn reads_of_five_methods(gateway: &GatewayHandle) -> Vec<Result<ReadReply, GatewayError>> {
    let station = station_id(0);
    let requests = [
        ReadRequest::Alarms(station.clone()),
        ReadRequest::Rights(station.clone()),
        ReadRequest::Stations(station.clone()),
        ReadRequest::Status(station.clone()),
        ReadRequest::Sessions {
            station,
            since: None,
        },
    ];
    join_all(requests.map(|r| gateway.read(r, FRESH, PATIENCE))).await
}

/// getLoad reads of stations `0..count`, in no known station group: one call each.
async fn ungrouped_loads(
    gateway: &GatewayHandle,
    count: usize,
) -> Vec<Result<ReadReply, GatewayError>> {
    join_all((0..count).map(|n| {
        gateway.read(
            ReadRequest::Load {
                station: station_id(n),
                group: None,
            },
            FRESH,
            PATIENCE,
        )
    }))
    .await
}

fn shed(station: usize, kw: f64) -> WriteRequest {
    WriteRequest::Shed(ShedRequest {
        scope: ShedScope::Station(station_id(station)),
        station_limit: None,
        ports: vec![PortShed {
            port: PortNumber(1),
            limit: ShedLimit::AllowedLoad(kw),
        }],
        time_interval_minutes: 15,
    })
}

#[tokio::test(start_paused = true)]
async fn status_reads_of_100_stations_become_one_call() {
    let api = Arc::new(FakeApi::new(100, 2, 10));
    let gateway = start(api.clone(), options()).await;
    let replies = join_all(
        (0..100).map(|n| gateway.read(ReadRequest::Status(station_id(n)), FRESH, PATIENCE)),
    )
    .await;
    for (n, reply) in replies.into_iter().enumerate() {
        match reply {
            Ok(ReadReply::Status(Some(status))) => assert_eq!(status.station_id, station_id(n)),
            other => panic!("station {n}: unexpected {other:?}"),
        }
    }
    let calls = api.calls_of(ApiMethod::GetStationStatus);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(api.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn load_reads_share_a_group_call_only_when_two_stations_of_the_group_ask() {
    // Groups of five: stations 0-4 in group 1, 5-9 in group 2, station 10 alone in group 3.
    let api = Arc::new(FakeApi::new(11, 2, 5));
    let gateway = start(api.clone(), options()).await;
    let requests = (0..11).map(|n| ReadRequest::Load {
        station: station_id(n),
        group: Some(GroupId(i32::try_from(n / 5).unwrap() + 1)),
    });
    let replies = join_all(requests.map(|r| gateway.read(r, FRESH, PATIENCE))).await;
    for (n, reply) in replies.into_iter().enumerate() {
        match reply {
            Ok(ReadReply::Load(Some(load))) => {
                assert_eq!(load.station_id, station_id(n));
                assert_eq!(load.ports.len(), 2);
            }
            other => panic!("station {n}: unexpected {other:?}"),
        }
    }
    let mut details: Vec<String> = api
        .calls_of(ApiMethod::GetLoad)
        .into_iter()
        .map(|c| c.detail)
        .collect();
    details.sort();
    assert_eq!(
        details,
        vec![
            "Group(GroupId(1))".to_string(),
            "Group(GroupId(2))".to_string(),
            "Station(StationId(\"1:1010\"))".to_string(),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn account_wide_reads_are_made_once_and_filtered_per_station() {
    let api = Arc::new(FakeApi::new(3, 1, 3));
    let gateway = start(api.clone(), options()).await;
    let replies = join_all(
        (0..3)
            .flat_map(|n| {
                [
                    ReadRequest::Alarms(station_id(n)),
                    ReadRequest::Rights(station_id(n)),
                    ReadRequest::Stations(station_id(n)),
                ]
            })
            .map(|r| gateway.read(r, FRESH, PATIENCE)),
    )
    .await;
    assert!(replies.iter().all(Result::is_ok), "{replies:?}");
    assert_eq!(api.calls_of(ApiMethod::GetAlarms).len(), 1);
    assert_eq!(api.calls_of(ApiMethod::GetStationRights).len(), 1);
    assert_eq!(api.calls_of(ApiMethod::GetStations).len(), 1);
    match &replies[5] {
        Ok(ReadReply::Stations(Some(info))) => {
            assert_eq!(info.station_id.as_ref(), Some(&station_id(1)))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_read_joins_an_identical_call_already_in_flight() {
    let api = Arc::new(FakeApi::new(2, 1, 2));
    api.set_latency(Duration::from_secs(2));
    let gateway = start(api.clone(), options()).await;
    let first = gateway.read(ReadRequest::Alarms(station_id(0)), FRESH, PATIENCE);
    let later = async {
        // Well after the first window closed, while its call is still on the wire.
        tokio::time::sleep(Duration::from_secs(1)).await;
        gateway
            .read(ReadRequest::Alarms(station_id(1)), FRESH, PATIENCE)
            .await
    };
    let (first, later) = tokio::join!(first, later);
    assert!(first.is_ok() && later.is_ok(), "{first:?} {later:?}");
    assert_eq!(api.calls_of(ApiMethod::GetAlarms).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn calls_never_exceed_the_account_rate() {
    let api = Arc::new(FakeApi::new(30, 1, 1));
    let burst = 5;
    let gateway = start(
        api.clone(),
        GatewayOptions {
            requests_per_minute: NonZeroU32::new(60).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            ..options()
        },
    )
    .await;
    // Load reads of stations in no known group are per station, so these are 30 separate calls.
    let replies = ungrouped_loads(&gateway, 30).await;
    assert!(replies.iter().all(Result::is_ok));
    let times: Vec<_> = api.calls().into_iter().map(|c| c.at).collect();
    // The account's first getLoad round waits for its getStationRights: 31 calls.
    assert_eq!(times.len(), 31);
    // GCRA: any run of calls from i to j fits in `burst` plus one per second elapsed.
    for i in 0..times.len() {
        for j in i..times.len() {
            let elapsed = times[j].duration_since(times[i]).as_secs_f64();
            let allowed = f64::from(burst) + elapsed;
            let made = (j - i + 1) as f64;
            assert!(
                made <= allowed + 1e-9,
                "calls {i}..={j}: {made} in {elapsed}s"
            );
        }
    }
    let span = times[30].duration_since(times[0]);
    assert!(span >= Duration::from_secs(25), "{span:?}");
}

/// Whether any run of `times` fits in `burst` plus one per `interval` elapsed, as a GCRA
/// bucket lets calls through.
fn keeps_to_the_rate(times: &[tokio::time::Instant], burst: u32, interval: Duration) -> bool {
    (0..times.len()).all(|i| {
        (i..times.len()).all(|j| {
            let elapsed = times[j].duration_since(times[i]).as_secs_f64();
            let allowed = f64::from(burst) + elapsed / interval.as_secs_f64();
            (j - i + 1) as f64 <= allowed + 1e-9
        })
    })
}

#[tokio::test(start_paused = true)]
async fn the_pages_of_a_paged_read_keep_to_the_account_rate() {
    let api = Arc::new(FakeApi::new(2, 1, 1));
    api.set_pages(ApiMethod::GetChargingSessionData, 20);
    let gateway = start(api.clone(), options()).await;
    let request = ReadRequest::Sessions {
        station: station_id(0),
        since: None,
    };
    let reply = gateway.read(request, FRESH, PATIENCE).await;
    assert!(reply.is_ok(), "{reply:?}");
    let times: Vec<_> = api.calls().into_iter().map(|c| c.at).collect();
    assert_eq!(times.len(), 20);
    // 60 a minute with a burst of 5: the pages take 15 s, not a moment.
    assert!(keeps_to_the_rate(&times, 5, Duration::from_secs(1)));
    assert_eq!(times[19].duration_since(times[0]), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_writes_and_their_read_backs_go_at_once_while_reads_use_the_whole_rate() {
    let api = Arc::new(FakeApi::new(10, 1, 1));
    api.set_pages(ApiMethod::GetChargingSessionData, 100);
    let gateway = start(api.clone(), options()).await;
    let pages = gateway.read(
        ReadRequest::Sessions {
            station: station_id(0),
            since: None,
        },
        FRESH,
        PATIENCE,
    );
    // Each write as a port makes it: the shed, then the getLoad that confirms it (the stations'
    // groups not known yet, as at start-up: ten read-backs, none shared).
    let write_and_confirm = |n: usize| {
        let gateway = &gateway;
        async move {
            gateway.write(shed(n, 3.0), PATIENCE).await?;
            let request = ReadRequest::Load {
                station: station_id(n),
                group: None,
            };
            gateway.read_back(request, PATIENCE).await
        }
    };
    let writes = async {
        // Well into the paging, which takes every token the reads may.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let sent = tokio::time::Instant::now();
        let written = join_all((0..10).map(write_and_confirm)).await;
        (written, sent)
    };
    let (pages, (written, sent)) = tokio::join!(pages, writes);
    assert!(pages.is_ok(), "{pages:?}");
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    let at = |method| -> Vec<_> {
        api.calls_of(method)
            .into_iter()
            .map(|c| c.at)
            .filter(|at| *at >= sent)
            .collect()
    };
    assert_eq!(
        at(ApiMethod::ShedLoad),
        vec![sent; 10],
        "every shed at once"
    );
    let read_backs = at(ApiMethod::GetLoad);
    assert_eq!(
        read_backs,
        vec![read_backs[0]; 10],
        "every read-back at once"
    );
    // Reads and writes together keep to the rate, with the writes' burst on top of the reads'.
    let times: Vec<_> = api.calls().into_iter().map(|c| c.at).collect();
    assert!(keeps_to_the_rate(&times, 5 + 20, Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_and_the_retry_answers() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.script(ApiMethod::GetLoad, &[Fail::Http(503), Fail::Http(503)]);
    let gateway = start(api.clone(), options()).await;
    let reply = gateway
        .read(
            ReadRequest::Load {
                station: station_id(0),
                group: None,
            },
            FRESH,
            PATIENCE,
        )
        .await;
    assert!(matches!(reply, Ok(ReadReply::Load(Some(_)))), "{reply:?}");
    assert_eq!(api.calls_of(ApiMethod::GetLoad).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_plan_rights_refusal_is_not_retried() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.always_fail(ApiMethod::GetAlarms, Fail::PlanRights);
    let gateway = start(api.clone(), options()).await;
    let error = gateway
        .read(ReadRequest::Alarms(station_id(0)), FRESH, PATIENCE)
        .await
        .expect_err("refused");
    assert_eq!(error.to_string(), "account acct: getAlarms failed");
    assert_eq!(error.kind(), FailureKind::Call(ErrorKind::PlanRights));
    assert_eq!(
        error.soap().map(ToString::to_string).as_deref(),
        Some("getAlarms: not permitted by the account's plan (responseCode 101: not permitted)")
    );
    assert_eq!(api.calls_of(ApiMethod::GetAlarms).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_call_gives_up_with_the_last_error_after_the_deadline() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.always_fail(ApiMethod::GetStationStatus, Fail::Http(503));
    let gateway = start(api.clone(), options()).await;
    let started = tokio::time::Instant::now();
    let error = gateway
        .read(ReadRequest::Status(station_id(0)), FRESH, PATIENCE)
        .await
        .expect_err("gives up");
    assert_eq!(error.kind(), FailureKind::Call(ErrorKind::HttpStatus));
    let calls = api.calls_of(ApiMethod::GetStationStatus);
    assert!(calls.len() > 2, "{}", calls.len());
    // backoff never sleeps past the deadline: it gives up when the next pause would cross it.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited <= Duration::from_secs(20),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn writes_go_ahead_of_queued_reads() {
    let (api, gateway) = busy(1, Duration::from_secs(1)).await;
    let reads = reads_of_five_methods(&gateway);
    let write = async {
        // The reads are queued behind the first one by now.
        tokio::time::sleep(Duration::from_millis(500)).await;
        gateway.write(shed(5, 3.0), PATIENCE).await
    };
    let (reads, write) = tokio::join!(reads, write);
    assert!(reads.iter().all(Result::is_ok));
    assert!(matches!(write, Ok(WriteReply::Shed(_))), "{write:?}");
    let order: Vec<ApiMethod> = api.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(order.len(), 6, "{order:?}");
    assert_eq!(order[0], ApiMethod::GetAlarms);
    assert_eq!(order[1], ApiMethod::ShedLoad, "{order:?}");
}

#[tokio::test(start_paused = true)]
async fn a_queued_write_whose_requester_gave_up_is_never_sent() {
    let api = Arc::new(FakeApi::new(6, 1, 1));
    api.set_latency(Duration::from_secs(10));
    // One write on the wire at a time, so the second waits in the queue.
    let options = GatewayOptions {
        write_burst: std::num::NonZeroU32::MIN,
        ..options()
    };
    let gateway = start(api.clone(), options).await;
    let first = gateway.write(shed(1, 3.0), PATIENCE);
    let abandoned = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Queued behind the first write; its requester waits 2 s of the 10 s.
        gateway.write(shed(2, 4.0), Duration::from_secs(2)).await
    };
    let (first, abandoned) = tokio::join!(first, abandoned);
    assert!(first.is_ok(), "{first:?}");
    assert!(
        matches!(abandoned, Err(GatewayError::Unreachable { .. })),
        "{abandoned:?}"
    );
    // Another write after it is still served.
    assert!(gateway.write(shed(3, 5.0), PATIENCE).await.is_ok());
    let sheds: Vec<String> = api
        .calls_of(ApiMethod::ShedLoad)
        .into_iter()
        .map(|c| c.detail)
        .collect();
    assert_eq!(sheds.len(), 2, "{sheds:?}");
    assert!(!sheds.iter().any(|d| d.contains("4.0")), "{sheds:?}");
}

#[tokio::test(start_paused = true)]
async fn a_read_back_goes_ahead_of_queued_reads() {
    let (api, gateway) = busy(1, Duration::from_secs(1)).await;
    let reads = reads_of_five_methods(&gateway);
    let read_back = async {
        // The reads are queued behind the first one by now.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let request = ReadRequest::Load {
            station: station_id(5),
            group: Some(GroupId(1)),
        };
        gateway.read_back(request, PATIENCE).await
    };
    let (reads, read_back) = tokio::join!(reads, read_back);
    assert!(reads.iter().all(Result::is_ok));
    assert!(
        matches!(&read_back, Ok(ReadReply::Load(Some(load))) if load.station_id == station_id(5)),
        "{read_back:?}"
    );
    let order: Vec<String> = api.calls().into_iter().map(|c| c.detail).collect();
    assert_eq!(order.len(), 6, "{order:?}");
    assert!(order[0].starts_with("AlarmQuery"), "{order:?}");
    assert_eq!(
        order[1],
        format!("Station({:?})", station_id(5)),
        "{order:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_back_never_waits_for_a_read_that_came_after_it() {
    let (api, gateway) = busy_writes(1, Duration::from_secs(1)).await;
    let start = tokio::time::Instant::now();
    let reads = reads_of_five_methods(&gateway);
    let write = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        gateway.write(shed(3, 3.0), PATIENCE).await
    };
    let read_back = async {
        // Queued behind the write's call.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let request = ReadRequest::Load {
            station: station_id(5),
            group: Some(GroupId(6)),
        };
        let reply = gateway.read_back(request, PATIENCE).await;
        (reply, start.elapsed())
    };
    let later_read = async {
        // Another station's load, while the read-back waits to be sent: it must not ride on
        // the read-back's round, or the read-back waits for it behind the queued reads.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let request = ReadRequest::Load {
            station: station_id(4),
            group: Some(GroupId(5)),
        };
        gateway.read(request, FRESH, PATIENCE).await
    };
    let (reads, written, (read_back, took), later) =
        tokio::join!(reads, write, read_back, later_read);
    assert!(reads.iter().all(Result::is_ok));
    assert!(written.is_ok(), "{written:?}");
    assert!(later.is_ok(), "{later:?}");
    assert!(
        matches!(&read_back, Ok(ReadReply::Load(Some(load))) if load.station_id == station_id(5)),
        "{read_back:?}"
    );
    // The write's call (from 0.4 s), then the read-back's: both 1 s.
    assert!(
        took <= Duration::from_millis(2_500),
        "read-back took {took:?}"
    );
    assert_eq!(api.calls().len(), 8);
}

#[tokio::test(start_paused = true)]
async fn read_backs_waiting_together_share_their_groups_call() {
    // Stations 0-2 in group 1, 3-5 in group 2.
    let (api, gateway) = busy_writes(3, Duration::from_secs(1)).await;
    let reads = reads_of_five_methods(&gateway);
    let write = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        gateway.write(shed(5, 3.0), PATIENCE).await
    };
    let read_back = |n: usize, group: i32| {
        let gateway = &gateway;
        async move {
            // Queued behind the write's call.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let request = ReadRequest::Load {
                station: station_id(n),
                group: Some(GroupId(group)),
            };
            gateway.read_back(request, PATIENCE).await
        }
    };
    let read_backs = join_all([read_back(0, 1), read_back(2, 1), read_back(4, 2)]);
    let (reads, written, read_backs) = tokio::join!(reads, write, read_backs);
    assert!(reads.iter().all(Result::is_ok));
    assert!(written.is_ok(), "{written:?}");
    for (reply, n) in read_backs.iter().zip([0, 2, 4]) {
        assert!(
            matches!(reply, Ok(ReadReply::Load(Some(load))) if load.station_id == station_id(n)),
            "station {n}: {reply:?}"
        );
    }
    // Stations 0 and 2 in one getLoad of their group; station 4, in no group with them, in
    // one of its own.
    let calls = api.calls();
    assert_eq!(calls.len(), 8, "{calls:?}");
    let mut read_back_calls: Vec<String> = api
        .calls_of(ApiMethod::GetLoad)
        .into_iter()
        .map(|c| c.detail)
        .collect();
    read_back_calls.sort();
    assert_eq!(
        read_back_calls,
        vec![
            "Group(GroupId(1))".to_string(),
            format!("Station({:?})", station_id(4))
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_overloaded_at_once() {
    let api = Arc::new(FakeApi::new(5, 1, 1));
    let gateway = start(
        api.clone(),
        GatewayOptions {
            max_queued: 3,
            ..options()
        },
    )
    .await;
    let waiting =
        join_all((0..3).map(|n| gateway.read(ReadRequest::Status(station_id(n)), FRESH, PATIENCE)));
    let refused = async {
        tokio::task::yield_now().await;
        let before = tokio::time::Instant::now();
        let result = gateway
            .read(ReadRequest::Status(station_id(4)), FRESH, PATIENCE)
            .await;
        (result, before.elapsed())
    };
    let (waiting, (refused, took)) = tokio::join!(waiting, refused);
    assert!(waiting.iter().all(Result::is_ok));
    let error = refused.expect_err("queue full");
    assert_eq!(
        error.to_string(),
        "account acct: gateway queue is full (3 requests waiting); try again later"
    );
    assert_eq!(took, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn reads_held_back_by_a_busy_account_merge_into_the_calls_waiting() {
    let (api, gateway) = busy(6, Duration::from_secs(2)).await;
    let status_then_load = |n: usize| {
        let gateway = gateway.clone();
        async move {
            // One request per batching window, while the first call keeps the account busy.
            tokio::time::sleep(Duration::from_millis(300) * u32::try_from(n).unwrap()).await;
            let status = gateway.read(ReadRequest::Status(station_id(n)), FRESH, PATIENCE);
            let load = gateway.read(
                ReadRequest::Load {
                    station: station_id(n),
                    group: Some(GroupId(1)),
                },
                FRESH,
                PATIENCE,
            );
            let (status, load) = tokio::join!(status, load);
            matches!(status, Ok(ReadReply::Status(Some(s))) if s.station_id == station_id(n))
                && matches!(load, Ok(ReadReply::Load(Some(l))) if l.station_id == station_id(n))
        }
    };
    let answered = join_all((0..6).map(status_then_load)).await;
    assert!(answered.iter().all(|ok| *ok), "{answered:?}");
    // The first status goes at once; station 0's load waits behind it and becomes the group's
    // load when station 1 asks; the later status reads merge into one waiting call.
    let details: Vec<String> = api.calls().into_iter().map(|c| c.detail).collect();
    let status_of = |ns: std::ops::Range<usize>| {
        let list: Vec<String> = ns.map(|n| format!("{:?}", station_id(n))).collect();
        format!("StatusQuery {{ station_ids: [{}] }}", list.join(", "))
    };
    assert_eq!(
        details,
        vec![
            status_of(0..1),
            "Group(GroupId(1))".to_string(),
            status_of(1..6)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_is_answered_from_a_fresh_account_answer_and_a_round_reads_every_member() {
    let api = Arc::new(FakeApi::new(4, 1, 1));
    let gateway = start(api.clone(), options()).await;
    let status = |n: usize| gateway.read(ReadRequest::Status(station_id(n)), FRESH, PATIENCE);
    let first = join_all((0..4).map(status)).await;
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    assert_eq!(api.calls_of(ApiMethod::GetStationStatus).len(), 1);
    // Within the freshness a station accepts: the account's answer serves, no call.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let reused = status(2).await;
    assert!(
        matches!(&reused, Ok(ReadReply::Status(Some(s))) if s.station_id == station_id(2)),
        "{reused:?}"
    );
    assert_eq!(api.calls_of(ApiMethod::GetStationStatus).len(), 1);
    // Past it, one station's read makes a round that reads every station that reads status,
    // so the others asking a moment later find it fresh.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(status(0).await.is_ok());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(join_all((1..4).map(status)).await.iter().all(Result::is_ok));
    let calls = api.calls_of(ApiMethod::GetStationStatus);
    assert_eq!(calls.len(), 2, "{calls:?}");
    for n in 0..4 {
        assert!(calls[1].detail.contains(&format!("{:?}", station_id(n))));
    }
}

#[tokio::test(start_paused = true)]
async fn a_plan_refusal_is_not_asked_again_within_the_hour() {
    let api = Arc::new(FakeApi::new(2, 1, 1));
    api.always_fail(ApiMethod::GetAlarms, Fail::PlanRights);
    let gateway = start(api.clone(), options()).await;
    let alarms = |n: usize| gateway.read(ReadRequest::Alarms(station_id(n)), FRESH, PATIENCE);
    let refused = |r: Result<ReadReply, GatewayError>| {
        r.expect_err("refused").kind() == FailureKind::Call(ErrorKind::PlanRights)
    };
    assert!(refused(alarms(0).await));
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    let before = tokio::time::Instant::now();
    assert!(refused(alarms(1).await));
    assert_eq!(before.elapsed(), Duration::ZERO, "answered at once");
    assert_eq!(api.calls_of(ApiMethod::GetAlarms).len(), 1);
    // Other methods of the account are not held back.
    assert!(gateway
        .read(ReadRequest::Status(station_id(0)), FRESH, PATIENCE)
        .await
        .is_ok());
    tokio::time::sleep(Duration::from_secs(51 * 60)).await;
    assert!(refused(alarms(1).await));
    assert_eq!(api.calls_of(ApiMethod::GetAlarms).len(), 2);
}

/// A finished session of station `n`'s `port`, started `minutes_ago` before `now`.
fn session_ago(
    now: chrono::DateTime<chrono::Utc>,
    n: usize,
    port: u16,
    id: i64,
    minutes_ago: i64,
) -> cp_registry::ChargingSession {
    let mut session = crate::fake_api::session(&station_id(n), port, id, 0, true);
    session.start_time = now - chrono::Duration::minutes(minutes_ago);
    session
}

fn session_ids(reply: Result<ReadReply, GatewayError>) -> Vec<i64> {
    match reply {
        Ok(ReadReply::Sessions(all)) => {
            let mut ids: Vec<i64> = all.iter().map(|s| s.session_id).collect();
            ids.sort();
            ids
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn sessions_are_read_for_the_whole_account_newest_hours_first_then_from_the_newest() {
    let api = Arc::new(FakeApi::new(2, 2, 1));
    // The look-back is taken from the wall clock: sessions placed relative to it.
    let now = chrono::Utc::now();
    let recent = session_ago(now, 0, 1, 1, 30);
    for s in [
        recent.clone(),
        session_ago(now, 0, 2, 2, 5 * 60),
        session_ago(now, 0, 2, 3, 6 * 60),
        session_ago(now, 1, 1, 4, 11 * 60),
        // Before the stations' look-back: never read.
        session_ago(now, 1, 2, 5, 13 * 60),
    ] {
        api.add_session(s);
    }
    let gateway = start(api.clone(), options()).await;
    let since = now - chrono::Duration::hours(12);
    let sessions = |n: usize| {
        gateway.read(
            ReadRequest::Sessions {
                station: station_id(n),
                since: Some(since),
            },
            FRESH,
            PATIENCE,
        )
    };
    // Each port's latest session of the 12 hours.
    let (zero, one) = tokio::join!(sessions(0), sessions(1));
    assert_eq!(session_ids(zero), vec![1, 2]);
    assert_eq!(session_ids(one), vec![4]);
    // Read as the last hour, then the older ones newest first: the hour before, and, as that
    // held almost nothing, the rest of the 12 hours in one call.
    let calls = api.calls_of(ApiMethod::GetChargingSessionData);
    let windows: Vec<&str> = calls.iter().map(|c| c.detail.as_str()).collect();
    assert_eq!(windows.len(), 1 + 2, "{windows:#?}");
    assert!(windows[0].ends_with("to: None }"), "{windows:#?}");
    assert!(
        windows[1..].iter().all(|w| w.contains("to: Some(")),
        "{windows:#?}"
    );
    assert!(
        windows[2].contains(&format!("from: Some({since:?})")),
        "{windows:#?}"
    );
    // Then on from the newest session seen.
    tokio::time::sleep(Duration::from_secs(60)).await;
    api.add_session(session_ago(now, 0, 2, 6, 10));
    assert_eq!(session_ids(sessions(0).await), vec![1, 6]);
    let calls = api.calls_of(ApiMethod::GetChargingSessionData);
    assert_eq!(calls.len(), 4);
    assert_eq!(
        calls[3].detail,
        format!(
            "SessionQuery {{ station_id: None, session_id: None, from: Some({:?}), to: None }}",
            recent.start_time
        )
    );
}

/// An account with 300 sessions (three pages) in each of the 11 hours before the last, and
/// station 1's one session in the oldest: more than the walk back's first 24 pages reach.
fn busy_sessions(api: &FakeApi, now: chrono::DateTime<chrono::Utc>) {
    let mut id = 0;
    for hour in 1..12 {
        for _ in 0..300 {
            id += 1;
            api.add_session(session_ago(now, 0, 1, id, hour * 60 + 20));
        }
    }
    api.add_session(session_ago(now, 1, 1, 0, 11 * 60 + 50));
}

/// A gateway over [`busy_sessions`], and the 12-hour look-back its stations ask with.
async fn busy_walk() -> (Arc<FakeApi>, GatewayHandle, chrono::DateTime<chrono::Utc>) {
    let api = Arc::new(FakeApi::new(2, 2, 1));
    let now = chrono::Utc::now();
    busy_sessions(&api, now);
    let gateway = start(api.clone(), options()).await;
    (api, gateway, now - chrono::Duration::hours(12))
}

/// Station `n`'s sessions, from an answer at most a second old.
async fn sessions_of(
    gateway: &GatewayHandle,
    n: usize,
    since: chrono::DateTime<chrono::Utc>,
) -> Vec<i64> {
    let request = ReadRequest::Sessions {
        station: station_id(n),
        since: Some(since),
    };
    session_ids(
        gateway
            .read(request, Duration::from_secs(1), PATIENCE)
            .await,
    )
}

/// The calls of the walk back through older sessions.
fn backfill_calls(api: &FakeApi) -> Vec<crate::fake_api::RecordedCall> {
    api.calls_of(ApiMethod::GetChargingSessionData)
        .into_iter()
        .filter(|c| c.detail.contains("to: Some("))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_walk_back_through_older_sessions_is_paced_after_its_first_pages() {
    let (api, gateway, since) = busy_walk().await;
    let sessions = |n: usize| sessions_of(&gateway, n, since);
    // The first answer waited for the windows the first pages read, not for the rest.
    assert_eq!(sessions(1).await, Vec::<i64>::new());
    let answered = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    assert_eq!(sessions(1).await, vec![0]);
    // Every later window waited at least a page's pause after the one before.
    let calls = backfill_calls(&api);
    let later = calls
        .iter()
        .position(|c| c.at > answered)
        .expect("later windows");
    for pair in calls[later - 1..].windows(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= Duration::from_secs(20),
            "{calls:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_window_of_older_sessions_is_asked_again() {
    let (api, gateway, since) = busy_walk().await;
    let sessions = |n: usize| sessions_of(&gateway, n, since);
    assert_eq!(sessions(1).await, Vec::<i64>::new());
    let answered = tokio::time::Instant::now();
    // The next window fails, retries and all (the retry deadline is 20 s).
    api.always_fail(ApiMethod::GetChargingSessionData, Fail::Http(500));
    tokio::time::sleep(Duration::from_secs(3 * 60)).await;
    api.heal(ApiMethod::GetChargingSessionData);
    let healed = tokio::time::Instant::now();
    // The walk takes it up again: station 1's session comes.
    tokio::time::sleep(Duration::from_secs(5 * 60)).await;
    assert_eq!(sessions(1).await, vec![0]);
    let calls = backfill_calls(&api);
    let failed = calls
        .iter()
        .find(|c| c.at > answered)
        .expect("a window after the first answer");
    assert!(
        calls
            .iter()
            .any(|c| c.detail == failed.detail && c.at >= healed),
        "{calls:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_load_round_reads_by_group_one_call_per_group() {
    // Stations 0-5 in groups 1 and 2 of three: each round is one call per group, none per
    // station.
    let api = Arc::new(FakeApi::new(6, 1, 3));
    let gateway = start(api.clone(), options()).await;
    let load = |n: usize| {
        gateway.read(
            ReadRequest::Load {
                station: station_id(n),
                group: Some(GroupId(i32::try_from(n / 3).unwrap() + 1)),
            },
            FRESH,
            PATIENCE,
        )
    };
    assert!(join_all((0..6).map(load)).await.iter().all(Result::is_ok));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(join_all((0..6).map(load)).await.iter().all(Result::is_ok));
    let mut details: Vec<String> = api
        .calls_of(ApiMethod::GetLoad)
        .into_iter()
        .map(|c| c.detail)
        .collect();
    details.sort();
    assert_eq!(
        details,
        vec![
            "Group(GroupId(1))",
            "Group(GroupId(1))",
            "Group(GroupId(2))",
            "Group(GroupId(2))"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_load_round_waits_for_rights_and_reads_the_organisation_wide_group() {
    // Six stations in three groups of two, and all in organisation group 100, which only
    // getStationRights shows.
    let api = Arc::new(FakeApi::new(6, 1, 2));
    api.set_org_group(GroupId(100));
    let gateway = start(api.clone(), options()).await;
    let load = |n: usize| {
        gateway.read(
            ReadRequest::Load {
                station: station_id(n),
                group: Some(GroupId(i32::try_from(n / 2).unwrap() + 1)),
            },
            FRESH,
            PATIENCE,
        )
    };
    for round in 0..2 {
        let replies = join_all((0..6).map(load)).await;
        for (n, reply) in replies.into_iter().enumerate() {
            assert!(
                matches!(&reply, Ok(ReadReply::Load(Some(l))) if l.station_id == station_id(n)),
                "round {round}, station {n}: {reply:?}"
            );
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let methods: Vec<ApiMethod> = api.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        vec![
            ApiMethod::GetStationRights,
            ApiMethod::GetLoad,
            ApiMethod::GetLoad
        ]
    );
    for call in api.calls_of(ApiMethod::GetLoad) {
        assert_eq!(call.detail, "Group(GroupId(100))");
    }
}

#[tokio::test(start_paused = true)]
async fn slow_reads_never_hold_the_last_permit_a_write_needs() {
    let api = Arc::new(FakeApi::new(2, 1, 1));
    api.set_method_latency(ApiMethod::GetAlarms, Duration::from_secs(100));
    api.set_method_latency(ApiMethod::GetStationRights, Duration::from_secs(100));
    let gateway = start(
        api.clone(),
        GatewayOptions {
            max_inflight: 2,
            ..options()
        },
    )
    .await;
    let reads = join_all([
        gateway.read(ReadRequest::Alarms(station_id(0)), FRESH, PATIENCE),
        gateway.read(ReadRequest::Rights(station_id(0)), FRESH, PATIENCE),
    ]);
    let write = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sent = tokio::time::Instant::now();
        let result = gateway.write(shed(0, 3.0), PATIENCE).await;
        (result, sent.elapsed())
    };
    let (reads, (written, took)) = tokio::join!(reads, write);
    assert!(reads.iter().all(Result::is_ok), "{reads:?}");
    assert!(written.is_ok(), "{written:?}");
    assert_eq!(took, Duration::ZERO, "the write waited for a permit");
}

#[tokio::test(start_paused = true)]
async fn calls_queued_behind_a_plan_refusal_are_not_sent() {
    // Stations in no known group: one getLoad each, one at a time; the plan refuses getLoad.
    let (api, gateway) = busy(1, Duration::from_secs(1)).await;
    api.always_fail(ApiMethod::GetLoad, Fail::PlanRights);
    let replies = ungrouped_loads(&gateway, 6).await;
    for reply in replies {
        let error = reply.expect_err("refused");
        assert_eq!(error.kind(), FailureKind::Call(ErrorKind::PlanRights));
    }
    assert_eq!(api.calls_of(ApiMethod::GetLoad).len(), 1);
}

/// What a station's poll brings it: the answer, or `None` when the gateway dropped it.
type PollNews = (ApiMethod, Option<Result<ReadReply, GatewayError>>);

/// Stands in for a station: passes on what its polls bring.
struct PollProbe;

impl Actor for PollProbe {
    type Msg = StationMessage;
    type State = tokio::sync::mpsc::UnboundedSender<PollNews>;
    type Arguments = tokio::sync::mpsc::UnboundedSender<PollNews>;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        news: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(news)
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        message: Self::Msg,
        news: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _ = match message {
            StationMessage::PollCompleted { method, result } => news.send((method, Some(result))),
            StationMessage::PollLost { method } => news.send((method, None)),
            _ => Ok(()),
        };
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_station_poll_is_answered_to_the_station_and_told_when_the_gateway_drops_it() {
    let api = Arc::new(FakeApi::new(6, 1, 1));
    api.set_latency(Duration::from_secs(10));
    let gateway = start(api.clone(), options()).await;
    let (news, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let (station, _) = Actor::spawn(None, PollProbe, news).await.unwrap();

    let mut next = async || {
        let news = tokio::time::timeout(Duration::from_secs(60), heard.recv()).await;
        news.expect("the station hears within a minute").unwrap()
    };

    gateway.poll(ReadRequest::Status(station_id(0)), FRESH, &station);
    let (method, answer) = next().await;
    assert_eq!(method, ApiMethod::GetStationStatus);
    assert!(
        matches!(answer, Some(Ok(ReadReply::Status(Some(_))))),
        "{answer:?}"
    );

    // A poll still waiting for its call when the gateway stops is not left hanging.
    gateway.poll(ReadRequest::Alarms(station_id(0)), FRESH, &station);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        api.calls_of(ApiMethod::GetAlarms).len(),
        1,
        "the call is out"
    );
    gateway.actor.stop(None);
    let (method, answer) = next().await;
    assert_eq!(method, ApiMethod::GetAlarms);
    assert!(answer.is_none(), "told it was dropped: {answer:?}");
}
