//! [`Fleet`]: the handle the HTTP API and the CLI drive the supervisor with.
//!
//! Every method is a message to the supervisor or to one station actor, with a deadline: a
//! quick one for lookups and readings, a long one for scrapes, which may wait for ChargePoint
//! (batching, rate limit, retries). A write is answered within the write-answer bound
//! ([`FleetOptions::write_answer_timeout`]): with its outcome, or `pending` and its id, whose
//! outcome [`Fleet::write`] reads and [`Fleet::subscribe_writes`] announces once it settles.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cp_registry::{Device, FleetConfig, PortNumber};
use futures::future::join_all;
use ractor::{Actor, ActorRef, RpcReplyPort};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::device::{
    error_chain, DeviceError, DeviceSummary, FleetCounts, FleetError, FleetHealth, PointReading,
    Publish, StationHealth,
};
use crate::directory::StationDirectory;
use crate::fleet::{Connect, FleetArguments, FleetMessage, FleetSupervisor};
use crate::options::FleetOptions;
use crate::outcome::WriteId;
use crate::outcome::{WriteAnswer, WriteOutcome};
use crate::station::{answers, StationMessage};
use crate::writes::{WriteLog, WriteRecord};

/// Publishes buffered for subscribers. A subscriber that falls this far behind skips ahead
/// (`RecvError::Lagged`) instead of holding memory for it: a few scrapes of a few hundred
/// stations.
pub const PUBLISH_CHANNEL_CAPACITY: usize = 1024;

/// Deadline for lookups, readings and health: local actor work only.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A running fleet. Cheap to clone; every clone drives the same supervisor.
#[derive(Clone)]
pub struct Fleet {
    actor: ActorRef<FleetMessage>,
    /// The live station actors, kept by the supervisor: requests go straight to a station.
    directory: StationDirectory,
    publisher: broadcast::Sender<Publish>,
    /// The supervisor's join handle, taken by [`Fleet::shutdown`]; shared so the handle stays
    /// `Clone`. The lock is never held across an await.
    join: Arc<Mutex<Option<JoinHandle<()>>>>,
    options: Arc<FleetOptions>,
    /// Every write the stations routed, with its outcome once it settles.
    writes: WriteLog,
}

impl Fleet {
    /// Starts the supervisor: one gateway per account (with `connect`'s client), one station
    /// actor per device.
    ///
    /// # Errors
    /// [`FleetError::Start`] when an actor fails to start.
    pub async fn start(
        spec: FleetConfig,
        connect: Connect,
        options: FleetOptions,
    ) -> Result<Fleet, FleetError> {
        let (publisher, _) = broadcast::channel(PUBLISH_CHANNEL_CAPACITY);
        let options = Arc::new(options);
        let directory = StationDirectory::default();
        let writes = WriteLog::default();
        let (actor, join) = Actor::spawn(
            None,
            FleetSupervisor,
            FleetArguments {
                spec,
                connect,
                options: Arc::clone(&options),
                publisher: publisher.clone(),
                directory: directory.clone(),
                writes: writes.clone(),
            },
        )
        .await
        .map_err(|e| FleetError::Start {
            reason: e.to_string(),
        })?;
        Ok(Fleet {
            actor,
            directory,
            publisher,
            join: Arc::new(Mutex::new(Some(join))),
            options,
            writes,
        })
    }

    /// The deadline of a scrape: gateway queueing and retries, then read-back.
    fn slow_timeout(&self) -> Duration {
        let g = &self.options.gateway;
        g.retry_deadline * 2
            + g.call_timeout
            + self.options.confirm_timeout
            + Duration::from_secs(30)
    }

    fn unavailable(reason: impl std::fmt::Display) -> FleetError {
        FleetError::Unavailable {
            reason: reason.to_string(),
        }
    }

