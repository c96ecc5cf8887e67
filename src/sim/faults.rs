//! Fault injection: rules that make the simulator misbehave on purpose, per method or for all.
//!
//! The syntax of a rule is on [`FaultRule`].

use std::time::Duration;

use cp_registry::ApiMethod;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// What a firing rule does to the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    Latency {
        #[serde(with = "millis")]
        delay: Duration,
    },
    Hang,
    HttpStatus {
        status: u16,
        body: bool,
    },
    TooManyRequests {
        retry_after_secs: u64,
    },
    Reset,
    Truncated,
    Malformed,
    SoapFault {
        code: String,
        text: String,
    },
    ResponseCode {
        code: String,
        text: String,
    },
    AuthFault,
}

/// One rule: which calls, what fault, how often.
///
/// A rule is written `METHOD=KIND[:ARG][:next=N][:p=P]`, the same on the command line
/// (`--fault getLoad=http503:next=3 --fault '*=latency:250ms'`) and on the admin endpoint
/// (`POST /admin/faults` with `{"spec": "…"}`). `METHOD` is a WSDL operation name or `*`.
///
/// | KIND | what the client gets |
/// |---|---|
/// | `latency:250ms` | the normal answer, that much later (latency rules add up and never stop other rules) |
/// | `hang` | nothing, until the client gives up or the server shuts down |
/// | `http500`, `http503`, any `http4xx`/`http5xx` | that status with an empty body; `:body` adds a plain-text body |
/// | `http429[:5s]` | HTTP 429 with `Retry-After` (seconds, default 1) |
/// | `reset` | the connection is closed without any response |
/// | `truncated` | the normal answer cut in half |
/// | `malformed` | a body that is not well-formed XML |
/// | `fault[:CODE[,TEXT]]` | a SOAP Fault (HTTP 500), default `soap:Server`, "Simulated server fault" |
/// | `code:NNN[,TEXT]` | the operation's response with that `responseCode` |
/// | `plan-rights`, `rate-limited` | shorthands for `code:101` and `code:140` |
/// | `auth` | the `wsse:InvalidSecurity` fault bad credentials get |
///
/// `next=N` applies the rule to the next N calls it matches, then drops it; without it the rule
/// stays. `p=P` (0..1) makes the rule fire with that probability, drawn from a generator seeded
/// from the simulator's seed, so a run is repeatable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRule {
    /// `None`: every method (`*`), also requests whose method could not be read.
    pub method: Option<ApiMethod>,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Calls left before the rule is dropped; `None`: always.
    pub remaining: Option<u32>,
    /// Chance of firing on a matching call.
    pub probability: f64,
    /// The text the rule was parsed from.
    pub spec: String,
}

/// Why a fault spec was refused. The message names the spec and says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault '{spec}': {reason}")]
pub struct FaultSpecError {
    pub spec: String,
    pub reason: String,
}

/// What the server must do to one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultDecision {
    /// Wait this long first.
    pub delay: Duration,
    /// Then answer this way instead of normally.
    pub action: Option<FaultKind>,
}

/// The rules in force, in the order they were added, and the generator for their chances.
#[derive(Debug)]
pub struct FaultTable {
    rules: Vec<FaultRule>,
    rng: ChaCha8Rng,
}

/// Most rules in force at once: more is a runaway script, not a test.
pub const MAX_RULES: usize = 64;

impl FaultTable {
    pub fn new(seed: u64) -> FaultTable {
        FaultTable {
            rules: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_fa17),
        }
    }

    /// Adds a rule after the others.
    ///
    /// # Errors
    /// When `MAX_RULES` (64) rules are already in force.
    pub fn add(&mut self, rule: FaultRule) -> Result<(), FaultSpecError> {
        if self.rules.len() >= MAX_RULES {
            return Err(FaultSpecError {
                spec: rule.spec,
                reason: format!("at most {MAX_RULES} fault rules may be in force"),
            });
        }
        self.rules.push(rule);
        Ok(())
    }

    /// Drops every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Decides the fault for one call of `method` (`None`: unreadable request). Every matching
    /// latency rule that fires adds its delay; the first other rule that fires is the action.
    pub fn decide(&mut self, method: Option<ApiMethod>) -> FaultDecision {
        let mut decision = FaultDecision::default();
        let rng = &mut self.rng;
        for rule in &mut self.rules {
            let matches = rule.method.is_none() || rule.method == method;
            if !matches || rule.remaining == Some(0) {
                continue;
            }
            let is_latency = matches!(rule.kind, FaultKind::Latency { .. });
            if !is_latency && decision.action.is_some() {
                continue;
            }
            if rule.probability < 1.0 && !rng.random_bool(rule.probability.clamp(0.0, 1.0)) {
                continue;
            }
            if let Some(n) = &mut rule.remaining {
                *n -= 1;
            }
            match &rule.kind {
                FaultKind::Latency { delay } => decision.delay += *delay,
                other => decision.action = Some(other.clone()),
            }
        }
        self.rules.retain(|r| r.remaining != Some(0));
        decision
    }
}

