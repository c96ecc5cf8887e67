//! The per-station pattern, VOLTTRON's driver as it is: each station asks each method its
//! registry needs, every scrape, on its own.

use super::*;

/// Parent side: runs this binary with `--per-station-child` and measures it.
pub(super) async fn run(
    args: &Args,
    http: &reqwest::Client,
    sim: &Sim,
    stations: usize,
) -> Result<RunFigures, BenchError> {
    sim.reset_calls(http).await?;
    let mut command = this_binary("the per-station run")?;
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
