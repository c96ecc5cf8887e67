//! The device HTTP API (server) and its client (the CLI's `get`, `set`, ...).
//!
//! Layout:
//! - `route`: reads `/api/devices/{*rest}` into a device path and an operation.
//! - `body`: JSON bodies of the write endpoints, shared by server and client.
//! - `events`: the SSE stream of publish messages.
//! - `client`: the reqwest client the CLI commands use.
mod body;
pub mod client;
mod events;
mod route;
