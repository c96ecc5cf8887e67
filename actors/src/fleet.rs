//! The fleet supervisor: one gateway per account, one station actor per station device.
//!
//! Restart policy: a station actor that panics or stops on its own is restarted after a backoff
//! (1 s, doubling to [`MAX_RESTART_DELAY`]); its siblings keep scraping, since nothing they hold
//! depends on it. A gateway that fails is restarted at once, and the stations of its account are
//! restarted with it so they hold the new gateway. Stations are added and removed at runtime
//! ([`FleetMessage::AddStation`], [`FleetMessage::RemoveStation`], [`FleetMessage::Reload`]).
//!
//! # Sheds on exit
//! Stopping the supervisor (or removing a station) does **not** clear sheds. Every shed the
//! supervisor sends carries a lease (`timeInterval`, [`FleetOptions::lease_minutes`], or the
//! device's own `shed_lease_minutes`; 0, "until cleared", has no lease to lapse); port
//! actors renew it at two thirds of the lease while the port should stay shed. Once the
//! supervisor is gone nobody renews it, and ChargePoint lifts the cap when the lease lapses: a
//! lost or stopped supervisor never leaves a port capped for longer than one lease. A restarted
//! supervisor reads getLoad at start, adopts every port's shed in force as its own and renews
//! it, so a planned restart within the lease keeps the ports capped without a gap. A
//! station-wide shed (a station-level shedState) is not adopted as the station's: getLoad shows
//! it only as sheds of the ports, which each port actor adopts, as it would any shed in force
//! on its port. Clearing sheds on the way out is
//! deliberately not done: a crash could not do it either, and a restart would then briefly
//! uncap every port.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use cp_registry::{Account, AccountId, Device, FleetConfig, StationId, StationSelection};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::ChargePointApi;
use crate::device::{error_chain, FleetError, Publish};
use crate::directory::StationDirectory;
use crate::gateway::{
    Gateway, GatewayArguments, GatewayHandle, GatewayOptions, ReadReply, ReadRequest, Retrying,
};
use crate::options::FleetOptions;
use crate::station::{StationActor, StationArguments, StationMessage};
use crate::writes::WriteLog;

/// Builds the API client of an account (the SOAP client, or a fake in tests).
pub type Connect = Arc<dyn Fn(&Account) -> Arc<dyn ChargePointApi> + Send + Sync>;

/// The longest pause before a failed station actor is restarted.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

/// A station that ran this long before failing starts its restart backoff afresh.
const STABLE_RUN: Duration = Duration::from_secs(10 * 60);

/// The first pause before a failed station actor is restarted; doubles per failure.
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);

/// The supervisor actor; all state lives in [`FleetState`].
pub struct FleetSupervisor;

/// What [`FleetSupervisor`] needs to start.
pub struct FleetArguments {
    pub spec: FleetConfig,
    pub connect: Connect,
    pub options: Arc<FleetOptions>,
    pub publisher: broadcast::Sender<Publish>,
    /// Where the supervisor lists every device with its live station actor, for the handle.
    pub(crate) directory: StationDirectory,
    /// The fleet's write log, shared with the handle, which reads it.
    pub(crate) writes: WriteLog,
}

/// The supervisor's mailbox.
pub enum FleetMessage {
    AddStation {
        device: Device,
        reply: RpcReplyPort<Result<(), FleetError>>,
    },
    RemoveStation {
        device: String,
        reply: RpcReplyPort<Result<(), FleetError>>,
    },
    /// Replace the configuration: new devices start, gone ones stop, changed ones restart.
    Reload {
        spec: FleetConfig,
        reply: RpcReplyPort<Result<(), FleetError>>,
    },
    /// Stations an account can see, found with getStations for `"stations": "all"` sets.
    /// Arrives once per such set, some time after start.
    Discovered { devices: Vec<Device> },
    /// The restart timer of a failed station; stale when the generation moved on.
    RestartStation { device: String, generation: u64 },
}

struct StationEntry {
    /// Shared with the directory and the station's actor: one copy of each station's
    /// configuration, not three.
    device: Arc<Device>,
    actor: Option<ActorRef<StationMessage>>,
    /// Recent failures, for the restart backoff.
    restarts: u32,
    /// When the running actor started: a long run resets the backoff.
    started_at: tokio::time::Instant,
    /// Bumped at each spawn so stale restart timers are ignored.
    generation: u64,
}

impl StationEntry {
    fn new(device: Device) -> Self {
        StationEntry {
            device: Arc::new(device),
            actor: None,
            restarts: 0,
            started_at: tokio::time::Instant::now(),
            generation: 0,
        }
    }
}

