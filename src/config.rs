//! The validated configuration: what [`crate::cli::Cli`] means, with every value checked.
//!
//! `Config::try_from(cli)` is the second stage of parsing. It turns listen addresses into
//! `SocketAddr`s, URLs into checked strings, `set`'s POINT VALUE words into typed pairs and the
//! token into a [`Secret`], so `run` and the client commands never see a raw string they would
//! have to doubt.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cp_registry::Secret;
use reqwest::Url;
use serde_json::Value;

use crate::cli::{ApiArgs, Cli, Command, LogFormat, RunArgs};

/// Everything the binary needs to do one command.
#[derive(Debug)]
pub struct Config {
    pub log_format: LogFormat,
    pub task: Task,
}

/// The one thing this invocation does.
#[derive(Debug)]
pub enum Task {
    /// Supervise a fleet (or the embedded simulator) and serve the device API.
    Run(RunConfig),
    /// Serve the simulator alone.
    Sim(crate::sim::SimArgs),
    /// Check a fleet file, device config or registry CSV.
    Check(PathBuf),
    /// Ask a running supervisor something.
    Client {
        api: ClientConfig,
        request: ClientRequest,
    },
}

/// `run`, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The fleet to supervise; `None` means the embedded simulator.
    pub fleet: Option<PathBuf>,
    /// The ChargePoint endpoint for every account without an override.
    pub endpoint: Url,
    /// `(account, url)` overrides; the account is matched by name or username.
    pub account_endpoints: Vec<(String, Url)>,
    pub api_listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    /// Overrides the fleet config's token; `None` leaves it to the fleet config.
    pub token: Option<Secret>,
    /// Overrides every device's scrape interval.
    pub interval: Option<Duration>,
    /// How long the device API waits for a write's outcome before answering `pending`.
    pub write_answer_timeout: Duration,
    /// The embedded simulator's size and address (used only without `fleet`).
    pub sim: EmbeddedSim,
    /// Draw the live one-line summary when stdout is a terminal.
    pub summary: bool,
}

/// The embedded simulator `run` starts when no fleet is given.
#[derive(Debug, Clone)]
pub struct EmbeddedSim {
    pub stations: u32,
    pub ports: u16,
    pub listen: SocketAddr,
}

/// How to reach a running supervisor.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:7480`; the API is under its `/api`.
    pub base: Url,
    pub token: Option<Secret>,
    /// Print raw JSON instead of the readable form.
    pub json: bool,
    pub timeout: Duration,
}

/// One request to a running supervisor.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    Get {
        device: String,
        points: Vec<String>,
    },
    Set {
        device: String,
        points: Vec<(String, Value)>,
    },
    Scrape {
        device: String,
    },
    Revert {
        device: String,
        point: Option<String>,
    },
    /// A write's outcome, by its id.
    Write {
        id: u64,
    },
    Devices,
    Health,
}

