//! VOLTTRON device configs: one JSON file per station device, exactly as VOLTTRON's platform
//! driver reads them (comments and trailing commas allowed, see `jsonc`).
//!
//! ```json
//! {
//!     "driver_config": {"username": "...", "password": "...", "stationID": "1:34003",
//!                       "cacheExpiration": 30, "shed_lease_minutes": 15},
//!     "driver_type": "chargepoint",
//!     "registry_config": "config://chargepoint.csv",
//!     "interval": 60,
//!     "heart_beat_point": "heartbeat",
//!     "timezone": "US/Pacific",
//! }
//! ```
//!
//! Instead of `password`, `driver_config` may give `password_env` (an environment variable) or
//! `password_file` (relative to the config file). The device path is the config-store name,
//! the file's path below a `devices/` directory (`devices/campus/bldg/cp1` → `campus/bldg/cp1`),
//! as VOLTTRON names devices; a config outside `devices/` uses its legacy `campus`, `building`,
//! `unit` keys when present, else its file stem.
//! `config://name.csv` names the file `name.csv` in the config-store root: the directory holding
//! `devices/`, or the config's own directory. Such a name stays inside the store: `..`, an
//! absolute path or a symbolic link leading out of it is refused. Any other `registry_config`
//! is a path relative to the config file.

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{closest, Mistake, Position, Problems, RegistryError, RegistryWarning};
use crate::jsonc::JsonDoc;
use crate::read::{read_all, read_secret, read_text, text};
use crate::records::StationId;
use crate::seconds::{duration_from_seconds, SECONDS_RANGE};
use crate::secret::Secret;
use crate::timezones::{is_timezone, TIMEZONES};

/// The longest `shed_lease_minutes`: a day. The lease is how long a shed outlives a dead
/// supervisor; beyond a day it no longer protects anything, and 0 says "until cleared" plainly.
pub const MAX_SHED_LEASE_MINUTES: u32 = 24 * 60;

/// VOLTTRON's default device `interval`, seconds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// What a device path looks like, for messages.
pub(crate) const DEVICE_PATH_FORM: &str =
    "campus/building/unit: non-empty segments without spaces, '#', '+' or a segment 'all'";

/// The prefix of a config-store reference in `registry_config`.
const CONFIG_STORE_PREFIX: &str = "config://";

/// A device's path in VOLTTRON's topic space, without the `devices/` prefix:
/// `campus/building/unit`. Publishes go to `devices/<path>/all`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevicePath(String);

impl DevicePath {
    /// Reads `campus/building/unit` (a leading `devices/` and surrounding slashes are dropped).
    /// `None` when a segment is empty or holds a topic wildcard (`#`, `+`) or whitespace.
    pub fn parse(s: &str) -> Option<DevicePath> {
        let s = s.trim().trim_matches('/');
        let s = s.strip_prefix("devices/").unwrap_or(s);
        let ok = !s.is_empty()
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "all"
                    && !seg
                        .chars()
                        .any(|c| c.is_whitespace() || c == '#' || c == '+')
            });
        ok.then(|| DevicePath(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's segments (`campus`, `building`, `unit`, ...).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The topic of the scrape-all publish: `devices/<path>/all`.
    pub fn all_topic(&self) -> String {
        format!("devices/{}/all", self.0)
    }

    /// The topic of one point's publish: `devices/<path>/<point>`.
    pub fn point_topic(&self, point: &str) -> String {
        format!("devices/{}/{point}", self.0)
    }
}

impl fmt::Display for DevicePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for DevicePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The `driver_config` block: what the ChargePoint API needs for this device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverConfig {
    pub username: String,
    pub password: Secret,
    pub station_id: StationId,
    /// `cacheExpiration`, seconds: how long fetched data may be reused; `None` = each point's
    /// data currency decides.
    pub cache_expiration: Option<Duration>,
    /// `shed_lease_minutes`: the `timeInterval` of this station's sheds; `None` = the
    /// supervisor's default (see `FleetOptions::lease_minutes`).
    pub shed_lease_minutes: Option<u32>,
}

/// A loaded VOLTTRON device config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceConfig {
    /// The file it came from.
    pub source: PathBuf,
    pub path: DevicePath,
    pub driver: DriverConfig,
    /// `registry_config` as written (`config://chargepoint.csv`).
    pub registry_config: String,
    /// The registry CSV it resolves to.
    pub registry_path: PathBuf,
    /// `interval`: the default scrape interval of the device's points.
    pub interval: Duration,
    pub heart_beat_point: Option<String>,
    pub timezone: Option<String>,
    /// What VOLTTRON loads but is likely a mistake (an unknown key, a station ID that is not
    /// `ORG:STATION`), in line order.
    #[serde(skip)]
    pub warnings: Vec<RegistryWarning>,
}

