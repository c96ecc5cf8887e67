//! `chargepoint-supervisor check <path>`: validates configuration before anything runs.
//!
//! The path may be a registry CSV, a VOLTTRON device config, a fleet file (`fleet.json`) or a
//! fleet directory (see `cp_registry::FleetConfig`). Every problem is printed in grep format
//! (`file:line: …`); a clean configuration prints a summary of stations, ports, points,
//! accounts and the API calls per hour it will cause.
//!
//! Wiring: `Command::Check { path } => check::check(&path, &mut std::io::stdout())`.

use std::io::Write;
use std::path::Path;

use cp_registry::{
    FleetConfig, FleetSummary, Problems, Registry, RegistryError, RegistryWarning, DEFAULT_INTERVAL,
};

/// Why `check` did not pass.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailed {
    /// The configuration has problems; each was printed.
    #[error("{problems} problem{} found", if *problems == 1 { "" } else { "s" })]
    Invalid { problems: usize },
    /// The report could not be written.
    #[error("cannot write the report")]
    Output(#[from] std::io::Error),
}

/// Validates the configuration at `path`, writing every problem, or the summary, to `out`.
///
/// # Errors
/// [`CheckFailed::Invalid`] with the number of problems printed, or [`CheckFailed::Output`].
pub fn check(path: &Path, out: &mut dyn Write) -> Result<(), CheckFailed> {
    match summarise(path) {
        Ok((summary, warnings)) => {
            for w in &warnings {
                writeln!(out, "{w}")?;
            }
            match warnings.len() {
                0 => writeln!(out, "{}: OK", path.display())?,
                1 => writeln!(out, "{}: OK with 1 warning", path.display())?,
                n => writeln!(out, "{}: OK with {n} warnings", path.display())?,
            }
            write!(out, "{summary}")?;
            Ok(())
        }
        Err(problems) => {
            for line in problems.lines() {
                writeln!(out, "{line}")?;
            }
            Err(CheckFailed::Invalid {
                problems: problems.len(),
            })
        }
    }
}

