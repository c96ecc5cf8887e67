//! Everything that can be wrong with a device config, registry CSV or fleet file.
//!
//! Each variant is one problem at one place; its `Display` is the grep-format line the user
//! sees: `path:line: point NAME: what (expected …, found …)`. Loaders collect every problem of
//! a file into [`Problems`] instead of stopping at the first.

use std::fmt;
use std::path::PathBuf;

use crate::file::{FileError, NotText};
use crate::seconds::SECONDS_RANGE;

/// Where a problem is: a file and a 1-based line (0 when the problem concerns the whole file).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub path: PathBuf,
    pub line: u64,
}

impl Position {
    pub fn new(path: impl Into<PathBuf>, line: u64) -> Self {
        Position {
            path: path.into(),
            line,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.path.display())
        } else {
            write!(f, "{}:{}", self.path.display(), self.line)
        }
    }
}

/// The most characters of a user's text an error quotes: enough to recognise it, never a
/// screenful of a wrong file.
const MAX_QUOTE_CHARS: usize = 60;

/// A CSV header is quoted further: its columns are what the user needs to compare.
const MAX_HEADER_QUOTE_CHARS: usize = 200;

/// Text from a file as an error quotes it (see [`quote_within`]).
pub(crate) fn quote(text: &str) -> String {
    quote_within(text, MAX_QUOTE_CHARS)
}

