//! Loading a fleet: walking a fleet directory, reading fleet files and device configs, sharing
//! each registry CSV between the sets that name it, and collecting every problem on the way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{
    is_fleet_file, Account, AccountId, DevicePattern, FleetConfig, StationSelection, StationSet,
    FLEET_FILE, MAX_ACCOUNTS, MAX_FLEET_STATIONS, PLACEHOLDERS,
};
use crate::config::{
    check_inside_store, DeviceConfig, DevicePath, Fields, DEFAULT_INTERVAL, DEVICE_PATH_FORM,
};
use crate::error::{Mistake, Position, Problems, RegistryError, RegistryWarning};
use crate::file::FileError;
use crate::jsonc::JsonDoc;
use crate::read::{read_config, read_text};
use crate::records::StationId;
use crate::registry::Registry;
use crate::secret::Secret;

impl FleetConfig {
    /// Loads a fleet directory, a fleet file or a single device config (see the module doc).
    ///
    /// # Errors
    /// Every problem of every file, each with its file and line.
    pub fn load(path: &Path) -> Result<FleetConfig, Problems> {
        FleetConfig::load_with_warnings(path).map(|(fleet, _)| fleet)
    }

    /// [`FleetConfig::load`], also returning every warning: of the device configs (what
    /// VOLTTRON loads but is likely a mistake) and of the registries, in file and line order.
    ///
    /// # Errors
    /// Every problem of every file, each with its file and line.
    pub fn load_with_warnings(
        path: &Path,
    ) -> Result<(FleetConfig, Vec<RegistryWarning>), Problems> {
        let mut loader = Loader {
            root: path.to_path_buf(),
            ..Loader::default()
        };
        if path.is_dir() {
            loader.directory(path);
        } else if is_fleet_file(path) {
            loader.fleet_file(path);
        } else {
            loader.device_config(path);
        }
        loader.finish()
    }
}

/// Accumulates accounts, sets and problems across the files of a fleet.
#[derive(Default)]
pub(super) struct Loader {
    accounts: Vec<Account>,
    api_token: Option<Secret>,
    sets: Vec<StationSet>,
    problems: Vec<RegistryError>,
    /// Registries by resolved path, loaded once and shared; `None` = failed (already reported).
    registries: HashMap<PathBuf, Option<Arc<Registry>>>,
    /// What the device configs' VOLTTRON would load but is likely a mistake.
    warnings: Vec<RegistryWarning>,
    /// Every listed station, where it was first listed and whether by a fleet file.
    stations: HashMap<StationId, (Position, bool)>,
    /// The path being loaded, for problems with the whole fleet.
    root: PathBuf,
}

impl Loader {
    pub(super) fn finish(mut self) -> Result<(FleetConfig, Vec<RegistryWarning>), Problems> {
        self.check_device_paths();
        if self.sets.is_empty() && self.problems.is_empty() {
            self.problems.push(RegistryError::Unrecognised {
                path: self.root.clone(),
                what: "no stations: no station set or device config names one".to_string(),
            });
        }
        if self.problems.is_empty() {
            let fleet = FleetConfig {
                accounts: self.accounts,
                station_sets: self.sets,
                api_token: self.api_token,
            };
            let mut warnings = self.warnings;
            warnings.extend(fleet.warnings().into_iter().cloned());
            warnings.sort_by(|a, b| a.position().cmp(b.position()));
            Ok((fleet, warnings))
        } else {
            Err(Problems(self.problems))
        }
    }

    /// Records that `station` is a device, listed at `pos` (by a fleet file when `fleet`).
    /// A station listed twice is a mistake: an error when a fleet file lists it either time,
    /// a warning between two device configs, which VOLTTRON would load.
    fn claim_station(&mut self, station: &StationId, pos: Position, fleet: bool) {
        match self.stations.get(station) {
            Some((first, first_fleet)) => {
                let m = Mistake::StationTwice {
                    pos,
                    station: station.to_string(),
                    first: first.clone(),
                };
                if fleet || *first_fleet {
                    self.problems.push(m.into());
                } else {
                    self.warnings.push(RegistryWarning::Mistake(m));
                }
            }
            None => {
                self.stations.insert(station.clone(), (pos, fleet));
            }
        }
    }

