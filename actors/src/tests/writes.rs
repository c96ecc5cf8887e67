//! The spec's write semantics, clears, reverts.

use super::*;

#[tokio::test(start_paused = true)]
async fn allowed_load_replaces_percent_shed_as_the_intent_used_by_shed_state() {
    let (api, fleet) = one_station().await;
    expect_write(&fleet, "percentShed", json!(40), WriteOutcome::Stored).await;
    expect_write(&fleet, "allowedLoad", json!(3.0), WriteOutcome::Stored).await;
    // Storing an intent on an unshed port sends nothing.
    assert!(shed_calls(&api).is_empty());
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
    let calls = shed_calls(&api);
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].contains("AllowedLoad(3.0)") && calls[0].contains("time_interval_minutes: 15"),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_write_is_visible_to_the_next_read() {
    let (_api, fleet) = one_station().await;
    let value = |point: &'static str| {
        let fleet = &fleet;
        async move { fleet.get_point(DEVICE, point).await.unwrap().value }
    };
    assert_eq!(value("shedState").await, PointValue::Int(0));
    shed_at(&fleet, 3.0).await;
    // No scrape ran in between: the write's own read-back shows the shed.
    assert_eq!(value("shedState").await, PointValue::Int(1));
    assert_eq!(value("allowedLoad").await, PointValue::Float(3.0));
    let publish = fleet.scrape_all(DEVICE).await.unwrap();
    assert_eq!(
        publish.message.values.get("shedState"),
        Some(&PointValue::Int(1))
    );

    expect_write(&fleet, "shedState", json!(0), WriteOutcome::Confirmed).await;
    assert_eq!(value("shedState").await, PointValue::Int(0));
}

