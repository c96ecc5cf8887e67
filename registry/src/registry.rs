//! The registry CSV: the points one station exposes, validated against the attribute catalog.
//!
//! Columns are the spec's nine (`Volttron Point Name, Attribute Name, Register Name, Port #,
//! Type, Units, Starting Value, Writable, Notes`) plus two optional ones, `Scrape Interval` and
//! `Data Currency` (seconds). Header names match case-insensitively and ignoring spaces; unknown
//! columns are ignored. Required: point name, attribute, register, Port #, Type and Writable.
//!
//! VOLTTRON's own files load unchanged: its `chargepoint.csv` example declares types the spec
//! tables do not (see [`Attribute::accepts_type`]), writes Port # 0 for "no port", names
//! `unitPriceForFirst`, and defines `startTime`/`endTime` twice. VOLTTRON keeps the later of
//! two rows with one name, and so does this parser, with a [`RegistryWarning`] naming both lines.
//!
//! A little over the ~600-line guide: reading a row and checking it against the catalog are
//! one pass over the CSV, kept together.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::catalog::{Attribute, Level, RegisterKind, ValueType};
use crate::error::{Mistake, Position, Problems, RegistryError, RegistryWarning};
use crate::limits;
use crate::method::ApiMethod;
use crate::point::{parse_bool, PointValue};
use crate::read::{check_text, read_all, read_config};
use crate::records::PortNumber;
use crate::seconds::duration_from_seconds;

/// Highest port number a registry may name. ChargePoint stations have one to a few ports; the
/// cap catches typos such as `100` while leaving room for multi-port cabinets.
pub const MAX_PORT_NUMBER: u16 = 64;

/// The shortest data currency of getStations attributes: nameplate data is static, so it is
/// refreshed at most hourly whatever the CSV says.
pub const STATIC_MIN_CURRENCY: Duration = Duration::from_secs(3600);

/// How often getStations is called when no point reads it and only the station group is
/// needed (for getLoad by group): a station's group changes only when it is re-commissioned.
pub const STATION_GROUP_REFRESH: Duration = Duration::from_secs(6 * 3600);

/// One row of a registry CSV: a point of the device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointDef {
    /// `Volttron Point Name`: the name get_point/set_point and the publish use.
    pub name: String,
    pub attribute: Attribute,
    /// `Port #`: set for port-level attributes; optional on alarm and session attributes, and
    /// on shedState, allowedLoad and percentShed, where `None` means the whole station.
    pub port: Option<PortNumber>,
    /// The declared `Type` (an [`Attribute::accepts_type`] type).
    pub value_type: ValueType,
    pub units: String,
    /// Value written at start-up for writable points; `None` when the column is empty.
    pub starting_value: Option<PointValue>,
    pub writable: bool,
    pub notes: String,
    /// `Scrape Interval`: how often the point is published; `None` = the device interval.
    pub scrape_interval: Option<Duration>,
    /// `Data Currency`: the oldest data the point accepts; `None` = its scrape interval.
    pub data_currency: Option<Duration>,
    /// The CSV line the point was read from (0 for points built in code).
    pub line: u64,
}

impl PointDef {
    /// The point's publish cadence given the device's `interval`.
    pub fn scrape_interval_or(&self, device_interval: Duration) -> Duration {
        self.scrape_interval.unwrap_or(device_interval)
    }

    /// The oldest data this point accepts given the device's `interval`: its Data Currency,
    /// else its scrape interval; never below [`STATIC_MIN_CURRENCY`] for getStations data.
    pub fn data_currency_or(&self, device_interval: Duration) -> Duration {
        let c = self
            .data_currency
            .unwrap_or_else(|| self.scrape_interval_or(device_interval));
        if self.attribute.is_static() {
            c.max(STATIC_MIN_CURRENCY)
        } else {
            c
        }
    }

