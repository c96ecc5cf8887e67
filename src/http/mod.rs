//! The device HTTP API (server) and its client (the CLI's `get`, `set`, ...).
//!
//! Layout:
//! - `route`: reads `/api/devices/{*rest}` into a device path and an operation.
//! - `body`: JSON bodies of the write endpoints, shared by server and client.
//! - `events`: the SSE stream of publish messages.
//! - `metrics`: the `/metrics` router for the separate Prometheus listener.
//! - `client`: the reqwest client the CLI commands use.
mod body;
pub mod client;
mod events;
mod metrics;
mod route;

pub use metrics::metrics_router;
