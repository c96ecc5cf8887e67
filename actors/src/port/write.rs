//! A port's calls to ChargePoint: where shedLoad and clearShedState are built and sent, and
//! where a write is confirmed, or settled, by reading getLoad back.
//!
//! Each call runs in a task the port starts (see [`super::PortActor`]) and the station owns, so
//! it outlives a port that fails meanwhile: the task answers its caller itself, and reaches
//! the port actor running at the time through [`PortAddress`] to report what ChargePoint
//! accepted and that it is done.
//!
//! How a write settles ([`Settle`]):
//! - ChargePoint accepted it: getLoad is read back until it shows the write (`confirmed`) or
//!   the confirm timeout passes; then the port's lane is freed and the write settles in the
//!   background.
//! - Its answer was lost (no answer in time, a reset connection, a 5xx, a truncated or
//!   malformed answer; see [`answer_lost`]): ChargePoint may have applied it, so it is not
//!   called failed on the call's word. getLoad is read back the same way: shown in force, it is
//!   `confirmed` (and the port takes it as applied); read and not shown, `failed`; never read,
//!   it settles in the background.
//! - Any other failure, or `success=0`: `failed` (or `refused`) at once.
//!
//! In the background ([`PortCalls::settle_later`]) getLoad is read, sharing the station's own
//! reads, at growing intervals until it shows the write (`confirmed`), shows a lost write not
//! in force (`failed`), the port sends a later shed or clear (`superseded`, by the port), or a
//! lease has passed since the call (`failed`: by then a shed that was never shown has lapsed).

use std::sync::Arc;
use std::time::Duration;

use cp_registry::{AccountId, ApiMethod, GroupId, StationId, StationLoad};
use ractor::{ActorRef, MessagingErr};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{PortMessage, WriteTicket};
use crate::api::LoadScope;
use crate::api::{ClearShedRequest, PortShed, ShedLimit, ShedRequest, ShedScope};
use crate::device::{error_chain, DeviceError};
use crate::error::SoapError;
use crate::gateway::{
    GatewayError, GatewayHandle, ReadReply, ReadRequest, WriteReply, WriteRequest,
};
use crate::options::FleetOptions;
use crate::outcome::WriteOutcome;
use crate::writes::WriteLog;

/// How long a task waits for a failed port actor to be restarted before its report is lost.
const PORT_RESTART_WAIT: Duration = Duration::from_secs(2);

/// The longest pause between two getLoad reads of a write settling in the background. The reads
/// share the station's own getLoad (a group's answer serves all its stations), so a slow
/// cadence costs next to nothing; it starts at the confirm poll and doubles up to this.
const MAX_SETTLE_PAUSE: Duration = Duration::from_secs(60);

/// What getLoad must show for a write to be in force on its scope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// A shed with this limit (shedLoad).
    Limit(ShedLimit),
    /// No shed (clearShedState).
    Unshed,
}

impl Expect {
    fn shown(self, scope: LoadScope, load: &StationLoad) -> bool {
        match self {
            Expect::Limit(limit) => scope.shows_limit(load, limit),
            Expect::Unshed => scope.shows_unshed(load),
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Limit(ShedLimit::AllowedLoad(kw)) => write!(f, "a shed at {kw} kW"),
            Expect::Limit(ShedLimit::PercentShed(pct)) => write!(f, "a {pct}% shed"),
            Expect::Unshed => f.write_str("no shed"),
        }
    }
}

/// How a write's call ended for the port.
pub(super) enum Settle {
    /// Settled: tell the caller.
    Done(WriteOutcome),
    /// Not settled yet: free the port's lane, tell the caller `pending`, settle in the
    /// background.
    Later(Unsettled),
}

/// A write left to settle in the background.
pub(super) struct Unsettled {
    expect: Expect,
    /// Why the call's answer was lost; `None` when ChargePoint accepted the write.
    lost: Option<String>,
    /// When the call went out: the write settles within a lease of it.
    sent: Instant,
}

/// What a write's read-backs showed.
enum ReadBack {
    /// getLoad showed the write in force.
    Shown,
    /// getLoad was read, and did not show it.
    NotShown,
    /// getLoad could not be read.
    Unread,
}

