//! The client side of the device API: what `get`, `set`, `scrape`, `revert`, `write`,
//! `devices` and `health` send to a running supervisor, and how they show the answer.
//!
//! One function per concern: [`ApiClient::send`] turns a [`ClientRequest`] into one HTTP call
//! and returns the JSON answer; [`readable`] prints any JSON answer as indented `key: value`
//! lines, so the CLI does not depend on the exact shape of each answer.

use std::fmt::Write as _;
use std::time::Duration;

use cp_registry::Secret;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::body::{PointWrites, ValueBody};
use crate::config::{ClientConfig, ClientRequest};

/// How long to wait for the TCP connection to the supervisor: it is local, or it is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    #[error("cannot reach the supervisor at {base}")]
    Connect {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("no answer from the supervisor within {after:?}")]
    Timeout { after: Duration },
    #[error("request to the supervisor failed")]
    Transport(#[source] reqwest::Error),
    #[error("{message} (HTTP {status}, {kind})")]
    Api {
        status: u16,
        kind: String,
        message: String,
    },
    #[error("{failed} point(s) failed; see above")]
    PointsFailed { failed: usize },
    #[error("cannot write the answer")]
    Output(#[source] std::io::Error),
    #[error("the supervisor's answer (HTTP {status}) is not the API's JSON")]
    Decode {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
}

/// A connection to one supervisor's device API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: Url,
    token: Option<Secret>,
    timeout: Duration,
    http: reqwest::Client,
}

impl ApiClient {
    /// # Errors
    /// [`ClientError::Build`] when the TLS backend cannot start.
    pub fn new(config: &ClientConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.timeout)
            .build()
            .map_err(ClientError::Build)?;
        Ok(ApiClient {
            base: config.base.clone(),
            token: config.token.clone(),
            timeout: config.timeout,
            http,
        })
    }

    /// Sends one request and returns the API's JSON answer.
    ///
    /// # Errors
    /// Connection failure, timeout, an API error reply (with its status, kind and message) or an
    /// answer that is not JSON.
    pub async fn send(&self, request: &ClientRequest) -> Result<Value, ClientError> {
        let call = match request {
            ClientRequest::Devices => self.call(Method::GET, &["devices"]),
            ClientRequest::Write { id } => self.call(Method::GET, &["writes", &id.to_string()]),
            ClientRequest::Health => self.call(Method::GET, &["health"]),
            ClientRequest::Get { device, points } => match points.as_slice() {
                [point] => self.call(Method::GET, &device_path(device, &["points", point])),
                _ => {
                    let mut url = self.url(&device_path(device, &["points"]));
                    url.query_pairs_mut()
                        .append_pair("names", &points.join(","));
                    self.http.get(url)
                }
            },
            ClientRequest::Set { device, points } => match points.as_slice() {
                [(point, value)] => self
                    .write(Method::PUT, &device_path(device, &["points", point]))
                    .body(json_bytes(&ValueBody {
                        value: value.clone(),
                    })),
                _ => self
                    .write(Method::PUT, &device_path(device, &["points"]))
                    .body(json_bytes(&PointWrites::from(points.clone()).into_body())),
            },
            // A scrape spends the account's API quota: the API treats it as a write.
            ClientRequest::Scrape { device } => {
                self.write(Method::POST, &device_path(device, &["scrape"]))
            }
            ClientRequest::Revert {
                device,
                point: Some(point),
            } => self.write(
                Method::POST,
                &device_path(device, &["points", point, "revert"]),
            ),
            ClientRequest::Revert {
                device,
                point: None,
            } => self.write(Method::POST, &device_path(device, &["revert"])),
        };
        let response = call.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            status: status.as_u16(),
            source,
        })?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(api_error(status, &body))
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // A base URL with a path (`http://host/prefix`) keeps it; the API lives under `/api`.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("api").extend(segments);
        }
        url
    }

    fn call(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(segments))
    }

    /// A write: carries the bearer token when one is configured and a JSON content type.
    fn write(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        let request = self
            .call(method, segments)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    fn transport_error(&self, error: reqwest::Error) -> ClientError {
        if error.is_timeout() {
            ClientError::Timeout {
                after: self.timeout,
            }
        } else if error.is_connect() {
            ClientError::Connect {
                base: self.base.to_string(),
                source: error,
            }
        } else {
            ClientError::Transport(error)
        }
    }
}

