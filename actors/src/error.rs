//! What can go wrong on a ChargePoint call, typed so that callers can act on it.
//!
//! The taxonomy follows what a caller decides: retry later (transport, timeout, 5xx,
//! rate-limited), never retry (authentication, plan rights, invalid input), or report
//! (malformed answers, other response codes). ChargePoint's `responseCode`/`responseText` and
//! SOAP fault strings are kept exactly as received. Passwords never reach any variant.

use std::fmt;
use std::time::Duration;

use cp_registry::ApiMethod;
use serde::Serialize;

/// A boxed lower-level cause (reqwest, quick-xml), kept for `source()` chains.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a ChargePoint call failed.
#[derive(Debug, thiserror::Error)]
pub enum SoapError {
    /// The TCP connection could not be made, or was reset before an answer came.
    #[error("{op}: connection to the ChargePoint endpoint failed")]
    Connect {
        op: ApiMethod,
        #[source]
        source: BoxError,
    },
    /// No complete answer within the call's deadline.
    #[error("{op}: no answer within {after:?}")]
    Timeout { op: ApiMethod, after: Duration },
    /// The TLS handshake or certificate check failed.
    #[error("{op}: TLS failure")]
    Tls {
        op: ApiMethod,
        #[source]
        source: BoxError,
    },
    /// An HTTP status other than 200 that carried no SOAP fault.
    #[error("{op}: HTTP status {status}")]
    HttpStatus { op: ApiMethod, status: u16 },
    /// A 3xx answer. Redirects are never followed: following one re-sends the whole envelope,
    /// password included, to wherever the `Location` points. `location` is the header as
    /// received, minus any `user:password@` part.
    #[error("{op}: HTTP status {status} redirects to {location}; redirects are not followed")]
    Redirect {
        op: ApiMethod,
        status: u16,
        location: String,
    },
    /// A SOAP Fault that is neither an authentication nor a throttling fault.
    #[error("{op}: SOAP fault {code}: {text}")]
    Fault {
        op: ApiMethod,
        code: String,
        text: String,
    },
    /// The answer could not be read: truncated, not XML, wrong shape, too large.
    #[error("{op}: malformed response: {detail}")]
    Malformed { op: ApiMethod, detail: String },
    /// The service refused the credentials (`wsse:InvalidSecurity` fault).
    #[error("{op}: authentication failed: {text}")]
    Auth { op: ApiMethod, text: String },
    /// The service throttled the account (HTTP 429, a throttling fault or response code).
    #[error("{op}: rate limited by the service")]
    RateLimited {
        op: ApiMethod,
        retry_after: Option<Duration>,
    },
    /// The account's plan does not grant this method (responseCode 101 by default).
    #[error("{op}: not permitted by the account's plan (responseCode {code}: {text})")]
    PlanRights {
        op: ApiMethod,
        code: String,
        text: String,
    },
    /// The service rejected the request's content, or the client refused to send it.
    #[error("{op}: invalid input (responseCode {code}: {text})")]
    InvalidInput {
        op: ApiMethod,
        code: String,
        text: String,
    },
    /// Any other non-success responseCode.
    #[error("{op}: responseCode {code}: {text}")]
    Response {
        op: ApiMethod,
        code: String,
        text: String,
    },
}

/// A short, bounded name for each kind of failure: metric labels and API replies use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Connect,
    Timeout,
    Tls,
    HttpStatus,
    Fault,
    Malformed,
    Auth,
    RateLimited,
    PlanRights,
    InvalidInput,
    Response,
}

impl ErrorKind {
    /// The label value, e.g. `plan_rights`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Fault => "fault",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::PlanRights => "plan_rights",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Response => "response",
        }
    }
}

/// Why a method's latest call for a station failed, as a bounded kind: health, the API's error
/// replies and logs use it. A ChargePoint call's own kind, or what kept the call from an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The call failed with this kind of error.
    Call(ErrorKind),
    /// The account's gateway queue was full; nothing was sent.
    Overloaded,
    /// The gateway did not answer in time or has stopped.
    Unreachable,
    /// ChargePoint answered without the station in it.
    NotReported,
    /// No answer by the scrape's publish deadline; the call goes on and its answer is used when
    /// it comes.
    Late,
    /// The method answered, but with a number for this point that cannot be true (NaN, an
    /// infinity, negative power, more than the largest charger): the point has no value.
    ImpossibleValue,
}