    /// The API method that feeds this point.
    pub fn method(&self) -> ApiMethod {
        self.attribute.method()
    }
}

/// A parsed, valid registry: every point of one station device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registry {
    /// The file it came from, for messages.
    pub path: PathBuf,
    /// The points, their names unique.
    pub points: Vec<PointDef>,
    /// What was odd but loaded anyway, in line order.
    #[serde(skip)]
    pub warnings: Vec<RegistryWarning>,
}

/// Canonical column names, in the order `write_csv` writes them.
const POINT_NAME: &str = "Volttron Point Name";
const ATTRIBUTE_NAME: &str = "Attribute Name";
const REGISTER_NAME: &str = "Register Name";
const PORT: &str = "Port #";
const TYPE: &str = "Type";
const UNITS: &str = "Units";
const STARTING_VALUE: &str = "Starting Value";
const WRITABLE: &str = "Writable";
const NOTES: &str = "Notes";
const SCRAPE_INTERVAL: &str = "Scrape Interval";
const DATA_CURRENCY: &str = "Data Currency";

const COLUMNS: [&str; 11] = [
    POINT_NAME,
    ATTRIBUTE_NAME,
    REGISTER_NAME,
    PORT,
    TYPE,
    UNITS,
    STARTING_VALUE,
    WRITABLE,
    NOTES,
    SCRAPE_INTERVAL,
    DATA_CURRENCY,
];
const REQUIRED: [&str; 6] = [
    POINT_NAME,
    ATTRIBUTE_NAME,
    REGISTER_NAME,
    PORT,
    TYPE,
    WRITABLE,
];

/// Separators spreadsheets use instead of commas, with how a message names them.
const OTHER_SEPARATORS: [(char, &str); 3] = [(';', "';'"), ('\t', "tabs"), ('|', "'|'")];

