//! The simulator's HTTP server: the SOAP endpoint, its WSDL, and the admin endpoint, on one
//! loopback listener.
//!
//! Routes:
//! - `POST /webservices/chargepoint/services/5.0` (and `POST /`): the nine SOAP operations.
//! - `GET /webservices/chargepoint/services/5.0?wsdl` (and `GET /?wsdl`): the 5.0 WSDL, its
//!   `soap:address` pointing at this server.
//! - `/admin/…`: JSON control and inspection, see [`super::admin`].
//!
//! Connections are served by our own accept loop over hyper rather than `axum::serve`, because
//! the `reset` fault must close a connection without any response: the handler marks its
//! response with [`ResetConnection`], and the connection's service turns that into an error,
//! on which hyper drops the connection unanswered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use cp_registry::ApiMethod;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use super::admin;
use super::calls::{Arrival, CallLog};
use super::clock::SimClock;
use super::faults::{FaultKind, FaultRule, FaultTable};
use super::fleet::SimFleet;
use super::layout::SimFleetConfig;
use super::state::{locked, SimState};
use super::SimError;
use crate::soap::envelope::{
    AUTH_FAULT_CODE, AUTH_FAULT_TEXT, CLIENT_FAULT_CODE, SERVER_FAULT_CODE,
};
use crate::soap::{
    read_request, soap_action, write_fault, write_response, Outcome, Request, RequestError,
    Response as SoapResponse,
};

/// The path the real service answers on.
pub const SOAP_PATH: &str = "/webservices/chargepoint/services/5.0";

/// Largest request body read: a SOAP request is a few KiB; anything near this is abuse.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Most connections served at once; the accept loop waits for a slot beyond this.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a client may take to send its request head and body, and how long an admin call
/// may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open connections get to finish on shutdown before they are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The WSDL served on `?wsdl`; its `soap:address` is rewritten to the server's own URL.
const WSDL: &str = include_str!("wsdl/cp_api_5.0.wsdl");
const WSDL_ADDRESS: &str =
    "https://webservices.chargepoint.com/webservices/chargepoint/services/5.0";

/// Everything that configures one simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub fleet: SimFleetConfig,
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Simulated seconds per real second; 0 freezes time (step it with `/admin/advance`).
    pub time_scale: f64,
    /// Fault rules in force from the start.
    pub faults: Vec<FaultRule>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            fleet: SimFleetConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            time_scale: 1.0,
            faults: Vec::new(),
        }
    }
}

/// A running simulator. Dropping it stops the server; [`SimHandle::shutdown`] also waits for it.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    /// Owned accept loop; it owns every connection task in turn.
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SOAP endpoint URL, e.g. `http://127.0.0.1:40123/webservices/chargepoint/services/5.0`.
    pub fn endpoint(&self) -> String {
        self.state.endpoint.clone()
    }

    /// The admin endpoint's base URL, e.g. `http://127.0.0.1:40123/admin`.
    pub fn admin_url(&self) -> String {
        format!("http://{}/admin", self.addr)
    }

    /// The shared state, for in-process tests.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Stops accepting, lets open connections finish briefly, and waits for the server task.
    pub async fn shutdown(mut self) {
        self.state.shutdown.cancel();
        if let Some(task) = self.task.take() {
            // A join error means the task panicked or was aborted: it is stopped either way.
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts a simulator and returns once it is listening.
///
/// # Errors
/// [`SimError::InvalidConfig`] for a fleet the naming scheme cannot hold, [`SimError::Bind`]
/// when the address cannot be bound.
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    config.fleet.validate().map_err(SimError::InvalidConfig)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let mut faults = FaultTable::new(config.fleet.seed);
    for rule in config.faults {
        faults.add(rule).map_err(SimError::Fault)?;
    }
    // Simulating the history before `start` is CPU work proportional to the fleet: off the runtime.
    let fleet_config = config.fleet.clone();
    let fleet = tokio::task::spawn_blocking(move || SimFleet::new(&fleet_config))
        .await
        .map_err(|_| SimError::FleetBuild)?;
    let state = Arc::new(SimState {
        fleet: Mutex::new(fleet),
        clock: SimClock::new(config.fleet.start, config.time_scale),
        faults: Mutex::new(faults),
        calls: Mutex::new(CallLog::default()),
        endpoint: format!("http://{addr}{SOAP_PATH}"),
        shutdown: CancellationToken::new(),
    });
    let task = tokio::spawn(serve(
        listener,
        router(state.clone()),
        state.shutdown.clone(),
    ));
    tracing::info!(endpoint = %state.endpoint, "ChargePoint simulator listening");
    Ok(SimHandle {
        addr,
        state,
        task: Some(task),
    })
}

/// The whole HTTP API: SOAP endpoint, WSDL and admin routes. Tests may drive it with `oneshot`
/// (the `reset` fault then shows as an empty response marked [`ResetConnection`]).
pub fn router(state: Arc<SimState>) -> Router {
    let soap = Router::new()
        .route(SOAP_PATH, post(soap_call).get(wsdl))
        .route("/", post(soap_call).get(wsdl))
        .layer(RequestBodyTimeoutLayer::new(REQUEST_TIMEOUT));
    soap.nest(
        "/admin",
        admin::router().layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        )),
    )
    .with_state(state)
}

