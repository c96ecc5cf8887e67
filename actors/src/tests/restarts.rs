//! Port and station actors that fail and are restarted.

use super::*;

/// Makes port 1 of [`DEVICE`] panic and lets its station restart it.
async fn crash_port(fleet: &Fleet) {
    fleet
        .inject_port_panic(DEVICE, PortNumber(1))
        .await
        .expect("the port actor is running");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_port_sheds_with_the_limit_written_before_it_failed() {
    let (api, fleet) = one_station().await;
    expect_write(&fleet, "allowedLoad", json!(3.0), WriteOutcome::Stored).await;
    crash_port(&fleet).await;
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
    let calls = shed_calls(&api);
    assert!(
        calls.len() == 1 && calls[0].contains("AllowedLoad(3.0)"),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shed_believed_before_its_port_failed_is_still_reasserted() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    let shed_at = tokio::time::Instant::now();
    // With getLoad failing, the restarted port cannot learn the shed again from a read: only
    // what it kept renews the lease.
    api.always_fail(ApiMethod::GetLoad, Fail::Http(503));
    crash_port(&fleet).await;
    assert_renewed_within_the_lease(&api, shed_at).await;
}

#[tokio::test(start_paused = true)]
async fn a_port_restarted_while_its_shed_is_sent_still_learns_of_it() {
    let (api, fleet) = one_station().await;
    set(&fleet, "allowedLoad", json!(3.0)).await.unwrap();
    api.set_latency(Duration::from_secs(5));
    let shed = set(&fleet, "shedState", json!(1));
    let crash = async {
        // While shedLoad is on its way.
        tokio::time::sleep(Duration::from_secs(1)).await;
        crash_port(&fleet).await;
    };
    let (outcome, ()) = tokio::join!(shed, crash);
    assert_eq!(outcome.unwrap(), WriteOutcome::Confirmed);
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    // The restarted port believes the shed, so its lease is renewed.
    let calls = shed_calls(&api);
    assert_eq!(calls.len(), 2, "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_port_restarted_after_a_clear_does_not_take_up_the_shed_again() {
    let (api, fleet) = one_station().await;
    // ChargePoint accepts the clear but still shows the shed (until its lease lapses).
    clear_unseen_by_chargepoint(&api, &fleet).await;
    crash_port(&fleet).await;
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    // The port still knows the shed was cleared: it does not adopt it from getLoad as a
    // freshly started supervisor would, so nothing renews it.
    let calls = shed_calls(&api);
    assert_eq!(calls.len(), 1, "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_station_is_restarted_while_its_siblings_keep_publishing() {
    let api = Arc::new(FakeApi::new(2, 1, 1));
    let fleet = started(&api, 2).await;
    fleet.scrape_all("campus/bldg/1001").await.unwrap();
    let mut rx = fleet.subscribe();
    fleet.inject_panic(DEVICE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let health = fleet.health().await.unwrap();
    assert_eq!(health.stations_up, 1, "{health:?}");
    // The stations' own tally agrees: the failed station's share left with it.
    assert_eq!(fleet.counts(), health.counts());
    // The sibling keeps publishing while the failed station waits for its restart.
    next_publish_of(&mut rx, "campus/bldg/1001").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let back = fleet
        .scrape_all(DEVICE)
        .await
        .expect("restarted station scrapes");
    assert_eq!(back.device, DEVICE);
    let health = fleet.health().await.unwrap();
    assert_eq!(health.stations_up, 2, "{health:?}");
    assert_eq!(fleet.counts(), health.counts());
}