/// A command line that clap accepted but that does not make sense.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{option}: '{value}' is not an address like 127.0.0.1:7480")]
    ListenAddress { option: &'static str, value: String },
    #[error("{option}: '{value}' is not an http:// or https:// URL")]
    Url { option: &'static str, value: String },
    #[error("--account-endpoint: '{value}' is not ACCOUNT=URL")]
    AccountEndpoint { value: String },
    /// `--account-endpoint` without a FLEET: the embedded simulator's accounts all use it.
    #[error("--account-endpoint: only for a FLEET (the embedded simulator is reached directly)")]
    AccountEndpointWithoutFleet,
    #[error("{option}: '{value}' is not a positive number of seconds up to {max}")]
    Seconds {
        option: &'static str,
        value: f64,
        max: u64,
    },
    /// The embedded simulator's address must be loopback: it answers anyone with its
    /// accounts' passwords.
    #[error("--sim-listen: {value} is not a loopback address: the embedded simulator listens on 127.0.0.1 or [::1] only")]
    SimListen { value: SocketAddr },
    #[error("set: expected POINT VALUE pairs, got {count} words")]
    UnpairedValue { count: usize },
    #[error("device '{device}': expected a path like campus/building/unit")]
    DevicePath { device: String },
    #[error("point '{point}': a point name is not empty and has no '/'")]
    PointName { point: String },
    #[error("--token (or CP_SUPERVISOR_TOKEN): the token is empty")]
    EmptyToken,
    #[error("--sim-stations and --sim-ports must be at least 1")]
    EmptySimulator,
}

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    /// # Errors
    /// The first value that does not make sense, as a [`ConfigError`].
    fn try_from(cli: Cli) -> Result<Self, ConfigError> {
        let task = match cli.command {
            Command::Run(args) => Task::Run(RunConfig::try_from(args)?),
            Command::Sim(args) => Task::Sim(args),
            Command::Check { path } => Task::Check(path),
            Command::Get {
                api,
                device,
                points,
            } => client(
                api,
                ClientRequest::Get {
                    device: device_path(device)?,
                    points: points
                        .into_iter()
                        .map(point_name)
                        .collect::<Result<_, _>>()?,
                },
            )?,
            Command::Set { api, device, pairs } => client(
                api,
                ClientRequest::Set {
                    device: device_path(device)?,
                    points: point_values(pairs)?,
                },
            )?,
            Command::Scrape { api, device } => client(
                api,
                ClientRequest::Scrape {
                    device: device_path(device)?,
                },
            )?,
            Command::Revert { api, device, point } => client(
                api,
                ClientRequest::Revert {
                    device: device_path(device)?,
                    point: point.map(point_name).transpose()?,
                },
            )?,
            Command::Write { api, id } => client(api, ClientRequest::Write { id })?,
            Command::Devices { api } => client(api, ClientRequest::Devices)?,
            Command::Health { api } => client(api, ClientRequest::Health)?,
        };
        Ok(Config {
            log_format: cli.log_format,
            task,
        })
    }
}

impl TryFrom<RunArgs> for RunConfig {
    type Error = ConfigError;

    fn try_from(args: RunArgs) -> Result<Self, ConfigError> {
        if args.sim_stations == 0 || args.sim_ports == 0 {
            return Err(ConfigError::EmptySimulator);
        }
        let account_endpoints: Vec<(String, Url)> = args
            .account_endpoints
            .into_iter()
            .map(account_endpoint)
            .collect::<Result<_, _>>()?;
        if args.fleet.is_none() && !account_endpoints.is_empty() {
            return Err(ConfigError::AccountEndpointWithoutFleet);
        }
        let sim_listen = listen("--sim-listen", &args.sim_listen)?;
        if !sim_listen.ip().is_loopback() {
            return Err(ConfigError::SimListen { value: sim_listen });
        }
        Ok(RunConfig {
            fleet: args.fleet,
            endpoint: http_url("--endpoint", args.endpoint)?,
            account_endpoints,
            api_listen: listen("--api-listen", &args.api_listen)?,
            metrics_listen: listen("--metrics-listen", &args.metrics_listen)?,
            token: token(args.token)?,
            interval: args
                .interval
                .map(|s| seconds("--interval", s, MAX_INTERVAL_SECONDS))
                .transpose()?,
            write_answer_timeout: write_answer_timeout(args.write_answer_timeout)?,
            sim: EmbeddedSim {
                stations: args.sim_stations,
                ports: args.sim_ports,
                listen: sim_listen,
            },
            summary: !args.no_summary,
        })
    }
}

fn client(api: ApiArgs, request: ClientRequest) -> Result<Task, ConfigError> {
    Ok(Task::Client {
        api: ClientConfig {
            base: http_url("--api", api.api)?,
            token: token(api.token)?,
            json: api.json,
            timeout: seconds("--timeout", api.timeout, MAX_TIMEOUT_SECONDS)?,
        },
        request,
    })
}

fn listen(option: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::ListenAddress {
        option,
        value: value.to_string(),
    })
}

fn http_url(option: &'static str, value: String) -> Result<Url, ConfigError> {
    match Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(ConfigError::Url { option, value }),
    }
}

