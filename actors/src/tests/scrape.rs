//! Scrape schedule and publishes.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_scrape_publishes_the_volttron_all_message_and_toggles_the_heartbeat() {
    let api = Arc::new(FakeApi::new(1, 2, 1));
    let fleet = start(&api, 1).await;
    let mut rx = fleet.subscribe();
    let first = next_publish_of(&mut rx, DEVICE).await;
    let second = next_publish_of(&mut rx, DEVICE).await;
    assert_eq!(first.topic, "devices/campus/bldg/1000/all");
    let body = serde_json::to_value(&first.message).unwrap();
    assert_eq!(body[0]["Status"], "AVAILABLE");
    assert_eq!(body[0]["shedState"], 0);
    assert_eq!(body[0]["portLoad"], 0.0);
    assert_eq!(
        body[1]["portLoad"],
        json!({"type": "float", "units": "kW", "tz": "UTC"})
    );
    assert!(chrono::DateTime::parse_from_rfc3339(&first.headers.date).is_ok());
    assert_eq!(first.headers.date, first.headers.timestamp);
    let beat = |p: &Publish| p.message.values.get("heartbeat").cloned();
    assert_ne!(beat(&first), beat(&second));
    assert!(matches!(beat(&first), Some(PointValue::Int(0 | 1))));
}

#[tokio::test(start_paused = true)]
async fn a_fleet_scrapes_together_with_one_round_of_calls_per_method() {
    // Twelve stations in six groups of two.
    let api = Arc::new(FakeApi::new(12, 1, 2));
    let fleet = start(&api, 12).await;
    let mut rx = fleet.subscribe();
    let origin = tokio::time::Instant::now();
    let mut publishes = std::collections::BTreeMap::<String, Vec<u64>>::new();
    while publishes.values().map(Vec::len).min().unwrap_or(0) < 2 || publishes.len() < 12 {
        let publish = next_publish(&mut rx).await;
        publishes
            .entry(publish.device)
            .or_default()
            .push(origin.elapsed().as_secs());
    }
    let firsts: Vec<u64> = publishes.values().map(|t| t[0]).collect();
    let seconds: Vec<u64> = publishes.values().map(|t| t[1]).collect();
    assert!(firsts.iter().all(|t| *t == firsts[0]), "{firsts:?}");
    // On the fleet's next tick, 60 s after start, plus the round's calls.
    assert!(
        seconds.iter().all(|t| *t == seconds[0]) && (60..70).contains(&seconds[0]),
        "{seconds:?}"
    );
    let first_minute = |method| {
        api.calls_of(method)
            .into_iter()
            .filter(|c| c.at.duration_since(origin) < Duration::from_secs(60))
            .map(|c| c.detail)
            .collect::<Vec<_>>()
    };
    let status = first_minute(ApiMethod::GetStationStatus);
    assert_eq!(status.len(), 1, "{status:?}");
    let loads = first_minute(ApiMethod::GetLoad);
    assert_eq!(loads.len(), 6, "one per group: {loads:?}");
    assert!(loads.iter().all(|d| d.starts_with("Group(")), "{loads:?}");
    for method in [ApiMethod::GetStations, ApiMethod::GetAlarms] {
        assert_eq!(first_minute(method).len(), 1, "{method}");
    }
}

