//! [`WriteTicket`]: one routed write on its way, with its caller and its entry in the write
//! log, so that whatever becomes of the write both hear of it, once.
//!
//! The station makes the ticket when it routes the write; it travels with the write through
//! the port's queue and into the task that sends the call. The caller is told at most once:
//! the outcome, or `pending` when the write goes on settling in the background (then the log
//! entry settles later). A ticket dropped before its write settled (its port failed with the
//! write queued, or the station stopped with the call under way) settles its entry as failed,
//! saying which: a write is never left pending for good.

use std::sync::Arc;

use super::write::{report_write, PortContext};
use super::WriteReplyPort;
use crate::device::{error_chain, DeviceError};
use crate::outcome::WriteId;
use crate::outcome::WriteOutcome;

/// One write on its way (see the module doc).
pub struct WriteTicket {
    id: WriteId,
    /// The attribute written, for metrics.
    attribute: &'static str,
    context: Arc<PortContext>,
    /// The caller, until told.
    reply: Option<WriteReplyPort>,
    /// Whether the write's call was sent: what a ticket dropped unsettled says.
    sent: bool,
    /// Whether the log entry is settled, by this ticket or by someone else.
    done: bool,
}

impl WriteTicket {
    pub(crate) fn new(
        id: WriteId,
        attribute: &'static str,
        context: Arc<PortContext>,
        reply: WriteReplyPort,
    ) -> Self {
        WriteTicket {
            id,
            attribute,
            context,
            reply: Some(reply),
            sent: false,
            done: false,
        }
    }

    pub(crate) fn id(&self) -> WriteId {
        self.id
    }

    /// The write's call is about to go out.
    pub(crate) fn mark_sent(&mut self) {
        self.sent = true;
    }

    /// Tells the caller `pending`: the write settles in the background.
    pub(crate) fn answer_pending(&mut self) {
        if let Some(reply) = self.reply.take() {
            // The caller may have given up waiting; the write goes on all the same.
            let _ = reply.send(Ok(WriteOutcome::Pending));
        }
    }

    /// Settles the write with `result` and tells the caller, unless it was told `pending`
    /// already. A write someone else settled first (superseded) keeps that outcome.
    pub(crate) fn settle(mut self, result: Result<WriteOutcome, DeviceError>) {
        self.done = true;
        let outcome = match &result {
            Ok(outcome) => outcome.clone(),
            Err(e) => WriteOutcome::Failed {
                reason: error_chain(e),
            },
        };
        if self.context.writes.settle(self.id, outcome) {
            report_write(&self.context, self.attribute, &result);
        } else if let Some(record) = self.context.writes.get(self.id).filter(|r| r.settled) {
            // Settled first by someone else (superseded): that outcome stands.
            report_write(&self.context, self.attribute, &Ok(record.outcome));
        }
        if let Some(reply) = self.reply.take() {
            // The caller may have given up waiting; the write is settled all the same.
            let _ = reply.send(result);
        }
    }

    /// Whether someone else settled the write (its port superseded it); if so, the ticket is
    /// done and the metrics hear of the outcome.
    pub(crate) fn settled_elsewhere(&mut self) -> bool {
        if self.done {
            return true;
        }
        let Some(record) = self.context.writes.get(self.id) else {
            return false;
        };
        if record.settled {
            self.done = true;
            report_write(&self.context, self.attribute, &Ok(record.outcome));
        }
        self.done
    }
}

impl Drop for WriteTicket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let reason = if self.sent {
            "the station stopped before the write's outcome was known; read the point back"
        } else {
            "not sent: its port failed or the station stopped before the write ran"
        };
        let outcome = WriteOutcome::Failed {
            reason: reason.to_string(),
        };
        if self.context.writes.settle(self.id, outcome.clone()) {
            report_write(&self.context, self.attribute, &Ok(outcome));
        }
    }
}
