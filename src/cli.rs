//! The command line as clap parses it: raw, unvalidated. [`crate::config::Config`] checks it.
//!
//! Two stages, as ripgrep does: clap only knows shapes and defaults; everything that needs
//! judgement (a listen address, a URL, pairs of POINT VALUE) is validated in `config.rs`, where
//! errors are typed and tested.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where `run` serves the device API unless told otherwise; the client commands talk to it.
/// 7480 is rarely taken (unlike 8080), so `run` in one terminal and `set` in another just work.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:7480";

/// Where `run` serves `/metrics` (Prometheus' conventional exporter range).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// ChargePoint's North-America endpoint (SERVICE-FACTS.md); Canada and Europe have their own.
pub const DEFAULT_ENDPOINT: &str =
    "https://webservices.chargepoint.com/webservices/chargepoint/services/5.0";

/// The environment variable that holds the API's bearer token, for the server and the client.
pub const TOKEN_ENV: &str = "CP_SUPERVISOR_TOKEN";

/// Supervises ChargePoint EV charging stations (SOAP API 5.0) as VOLTTRON-style devices.
#[derive(Debug, Parser)]
#[command(name = "chargepoint-supervisor", version, about)]
pub struct Cli {
    /// Log format: `auto` is human-readable on a terminal and JSON otherwise.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable when stderr is a terminal, JSON otherwise.
    Auto,
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Supervise a fleet. Without FLEET, supervise the embedded simulator (50 stations, 2 accounts).
    Run(RunArgs),
    /// Serve the ChargePoint simulator on loopback.
    Sim(crate::sim::SimArgs),
    /// Check a fleet file, device config or registry CSV and report every problem.
    Check {
        /// A fleet file, a directory of device configs, or a registry CSV.
        path: PathBuf,
    },
    /// Read points from a running supervisor.
    Get {
        #[command(flatten)]
        api: ApiArgs,
        /// The device path, e.g. `campus/building/unit`.
        device: String,
        /// One or more point names.
        #[arg(required = true)]
        points: Vec<String>,
    },
    /// Write points on a running supervisor: POINT VALUE pairs, written together.
    Set {
        #[command(flatten)]
        api: ApiArgs,
        /// The device path, e.g. `campus/building/unit`.
        device: String,
        /// POINT VALUE [POINT VALUE...]; VALUE is JSON (`3.5`, `-1`, `true`) or else plain text.
        /// A negative number is a value, not an option: the server judges its range.
        #[arg(required = true, num_args = 2.., value_names = ["POINT", "VALUE"], allow_negative_numbers = true)]
        pairs: Vec<String>,
    },
    /// Scrape every point of a device on a running supervisor.
    Scrape {
        #[command(flatten)]
        api: ApiArgs,
        /// The device path, e.g. `campus/building/unit`.
        device: String,
    },
    /// Revert a point (or, without POINT, the whole device) to its default state.
    Revert {
        #[command(flatten)]
        api: ApiArgs,
        /// The device path, e.g. `campus/building/unit`.
        device: String,
        /// The point to revert; all of the device's points when absent.
        point: Option<String>,
    },
    /// Show what became of a write: `set` answers `pending` with the write's id when its
    /// outcome is not known within the supervisor's --write-answer-timeout.
    Write {
        #[command(flatten)]
        api: ApiArgs,
        /// The write's id, as `set` printed it.
        id: u64,
    },
    /// List the devices of a running supervisor.
    Devices {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show the health of a running supervisor.
    Health {
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// `run`'s options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A fleet file or a directory of device configs. Without it, the embedded simulator is used.
    pub fleet: Option<PathBuf>,

    /// The ChargePoint endpoint for every account (with FLEET).
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,

    /// Per-account endpoint override, `ACCOUNT=URL` (ACCOUNT is the account's name or username).
    #[arg(long = "account-endpoint", value_name = "ACCOUNT=URL")]
    pub account_endpoints: Vec<String>,

    /// Address of the device HTTP API (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = DEFAULT_API_LISTEN)]
    pub api_listen: String,

    /// Address of the Prometheus `/metrics` listener (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = DEFAULT_METRICS_LISTEN)]
    pub metrics_listen: String,

    /// Bearer token required by write endpoints. Precedence: this flag, then the
    /// CP_SUPERVISOR_TOKEN environment variable, then the fleet file's "api" token (token,
    /// token_env or token_file); with none of them, writes need no token.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,

    /// Seconds the device API waits for a write's outcome before it answers `pending` with the
    /// write's id (its outcome: `GET /api/writes/{id}`, and a `write` event on `/api/events`).
    /// At most 50.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub write_answer_timeout: f64,

    /// Seconds between scrapes of every changing point, overriding the registry and device
    /// configs (default for the embedded simulator: 10).
    #[arg(long, value_name = "SECONDS")]
    pub interval: Option<f64>,

    /// Stations in the embedded simulator (without FLEET).
    #[arg(long, default_value_t = 50)]
    pub sim_stations: u32,

    /// Ports per station in the embedded simulator (without FLEET).
    #[arg(long, default_value_t = 2)]
    pub sim_ports: u16,

    /// Address of the embedded simulator (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sim_listen: String,

    /// Never draw the one-line fleet summary, even on a terminal.
    #[arg(long)]
    pub no_summary: bool,
}

/// How the client commands reach a running supervisor.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Base URL of the supervisor's device API.
    #[arg(long, default_value_t = format!("http://{DEFAULT_API_LISTEN}"))]
    pub api: String,

    /// Bearer token for writes.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,

    /// Print the API's JSON answer instead of the readable form.
    #[arg(long)]
    pub json: bool,

    /// Seconds to wait for the supervisor's answer (it answers a write within its
    /// --write-answer-timeout, 10 s by default, and anything else within 60 s).
    #[arg(long, default_value_t = 70.0, value_name = "SECONDS")]
    pub timeout: f64,
}