    async fn ask_fleet<T: Send + 'static>(
        &self,
        message: impl FnOnce(RpcReplyPort<T>) -> FleetMessage,
        timeout: Duration,
    ) -> Result<T, FleetError> {
        match self.actor.call(message, Some(timeout)).await {
            Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
            Ok(ractor::rpc::CallResult::Timeout) => Err(Self::unavailable("timed out")),
            Ok(ractor::rpc::CallResult::SenderError) => {
                Err(Self::unavailable("dropped the request"))
            }
            Err(e) => Err(Self::unavailable(e)),
        }
    }

    /// `device`'s station actor, from the directory the supervisor keeps.
    fn station(&self, device: &str) -> Result<ActorRef<StationMessage>, DeviceError> {
        let entry = self
            .directory
            .get(device)
            .ok_or_else(|| DeviceError::UnknownDevice {
                device: device.to_string(),
            })?;
        entry.actor.ok_or_else(|| DeviceError::Unavailable {
            device: device.to_string(),
            reason: "restarting".into(),
        })
    }

    async fn ask_station<T: Send + 'static>(
        &self,
        device: &str,
        message: impl FnOnce(RpcReplyPort<T>) -> StationMessage,
        timeout: Duration,
    ) -> Result<T, DeviceError> {
        let station = self.station(device)?;
        let reason = match station.call(message, Some(timeout)).await {
            Ok(ractor::rpc::CallResult::Success(v)) => return Ok(v),
            Ok(ractor::rpc::CallResult::Timeout) => "timed out".to_string(),
            Ok(ractor::rpc::CallResult::SenderError) => "dropped the request".to_string(),
            Err(e) => e.to_string(),
        };
        Err(DeviceError::Unavailable {
            device: device.to_string(),
            reason,
        })
    }

    /// Every device's health, asked of all stations at once; a station that is restarting or
    /// silent is reported down.
    async fn station_health(&self) -> Result<Vec<StationHealth>, FleetError> {
        let asks = self.directory.all().into_iter().map(|entry| async move {
            if let Some(actor) = entry.actor {
                let answer = actor
                    .call(
                        |reply| StationMessage::Health { reply },
                        Some(QUERY_TIMEOUT),
                    )
                    .await;
                if let Ok(ractor::rpc::CallResult::Success(health)) = answer {
                    return health;
                }
            }
            down(&entry.device)
        });
        Ok(join_all(asks).await)
    }

    /// path, station, account, ports, up, last scrape of every device.
    ///
    /// # Errors
    /// [`FleetError::Unavailable`] when the supervisor does not answer.
    pub async fn devices(&self) -> Result<Vec<DeviceSummary>, FleetError> {
        Ok(self
            .station_health()
            .await?
            .into_iter()
            .map(|h| h.device)
            .collect())
    }

    /// One point's latest value, its timestamp and meta.
    ///
    /// # Errors
    /// Unknown device or point; no data yet; the point's method failing; station unavailable.
    pub async fn get_point(&self, device: &str, point: &str) -> Result<PointReading, DeviceError> {
        let point = point.to_string();
        self.ask_station(
            device,
            |reply| StationMessage::GetPoint { point, reply },
            QUERY_TIMEOUT,
        )
        .await?
    }

    /// Several points; each has its own result.
    ///
    /// # Errors
    /// Unknown device or station unavailable; per-point errors are in the list.
    pub async fn get_multiple_points(
        &self,
        device: &str,
        points: &[String],
    ) -> Result<Vec<(String, Result<PointReading, DeviceError>)>, DeviceError> {
        let points = points.to_vec();
        self.ask_station(
            device,
            |reply| StationMessage::GetPoints { points, reply },
            QUERY_TIMEOUT,
        )
        .await
    }

    /// The latest scrape-all message; a fresh scrape first if the latest is older than a tick.
    ///
    /// # Errors
    /// Unknown device or station unavailable.
    pub async fn scrape_all(&self, device: &str) -> Result<Publish, DeviceError> {
        self.ask_station(
            device,
            |reply| StationMessage::ScrapeAll { reply },
            self.slow_timeout(),
        )
        .await?
    }

    /// Writes one point (spec semantics) and says what became of it within the write-answer
    /// bound: `pending` (with the write's id) if it has not settled by then.
    ///
    /// # Errors
    /// Unknown device/point, read-only point, bad value, no shed intent, full queue.
    pub async fn set_point(
        &self,
        device: &str,
        point: &str,
        value: serde_json::Value,
    ) -> Result<WriteAnswer, DeviceError> {
        let mut results = self
            .set_multiple_points(device, vec![(point.to_string(), value)])
            .await?;
        match results.pop() {
            Some((_, result)) => result,
            None => Err(DeviceError::Unavailable {
                device: device.to_string(),
                reason: "the write was not answered".into(),
            }),
        }
    }

    /// Writes several points in order, as one job; each has its own result, all within one
    /// write-answer bound.
    ///
    /// # Errors
    /// Unknown device or station unavailable; per-point errors are in the list.
    pub async fn set_multiple_points(
        &self,
        device: &str,
        values: Vec<(String, serde_json::Value)>,
    ) -> Result<Vec<(String, Result<WriteAnswer, DeviceError>)>, DeviceError> {
        let deadline = self.write_deadline();
        let routed = self
            .ask_station(
                device,
                |reply| StationMessage::SetPoints { values, reply },
                QUERY_TIMEOUT,
            )
            .await?;
        Ok(answers(device, routed, deadline, &self.writes).await)
    }

    /// When a write asked now must be answered.
    fn write_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.options.write_answer_timeout
    }

    /// Reverts `point` (or, with `None`, the whole device) and waits for the outcomes, within
    /// the write-answer bound; a write refused is a failed outcome.
    async fn revert(
        &self,
        device: &str,
        point: Option<String>,
    ) -> Result<Vec<(String, WriteAnswer)>, DeviceError> {
        let deadline = self.write_deadline();
        let routed = self
            .ask_station(
                device,
                |reply| StationMessage::Revert { point, reply },
                QUERY_TIMEOUT,
            )
            .await??;
        let outcomes = answers(device, routed, deadline, &self.writes).await;
        Ok(outcomes
            .into_iter()
            .map(|(name, result)| {
                let answer = result.unwrap_or_else(|e| {
                    WriteAnswer::unlogged(WriteOutcome::Failed {
                        reason: error_chain(&e),
                    })
                });
                (name, answer)
            })
            .collect())
    }

    /// Reverts one point: to its Starting Value, else to its value before the first write; a
    /// shed point reverts by clearing the shed.
    ///
    /// # Errors
    /// Unknown device/point, read-only point, station unavailable.
    pub async fn revert_point(
        &self,
        device: &str,
        point: &str,
    ) -> Result<WriteAnswer, DeviceError> {
        let mut outcomes = self.revert(device, Some(point.to_string())).await?;
        Ok(outcomes.pop().map_or(
            WriteAnswer::unlogged(WriteOutcome::Confirmed),
            |(_, answer)| answer,
        ))
    }

    /// Reverts every point written since start (or carrying a Starting Value); sheds first.
    ///
    /// # Errors
    /// Unknown device or station unavailable.
    pub async fn revert_device(
        &self,
        device: &str,
    ) -> Result<Vec<(String, WriteAnswer)>, DeviceError> {
        self.revert(device, None).await
    }

    /// The write `id` with its outcome so far: `None` once the write log no longer keeps it
    /// (see [`crate::MAX_WRITES_KEPT`] and [`crate::SETTLED_WRITES_KEPT_FOR`]) or for an id
    /// never given.
    pub fn write(&self, id: WriteId) -> Option<WriteRecord> {
        self.writes.get(id)
    }

    /// Every write settled from now on. A subscriber that lags skips some (`Lagged`).
    pub fn subscribe_writes(&self) -> broadcast::Receiver<WriteRecord> {
        self.writes.subscribe()
    }

    /// Per station: up, last ok scrape, failing methods; and fleet totals.
    ///
    /// # Errors
    /// [`FleetError::Unavailable`] when the supervisor does not answer.
    pub async fn health(&self) -> Result<FleetHealth, FleetError> {
        Ok(FleetHealth::from_stations(self.station_health().await?))
    }

    /// The fleet's health in numbers, as the stations keep them (see `tally.rs`): what
    /// [`Fleet::health`] sums up, without asking every station.
    pub fn counts(&self) -> FleetCounts {
        let (stations_total, ports) = self.directory.size();
        let sums = self.directory.tally().sums();
        FleetCounts {
            stations_total,
            stations_up: sums.up,
            stations_starting: sums.starting,
            stations_degraded: sums.degraded,
            ports,
            ports_charging: sums.ports_charging,
            total_kw: sums.load_kw,
            sheds_active: sums.sheds_active,
            errors: sums.errors,
        }
    }

    /// Every publish from now on. A subscriber that lags skips publishes (`Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Publish> {
        self.publisher.subscribe()
    }

    /// Starts a station device at runtime.
    ///
    /// # Errors
    /// The device runs already; its account is unknown; the supervisor does not answer.
    pub async fn add_station(&self, device: Device) -> Result<(), FleetError> {
        self.ask_fleet(
            |reply| FleetMessage::AddStation { device, reply },
            QUERY_TIMEOUT,
        )
        .await?
    }

    /// Stops a station device; its sheds lapse with their lease.
    ///
    /// # Errors
    /// Unknown device; the supervisor does not answer.
    pub async fn remove_station(&self, device: &str) -> Result<(), FleetError> {
        let device = device.to_string();
        self.ask_fleet(
            |reply| FleetMessage::RemoveStation { device, reply },
            QUERY_TIMEOUT,
        )
        .await?
    }

    /// Applies a new configuration: new devices start, gone ones stop, changed ones restart.
    ///
    /// # Errors
    /// The first device that failed to start; the supervisor does not answer.
    pub async fn reload(&self, spec: FleetConfig) -> Result<(), FleetError> {
        self.ask_fleet(
            |reply| FleetMessage::Reload { spec, reply },
            QUERY_TIMEOUT * 6,
        )
        .await?
    }

    /// Stops the supervisor and everything under it, and waits for it. Sheds in force stay
    /// until their lease lapses (see `fleet.rs`).
    pub async fn shutdown(self) {
        self.actor.stop(None);
        let join = self
            .join
            .lock()
            .map(|mut j| j.take())
            .unwrap_or_else(|poisoned| poisoned.into_inner().take());
        if let Some(join) = join {
            // A panic in the supervisor's shutdown leaves nothing more to stop.
            let _ = join.await;
        }
    }

    /// Chaos hook: makes `device`'s station actor panic in its handler, as a bug would, so a
    /// test can watch the fleet restart it. Only in builds with the `chaos` feature (the
    /// integration tests enable it); the shipped binary has no way to reach it.
    ///
    /// # Errors
    /// [`DeviceError::UnknownDevice`] for a device not in the fleet; `Unavailable` when its
    /// station actor is not running (e.g. waiting for a restart).
    #[cfg(any(test, feature = "chaos"))]
    pub async fn inject_panic(&self, device: &str) -> Result<(), DeviceError> {
        let station = self.station(device)?;
        station
            .cast(StationMessage::InjectPanic)
            .map_err(|e| DeviceError::Unavailable {
                device: device.to_string(),
                reason: e.to_string(),
            })
    }

    /// Chaos hook: makes the actor of `device`'s `port` panic in its handler, as a bug would,
    /// so a test can watch its station restart it with the registers it had. Only in builds
    /// with the `chaos` feature, as [`Fleet::inject_panic`].
    ///
    /// # Errors
    /// [`DeviceError::UnknownDevice`] for a device not in the fleet; `Unavailable` when its
    /// station actor is not running or the port has no running actor.
    #[cfg(any(test, feature = "chaos"))]
    pub async fn inject_port_panic(
        &self,
        device: &str,
        port: PortNumber,
    ) -> Result<(), DeviceError> {
        self.ask_station(
            device,
            |reply| StationMessage::InjectPortPanic { port, reply },
            QUERY_TIMEOUT,
        )
        .await?
    }
}

/// The health of a device whose actor is not running.
fn down(device: &Device) -> StationHealth {
    StationHealth {
        device: DeviceSummary {
            path: device.path.to_string(),
            station: device.station.clone(),
            account: device.account.clone(),
            ports: device
                .registry
                .ports()
                .into_iter()
                .map(|p: PortNumber| p.0)
                .collect(),
            up: false,
            state: crate::device::Liveness::Down,
            last_scrape: None,
        },
        last_ok_scrape: None,
        failures: Default::default(),
        ports_charging: 0,
        load_kw: 0.0,
        sheds_active: 0,
    }
}
