//! Where a write goes: the station checks it (see [`super::plan`]), remembers what a revert
//! goes back to, opens its entry in the fleet's write log, and hands a port's write to that
//! port's actor, which runs it and answers the caller; a write of a station-level Load point
//! goes to the actor of the station's Load points, which runs it the same way. The station
//! never waits for a write: it answers with a [`Routed`] per point, and the caller awaits the
//! ports ([`answers`]), for at most the fleet's write-answer bound: a write not settled by then
//! is answered `pending`, with its id. clearAlarms runs in a task of the station's.

use cp_registry::{Attribute, PointDef};
use ractor::concurrency::{oneshot, OneshotReceiver};
use ractor::RpcReplyPort;
use serde_json::Value;

use super::plan::{original_value, plan_revert, plan_write, WriteAction};
use super::StationState;
use crate::api::ClearAlarmsQuery;
use crate::device::{error_chain, DeviceError};
use crate::outcome::WriteId;
use crate::outcome::{WriteAnswer, WriteOutcome};
use crate::port::{report_write, PortMessage, WriteTicket};
use crate::writes::WriteLog;

/// A write's result as the station routes it: answered at once (refused, with no entry in the
/// write log; or nothing to send), or running at a port (or the station's clearAlarms task),
/// which answers on the receiver.
pub enum Routed {
    Answered(Option<WriteId>, Result<WriteOutcome, DeviceError>),
    Running(WriteId, OneshotReceiver<Result<WriteOutcome, DeviceError>>),
}

/// The routed writes of one request, in the order asked.
pub type RoutedWrites = Vec<(String, Routed)>;

impl StationState {
    fn point_def(&self, name: &str) -> Result<&PointDef, DeviceError> {
        self.point(name)
    }

    /// set_point / set_multiple_points: each write checked and routed; a port runs its writes
    /// in the order given.
    pub(super) fn on_set_points(
        &mut self,
        values: Vec<(String, serde_json::Value)>,
        reply: RpcReplyPort<RoutedWrites>,
    ) {
        let routed = values
            .into_iter()
            .map(|(name, raw)| {
                let action = self
                    .point_def(&name)
                    .and_then(|point| plan_write(&self.path(), point, &raw));
                if action.is_ok() {
                    self.remember_original(&name);
                }
                let routed = self.route(&name, raw, action);
                (name, routed)
            })
            .collect();
        // The caller may have given up waiting; the writes run all the same.
        let _ = reply.send(routed);
    }

    /// revert_point (`Some`) or revert_device (`None`).
    pub(super) fn on_revert(
        &mut self,
        point: Option<String>,
        reply: RpcReplyPort<Result<RoutedWrites, DeviceError>>,
    ) {
        let names: Vec<String> = match point {
            Some(name) => {
                if let Err(e) = self.plan_revert_of(&name) {
                    // The caller may have given up waiting.
                    let _ = reply.send(Err(e));
                    return;
                }
                vec![name]
            }
            None => {
                // Only what this supervisor changed: the points written since start (Starting
                // Values written at start included). A point never written is left alone even
                // if it has a Starting Value: reverting an untouched shedState would send
                // clearShedState for a port nobody shed here (and fail where the plan refuses
                // it). Sheds first, so reverted limits are stored rather than applied.
                let mut points: Vec<&PointDef> = self
                    .device
                    .registry
                    .points
                    .iter()
                    .filter(|p| p.writable && p.attribute.is_writable())
                    .filter(|p| self.originals.contains_key(&p.name))
                    .collect();
                points.sort_by_key(|p| p.attribute != Attribute::ShedState);
                points.into_iter().map(|p| p.name.clone()).collect()
            }
        };
        let routed = names
            .into_iter()
            .map(|name| {
                let action = self.plan_revert_of(&name);
                // A revert has no value of its own: it goes back to whatever was before.
                let routed = self.route(&name, Value::Null, action);
                (name, routed)
            })
            .collect();
        // The caller may have given up waiting; the reverts run all the same.
        let _ = reply.send(Ok(routed));
    }

    fn plan_revert_of(&self, name: &str) -> Result<WriteAction, DeviceError> {
        let point = self.point_def(name)?;
        plan_revert(&self.path(), point, self.originals.get(name))
    }

    /// Writes the registry's Starting Values at start; nobody waits for them.
    pub(super) fn write_starting_values(&mut self) {
        let values: Vec<(String, serde_json::Value)> = self
            .device
            .registry
            .points
            .iter()
            .filter(|p| p.writable)
            .filter_map(|p| {
                let v = p.starting_value.as_ref()?;
                Some((p.name.clone(), serde_json::to_value(v).ok()?))
            })
            .collect();
        if values.is_empty() {
            return;
        }
        let (reply, _) = oneshot();
        self.on_set_points(values, reply.into());
    }

    /// Remembers a point's value before its first write.
    fn remember_original(&mut self, name: &str) {
        if self.originals.contains_key(name) {
            return;
        }
        let Some(point) = self.device.registry.point(name) else {
            return;
        };
        let original = original_value(point, &self.snapshot);
        self.originals.insert(name.to_string(), original);
    }