/// Where a device config writes what later checks (across files) refer to.
pub(crate) struct ConfigLines {
    pub(crate) registry: Position,
    pub(crate) station: Position,
    pub(crate) heart_beat: Position,
}

/// The keys VOLTTRON's platform driver reads from a device config (and the legacy
/// `campus`/`building`/`unit`).
const DEVICE_KEYS: &[&str] = &[
    "driver_config",
    "driver_type",
    "registry_config",
    "interval",
    "heart_beat_point",
    "timezone",
    "campus",
    "building",
    "unit",
    "group",
    "publish_depth_first_all",
    "publish_breadth_first_all",
    "publish_depth_first",
    "publish_breadth_first",
];

/// The keys of a device config's `driver_config` (VOLTTRON's ChargePoint driver's, and this
/// project's `password_env`, `password_file`, `shed_lease_minutes`).
const DRIVER_KEYS: &[&str] = &[
    "username",
    "password",
    "password_env",
    "password_file",
    "stationID",
    "cacheExpiration",
    "shed_lease_minutes",
];

impl DeviceConfig {
    /// Reads a device config file.
    ///
    /// # Errors
    /// Every problem of the file, each with its line.
    pub fn parse(path: &Path) -> Result<DeviceConfig, Problems> {
        DeviceConfig::load(path).map(|(config, _)| config)
    }

    /// Reads a device config file, also returning where its `registry_config` is written
    /// (for a later "registry not found" message).
    pub(crate) fn load(path: &Path) -> Result<(DeviceConfig, ConfigLines), Problems> {
        let text = read_text(path)?;
        DeviceConfig::parse_str(&text, path)
    }

    /// Reads a device config from `reader`; `path` names it in messages and gives the
    /// config-store name and root (see the module doc).
    ///
    /// # Errors
    /// Every problem found, each with its line.
    pub fn parse_reader(reader: impl Read, path: &Path) -> Result<DeviceConfig, Problems> {
        let bytes = read_all(reader, path)?;
        DeviceConfig::parse_str(&text(&bytes, path)?, path).map(|(config, _)| config)
    }

