//! `chargepoint-supervisor`: adapters and the binary.
//!
//! Layout:
//! - `soap`: the ChargePoint SOAP 5.0 client (implements `cp_actors::ChargePointApi`).
//! - `http`: the device HTTP API (router, SSE, errors) and the CLI's client for it.
//! - `summary`: the live one-line fleet summary `run` shows.
//! - `cli`: the command line as clap parses it; `config`: the same, validated.
//! - `check`: the `check` command: validates configuration and summarises what it will do.
pub mod check;
pub mod cli;
pub mod config;
pub mod http;
pub mod soap;
pub mod summary;