/// The supervisor's mutable state.
pub struct FleetState {
    spec: FleetConfig,
    connect: Connect,
    options: Arc<FleetOptions>,
    publisher: broadcast::Sender<Publish>,
    directory: StationDirectory,
    writes: WriteLog,
    gateways: BTreeMap<AccountId, GatewayHandle>,
    stations: BTreeMap<String, StationEntry>,
    /// The stations' tick origin (see `StationArguments::epoch`).
    epoch: tokio::time::Instant,
    timers: Vec<JoinHandle<Result<(), ractor::MessagingErr<FleetMessage>>>>,
    /// Discovery tasks (`"stations": "all"`); aborted on stop.
    tasks: JoinSet<()>,
}

impl FleetState {
    fn gateway_options(&self, account: &Account) -> GatewayOptions {
        let mut options = self.options.gateway.clone();
        if let Some(rate) = account.rate_limit_per_minute.and_then(NonZeroU32::new) {
            options.requests_per_minute = rate;
        }
        let shortest_tick = self
            .spec
            .station_sets
            .iter()
            .filter(|set| set.account == account.id)
            .map(|set| set.registry.tick(set.interval))
            .min();
        if let Some(tick) = shortest_tick {
            options.fit_to_tick(tick);
        }
        options
    }

    async fn spawn_gateway(
        &mut self,
        myself: &ActorRef<FleetMessage>,
        account: &Account,
    ) -> Result<(), ActorProcessingErr> {
        let retrying = Arc::new(Retrying::default());
        let (actor, _) = Actor::spawn_linked(
            None,
            Gateway,
            GatewayArguments {
                account: account.id.clone(),
                api: (self.connect)(account),
                options: self.gateway_options(account),
                observer: Arc::clone(&self.options.observer),
                retrying: Arc::clone(&retrying),
            },
            myself.get_cell(),
        )
        .await?;
        self.gateways.insert(
            account.id.clone(),
            GatewayHandle {
                account: account.id.clone(),
                actor,
                retrying,
            },
        );
        Ok(())
    }

    async fn spawn_station(
        &mut self,
        myself: &ActorRef<FleetMessage>,
        path: &str,
    ) -> Result<(), FleetError> {
        let Some(entry) = self.stations.get_mut(path) else {
            return Err(FleetError::UnknownDevice {
                device: path.to_string(),
            });
        };
        let Some(gateway) = self.gateways.get(&entry.device.account).cloned() else {
            return Err(FleetError::UnknownAccount {
                device: path.to_string(),
                account: entry.device.account.clone(),
            });
        };
        entry.generation += 1;
        let spawned = Actor::spawn_linked(
            None,
            StationActor,
            StationArguments {
                device: entry.device.clone(),
                epoch: self.epoch,
                gateway,
                options: Arc::clone(&self.options),
                publisher: self.publisher.clone(),
                writes: self.writes.clone(),
                tally: Arc::clone(self.directory.tally()),
            },
            myself.get_cell(),
        )
        .await;
        match spawned {
            Ok((actor, _)) => {
                self.directory.set(path, &entry.device, Some(actor.clone()));
                entry.actor = Some(actor);
                entry.started_at = tokio::time::Instant::now();
                Ok(())
            }
            Err(e) => {
                self.directory.set(path, &entry.device, None);
                entry.actor = None;
                Err(FleetError::Start {
                    reason: format!("station {path}: {e}"),
                })
            }
        }
    }

    async fn add_station(
        &mut self,
        myself: &ActorRef<FleetMessage>,
        device: Device,
    ) -> Result<(), FleetError> {
        let path = device.path.to_string();
        if self.stations.contains_key(&path) {
            return Err(FleetError::DuplicateDevice { device: path });
        }
        if !self.gateways.contains_key(&device.account) {
            let Some(account) = self.spec.account(&device.account).cloned() else {
                return Err(FleetError::UnknownAccount {
                    device: path,
                    account: device.account,
                });
            };
            self.spawn_gateway(myself, &account)
                .await
                .map_err(|e| FleetError::Start {
                    reason: format!("gateway for account {}: {e}", account.id),
                })?;
        }
        self.stations
            .insert(path.clone(), StationEntry::new(device));
        self.spawn_station(myself, &path).await
    }

