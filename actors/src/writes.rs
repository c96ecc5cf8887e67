//! [`WriteLog`]: the fleet's recent writes by id, so a write answered `pending` can be looked
//! up (and watched for) until it settles.
//!
//! A station opens an entry for every write it routes ([`WriteLog::open`]); whoever learns the
//! write's final outcome settles it ([`WriteLog::settle`]): the port that ran or superseded it,
//! its read-back in the background, or its ticket when it is dropped unsettled. The first
//! settle wins, so a write superseded by the port while its read-back was still going on stays
//! superseded. Each settle goes out on a bounded broadcast channel (the API's SSE stream
//! subscribes), whether or not the entry is still kept.
//!
//! The log is bounded: the newest [`MAX_WRITES_KEPT`] entries, and settled ones for
//! [`SETTLED_WRITES_KEPT_FOR`] after they settled. Entries go oldest first, so an old write
//! still unsettled keeps the settled ones behind it until the count bound pushes it out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::outcome::{WriteId, WriteOutcome};

/// Writes the log keeps at most: a few hours of a busy operator's writes to a large fleet, at
/// a few hundred bytes each (a few MiB in all).
pub const MAX_WRITES_KEPT: usize = 10_000;

/// How long a settled write stays readable: long enough for a caller that got `pending` to
/// come back for the outcome, short enough that the log stays small.
pub const SETTLED_WRITES_KEPT_FOR: Duration = Duration::from_secs(60 * 60);

/// Settled writes buffered for event subscribers; one that falls further behind skips ahead.
pub const WRITE_EVENT_CAPACITY: usize = 1024;

/// One write as the log knows it: what was asked, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteRecord {
    pub write: WriteId,
    pub device: String,
    pub point: String,
    /// The value written; `null` for a revert.
    pub value: serde_json::Value,
    pub requested_at: DateTime<Utc>,
    /// Whether `outcome` is final; until then it is `pending`.
    pub settled: bool,
    pub settled_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub outcome: WriteOutcome,
}

/// The fleet's recent writes. Cheap to clone; every clone sees the same entries.
#[derive(Clone)]
pub struct WriteLog {
    /// std Mutex: held only to look up, add or settle one entry, never across an await.
    entries: Arc<Mutex<Entries>>,
    /// Every settle, as it happens; nobody needs to listen.
    events: broadcast::Sender<WriteRecord>,
}

struct Entries {
    /// The id the next write gets.
    next: u64,
    /// Kept entries in id order, with no gaps: an id's index is its distance from the front's.
    /// Beside each, when it settled (for the age bound, on tokio's clock).
    kept: VecDeque<(WriteRecord, Option<Instant>)>,
}

impl Entries {
    fn index(&self, id: WriteId) -> Option<usize> {
        let front = self.kept.front()?.0.write.0;
        let index = usize::try_from(id.0.checked_sub(front)?).ok()?;
        (index < self.kept.len()).then_some(index)
    }

    /// Drops what is over the count bound, and settled entries past their age at the front.
    fn evict(&mut self, now: Instant) {
        while self.kept.len() >= MAX_WRITES_KEPT {
            self.kept.pop_front();
        }
        while let Some((_, Some(settled))) = self.kept.front() {
            if now.duration_since(*settled) < SETTLED_WRITES_KEPT_FOR {
                break;
            }
            self.kept.pop_front();
        }
    }
}

impl Default for WriteLog {
    fn default() -> Self {
        let (events, _) = broadcast::channel(WRITE_EVENT_CAPACITY);
        WriteLog {
            entries: Arc::new(Mutex::new(Entries {
                next: 1,
                kept: VecDeque::new(),
            })),
            events,
        }
    }
}