impl FaultRule {
    /// Parses `METHOD=KIND[:ARG][:next=N][:p=P]` (see the module doc).
    ///
    /// # Errors
    /// [`FaultSpecError`] naming the spec and what was wrong with it.
    pub fn parse(spec: &str) -> Result<FaultRule, FaultSpecError> {
        let fail = |reason: String| FaultSpecError {
            spec: spec.to_string(),
            reason,
        };
        let (method, rest) = spec
            .split_once('=')
            .ok_or_else(|| fail("expected METHOD=KIND, e.g. getLoad=http503:next=3".into()))?;
        let method = match method.trim() {
            "*" => None,
            name => Some(
                ApiMethod::ALL
                    .into_iter()
                    .find(|m| m.name().eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        fail(format!(
                            "unknown method '{name}' (expected * or one of {})",
                            method_names()
                        ))
                    })?,
            ),
        };
        let mut parts: Vec<&str> = rest.split(':').collect();
        let mut remaining = None;
        let mut probability = 1.0;
        while let Some(last) = parts.last() {
            if let Some(n) = last.strip_prefix("next=") {
                remaining = Some(
                    n.parse::<u32>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| fail(format!("next={n}: expected a count >= 1")))?,
                );
            } else if let Some(p) = last.strip_prefix("p=") {
                probability = p
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| fail(format!("p={p}: expected a probability 0..1")))?;
            } else {
                break;
            }
            parts.pop();
        }
        let kind_name = parts.first().copied().unwrap_or_default().trim();
        let arg = (parts.len() > 1).then(|| parts[1..].join(":"));
        let kind = parse_kind(kind_name, arg.as_deref()).map_err(fail)?;
        Ok(FaultRule {
            method,
            kind,
            remaining,
            probability,
            spec: spec.to_string(),
        })
    }
}

fn parse_kind(name: &str, arg: Option<&str>) -> Result<FaultKind, String> {
    let no_arg = |kind: FaultKind| match arg {
        None => Ok(kind),
        Some(a) => Err(format!("{name} takes no argument, got '{a}'")),
    };
    match name {
        "latency" => {
            let arg = arg.ok_or("latency needs a duration, e.g. latency:250ms")?;
            Ok(FaultKind::Latency {
                delay: parse_duration(arg)?,
            })
        }
        "hang" => no_arg(FaultKind::Hang),
        "reset" => no_arg(FaultKind::Reset),
        "truncated" => no_arg(FaultKind::Truncated),
        "malformed" => no_arg(FaultKind::Malformed),
        "auth" => no_arg(FaultKind::AuthFault),
        "plan-rights" => no_arg(response_code("101", None)),
        "rate-limited" => no_arg(response_code("140", None)),
        "http429" => Ok(FaultKind::TooManyRequests {
            retry_after_secs: match arg {
                None => 1,
                Some(a) => parse_duration(a)?.as_secs(),
            },
        }),
        "fault" => {
            let (code, text) = match arg {
                None => (None, None),
                Some(a) => match a.split_once(',') {
                    Some((c, t)) => (Some(c), Some(t)),
                    None => (Some(a), None),
                },
            };
            Ok(FaultKind::SoapFault {
                code: code.unwrap_or("soap:Server").to_string(),
                text: text.unwrap_or("Simulated server fault").to_string(),
            })
        }
        "code" => {
            let arg = arg.ok_or("code needs a responseCode, e.g. code:140")?;
            let (code, text) = match arg.split_once(',') {
                Some((c, t)) => (c, Some(t)),
                None => (arg, None),
            };
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("code:{code}: expected a numeric responseCode"));
            }
            Ok(response_code(code, text))
        }
        other => match other.strip_prefix("http").map(str::parse::<u16>) {
            Some(Ok(status)) if (400..=599).contains(&status) => Ok(FaultKind::HttpStatus {
                status,
                body: match arg {
                    None => false,
                    Some("body") => true,
                    Some(a) => return Err(format!("{other} takes only ':body', got '{a}'")),
                },
            }),
            Some(_) => Err(format!("{other}: expected an HTTP status 400..599")),
            None => Err(format!(
                "unknown fault kind '{other}' (expected latency, hang, httpNNN, http429, reset, \
                 truncated, malformed, fault, code, plan-rights, rate-limited or auth)"
            )),
        },
    }
}