    /// A heartbeat named like a point of its registry would hide that point: a mistake (an
    /// error in a fleet file, a warning in a device config).
    fn check_heartbeat(
        &mut self,
        heart_beat_point: Option<&str>,
        registry: &Registry,
        pos: Position,
        fleet: bool,
    ) {
        let Some(point) = heart_beat_point.and_then(|h| registry.point(h)) else {
            return;
        };
        let m = Mistake::HeartbeatIsDataPoint {
            pos,
            point: point.name.clone(),
            defined: Position::new(&registry.path, point.line),
        };
        if fleet {
            self.problems.push(m.into());
        } else {
            self.warnings.push(RegistryWarning::Mistake(m));
        }
    }

    pub(super) fn directory(&mut self, dir: &Path) {
        let fleet_file = dir.join(FLEET_FILE);
        if fleet_file.is_file() {
            self.fleet_file(&fleet_file);
        }
        let mut configs = Vec::new();
        let mut walked = std::collections::HashSet::new();
        if collect_files(&dir.join("devices"), &mut configs, &mut walked, 0).is_err() {
            self.problems.push(RegistryError::Unrecognised {
                path: dir.join("devices"),
                what: format!(
                    "more than {MAX_DEVICE_CONFIGS} files below it, the most device configs a \
                     fleet may have"
                ),
            });
            return;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if p.is_file() && name != FLEET_FILE && is_device_config_name(&name, &p) {
                    configs.push(p);
                }
            }
        }
        configs.sort();
        if configs.is_empty() && !fleet_file.is_file() {
            self.problems.push(RegistryError::Unrecognised {
                path: dir.to_path_buf(),
                what: format!(
                    "no device configs (devices/…, *.config, *.json) and no {FLEET_FILE} found"
                ),
            });
        }
        for c in configs {
            self.device_config(&c);
        }
    }

    pub(super) fn device_config(&mut self, path: &Path) {
        let (config, lines) = match DeviceConfig::load(path) {
            Ok(loaded) => loaded,
            Err(p) => {
                self.problems.extend(p);
                return;
            }
        };
        self.warnings.extend(config.warnings.iter().cloned());
        let pos = Position::new(path, 0);
        self.claim_station(&config.driver.station_id, lines.station, false);
        let registry = self.registry(
            &config.registry_config,
            &config.registry_path,
            path,
            lines.registry,
        );
        if let Some(registry) = &registry {
            self.check_heartbeat(
                config.heart_beat_point.as_deref(),
                registry,
                lines.heart_beat,
                false,
            );
        }
        let account = self.account_for_username(
            &config.driver.username,
            &config.driver.password,
            pos.clone(),
        );
        if let Some(registry) = registry {
            self.sets.push(StationSet {
                account,
                registry,
                stations: StationSelection::Listed(vec![config.driver.station_id]),
                device_path: DevicePattern::Fixed(config.path),
                interval: config.interval,
                heart_beat_point: config.heart_beat_point,
                timezone: config.timezone,
                cache_expiration: config.driver.cache_expiration,
                shed_lease_minutes: config.driver.shed_lease_minutes,
                source: pos,
            });
        }
    }

    /// The account of a plain device config: the one with this username, else a new one.
    fn account_for_username(
        &mut self,
        username: &str,
        password: &Secret,
        pos: Position,
    ) -> AccountId {
        if let Some(a) = self.accounts.iter().find(|a| a.username == username) {
            if &a.password != password {
                self.problems.push(RegistryError::ConflictingPassword {
                    pos,
                    username: username.to_string(),
                    first: a.source.clone(),
                });
            }
            return a.id.clone();
        }
        let id = AccountId::for_username(username);
        self.accounts.push(Account {
            id: id.clone(),
            username: username.to_string(),
            password: password.clone(),
            rate_limit_per_minute: None,
            source: pos,
        });
        id
    }

    /// The registry `reference` (written at `pos` in the config at `config_path`) resolved to
    /// `path`: loaded once, shared by every set that names it.
    fn registry(
        &mut self,
        reference: &str,
        path: &Path,
        config_path: &Path,
        pos: Position,
    ) -> Option<Arc<Registry>> {
        if let Err(root) = check_inside_store(reference, config_path, path) {
            self.problems.push(RegistryError::OutsideStore {
                pos,
                reference: reference.to_string(),
                root,
                why: "a symbolic link leads out of it".to_string(),
            });
            return None;
        }
        if let Some(r) = self.registries.get(path) {
            return r.clone();
        }
        let loaded = match read_config(path) {
            Ok(bytes) => match Registry::parse_reader(&bytes[..], path) {
                Ok(r) => Some(Arc::new(r)),
                Err(p) => {
                    self.problems.extend(p);
                    None
                }
            },
            Err(RegistryError::Io {
                source: FileError::NotFound,
                ..
            }) => {
                self.problems.push(RegistryError::RegistryNotFound {
                    pos,
                    reference: reference.to_string(),
                    looked: path.to_path_buf(),
                });
                None
            }
            Err(RegistryError::Io { source, .. }) => {
                self.problems.push(RegistryError::RegistryUnreadable {
                    pos,
                    reference: reference.to_string(),
                    looked: path.to_path_buf(),
                    source,
                });
                None
            }
            Err(other) => {
                self.problems.push(other);
                None
            }
        };
        self.registries.insert(path.to_path_buf(), loaded.clone());
        loaded
    }

    pub(super) fn fleet_file(&mut self, path: &Path) {
        let doc = match read_text(path).and_then(|t| JsonDoc::parse(&t, path)) {
            Ok(d) => d,
            Err(e) => {
                self.problems.push(e);
                return;
            }
        };
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        // This project's own file: every likely mistake is an error.
        let mut f = Fields::new(&doc, true);
        if !f.root_object() {
            self.problems.extend(f.finish());
            return;
        }
        f.known_keys("", FLEET_KEYS);
        let first_account = self.accounts.len();
        let accounts = array_len(&mut f, "", "accounts");
        if accounts > MAX_ACCOUNTS {
            f.problems.push(RegistryError::BadValue {
                pos: f.doc.pos("/accounts"),
                key: "accounts".to_string(),
                expected: format!("at most {MAX_ACCOUNTS} accounts"),
                found: accounts.to_string(),
            });
            self.problems.extend(f.finish());
            return;
        }
        for i in 0..accounts {
            let object = format!("/accounts/{i}");
            f.known_keys(&object, ACCOUNT_KEYS);
            if let Some(account) = parse_account(&mut f, &object, &base) {
                if let Some(prev) = self.accounts.iter().find(|a| a.id == account.id) {
                    f.problems.push(RegistryError::Duplicate {
                        pos: account.source.clone(),
                        what: "account",
                        name: account.id.0.clone(),
                        first: prev.source.clone(),
                    });
                } else {
                    self.accounts.push(account);
                }
            }
        }
        if f.get("", "api").is_some() && f.object("", "api") {
            f.known_keys("/api", API_KEYS);
        }
        if f.get("", "api").is_some() && !f.secret_sources("/api", "token").is_empty() {
            self.api_token = f.secret("/api", "token", "api", &base);
        }
        // Every account the file names, also one whose problems kept it out: a set naming it
        // is not "unknown" (its account's problem is reported, and the set is left out).
        let mut known: Vec<AccountId> = Vec::new();
        for i in 0..array_len(&mut f, "", "accounts") {
            if let Some(Value::String(name)) = f.get(&format!("/accounts/{i}"), "name") {
                let id = AccountId(name.trim().to_string());
                if !known.contains(&id) {
                    known.push(id);
                }
            }
        }
        let mut pending = Vec::new();
        let mut budget = MAX_FLEET_STATIONS.saturating_sub(self.stations.len());
        for i in 0..array_len(&mut f, "", "station_sets") {
            let object = format!("/station_sets/{i}");
            if let Some(parsed) = parse_station_set(&mut f, &object, &base, &known, &mut budget) {
                pending.push(parsed);
            }
        }
        self.problems.extend(f.finish());
        let loaded: Vec<AccountId> = self.accounts[first_account..]
            .iter()
            .map(|a| a.id.clone())
            .collect();
        for mut p in pending {
            if !loaded.contains(&p.account) {
                continue;
            }
            for (station, pos) in std::mem::take(&mut p.station_positions) {
                self.claim_station(&station, pos, true);
            }
            let registry = self.registry(
                &p.registry_config,
                &p.registry_path,
                path,
                p.registry_pos.clone(),
            );
            if let Some(registry) = registry {
                self.check_heartbeat(
                    p.heart_beat_point.as_deref(),
                    &registry,
                    p.heart_beat_pos.clone(),
                    true,
                );
                self.sets.push(p.into_set(registry));
            }
        }
    }

    /// Two devices with one path would publish over each other.
    fn check_device_paths(&mut self) {
        let mut seen: HashMap<DevicePath, Position> = HashMap::new();
        for set in &self.sets {
            for d in set.listed_devices() {
                match seen.get(&d.path) {
                    Some(first) => self.problems.push(RegistryError::Duplicate {
                        pos: set.source.clone(),
                        what: "device path",
                        name: d.path.to_string(),
                        first: first.clone(),
                    }),
                    None => {
                        seen.insert(d.path, set.source.clone());
                    }
                }
            }
        }
    }
}

