//! [`WriteOutcome`]: what became of a write, as its caller, the metrics and the log see it.

use serde::Serialize;

/// What became of a write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WriteOutcome {
    /// ChargePoint accepted it and a read-back shows it (or there was nothing to send:
    /// clearAlarms=0).
    Confirmed,
    /// Nothing was sent: an allowedLoad / percentShed written to a port that is not shed (or
    /// the revert of one) only changes the stored intent, which the next shedState=1 applies.
    /// A read shows the value in force, with the stored intent beside it.
    Stored,
    /// ChargePoint accepted it but the read-back does not show it yet; the station keeps
    /// re-asserting sheds in the background.
    Pending,
    /// The call failed.
    Failed { reason: String },
    /// The account's API plan does not permit the method: ChargePoint refused this call for
    /// plan rights, or refused it earlier (then nothing was sent). `reason` names the method
    /// and the account.
    Refused { reason: String },
}