/// Text from a file as an error quotes it: its first line only, control characters escaped as
/// `\u{1b}` (so a file cannot drive the terminal), cut after `max` characters with `…`.
pub(crate) fn quote_within(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let mut out = String::new();
    for (i, c) in first.chars().enumerate() {
        if i == max {
            out.push('…');
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    if first.len() < text.trim_end_matches(['\r', '\n']).len() {
        out.push('…');
    }
    out
}

/// One problem in a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read: missing, not a regular file, too large.
    #[error("{}: cannot read", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: FileError,
    },

    /// The file is not UTF-8 text: UTF-16, or binary. The line is where a zero byte was met
    /// (0 for UTF-16, which concerns the whole file).
    #[error("{pos}: {kind}")]
    NotText { pos: Position, kind: NotText },

    /// A path given to `check`/`load` is neither a device config, a CSV, a fleet file nor a
    /// directory holding them.
    #[error("{}: {what}", path.display())]
    Unrecognised { path: PathBuf, what: String },

    /// The CSV itself is malformed (bad quoting, invalid UTF-8).
    #[error("{pos}: malformed CSV: {message}")]
    Csv { pos: Position, message: String },

    /// A required column is missing from the CSV header.
    #[error(
        "{pos}: missing column '{column}' (found columns: {})",
        quote_within(found, MAX_HEADER_QUOTE_CHARS)
    )]
    MissingColumn {
        pos: Position,
        column: &'static str,
        found: String,
    },

    /// The first line names none of the registry's columns: the file is something else (and
    /// what it holds is not echoed).
    #[error("{pos}: not a registry CSV: its first line names none of the registry's columns (expected a header like {expected})")]
    NotARegistry { pos: Position, expected: String },

    /// The header is separated by something other than commas (a spreadsheet's `;`).
    #[error("{pos}: the columns are separated by {separator}, not commas: save the file as comma-separated CSV, as VOLTTRON reads it")]
    WrongSeparator {
        pos: Position,
        /// `';'`, `tabs`, ...
        separator: &'static str,
    },

    /// A row ends before the columns every point needs: a missing comma or a stray line break.
    #[error(
        "{pos}: point {}: the row has {fields} fields but the header {header_fields}, so it has no {missing} (a missing comma, or a line break inside the row?)",
        quote(point)
    )]
    ShortRow {
        pos: Position,
        point: String,
        fields: usize,
        header_fields: usize,
        /// The required columns past the row's end, comma-separated.
        missing: String,
    },

    /// A row has no Volttron Point Name.
    #[error("{pos}: empty Volttron Point Name")]
    EmptyPointName { pos: Position },

    /// The Register Name is not one of the spec's register types.
    #[error(
        "{pos}: point {}: unknown register '{}' (expected one of {expected})",
        quote(point),
        quote(found)
    )]
    UnknownRegister {
        pos: Position,
        point: String,
        found: String,
        expected: String,
    },

    /// The register exists but does not serve this attribute.
    #[error(
        "{pos}: point {}: {register} has no attribute '{}' (expected one of {expected})",
        quote(point),
        quote(found)
    )]
    UnknownAttribute {
        pos: Position,
        point: String,
        register: &'static str,
        found: String,
        expected: String,
    },

    /// The Type column names no known type.
    #[error(
        "{pos}: point {}: unknown type '{}' (expected one of {expected})",
        quote(point),
        quote(found)
    )]
    UnknownType {
        pos: Position,
        point: String,
        found: String,
        expected: String,
    },

    /// The Type column names a type the attribute cannot have.
    #[error(
        "{pos}: point {}: attribute {attribute} cannot be of type '{}' (expected {expected})",
        quote(point),
        quote(found)
    )]
    TypeMismatch {
        pos: Position,
        point: String,
        attribute: &'static str,
        expected: String,
        found: String,
    },

    /// The Writable column is not a flag word.
    #[error(
        "{pos}: point {}: bad Writable value (expected TRUE or FALSE, found '{}')",
        quote(point),
        quote(found)
    )]
    BadWritable {
        pos: Position,
        point: String,
        found: String,
    },

    /// Writable = TRUE on an attribute the API cannot write.
    #[error(
        "{pos}: point {}: attribute {attribute} is read-only (expected Writable FALSE, found TRUE)",
        quote(point)
    )]
    NotWritable {
        pos: Position,
        point: String,
        attribute: &'static str,
    },

    /// A port number on an attribute of the whole station.
    #[error(
        "{pos}: point {}: attribute {attribute} is station-level (expected empty Port #, found '{}')",
        quote(point), quote(found)
    )]
    PortOnStationLevel {
        pos: Position,
        point: String,
        attribute: &'static str,
        found: String,
    },

    /// No port number on an attribute of one port.
    #[error(
        "{pos}: point {}: attribute {attribute} is per port (expected a Port # such as 1, found {})",
        quote(point),
        if *zero { "'0', which means no port, as in VOLTTRON" } else { "nothing" }
    )]
    MissingPort {
        pos: Position,
        point: String,
        attribute: &'static str,
        /// The Port # was `0` rather than empty.
        zero: bool,
    },

    /// The Port # is not a port number.
    #[error(
        "{pos}: point {}: bad Port # (expected a port from 1 to {max} or empty, found '{}')",
        quote(point),
        quote(found)
    )]
    BadPort {
        pos: Position,
        point: String,
        max: u16,
        found: String,
    },

    /// The Starting Value does not fit the point.
    #[error(
        "{pos}: point {}: bad Starting Value (expected {expected}, found {})",
        quote(point),
        quote(found)
    )]
    BadStartingValue {
        pos: Position,
        point: String,
        expected: String,
        found: String,
    },

    /// Scrape Interval or Data Currency is not a positive number of seconds.
    #[error(
        "{pos}: point {}: bad {column} (expected {SECONDS_RANGE}, found '{}')",
        quote(point),
        quote(found)
    )]
    BadSeconds {
        pos: Position,
        point: String,
        column: &'static str,
        found: String,
    },

    /// A JSON file does not parse (after comments and trailing commas are removed).
    #[error("{pos}:{column}: invalid JSON: {message}")]
    Json {
        pos: Position,
        column: u64,
        message: String,
    },

    /// A required key is missing from a JSON config.
    #[error("{pos}: missing '{key}' (expected {expected})")]
    MissingKey {
        pos: Position,
        key: String,
        expected: &'static str,
    },

    /// A key of a JSON config has the wrong kind of value.
    #[error("{pos}: bad '{key}' (expected {expected}, found {})", quote(found))]
    BadValue {
        pos: Position,
        key: String,
        expected: String,
        found: String,
    },

    /// The device config is for another driver.
    #[error(
        "{pos}: driver_type must be \"chargepoint\" (found \"{}\")",
        quote(found)
    )]
    WrongDriverType { pos: Position, found: String },

    /// `password_env` / `token_env` names an unset environment variable.
    #[error("{pos}: {owner}: environment variable {var} is not set")]
    SecretEnvUnset {
        pos: Position,
        /// Whose secret: `account org1`, `api`.
        owner: String,
        var: String,
    },

    /// `password_file` / `token_file` cannot be read.
    #[error("{pos}: {owner}: cannot read {key} file {}", file.display())]
    SecretFile {
        pos: Position,
        owner: String,
        /// `password` or `token`.
        key: &'static str,
        file: PathBuf,
        #[source]
        source: FileError,
    },

    /// An account gives none or several of password / password_env / password_file (or the
    /// api section several of token / token_env / token_file).
    #[error(
        "{pos}: {owner}: give exactly one of {key}, {key}_env, {key}_file (found {})",
        quote(found)
    )]
    SecretSource {
        pos: Position,
        owner: String,
        key: &'static str,
        found: String,
    },

    /// A station set names an account the fleet file does not define.
    #[error("{pos}: unknown account '{}' (expected {expected})", quote(found))]
    UnknownAccount {
        pos: Position,
        found: String,
        expected: String,
    },

    /// Two accounts share a name, or two devices share a device path or station.
    #[error("{pos}: duplicate {what} '{}' (first defined at {first})", quote(name))]
    Duplicate {
        pos: Position,
        what: &'static str,
        name: String,
        first: Position,
    },

    /// A device config's registry_config points to a file that is not there.
    #[error("{pos}: registry_config '{reference}' not found (looked for {})", looked.display())]
    RegistryNotFound {
        pos: Position,
        reference: String,
        looked: PathBuf,
    },

    /// A device config's registry_config names something that is not a readable file.
    #[error("{pos}: registry_config '{reference}': cannot read {}", looked.display())]
    RegistryUnreadable {
        pos: Position,
        reference: String,
        looked: PathBuf,
        #[source]
        source: FileError,
    },

    /// A `config://` registry name that leads out of the config store (`..`, an absolute
    /// path, a symbolic link): such a name is refused before anything is read.
    #[error(
        "{pos}: registry_config '{reference}' must name a file inside the config store {} ({why}), like config://chargepoint.csv",
        root.display()
    )]
    OutsideStore {
        pos: Position,
        reference: String,
        root: PathBuf,
        why: String,
    },

    /// Something almost certainly not meant, in a file of this project's own (a fleet file),
    /// or in any file where VOLTTRON would not load it either.
    #[error(transparent)]
    Mistake(#[from] Mistake),

    /// A JSON config whose whole content is not one object (`[1,2,3]`, a bare string).
    #[error("{pos}: the file must hold one JSON object ({{\"key\": value, …}}), found {found}")]
    NotAnObject { pos: Position, found: String },

    /// The same username is configured with two different passwords.
    #[error("{pos}: username {username} is configured with a different password at {first}")]
    ConflictingPassword {
        pos: Position,
        username: String,
        first: Position,
    },
}

