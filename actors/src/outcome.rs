//! [`WriteOutcome`]: what became of a write, as its caller, the metrics and the log see it;
//! [`WriteAnswer`]: what its caller is told, with the [`WriteId`] to follow it up by.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A write's id: unique for the life of the supervisor, increasing in the order the stations
/// routed the writes, so of two writes to one point the larger id is the later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct WriteId(pub u64);

impl fmt::Display for WriteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for WriteId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(WriteId)
    }
}

/// What became of a write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WriteOutcome {
    /// ChargePoint accepted it and a read-back shows it (or there was nothing to send:
    /// clearAlarms=0). Also a write whose answer was lost (no answer in time, a reset
    /// connection, a truncated or malformed answer) when getLoad read back shows it in force.
    Confirmed,
    /// Nothing was sent: an allowedLoad / percentShed written to a port that is not shed (or
    /// the revert of one) only changes the stored intent, which the next shedState=1 applies.
    /// A read shows the value in force, with the stored intent beside it.
    Stored,
    /// Not settled yet: the write is queued or under way, ChargePoint accepted it but getLoad
    /// does not show it yet, or its answer was lost and getLoad could not be read back yet.
    /// Its entry in the write log (by its id) settles in the background.
    Pending,
    /// The call failed; when its answer was lost, getLoad read back does not show it.
    Failed { reason: String },
    /// The account's API plan does not permit the method: ChargePoint refused this call for
    /// plan rights, or refused it earlier (then nothing was sent). `reason` names the method
    /// and the account.
    Refused { reason: String },
    /// A later write took its place: it waited behind the port's call in flight and write `by`
    /// to the same point came in after it (it was never sent), or it was left pending and
    /// write `by` sent a new shed or clear to the same port before it settled. Write `by`'s
    /// outcome is the one that counts.
    Superseded { by: WriteId },
}

/// What the caller of a write is told: the write's id in the write log (when the write got as
/// far as being routed) and its outcome, `pending` if it did not settle within the answer
/// bound ([`crate::FleetOptions::write_answer_timeout`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<WriteId>,
    #[serde(flatten)]
    pub outcome: WriteOutcome,
}

impl WriteAnswer {
    /// The answer to a write that has no entry in the write log.
    pub fn unlogged(outcome: WriteOutcome) -> Self {
        WriteAnswer {
            write: None,
            outcome,
        }
    }
}
