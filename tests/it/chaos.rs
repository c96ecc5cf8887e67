//! Fault injection end to end: each fault the simulator can inject reaches the real SOAP
//! client as the matching typed `SoapError`, rules expire and fire as configured, and a hung
//! answer neither outlives the client's deadline nor the server's shutdown.

use std::time::{Duration, Instant};

use crate::util::sim::{self as sim_util, add_fault, admin_get, client, start_sim};
use chargepoint_supervisor::sim::{self, FaultRule, SimConfig, SimFleetConfig};
use cp_actors::{ChargePointApi, ErrorKind, LoadQuery, SoapError, StationsQuery};
use cp_registry::{GroupId, StationId};

/// Client deadline for these tests: long enough for loopback, short enough for hang tests.
const SHORT: Duration = Duration::from_millis(300);

fn load_query() -> LoadQuery {
    LoadQuery::Station(StationId::new("1:10001"))
}

/// Injects `spec` (which must apply once) and returns the error the next getLoad gets; checks
/// that the call after it succeeds again.
async fn one_faulty_get_load(spec: &str) -> SoapError {
    let sim = start_sim(SimFleetConfig::generate(2, 2, 1)).await;
    let api = client(&sim, 1, Duration::from_secs(5));
    add_fault(&sim, spec).await;
    let err = api
        .get_load(&load_query())
        .await
        .expect_err("the fault applies");
    api.get_load(&load_query())
        .await
        .unwrap_or_else(|e| panic!("{spec}: the fault applied more than once: {e}"));
    let calls = admin_get(&sim, "calls").await;
    assert_eq!(calls["by_method"]["getLoad"], 2, "{spec}");
    sim.shutdown().await;
    err
}

#[tokio::test]
async fn http_500_without_a_fault_body_is_http_status() {
    for spec in ["getLoad=http500:next=1", "getLoad=http500:body:next=1"] {
        let err = one_faulty_get_load(spec).await;
        assert!(
            matches!(err, SoapError::HttpStatus { status: 500, .. }),
            "{spec}: {err:?}"
        );
    }
}

#[tokio::test]
async fn http_429_is_rate_limited_with_retry_after() {
    let err = one_faulty_get_load("getLoad=http429:5s:next=1").await;
    assert!(
        matches!(
            err,
            SoapError::RateLimited {
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(5)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn truncated_and_malformed_answers_are_malformed() {
    for spec in ["getLoad=truncated:next=1", "getLoad=malformed:next=1"] {
        let err = one_faulty_get_load(spec).await;
        assert_eq!(err.kind(), ErrorKind::Malformed, "{spec}: {err:?}");
    }
}

#[tokio::test]
async fn soap_fault_keeps_code_and_text() {
    let err = one_faulty_get_load("getLoad=fault:soap:Server,Database down:next=1").await;
    assert_eq!(
        err.to_string(),
        "getLoad: SOAP fault soap:Server: Database down"
    );
}

#[tokio::test]
async fn response_codes_map_to_plan_rights_rate_limit_and_invalid_input() {
    let err = one_faulty_get_load("getLoad=plan-rights:next=1").await;
    assert!(
        matches!(err, SoapError::PlanRights { ref code, .. } if code == "101"),
        "{err:?}"
    );
    let err = one_faulty_get_load("getLoad=rate-limited:next=1").await;
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err:?}");
    let err = one_faulty_get_load("getLoad=code:120,Bad station list:next=1").await;
    assert_eq!(
        err.to_string(),
        "getLoad: invalid input (responseCode 120: Bad station list)"
    );
}

#[tokio::test]
async fn injected_auth_fault_is_auth() {
    let err = one_faulty_get_load("getLoad=auth:next=1").await;
    assert_eq!(
        err.to_string(),
        "getLoad: authentication failed: UsernameToken processing failed"
    );
}

#[tokio::test]
async fn connection_reset_is_connect() {
    let err = one_faulty_get_load("getLoad=reset:next=1").await;
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
}

#[tokio::test]
async fn latency_slows_the_answer_or_times_it_out() {
    let sim = start_sim(SimFleetConfig::generate(2, 2, 1)).await;
    let api = client(&sim, 1, SHORT);
    add_fault(&sim, "getLoad=latency:150ms:next=1").await;
    let started = Instant::now();
    api.get_load(&load_query())
        .await
        .expect("slow but answered");
    assert!(started.elapsed() >= Duration::from_millis(150));

    add_fault(&sim, "getLoad=latency:2s:next=1").await;
    let err = api.get_load(&load_query()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    // Latency on one method leaves the others alone.
    add_fault(&sim, "getLoad=latency:2s").await;
    api.get_stations(&StationsQuery::default())
        .await
        .expect("getStations is not delayed");
}

#[tokio::test]
async fn hang_times_out_and_does_not_outlive_shutdown() {
    let sim = start_sim(SimFleetConfig::generate(2, 2, 1)).await;
    let api = client(&sim, 1, SHORT);
    add_fault(&sim, "*=hang").await;
    let started = Instant::now();
    let err = api.get_load(&load_query()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A second hung call is in flight when the server shuts down: shutdown still completes.
    let pending = tokio::spawn(async move { api.get_load(&load_query()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown does not wait for hung answers");
    let late = pending.await.expect("client task ends");
    assert!(late.is_err());
}

#[tokio::test]
async fn faults_given_at_start_apply_to_the_next_calls_only() {
    let mut config = SimConfig {
        fleet: SimFleetConfig::generate(2, 1, 1),
        time_scale: 0.0,
        ..SimConfig::default()
    };
    config.faults = vec![FaultRule::parse("getStations=http503:next=2").unwrap()];
    let sim = sim::start(config).await.unwrap();
    let api = client(&sim, 1, Duration::from_secs(5));
    for _ in 0..2 {
        let err = api
            .get_stations(&StationsQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(err, SoapError::HttpStatus { status: 503, .. }));
    }
    assert_eq!(
        api.get_stations(&StationsQuery::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(admin_get(&sim, "faults").await, serde_json::json!([]));
}

#[tokio::test]
async fn probabilistic_faults_are_repeatable_with_the_seed() {
    async fn pattern() -> Vec<bool> {
        let sim = start_sim(SimFleetConfig::generate(2, 1, 1)).await;
        let api = client(&sim, 1, Duration::from_secs(5));
        add_fault(&sim, "getLoad=http503:p=0.5").await;
        let mut failed = Vec::new();
        for _ in 0..30 {
            failed.push(
                api.get_load(&LoadQuery::Group(GroupId(1000)))
                    .await
                    .is_err(),
            );
        }
        failed
    }
    let first = pattern().await;
    assert_eq!(first, pattern().await);
    let failures = first.iter().filter(|f| **f).count();
    assert!(
        (5..=25).contains(&failures),
        "{failures} of 30 failed at p=0.5"
    );
}

#[tokio::test]
async fn bad_fault_specs_are_refused_with_the_reason() {
    let sim = start_sim(SimFleetConfig::generate(1, 1, 1)).await;
    let response = sim_util::http()
        .post(format!("{}/faults", sim.admin_url()))
        .header("Content-Type", "application/json")
        .body(r#"{"spec": "getLoad=latency"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"fault 'getLoad=latency': latency needs a duration, e.g. latency:250ms"}"#
    );
}