/// The keys of a fleet file, of its accounts, station sets, station ranges and api section.
const FLEET_KEYS: &[&str] = &["accounts", "station_sets", "api"];
const ACCOUNT_KEYS: &[&str] = &[
    "name",
    "username",
    "password",
    "password_env",
    "password_file",
    "rate_limit_per_minute",
];
const SET_KEYS: &[&str] = &[
    "account",
    "registry_config",
    "stations",
    "device_path",
    "interval",
    "cacheExpiration",
    "shed_lease_minutes",
    "heart_beat_point",
    "timezone",
];
const RANGE_KEYS: &[&str] = &["prefix", "first", "count"];
const API_KEYS: &[&str] = &["token", "token_env", "token_file"];

/// Whether a file next to the CSVs is a device config: `*.config` and `*.json` always (so their
/// errors are reported); other names only when they mention `driver_config`, as VOLTTRON's
/// extensionless config-store exports do. Hidden files, CSVs and VOLTTRON's platform-driver
/// `config` are not.
fn is_device_config_name(name: &str, path: &Path) -> bool {
    let lower = name.to_ascii_lowercase();
    if name.starts_with('.') || name == "config" || lower.ends_with(".csv") {
        return false;
    }
    lower.ends_with(".config")
        || lower.ends_with(".json")
        || read_text(path).is_ok_and(|t| t.contains("\"driver_config\""))
}

