//! The admin endpoint: JSON control and inspection of a running simulator, served under
//! `/admin` on the same listener as the SOAP endpoint (it needs no credentials: the simulator
//! is a loopback test fixture).
//!
//! Routes are listed in the `sim` module doc.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cp_registry::{PortNumber, StationId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::faults::FaultSpecError;
use super::state::SimState;

/// Longest single step `POST /admin/advance` takes: a month of a large fleet is already
/// seconds of CPU, and a bigger step is surely a typo.
pub const MAX_ADVANCE_SECS: u64 = 31 * 24 * 3600;

pub(crate) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/", get(summary))
        .route("/calls", get(calls).delete(reset_calls))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/advance", post(advance))
        .route("/stations/{station}/ports/{port}", get(port))
}

/// Why an admin call was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    BadFault(#[from] FaultSpecError),
    #[error("station {station} has no port {port}")]
    UnknownPort { station: String, port: u16 },
    #[error("seconds must be 1..={MAX_ADVANCE_SECS}, got {0}")]
    BadAdvance(u64),
    #[error("advancing the simulated fleet failed")]
    StepFailed,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self {
            AdminError::BadFault(_) | AdminError::BadAdvance(_) => StatusCode::BAD_REQUEST,
            AdminError::UnknownPort { .. } => StatusCode::NOT_FOUND,
            AdminError::StepFailed => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    endpoint: String,
    now: chrono::DateTime<chrono::Utc>,
    stations: usize,
    accounts: Vec<AccountSummary>,
}

#[derive(Debug, Serialize)]
struct AccountSummary {
    username: String,
    plan: super::layout::Plan,
}

async fn summary(State(state): State<Arc<SimState>>) -> Json<Summary> {
    let (stations, accounts) = state.with_fleet(|fleet| (fleet.station_count(), fleet.accounts()));
    Json(Summary {
        endpoint: state.endpoint().to_string(),
        now: state.now(),
        stations,
        accounts: accounts
            .into_iter()
            .map(|(username, plan)| AccountSummary { username, plan })
            .collect(),
    })
}

async fn calls(State(state): State<Arc<SimState>>) -> impl IntoResponse {
    Json(state.calls())
}

async fn reset_calls(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset_calls();
    StatusCode::NO_CONTENT
}

async fn faults(State(state): State<Arc<SimState>>) -> impl IntoResponse {
    Json(state.faults())
}

#[derive(Debug, Deserialize)]
struct FaultBody {
    spec: String,
}

async fn add_fault(
    State(state): State<Arc<SimState>>,
    Json(body): Json<FaultBody>,
) -> Result<impl IntoResponse, AdminError> {
    let rule = state.add_fault(&body.spec)?;
    Ok((StatusCode::CREATED, Json(rule)))
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    state.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct AdvanceQuery {
    seconds: u64,
}

async fn advance(
    State(state): State<Arc<SimState>>,
    Query(query): Query<AdvanceQuery>,
) -> Result<impl IntoResponse, AdminError> {
    if !(1..=MAX_ADVANCE_SECS).contains(&query.seconds) {
        return Err(AdminError::BadAdvance(query.seconds));
    }
    // Catching the model up is CPU work proportional to the step: keep it off the runtime.
    let stepper = state.clone();
    let stepped =
        tokio::task::spawn_blocking(move || stepper.advance(Duration::from_secs(query.seconds)))
            .await;
    if stepped.is_err() {
        return Err(AdminError::StepFailed);
    }
    Ok(Json(json!({ "now": state.now() })))
}

async fn port(
    State(state): State<Arc<SimState>>,
    Path((station, port)): Path<(String, u16)>,
) -> Result<impl IntoResponse, AdminError> {
    state
        .port(&StationId::new(station.clone()), PortNumber(port))
        .map(Json)
        .ok_or(AdminError::UnknownPort { station, port })
}