/// Header matching: case-insensitive, spaces ignored (`port #`, `PORT#`, `Port  #`).
fn header_key(s: &str) -> String {
    s.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which input column holds each canonical column.
struct Columns(HashMap<&'static str, usize>);

impl Columns {
    fn get<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        self.0
            .get(column)
            .and_then(|&i| record.get(i))
            .unwrap_or("")
    }
}

/// The shortest scrape tick a device may have: one second.
const MIN_TICK: Duration = Duration::from_secs(1);

impl Registry {
    /// How often a device with this registry and `interval` scrapes: its points' shortest
    /// scrape interval, at least [`MIN_TICK`].
    pub fn tick(&self, interval: Duration) -> Duration {
        self.points
            .iter()
            .map(|p| p.scrape_interval_or(interval))
            .min()
            .unwrap_or(interval)
            .max(MIN_TICK)
    }

    /// Reads and validates a registry CSV file.
    ///
    /// # Errors
    /// Every problem of the file, each with its line.
    pub fn parse(path: &Path) -> Result<Registry, Problems> {
        let bytes = read_config(path)?;
        Registry::parse_reader(&bytes[..], path)
    }

    /// Validates registry CSV bytes; `path` only names the source in messages.
    ///
    /// # Errors
    /// Every problem found, each with its line, in line order.
    pub fn parse_reader(reader: impl Read, path: &Path) -> Result<Registry, Problems> {
        // Registries are small; holding the bytes lets line numbers come from byte offsets,
        // which stay true across the blank lines the csv reader skips.
        let bytes = read_all(reader, path)?;
        check_text(&bytes, path)?;
        let lines = LineIndex::new(&bytes);
        let line_of = |r: &csv::StringRecord| lines.line_of(r.position());
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&bytes[..]);
        let mut problems = Vec::new();
        let mut records = csv.records();
        let pos = |line: u64| Position::new(path, line);

        let header = loop {
            match records.next() {
                None => {
                    problems.extend(REQUIRED.iter().map(|&column| RegistryError::MissingColumn {
                        pos: pos(1),
                        column,
                        found: String::new(),
                    }));
                    return Err(Problems(problems));
                }
                Some(Err(e)) => return Err(csv_error(path, &e, &lines).into()),
                Some(Ok(r)) if r.iter().all(|f| f.trim().is_empty()) => continue,
                Some(Ok(r)) => break r,
            }
        };
        let header_line = line_of(&header);
        let mut columns = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let key = header_key(name);
            if let Some(&canonical) = COLUMNS.iter().find(|c| header_key(c) == key) {
                columns.entry(canonical).or_insert(i);
            }
        }
        if columns.is_empty() {
            // A spreadsheet saved with another separator: say which, not "missing" six times.
            let joined = header.iter().collect::<Vec<_>>().join(",");
            if let Some(&(_, name)) = OTHER_SEPARATORS.iter().find(|(sep, _)| {
                joined
                    .split(*sep)
                    .any(|h| COLUMNS.iter().any(|c| header_key(c) == header_key(h)))
            }) {
                return Err(RegistryError::WrongSeparator {
                    pos: pos(header_line),
                    separator: name,
                }
                .into());
            }
            // Nothing says this file is a registry: its content is not ours to show.
            return Err(RegistryError::NotARegistry {
                pos: pos(header_line),
                expected: COLUMNS[..9].join(","),
            }
            .into());
        }
        let found = header
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}'))
            .collect::<Vec<_>>()
            .join(", ");
        for column in REQUIRED {
            if !columns.contains_key(column) {
                problems.push(RegistryError::MissingColumn {
                    pos: pos(header_line),
                    column,
                    found: found.clone(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        let columns = Columns(columns);

        let mut points: Vec<PointDef> = Vec::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        let mut warnings = Vec::new();
        for record in records {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    problems.push(csv_error(path, &e, &lines));
                    // The reader is lenient about quoting, so what remains is a record with
                    // invalid UTF-8: report it and go on with the next record.
                    if e.is_io_error() {
                        break;
                    }
                    continue;
                }
            };
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let line = line_of(&record);
            let short: Vec<&'static str> = REQUIRED
                .iter()
                .copied()
                .filter(|c| columns.0.get(c).is_some_and(|&i| i >= record.len()))
                .collect();
            if !short.is_empty() {
                problems.push(RegistryError::ShortRow {
                    pos: pos(line),
                    point: columns.get(&record, POINT_NAME).trim().to_string(),
                    fields: record.len(),
                    header_fields: header.len(),
                    missing: short.join(", "),
                });
                continue;
            }
            let parsed = match parse_row(&columns, &record, &pos(line)) {
                Ok(point) => Some(point),
                Err(row_problems) => {
                    problems.extend(row_problems);
                    None
                }
            };
            let name = columns.get(&record, POINT_NAME).trim();
            if let Some(&first) = first_line.get(name) {
                warnings.push(RegistryWarning::DuplicatePoint {
                    pos: pos(line),
                    point: name.to_string(),
                    first_line: first,
                });
                points.retain(|p| p.name != name);
            } else if !name.is_empty() {
                first_line.insert(name.to_string(), line);
            }
            points.extend(parsed);
        }
        if points.is_empty() {
            // VOLTTRON loads a registry without rows (its device publishes nothing): a warning.
            warnings.push(RegistryWarning::Mistake(Mistake::NoPoints {
                pos: pos(header_line),
            }));
        }
        if problems.is_empty() {
            Ok(Registry {
                path: path.to_path_buf(),
                points,
                warnings,
            })
        } else {
            Err(Problems(problems))
        }
    }

    /// Writes the registry as CSV with every column (the two optional ones included), in a
    /// form [`Registry::parse_reader`] reads back to the same points.
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn write_csv(&self, out: impl Write) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(COLUMNS)?;
        for p in &self.points {
            let port = p.port.map(|n| n.to_string()).unwrap_or_default();
            let start = match &p.starting_value {
                None | Some(PointValue::Null) => String::new(),
                Some(v) => v.to_string(),
            };
            let secs = |d: Option<Duration>| d.map(format_seconds).unwrap_or_default();
            w.write_record([
                p.name.as_str(),
                p.attribute.name(),
                p.attribute.register().name(),
                &port,
                p.value_type.name(),
                &p.units,
                &start,
                if p.writable { "TRUE" } else { "FALSE" },
                &p.notes,
                &secs(p.scrape_interval),
                &secs(p.data_currency),
            ])?;
        }
        w.flush()?;
        Ok(())
    }

    /// The point called `name`.
    pub fn point(&self, name: &str) -> Option<&PointDef> {
        self.points.iter().find(|p| p.name == name)
    }

    /// The API methods some point needs read, in [`ApiMethod`] order.
    pub fn read_methods(&self) -> BTreeSet<ApiMethod> {
        self.points.iter().map(PointDef::method).collect()
    }

    /// The methods set_point may call on this registry's writable points, in [`ApiMethod`] order.
    pub fn write_methods(&self) -> BTreeSet<ApiMethod> {
        self.points
            .iter()
            .filter(|p| p.writable)
            .flat_map(|p| p.attribute.write_methods().iter().copied())
            .collect()
    }

    /// The port numbers some point names.
    pub fn ports(&self) -> BTreeSet<PortNumber> {
        self.points.iter().filter_map(|p| p.port).collect()
    }

    /// Whether set_point may shed or clear the whole station: some writable shedState,
    /// allowedLoad or percentShed point has no `Port #`.
    pub fn writes_station_load(&self) -> bool {
        self.points
            .iter()
            .any(|p| p.writable && p.port.is_none() && p.attribute.is_station_load_capable())
    }

    /// For each method the registry needs: how often one station calls it, i.e. the shortest
    /// data currency among its points (never shorter than the point's scrape interval, since
    /// data is fetched only when a scrape finds it too old). One getLoad serves every port.
    ///
    /// A registry that reads getLoad also calls getStations, at start and then every
    /// [`STATION_GROUP_REFRESH`], even when no point reads it: its station group ID lets the
    /// gateway read the load of a whole group in one getLoad (see [`Registry::needs_station_group`]).
    pub fn call_periods(&self, device_interval: Duration) -> Vec<(ApiMethod, Duration)> {
        let mut periods: Vec<(ApiMethod, Duration)> = Vec::new();
        for p in &self.points {
            let scrape = p.scrape_interval_or(device_interval);
            let period = p.data_currency_or(device_interval).max(scrape);
            match periods.iter_mut().find(|(m, _)| *m == p.method()) {
                Some((_, d)) => *d = (*d).min(period),
                None => periods.push((p.method(), period)),
            }
        }
        if self.needs_station_group() && !periods.iter().any(|(m, _)| *m == ApiMethod::GetStations)
        {
            periods.push((ApiMethod::GetStations, STATION_GROUP_REFRESH));
        }
        periods.sort_by_key(|(m, _)| *m);
        periods
    }

    /// Whether a station calls getStations for its group only: some point reads getLoad and
    /// none reads getStations. One getStations per station every six hours costs far less than
    /// the per-station getLoads it saves (see the README, "Which API calls a station makes").
    pub fn needs_station_group(&self) -> bool {
        self.points.iter().any(|p| p.method() == ApiMethod::GetLoad)
            && !self
                .points
                .iter()
                .any(|p| p.method() == ApiMethod::GetStations)
    }
}

