//! Helpers for tests that run the simulator: start one on loopback, build a client for one of
//! its accounts, and drive its admin endpoint over HTTP.

use std::time::Duration;

use chargepoint_supervisor::sim::{self, SimConfig, SimFleetConfig, SimHandle};
use chargepoint_supervisor::soap::{ClientConfig, SoapClient};
use cp_registry::Secret;

/// A simulator on a free loopback port with frozen time: it moves only when a test steps it.
pub async fn start_sim(fleet: SimFleetConfig) -> SimHandle {
    sim::start(SimConfig {
        fleet,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A client logged in as simulator account `k` (1-based) with a short deadline.
pub fn client(sim: &SimHandle, k: usize, timeout: Duration) -> SoapClient {
    client_as(
        sim,
        &format!("account{k}"),
        &format!("sim-password-{k}"),
        timeout,
    )
}

/// A client with any credentials.
pub fn client_as(sim: &SimHandle, user: &str, password: &str, timeout: Duration) -> SoapClient {
    let mut config = ClientConfig::new(sim.endpoint(), user, Secret::new(password));
    config.timeout = timeout;
    config.connect_timeout = Duration::from_secs(2);
    SoapClient::new(config).expect("client builds")
}

/// A plain HTTP client for raw SOAP and admin calls.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client builds")
}

/// `POST /admin/faults` with `spec`; panics unless the rule is accepted.
pub async fn add_fault(sim: &SimHandle, spec: &str) {
    let response = http()
        .post(format!("{}/faults", sim.admin_url()))
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "spec": spec }).to_string())
        .send()
        .await
        .expect("admin reachable");
    assert_eq!(response.status(), 201, "fault {spec} refused");
}

/// `POST /admin/advance?seconds=N`.
pub async fn advance(sim: &SimHandle, seconds: u64) {
    let response = http()
        .post(format!("{}/advance?seconds={seconds}", sim.admin_url()))
        .send()
        .await
        .expect("admin reachable");
    assert_eq!(response.status(), 200);
}

/// `GET /admin/<path>` as JSON (`""`: `GET /admin`).
pub async fn admin_get(sim: &SimHandle, path: &str) -> serde_json::Value {
    let url = match path {
        "" => sim.admin_url(),
        path => format!("{}/{path}", sim.admin_url()),
    };
    let text = http()
        .get(url)
        .send()
        .await
        .expect("admin reachable")
        .text()
        .await
        .expect("admin answers");
    serde_json::from_str(&text).expect("admin answers JSON")
}

/// POSTs a raw SOAP body to the simulator; returns the status and the body.
pub async fn post_raw(sim: &SimHandle, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = http()
        .post(sim.endpoint())
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("simulator answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body is text"))
}