/// How deep below `devices/` device configs are looked for. VOLTTRON names devices
/// `campus/building/unit`, three levels; sixteen leaves room for deeper names and stops a
/// walk that a symbolic link would otherwise lead round forever.
const MAX_STORE_DEPTH: usize = 16;

/// The most device configs a fleet directory may hold: one per station, as many as
/// [`super::MAX_FLEET_STATIONS`].
const MAX_DEVICE_CONFIGS: usize = super::MAX_FLEET_STATIONS;

/// Files below `dir`, recursively, skipping hidden ones and CSVs. A directory reached twice
/// (through a symbolic link) is walked once. `Err` when there are more than
/// [`MAX_DEVICE_CONFIGS`].
fn collect_files(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    walked: &mut std::collections::HashSet<PathBuf>,
    depth: usize,
) -> Result<(), ()> {
    if depth > MAX_STORE_DEPTH {
        return Ok(());
    }
    let Ok(real) = dir.canonicalize() else {
        return Ok(());
    };
    if !walked.insert(real) {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out, walked, depth + 1)?;
        } else if !name.to_ascii_lowercase().ends_with(".csv") {
            if out.len() >= MAX_DEVICE_CONFIGS {
                return Err(());
            }
            out.push(p);
        }
    }
    Ok(())
}

/// The length of the list at `object/key` (a problem, and 0, when it is not a list).
fn array_len(f: &mut Fields<'_>, object: &str, key: &str) -> usize {
    match f.get(object, key) {
        Some(Value::Array(a)) => a.len(),
        None => 0,
        Some(v) => {
            f.bad(object, key, "a list", v);
            0
        }
    }
}