/// Marks a response that must not be sent: the connection is dropped instead.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

/// The error that makes hyper drop a connection unanswered.
#[derive(Debug, thiserror::Error)]
#[error("simulated connection reset")]
struct ResetError;

/// The accept loop: one owned task per connection, at most [`MAX_CONNECTIONS`], all stopped
/// through `shutdown`.
async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so the set stays as small as the open ones.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service =
                tower::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        let response: Response = match router.oneshot(request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        };
                        if response.extensions().get::<ResetConnection>().is_some() {
                            Err(ResetError)
                        } else {
                            Ok(response)
                        }
                    }
                });
            let mut builder = hyper::server::conn::http1::Builder::new();
            // An idle or trickling client gives up its slot instead of holding it forever.
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT);
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "simulator connection ended");
                    }
                }
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
                }
            }
        });
    }
    connections.shutdown().await;
}

#[derive(Debug, Deserialize)]
struct WsdlQuery {
    wsdl: Option<String>,
}

/// `GET ?wsdl`: the WSDL pointing at this server.
async fn wsdl(State(state): State<Arc<SimState>>, query: Query<WsdlQuery>) -> Response {
    if query.wsdl.is_none() {
        return (
            StatusCode::NOT_FOUND,
            "POST SOAP requests here; GET ?wsdl for the WSDL\n",
        )
            .into_response();
    }
    let body = WSDL.replace(WSDL_ADDRESS, &state.endpoint);
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// One SOAP call: read, log, inject faults, authenticate, answer.
async fn soap_call(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return fault(
                CLIENT_FAULT_CODE,
                &format!("the request body is unreadable or larger than {MAX_REQUEST_BYTES} bytes"),
            )
        }
    };
    let parsed = read_request(&bytes);
    let method = match &parsed {
        Ok((request, _)) => Some(request.method()),
        Err(RequestError::Invalid { method, .. }) => Some(*method),
        Err(_) => None,
    };
    let username = parsed
        .as_ref()
        .ok()
        .and_then(|(_, token)| token.as_ref())
        .map(|t| t.username.clone());
    let decision = locked(&state.faults).decide(method);
    locked(&state.calls).record(Arrival {
        at: state.clock.now(),
        request: parsed.as_ref().ok().map(|(r, _)| r),
        method: method.map(ApiMethod::name),
        account: username.as_deref(),
        fault: decision.action.as_ref().map(fault_label),
        body: &bytes,
    });
    if !decision.delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(decision.delay) => {}
            _ = state.shutdown.cancelled() => return reset(),
        }
    }
    match decision.action {
        None => xml(answer(&state, &headers, parsed)),
        Some(action) => injected(&state, &headers, parsed, method, action).await,
    }
}

/// A status and an XML body.
type Reply = (StatusCode, Vec<u8>);

