//! A port's calls to ChargePoint: where shedLoad and clearShedState are built and sent, and
//! where a write is confirmed by reading getLoad back.
//!
//! Each call runs in a task the port starts (see [`super::PortActor`]) and the station owns, so
//! it outlives a port that fails meanwhile: the task answers its caller itself, and reaches
//! the port actor running at the time through [`PortAddress`] to report what ChargePoint
//! accepted and that it is done.

use std::sync::Arc;
use std::time::Duration;

use cp_registry::{AccountId, ApiMethod, GroupId, StationId, StationLoad};
use ractor::{ActorRef, MessagingErr};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::PortMessage;
use crate::api::LoadScope;
use crate::api::{ClearShedRequest, PortShed, ShedLimit, ShedRequest, ShedScope};
use crate::device::{error_chain, DeviceError};
use crate::gateway::{
    GatewayError, GatewayHandle, ReadReply, ReadRequest, WriteReply, WriteRequest,
};
use crate::options::FleetOptions;
use crate::outcome::WriteOutcome;

/// How long a task waits for a failed port actor to be restarted before its report is lost.
const PORT_RESTART_WAIT: Duration = Duration::from_secs(2);

/// Where a write's getLoad read-back goes (the station's snapshot), with when it was asked
/// for. A function rather than the station's address, so ports need not know the station.
pub type ReadBackSink = Arc<dyn Fn(StationLoad, Instant) + Send + Sync>;

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
    pub(super) async fn shed(&self, limit: ShedLimit) -> Result<WriteOutcome, DeviceError> {
        match self.send_shed(limit).await {
            Ok(true) => {
                // Told as soon as ChargePoint accepted, so a port restarted meanwhile renews it.
                self.tell(PortMessage::ShedApplied { limit }).await;
                let scope = self.scope;
                Ok(self.confirm(|l| scope.shows_limit(l, limit)).await)
            }
            Ok(false) => Ok(refused("shedLoad")),
            Err(e) => self.failed(e),
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
    pub(super) async fn clear(&self) -> Result<WriteOutcome, DeviceError> {
        match self.send_clear().await {
            Ok(true) => {
                let retry_until = Instant::now() + self.context.options.lease();
                self.tell(PortMessage::ShedCleared { retry_until }).await;
                if self.scope == LoadScope::Station {
                    (self.context.station_cleared)();
                }
                let scope = self.scope;
                Ok(self.confirm(|l| scope.shows_unshed(l)).await)
            }
            Ok(false) => Ok(refused("clearShedState")),
            Err(e) => self.failed(e),
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

    /// Reads getLoad back until it shows the write or the confirm timeout passes. Every
    /// read-back goes to the station before the write is answered, so the caller's next read
    /// shows it.
    async fn confirm(&self, shows: impl Fn(&StationLoad) -> bool) -> WriteOutcome {
        let options = &self.context.options;
        let deadline = Instant::now() + options.confirm_timeout;
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
                let shown = shows(&load);
                (self.context.read_back)(load, requested);
                if shown {
                    return WriteOutcome::Confirmed;
                }
            }
            if Instant::now() + options.confirm_poll > deadline {
                return WriteOutcome::Pending;
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
