//! `chargepoint-supervisor`: adapters and the binary.
//!
//! Layout:
//! - `check`: the `check` command: validates configuration and summarises what it will do.
//! - `sim`: the ChargePoint simulator (`chargepoint-supervisor sim`), a SOAP server over a simulated fleet.
//! - `soap`: the ChargePoint SOAP 5.0 client (implements `cp_actors::ChargePointApi`).
//! - `http`: the device HTTP API (router, SSE, errors) and the CLI's client for it.
//! - `run`: the `run` command: fleet, API, `/metrics`, summary and signals wired together.
//! - `summary`: the live one-line fleet summary `run` shows.
//! - `cli`: the command line as clap parses it; `config`: the same, validated.
/// jemalloc's options (its `malloc_conf`), read at its start, for every binary that runs on it
/// (the supervisor, and the fleet bench's own children so they pay for memory alike). Two
/// arenas for the supervisor's few busy threads (each thread also caches its own small
/// allocations); the default, four per core, kept 3 MB more at 1,000 stations on two cores.
/// A background thread returns freed pages to the system on time: without it an arena purges
/// only when it next allocates, and at 10,000 stations the pages freed after start-up stayed
/// resident for a minute and a half (295 MiB against 250 MiB a minute after start;
/// benches/README.md, session 8).
pub const JEMALLOC_OPTIONS: &[u8] = b"narenas:2,background_thread:true\0";

pub mod check;
pub mod cli;
pub mod config;
pub mod http;
pub mod run;
pub mod sim;
pub mod soap;
pub mod summary;