impl WriteLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every change under the lock is a single push, pop or field update: a panic elsewhere
        // cannot leave the entries half-changed.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a pending entry for a write of `value` to `device`'s `point`.
    pub(crate) fn open(&self, device: &str, point: &str, value: serde_json::Value) -> WriteId {
        let mut entries = self.lock();
        entries.evict(Instant::now());
        let id = WriteId(entries.next);
        entries.next += 1;
        let record = WriteRecord {
            write: id,
            device: device.to_string(),
            point: point.to_string(),
            value,
            requested_at: Utc::now(),
            settled: false,
            settled_at: None,
            outcome: WriteOutcome::Pending,
        };
        entries.kept.push_back((record, None));
        id
    }

    /// Settles `id` with `outcome`, unless it is settled already; says whether this call did.
    /// A `pending` outcome settles nothing. The settled entry goes out to subscribers.
    pub(crate) fn settle(&self, id: WriteId, outcome: WriteOutcome) -> bool {
        if outcome == WriteOutcome::Pending {
            return false;
        }
        let record = {
            let mut entries = self.lock();
            let Some(index) = entries.index(id) else {
                return false;
            };
            let (record, settled) = &mut entries.kept[index];
            if record.settled {
                return false;
            }
            record.settled = true;
            record.settled_at = Some(Utc::now());
            record.outcome = outcome;
            *settled = Some(Instant::now());
            record.clone()
        };
        // Nobody listening is fine: the entry is kept for readers.
        let _ = self.events.send(record);
        true
    }

    /// The entry of `id`, if it is still kept.
    pub fn get(&self, id: WriteId) -> Option<WriteRecord> {
        let entries = self.lock();
        let index = entries.index(id)?;
        Some(entries.kept[index].0.clone())
    }

    /// Every settle from now on. A subscriber that lags skips settles (`Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<WriteRecord> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_write_is_pending_until_settled_and_the_first_settle_wins() {
        let log = WriteLog::default();
        let mut events = log.subscribe();
        let id = log.open("campus/bldg/1", "shedState", json!(1));
        let open = log.get(id).expect("kept");
        assert_eq!((open.settled, open.outcome), (false, WriteOutcome::Pending));
        assert!(
            !log.settle(id, WriteOutcome::Pending),
            "pending is no outcome"
        );
        let by = WriteId(id.0 + 1);
        assert!(log.settle(id, WriteOutcome::Superseded { by }));
        assert!(!log.settle(id, WriteOutcome::Confirmed));
        let settled = log.get(id).expect("kept");
        assert!(settled.settled && settled.settled_at.is_some());
        assert_eq!(settled.outcome, WriteOutcome::Superseded { by });
        assert_eq!(events.try_recv().expect("one event"), settled);
        assert!(events.try_recv().is_err(), "a second settle sends nothing");
    }

    #[test]
    fn a_record_reads_as_the_api_shows_it() {
        let log = WriteLog::default();
        let id = log.open("d", "port1.allowedLoad", json!(3.5));
        log.settle(
            id,
            WriteOutcome::Failed {
                reason: "no".into(),
            },
        );
        let mut shown = serde_json::to_value(log.get(id).expect("kept")).expect("serialises");
        for time in ["requested_at", "settled_at"] {
            assert!(shown[time].is_string(), "{shown}");
            shown[time] = json!("T");
        }
        assert_eq!(
            shown,
            json!({
                "write": 1, "device": "d", "point": "port1.allowedLoad", "value": 3.5,
                "requested_at": "T", "settled": true, "settled_at": "T",
                "outcome": "failed", "reason": "no",
            })
        );
    }

    #[test]
    fn the_log_keeps_the_newest_writes_and_unknown_ids_read_as_none() {
        let log = WriteLog::default();
        let ids: Vec<WriteId> = (0..MAX_WRITES_KEPT + 5)
            .map(|_| log.open("d", "p", json!(1)))
            .collect();
        assert!(log.get(ids[4]).is_none(), "pushed out by the count bound");
        assert!(log.get(ids[5]).is_some());
        assert!(log.get(*ids.last().expect("some")).is_some());
        assert!(log.get(WriteId(0)).is_none());
        assert!(log.get(WriteId(u64::MAX)).is_none());
        assert!(
            !log.settle(ids[0], WriteOutcome::Confirmed),
            "no longer kept"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn settled_writes_go_after_an_hour_and_pending_ones_stay() {
        let log = WriteLog::default();
        let settled = log.open("d", "p", json!(1));
        let pending = log.open("d", "p", json!(2));
        log.settle(settled, WriteOutcome::Confirmed);
        tokio::time::advance(SETTLED_WRITES_KEPT_FOR).await;
        log.open("d", "p", json!(3));
        assert!(log.get(settled).is_none());
        assert!(log.get(pending).is_some(), "still pending: kept");
    }
}