impl RegistryError {
    /// The file the problem is in.
    pub fn path(&self) -> &std::path::Path {
        match self {
            RegistryError::Io { path, .. } | RegistryError::Unrecognised { path, .. } => path,
            _ => self
                .position()
                .map_or(std::path::Path::new(""), |p| &p.path),
        }
    }

    /// The file and line of the problem; `None` for problems with a whole file or directory.
    pub fn position(&self) -> Option<&Position> {
        use RegistryError as E;
        match self {
            E::Io { .. } | E::Unrecognised { .. } => None,
            E::Mistake(m) => Some(m.pos()),
            E::Csv { pos, .. }
            | E::NotText { pos, .. }
            | E::MissingColumn { pos, .. }
            | E::NotARegistry { pos, .. }
            | E::WrongSeparator { pos, .. }
            | E::ShortRow { pos, .. }
            | E::EmptyPointName { pos }
            | E::UnknownRegister { pos, .. }
            | E::UnknownAttribute { pos, .. }
            | E::UnknownType { pos, .. }
            | E::TypeMismatch { pos, .. }
            | E::BadWritable { pos, .. }
            | E::NotWritable { pos, .. }
            | E::PortOnStationLevel { pos, .. }
            | E::MissingPort { pos, .. }
            | E::BadPort { pos, .. }
            | E::BadStartingValue { pos, .. }
            | E::BadSeconds { pos, .. }
            | E::Json { pos, .. }
            | E::MissingKey { pos, .. }
            | E::BadValue { pos, .. }
            | E::WrongDriverType { pos, .. }
            | E::SecretEnvUnset { pos, .. }
            | E::SecretFile { pos, .. }
            | E::SecretSource { pos, .. }
            | E::UnknownAccount { pos, .. }
            | E::Duplicate { pos, .. }
            | E::RegistryNotFound { pos, .. }
            | E::RegistryUnreadable { pos, .. }
            | E::OutsideStore { pos, .. }
            | E::NotAnObject { pos, .. }
            | E::ConflictingPassword { pos, .. } => Some(pos),
        }
    }
}