fn format_seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}.{:03}", d.as_secs(), d.subsec_millis())
    }
}

/// Maps byte offsets to 1-based line numbers.
struct LineIndex<'b> {
    bytes: &'b [u8],
    /// Offsets of every `\n`.
    newlines: Vec<usize>,
}

impl<'b> LineIndex<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        let newlines = bytes
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| (b == b'\n').then_some(i))
            .collect();
        LineIndex { bytes, newlines }
    }

    /// The line a record starts on. The csv reader reports a record's start before the blank
    /// lines it skipped, so line breaks at that offset are stepped over first.
    fn line_of(&self, pos: Option<&csv::Position>) -> u64 {
        let Some(pos) = pos else { return 0 };
        let mut offset = usize::try_from(pos.byte()).unwrap_or(usize::MAX);
        while matches!(self.bytes.get(offset), Some(b'\n' | b'\r')) {
            offset += 1;
        }
        (self.newlines.partition_point(|&n| n < offset) + 1) as u64
    }
}

fn csv_error(path: &Path, e: &csv::Error, lines: &LineIndex<'_>) -> RegistryError {
    let line = lines.line_of(e.position());
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        _ => e.to_string(),
    };
    RegistryError::Csv {
        pos: Position::new(path, line),
        message,
    }
}

/// Validates one row. Independent problems of the row are all reported.
fn parse_row(
    columns: &Columns,
    record: &csv::StringRecord,
    pos: &Position,
) -> Result<PointDef, Vec<RegistryError>> {
    let field = |c: &str| columns.get(record, c);
    let name = field(POINT_NAME).trim().to_string();
    if name.is_empty() {
        return Err(vec![RegistryError::EmptyPointName { pos: pos.clone() }]);
    }
    let mut problems = Vec::new();
    let point = || name.clone();

    let register_text = field(REGISTER_NAME).trim();
    let attribute = match RegisterKind::parse(register_text) {
        None => {
            problems.push(RegistryError::UnknownRegister {
                pos: pos.clone(),
                point: point(),
                found: register_text.to_string(),
                expected: RegisterKind::ALL.map(RegisterKind::name).join(", "),
            });
            None
        }
        Some(register) => {
            let attr_text = field(ATTRIBUTE_NAME).trim();
            let attribute = Attribute::parse(register, attr_text);
            if attribute.is_none() {
                problems.push(RegistryError::UnknownAttribute {
                    pos: pos.clone(),
                    point: point(),
                    register: register.name(),
                    found: attr_text.to_string(),
                    expected: register
                        .attributes()
                        .map(Attribute::name)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            attribute
        }
    };

    let type_text = field(TYPE).trim();
    let declared = if type_text.is_empty() {
        attribute.map(Attribute::value_type)
    } else {
        let t = ValueType::parse(type_text);
        if t.is_none() {
            problems.push(RegistryError::UnknownType {
                pos: pos.clone(),
                point: point(),
                found: type_text.to_string(),
                expected: "string, datetime, integer, float, boolean, dictionary".to_string(),
            });
        }
        t
    };

    let writable_text = field(WRITABLE).trim();
    let writable = if writable_text.is_empty() {
        Some(false)
    } else {
        let w = parse_bool(writable_text);
        if w.is_none() {
            problems.push(RegistryError::BadWritable {
                pos: pos.clone(),
                point: point(),
                found: writable_text.to_string(),
            });
        }
        w
    };

    let port_text = field(PORT).trim();
    let port = if port_text.is_empty() {
        Some(None)
    } else {
        match port_text.parse::<u16>() {
            // VOLTTRON treats 0 like an empty Port #.
            Ok(0) => Some(None),
            Ok(n) if n <= MAX_PORT_NUMBER => Some(Some(PortNumber(n))),
            _ => {
                problems.push(RegistryError::BadPort {
                    pos: pos.clone(),
                    point: point(),
                    max: MAX_PORT_NUMBER,
                    found: port_text.to_string(),
                });
                None
            }
        }
    };

    let scrape_interval = seconds(field(SCRAPE_INTERVAL), SCRAPE_INTERVAL, pos, &name)
        .map_err(|e| problems.push(e))
        .ok();
    let data_currency = seconds(field(DATA_CURRENCY), DATA_CURRENCY, pos, &name)
        .map_err(|e| problems.push(e))
        .ok();

    if let Some(attribute) = attribute {
        let a = attribute.name();
        if let Some(t) = declared {
            if !attribute.accepts_type(t) {
                problems.push(RegistryError::TypeMismatch {
                    pos: pos.clone(),
                    point: point(),
                    attribute: a,
                    expected: attribute
                        .accepted_types()
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(" or "),
                    found: type_text.to_string(),
                });
            }
        }
        if writable == Some(true) && !attribute.is_writable() {
            problems.push(RegistryError::NotWritable {
                pos: pos.clone(),
                point: point(),
                attribute: a,
            });
        }
        match (attribute.level(), port) {
            _ if attribute.port_optional() => {}
            (Level::Port, Some(None)) => problems.push(RegistryError::MissingPort {
                pos: pos.clone(),
                point: point(),
                attribute: a,
                zero: !port_text.is_empty(),
            }),
            (Level::Station, Some(Some(_))) => problems.push(RegistryError::PortOnStationLevel {
                pos: pos.clone(),
                point: point(),
                attribute: a,
                found: port_text.to_string(),
            }),
            _ => {}
        }
    }

    let start_text = field(STARTING_VALUE);
    let starting_value = match (attribute, declared) {
        (Some(attribute), Some(t)) if !start_text.trim().is_empty() => {
            match starting_value(attribute, t, start_text) {
                Ok(v) => Some(v),
                Err((expected, found)) => {
                    problems.push(RegistryError::BadStartingValue {
                        pos: pos.clone(),
                        point: point(),
                        expected,
                        found,
                    });
                    None
                }
            }
        }
        _ => None,
    };

    match (
        attribute,
        declared,
        writable,
        port,
        scrape_interval,
        data_currency,
    ) {
        (Some(attribute), Some(value_type), Some(writable), Some(port), Some(si), Some(dc))
            if problems.is_empty() =>
        {
            Ok(PointDef {
                name,
                attribute,
                port,
                value_type,
                units: field(UNITS).trim().to_string(),
                starting_value,
                writable,
                notes: field(NOTES).to_string(),
                scrape_interval: si,
                data_currency: dc,
                line: pos.line,
            })
        }
        _ => Err(problems),
    }
}

/// Parses a Starting Value and checks the write limits of the spec (percentShed 0..100,
/// allowedLoad >= 0). Errors are `(expected, found)`.
fn starting_value(
    attribute: Attribute,
    ty: ValueType,
    text: &str,
) -> Result<PointValue, (String, String)> {
    let value = PointValue::parse(ty, text).map_err(|e| (e.expected, e.found))?;
    let out_of_range = |expected: &str| Err((expected.to_string(), format!("'{}'", text.trim())));
    match (attribute, value.as_f64()) {
        (Attribute::PercentShed, Some(p)) if !limits::percent_shed_in_range(p) => {
            out_of_range(limits::PERCENT_SHED_RANGE)
        }
        (Attribute::AllowedLoad, Some(kw)) if !limits::allowed_load_in_range(kw) => {
            out_of_range(limits::ALLOWED_LOAD_RANGE)
        }
        (Attribute::ShedState | Attribute::ClearAlarms, Some(f)) if f != 0.0 && f != 1.0 => {
            out_of_range("0 or 1")
        }
        _ => Ok(value),
    }
}

/// Reads a Scrape Interval / Data Currency cell: empty, or positive seconds (millisecond
/// precision).
fn seconds(
    text: &str,
    column: &'static str,
    pos: &Position,
    point: &str,
) -> Result<Option<Duration>, RegistryError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<f64>().ok().and_then(duration_from_seconds) {
        Some(d) => Ok(Some(d)),
        None => Err(RegistryError::BadSeconds {
            pos: pos.clone(),
            point: point.to_string(),
            column,
            found: t.to_string(),
        }),
    }
}