impl FailureKind {
    /// The bounded name, e.g. `plan_rights`, `http_status`, `not_reported`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Call(kind) => kind.as_str(),
            FailureKind::Overloaded => "overloaded",
            FailureKind::Late => "late",
            FailureKind::ImpossibleValue => "impossible_value",
            FailureKind::Unreachable => "unreachable",
            FailureKind::NotReported => "not_reported",
        }
    }

    /// A plan that does not permit the method: configuration, not an outage.
    pub fn is_plan_rights(self) -> bool {
        self == FailureKind::Call(ErrorKind::PlanRights)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl SoapError {
    /// The method the failed call was for.
    pub fn op(&self) -> ApiMethod {
        match self {
            SoapError::Connect { op, .. }
            | SoapError::Timeout { op, .. }
            | SoapError::Tls { op, .. }
            | SoapError::HttpStatus { op, .. }
            | SoapError::Redirect { op, .. }
            | SoapError::Fault { op, .. }
            | SoapError::Malformed { op, .. }
            | SoapError::Auth { op, .. }
            | SoapError::RateLimited { op, .. }
            | SoapError::PlanRights { op, .. }
            | SoapError::InvalidInput { op, .. }
            | SoapError::Response { op, .. } => *op,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            SoapError::Connect { .. } => ErrorKind::Connect,
            SoapError::Timeout { .. } => ErrorKind::Timeout,
            SoapError::Tls { .. } => ErrorKind::Tls,
            SoapError::HttpStatus { .. } | SoapError::Redirect { .. } => ErrorKind::HttpStatus,
            SoapError::Fault { .. } => ErrorKind::Fault,
            SoapError::Malformed { .. } => ErrorKind::Malformed,
            SoapError::Auth { .. } => ErrorKind::Auth,
            SoapError::RateLimited { .. } => ErrorKind::RateLimited,
            SoapError::PlanRights { .. } => ErrorKind::PlanRights,
            SoapError::InvalidInput { .. } => ErrorKind::InvalidInput,
            SoapError::Response { .. } => ErrorKind::Response,
        }
    }

    /// Whether the same call may succeed if tried again later.
    ///
    /// Transport trouble, timeouts, 5xx/429 and throttling pass; a truncated or garbled answer is
    /// usually a broken connection, so it is retried too. Authentication, plan rights, invalid
    /// input and explicit response codes are answers, not accidents: retrying repeats them.
    /// Whether the service surely did not act on the request: it said it was too busy (429,
    /// 503, a throttling code). A write failing otherwise (no answer, a cut or garbled one, a
    /// reset, another 5xx) may have landed; it is not re-sent but settled by reading back.
    pub fn surely_not_applied(&self) -> bool {
        matches!(
            self,
            SoapError::RateLimited { .. }
                | SoapError::HttpStatus {
                    status: 429 | 503,
                    ..
                }
        )
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            SoapError::Connect { .. }
            | SoapError::Timeout { .. }
            | SoapError::RateLimited { .. }
            | SoapError::Malformed { .. } => true,
            SoapError::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            // A moved endpoint is configuration, not an accident.
            SoapError::Tls { .. }
            | SoapError::Redirect { .. }
            | SoapError::Fault { .. }
            | SoapError::Auth { .. }
            | SoapError::PlanRights { .. }
            | SoapError::InvalidInput { .. }
            | SoapError::Response { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_rights_is_never_retried_but_503_is() {
        let refused = SoapError::PlanRights {
            op: ApiMethod::GetLoad,
            code: "101".into(),
            text: "not permitted".into(),
        };
        assert!(!refused.is_retryable());
        assert_eq!(refused.kind().as_str(), "plan_rights");
        assert_eq!(
            refused.to_string(),
            "getLoad: not permitted by the account's plan (responseCode 101: not permitted)"
        );
        let unavailable = SoapError::HttpStatus {
            op: ApiMethod::GetLoad,
            status: 503,
        };
        assert!(unavailable.is_retryable());
        let not_found = SoapError::HttpStatus {
            op: ApiMethod::GetLoad,
            status: 404,
        };
        assert!(!not_found.is_retryable());
    }
}
