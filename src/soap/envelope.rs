//! The SOAP 1.1 envelope around every message: the WS-Security `UsernameToken` header a request
//! carries, the `Body`, and SOAP Faults (writing them for the simulator, reading them for the
//! client).

use cp_actors::SoapError;
use cp_registry::{ApiMethod, Secret};

use super::xml::{Element, XmlError, XmlIn, XmlOut};

/// SOAP 1.1's envelope namespace.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Security 1.0 `wsse` namespace.
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// The `Type` of a plain-text password in a `UsernameToken`.
pub const PASSWORD_TEXT_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
/// The namespace of ChargePoint's body elements (the schema's target namespace).
pub const CP_NS: &str = "urn:dictionary:com.chargepoint.webservices";

/// The fault ChargePoint answers bad credentials with.
pub const AUTH_FAULT_CODE: &str = "wsse:InvalidSecurity";
/// The fault string that goes with [`AUTH_FAULT_CODE`].
pub const AUTH_FAULT_TEXT: &str = "UsernameToken processing failed";
/// The fault this project uses for "too many requests" (ChargePoint documents none): the client
/// reads any faultcode ending in `Throttled` as rate limiting, the simulator sends this one.
pub const THROTTLED_FAULT_CODE: &str = "soap:Server.Throttled";
/// The sender's fault: the request was not a SOAP message we can read.
pub const CLIENT_FAULT_CODE: &str = "soap:Client";
/// The receiver's fault: the request was fine, the service failed.
pub const SERVER_FAULT_CODE: &str = "soap:Server";

/// WS-Security credentials. `Debug` shows the username only; the password is a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    pub password: Secret,
}

/// A SOAP 1.1 Fault as received: `faultcode` and `faultstring`, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: String,
    pub text: String,
}

impl Fault {
    /// What the client makes of this fault: bad credentials, throttling, or any other fault.
    pub fn into_error(self, op: ApiMethod) -> SoapError {
        let local = self.code.rsplit(':').next().unwrap_or(&self.code);
        if local.ends_with("InvalidSecurity") || local.ends_with("FailedAuthentication") {
            SoapError::Auth {
                op,
                text: self.text,
            }
        } else if local.ends_with("Throttled") || local.contains("RateLimit") {
            SoapError::RateLimited {
                op,
                retry_after: None,
            }
        } else {
            SoapError::Fault {
                op,
                code: self.code,
                text: self.text,
            }
        }
    }
}

/// Writes `<?xml?>`, the envelope, the optional security header, and a Body whose content
/// `body` writes.
pub(crate) fn write_envelope(
    token: Option<&UsernameToken>,
    capacity: usize,
    body: impl FnOnce(&mut XmlOut),
) -> Vec<u8> {
    let mut out = XmlOut::with_capacity(capacity + 512);
    out.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.raw("<soap:Envelope xmlns:soap=\"")
        .raw(SOAP_ENV_NS)
        .raw("\" xmlns:wsse=\"")
        .raw(WSSE_NS)
        .raw("\">");
    if let Some(token) = token {
        out.raw("<soap:Header><wsse:Security soap:mustUnderstand=\"1\"><wsse:UsernameToken>");
        out.leaf("wsse:Username", &token.username);
        out.raw("<wsse:Password Type=\"")
            .raw(PASSWORD_TEXT_TYPE)
            .raw("\">");
        // The one place the password leaves the process: inside the request it authenticates.
        out.text(token.password.expose());
        out.raw("</wsse:Password></wsse:UsernameToken></wsse:Security></soap:Header>");
    }
    out.raw("<soap:Body>");
    body(&mut out);
    out.raw("</soap:Body></soap:Envelope>");
    out.into_bytes()
}

/// A whole SOAP Fault response.
pub fn write_fault(code: &str, text: &str) -> Vec<u8> {
    write_envelope(None, 0, |out| {
        out.element("soap:Fault", |out| {
            out.leaf("faultcode", code).leaf("faultstring", text);
        });
    })
}

/// An envelope opened up to its body element.
pub(crate) struct Opened<'a> {
    /// The WS-Security credentials, when the header carried a `UsernameToken`.
    pub token: Option<UsernameToken>,
    /// The first element inside `Body`: the operation, its response, or a `Fault`.
    pub body: Element<'a>,
}