fn parse_account(f: &mut Fields<'_>, object: &str, base: &Path) -> Option<Account> {
    let name = f.string(object, "name", true);
    let username = f.string(object, "username", true);
    let label = name.clone().unwrap_or_else(|| object.to_string());
    let password = f.secret(object, "password", &format!("account {label}"), base);
    let rate = f.int_in(
        object,
        "rate_limit_per_minute",
        1,
        super::MAX_RATE_LIMIT_PER_MINUTE,
    );
    Some(Account {
        source: f.doc.pos(object),
        id: AccountId(name?),
        username: username?,
        password: password?,
        rate_limit_per_minute: rate?,
    })
}

/// A station set before its registry is loaded.
struct PendingSet {
    account: AccountId,
    stations: StationSelection,
    device_path: DevicePattern,
    interval: Duration,
    heart_beat_point: Option<String>,
    timezone: Option<String>,
    cache_expiration: Option<Duration>,
    shed_lease_minutes: Option<u32>,
    source: Position,
    registry_config: String,
    registry_path: PathBuf,
    registry_pos: Position,
    heart_beat_pos: Position,
    /// Each listed station with where it is written.
    station_positions: Vec<(StationId, Position)>,
}

impl PendingSet {
    fn into_set(self, registry: Arc<Registry>) -> StationSet {
        StationSet {
            account: self.account,
            registry,
            stations: self.stations,
            device_path: self.device_path,
            interval: self.interval,
            heart_beat_point: self.heart_beat_point,
            timezone: self.timezone,
            cache_expiration: self.cache_expiration,
            shed_lease_minutes: self.shed_lease_minutes,
            source: self.source,
        }
    }
}

