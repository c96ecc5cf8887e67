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
pub mod check;
pub mod cli;
pub mod config;
pub mod http;
pub mod run;
pub mod sim;
pub mod soap;
pub mod summary;
