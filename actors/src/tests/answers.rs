//! Every write gets an answer within the bound, and the answer is true (issue 14): lost
//! answers settled by reading getLoad back, pending writes settling in the background, writes
//! to one point coalescing.

use futures::future::join_all;

use super::*;
use crate::{WriteId, WriteRecord, MAX_QUEUED_PER_PORT};

/// The answer bound these tests hold the fleet to.
const BOUND: Duration = Duration::from_secs(10);

/// One one-port station under [`options`] with the write-answer bound at [`BOUND`].
async fn bounded_station() -> (Arc<FakeApi>, Fleet) {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let options = FleetOptions {
        write_answer_timeout: BOUND,
        ..options()
    };
    let fleet = start_with(&api, spec(1), options).await;
    fleet.scrape_all(DEVICE).await.expect("first scrape");
    (api, fleet)
}

/// Writes `point` and checks the answer came within [`BOUND`]; returns it.
async fn answered(fleet: &Fleet, point: &str, value: serde_json::Value) -> WriteAnswer {
    let asked = tokio::time::Instant::now();
    let answer = fleet
        .set_point(DEVICE, point, value)
        .await
        .unwrap_or_else(|e| panic!("writing {point}: {e}"));
    assert!(
        asked.elapsed() <= BOUND,
        "answered after {:?}",
        asked.elapsed()
    );
    answer
}