fn account_endpoint(value: String) -> Result<(String, Url), ConfigError> {
    let Some((account, url)) = value.split_once('=') else {
        return Err(ConfigError::AccountEndpoint { value });
    };
    if account.is_empty() {
        return Err(ConfigError::AccountEndpoint { value });
    }
    let url = http_url("--account-endpoint", url.to_string())?;
    Ok((account.to_string(), url))
}

/// The longest `--interval`: 366 days, the bound of every interval a device config may give.
const MAX_INTERVAL_SECONDS: u64 = 366 * 86_400;

/// The longest `--timeout` of a client command: an hour, far beyond the server's own 60 s.
const MAX_TIMEOUT_SECONDS: u64 = 3_600;

fn seconds(option: &'static str, value: f64, max: u64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs_f64() <= max as f64)
        .ok_or(ConfigError::Seconds { option, value, max })
}

/// `--write-answer-timeout`: positive, and short enough that a write is answered before the
/// API's own request timeout.
fn write_answer_timeout(value: f64) -> Result<Duration, ConfigError> {
    let max = crate::http::MAX_WRITE_ANSWER_TIMEOUT.as_secs();
    seconds("--write-answer-timeout", value, max)
}

fn token(value: Option<String>) -> Result<Option<Secret>, ConfigError> {
    match value {
        Some(t) if t.is_empty() => Err(ConfigError::EmptyToken),
        Some(t) => Ok(Some(Secret::new(t))),
        None => Ok(None),
    }
}

/// A device path is one or more non-empty segments: `campus/building/unit`.
fn device_path(device: String) -> Result<String, ConfigError> {
    let trimmed = device.trim_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(str::is_empty) {
        return Err(ConfigError::DevicePath { device });
    }
    Ok(trimmed.to_string())
}

fn point_name(point: String) -> Result<String, ConfigError> {
    if point.is_empty() || point.contains('/') {
        return Err(ConfigError::PointName { point });
    }
    Ok(point)
}