    fn parse_str(text: &str, path: &Path) -> Result<(DeviceConfig, ConfigLines), Problems> {
        let doc = JsonDoc::parse(text, path)?;
        // VOLTTRON's file: what it loads anyway is a warning here, not an error.
        let mut f = Fields::new(&doc, false);
        if !f.root_object() {
            return Err(f.finish());
        }
        f.known_keys("", DEVICE_KEYS);
        let base = path.parent().unwrap_or(Path::new(""));

        let driver_type = f.string("", "driver_type", true);
        if let Some(t) = &driver_type {
            if t != "chargepoint" {
                f.problems.push(RegistryError::WrongDriverType {
                    pos: doc.pos("/driver_type"),
                    found: t.clone(),
                });
            }
        }
        let driver = if f.object("", "driver_config") {
            f.known_keys("/driver_config", DRIVER_KEYS);
            let username = f.string("/driver_config", "username", true);
            let account = username
                .clone()
                .unwrap_or_else(|| "driver_config".to_string());
            let password = f.secret(
                "/driver_config",
                "password",
                &format!("account {account}"),
                base,
            );
            let station_id = f.string("/driver_config", "stationID", true);
            if let Some(id) = &station_id {
                f.station_id("/driver_config/stationID", id);
            }
            let cache_expiration = f.seconds("/driver_config", "cacheExpiration");
            let shed_lease_minutes = f.lease_minutes("/driver_config");
            match (username, password, station_id, shed_lease_minutes) {
                (Some(username), Some(password), Some(id), Some(shed_lease_minutes)) => {
                    Some(DriverConfig {
                        username,
                        password,
                        station_id: StationId::new(id),
                        cache_expiration: cache_expiration.flatten(),
                        shed_lease_minutes,
                    })
                }
                _ => None,
            }
        } else {
            None
        };
        let registry_config = f.string("", "registry_config", true);
        let interval = f
            .seconds("", "interval")
            .map(|i| i.unwrap_or(DEFAULT_INTERVAL));
        let heart_beat_point = f.string("", "heart_beat_point", false);
        let timezone = f.timezone("");
        let device_path = device_path(&mut f, path);
        let registry_path = registry_config
            .as_deref()
            .and_then(|r| f.registry_path("", r, path));

        match (
            driver,
            registry_config,
            registry_path,
            interval,
            device_path,
        ) {
            (
                Some(driver),
                Some(registry_config),
                Some(registry_path),
                Some(interval),
                Some(device_path),
            ) if f.problems.is_empty() => {
                let config = DeviceConfig {
                    source: path.to_path_buf(),
                    path: device_path,
                    driver,
                    registry_config,
                    registry_path,
                    interval,
                    heart_beat_point,
                    timezone,
                    warnings: f.take_warnings(),
                };
                let lines = ConfigLines {
                    registry: doc.pos("/registry_config"),
                    station: doc.pos("/driver_config/stationID"),
                    heart_beat: doc.pos("/heart_beat_point"),
                };
                Ok((config, lines))
            }
            _ => Err(f.finish()),
        }
    }
}

/// The device path: the config-store name when the file sits below a `devices/` directory
/// (VOLTTRON names devices by it and ignores the legacy keys), else `campus/building/unit`
/// when given, else the file's stem.
fn device_path(f: &mut Fields<'_>, path: &Path) -> Option<DevicePath> {
    let keys: Vec<String> = ["campus", "building", "unit"]
        .iter()
        .filter_map(|k| f.string("", k, false))
        .collect();
    let (text, pointer) = match name_below_devices(path) {
        Some(name) => (name, ""),
        None if !keys.is_empty() => (keys.join("/"), "/campus"),
        None => (
            path.file_name()
                .map(|n| strip_config_extension(&n.to_string_lossy()))
                .unwrap_or_default(),
            "",
        ),
    };
    let p = DevicePath::parse(&text);
    if p.is_none() {
        f.problems.push(RegistryError::BadValue {
            pos: f.doc.pos(pointer),
            key: "device path".to_string(),
            expected: DEVICE_PATH_FORM.to_string(),
            found: format!("'{text}'"),
        });
    }
    p
}

/// The config-store name of a file below a `devices/` directory:
/// `…/devices/campus/bldg/cp1.config` → `campus/bldg/cp1`.
fn name_below_devices(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let i = parts.iter().rposition(|p| p == "devices")?;
    let mut below = parts.get(i + 1..).filter(|b| !b.is_empty())?.to_vec();
    if let Some(last) = below.last_mut() {
        *last = strip_config_extension(last);
    }
    Some(below.join("/"))
}

fn strip_config_extension(name: &str) -> String {
    for ext in [".config", ".json"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    name.to_string()
}

/// The config-store root of a device config: the directory holding its `devices/` ancestor,
/// else its own directory.
pub(crate) fn store_root(path: &Path) -> PathBuf {
    let mut root = path.parent();
    while let Some(dir) = root {
        if dir.file_name().is_some_and(|n| n == "devices") {
            return dir.parent().unwrap_or(Path::new("")).to_path_buf();
        }
        root = dir.parent();
    }
    path.parent().unwrap_or(Path::new("")).to_path_buf()
}

/// Resolves a `registry_config` of the config at `config_path`. A `config://` name is a file
/// of the config store and must stay inside it: `Err` says why it does not (`..`, an absolute
/// path, no name at all). Any other reference is a path relative to the config file, as its
/// author wrote it.
pub(crate) fn resolve_registry(
    reference: &str,
    config_path: &Path,
) -> Result<PathBuf, &'static str> {
    match reference.strip_prefix(CONFIG_STORE_PREFIX) {
        Some(name) => {
            let name = Path::new(name);
            let mut parts = 0;
            for c in name.components() {
                match c {
                    Component::Normal(_) => parts += 1,
                    Component::CurDir => {}
                    Component::ParentDir => return Err("'..' would climb out of it"),
                    Component::RootDir | Component::Prefix(_) => {
                        return Err("an absolute path is not a name in it")
                    }
                }
            }
            if parts == 0 {
                return Err("it names no file");
            }
            Ok(store_root(config_path).join(name))
        }
        None => Ok(config_path
            .parent()
            .unwrap_or(Path::new(""))
            .join(reference)),
    }
}

