//! `chargepoint-supervisor`: parse the command line, set up tracing, build the config, run.
//!
//! ```text
//! cargo run --release -- run                      # supervise the embedded simulator
//! cargo run --release -- set org1/garage/10001 port1.allowedLoad 3 port1.shedState 1
//! cargo run --release -- revert org1/garage/10001
//! ```
//!
//! Errors print their whole source chain and the process exits non-zero.

use std::io::IsTerminal;
use std::process::ExitCode;

use chargepoint_supervisor::check::{self, CheckFailed};
use chargepoint_supervisor::cli::{Cli, LogFormat};
use chargepoint_supervisor::config::{Config, ConfigError, Task};
use chargepoint_supervisor::http::client::{self, ClientError};
use chargepoint_supervisor::run::{self, RunError};
use chargepoint_supervisor::sim::{self, SimError};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc's malloc: a fleet's work is many small allocations that live for
/// a message or a reply, and at 10,000 stations glibc spent a third of the supervisor's CPU in
/// malloc and free (jemalloc: 0.78 s a minute against 1.21 s; benches/README.md, session 7).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (see [`chargepoint_supervisor::JEMALLOC_OPTIONS`]).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = chargepoint_supervisor::JEMALLOC_OPTIONS;

/// Why the command failed, for `main` to print.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Check(#[from] CheckFailed),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match Config::try_from(cli) {
        Ok(config) => {
            init_tracing(&config);
            execute(config).await
        }
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", cp_actors::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn execute(config: Config) -> Result<(), Failure> {
    match config.task {
        Task::Run(run_config) => run::run(run_config, run::shutdown_signal()).await?,
        Task::Sim(args) => sim::run_sim(args, run::shutdown_signal()).await?,
        Task::Check(path) => check::check(&path, &mut std::io::stdout().lock())?,
        Task::Client { api, request } => {
            client::execute(&api, &request, &mut std::io::stdout().lock()).await?
        }
    }
    Ok(())
}

/// Logs go to stderr: human-readable on a terminal, JSON lines otherwise (or as `--log-format`
/// says). `RUST_LOG` filters; by default `info`, or `error` under `run`'s live summary so log
/// lines do not tear the redrawn line (its error count and `health` show what failed).
fn init_tracing(config: &Config) {
    let summary_drawn =
        matches!(&config.task, Task::Run(r) if r.summary && std::io::stdout().is_terminal());
    let default = if summary_drawn { "error" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