/// `POINT VALUE` words into pairs. A value is JSON when it parses (`3.5`, `1`, `true`,
/// `"text"`), else plain text, so `set dev shedState 1` sends the number 1.
fn point_values(words: Vec<String>) -> Result<Vec<(String, Value)>, ConfigError> {
    if words.len() % 2 != 0 {
        return Err(ConfigError::UnpairedValue { count: words.len() });
    }
    let mut pairs = Vec::with_capacity(words.len() / 2);
    let mut words = words.into_iter();
    while let (Some(point), Some(value)) = (words.next(), words.next()) {
        let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
        pairs.push((point_name(point)?, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(
            std::iter::once("chargepoint-supervisor").chain(args.iter().copied()),
        )
        .expect("clap accepts the command line");
        Config::try_from(cli)
    }

    #[test]
    fn set_reads_values_as_json_and_falls_back_to_text() {
        let Task::Client { api, request } = config(&[
            "set",
            "campus/bldg/unit1",
            "allowedLoad",
            "3.5",
            "shedState",
            "1",
            "note",
            "hello",
        ])
        .unwrap()
        .task
        else {
            panic!("set is a client task");
        };
        assert_eq!(api.base.as_str(), "http://127.0.0.1:7480/");
        assert_eq!(
            request,
            ClientRequest::Set {
                device: "campus/bldg/unit1".into(),
                points: vec![
                    ("allowedLoad".into(), json!(3.5)),
                    ("shedState".into(), json!(1)),
                    ("note".into(), json!("hello")),
                ],
            }
        );
    }

    #[test]
    fn set_takes_a_negative_number_as_a_value_without_dashes() {
        let Task::Client { request, .. } = config(&[
            "set",
            "a/b/c",
            "port1.allowedLoad",
            "-1",
            "port1.percentShed",
            "-2.5",
        ])
        .unwrap()
        .task
        else {
            panic!("set is a client task");
        };
        assert_eq!(
            request,
            ClientRequest::Set {
                device: "a/b/c".into(),
                points: vec![
                    ("port1.allowedLoad".into(), json!(-1)),
                    ("port1.percentShed".into(), json!(-2.5)),
                ],
            }
        );
    }

    #[test]
    fn set_with_a_point_but_no_value_is_refused() {
        let err = config(&["set", "a/b/c", "allowedLoad", "3", "shedState"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "set: expected POINT VALUE pairs, got 3 words"
        );
    }

    #[test]
    fn run_defaults_to_fixed_loopback_ports() {
        let Task::Run(run) = config(&["run"]).unwrap().task else {
            panic!("run is a run task");
        };
        assert_eq!(run.api_listen.to_string(), "127.0.0.1:7480");
        assert_eq!(run.metrics_listen.to_string(), "127.0.0.1:9464");
        assert_eq!(run.endpoint.as_str(), crate::cli::DEFAULT_ENDPOINT);
        assert!(run.fleet.is_none());
        assert_eq!((run.sim.stations, run.sim.ports), (50, 2));
    }

    #[test]
    fn write_answer_timeout_defaults_to_ten_seconds_and_is_bounded() {
        let timeout = |args: &[&str]| match config(args).map(|c| c.task) {
            Ok(Task::Run(run)) => Ok(run.write_answer_timeout),
            Ok(_) => panic!("run is a run task"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(timeout(&["run"]), Ok(Duration::from_secs(10)));
        assert_eq!(
            timeout(&["run", "--write-answer-timeout", "2.5"]),
            Ok(Duration::from_millis(2500))
        );
        assert_eq!(
            timeout(&["run", "--write-answer-timeout", "0"]),
            Err("--write-answer-timeout: '0' is not a positive number of seconds up to 50".into())
        );
        assert_eq!(
            timeout(&["run", "--write-answer-timeout", "90"]),
            Err("--write-answer-timeout: '90' is not a positive number of seconds up to 50".into())
        );
    }

    #[test]
    fn bad_listen_address_names_the_option() {
        let err = config(&["run", "--api-listen", "localhost"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--api-listen: 'localhost' is not an address like 127.0.0.1:7480"
        );
    }

    #[test]
    fn account_endpoint_needs_account_and_url() {
        let Task::Run(run) = config(&[
            "run",
            "fleet.json",
            "--account-endpoint",
            "acct1=http://127.0.0.1:9000/cp",
        ])
        .unwrap()
        .task
        else {
            panic!("run is a run task");
        };
        assert_eq!(
            run.account_endpoints,
            vec![(
                "acct1".to_string(),
                Url::parse("http://127.0.0.1:9000/cp").unwrap()
            )]
        );
        let err = config(&["run", "--account-endpoint", "http://x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--account-endpoint: 'http://x' is not ACCOUNT=URL"
        );
        let err = config(&["run", "--account-endpoint", "a=ftp://x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--account-endpoint: 'ftp://x' is not an http:// or https:// URL"
        );
    }

    #[test]
    fn device_path_with_an_empty_segment_is_refused() {
        let err = config(&["get", "campus//unit", "Status"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "device 'campus//unit': expected a path like campus/building/unit"
        );
    }

    #[test]
    fn zero_interval_is_refused() {
        let err = config(&["run", "--interval", "0"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--interval: '0' is not a positive number of seconds up to 31622400"
        );
        let err = config(&["run", "--interval", "1e12"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--interval: '1000000000000' is not a positive number of seconds up to 31622400"
        );
    }

    /// Issue 14: the embedded simulator must not listen beyond loopback, and
    /// `--account-endpoint` needs a fleet whose account it names.
    #[test]
    fn sim_listen_is_loopback_and_account_endpoints_need_a_fleet() {
        let err = config(&["run", "--sim-listen", "0.0.0.0:0"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--sim-listen: 0.0.0.0:0 is not a loopback address: the embedded simulator listens on 127.0.0.1 or [::1] only"
        );
        let err = config(&["run", "--account-endpoint", "a=http://127.0.0.1:1/x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--account-endpoint: only for a FLEET (the embedded simulator is reached directly)"
        );
    }
}
