//! [`StationDirectory`]: every device of the fleet with its live station actor, so a request
//! reaches its station without a round trip through the fleet supervisor.
//!
//! The supervisor writes it (a station started, restarted, waiting for a restart, removed);
//! the handle reads it on every request. A std `RwLock` because no lock is ever held across an
//! await, and writes are rare. It also holds the fleet's [`FleetTally`], which the stations
//! keep.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use cp_registry::Device;
use ractor::ActorRef;

use crate::station::StationMessage;
use crate::tally::FleetTally;

/// One device and its station actor (`None` while it waits for a restart).
#[derive(Clone)]
pub(crate) struct DirectoryEntry {
    pub(crate) device: Arc<Device>,
    pub(crate) actor: Option<ActorRef<StationMessage>>,
}

/// The fleet's devices by path. Cheap to clone; every clone sees the same entries.
#[derive(Clone, Default)]
pub(crate) struct StationDirectory {
    entries: Arc<RwLock<BTreeMap<String, DirectoryEntry>>>,
    /// The running stations' health in numbers; each station keeps its share.
    tally: Arc<FleetTally>,
}

impl StationDirectory {
    /// Adds or replaces `path`'s entry.
    pub(crate) fn set(
        &self,
        path: &str,
        device: &Arc<Device>,
        actor: Option<ActorRef<StationMessage>>,
    ) {
        let entry = DirectoryEntry {
            device: Arc::clone(device),
            actor,
        };
        // A writer that panicked left a whole map (inserts and removes are single calls).
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_string(), entry);
    }

    pub(crate) fn remove(&self, path: &str) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path);
    }

    /// `path`'s entry; `None` for a device not in the fleet.
    pub(crate) fn get(&self, path: &str) -> Option<DirectoryEntry> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
    }

    /// The tally the stations keep their numbers in.
    pub(crate) fn tally(&self) -> &Arc<FleetTally> {
        &self.tally
    }

    /// How many devices the fleet has, and how many ports they have between them.
    pub(crate) fn size(&self) -> (usize, usize) {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let ports = entries
            .values()
            .map(|e| e.device.registry.ports().len())
            .sum();
        (entries.len(), ports)
    }

    /// Every entry, by path.
    pub(crate) fn all(&self) -> Vec<DirectoryEntry> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}