    fn remove_station(&mut self, path: &str) -> Result<(), FleetError> {
        let entry = self
            .stations
            .remove(path)
            .ok_or_else(|| FleetError::UnknownDevice {
                device: path.to_string(),
            })?;
        self.directory.remove(path);
        self.options
            .station_observer
            .station_removed(&entry.device.station);
        if let Some(actor) = entry.actor {
            // Its sheds stay until their lease lapses (see the module doc).
            actor.stop(Some("removed from the fleet".into()));
        }
        Ok(())
    }

    async fn reload(
        &mut self,
        myself: &ActorRef<FleetMessage>,
        spec: FleetConfig,
    ) -> Result<(), FleetError> {
        let wanted: BTreeMap<String, Device> = spec
            .devices()
            .into_iter()
            .map(|d| (d.path.to_string(), d))
            .collect();
        // Accounts whose settings changed get a new gateway; their stations restart below.
        let changed_accounts: Vec<AccountId> = spec
            .accounts
            .iter()
            .filter(|a| self.spec.account(&a.id).is_some_and(|old| old != *a))
            .map(|a| a.id.clone())
            .collect();
        for account in &changed_accounts {
            if let Some(old) = self.gateways.remove(account) {
                old.actor.stop(Some("account reconfigured".into()));
            }
        }
        let gone: Vec<String> = self
            .stations
            .iter()
            .filter(|(path, entry)| {
                wanted.get(*path) != Some(&entry.device)
                    || changed_accounts.contains(&entry.device.account)
            })
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            self.remove_station(&path)?;
        }
        self.spec = spec;
        let mut first_error = None;
        for (path, device) in wanted {
            if self.stations.contains_key(&path) {
                continue;
            }
            if let Err(e) = self.add_station(myself, device).await {
                first_error.get_or_insert(e);
            }
        }
        self.discover(myself);
        first_error.map_or(Ok(()), Err)
    }

    /// Resolves `"stations": "all"` sets in the background: one getStations per set.
    fn discover(&mut self, myself: &ActorRef<FleetMessage>) {
        for set in &self.spec.station_sets {
            if set.stations != StationSelection::All {
                continue;
            }
            let Some(gateway) = self.gateways.get(&set.account).cloned() else {
                continue;
            };
            let set = set.clone();
            let myself = myself.clone();
            let timeout = self.options.gateway.retry_deadline * 2 + Duration::from_secs(30);
            self.tasks.spawn(async move {
                match gateway
                    .read(ReadRequest::StationList, Duration::ZERO, timeout)
                    .await
                {
                    Ok(ReadReply::StationList(infos)) => {
                        let devices = infos
                            .iter()
                            .filter_map(|i| i.station_id.as_ref())
                            .filter_map(|s: &StationId| set.device(s))
                            .collect();
                        // The supervisor may have stopped meanwhile.
                        let _ = myself.cast(FleetMessage::Discovered { devices });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(account = %set.account, cause = %error_chain(&e), "station discovery failed");
                    }
                }
            });
        }
    }

    async fn on_discovered(&mut self, myself: &ActorRef<FleetMessage>, devices: Vec<Device>) {
        while self.tasks.try_join_next().is_some() {}
        for device in devices {
            if self.stations.contains_key(device.path.as_str()) {
                continue;
            }
            let path = device.path.to_string();
            if let Err(e) = self.add_station(myself, device).await {
                tracing::error!(device = %path, cause = %e, "discovered station did not start");
            }
        }
    }

    /// Schedules the restart of the station whose actor is `cell`, with backoff.
    fn on_station_down(
        &mut self,
        myself: &ActorRef<FleetMessage>,
        cell: &ractor::ActorCell,
        cause: &str,
    ) -> bool {
        let Some(path) = self
            .stations
            .iter()
            .find(|(_, e)| {
                e.actor
                    .as_ref()
                    .is_some_and(|a| a.get_id() == cell.get_id())
            })
            .map(|(path, _)| path.clone())
        else {
            return false;
        };
        self.schedule_restart(myself, &path, cause);
        true
    }

    /// Marks the station down and restarts it after the backoff its failure count earns.
    fn schedule_restart(&mut self, myself: &ActorRef<FleetMessage>, path: &str, cause: &str) {
        let Some(entry) = self.stations.get_mut(path) else {
            return;
        };
        if entry.actor.is_some() && entry.started_at.elapsed() >= STABLE_RUN {
            entry.restarts = 0;
        }
        entry.actor = None;
        self.directory.set(path, &entry.device, None);
        entry.restarts += 1;
        let delay = restart_delay(entry.restarts);
        tracing::error!(device = %path, cause = %cause, restart_in = ?delay, "station actor down");
        let device = path.to_string();
        let generation = entry.generation;
        self.timers.retain(|t| !t.is_finished());
        self.timers.push(
            myself.send_after(delay, move || FleetMessage::RestartStation {
                device,
                generation,
            }),
        );
    }

    async fn on_restart_station(
        &mut self,
        myself: &ActorRef<FleetMessage>,
        path: String,
        generation: u64,
    ) {
        let current = self
            .stations
            .get(&path)
            .is_some_and(|e| e.generation == generation && e.actor.is_none());
        if !current {
            return;
        }
        if let Some(entry) = self.stations.get(&path) {
            self.options
                .station_observer
                .station_restarted(&entry.device.station);
        }
        if let Err(e) = self.spawn_station(myself, &path).await {
            // Keep trying, further apart each time: the cause may be passing.
            self.schedule_restart(myself, &path, &e.to_string());
        }
    }

    /// Restarts a failed gateway, then its account's stations so they hold the new one.
    async fn on_gateway_down(
        &mut self,
        myself: &ActorRef<FleetMessage>,
        cell: &ractor::ActorCell,
        cause: &str,
    ) -> Result<(), ActorProcessingErr> {
        let Some(account) = self
            .gateways
            .iter()
            .find(|(_, g)| g.actor.get_id() == cell.get_id())
            .map(|(a, _)| a.clone())
        else {
            return Ok(());
        };
        tracing::error!(account = %account, cause = %cause, "gateway down; restarting it and its stations");
        self.gateways.remove(&account);
        if let Some(spec) = self.spec.account(&account).cloned() {
            self.spawn_gateway(myself, &spec).await?;
        }
        for entry in self.stations.values() {
            if entry.device.account == account {
                if let Some(actor) = &entry.actor {
                    actor.stop(Some("gateway restarted".into()));
                }
            }
        }
        Ok(())
    }
}