/// Whether a write call's failure leaves its outcome unknown: ChargePoint may have applied it
/// and the answer was lost on the way (no answer in time, a reset connection, a 5xx, an answer
/// cut short or unreadable), or the gateway did not answer in time. Refusals (plan rights,
/// authentication, invalid input, faults, rate limits, 4xx, redirects) say it was not applied,
/// and a full queue sent nothing.
pub(super) fn answer_lost(error: &GatewayError) -> bool {
    match error {
        GatewayError::Unreachable { .. } => true,
        GatewayError::Overloaded { .. } => false,
        GatewayError::Call { source, .. } => match &**source {
            SoapError::Connect { .. } | SoapError::Timeout { .. } | SoapError::Malformed { .. } => {
                true
            }
            SoapError::HttpStatus { status, .. } => *status >= 500,
            _ => false,
        },
    }
}

/// Where a write's getLoad read-back goes (the station's snapshot), with when it was asked
/// for. A function rather than the station's address, so ports need not know the station.
pub type ReadBackSink = Arc<dyn Fn(Arc<StationLoad>, Instant) + Send + Sync>;

/// Tells the station that ChargePoint accepted a clearShedState of the whole station, so its
/// ports drop the sheds it lifted (see [`PortMessage::StationCleared`]). A function, as
/// [`ReadBackSink`] is.
pub type StationClearedSink = Arc<dyn Fn() + Send + Sync>;

/// The port actor running now. The station replaces it when it restarts the port.
pub type PortAddress = watch::Receiver<Option<ActorRef<PortMessage>>>;

/// The tasks of a station's ports. The station owns them: it stops them all when it stops,
/// while a port that fails leaves its tasks running to report to its successor.
#[derive(Clone, Default)]
pub struct PortTasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl PortTasks {
    /// Runs `work` until it ends or the station stops.
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        // Tracked by `tracker` and ended by `stop`: the station's `post_stop` cancels it.
        self.tracker.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = work => {}
            }
        });
    }

    /// Ends every task (the station is stopping).
    pub fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
    }
}

/// What every port of a station shares: who it is, whom it calls, where read-backs go.
pub struct PortContext {
    /// The device path, for errors and logs.
    pub device: String,
    pub station: StationId,
    /// The station's account: writes are counted per account.
    pub account: AccountId,
    pub gateway: GatewayHandle,
    pub options: Arc<FleetOptions>,
    /// The station's group (from getStations), so a read-back can share a group's getLoad.
    pub group: watch::Receiver<Option<GroupId>>,
    pub read_back: ReadBackSink,
    /// Where the station-level registers report a station-wide clear.
    pub station_cleared: StationClearedSink,
    pub tasks: PortTasks,
    /// The write methods the account's plan is known to refuse (see [`PlanRefusals`]).
    pub plan_refusals: PlanRefusals,
    /// The fleet's write log, where every write's outcome is settled.
    pub writes: WriteLog,
}

/// Write methods the station's account is known not to be permitted, each with the refusal
/// ChargePoint sent. Learned from a write call ChargePoint refused for plan rights, not from
/// getStationRights: a rights profile (`network_manager`, `station_viewer`) says what the
/// account may do to a station, not which API methods its API plan grants, so no profile name
/// can promise a refusal. Once known, a write that needs the method is answered `refused` at
/// once and nothing is sent. Kept for the station's life: a plan does not change under a
/// running supervisor (a restart learns again, at the cost of one refused call).
#[derive(Default)]
pub struct PlanRefusals {
    /// std Mutex: held only to read or insert, never across an await.
    known: std::sync::Mutex<std::collections::HashMap<ApiMethod, String>>,
}

impl PlanRefusals {
    /// The refusal of `method`, if one is known.
    pub fn of(&self, method: ApiMethod) -> Option<String> {
        // A poisoned lock only means a panic elsewhere mid-insert; the map is still usable.
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(&method).cloned()
    }

    fn remember(&self, method: ApiMethod, reason: String) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(method, reason);
    }
}

/// One port's calls (or the whole station's, by [`LoadScope`]); cheap to clone into a task.
#[derive(Clone)]
pub(super) struct PortCalls {
    pub(super) context: Arc<PortContext>,
    pub(super) scope: LoadScope,
    pub(super) address: PortAddress,
}