/// The config-store root of `config_path` as a message names it: `.` rather than nothing.
fn named_root(config_path: &Path) -> PathBuf {
    let root = store_root(config_path);
    if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    }
}

/// Whether the registry a `config://` reference resolved to (`resolved`, of the config at
/// `config_path`) really lies inside the config store once symbolic links are followed: `Err`
/// with the store's root when a link leads out of it. Other references, and files that do not
/// exist (reported as not found), pass.
pub(crate) fn check_inside_store(
    reference: &str,
    config_path: &Path,
    resolved: &Path,
) -> Result<(), PathBuf> {
    if !reference.starts_with(CONFIG_STORE_PREFIX) {
        return Ok(());
    }
    let root = named_root(config_path);
    match (root.canonicalize(), resolved.canonicalize()) {
        (Ok(real_root), Ok(real)) if !real.starts_with(&real_root) => Err(root),
        _ => Ok(()),
    }
}

/// Typed access to a [`JsonDoc`]'s keys that records every problem with its line.
pub(crate) struct Fields<'d> {
    pub(crate) doc: &'d JsonDoc,
    pub(crate) problems: Vec<RegistryError>,
    /// [`Mistake`]s found where they are warnings (see `strict`).
    warnings: Vec<RegistryWarning>,
    /// Whether a [`Mistake`] is an error (this project's fleet files) or a warning
    /// (VOLTTRON's device configs, which VOLTTRON loads with it).
    strict: bool,
}

impl<'d> Fields<'d> {
    pub(crate) fn new(doc: &'d JsonDoc, strict: bool) -> Self {
        Fields {
            doc,
            problems: Vec::new(),
            warnings: Vec::new(),
            strict,
        }
    }

    /// The problems, in line order.
    pub(crate) fn finish(mut self) -> Problems {
        self.problems.sort_by_key(line_key);
        Problems(self.problems)
    }

    /// The warnings so far, in line order.
    pub(crate) fn take_warnings(&mut self) -> Vec<RegistryWarning> {
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.sort_by_key(|w| w.position().line);
        warnings
    }

    /// Records a likely mistake: an error in a strict file, a warning in VOLTTRON's.
    pub(crate) fn mistake(&mut self, m: Mistake) {
        if self.strict {
            self.problems.push(m.into());
        } else {
            self.warnings.push(RegistryWarning::Mistake(m));
        }
    }

    /// Whether the whole document is a JSON object (a problem recorded when not).
    pub(crate) fn root_object(&mut self) -> bool {
        if self.doc.value.is_object() {
            return true;
        }
        self.problems.push(RegistryError::NotAnObject {
            pos: self.doc.pos(""),
            found: describe(&self.doc.value),
        });
        false
    }

    /// Every key of the object at `object` that is not in `known` is a mistake, with the
    /// known key it is most likely a typo of.
    pub(crate) fn known_keys(&mut self, object: &str, known: &[&'static str]) {
        let Some(Value::Object(map)) = self.doc.value.pointer(object) else {
            return;
        };
        for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
            let m = Mistake::UnknownKey {
                pos: self.doc.pos(&format!("{object}/{key}")),
                key: key.clone(),
                object: display_key(object, ""),
                suggestion: closest(key, known),
            };
            self.mistake(m);
        }
    }

    /// Checks that `id`, written at `pointer`, is a ChargePoint station ID.
    pub(crate) fn station_id(&mut self, pointer: &str, id: &str) -> bool {
        if StationId::new(id).is_well_formed() {
            return true;
        }
        let m = Mistake::BadStationId {
            pos: self.doc.pos(pointer),
            found: id.to_string(),
        };
        self.mistake(m);
        false
    }

