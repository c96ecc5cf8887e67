//! A fleet: every station device the supervisor runs, with the accounts that reach them.
//!
//! A fleet is loaded from one of:
//! - a **fleet directory** in the layout of VOLTTRON's config store:
//!   ```text
//!   fleet/
//!     fleet.json                  optional compact fleet file (below)
//!     chargepoint.csv             registries, referenced as config://chargepoint.csv
//!     devices/campus/bldg/cp1     device configs below devices/ (any name, any extension)
//!     cp2.config, cp3.json        or flat device configs next to the CSVs (any other
//!     cp4                         name counts when the file has a driver_config)
//!     config                      VOLTTRON's platform-driver config: ignored
//!   ```
//! - a **fleet file** (`fleet.json`, comments and trailing commas allowed):
//!   ```json
//!   {
//!     "accounts": [
//!       {"name": "org1", "username": "account1", "password_env": "CP_ORG1_PASSWORD",
//!        "rate_limit_per_minute": 600}
//!     ],
//!     "station_sets": [
//!       {"account": "org1", "registry_config": "chargepoint.csv",
//!        "stations": ["1:10001", "1:10002"],
//!        "device_path": "org1/garage/{station_number}", "interval": 60,
//!        "shed_lease_minutes": 15}
//!     ]
//!   }
//!   ```
//!   An account gives exactly one of `password`, `password_env`, `password_file`.
//!   An optional `"api": {"token_env": "CP_SUPERVISOR_TOKEN"}` gives the bearer token the
//!   device API requires for writes, as exactly one of `token`, `token_env`, `token_file`
//!   (resolved like passwords).
//!   `stations` is a list of IDs, `{"prefix": "1:", "first": 10001, "count": 100}`, or `"all"`
//!   (every station the account can see, found at start with getStations). `device_path`
//!   may use `{station}` (the whole ID), `{org}` (before the colon) and `{station_number}`
//!   (after it). `registry_config` is relative to the fleet file (`config://` also works).
//! - a single **device config**: a fleet of one device.
//!
//! Devices from plain VOLTTRON configs get an account named after their username, shared by
//! every device with that username (and merged with a fleet-file account of that username).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::DevicePath;
use crate::error::{Position, RegistryWarning};
use crate::jsonc::JsonDoc;
use crate::read::read_text;
use crate::records::StationId;
use crate::registry::Registry;
use crate::secret::Secret;

mod load;

/// The most stations a fleet may list, over all its station sets and device configs. Ten times
/// the 10,000-station fleet the supervisor is measured at (each station is an actor and about
/// a dozen metric series); beyond it a station range is a typo (`"count": 1000000`).
pub const MAX_FLEET_STATIONS: usize = 100_000;

/// The most accounts a fleet file may define: each is a gateway with its own connections and
/// rate limit. A thousand is far beyond any operator's; more is a generated file gone wrong.
pub const MAX_ACCOUNTS: usize = 1_000;

/// The highest `rate_limit_per_minute`: a thousand calls a second, far above any ChargePoint
/// plan (hundreds a minute); beyond it the number is a typo.
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 60_000;

/// The file name that marks a fleet file inside a fleet directory.
pub const FLEET_FILE: &str = "fleet.json";

/// An account's name: the fleet file's `name`, or the username for plain device configs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub String);

impl AccountId {
    /// The name of an account a plain VOLTTRON config gives only by its username.
    ///
    /// ChargePoint usernames are long API keys, half of the account's credentials; the account
    /// name shows in metric labels, logs and the device list, so a long username is named by
    /// a short prefix (to recognise it) and a hash of the whole (so two keys sharing the
    /// prefix stay two accounts). Short usernames are kept as they are.
    pub fn for_username(username: &str) -> AccountId {
        if username.chars().count() <= MAX_PLAIN_ACCOUNT_NAME {
            return AccountId(username.to_string());
        }
        let prefix: String = username.chars().take(6).collect();
        AccountId(format!("{prefix}-{:016x}", fnv1a(username.as_bytes())))
    }
}

/// Usernames up to this many characters name their account as they are: longer ones are API
/// keys (ChargePoint's are 50+ characters).
const MAX_PLAIN_ACCOUNT_NAME: usize = 16;

/// 64-bit FNV-1a: stable across runs and platforms, so an account keeps its label.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One ChargePoint API account; its credentials are shared by all its stations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub username: String,
    pub password: Secret,
    /// Requests per minute the account may make; `None` = the gateway's default.
    pub rate_limit_per_minute: Option<u32>,
    /// Where the account was defined.
    #[serde(skip)]
    pub source: Position,
}

/// Which stations a station set covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum StationSelection {
    /// Exactly these stations.
    Listed(Vec<StationId>),
    /// Every station the account can see: resolved at start with getStations.
    All,
}

/// How a station set names its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DevicePattern {
    /// One device with this path (a plain VOLTTRON device config).
    Fixed(DevicePath),
    /// A template with `{station}`, `{org}`, `{station_number}` placeholders.
    Template(String),
}