impl PortCalls {
    /// shedLoad for this port (or station) with `limit`, carrying the lease; then the
    /// read-back.
    pub(super) async fn shed(&self, limit: ShedLimit) -> Result<Settle, DeviceError> {
        let sent = Instant::now();
        let expect = Expect::Limit(limit);
        match self.send_shed(limit).await {
            Ok(true) => {
                // Told as soon as ChargePoint accepted, so a port restarted meanwhile renews it.
                self.tell(PortMessage::ShedApplied { limit }).await;
                Ok(self.settle_accepted(expect, sent).await)
            }
            Ok(false) => Ok(Settle::Done(refused("shedLoad"))),
            Err(e) if answer_lost(&e) => Ok(self.settle_lost(expect, &e, sent).await),
            Err(e) => self.failed(e).map(Settle::Done),
        }
    }

    /// The lease renewal of a shed believed in force; its failure is logged, and the next
    /// renewal tries again before the lease lapses.
    pub(super) async fn renew(&self, limit: ShedLimit) {
        match self.send_shed(limit).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(device = %self.context.device, scope = %self.scope, "lease renewal refused (success=0)")
            }
            Err(e) => {
                tracing::warn!(device = %self.context.device, scope = %self.scope, cause = %error_chain(&e), "lease renewal failed")
            }
        }
    }

    /// Sends shedLoad; `Ok(false)` when ChargePoint answered success=0. A port's limit goes in
    /// `Ports`; the station's as `allowedLoadPerStation` / `percentShedPerStation` with no
    /// `Ports`, as the API guide asks of a station shed.
    async fn send_shed(&self, limit: ShedLimit) -> Result<bool, GatewayError> {
        let (station_limit, ports) = match self.scope {
            LoadScope::Station => (Some(limit), Vec::new()),
            LoadScope::Port(port) => (None, vec![PortShed { port, limit }]),
        };
        let request = WriteRequest::Shed(ShedRequest {
            scope: ShedScope::Station(self.context.station.clone()),
            station_limit,
            ports,
            time_interval_minutes: self.context.options.lease_minutes,
        });
        match self.gateway_write(request).await? {
            WriteReply::Shed(ack) => Ok(ack.success),
            _ => Ok(true),
        }
    }

    /// clearShedState for this port (or the whole station); then the read-back. A clear
    /// ChargePoint accepted is owed until the cleared shed's lease would lapse (see
    /// `PortRegisters::clear_owed_until`). A station's clear lifts its ports' sheds too, so the
    /// station's ports hear of it.
    pub(super) async fn clear(&self) -> Result<Settle, DeviceError> {
        let sent = Instant::now();
        match self.send_clear().await {
            Ok(true) => {
                self.applied(Expect::Unshed).await;
                Ok(self.settle_accepted(Expect::Unshed, sent).await)
            }
            Ok(false) => Ok(Settle::Done(refused("clearShedState"))),
            Err(e) if answer_lost(&e) => Ok(self.settle_lost(Expect::Unshed, &e, sent).await),
            Err(e) => self.failed(e).map(Settle::Done),
        }
    }

    /// Tells the port (and, for a station's clear, its ports) that `expect` took effect.
    async fn applied(&self, expect: Expect) {
        match expect {
            Expect::Limit(limit) => self.tell(PortMessage::ShedApplied { limit }).await,
            Expect::Unshed => {
                let retry_until = Instant::now() + self.context.options.lease();
                self.tell(PortMessage::ShedCleared { retry_until }).await;
                if self.scope == LoadScope::Station {
                    (self.context.station_cleared)();
                }
            }
        }
    }

    /// A write ChargePoint accepted: confirmed once getLoad shows it, else left to settle.
    async fn settle_accepted(&self, expect: Expect, sent: Instant) -> Settle {
        match self.confirm(expect).await {
            ReadBack::Shown => Settle::Done(WriteOutcome::Confirmed),
            ReadBack::NotShown | ReadBack::Unread => Settle::Later(Unsettled {
                expect,
                lost: None,
                sent,
            }),
        }
    }

    /// A write whose answer was lost: settled by what getLoad shows, not by the call's error.
    /// Shown in force, the port takes it as applied, as if ChargePoint had answered.
    async fn settle_lost(&self, expect: Expect, error: &GatewayError, sent: Instant) -> Settle {
        let cause = error_chain(error);
        tracing::warn!(device = %self.context.device, scope = %self.scope, cause = %cause, "a write's answer was lost; reading getLoad back to settle it");
        match self.confirm(expect).await {
            ReadBack::Shown => {
                self.applied(expect).await;
                Settle::Done(WriteOutcome::Confirmed)
            }
            ReadBack::NotShown => Settle::Done(WriteOutcome::Failed {
                reason: self.not_shown(&cause, expect),
            }),
            ReadBack::Unread => Settle::Later(Unsettled {
                expect,
                lost: Some(cause),
                sent,
            }),
        }
    }

    fn not_shown(&self, cause: &str, expect: Expect) -> String {
        format!(
            "{cause}; getLoad read back does not show {expect} on {}",
            self.scope
        )
    }

    /// Settles a write in the background (see the module doc); the port's lane is free
    /// meanwhile. Ends when the write settles, by this task or by the port.
    pub(super) async fn settle_later(&self, unsettled: Unsettled, mut ticket: WriteTicket) {
        let options = &self.context.options;
        let lease = options.lease();
        let deadline = unsettled.sent + lease;
        let mut pause = options.confirm_poll.max(Duration::from_millis(100));
        loop {
            let now = Instant::now();
            if now >= deadline {
                let minutes = lease.as_secs() / 60;
                let reason = match &unsettled.lost {
                    Some(cause) => format!(
                        "{cause}; getLoad could not be read back within the lease ({minutes} min), so whether it applied is not known"
                    ),
                    None => format!(
                        "ChargePoint accepted it, but getLoad did not show {} on {} within the lease ({minutes} min)",
                        unsettled.expect, self.scope
                    ),
                };
                ticket.settle(Ok(WriteOutcome::Failed { reason }));
                return;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            if ticket.settled_elsewhere() {
                return;
            }
            let fresh_within = pause;
            pause = (pause * 2).min(MAX_SETTLE_PAUSE);
            let Some(load) = self.read_load(fresh_within).await else {
                continue;
            };
            if unsettled.expect.shown(self.scope, &load) {
                if unsettled.lost.is_some() {
                    let (write, expect) = (ticket.id(), unsettled.expect);
                    self.tell(PortMessage::LostWriteShown { write, expect })
                        .await;
                }
                ticket.settle(Ok(WriteOutcome::Confirmed));
                return;
            }
            if let Some(cause) = &unsettled.lost {
                let reason = self.not_shown(cause, unsettled.expect);
                ticket.settle(Ok(WriteOutcome::Failed { reason }));
                return;
            }
        }
    }

    /// The station's getLoad, no older than `fresh_within` (shared with its scrapes).
    async fn read_load(&self, fresh_within: Duration) -> Option<Arc<StationLoad>> {
        let request = ReadRequest::Load {
            station: self.context.station.clone(),
            group: *self.context.group.borrow(),
        };
        let wait = self.context.options.gateway_wait();
        match self.context.gateway.read(request, fresh_within, wait).await {
            Ok(ReadReply::Load(load)) => load,
            _ => None,
        }
    }

    /// The port's own retry of a clear getLoad does not show yet. Nobody waits for it; the
    /// next getLoad shows whether it took.
    pub(super) async fn resend_clear(&self) {
        tracing::info!(device = %self.context.device, scope = %self.scope, "getLoad still shows a cleared shed; re-sending clearShedState");
        let reason = match self.send_clear().await {
            Ok(true) => return,
            Ok(false) => "clearShedState: ChargePoint answered success=0".to_string(),
            Err(e) => error_chain(&e),
        };
        tracing::warn!(device = %self.context.device, scope = %self.scope, cause = %reason, "clearShedState re-send failed");
    }

    /// Sends clearShedState; `Ok(false)` when ChargePoint answered success=0. No ports
    /// named clears the whole station.
    async fn send_clear(&self) -> Result<bool, GatewayError> {
        let request = WriteRequest::ClearShed(ClearShedRequest {
            scope: ShedScope::Station(self.context.station.clone()),
            ports: self.scope.port().into_iter().collect(),
        });
        match self.gateway_write(request).await? {
            WriteReply::ClearShed(ack) => Ok(ack.success),
            _ => Ok(true),
        }
    }

    async fn gateway_write(&self, request: WriteRequest) -> Result<WriteReply, GatewayError> {
        let wait = self.context.options.gateway_wait();
        self.context.gateway.write(request, wait).await
    }

    /// Reads getLoad back until it shows `expect` or the confirm timeout passes. Every
    /// read-back goes to the station before the write is answered, so the caller's next read
    /// shows it.
    async fn confirm(&self, expect: Expect) -> ReadBack {
        let options = &self.context.options;
        let deadline = Instant::now() + options.confirm_timeout;
        let mut read = false;
        loop {
            let request = ReadRequest::Load {
                station: self.context.station.clone(),
                group: *self.context.group.borrow(),
            };
            let requested = Instant::now();
            if let Ok(ReadReply::Load(Some(load))) = self
                .context
                .gateway
                .read_back(request, options.gateway_wait())
                .await
            {
                let shown = expect.shown(self.scope, &load);
                (self.context.read_back)(load, requested);
                if shown {
                    return ReadBack::Shown;
                }
                read = true;
            }
            if Instant::now() + options.confirm_poll > deadline {
                return if read {
                    ReadBack::NotShown
                } else {
                    ReadBack::Unread
                };
            }
            tokio::time::sleep(options.confirm_poll).await;
        }
    }

    /// A write call that failed: a full queue is the caller's to retry (nothing was sent); a
    /// plan-rights refusal is remembered (see [`PlanRefusals`]) and answered `refused`; any
    /// other failure is the write's outcome.
    fn failed(&self, error: GatewayError) -> Result<WriteOutcome, DeviceError> {
        match error {
            GatewayError::Overloaded { .. } => {
                Err(DeviceError::from_gateway(&self.context.device, error))
            }
            refused if refused.kind().is_plan_rights() => {
                let reason = error_chain(&refused);
                if let Some(op) = refused.soap().map(crate::error::SoapError::op) {
                    self.context.plan_refusals.remember(op, reason.clone());
                }
                Ok(WriteOutcome::Refused { reason })
            }
            other => Ok(WriteOutcome::Failed {
                reason: error_chain(&other),
            }),
        }
    }

    /// Sends `message` to the port actor running now; if it has just failed, to the one its
    /// station starts in its place. Lost only if no port runs within [`PORT_RESTART_WAIT`]
    /// (the station is stopping), or if the port fails with it queued.
    pub(super) async fn tell(&self, mut message: PortMessage) {
        let mut address = self.address.clone();
        let deadline = Instant::now() + PORT_RESTART_WAIT;
        loop {
            let current = address.borrow_and_update().clone();
            if let Some(actor) = current {
                match actor.cast(message) {
                    Ok(()) => return,
                    Err(MessagingErr::SendErr(returned)) => message = returned,
                    Err(_) => return,
                }
            }
            match tokio::time::timeout_at(deadline, address.changed()).await {
                Ok(Ok(())) => {}
                // The station has stopped, or no port came back in time.
                _ => return,
            }
        }
    }
}

/// Tells the observer how a write ended; refusals before sending count as failures. A failure
/// is also logged: metrics count writes per account, so the log is what names the station.
pub(crate) fn report_write(
    context: &PortContext,
    attribute: &str,
    result: &Result<WriteOutcome, DeviceError>,
) {
    let outcome = match result {
        Ok(outcome) => outcome.clone(),
        Err(e) => WriteOutcome::Failed {
            reason: e.to_string(),
        },
    };
    if let WriteOutcome::Failed { reason } | WriteOutcome::Refused { reason } = &outcome {
        tracing::warn!(device = %context.device, attribute, cause = %reason, "write failed");
    }
    context.options.station_observer.write_finished(
        &context.station,
        &context.account,
        attribute,
        &outcome,
    );
}

fn refused(op: &str) -> WriteOutcome {
    WriteOutcome::Failed {
        reason: format!("{op}: ChargePoint answered success=0"),
    }
}
