//! What went on the wire: call counts per method and per account, and the last requests
//! received, so tests can assert what the client sent. Served by `GET /admin/calls`.
//!
//! Bodies are kept capped and with every WS-Security password blanked: the admin endpoint
//! must never hand a secret back.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use cp_actors::{LoadQuery, ShedScope};
use serde::Serialize;

use crate::soap::ops::Request;

/// How many recent requests are kept.
pub const RECENT_CALLS: usize = 200;

/// How much of each request body is kept.
pub const BODY_CAP: usize = 8 * 1024;

/// Label for requests whose method could not be read.
const UNKNOWN: &str = "unknown";

/// One request as received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// 1 for the first request since start (or the last reset).
    pub seq: u64,
    /// Simulated time of arrival.
    pub at: DateTime<Utc>,
    /// WSDL operation name, or `unknown`.
    pub method: String,
    /// The username the request claimed, whether or not its password was right.
    pub account: Option<String>,
    pub station_ids: Vec<String>,
    pub group_id: Option<i32>,
    /// The fault injected into the answer, if any (its kind, e.g. `http_status`).
    pub fault: Option<String>,
    /// The request body, capped at `BODY_CAP` (8 KiB), passwords blanked.
    pub body: String,
}

/// Counters and the recent-request ring.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CallLog {
    pub total: u64,
    pub by_method: BTreeMap<String, u64>,
    pub by_account: BTreeMap<String, BTreeMap<String, u64>>,
    pub recent: VecDeque<CallRecord>,
}

/// What the server knows about a request when it logs it.
pub(crate) struct Arrival<'a> {
    pub at: DateTime<Utc>,
    pub request: Option<&'a Request>,
    pub method: Option<&'a str>,
    pub account: Option<&'a str>,
    pub fault: Option<String>,
    pub body: &'a [u8],
}

impl CallLog {
    pub(crate) fn record(&mut self, arrival: Arrival<'_>) {
        self.total += 1;
        let method = arrival.method.unwrap_or(UNKNOWN).to_string();
        *self.by_method.entry(method.clone()).or_default() += 1;
        if let Some(account) = arrival.account {
            *self
                .by_account
                .entry(account.to_string())
                .or_default()
                .entry(method.clone())
                .or_default() += 1;
        }
        let (station_ids, group_id) = arrival.request.map(targets).unwrap_or_default();
        if self.recent.len() == RECENT_CALLS {
            self.recent.pop_front();
        }
        self.recent.push_back(CallRecord {
            seq: self.total,
            at: arrival.at,
            method,
            account: arrival.account.map(str::to_string),
            station_ids,
            group_id,
            fault: arrival.fault,
            body: redact_passwords(&String::from_utf8_lossy(
                &arrival.body[..arrival.body.len().min(BODY_CAP)],
            )),
        });
    }

    /// Calls of `method` so far.
    pub fn count(&self, method: &str) -> u64 {
        self.by_method.get(method).copied().unwrap_or(0)
    }
}

/// The stations and group a request names.
fn targets(request: &Request) -> (Vec<String>, Option<i32>) {
    let one = |id: &Option<cp_registry::StationId>| id.iter().map(|s| s.to_string()).collect();
    let scope = |scope: &ShedScope| match scope {
        ShedScope::Station(id) => (vec![id.to_string()], None),
        ShedScope::Group(g) => (Vec::new(), Some(g.0)),
    };
    match request {
        Request::GetStationStatus { query, .. } => (
            query.station_ids.iter().map(|s| s.to_string()).collect(),
            None,
        ),
        Request::GetLoad(LoadQuery::Station(id)) => (vec![id.to_string()], None),
        Request::GetLoad(LoadQuery::Group(g)) => (Vec::new(), Some(g.0)),
        Request::GetAlarms { query, .. } => (one(&query.station_id), query.group_id.map(|g| g.0)),
        Request::ClearAlarms(query) => (one(&query.station_id), query.group_id.map(|g| g.0)),
        Request::GetStationRights { query, .. } => (
            one(&query.station_id),
            query.group_id.as_deref().and_then(|g| g.parse().ok()),
        ),
        Request::GetChargingSessionData { query, .. } => (one(&query.station_id), None),
        Request::GetStations { query, .. } => (
            one(&query.station_id),
            query.group_id.as_deref().and_then(|g| g.parse().ok()),
        ),
        Request::ShedLoad(request) => scope(&request.scope),
        Request::ClearShedState(request) => scope(&request.scope),
    }
}

/// Blanks the text of every `Password` element (any prefix): `<wsse:Password …>***</…>`.
pub(crate) fn redact_passwords(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = find_password_open(rest) {
        let Some(close) = rest[at..].find('>') else {
            break;
        };
        let text_start = at + close + 1;
        out.push_str(&rest[..text_start]);
        out.push_str("***");
        rest = match rest[text_start..].find('<') {
            Some(end) => &rest[text_start + end..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Index of the next `<Password` or `<prefix:Password` start tag.
fn find_password_open(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("Password") {
        let at = from + i;
        let tag_start = text[..at].rfind('<')?;
        let name = &text[tag_start + 1..at];
        let after = text[at + "Password".len()..].chars().next();
        let is_open = !name.starts_with('/')
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ':')
            && (name.is_empty() || name.ends_with(':'))
            && matches!(after, Some('>' | ' ' | '/' | '\t' | '\n' | '\r'));
        if is_open {
            return Some(tag_start);
        }
        from = at + "Password".len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_blanked_in_logged_bodies() {
        let body = r#"<soap:Header><wsse:UsernameToken><wsse:Username>account1</wsse:Username><wsse:Password Type="x#PasswordText">sim-password-1</wsse:Password></wsse:UsernameToken></soap:Header><Password>hunter2</Password>"#;
        assert_eq!(
            redact_passwords(body),
            r#"<soap:Header><wsse:UsernameToken><wsse:Username>account1</wsse:Username><wsse:Password Type="x#PasswordText">***</wsse:Password></wsse:UsernameToken></soap:Header><Password>***</Password>"#
        );
    }

    #[test]
    fn counts_by_method_and_account_and_keeps_recent_bounded() {
        let mut log = CallLog::default();
        for i in 0..(RECENT_CALLS + 5) {
            log.record(Arrival {
                at: DateTime::<Utc>::UNIX_EPOCH,
                request: None,
                method: Some(if i % 2 == 0 { "getLoad" } else { "shedLoad" }),
                account: Some("account1"),
                fault: None,
                body: b"<x/>",
            });
        }
        assert_eq!(log.count("getLoad"), 103);
        assert_eq!(log.by_account["account1"]["shedLoad"], 102);
        assert_eq!(log.recent.len(), RECENT_CALLS);
        assert_eq!(log.recent.front().map(|r| r.seq), Some(6));
    }
}