/// Waits (on the paused clock) until write `id` settles, and returns its entry.
async fn settled(fleet: &Fleet, id: WriteId) -> WriteRecord {
    for _ in 0..24 * 60 {
        let record = fleet.write(id).expect("the write log keeps it");
        if record.settled {
            return record;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("write {id} did not settle within a day");
}

/// The settle event of write `id`, skipping others.
async fn event_of(events: &mut broadcast::Receiver<WriteRecord>, id: WriteId) -> WriteRecord {
    loop {
        let record = tokio::time::timeout(Duration::from_secs(3600), events.recv())
            .await
            .expect("a settle within the hour")
            .expect("the log is open");
        if record.write == id {
            return record;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_shed_is_answered_pending_within_the_bound_and_settles_failed() {
    let (api, fleet) = bounded_station().await;
    let mut events = fleet.subscribe_writes();
    api.always_fail(ApiMethod::ShedLoad, Fail::Hang);
    let stored = answered(&fleet, "allowedLoad", json!(3)).await;
    assert_eq!(stored.outcome, WriteOutcome::Stored);
    let answer = answered(&fleet, "shedState", json!(1)).await;
    assert_eq!(answer.outcome, WriteOutcome::Pending);
    let id = answer.write.expect("a pending write has an id");
    assert!(stored.write.is_some_and(|stored| stored < id));

    let record = settled(&fleet, id).await;
    assert_eq!(
        (record.device.as_str(), record.point.as_str()),
        (DEVICE, "shedState")
    );
    assert_eq!(record.value, json!(1));
    // The call timed out, so getLoad was read back: it does not show the shed.
    assert_eq!(
        record.outcome,
        WriteOutcome::Failed {
            reason: "account acct: shedLoad failed: shedLoad: no answer within 30s; \
                     getLoad read back does not show a shed at 3 kW on port 1"
                .into()
        }
    );
    assert_eq!(event_of(&mut events, id).await, record);
    assert_eq!(shed_of(&api, 0), None);
}

#[tokio::test(start_paused = true)]
async fn a_shed_whose_answer_was_cut_short_is_confirmed_by_reading_it_back() {
    let (api, fleet) = bounded_station().await;
    api.always_fail(ApiMethod::ShedLoad, Fail::Truncated);
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    let answer = answered(&fleet, "shedState", json!(1)).await;
    let record = settled(&fleet, answer.write.expect("an id")).await;
    assert_eq!(record.outcome, WriteOutcome::Confirmed);
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
    // Confirmed by its read-back, the shed is the port's: it is renewed within its lease.
    api.heal(ApiMethod::ShedLoad);
    let sent = api.calls_of(ApiMethod::ShedLoad).len();
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    assert!(api.calls_of(ApiMethod::ShedLoad).len() > sent, "renewed");
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_with_getload_down_stays_pending_until_getload_shows_it() {
    let (api, fleet) = bounded_station().await;
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    api.always_fail(ApiMethod::ShedLoad, Fail::Truncated);
    api.always_fail(ApiMethod::GetLoad, Fail::Http(503));
    let answer = answered(&fleet, "shedState", json!(1)).await;
    assert_eq!(answer.outcome, WriteOutcome::Pending);
    let id = answer.write.expect("an id");
    // Past the confirm timeout, getLoad still down: still pending, settling in the background.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(!fleet.write(id).expect("kept").settled);
    api.heal(ApiMethod::GetLoad);
    api.heal(ApiMethod::ShedLoad);
    assert_eq!(settled(&fleet, id).await.outcome, WriteOutcome::Confirmed);
    // The port took the shed as applied: its lease is renewed.
    let sent = api.calls_of(ApiMethod::ShedLoad).len();
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    assert!(api.calls_of(ApiMethod::ShedLoad).len() > sent, "renewed");
}

#[tokio::test(start_paused = true)]
async fn a_write_left_pending_is_superseded_by_the_next_call_at_its_port() {
    let (api, fleet) = bounded_station().await;
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    api.always_fail(ApiMethod::ShedLoad, Fail::Truncated);
    api.always_fail(ApiMethod::GetLoad, Fail::Http(503));
    let shed = answered(&fleet, "shedState", json!(1)).await;
    let shed_id = shed.write.expect("an id");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!fleet.write(shed_id).expect("kept").settled);
    // The clear is sent: the shed's outcome no longer matters, and a read showing the port
    // unshed must not call it failed.
    api.heal(ApiMethod::GetLoad);
    let clear = answered(&fleet, "shedState", json!(0)).await;
    assert_eq!(clear.outcome, WriteOutcome::Confirmed);
    let clear_id = clear.write.expect("an id");
    assert_eq!(
        settled(&fleet, shed_id).await.outcome,
        WriteOutcome::Superseded { by: clear_id }
    );
    assert_eq!(shed_of(&api, 0), None);
}

#[tokio::test(start_paused = true)]
async fn a_write_never_read_back_fails_after_a_lease_saying_so() {
    let (api, fleet) = bounded_station().await;
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    api.always_fail(ApiMethod::ShedLoad, Fail::Truncated);
    api.always_fail(ApiMethod::GetLoad, Fail::Http(503));
    let id = answered(&fleet, "shedState", json!(1))
        .await
        .write
        .expect("an id");
    let record = settled(&fleet, id).await;
    let WriteOutcome::Failed { reason } = record.outcome else {
        panic!("{record:?}");
    };
    assert!(
        reason.ends_with(
            "getLoad could not be read back within the lease (15 min), so whether it applied is not known"
        ),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn fifty_writes_to_one_point_are_all_answered_and_the_latest_is_in_force() {
    let (api, fleet) = bounded_station().await;
    shed_at(&fleet, 1.0).await;
    let sent_before = api.calls_of(ApiMethod::ShedLoad).len();
    api.set_method_latency(ApiMethod::ShedLoad, Duration::from_secs(2));
    let asked = tokio::time::Instant::now();
    let writes = (1..=50).map(|kw| {
        let fleet = &fleet;
        async move {
            let answer = fleet.set_point(DEVICE, "allowedLoad", json!(kw)).await;
            (kw, answer.expect("every write is answered"))
        }
    });
    let answers = join_all(writes).await;
    assert!(
        asked.elapsed() <= BOUND,
        "answered after {:?}",
        asked.elapsed()
    );

    let (latest_kw, latest) = answers
        .iter()
        .max_by_key(|(_, answer)| answer.write)
        .expect("fifty answers");
    assert_eq!(latest.outcome, WriteOutcome::Confirmed);
    assert_eq!(
        shed_of(&api, 0),
        Some(ShedLimit::AllowedLoad(f64::from(*latest_kw)))
    );
    let mut ids: Vec<WriteId> = answers.iter().filter_map(|(_, a)| a.write).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "every write has its own id");
    for (kw, answer) in &answers {
        match &answer.outcome {
            WriteOutcome::Confirmed => {}
            WriteOutcome::Superseded { by } => {
                assert!(
                    answer.write < Some(*by),
                    "{kw} kW superseded by an earlier write"
                )
            }
            other => panic!("{kw} kW: {other:?}"),
        }
    }
    // The one running when the others came, and the latest: two sheds, not fifty.
    assert_eq!(api.calls_of(ApiMethod::ShedLoad).len() - sent_before, 2);
}

#[tokio::test(start_paused = true)]
async fn a_port_with_a_full_queue_refuses_more_writes_saying_so() {
    let (api, fleet) = bounded_station().await;
    shed_at(&fleet, 1.0).await;
    api.set_method_latency(ApiMethod::ShedLoad, Duration::from_secs(60));
    // Alternating points do not coalesce: one runs, the queue fills, the next is refused.
    let writes = (0..MAX_QUEUED_PER_PORT + 2).map(|n| {
        let fleet = &fleet;
        let (point, value) = if n % 2 == 0 {
            ("allowedLoad", json!(2))
        } else {
            ("percentShed", json!(50))
        };
        async move { fleet.set_point(DEVICE, point, value).await }
    });
    let answers = join_all(writes).await;
    let refused: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().err().map(ToString::to_string))
        .collect();
    assert_eq!(
        refused,
        ["device campus/bldg/1000: port 1 has 64 writes and renewals waiting; try again later"]
    );
}