/// 1 s, 2 s, 4 s, … up to [`MAX_RESTART_DELAY`].
fn restart_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_RESTART_DELAY * 2u32.pow(doublings)).min(MAX_RESTART_DELAY)
}

impl Actor for FleetSupervisor {
    type Msg = FleetMessage;
    type State = FleetState;
    type Arguments = FleetArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: FleetArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = FleetState {
            spec: args.spec.clone(),
            connect: args.connect,
            options: args.options,
            publisher: args.publisher,
            directory: args.directory,
            writes: args.writes,
            gateways: BTreeMap::new(),
            stations: BTreeMap::new(),
            epoch: tokio::time::Instant::now(),
            timers: Vec::new(),
            tasks: JoinSet::new(),
        };
        for account in &args.spec.accounts {
            state.spawn_gateway(&myself, account).await?;
        }
        let devices = args.spec.devices();
        for device in devices {
            let path = device.path.to_string();
            let entry = StationEntry::new(device);
            state.directory.set(&path, &entry.device, None);
            state.stations.insert(path, entry);
        }
        let paths: Vec<String> = state.stations.keys().cloned().collect();
        for path in paths {
            state
                .spawn_station(&myself, &path)
                .await
                .map_err(|e| -> ActorProcessingErr { Box::new(e) })?;
        }
        state.discover(&myself);
        Ok(state)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Sheds stay until their lease lapses: see the module doc.
        state.tasks.abort_all();
        state.timers.drain(..).for_each(|t| t.abort());
        myself
            .stop_children_and_wait(Some("fleet stopping".into()), Some(Duration::from_secs(10)))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A failed reply send means the caller timed out; the change happened all the same.
        match message {
            FleetMessage::AddStation { device, reply } => {
                let _ = reply.send(state.add_station(&myself, device).await);
            }
            FleetMessage::RemoveStation { device, reply } => {
                let _ = reply.send(state.remove_station(&device));
            }
            FleetMessage::Reload { spec, reply } => {
                let _ = reply.send(state.reload(&myself, spec).await);
            }
            FleetMessage::Discovered { devices } => state.on_discovered(&myself, devices).await,
            FleetMessage::RestartStation { device, generation } => {
                state.on_restart_station(&myself, device, generation).await
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, cause) => {
                let cause = cause.to_string();
                if !state.on_station_down(&myself, &cell, &cause) {
                    state.on_gateway_down(&myself, &cell, &cause).await?;
                }
            }
            // A station stopped by remove/reload is no longer in the map, so this only restarts
            // stations that stopped on their own (or for a gateway restart).
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped".into());
                state.on_station_down(&myself, &cell, &reason);
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delay_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=8).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
