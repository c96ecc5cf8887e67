//! HTTP for SOAP: one POST per call with the operation's `SOAPAction`, deadlines on connecting
//! and on the whole exchange, a size cap on the answer, and the HTTP-level failures mapped onto
//! [`SoapError`].

use std::error::Error as _;
use std::time::Duration;

use cp_actors::SoapError;
use cp_registry::ApiMethod;
use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::codec::{read_response, soap_action, MAX_RESPONSE_BYTES};

/// The content type SOAP 1.1 messages travel with.
const CONTENT_TYPE_XML: &str = "text/xml; charset=utf-8";

/// The most a response's buffer is sized to before its bytes come: a few of the largest pages
/// (getLoad of an organisation's 2,500 stations is ~1.5 MB).
const PRESIZE_BYTES: usize = 4 * 1024 * 1024;

/// A reqwest client bound to one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    endpoint: Url,
    /// The whole-call deadline, reported in [`SoapError::Timeout`].
    timeout: Duration,
}

impl Transport {
    /// # Errors
    /// The TLS backend could not be set up.
    pub(crate) fn new(
        endpoint: Url,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            // Never follow a redirect: reqwest would re-send the envelope, WS-Security password
            // included, to any origin the `Location` names. A 3xx is a `Redirect` error.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "chargepoint-supervisor/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Transport {
            http,
            endpoint,
            timeout,
        })
    }

    /// POSTs `envelope` as `method` and returns the body of a 200 answer.
    ///
    /// # Errors
    /// `Connect`, `Timeout`, `Tls` for transport trouble; `Malformed` for an answer over
    /// [`MAX_RESPONSE_BYTES`]; for other statuses, the SOAP Fault in the body if there is one
    /// (`Auth`, `RateLimited`, `Fault`), `RateLimited` for 429 (and 503 with `Retry-After`),
    /// else `HttpStatus`.
    pub(crate) async fn post(
        &self,
        method: ApiMethod,
        envelope: Vec<u8>,
    ) -> Result<Vec<u8>, SoapError> {
        let mut response = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, CONTENT_TYPE_XML)
            .header("SOAPAction", soap_action(method))
            .body(envelope)
            .send()
            .await
            .map_err(|e| self.transport_error(method, e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(SoapError::Redirect {
                op: method,
                status: status.as_u16(),
                location: location(response.headers()),
            });
        }
        let retry_after = retry_after(response.headers());
        let announced = response.content_length();
        if let Some(length) = announced {
            if length > MAX_RESPONSE_BYTES as u64 {
                return Err(too_large(method, length));
            }
        }
        // Sized from the announced length, so a 1.5 MB page is not copied through every
        // doubling on its way in (at 10,000 stations RSS just after a minute's round was
        // ~3 MB lower). Up to a bound: a peer may announce more than it sends.
        let mut body = Vec::with_capacity(announced.map_or(0, |length| {
            usize::try_from(length).map_or(PRESIZE_BYTES, |l| l.min(PRESIZE_BYTES))
        }));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(method, e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large(method, (body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        if status == StatusCode::OK {
            return Ok(body);
        }
        Err(status_error(method, status, retry_after, &body))
    }

    /// Timeout, TLS or connection trouble. The URL is dropped from the error: an endpoint
    /// written as `https://user:password@host/` must not leak through it.
    fn transport_error(&self, op: ApiMethod, error: reqwest::Error) -> SoapError {
        let error = error.without_url();
        if error.is_timeout() {
            return SoapError::Timeout {
                op,
                after: self.timeout,
            };
        }
        if is_tls(&error) {
            SoapError::Tls {
                op,
                source: Box::new(error),
            }
        } else {
            SoapError::Connect {
                op,
                source: Box::new(error),
            }
        }
    }
}

fn too_large(op: ApiMethod, bytes: u64) -> SoapError {
    SoapError::Malformed {
        op,
        detail: format!(
            "response of at least {bytes} bytes is over the {MAX_RESPONSE_BYTES}-byte limit"
        ),
    }
}

/// What a non-200 answer means. A SOAP Fault in the body says most (bad credentials come as a
/// fault with HTTP 500); without one, 429 and a 503 that says when to come back are throttling,
/// anything else is its status.
fn status_error(
    op: ApiMethod,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> SoapError {
    let throttled = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
    match read_response(op, body) {
        Err(SoapError::RateLimited { .. }) => SoapError::RateLimited { op, retry_after },
        Err(fault @ (SoapError::Auth { .. } | SoapError::Fault { .. })) if !throttled => fault,
        _ if throttled => SoapError::RateLimited { op, retry_after },
        _ => SoapError::HttpStatus {
            op,
            status: status.as_u16(),
        },
    }
}

/// A redirect's `Location` as the error names it: at most [`MAX_LOCATION_CHARS`] characters,
/// with a `user:password@` part removed, so a hostile server cannot put secrets or a
/// screenful of text into our logs through it.
fn location(headers: &HeaderMap) -> String {
    let Some(value) = headers.get(LOCATION) else {
        return "(no Location header)".to_string();
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let text = match Url::parse(&text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            // Both setters only fail for URLs that cannot have credentials, which these have.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => text.into_owned(),
    };
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_LOCATION_CHARS)
        .collect()
}

/// How much of a redirect's `Location` an error keeps.
const MAX_LOCATION_CHARS: usize = 200;

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether a reqwest failure came from TLS. reqwest does not expose rustls's error type, so
/// this looks at the cause chain's messages: rustls and webpki name certificates and
/// handshakes in every error they raise.
fn is_tls(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(e) = cause {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::envelope::{write_fault, AUTH_FAULT_CODE, AUTH_FAULT_TEXT};

    #[test]
    fn auth_fault_wins_over_its_http_500() {
        let fault = write_fault(AUTH_FAULT_CODE, AUTH_FAULT_TEXT);
        let err = status_error(
            ApiMethod::GetLoad,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            &fault,
        );
        assert!(matches!(err, SoapError::Auth { .. }), "{err:?}");
    }

    #[test]
    fn throttling_statuses_carry_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        let after = retry_after(&headers);
        assert_eq!(after, Some(Duration::from_secs(7)));
        for status in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let err = status_error(ApiMethod::GetLoad, status, after, b"busy");
            assert!(matches!(
                err,
                SoapError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7)
            ));
        }
        let plain_503 = status_error(
            ApiMethod::GetLoad,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            b"",
        );
        assert_eq!(plain_503.to_string(), "getLoad: HTTP status 503");
    }

    #[test]
    fn redirect_location_loses_its_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            "https://user:pw@evil.example/cp?x=1".parse().unwrap(),
        );
        assert_eq!(location(&headers), "https://evil.example/cp?x=1");
        assert_eq!(location(&HeaderMap::new()), "(no Location header)");
    }
}