/// `campus/building/unit` plus the operation's segments, each percent-encoded by `Url`.
fn device_path<'a>(device: &'a str, tail: &[&'a str]) -> Vec<&'a str> {
    let mut segments = vec!["devices"];
    segments.extend(device.split('/'));
    segments.extend_from_slice(tail);
    segments
}

fn json_bytes<T: serde::Serialize>(body: &T) -> Vec<u8> {
    // Serialising a struct of JSON values and strings into memory cannot fail.
    serde_json::to_vec(body).expect("JSON values serialise")
}

/// Reads the API's `{"error": {"kind", "message"}}`; anything else keeps the status only.
fn api_error(status: StatusCode, body: &Value) -> ClientError {
    let field = |name: &str| {
        body.pointer(&format!("/error/{name}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    ClientError::Api {
        status: status.as_u16(),
        kind: field("kind").map_or_else(|| "unknown".into(), |k| escape_controls(&k)),
        message: field("message").map_or_else(
            || {
                status
                    .canonical_reason()
                    .unwrap_or("unexpected status")
                    .into()
            },
            |m| escape_controls(&m),
        ),
    }
}

/// Runs one client command: sends `request` and prints the answer to `out`, readable or as
/// JSON (`--json`).
///
/// # Errors
/// Whatever [`ApiClient::send`] returns, or [`ClientError::Output`] when `out` fails.
pub async fn execute(
    config: &ClientConfig,
    request: &ClientRequest,
    out: &mut impl std::io::Write,
) -> Result<(), ClientError> {
    let answer = ApiClient::new(config)?.send(request).await?;
    let text = if config.json {
        // Serialising a `Value` into memory cannot fail.
        serde_json::to_string_pretty(&answer).expect("JSON values serialise") + "\n"
    } else {
        readable(&answer)
    };
    out.write_all(text.as_bytes())
        .map_err(ClientError::Output)?;
    match failed_points(&answer) {
        0 => Ok(()),
        failed => Err(ClientError::PointsFailed { failed }),
    }
}

/// Points of a multi-point answer that failed: each entry of `errors`, and each write whose
/// outcome is `failed` or `refused`.
fn failed_points(answer: &Value) -> usize {
    let errors = answer
        .get("errors")
        .and_then(Value::as_object)
        .map_or(0, |e| e.len());
    let outcomes = answer
        .get("points")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|points| points.values())
        .chain(std::iter::once(answer))
        .filter(|v| {
            matches!(
                v.get("outcome").and_then(Value::as_str),
                Some("failed" | "refused")
            )
        })
        .count();
    errors + outcomes
}

/// Any JSON answer as indented `key: value` lines; strings without quotes, null as `-`.
///
/// Three shapes read as one line: a point reading (`3.3 kW (at …)`), a write outcome
/// (`confirmed`, `failed: …`, `pending: …` naming the write and how to follow it up) and a
/// write's entry from the write log (`write 17: DEVICE POINT = VALUE: confirmed`).
pub fn readable(value: &Value) -> String {
    let mut out = String::new();
    if let Some(line) = write_record(value) {
        let _ = writeln!(out, "{line}");
        return out;
    }
    match (value.get("point").and_then(Value::as_str), compact(value)) {
        (Some(point), Some(line)) => {
            let _ = writeln!(out, "{}: {line}", escape_controls(point));
        }
        _ => write_readable(&mut out, value, 0),
    }
    out
}

/// A write's entry in the write log (`GET /api/writes/{id}`) as one line; `None` for any
/// other shape.
fn write_record(value: &Value) -> Option<String> {
    let id = value.get("write")?.as_u64()?;
    let device = escape_controls(value.get("device")?.as_str()?);
    let point = escape_controls(value.get("point")?.as_str()?);
    let written = match value.get("value") {
        None | Some(Value::Null) => "(revert)".to_string(),
        Some(v) => format!("= {}", scalar(v)),
    };
    let outcome = compact(value)?;
    let when = match value.get("settled_at").and_then(Value::as_str) {
        Some(at) => format!(" (at {})", escape_controls(at)),
        None => String::new(),
    };
    Some(format!(
        "write {id}: {device} {point} {written}: {outcome}{when}"
    ))
}

/// A reading or a write outcome as one line; `None` for any other shape.
fn compact(value: &Value) -> Option<String> {
    if let Some(outcome) = value.get("outcome").and_then(Value::as_str) {
        let write = value.get("write").and_then(Value::as_u64);
        let detail = match (outcome, write) {
            ("pending", Some(id)) if value.get("settled").is_none() => Some(format!(
                "not settled yet; `write {id}` shows its outcome (GET /api/writes/{id})"
            )),
            ("pending", _) => Some("not settled yet".to_string()),
            ("superseded", _) => value
                .get("by")
                .and_then(Value::as_u64)
                .map(|by| format!("write {by}, a later write of the point, replaced it")),
            _ => value
                .get("reason")
                .and_then(Value::as_str)
                .map(escape_controls),
        };
        let outcome = escape_controls(outcome);
        return Some(match detail {
            Some(detail) => format!("{outcome}: {detail}"),
            None => outcome,
        });
    }
    let reading = value.get("value")?;
    let units = escape_controls(value.pointer("/meta/units").and_then(Value::as_str)?);
    let at = escape_controls(
        value
            .get("timestamp")
            .and_then(Value::as_str)
            .unwrap_or("-"),
    );
    let value = scalar(reading);
    Some(match units.as_str() {
        "" => format!("{value} (at {at})"),
        // Registry units are free text ("0 or 1"): set apart, they don't read as the value.
        units if units.contains(' ') => format!("{value} [{units}] (at {at})"),
        units => format!("{value} {units} (at {at})"),
    })
}

fn write_readable(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let key = escape_controls(key);
                if let Some(line) = compact(value) {
                    let _ = writeln!(out, "{pad}{key}: {line}");
                } else if is_scalar(value) {
                    let _ = writeln!(out, "{pad}{key}: {}", scalar(value));
                } else {
                    let _ = writeln!(out, "{pad}{key}:");
                    write_readable(out, value, indent + 2);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_scalar(item) {
                    let _ = writeln!(out, "{pad}- {}", scalar(item));
                } else {
                    let _ = writeln!(out, "{pad}-");
                    write_readable(out, item, indent + 2);
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

fn is_scalar(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => true,
    }
}

/// One value on one line: a string as it is, a dictionary or list in full as JSON; control
/// characters escaped, since the text comes from ChargePoint and goes to a terminal.
fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => escape_controls(s),
        // JSON escapes the control characters in strings itself.
        other => other.to_string(),
    }
}

/// `text` with every control character (ESC, BEL, newline, …) written as a Rust escape
/// (`\u{1b}`, `\n`), so text from the service cannot move the cursor or recolour the
/// terminal, nor break the one-line layout.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn readable_nests_objects_and_lists() {
        let answer = json!({
            "device": "campus/bldg/unit1",
            "points": {"shedState": 1, "allowedLoad": 3.5, "Status": "INUSE", "alarmType": null},
            "errors": [],
            "tags": ["a", {"k": true}],
        });
        assert_eq!(
            readable(&answer),
            "device: campus/bldg/unit1\n\
             errors: []\n\
             points:\n  Status: INUSE\n  alarmType: -\n  allowedLoad: 3.5\n  shedState: 1\n\
             tags:\n  - a\n  -\n    k: true\n"
        );
    }

    #[test]
    fn failed_points_count_errors_and_failed_writes() {
        let answer = json!({
            "device": "d",
            "points": {"a": {"outcome": "confirmed"}, "b": {"outcome": "failed", "reason": "x"}},
            "errors": {"c": {"kind": "bad_value", "message": "m"}},
        });
        assert_eq!(failed_points(&answer), 2);
        assert_eq!(
            failed_points(&json!({"outcome": "failed", "reason": "x"})),
            1
        );
        assert_eq!(failed_points(&json!({"outcome": "pending"})), 0);
    }

    #[test]
    fn readings_and_outcomes_read_as_one_line() {
        let reading = json!({
            "point": "port1.portLoad", "value": 3.3, "timestamp": "2026-11-25T13:39:47Z",
            "meta": {"type": "float", "units": "kW", "tz": ""},
        });
        assert_eq!(
            readable(&reading),
            "port1.portLoad: 3.3 kW (at 2026-11-25T13:39:47Z)\n"
        );
        let shed = json!({
            "point": "port1.shedState", "value": 0, "timestamp": "2026-11-25T13:39:47Z",
            "meta": {"type": "integer", "units": "0 or 1", "tz": ""},
        });
        assert_eq!(
            readable(&shed),
            "port1.shedState: 0 [0 or 1] (at 2026-11-25T13:39:47Z)\n"
        );
        let answer = json!({
            "device": "sim/account1/10001",
            "points": {
                "port1.allowedLoad": {"outcome": "confirmed"},
                "port1.shedState": {"outcome": "failed", "reason": "shedLoad: HTTP status 503"},
            },
            "errors": {},
        });
        assert_eq!(
            readable(&answer),
            "device: sim/account1/10001\n\
             errors: {}\n\
             points:\n  port1.allowedLoad: confirmed\n  port1.shedState: failed: shedLoad: HTTP status 503\n"
        );
    }

    #[test]
    fn a_pending_write_names_its_id_and_how_to_follow_it_up() {
        let answer = json!({
            "device": "sim/account1/10001",
            "points": {
                "port1.allowedLoad": {"write": 17, "outcome": "superseded", "by": 18},
                "port1.shedState": {"write": 19, "outcome": "pending"},
            },
            "errors": {},
        });
        assert_eq!(
            readable(&answer),
            "device: sim/account1/10001\n\
             errors: {}\n\
             points:\n  \
             port1.allowedLoad: superseded: write 18, a later write of the point, replaced it\n  \
             port1.shedState: pending: not settled yet; `write 19` shows its outcome (GET /api/writes/19)\n"
        );
        assert_eq!(failed_points(&answer), 0, "neither failed");
        let record = json!({
            "write": 19, "device": "sim/account1/10001", "point": "port1.shedState", "value": 1,
            "requested_at": "2026-11-25T13:39:40Z", "settled": true,
            "settled_at": "2026-11-25T13:39:47Z", "outcome": "failed",
            "reason": "shedLoad: no answer within 30s; getLoad read back does not show a shed at 3 kW on port 1",
        });
        assert_eq!(
            readable(&record),
            "write 19: sim/account1/10001 port1.shedState = 1: failed: shedLoad: no answer \
             within 30s; getLoad read back does not show a shed at 3 kW on port 1 (at 2026-11-25T13:39:47Z)\n"
        );
        let unsettled = json!({
            "write": 20, "device": "d/e/f", "point": "port1.shedState", "value": null,
            "requested_at": "2026-11-25T13:39:40Z", "settled": false, "settled_at": null,
            "outcome": "pending",
        });
        assert_eq!(
            readable(&unsettled),
            "write 20: d/e/f port1.shedState (revert): pending: not settled yet\n"
        );
    }

    #[test]
    fn a_dictionary_value_prints_in_full() {
        let reading = json!({
            "point": "stationRightsProfile",
            "value": {"1001": "network_manager", "1002": "station_viewer"},
            "timestamp": "2026-11-25T13:39:47Z",
            "meta": {"type": "dictionary", "units": "", "tz": ""},
        });
        assert_eq!(
            readable(&reading),
            "stationRightsProfile: {\"1001\":\"network_manager\",\"1002\":\"station_viewer\"} (at 2026-11-25T13:39:47Z)\n"
        );
    }

    #[test]
    fn control_characters_from_the_service_are_escaped() {
        let reading = json!({
            "point": "port1.stationName",
            "value": "Garage\u{1b}[2J\u{7}\nB",
            "timestamp": "2026-11-25T13:39:47Z",
            "meta": {"type": "string", "units": "", "tz": ""},
        });
        assert_eq!(
            readable(&reading),
            "port1.stationName: Garage\\u{1b}[2J\\u{7}\\nB (at 2026-11-25T13:39:47Z)\n"
        );
        let answer = json!({"failures": {"getLoad": {"text": "refused\u{1b}]0;x\u{7}"}}});
        assert_eq!(
            readable(&answer),
            "failures:\n  getLoad:\n    text: refused\\u{1b}]0;x\\u{7}\n"
        );
        let error = api_error(
            StatusCode::BAD_GATEWAY,
            &json!({"error": {"kind": "gateway", "message": "bad\u{1b}[31m"}}),
        );
        assert_eq!(error.to_string(), "bad\\u{1b}[31m (HTTP 502, gateway)");
        // --json output is JSON, which escapes control characters itself.
        assert_eq!(
            serde_json::to_string(&json!("a\u{1b}")).unwrap(),
            "\"a\\u001b\""
        );
    }

    #[test]
    fn api_error_reply_keeps_kind_and_message() {
        let error = api_error(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"kind": "bad_value", "message": "point percentShed: 150 is out of range 0..=100"}}),
        );
        assert_eq!(
            error.to_string(),
            "point percentShed: 150 is out of range 0..=100 (HTTP 400, bad_value)"
        );
        let error = api_error(StatusCode::BAD_GATEWAY, &json!({"unexpected": true}));
        assert_eq!(error.to_string(), "Bad Gateway (HTTP 502, unknown)");
    }

    #[test]
    fn device_segments_are_encoded_one_by_one() {
        let client = ApiClient::new(&ClientConfig {
            base: Url::parse("http://127.0.0.1:7480").unwrap(),
            token: None,
            json: false,
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        let url = client.url(&device_path("my campus/b 1/u#2", &["points", "shedState"]));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:7480/api/devices/my%20campus/b%201/u%232/points/shedState"
        );
    }
}