fn parse_station_set(
    f: &mut Fields<'_>,
    object: &str,
    base: &Path,
    known: &[AccountId],
    budget: &mut usize,
) -> Option<PendingSet> {
    let pos = f.doc.pos(object);
    f.known_keys(object, SET_KEYS);
    let account = f.string(object, "account", true).and_then(|a| {
        let id = AccountId(a);
        if known.contains(&id) {
            Some(id)
        } else {
            f.problems.push(RegistryError::UnknownAccount {
                pos: f.doc.pos(&format!("{object}/account")),
                found: id.0,
                expected: if known.is_empty() {
                    "an account of this file's \"accounts\" list, which is empty".to_string()
                } else {
                    format!(
                        "one of {}",
                        known
                            .iter()
                            .map(|a| a.0.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            });
            None
        }
    });
    let registry_config = f.string(object, "registry_config", true);
    let stations = parse_stations(f, object, budget);
    let device_path = parse_pattern(f, object, stations.as_ref().map(|(s, _)| s));
    let interval = f
        .seconds(object, "interval")
        .map(|i| i.unwrap_or(DEFAULT_INTERVAL));
    let cache_expiration = f.seconds(object, "cacheExpiration");
    let shed_lease_minutes = f.lease_minutes(object);
    let heart_beat_point = f.string(object, "heart_beat_point", false);
    let timezone = f.timezone(object);
    let registry_config = registry_config?;
    // The fleet file stands for its directory: registries resolve next to it.
    let registry_path = f.registry_path(object, &registry_config, &base.join(FLEET_FILE))?;
    let (stations, station_positions) = stations?;
    Some(PendingSet {
        account: account?,
        stations,
        station_positions,
        heart_beat_pos: f.doc.pos(&format!("{object}/heart_beat_point")),
        device_path: device_path?,
        interval: interval?,
        heart_beat_point,
        timezone,
        cache_expiration: cache_expiration?,
        shed_lease_minutes: shed_lease_minutes?,
        source: pos,
        registry_pos: f.doc.pos(&format!("{object}/registry_config")),
        registry_config,
        registry_path,
    })
}

/// Reads `stations`: a list of IDs, a `{prefix, first, count}` range, or `"all"`; with each
/// listed station, where it is written.
/// `budget` is how many stations the fleet may still list ([`MAX_FLEET_STATIONS`] in all); the
/// set's stations are taken from it.
fn parse_stations(
    f: &mut Fields<'_>,
    object: &str,
    budget: &mut usize,
) -> Option<(StationSelection, Vec<(StationId, Position)>)> {
    const EXPECTED: &str = "a list of station IDs, {\"prefix\", \"first\", \"count\"} or \"all\"";
    let key = "stations";
    let Some(v) = f.get(object, key) else {
        f.missing(object, key, "a list of station IDs or \"all\"");
        return None;
    };
    match v {
        Value::String(s) if s.trim().eq_ignore_ascii_case("all") => {
            Some((StationSelection::All, Vec::new()))
        }
        Value::Array(items) if items.is_empty() => {
            f.bad(
                object,
                key,
                "at least one station ID, or \"all\" (a set without stations is a mistake)",
                v,
            );
            None
        }
        Value::Array(items) if items.len() > *budget => {
            f.bad(object, key, &over_budget(*budget), v);
            None
        }
        Value::Array(items) => {
            *budget -= items.len();
            let mut ids = Vec::new();
            let mut first_index: HashMap<&str, usize> = HashMap::new();
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                let pointer = format!("{object}/{key}/{i}");
                match item {
                    Value::String(s) if !s.trim().is_empty() => {
                        if !f.station_id(&pointer, s.trim()) {
                            ok = false;
                        } else if let Some(&j) = first_index.get(s.trim()) {
                            f.problems.push(RegistryError::Duplicate {
                                pos: f.doc.pos(&pointer),
                                what: "station",
                                name: s.trim().to_string(),
                                first: f.doc.pos(&format!("{object}/{key}/{j}")),
                            });
                            ok = false;
                        } else {
                            first_index.insert(s.trim(), i);
                            ids.push((StationId::new(s.trim()), f.doc.pos(&pointer)));
                        }
                    }
                    other => {
                        f.bad(
                            &format!("{object}/{key}"),
                            &i.to_string(),
                            "a station ID",
                            other,
                        );
                        ok = false;
                    }
                }
            }
            ok.then(|| {
                let listed = ids.iter().map(|(id, _)| id.clone()).collect();
                (StationSelection::Listed(listed), ids)
            })
        }
        Value::Object(_) => {
            let range = format!("{object}/{key}");
            f.known_keys(&range, RANGE_KEYS);
            let prefix = f.string(&range, "prefix", false).unwrap_or_default();
            let first = f.get(&range, "first").and_then(Value::as_u64);
            let count = f.get(&range, "count").and_then(Value::as_u64);
            match (first, count) {
                (Some(_), Some(count)) if count > *budget as u64 => {
                    f.bad(object, key, &over_budget(*budget), v);
                    None
                }
                (Some(first), Some(count)) if count > 0 && first.checked_add(count).is_some() => {
                    *budget -= count as usize;
                    if !f.station_id(&format!("{range}/prefix"), &format!("{prefix}{first}")) {
                        return None;
                    }
                    let pos = f.doc.pos(&range);
                    let ids: Vec<(StationId, Position)> = (first..first + count)
                        .map(|n| (StationId::new(format!("{prefix}{n}")), pos.clone()))
                        .collect();
                    let listed = ids.iter().map(|(id, _)| id.clone()).collect();
                    Some((StationSelection::Listed(listed), ids))
                }
                _ => {
                    f.bad(object, key, EXPECTED, v);
                    None
                }
            }
        }
        other => {
            f.bad(object, key, EXPECTED, other);
            None
        }
    }
}

/// What a station list too long for the fleet's limit should have been.
fn over_budget(left: usize) -> String {
    format!(
        "no more stations than the fleet's limit of {MAX_FLEET_STATIONS} allows ({left} left for this set)"
    )
}

fn parse_pattern(
    f: &mut Fields<'_>,
    object: &str,
    stations: Option<&StationSelection>,
) -> Option<DevicePattern> {
    let template = f.string(object, "device_path", true)?;
    let mut rest = template.clone();
    for p in PLACEHOLDERS {
        rest = rest.replace(p, "x");
    }
    let pattern = DevicePattern::Template(template.clone());
    let single = matches!(stations, Some(StationSelection::Listed(ids)) if ids.len() == 1);
    let problem = if rest.contains('{') || rest.contains('}') {
        Some("a path whose placeholders are {station}, {org}, {station_number}")
    } else if DevicePath::parse(&rest).is_none() {
        Some(DEVICE_PATH_FORM)
    } else if !single && !pattern.distinguishes_stations() {
        Some("a path with {station} or {station_number}, so each station gets its own device")
    } else {
        None
    };
    match problem {
        Some(expected) => {
            f.bad(object, "device_path", expected, &Value::String(template));
            None
        }
        None => Some(pattern),
    }
}