const PLACEHOLDERS: [&str; 3] = ["{station}", "{org}", "{station_number}"];

impl DevicePattern {
    /// The device path of `station`; `None` when the result is not a valid device path.
    pub fn expand(&self, station: &StationId) -> Option<DevicePath> {
        match self {
            DevicePattern::Fixed(p) => Some(p.clone()),
            DevicePattern::Template(t) => {
                let id = station.as_str();
                let (org, number) = id.split_once(':').unwrap_or(("", id));
                DevicePath::parse(
                    &t.replace("{station_number}", number)
                        .replace("{station}", id)
                        .replace("{org}", org),
                )
            }
        }
    }

    /// True when different stations get different paths.
    fn distinguishes_stations(&self) -> bool {
        matches!(self, DevicePattern::Template(t) if t.contains("{station}") || t.contains("{station_number}"))
    }
}

/// Stations that share an account, a registry and device settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationSet {
    pub account: AccountId,
    /// Serialised as its file path: the points are the registry's business.
    #[serde(serialize_with = "registry_path")]
    pub registry: Arc<Registry>,
    pub stations: StationSelection,
    pub device_path: DevicePattern,
    /// Default scrape interval of the registry's points.
    pub interval: Duration,
    pub heart_beat_point: Option<String>,
    pub timezone: Option<String>,
    /// `cacheExpiration`: how long fetched data may be reused.
    pub cache_expiration: Option<Duration>,
    /// `shed_lease_minutes`: the `timeInterval` of the set's sheds (0: until cleared);
    /// `None` = the supervisor's default.
    pub shed_lease_minutes: Option<u32>,
    /// Where the set (or device config) was defined.
    #[serde(skip)]
    pub source: Position,
}

impl StationSet {
    /// The device for `station` in this set (also for stations found at runtime under
    /// [`StationSelection::All`]); `None` when its device path would be invalid.
    pub fn device(&self, station: &StationId) -> Option<Device> {
        Some(Device {
            path: self.device_path.expand(station)?,
            station: station.clone(),
            account: self.account.clone(),
            registry: Arc::clone(&self.registry),
            interval: self.interval,
            heart_beat_point: self.heart_beat_point.clone(),
            timezone: self.timezone.clone(),
            cache_expiration: self.cache_expiration,
            shed_lease_minutes: self.shed_lease_minutes,
        })
    }

    /// The devices of the listed stations (none for [`StationSelection::All`]).
    pub fn listed_devices(&self) -> Vec<Device> {
        match &self.stations {
            StationSelection::Listed(ids) => ids.iter().filter_map(|s| self.device(s)).collect(),
            StationSelection::All => Vec::new(),
        }
    }
}

/// One station device: what a station actor needs to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub path: DevicePath,
    pub station: StationId,
    pub account: AccountId,
    /// Serialised as its file path: the points are the registry's business.
    #[serde(serialize_with = "registry_path")]
    pub registry: Arc<Registry>,
    pub interval: Duration,
    pub heart_beat_point: Option<String>,
    pub timezone: Option<String>,
    pub cache_expiration: Option<Duration>,
    /// The `timeInterval` of this station's sheds, minutes (0: until cleared); `None` = the
    /// supervisor's default.
    pub shed_lease_minutes: Option<u32>,
}

/// Everything the supervisor runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetConfig {
    pub accounts: Vec<Account>,
    pub station_sets: Vec<StationSet>,
    /// The bearer token the device API requires for writes (the fleet file's `api` section);
    /// `None` when the file gives none.
    pub api_token: Option<Secret>,
}

impl FleetConfig {
    /// The account called `id`.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.iter().find(|a| &a.id == id)
    }

    /// The warnings of every registry the fleet uses, each registry once.
    pub fn warnings(&self) -> Vec<&RegistryWarning> {
        let mut seen: Vec<&Path> = Vec::new();
        let mut warnings = Vec::new();
        for set in &self.station_sets {
            if !seen.contains(&set.registry.path.as_path()) {
                seen.push(&set.registry.path);
                warnings.extend(set.registry.warnings.iter());
            }
        }
        warnings
    }

    /// Every device of the listed stations, in configuration order.
    pub fn devices(&self) -> Vec<Device> {
        self.station_sets
            .iter()
            .flat_map(StationSet::listed_devices)
            .collect()
    }
}

/// Whether `path` is a fleet file: named `fleet.json`, or a JSON object with `accounts` or
/// `station_sets`.
pub fn is_fleet_file(path: &Path) -> bool {
    if path.file_name().is_some_and(|n| n == FLEET_FILE) {
        return true;
    }
    read_text(path)
        .ok()
        .and_then(|t| JsonDoc::parse(&t, path).ok())
        .is_some_and(|d| d.value.get("accounts").is_some() || d.value.get("station_sets").is_some())
}

fn registry_path<S: serde::Serializer>(r: &Arc<Registry>, s: S) -> Result<S::Ok, S::Error> {
    r.path.serialize(s)
}