fn response_code(code: &str, text: Option<&str>) -> FaultKind {
    let text = text.map(str::to_string).unwrap_or_else(|| match code {
        "101" => "Simulated: this API method is not permitted by the account's plan".into(),
        "140" => "Simulated: request rate limit exceeded".into(),
        _ => format!("Simulated responseCode {code}"),
    });
    FaultKind::ResponseCode {
        code: code.to_string(),
        text,
    }
}

/// `250ms`, `2s`, `1.5s` or a bare number of milliseconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("'{text}': expected a duration like 250ms or 2s");
    let text = text.trim();
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 || value * unit_ms > 3_600_000.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value * unit_ms / 1000.0))
}

fn method_names() -> String {
    ApiMethod::ALL.map(ApiMethod::name).join(", ")
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u128(d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_method_kind_and_options() {
        let rule = FaultRule::parse("getLoad=http503:next=3").unwrap();
        assert_eq!(rule.method, Some(ApiMethod::GetLoad));
        assert_eq!(
            rule.kind,
            FaultKind::HttpStatus {
                status: 503,
                body: false
            }
        );
        assert_eq!(rule.remaining, Some(3));
        let rule = FaultRule::parse("*=latency:250ms:p=0.5").unwrap();
        assert_eq!(rule.method, None);
        assert_eq!(
            rule.kind,
            FaultKind::Latency {
                delay: Duration::from_millis(250)
            }
        );
        assert_eq!(rule.probability, 0.5);
        let rule = FaultRule::parse("shedLoad=fault:soap:Server,Database down").unwrap();
        assert_eq!(
            rule.kind,
            FaultKind::SoapFault {
                code: "soap:Server".into(),
                text: "Database down".into()
            }
        );
        let rule = FaultRule::parse("getStations=http429:5s").unwrap();
        assert_eq!(
            rule.kind,
            FaultKind::TooManyRequests {
                retry_after_secs: 5
            }
        );
    }

    #[test]
    fn bad_specs_name_the_spec_and_the_problem() {
        let err = |s: &str| FaultRule::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("getLoad"),
            "fault 'getLoad': expected METHOD=KIND, e.g. getLoad=http503:next=3"
        );
        assert_eq!(
            err("getLoad=http503:next=0"),
            "fault 'getLoad=http503:next=0': next=0: expected a count >= 1"
        );
        assert_eq!(
            err("getload=latency:fast"),
            "fault 'getload=latency:fast': 'fast': expected a duration like 250ms or 2s"
        );
        assert_eq!(
            err("getLode=hang"),
            "fault 'getLode=hang': unknown method 'getLode' (expected * or one of \
             getStationStatus, shedLoad, clearShedState, getLoad, getAlarms, clearAlarms, \
             getStationRights, getChargingSessionData, getStations)"
        );
        assert_eq!(
            err("*=explode"),
            "fault '*=explode': unknown fault kind 'explode' (expected latency, hang, httpNNN, \
             http429, reset, truncated, malformed, fault, code, plan-rights, rate-limited or auth)"
        );
    }

    #[test]
    fn next_n_rules_fire_n_times_and_latency_adds_up() {
        let mut table = FaultTable::new(1);
        for spec in ["*=latency:100ms", "getLoad=reset:next=2", "*=latency:50ms"] {
            table.add(FaultRule::parse(spec).unwrap()).unwrap();
        }
        let first = table.decide(Some(ApiMethod::GetLoad));
        assert_eq!(first.delay, Duration::from_millis(150));
        assert_eq!(first.action, Some(FaultKind::Reset));
        assert_eq!(table.decide(Some(ApiMethod::GetAlarms)).action, None);
        assert_eq!(
            table.decide(Some(ApiMethod::GetLoad)).action,
            Some(FaultKind::Reset)
        );
        assert_eq!(table.decide(Some(ApiMethod::GetLoad)).action, None);
        assert_eq!(table.rules().len(), 2);
    }

    #[test]
    fn probability_is_seeded_and_repeatable() {
        let run = || {
            let mut table = FaultTable::new(42);
            table
                .add(FaultRule::parse("*=http500:p=0.3").unwrap())
                .unwrap();
            (0..200)
                .map(|_| table.decide(None).action.is_some())
                .collect::<Vec<_>>()
        };
        let fired = run();
        assert_eq!(fired, run());
        let count = fired.iter().filter(|f| **f).count();
        assert!((30..90).contains(&count), "fired {count} of 200 at p=0.3");
    }
}