/// Reads the envelope up to the first element inside `Body`. Everything in the header other
/// than a `UsernameToken` is skipped.
pub(crate) fn open<'a>(xin: &mut XmlIn<'a>) -> Result<Opened<'a>, XmlError> {
    let root = xin.root()?;
    if root.local() != "Envelope" {
        return Err(XmlError::Syntax(format!(
            "not a SOAP envelope: the root element is <{}>",
            root.local()
        )));
    }
    let not_soap = || XmlError::Syntax("not a SOAP envelope: it has no Body".into());
    if root.is_empty() {
        return Err(not_soap());
    }
    let mut token = None;
    while let Some(child) = xin.child()? {
        match child.local() {
            "Header" => token = read_header(xin, &child)?,
            "Body" => {
                return match body_element(xin, &child)? {
                    Some(body) => Ok(Opened { token, body }),
                    None => Err(XmlError::Syntax("the SOAP Body is empty".into())),
                }
            }
            _ => xin.skip(&child)?,
        }
    }
    Err(not_soap())
}

fn body_element<'a>(
    xin: &mut XmlIn<'a>,
    body: &Element<'a>,
) -> Result<Option<Element<'a>>, XmlError> {
    if body.is_empty() {
        return Ok(None);
    }
    xin.child()
}

fn read_header<'a>(
    xin: &mut XmlIn<'a>,
    header: &Element<'a>,
) -> Result<Option<UsernameToken>, XmlError> {
    let mut token = None;
    xin.children(header, |xin, el| match el.local() {
        "Security" => xin.children(&el, |xin, el| match el.local() {
            "UsernameToken" => {
                let mut username = None;
                let mut password = None;
                xin.children(&el, |xin, el| {
                    match el.local() {
                        "Username" => username = Some(xin.text(&el)?.into_owned()),
                        "Password" => password = Some(Secret::new(xin.text(&el)?)),
                        _ => xin.skip(&el)?,
                    }
                    Ok(())
                })?;
                if let (Some(username), Some(password)) = (username, password) {
                    token = Some(UsernameToken { username, password });
                }
                Ok(())
            }
            _ => xin.skip(&el),
        }),
        _ => xin.skip(&el),
    })?;
    Ok(token)
}

/// Reads a `Fault` element (already entered) into its code and string.
pub(crate) fn read_fault<'a>(xin: &mut XmlIn<'a>, fault: &Element<'a>) -> Result<Fault, XmlError> {
    let mut code = None;
    let mut text = String::new();
    xin.children(fault, |xin, el| {
        match el.local() {
            "faultcode" => code = Some(xin.text(&el)?.into_owned()),
            "faultstring" => text = xin.text(&el)?.into_owned(),
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    let code = code.ok_or_else(|| XmlError::missing("faultcode", "Fault"))?;
    Ok(Fault { code, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_throttle_faults_are_recognised_by_code() {
        let auth = Fault {
            code: AUTH_FAULT_CODE.into(),
            text: AUTH_FAULT_TEXT.into(),
        };
        assert_eq!(
            auth.into_error(ApiMethod::GetLoad).to_string(),
            "getLoad: authentication failed: UsernameToken processing failed"
        );
        let throttled = Fault {
            code: THROTTLED_FAULT_CODE.into(),
            text: "slow down".into(),
        };
        assert!(matches!(
            throttled.into_error(ApiMethod::GetLoad),
            SoapError::RateLimited { .. }
        ));
        let other = Fault {
            code: SERVER_FAULT_CODE.into(),
            text: "database down".into(),
        };
        assert_eq!(
            other.into_error(ApiMethod::ShedLoad).to_string(),
            "shedLoad: SOAP fault soap:Server: database down"
        );
    }

    #[test]
    fn fault_written_is_fault_read() {
        let doc = write_fault(CLIENT_FAULT_CODE, "bad <request>");
        let mut xin = XmlIn::new(&doc);
        let opened = open(&mut xin).unwrap();
        assert_eq!(opened.body.local(), "Fault");
        assert_eq!(
            read_fault(&mut xin, &opened.body).unwrap(),
            Fault {
                code: CLIENT_FAULT_CODE.into(),
                text: "bad <request>".into()
            }
        );
    }
}