/// What `read_request` made of a body.
type Parsed = Result<(Request, Option<crate::soap::UsernameToken>), RequestError>;

/// The normal answer to a request.
fn answer(state: &SimState, headers: &HeaderMap, parsed: Parsed) -> Reply {
    let (request, token) = match parsed {
        Ok(ok) => ok,
        Err(error) => {
            let status = match error {
                RequestError::Invalid { .. } => StatusCode::OK,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return (status, error.to_reply());
        }
    };
    let method = request.method();
    if let Some(action) = headers.get("soapaction") {
        let sent = action.to_str().unwrap_or("").trim().trim_matches('"');
        let expected = soap_action(method);
        if !sent.is_empty() && sent != expected.trim_matches('"') {
            return fault_reply(
                CLIENT_FAULT_CODE,
                &format!("SOAPAction '{sent}' does not match the operation <{method}>"),
            );
        }
    }
    let response = state.with_fleet(|fleet| {
        let account = token
            .as_ref()
            .and_then(|t| fleet.authenticate(&t.username, t.password.expose()))?;
        Some(fleet.answer(account, &request))
    });
    match response {
        Some(response) => (StatusCode::OK, write_response(&response)),
        None => fault_reply(AUTH_FAULT_CODE, AUTH_FAULT_TEXT),
    }
}

/// The answer a fault rule dictates.
async fn injected(
    state: &SimState,
    headers: &HeaderMap,
    parsed: Parsed,
    method: Option<ApiMethod>,
    action: FaultKind,
) -> Response {
    match action {
        // Handled before: latency rules only delay.
        FaultKind::Latency { .. } => xml(answer(state, headers, parsed)),
        FaultKind::Hang => {
            state.shutdown.cancelled().await;
            reset()
        }
        FaultKind::Reset => reset(),
        FaultKind::HttpStatus { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let text = if body {
                format!(
                    "{} {}\n",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("Error")
                )
            } else {
                String::new()
            };
            (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
        }
        FaultKind::TooManyRequests { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
        )
            .into_response(),
        FaultKind::Truncated => {
            let (status, mut body) = answer(state, headers, parsed);
            body.truncate(body.len() / 2);
            xml((status, body))
        }
        FaultKind::Malformed => xml((
            StatusCode::OK,
            format!(
                "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><{0}Response><responseCode>100</responseText>&sim;<</soap:Body>",
                method.map_or("unknown", ApiMethod::name)
            )
            .into_bytes(),
        )),
        FaultKind::SoapFault { code, text } => fault(&code, &text),
        FaultKind::AuthFault => fault(AUTH_FAULT_CODE, AUTH_FAULT_TEXT),
        FaultKind::ResponseCode { code, text } => match method {
            Some(method) => xml((
                StatusCode::OK,
                write_response(&SoapResponse::empty(method, Outcome::new(&code, text))),
            )),
            None => fault(SERVER_FAULT_CODE, &text),
        },
    }
}

/// A short label of a fault kind for the call log.
fn fault_label(kind: &FaultKind) -> String {
    match kind {
        FaultKind::Latency { .. } => "latency",
        FaultKind::Hang => "hang",
        FaultKind::HttpStatus { .. } => "http_status",
        FaultKind::TooManyRequests { .. } => "http429",
        FaultKind::Reset => "reset",
        FaultKind::Truncated => "truncated",
        FaultKind::Malformed => "malformed",
        FaultKind::SoapFault { .. } => "fault",
        FaultKind::ResponseCode { .. } => "response_code",
        FaultKind::AuthFault => "auth",
    }
    .to_string()
}

fn xml((status, body): Reply) -> Response {
    let mut response = (status, Bytes::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

/// A SOAP Fault, HTTP 500 as SOAP 1.1 prescribes.
fn fault_reply(code: &str, text: &str) -> Reply {
    (StatusCode::INTERNAL_SERVER_ERROR, write_fault(code, text))
}

fn fault(code: &str, text: &str) -> Response {
    xml(fault_reply(code, text))
}

fn reset() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(ResetConnection);
    response
}