    /// An optional `timezone` of the object at `object`; an unknown name is a mistake.
    pub(crate) fn timezone(&mut self, object: &str) -> Option<String> {
        let tz = self.string(object, "timezone", false)?;
        if !is_timezone(&tz) {
            let m = Mistake::UnknownTimezone {
                pos: self.doc.pos(&format!("{object}/timezone")),
                suggestion: closest(&tz, TIMEZONES),
                found: tz.clone(),
            };
            self.mistake(m);
        }
        Some(tz)
    }

    pub(crate) fn get(&self, object: &str, key: &str) -> Option<&'d Value> {
        self.doc
            .value
            .pointer(object)
            .and_then(|o| o.get(key))
            .filter(|v| !v.is_null())
    }

    pub(crate) fn bad(&mut self, object: &str, key: &str, expected: &str, found: &Value) {
        self.problems.push(RegistryError::BadValue {
            pos: self.doc.pos(&format!("{object}/{key}")),
            key: display_key(object, key),
            expected: expected.to_string(),
            found: describe(found),
        });
    }

    pub(crate) fn missing(&mut self, object: &str, key: &str, expected: &'static str) {
        self.problems.push(RegistryError::MissingKey {
            pos: self.doc.pos(object),
            key: display_key(object, key),
            expected,
        });
    }

    /// A string value; a missing `required` key is a problem.
    pub(crate) fn string(&mut self, object: &str, key: &str, required: bool) -> Option<String> {
        match self.get(object, key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::String(_)) | None if required => {
                self.missing(object, key, "a non-empty string");
                None
            }
            Some(Value::String(_)) | None => None,
            Some(v) => {
                self.bad(object, key, "a string", v);
                None
            }
        }
    }

    /// The file `reference`, the `registry_config` of the object at `object` in the config at
    /// `config_path`, resolves to; `None` (a problem recorded) for a `config://` name that
    /// would leave the config store.
    pub(crate) fn registry_path(
        &mut self,
        object: &str,
        reference: &str,
        config_path: &Path,
    ) -> Option<PathBuf> {
        match resolve_registry(reference, config_path) {
            Ok(p) => Some(p),
            Err(why) => {
                self.problems.push(RegistryError::OutsideStore {
                    pos: self.doc.pos(&format!("{object}/registry_config")),
                    reference: reference.to_string(),
                    root: named_root(config_path),
                    why: why.to_string(),
                });
                None
            }
        }
    }

    /// An object value that must be present. Returns whether it is.
    pub(crate) fn object(&mut self, object: &str, key: &str) -> bool {
        match self.get(object, key) {
            Some(Value::Object(_)) => true,
            None => {
                self.missing(object, key, "an object");
                false
            }
            Some(v) => {
                self.bad(object, key, "an object", v);
                false
            }
        }
    }

    /// An optional positive number of seconds (a number or numeric string).
    /// `None` = bad value (a problem was recorded), `Some(None)` = absent.
    pub(crate) fn seconds(&mut self, object: &str, key: &str) -> Option<Option<Duration>> {
        let Some(v) = self.get(object, key) else {
            return Some(None);
        };
        let secs = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match secs.and_then(duration_from_seconds) {
            Some(d) => Some(Some(d)),
            None => {
                self.bad(object, key, SECONDS_RANGE, v);
                None
            }
        }
    }

    /// An optional integer from `min` to `max`; `None` = bad value (a problem was recorded),
    /// `Some(None)` = absent.
    pub(crate) fn int_in(
        &mut self,
        object: &str,
        key: &str,
        min: u32,
        max: u32,
    ) -> Option<Option<u32>> {
        let Some(v) = self.get(object, key) else {
            return Some(None);
        };
        match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Some(Some(n)),
            _ => {
                self.bad(object, key, &format!("an integer from {min} to {max}"), v);
                None
            }
        }
    }

    /// An optional `shed_lease_minutes`: 0 (until cleared) to [`MAX_SHED_LEASE_MINUTES`].
    pub(crate) fn lease_minutes(&mut self, object: &str) -> Option<Option<u32>> {
        self.int_in(object, "shed_lease_minutes", 0, MAX_SHED_LEASE_MINUTES)
    }

    /// Which of `key`, `{key}_env`, `{key}_file` the object at `object` gives.
    pub(crate) fn secret_sources(&self, object: &str, key: &'static str) -> Vec<String> {
        [key.to_string(), format!("{key}_env"), format!("{key}_file")]
            .into_iter()
            .filter(|k| self.get(object, k).is_some())
            .collect()
    }

    /// The secret `key` (`password`, `token`) of the object at `object`, owned by `owner`
    /// (`account org1`, `api`): exactly one of `key` (literal), `{key}_env` (an environment
    /// variable) or `{key}_file` (relative to `base`; one trailing newline is dropped).
    pub(crate) fn secret(
        &mut self,
        object: &str,
        key: &'static str,
        owner: &str,
        base: &Path,
    ) -> Option<Secret> {
        let given = self.secret_sources(object, key);
        let pos = self.doc.pos(object);
        let [source] = given.as_slice() else {
            self.problems.push(RegistryError::SecretSource {
                pos,
                owner: owner.to_string(),
                key,
                found: if given.is_empty() {
                    "none".to_string()
                } else {
                    given.join(", ")
                },
            });
            return None;
        };
        let source = source.clone();
        if source == key {
            return match self.get(object, key) {
                Some(Value::String(s)) if s.is_empty() => {
                    // VOLTTRON loads an empty literal too: a warning in its files.
                    let m = Mistake::EmptySecret {
                        pos: self.doc.pos(&format!("{object}/{key}")),
                        owner: owner.to_string(),
                        source_key: key.to_string(),
                    };
                    self.mistake(m);
                    Some(Secret::new(""))
                }
                // The value itself is never echoed: a wrong kind is reported by kind only.
                Some(Value::String(s)) => Some(Secret::new(s.clone())),
                _ => {
                    self.problems.push(RegistryError::BadValue {
                        pos: self.doc.pos(&format!("{object}/{key}")),
                        key: display_key(object, key),
                        expected: "a string".to_string(),
                        found: "another kind of value".to_string(),
                    });
                    None
                }
            };
        }
        let named = self.string(object, &source, true)?;
        let pos = self.doc.pos(&format!("{object}/{source}"));
        let owner = owner.to_string();
        // An empty secret from a variable or file (this project's own keys) is always an error.
        let source_key = format!("{source} {named}");
        let empty = |pos: Position, owner: String| {
            RegistryError::from(Mistake::EmptySecret {
                pos,
                owner,
                source_key: source_key.clone(),
            })
        };
        if source.ends_with("_env") {
            match std::env::var(&named) {
                Ok(v) if v.is_empty() => {
                    self.problems.push(empty(pos, owner));
                    None
                }
                Ok(v) => Some(Secret::new(v)),
                Err(_) => {
                    self.problems.push(RegistryError::SecretEnvUnset {
                        pos,
                        owner,
                        var: named,
                    });
                    None
                }
            }
        } else {
            let file = base.join(named);
            match read_secret(&file) {
                // A trailing newline is an artefact of `echo secret > file`, not the secret.
                Ok(s) if s.trim_end_matches(['\r', '\n']).is_empty() => {
                    self.problems.push(empty(pos, owner));
                    None
                }
                Ok(s) => Some(Secret::new(s.trim_end_matches(['\r', '\n']))),
                Err(source) => {
                    self.problems.push(RegistryError::SecretFile {
                        pos,
                        owner,
                        key,
                        file,
                        source,
                    });
                    None
                }
            }
        }
    }
}

fn line_key(e: &RegistryError) -> u64 {
    e.position().map_or(0, |p| p.line)
}

/// `/accounts/0` + `password_env` → `accounts[0].password_env`.
pub(crate) fn display_key(object: &str, key: &str) -> String {
    let mut out = String::new();
    for seg in object.split('/').filter(|s| !s.is_empty()).chain([key]) {
        if seg.is_empty() {
            continue;
        }
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// A short description of a JSON value for "found …".
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}