/// The summary of a valid configuration and its warnings.
fn summarise(path: &Path) -> Result<(FleetSummary, Vec<RegistryWarning>), Problems> {
    // A path that cannot be read at all (missing, a symlink loop, a FIFO or device) is said
    // so in its own words; a directory is a fleet directory.
    if !path.is_dir() {
        cp_registry::probe(path).map_err(|source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if path.is_file() && is_csv {
        let registry = Registry::parse(path)?;
        Ok((
            FleetSummary::of_registry(&registry, DEFAULT_INTERVAL),
            registry.warnings,
        ))
    } else {
        let (fleet, warnings) = FleetConfig::load_with_warnings(path)?;
        Ok((FleetSummary::of(&fleet), warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    /// The spec's sample device config, verbatim (trailing comma included).
    const SPEC_CONFIG: &str =
        include_str!("../registry/configs/volttron/devices/campus/building/chargepoint1");

    const HEADER: &str = "Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes\n";

    fn run(path: &Path) -> (Result<(), CheckFailed>, String) {
        let mut out = Vec::new();
        let r = check(path, &mut out);
        (r, String::from_utf8(out).expect("check writes UTF-8"))
    }

    fn volttron_dir(csv_rows: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let devices = dir.path().join("devices/campus/building");
        fs::create_dir_all(&devices).expect("mkdir");
        fs::write(devices.join("chargepoint1"), SPEC_CONFIG).expect("write config");
        fs::write(
            dir.path().join("chargepoint.csv"),
            format!("{HEADER}{csv_rows}"),
        )
        .expect("write csv");
        let root = dir.path().to_path_buf();
        (dir, root)
    }

    const SPEC_ROWS: &str = "\
Status,Status,StationStatusRegister,1,string,,,FALSE,\"AVAILABLE, INUSE, UNREACHABLE, UNKNOWN \"
shedState,shedState,LoadRegister,1,integer,0 or 1,0,TRUE,True when load shed limits are in place
portLoad,portLoad,LoadRegister,1,float,kw,,FALSE,Load in kw
alarmType,alarmType,AlarmRegister,,string,,,FALSE,eg. 'GFCI Trip'
";

    #[test]
    fn volttron_example_directory_checks_clean_with_a_summary() {
        let (_guard, root) = volttron_dir(SPEC_ROWS);
        let (r, out) = run(&root);
        assert!(r.is_ok(), "{out}");
        assert_eq!(
            out,
            format!(
                "{}: OK\n\
                 1 station, 1 device, 1 port, 4 points, 1 account\n\
                 API calls per hour (per station, before batching):\n\
                 \x20 getStationStatus              60.00/h  from 1 station\n\
                 \x20 getLoad                       60.00/h  from 1 station\n\
                 \x20 getAlarms                     60.00/h  from 1 station\n\
                 \x20 getStations                    0.17/h  from 1 station (no point reads it: the station group, so getLoad reads a group at once; at start, then every 6h)\n\
                 on set_point only: shedLoad, clearShedState\n\
                 account 1b905c-e171aeeddd46b69b: 1 station, 3.0 calls/min\n",
                root.display()
            )
        );
    }

    #[test]
    fn a_broken_line_is_reported_with_its_file_and_line() {
        let rows = SPEC_ROWS.replace("portLoad,LoadRegister", "portLoad,LoadRegistr");
        let (_guard, root) = volttron_dir(&rows);
        let (r, out) = run(&root);
        assert!(matches!(r, Err(CheckFailed::Invalid { problems: 1 })));
        assert_eq!(
            out,
            format!(
                "{}:4: point portLoad: unknown register 'LoadRegistr' (expected one of \
                 StationStatusRegister, LoadRegister, AlarmRegister, StationRightsRegister, \
                 ChargingSessionRegister, StationRegister)\n",
                root.join("chargepoint.csv").display()
            )
        );
    }

    #[test]
    fn every_problem_of_every_file_is_reported() {
        let rows = format!(
            "{SPEC_ROWS}portLoad2,portLoad,LoadRegister,1,float,kw,,TRUE,\n\
             x,Status,StationStatusRegister,,string,,,FALSE,\n"
        );
        let (_guard, root) = volttron_dir(&rows);
        let config = root.join("devices/campus/building/chargepoint1");
        fs::write(
            &config,
            SPEC_CONFIG.replace("\"chargepoint\"", "\"bacnet\""),
        )
        .expect("write");
        let (r, out) = run(&root);
        assert!(
            matches!(r, Err(CheckFailed::Invalid { problems: 1 })),
            "{out}"
        );
        assert_eq!(
            out,
            format!(
                "{}:7: driver_type must be \"chargepoint\" (found \"bacnet\")\n",
                config.display()
            )
        );
        fs::write(&config, SPEC_CONFIG).expect("write");
        let (r, out) = run(&root);
        assert!(
            matches!(r, Err(CheckFailed::Invalid { problems: 2 })),
            "{out}"
        );
        let csv = root.join("chargepoint.csv");
        assert_eq!(
            out,
            format!(
                "{csv}:6: point portLoad2: attribute portLoad is read-only (expected Writable FALSE, found TRUE)\n\
                 {csv}:7: point x: attribute Status is per port (expected a Port # such as 1, found nothing)\n",
                csv = csv.display()
            )
        );
    }

    #[test]
    fn summary_names_runtime_station_sets_and_accounts_over_their_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("cp.csv"), format!("{HEADER}{SPEC_ROWS}")).expect("write csv");
        let fleet = r#"{
          "accounts": [{"name": "a", "username": "u", "password": "p", "rate_limit_per_minute": 2}],
          "station_sets": [
            {"account": "a", "registry_config": "cp.csv", "stations": ["1:1"], "device_path": "x/y"},
            {"account": "a", "registry_config": "cp.csv", "stations": "all", "device_path": "every/{station_number}"},
          ],
        }"#;
        let path = dir.path().join("fleet.json");
        fs::write(&path, fleet).expect("write fleet");
        let (r, out) = run(&path);
        assert!(r.is_ok(), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1..3],
            [
                "1 station, 1 device, 1 port, 4 points, 1 account",
                "plus every station account a can see (found with getStations at start)",
            ]
        );
        assert_eq!(
            lines.last(),
            Some(&"account a: 1 station, 3.0 calls/min (over its limit of 2/min: scrapes will be slowed to fit)")
        );
    }

    #[test]
    fn duplicate_point_names_warn_and_the_later_row_is_used_as_in_volttron() {
        let rows = format!("{SPEC_ROWS}portLoad,portLoad,LoadRegister,2,float,kW,,FALSE,\n");
        let (_guard, root) = volttron_dir(&rows);
        let (r, out) = run(&root);
        assert!(r.is_ok(), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..3],
            [
                format!(
                    "{}:6: point portLoad: duplicate point name (first defined on line 4); \
                     this later row is the one used, as in VOLTTRON",
                    root.join("chargepoint.csv").display()
                ),
                format!("{}: OK with 1 warning", root.display()),
                "1 station, 1 device, 2 ports, 4 points, 1 account".to_string(),
            ]
        );
    }

    #[test]
    fn a_single_csv_is_summarised_as_one_station() {
        let dir = tempfile::tempdir().expect("temp dir");
        let csv = dir.path().join("points.csv");
        fs::write(&csv, format!("{HEADER}{SPEC_ROWS}")).expect("write");
        let (r, out) = run(&csv);
        assert!(r.is_ok(), "{out}");
        assert!(out.starts_with(&format!(
            "{}: OK\n1 station, 1 device, 1 port, 4 points, 0 accounts\n",
            csv.display()
        )));
    }

    #[test]
    fn check_lists_get_stations_only_when_a_point_or_the_station_group_needs_it() {
        let rows = "\
Status,Status,StationStatusRegister,1,string,,,FALSE,
alarmType,alarmType,AlarmRegister,,string,,,FALSE,
";
        let (_guard, root) = volttron_dir(rows);
        let (r, out) = run(&root);
        assert!(r.is_ok(), "{out}");
        assert!(!out.contains("getStations"), "{out}");

        let (_guard, root) = volttron_dir(SPEC_ROWS);
        let (_, out) = run(&root);
        assert!(out.contains("  getStations "), "{out}");
    }

    /// Issue 13 item 1: Load points with an empty Port # are the whole station, as in
    /// VOLTTRON's driver; the shipped example of them checks clean and says set_point may shed.
    #[test]
    fn the_shipped_station_load_example_checks_clean() {
        let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("registry/configs/station-load.csv");
        let (r, out) = run(&csv);
        assert!(r.is_ok(), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            "1 station, 1 device, 2 ports, 8 points, 0 accounts"
        );
        assert_eq!(
            lines.last(),
            Some(&"on set_point only: shedLoad, clearShedState")
        );

        let (_guard, root) = volttron_dir(
            "shedState,shedState,LoadRegister,,integer,0 or 1,0,TRUE,\n\
             allowedLoad,allowedLoad,LoadRegister,,float,kw,,TRUE,\n\
             percentShed,percentShed,LoadRegister,,integer,percent,,TRUE,\n\
             stationLoad,stationLoad,LoadRegister,,float,kw,,FALSE,\n",
        );
        let (r, out) = run(&root);
        assert!(r.is_ok(), "{out}");
        assert!(
            out.contains("1 station, 1 device, 0 ports, 4 points"),
            "{out}"
        );
    }

    #[test]
    fn a_missing_path_is_one_problem() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope");
        let (r, out) = run(&missing);
        assert!(matches!(r, Err(CheckFailed::Invalid { problems: 1 })));
        assert_eq!(
            out,
            format!(
                "{}: cannot read: no such file or directory\n",
                missing.display()
            )
        );
    }

    #[test]
    fn the_shipped_fleet_example_summarises_200_stations_on_two_accounts() {
        let fleet =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("registry/configs/fleet-200/fleet.json");
        let (r, out) = run(&fleet);
        assert!(r.is_ok(), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            "200 stations, 200 devices, 400 ports, 16600 points, 2 accounts"
        );
        assert!(
            lines.contains(
                &"  getStations                    8.33/h  from 200 stations (static: at start, then every 24h)"
            ),
            "{out}"
        );
        assert!(
            lines.contains(&"account org1: 100 stations, 241.7 calls/min (limit 600/min)"),
            "{out}"
        );
    }
}