#[tokio::test(start_paused = true)]
async fn shed_state_without_a_written_limit_is_refused() {
    let (api, fleet) = one_station().await;
    let error = set(&fleet, "shedState", json!(1)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "device campus/bldg/1000: point shedState: no allowedLoad or percentShed written for port 1; write one first"
    );
    assert_eq!(error.status_hint(), 409);
    assert!(shed_calls(&api).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_new_limit_on_a_shed_port_is_applied_at_once() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    expect_write(&fleet, "percentShed", json!(50), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::PercentShed(50)));
    assert_eq!(shed_calls(&api).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn shed_state_zero_clears_the_shed() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    expect_write(&fleet, "shedState", json!(0), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), None);
    assert_eq!(api.calls_of(ApiMethod::ClearShedState).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_clear_the_service_does_not_show_is_sent_again_until_load_shows_it() {
    let (api, fleet) = one_station().await;
    clear_unseen_by_chargepoint(&api, &fleet).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
    // ChargePoint takes the next one: the scrape that still sees the shed clears it again.
    // (The write's last read-back may have had one re-sent, unseen, before this.)
    api.ignore_writes(false);
    let unseen = api.calls_of(ApiMethod::ClearShedState).len();
    let mut rx = fleet.subscribe();
    next_publish_of(&mut rx, DEVICE).await;
    next_publish_of(&mut rx, DEVICE).await;
    assert_eq!(shed_of(&api, 0), None);
    let clears = api.calls_of(ApiMethod::ClearShedState).len();
    assert_eq!(clears, unseen + 1);
    // Once getLoad shows the port unshed, nothing more is owed: a later shed by someone else
    // is not fought.
    api.with_station(&station_id(0), |s| {
        s.ports.get_mut(&PortNumber(1)).unwrap().shed = Some(ShedLimit::PercentShed(50));
    });
    for _ in 0..3 {
        next_publish_of(&mut rx, DEVICE).await;
    }
    assert_eq!(api.calls_of(ApiMethod::ClearShedState).len(), clears);
}

#[tokio::test(start_paused = true)]
async fn a_clear_that_never_shows_is_retried_only_within_the_lease() {
    let (api, fleet) = one_station().await;
    clear_unseen_by_chargepoint(&api, &fleet).await;
    // After the clear was accepted (and its read-backs waited for): retries stop earlier.
    let cleared = tokio::time::Instant::now();
    let mut rx = fleet.subscribe();
    while cleared.elapsed() < Duration::from_secs(30 * 60) {
        next_publish_of(&mut rx, DEVICE).await;
    }
    let sent: Vec<u64> = api
        .calls_of(ApiMethod::ClearShedState)
        .into_iter()
        .map(|c| c.at.duration_since(cleared).as_secs())
        .collect();
    // One a minute, with each scrape's getLoad, until the 15-minute lease would have lapsed.
    assert!(sent.len() >= 10, "{sent:?}");
    assert!(sent.iter().all(|&s| s < 15 * 60), "{sent:?}");
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
}

#[tokio::test(start_paused = true)]
async fn a_shed_the_service_does_not_show_is_pending() {
    let (api, fleet) = one_station().await;
    api.ignore_writes(true);
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Pending).await;
}

#[tokio::test(start_paused = true)]
async fn a_shed_the_plan_refuses_is_refused_and_not_sent_again() {
    let (api, fleet) = one_station().await;
    api.always_fail(ApiMethod::ShedLoad, Fail::PlanRights);
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    let refusal = "account acct: shedLoad failed: shedLoad: not permitted by the account's plan (responseCode 101: not permitted)";
    assert_eq!(
        set(&fleet, "shedState", json!(1)).await.unwrap(),
        WriteOutcome::Refused {
            reason: refusal.into()
        }
    );
    let sent = api.calls_of(ApiMethod::ShedLoad).len();
    assert_eq!(
        set(&fleet, "shedState", json!(1)).await.unwrap(),
        WriteOutcome::Refused {
            reason: format!("{refusal} (refused before; not sent again)")
        }
    );
    assert_eq!(
        api.calls_of(ApiMethod::ShedLoad).len(),
        sent,
        "known refused: no call"
    );
}

#[tokio::test(start_paused = true)]
async fn clear_alarms_one_clears_the_station_and_zero_sends_nothing() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.with_station(&station_id(0), |s| {
        s.alarms.push(Alarm {
            station_id: station_id(0),
            station_name: None,
            station_model: None,
            org_id: None,
            organization_name: None,
            station_manufacturer: None,
            station_serial_num: None,
            port: None,
            alarm_type: "GFCI Trip".into(),
            alarm_time: chrono::Utc::now(),
            record_number: Some(1),
        })
    });
    let fleet = started(&api, 1).await;
    let reading = fleet.get_point(DEVICE, "alarmType").await.unwrap();
    assert_eq!(reading.value, PointValue::Str("GFCI Trip".into()));
    expect_write(&fleet, "clearAlarms", json!(0), WriteOutcome::Confirmed).await;
    assert!(api.calls_of(ApiMethod::ClearAlarms).is_empty());
    expect_write(&fleet, "clearAlarms", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(api.calls_of(ApiMethod::ClearAlarms).len(), 1);
    assert!(api.with_station(&station_id(0), |s| s.alarms.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn bad_values_and_read_only_points_are_refused_with_the_point_named() {
    let (api, fleet) = one_station().await;
    let cases = [
        (
            "percentShed",
            json!(101),
            "device campus/bldg/1000: point percentShed: expected an integer 0..=100, found 101",
            400,
        ),
        (
            "percentShed",
            json!(2.5),
            "device campus/bldg/1000: point percentShed: expected integer, found '2.5'",
            400,
        ),
        (
            "allowedLoad",
            json!(-1),
            "device campus/bldg/1000: point allowedLoad: expected a number of kW from 0 to 1000, found -1",
            400,
        ),
        (
            "shedState",
            json!(2),
            "device campus/bldg/1000: point shedState: expected 0 or 1, found 2",
            400,
        ),
        (
            "portLoad",
            json!(1),
            "device campus/bldg/1000: point portLoad is read-only",
            400,
        ),
        (
            "nope",
            json!(1),
            "device campus/bldg/1000: unknown point 'nope'",
            404,
        ),
    ];
    for (point, value, message, status) in cases {
        let error = set(&fleet, point, value).await.unwrap_err();
        assert_eq!(error.to_string(), message);
        assert_eq!(error.status_hint(), status, "{message}");
    }
    let unknown = fleet
        .set_point("x/y/z", "shedState", json!(1))
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), "unknown device 'x/y/z'");
    assert_eq!(unknown.status_hint(), 404);
    assert!(shed_calls(&api).is_empty());
}

#[tokio::test(start_paused = true)]
async fn revert_clears_the_shed_and_restores_limits() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    assert_eq!(
        fleet
            .revert_point(DEVICE, "shedState")
            .await
            .unwrap()
            .outcome,
        WriteOutcome::Confirmed
    );
    assert_eq!(shed_of(&api, 0), None);
    // shedState=1 again uses the stored limit: reverting the shed kept the intent.
    set(&fleet, "shedState", json!(1)).await.unwrap();
    let outcomes = outcomes(fleet.revert_device(DEVICE).await.unwrap());
    // Only the points written since start (issue 13 item 9): clearAlarms has a Starting Value
    // but was never written, so it is left alone. Forgetting the intent sends nothing.
    assert_eq!(
        outcomes,
        vec![
            ("shedState".to_string(), WriteOutcome::Confirmed),
            ("allowedLoad".to_string(), WriteOutcome::Stored),
        ]
    );
    assert_eq!(shed_of(&api, 0), None);
    // Before the first write no limit was in force (getLoad's 0 kW on an unshed port is not a
    // cap), so allowedLoad reverted to no intent: a shed is refused, not applied at 0 kW.
    let error = set(&fleet, "shedState", json!(1)).await.unwrap_err();
    assert_eq!(error.status_hint(), 409, "{error}");
    assert_eq!(shed_of(&api, 0), None);
}

#[tokio::test(start_paused = true)]
async fn revert_restores_a_limit_that_was_in_force_before_the_first_write() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.with_station(&station_id(0), |s| {
        s.ports.get_mut(&PortNumber(1)).unwrap().shed = Some(ShedLimit::AllowedLoad(2.0));
    });
    let fleet = started(&api, 1).await;
    set(&fleet, "allowedLoad", json!(4.0)).await.unwrap();
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(4.0)));
    fleet.revert_point(DEVICE, "allowedLoad").await.unwrap();
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(2.0)));
}