/// Something a configuration says that is almost certainly not what its author meant: an
/// error in this project's own fleet files, a warning ([`RegistryWarning::Mistake`]) in
/// VOLTTRON's device configs and registry CSVs, which VOLTTRON loads with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mistake {
    /// A key no reader of its object knows: most often a typo.
    #[error(
        "{pos}: unknown key '{}'{}{}",
        quote(key),
        if object.is_empty() { String::new() } else { format!(" in {object}") },
        did_you_mean(*suggestion)
    )]
    UnknownKey {
        pos: Position,
        key: String,
        /// The object holding it, as `station_sets[0]`; empty at the top level.
        object: String,
        suggestion: Option<&'static str>,
    },

    /// A station ID that is not ChargePoint's `ORG:STATION` form.
    #[error(
        "{pos}: '{}' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003)",
        quote(found)
    )]
    BadStationId { pos: Position, found: String },

    /// A `timezone` no tz database knows.
    #[error(
        "{pos}: unknown timezone '{}' (expected an IANA name such as UTC or America/Los_Angeles){}",
        quote(found),
        did_you_mean(*suggestion)
    )]
    UnknownTimezone {
        pos: Position,
        found: String,
        suggestion: Option<&'static str>,
    },

    /// `heart_beat_point` names a point of the registry: the heartbeat's 0/1 would hide it.
    #[error(
        "{pos}: heart_beat_point '{}' is also a point of the registry ({defined}): its 0/1 would hide that point's value; give the heartbeat a name of its own",
        quote(point)
    )]
    HeartbeatIsDataPoint {
        pos: Position,
        point: String,
        defined: Position,
    },

    /// One station in two station sets or device configs: two devices would read and shed it.
    #[error(
        "{pos}: station {} is already a device ({first}): two devices would read and shed one station",
        quote(station)
    )]
    StationTwice {
        pos: Position,
        station: String,
        first: Position,
    },

    /// A registry CSV with a header and no rows: its device would publish nothing.
    #[error("{pos}: no points: the registry has a header but no rows")]
    NoPoints { pos: Position },

    /// A password or token that is empty: no login can succeed with it.
    #[error("{pos}: {owner}: {source_key} is empty")]
    EmptySecret {
        pos: Position,
        owner: String,
        /// Where it came from: `password`, `password_file secret.txt`, `token_env NAME`.
        source_key: String,
    },
}

impl Mistake {
    /// Where the mistake is.
    pub fn pos(&self) -> &Position {
        match self {
            Mistake::UnknownKey { pos, .. }
            | Mistake::BadStationId { pos, .. }
            | Mistake::UnknownTimezone { pos, .. }
            | Mistake::HeartbeatIsDataPoint { pos, .. }
            | Mistake::StationTwice { pos, .. }
            | Mistake::NoPoints { pos }
            | Mistake::EmptySecret { pos, .. } => pos,
        }
    }
}

/// ` (did you mean 'interval'?)`, or nothing.
fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean '{s}'?)"))
}

/// The candidate closest to `word` by edit distance (ignoring case), when it is close enough to
/// be a typo of it: at most two edits, or a quarter of the candidate's length.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|&c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= 2 || d * 4 <= c.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance: the fewest single-character insertions, deletions and substitutions
/// that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Something odd that does not stop a file from loading, because VOLTTRON loads it too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryWarning {
    /// A second row with the same Volttron Point Name. VOLTTRON's own example registry has
    /// such rows (`startTime`, `endTime`); VOLTTRON keeps the later one, and so do we.
    #[error(
        "{pos}: point {}: duplicate point name (first defined on line {first_line}); \
         this later row is the one used, as in VOLTTRON",
        quote(point)
    )]
    DuplicatePoint {
        pos: Position,
        point: String,
        first_line: u64,
    },

    /// A [`Mistake`] in a file VOLTTRON loads as it is (a device config, a registry CSV).
    #[error("{0} (a warning: VOLTTRON loads this file as it is)")]
    Mistake(Mistake),
}

impl RegistryWarning {
    /// The file and line the warning is about.
    pub fn position(&self) -> &Position {
        match self {
            RegistryWarning::DuplicatePoint { pos, .. } => pos,
            RegistryWarning::Mistake(m) => m.pos(),
        }
    }
}

/// Every problem found while loading, in file and line order. Never empty.
#[derive(Debug)]
pub struct Problems(pub Vec<RegistryError>);

impl Problems {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &RegistryError> {
        self.0.iter()
    }

    /// One line per problem, each followed by its causes (`…: cannot read: No such file…`):
    /// what `check` prints and what `Display` shows.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|e| {
            let mut line = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                line.push_str(": ");
                line.push_str(&c.to_string());
                cause = c.source();
            }
            line
        })
    }
}

impl From<RegistryError> for Problems {
    fn from(e: RegistryError) -> Self {
        Problems(vec![e])
    }
}

impl fmt::Display for Problems {
    /// One problem per line, as the user should see them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&line)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl IntoIterator for Problems {
    type Item = RegistryError;
    type IntoIter = std::vec::IntoIter<RegistryError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_a_typo_fix_and_nothing_far_off() {
        let keys = ["interval", "station_sets", "stationID", "timezone"];
        assert_eq!(closest("intervall", &keys), Some("interval"));
        assert_eq!(closest("station_set", &keys), Some("station_sets"));
        assert_eq!(closest("StationId", &keys), Some("stationID"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn quotes_are_one_line_short_and_without_control_characters() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("two\nlines"), "two…");
        assert_eq!(quote("esc\u{1b}[2J"), "esc\\u{1b}[2J");
        assert_eq!(quote(&"y".repeat(61)), format!("{}…", "y".repeat(60)));
    }
}