/// When getLoad and getStationStatus are called over ten scrapes a minute apart, with the
/// device's `cacheExpiration` set to `cache`.
async fn call_times(cache: Option<Duration>) -> Vec<(ApiMethod, Vec<u64>)> {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let mut spec = spec(1);
    spec.station_sets[0].cache_expiration = cache;
    let fleet = start_with(&api, spec, options()).await;
    let mut rx = fleet.subscribe();
    let origin = tokio::time::Instant::now();
    let mut scrapes = Vec::new();
    while scrapes.len() < 10 {
        next_publish_of(&mut rx, DEVICE).await;
        scrapes.push(origin.elapsed().as_secs());
    }
    assert_eq!(scrapes, (0..10).map(|n| n * 60).collect::<Vec<_>>());
    [ApiMethod::GetLoad, ApiMethod::GetStationStatus]
        .into_iter()
        .map(|method| {
            let at = api.calls_of(method).into_iter();
            (
                method,
                at.map(|c| c.at.duration_since(origin).as_secs()).collect(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_scrape_reads_fresh_data_without_cache_expiration() {
    let every_minute: Vec<u64> = (0..10).map(|n| n * 60).collect();
    for (method, at) in call_times(None).await {
        assert_eq!(at, every_minute, "{method:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn cache_expiration_spaces_out_the_calls_but_not_the_scrapes() {
    for (method, at) in call_times(Some(Duration::from_secs(180))).await {
        assert_eq!(at, vec![0, 180, 360, 540], "{method:?}");
    }
    // Between two ticks, the later one: never sooner than cacheExpiration allows.
    for (method, at) in call_times(Some(Duration::from_secs(90))).await {
        assert_eq!(at, vec![0, 120, 240, 360, 480], "{method:?}");
    }
}

/// A registry with no load point and no getStations point: the station never calls
/// getStations (there is no group to learn and no point to fill).
#[tokio::test(start_paused = true)]
async fn get_stations_is_not_called_when_no_point_or_group_needs_it() {
    let csv = "\
Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes
Status,Status,StationStatusRegister,1,string,,,FALSE,
alarmType,alarmType,AlarmRegister,,string,,,FALSE,
";
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let fleet = start_with(&api, spec_with(csv, 1), options()).await;
    let mut rx = fleet.subscribe();
    for _ in 0..3 {
        next_publish_of(&mut rx, DEVICE).await;
    }
    assert!(api.calls_of(ApiMethod::GetStations).is_empty());
    assert_eq!(api.calls_of(ApiMethod::GetStationStatus).len(), 3);
    fleet.shutdown().await;
}

/// A point with a longer Scrape Interval than the device's is in every publish its interval
/// has come round for, and only those: here alarmType every third minute, Status every minute.
#[tokio::test(start_paused = true)]
async fn a_point_publishes_at_its_own_scrape_interval() {
    let csv = "\
Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes,Scrape Interval,Data Currency
Status,Status,StationStatusRegister,1,string,,,FALSE,,60,60
alarmType,alarmType,AlarmRegister,,string,,,FALSE,,180,180
";
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let fleet = start_with(&api, spec_with(csv, 1), options()).await;
    let mut rx = fleet.subscribe();
    let mut carried = Vec::new();
    for _ in 0..7 {
        let publish = next_publish_of(&mut rx, DEVICE).await;
        let has = |point: &str| publish.message.values.contains_key(point);
        assert!(has("Status"), "Status is in every publish");
        carried.push(has("alarmType"));
    }
    assert_eq!(
        carried,
        [true, false, false, true, false, false, true],
        "alarmType in the publishes of minutes 0 to 6"
    );
    fleet.shutdown().await;
}

/// One started station whose gateway retries for the default minute, as in production.
async fn retrying_a_minute(api: &Arc<FakeApi>) -> Fleet {
    let options = FleetOptions {
        gateway: GatewayOptions::default(),
        ..options()
    };
    let fleet = start_with(api, spec(1), options).await;
    fleet.scrape_all(DEVICE).await.expect("first scrape");
    fleet
}

#[tokio::test(start_paused = true)]
async fn a_hanging_method_withholds_only_its_points_and_the_scrape_publishes_on_time() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let fleet = retrying_a_minute(&api).await;
    let mut rx = fleet.subscribe();
    api.set_method_latency(ApiMethod::GetLoad, Duration::from_secs(100));
    let tick = tokio::time::Instant::now();
    let publish = next_publish_of(&mut rx, DEVICE).await;
    let late = tick.elapsed();
    assert!(
        late <= Duration::from_secs(61 + 10),
        "published after {late:?}"
    );
    let names: Vec<&str> = publish.message.values.keys().map(String::as_str).collect();
    assert!(names.contains(&"Status"), "{names:?}");
    for withheld in ["portLoad", "shedState", "allowedLoad", "percentShed"] {
        assert!(
            !names.contains(&withheld),
            "{withheld} published: {names:?}"
        );
    }
    // The publish's headers say what is left out and why.
    let failure = &publish.headers.failures["getLoad"];
    assert_eq!(failure.failure.kind, FailureKind::Late);
    assert_eq!(
        failure.withheld,
        ["shedState", "portLoad", "allowedLoad", "percentShed"]
    );
    let health = fleet.health().await.unwrap();
    let station = &health.stations[0];
    assert!(!station.device.up);
    assert_eq!(station.device.state, Liveness::Degraded);
    assert_eq!(health.stations_degraded, 1);
    assert_eq!(station.failures["getLoad"].kind, FailureKind::Late);
    assert_eq!(
        station.failures["getLoad"].text,
        "getLoad: no answer after 10 s; still waiting for it"
    );
    // The fault clears: the hung attempt times out (30 s after it was sent), the retry
    // answers, and its points are published at once, not at the next tick.
    api.set_method_latency(ApiMethod::GetLoad, Duration::ZERO);
    let publish = next_publish_of(&mut rx, DEVICE).await;
    let recovered = tick.elapsed();
    assert!(
        publish.message.values.contains_key("portLoad"),
        "{:?}",
        publish.message.values.keys()
    );
    assert!(publish.headers.failures.is_empty());
    assert!(
        recovered < Duration::from_secs(60 + 40),
        "recovered after {recovered:?}, at the next tick or later"
    );
    assert!(fleet.health().await.unwrap().stations[0].device.up);
}

#[tokio::test(start_paused = true)]
async fn a_retried_call_names_its_error_within_the_scrape_and_recovers_at_once() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let fleet = retrying_a_minute(&api).await;
    let mut rx = fleet.subscribe();
    api.always_fail(ApiMethod::GetLoad, Fail::Http(503));
    let tick = tokio::time::Instant::now();
    let publish = next_publish_of(&mut rx, DEVICE).await;
    assert!(tick.elapsed() <= Duration::from_secs(61 + 10));
    assert!(!publish.message.values.contains_key("portLoad"));
    let failure = &fleet.health().await.unwrap().stations[0].failures["getLoad"];
    assert_eq!(failure.kind, FailureKind::Late);
    assert_eq!(
        failure.text,
        "getLoad: no answer after 10 s; retrying after: getLoad: HTTP status 503"
    );
    api.heal(ApiMethod::GetLoad);
    let publish = next_publish_of(&mut rx, DEVICE).await;
    assert!(publish.message.values.contains_key("portLoad"));
    // The next retry, at most 15 s on, not the next tick.
    assert!(
        tick.elapsed() < Duration::from_secs(60 + 10 + 16),
        "recovered after {:?}",
        tick.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_impossible_number_withholds_its_point_only_and_reads_as_a_typed_error() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let fleet = started(&api, 1).await;
    let mut rx = fleet.subscribe();
    let reason = "<portLoad> is NaN, outside its physical range 0..=1000 kW";
    api.with_station(&station_id(0), |s| {
        s.refused.push(RefusedValue {
            element: "portLoad".into(),
            port: Some(PortNumber(1)),
            reason: reason.into(),
        });
    });
    let publish = next_publish_of(&mut rx, DEVICE).await;
    let names: Vec<&str> = publish.message.values.keys().map(String::as_str).collect();
    assert!(!names.contains(&"portLoad"), "{names:?}");
    assert!(names.contains(&"shedState"), "{names:?}");
    let err = fleet.get_point(DEVICE, "portLoad").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("device {DEVICE}: point portLoad: getLoad failed (impossible_value): {reason}")
    );
    // One bad number is not an outage: the station is up and the rest of getLoad reads.
    let health = fleet.health().await.unwrap();
    assert!(health.stations[0].device.up, "{health:?}");
    assert!(fleet.get_point(DEVICE, "shedState").await.is_ok());
    // The next good answer brings the point back.
    api.with_station(&station_id(0), |s| s.refused.clear());
    let publish = next_publish_of(&mut rx, DEVICE).await;
    assert!(publish.message.values.contains_key("portLoad"));
}

/// With a 10 s interval, the gateway's retries and attempt deadline fit the tick: once a hang
/// clears, the withheld points are back within one interval (with the minute's 15 s retry
/// spacing and 30 s deadline, it took up to 45 s).
#[tokio::test(start_paused = true)]
async fn after_a_hang_clears_data_is_fresh_within_one_short_interval() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let mut spec = spec(1);
    spec.station_sets[0].interval = Duration::from_secs(10);
    let options = FleetOptions {
        gateway: GatewayOptions::default(),
        ..options()
    };
    let fleet = start_with(&api, spec, options).await;
    fleet.scrape_all(DEVICE).await.expect("first scrape");
    let mut rx = fleet.subscribe();
    api.set_method_latency(ApiMethod::GetLoad, Duration::from_secs(1000));
    // Long enough for the retries to reach their widest spacing.
    tokio::time::sleep(Duration::from_secs(50)).await;
    let publish = next_publish_of(&mut rx, DEVICE).await;
    assert!(!publish.message.values.contains_key("portLoad"));
    api.set_method_latency(ApiMethod::GetLoad, Duration::ZERO);
    let cleared = tokio::time::Instant::now();
    loop {
        let publish = next_publish_of(&mut rx, DEVICE).await;
        if publish.message.values.contains_key("portLoad") {
            break;
        }
    }
    assert!(
        cleared.elapsed() <= Duration::from_secs(10),
        "fresh data {:?} after the hang cleared",
        cleared.elapsed()
    );
}

/// A gateway that takes every read and never answers: it keeps each one (so none is dropped
/// and the station is never told) and passes on which method was asked.
struct SilentGateway;

impl ractor::Actor for SilentGateway {
    type Msg = crate::gateway::GatewayMessage;
    type State = (
        Vec<crate::gateway::GatewayMessage>,
        tokio::sync::mpsc::UnboundedSender<ApiMethod>,
    );
    type Arguments = tokio::sync::mpsc::UnboundedSender<ApiMethod>;

    async fn pre_start(
        &self,
        _: ractor::ActorRef<Self::Msg>,
        asked: Self::Arguments,
    ) -> Result<Self::State, ractor::ActorProcessingErr> {
        Ok((Vec::new(), asked))
    }

    async fn handle(
        &self,
        _: ractor::ActorRef<Self::Msg>,
        message: Self::Msg,
        (kept, asked): &mut Self::State,
    ) -> Result<(), ractor::ActorProcessingErr> {
        if let crate::gateway::GatewayMessage::Read { request, .. } = &message {
            let _ = asked.send(request.method());
        }
        kept.push(message);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_poll_the_gateway_never_answers_is_given_up_and_asked_again() {
    let (asked_tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    let (silent, _) = ractor::Actor::spawn(None, SilentGateway, asked_tx)
        .await
        .unwrap();
    let account = AccountId("acct".into());
    let gateway = crate::gateway::GatewayHandle {
        account,
        actor: silent,
        retrying: Arc::default(),
    };
    let options = options();
    let device = spec(1).station_sets[0].listed_devices().remove(0);
    let (publisher, _) = broadcast::channel(16);
    let (_station, _) = ractor::Actor::spawn(
        None,
        crate::station::StationActor,
        crate::station::StationArguments {
            device: Arc::new(device),
            epoch: tokio::time::Instant::now(),
            gateway,
            options: Arc::new(options.clone()),
            publisher,
            writes: crate::WriteLog::default(),
            tally: Arc::default(),
        },
    )
    .await
    .unwrap();

    let started = tokio::time::Instant::now();
    let first = asked.recv().await.unwrap();
    // Nothing answers; the station asks for `first` again once it gives the poll up, at the
    // first tick after the longest a gateway call can take.
    let again = loop {
        let method = tokio::time::timeout(Duration::from_secs(600), asked.recv())
            .await
            .expect("asked again within ten minutes")
            .unwrap();
        if method == first {
            break started.elapsed();
        }
    };
    let wait = options.gateway_wait();
    assert!(
        again > wait,
        "{first} asked again after {again:?}, before {wait:?}"
    );
    assert!(
        again <= wait + Duration::from_secs(60),
        "{first} asked again after {again:?}, more than a tick after {wait:?}"
    );
}
