//! [`WriteOutcome`]: what became of a write, as its caller, the metrics and the log see it.

use serde::Serialize;

/// What became of a write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WriteOutcome {
    /// ChargePoint accepted it and a read-back shows it (or there was nothing to send: a stored
    /// limit for an unshed port, clearAlarms=0).
    Confirmed,
    /// ChargePoint accepted it but the read-back does not show it yet; the station keeps
    /// re-asserting sheds in the background.
    Pending,
    /// The call failed.
    Failed { reason: String },
}