    /// Sends a checked write of `value` where it runs, with an entry in the write log.
    fn route(
        &mut self,
        name: &str,
        value: Value,
        action: Result<WriteAction, DeviceError>,
    ) -> Routed {
        let action = match action {
            Ok(action) => action,
            Err(e) => {
                self.report_write(name, &Err(e.clone()));
                return Routed::Answered(None, Err(e));
            }
        };
        let context = self.port_context();
        let writes = &context.writes;
        let write = writes.open(&self.path(), name, value);
        let attribute = self
            .device
            .registry
            .point(name)
            .map_or("", |p| p.attribute.name());
        match action {
            WriteAction::Nothing => {
                let done = Ok(WriteOutcome::Confirmed);
                writes.settle(write, WriteOutcome::Confirmed);
                self.report_write(name, &done);
                Routed::Answered(Some(write), done)
            }
            WriteAction::Load {
                scope,
                write: port_write,
            } => {
                let (reply, receiver) = oneshot();
                let ticket = WriteTicket::new(
                    write,
                    attribute,
                    std::sync::Arc::clone(&context),
                    reply.into(),
                );
                let message = PortMessage::Write {
                    point: name.to_string(),
                    write: port_write,
                    ticket,
                };
                let unavailable = |reason: String| {
                    // The ticket, dropped with the message, has settled the entry as not sent.
                    Routed::Answered(Some(write), Err(self.unavailable(reason)))
                };
                // The station starts its ports' actors before it routes a write.
                let Some(actor) = self.ports.get(&scope).and_then(|c| c.actor()) else {
                    drop(message);
                    return unavailable(format!("point {name}: {scope} has no write actor"));
                };
                match actor.cast(message) {
                    Ok(()) => Routed::Running(write, receiver),
                    Err(e) => unavailable(format!("point {name}: {scope} is restarting ({e})")),
                }
            }
            WriteAction::ClearAlarms => {
                let (reply, receiver) = oneshot();
                self.clear_alarms(WriteTicket::new(write, attribute, context, reply.into()));
                Routed::Running(write, receiver)
            }
        }
    }

    /// clearAlarms for the station, in a task; settles `ticket`.
    fn clear_alarms(&mut self, mut ticket: WriteTicket) {
        let gateway = self.gateway.clone();
        let wait = self.options.gateway_wait();
        let device = self.path();
        let cleared = std::sync::Arc::clone(&self.alarms_cleared_sink);
        let request = crate::gateway::WriteRequest::ClearAlarms(ClearAlarmsQuery {
            station_id: Some(self.station().clone()),
            ..ClearAlarmsQuery::default()
        });
        self.tasks.spawn(async move {
            ticket.mark_sent();
            let outcome = match gateway.write(request, wait).await {
                Ok(_) => {
                    // Before the answer, so a read after it shows no alarms; a getAlarms
                    // asked before now may predate the clear and is dropped.
                    cleared(tokio::time::Instant::now());
                    Ok(WriteOutcome::Confirmed)
                }
                Err(e @ crate::gateway::GatewayError::Overloaded { .. }) => {
                    Err(DeviceError::from_gateway(&device, e))
                }
                Err(e) => Ok(WriteOutcome::Failed {
                    reason: error_chain(&e),
                }),
            };
            ticket.settle(outcome);
        });
    }

    fn unavailable(&self, reason: String) -> DeviceError {
        DeviceError::Unavailable {
            device: self.path(),
            reason,
        }
    }

    /// Tells the observer how a write the station answered itself ended; ports and the
    /// clearAlarms task report the writes they run.
    fn report_write(&mut self, point: &str, result: &Result<WriteOutcome, DeviceError>) {
        let registry = std::sync::Arc::clone(&self.device.registry);
        if let Some(def) = registry.point(point) {
            report_write(&self.port_context(), def.attribute.name(), result);
        }
    }
}

/// Waits for routed writes to be answered, until `deadline` in all: a write still running
/// then is answered `pending` with its id, and settles in `writes` (see [`crate::Fleet::write`]).
pub async fn answers(
    device: &str,
    routed: RoutedWrites,
    deadline: tokio::time::Instant,
    writes: &WriteLog,
) -> Vec<(String, Result<WriteAnswer, DeviceError>)> {
    let mut results = Vec::with_capacity(routed.len());
    for (name, routed) in routed {
        let result = match routed {
            Routed::Answered(write, result) => result.map(|outcome| WriteAnswer { write, outcome }),
            Routed::Running(write, receiver) => {
                let answer = |outcome| WriteAnswer {
                    write: Some(write),
                    outcome,
                };
                match tokio::time::timeout_at(deadline, receiver).await {
                    Ok(Ok(result)) => result.map(answer),
                    // The write's ticket was dropped: it settled the entry with the reason.
                    Ok(Err(_)) => match writes.get(write) {
                        Some(record) => Ok(answer(record.outcome)),
                        None => Err(DeviceError::Unavailable {
                            device: device.to_string(),
                            reason: format!(
                                "point {name}: the port failed before running the write"
                            ),
                        }),
                    },
                    Err(_) => Ok(answer(WriteOutcome::Pending)),
                }
            }
        };
        results.push((name, result));
    }
    results
}
