use std::fs;
use std::path::Path;
use std::time::Duration;

use cp_registry::{AccountId, DevicePattern, FleetConfig, StationId, StationSelection};

const CSV: &str = "Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes\n\
                   portLoad,portLoad,LoadRegister,1,float,kW,,FALSE,\n";

fn config(user: &str, password: &str, station: &str) -> String {
    format!(
        "{{\"driver_config\": {{\"username\": \"{user}\", \"password\": \"{password}\", \"stationID\": \"{station}\"}},\n\
         \"driver_type\": \"chargepoint\", \"registry_config\": \"config://cp.csv\", \"interval\": 30}}\n"
    )
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

fn problems(path: &Path) -> Vec<String> {
    FleetConfig::load(path)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn config_store_directory_loads_nested_and_flat_device_configs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    write(
        root,
        "devices/campus/bldg/cp1",
        &config("alice", "pw", "1:1"),
    );
    write(
        root,
        "devices/campus/bldg/cp2",
        &config("alice", "pw", "1:2"),
    );
    write(root, "cp3.config", &config("bob", "pw2", "2:1"));
    write(root, "config", "{\"driver_scrape_interval\": 0.05}");
    write(root, "README.md", "# notes");
    write(root, "cp0", &config("bob", "pw2", "2:0"));
    let fleet = FleetConfig::load(root).expect("valid");
    let devices = fleet.devices();
    let paths: Vec<&str> = devices.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["cp0", "cp3", "campus/bldg/cp1", "campus/bldg/cp2"]);
    // One account per username, shared by its stations; the registry is loaded once.
    let accounts: Vec<&str> = fleet.accounts.iter().map(|a| a.id.0.as_str()).collect();
    assert_eq!(accounts, ["bob", "alice"]);
    assert_eq!(devices[2].account, AccountId("alice".into()));
    assert!(std::sync::Arc::ptr_eq(
        &devices[2].registry,
        &devices[3].registry
    ));
    assert_eq!(devices[0].interval, Duration::from_secs(30));
}

#[test]
fn an_api_key_username_names_its_account_without_showing_the_key() {
    let key = "1b905c936af141b98f9b0f816087f3605a30c1df1d07f146281b151";
    let id = AccountId::for_username(key);
    assert_eq!(id, AccountId::for_username(key), "stable");
    assert!(
        id.0.starts_with("1b905c-") && !id.0.contains(&key[6..]),
        "{id}"
    );
    let other = format!("{}0", &key[..key.len() - 1]);
    assert_ne!(id, AccountId::for_username(&other));
    assert_eq!(AccountId::for_username("alice"), AccountId("alice".into()));
}

#[test]
fn same_username_with_two_passwords_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    write(root, "a.config", &config("alice", "pw", "1:1"));
    write(root, "b.config", &config("alice", "other", "1:2"));
    assert_eq!(
        problems(root),
        [format!(
            "{}: username alice is configured with a different password at {}",
            root.join("b.config").display(),
            root.join("a.config").display()
        )]
    );
}

#[test]
fn missing_registry_and_duplicate_device_paths_are_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "devices/a/b/cp1", &config("alice", "pw", "1:1"));
    assert_eq!(
        problems(root),
        [format!(
            "{}:2: registry_config 'config://cp.csv' not found (looked for {})",
            root.join("devices/a/b/cp1").display(),
            root.join("cp.csv").display()
        )]
    );
    write(root, "cp.csv", CSV);
    let with_path = config("alice", "pw", "1:2").replace(
        "\"interval\"",
        "\"campus\": \"a\", \"building\": \"b\", \"unit\": \"cp1\", \"interval\"",
    );
    write(root, "x.config", &with_path);
    assert_eq!(
        problems(root),
        [format!(
            "{}: duplicate device path 'a/b/cp1' (first defined at {})",
            root.join("x.config").display(),
            root.join("devices/a/b/cp1").display()
        )]
    );
}

#[test]
fn empty_directory_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(
        problems(dir.path()),
        [format!(
            "{}: no device configs (devices/…, *.config, *.json) and no fleet.json found",
            dir.path().display()
        )]
    );
}

const FLEET: &str = r#"{
  // two accounts
  "accounts": [
    {"name": "org1", "username": "account1", "password": "sim-password-1", "rate_limit_per_minute": 120},
    {"name": "org2", "username": "account2", "password_env": "CP_FLEET_TEST_PASSWORD"},
  ],
  "station_sets": [
    {"account": "org1", "registry_config": "cp.csv", "stations": ["1:10001", "1:10002"],
     "device_path": "org1/{org}/{station_number}", "interval": 20, "cacheExpiration": 10},
    {"account": "org2", "registry_config": "config://cp.csv",
     "stations": {"prefix": "2:", "first": 20001, "count": 3}, "device_path": "org2/{station}"},
    {"account": "org2", "registry_config": "cp.csv", "stations": "all", "device_path": "all2/cp{station_number}"},
  ],
}"#;

#[test]
fn fleet_file_gives_accounts_and_station_sets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    write(root, "fleet.json", FLEET);
    // The variable name is unique to this test, so parallel tests cannot race on it.
    std::env::set_var("CP_FLEET_TEST_PASSWORD", "from-env");
    let fleet = FleetConfig::load(&root.join("fleet.json")).expect("valid");
    assert_eq!(fleet.accounts.len(), 2);
    assert_eq!(fleet.accounts[0].rate_limit_per_minute, Some(120));
    assert_eq!(fleet.accounts[1].password.expose(), "from-env");
    let devices = fleet.devices();
    let paths: Vec<String> = devices.iter().map(|d| d.path.to_string()).collect();
    assert_eq!(
        paths,
        [
            "org1/1/10001",
            "org1/1/10002",
            "org2/2:20001",
            "org2/2:20002",
            "org2/2:20003"
        ]
    );
    assert_eq!(devices[0].interval, Duration::from_secs(20));
    assert_eq!(devices[0].cache_expiration, Some(Duration::from_secs(10)));
    assert_eq!(devices[2].interval, Duration::from_secs(60));
    let all = &fleet.station_sets[2];
    assert_eq!(all.stations, StationSelection::All);
    assert_eq!(
        all.device_path,
        DevicePattern::Template("all2/cp{station_number}".into())
    );
    let found = all.device(&StationId::new("2:29999")).expect("valid path");
    assert_eq!(found.path.as_str(), "all2/cp29999");
    assert_eq!(found.account, AccountId("org2".into()));
    // The directory form finds the same fleet.
    assert_eq!(FleetConfig::load(root).expect("valid"), fleet);
    assert!(!format!("{fleet:?}").contains("sim-password-1"));
}

#[test]
fn fleet_file_errors_are_all_reported_with_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    let text = r#"{
  "accounts": [
    {"name": "org1", "username": "account1"},
    {"name": "org1", "username": "x", "password": "p"},
    {"name": "org3", "username": "y", "password": "p", "password_file": "f"}
  ],
  "station_sets": [
    {"account": "orgX", "registry_config": "cp.csv", "stations": ["1:1"], "device_path": "a/b"},
    {"account": "org1", "registry_config": "cp.csv", "stations": ["1:1", "1:2", "1:1"], "device_path": "a/{station}"},
    {"account": "org1", "registry_config": "cp.csv", "stations": ["1:1", "1:2"], "device_path": "a/b"},
    {"account": "org1", "registry_config": "cp.csv", "stations": 7, "device_path": "a/{stationid}"},
    {"account": "org1", "registry_config": "nope.csv", "stations": "all", "device_path": "n/{station}"}
  ]
}"#;
    write(root, "fleet.json", text);
    let f = root.join("fleet.json");
    let f = f.display();
    assert_eq!(
        problems(&root.join("fleet.json")),
        [
            format!("{f}:3: account org1: give exactly one of password, password_env, password_file (found none)"),
            format!("{f}:5: account org3: give exactly one of password, password_env, password_file (found password, password_file)"),
            format!("{f}:8: unknown account 'orgX' (expected one of org1, org3)"),
            format!("{f}:9: duplicate station '1:1' (first defined at {f}:9)"),
            format!("{f}:10: bad 'station_sets[2].device_path' (expected a path with {{station}} or {{station_number}}, so each station gets its own device, found 'a/b')"),
            format!("{f}:11: bad 'station_sets[3].stations' (expected a list of station IDs, {{\"prefix\", \"first\", \"count\"}} or \"all\", found 7)"),
            format!("{f}:11: bad 'station_sets[3].device_path' (expected a path whose placeholders are {{station}}, {{org}}, {{station_number}}, found 'a/{{stationid}}')"),
            format!("{f}:12: registry_config 'nope.csv' not found (looked for {})", root.join("nope.csv").display()),
        ]
    );
}

#[test]
fn station_set_without_any_account_says_the_list_is_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    write(
        root,
        "fleet.json",
        "{\"station_sets\": [\n  {\"account\": \"a\", \"registry_config\": \"cp.csv\", \"stations\": \"all\", \"device_path\": \"x/{station}\"}\n]}",
    );
    assert_eq!(
        problems(&root.join("fleet.json")),
        [format!(
            "{}:2: unknown account 'a' (expected an account of this file's \"accounts\" list, which is empty)",
            root.join("fleet.json").display()
        )]
    );
}

fn api_fleet(api: &str) -> String {
    format!(
        "{{\n  \"api\": {api},\n  \"accounts\": [{{\"name\": \"org1\", \"username\": \"u\", \"password\": \"p\"}}],\n  \
         \"station_sets\": [{{\"account\": \"org1\", \"registry_config\": \"cp.csv\", \"stations\": [\"1:1\"], \"device_path\": \"a/{{station}}\"}}]\n}}\n"
    )
}

/// A fleet directory with the registry and a fleet file whose `api` section is `api`.
fn api_fleet_dir(api: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "cp.csv", CSV);
    write(dir.path(), "fleet.json", &api_fleet(api));
    dir
}

#[test]
fn the_api_token_comes_from_the_fleet_file_and_never_shows() {
    let dir = api_fleet_dir(r#"{"token": "t0ken-secret"}"#);
    let root = dir.path();
    let fleet = FleetConfig::load(&root.join("fleet.json")).expect("valid");
    let token = fleet.api_token.as_ref().expect("a token");
    assert_eq!(token.expose(), "t0ken-secret");
    assert!(!format!("{fleet:?}").contains("t0ken-secret"));

    // Like a password file: relative to the fleet file, without its trailing newline.
    write(root, "secrets/api-token", "file-t0ken\n");
    write(
        root,
        "fleet.json",
        &api_fleet(r#"{"token_file": "secrets/api-token"}"#),
    );
    let fleet = FleetConfig::load(&root.join("fleet.json")).expect("valid");
    assert_eq!(
        fleet.api_token.map(|t| t.expose().to_string()),
        Some("file-t0ken".into())
    );

    // No api section, or one without a token: writes need no token from the file.
    write(root, "fleet.json", &api_fleet("{}"));
    assert_eq!(
        FleetConfig::load(&root.join("fleet.json"))
            .expect("valid")
            .api_token,
        None
    );
}

#[test]
fn api_token_sources_are_checked_like_passwords() {
    let dir = api_fleet_dir(r#"{"token": "a", "token_env": "CP_FLEET_TEST_TOKEN"}"#);
    let root = dir.path();
    let f = root.join("fleet.json");
    assert_eq!(
        problems(&f),
        [format!(
            "{}:2: api: give exactly one of token, token_env, token_file (found token, token_env)",
            f.display()
        )]
    );
    write(
        root,
        "fleet.json",
        &api_fleet(r#"{"token_env": "CP_FLEET_TEST_UNSET_TOKEN"}"#),
    );
    assert_eq!(
        problems(&f),
        [format!(
            "{}:2: api: environment variable CP_FLEET_TEST_UNSET_TOKEN is not set",
            f.display()
        )]
    );
    // Issue 14: a token file on /dev/urandom is refused at once, not read without end.
    write(
        root,
        "fleet.json",
        &api_fleet(r#"{"token_file": "/dev/urandom"}"#),
    );
    assert_eq!(
        all_lines(&f),
        [format!(
            "{}:2: api: cannot read token file /dev/urandom: is a character device, not a regular file",
            f.display()
        )]
    );
}

#[test]
fn shed_lease_minutes_comes_from_a_station_set_and_must_be_a_whole_number() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    let fleet = |lease: &str| {
        format!(
            r#"{{
  "accounts": [{{"name": "org1", "username": "account1", "password": "p"}}],
  "station_sets": [
    {{"account": "org1", "registry_config": "cp.csv", "stations": ["1:1"], "device_path": "a/{{station_number}}"{lease}}}
  ]
}}"#
        )
    };
    write(root, "fleet.json", &fleet(r#", "shed_lease_minutes": 0"#));
    let loaded = FleetConfig::load(&root.join("fleet.json")).expect("valid");
    assert_eq!(loaded.devices()[0].shed_lease_minutes, Some(0));
    write(root, "fleet.json", &fleet(""));
    let loaded = FleetConfig::load(&root.join("fleet.json")).expect("valid");
    assert_eq!(loaded.devices()[0].shed_lease_minutes, None);
    write(root, "fleet.json", &fleet(r#", "shed_lease_minutes": -5"#));
    let f = root.join("fleet.json");
    assert_eq!(
        problems(&f),
        [format!(
            "{}:4: bad 'station_sets[0].shed_lease_minutes' (expected an integer from 0 to 1440, found -5)",
            f.display()
        )]
    );
}

/// Issue 14: a walk of `devices/` that symbolic links lead back up must end, and read each
/// device config once.
#[test]
fn symbolic_links_that_lead_back_up_the_store_are_walked_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    write(
        root,
        "devices/campus/bldg/cp1",
        &config("alice", "pw", "1:1"),
    );
    for name in ["up", "up2", "up3"] {
        std::os::unix::fs::symlink("../..", root.join("devices/campus/bldg").join(name))
            .expect("symlink");
    }
    let fleet = FleetConfig::load(root).expect("valid");
    let paths: Vec<String> = fleet.devices().iter().map(|d| d.path.to_string()).collect();
    assert_eq!(paths, ["campus/bldg/cp1"]);
}

fn all_lines(path: &Path) -> Vec<String> {
    FleetConfig::load(path)
        .expect_err("invalid")
        .lines()
        .collect()
}

/// Issue 14: a fleet path that is a FIFO blocked `check` and `run` forever; a directory or a
/// device given as a registry was "not found".
#[test]
fn fifos_devices_and_directories_are_refused_for_what_they_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let fifo = root.join("fleet.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo runs");
    assert_eq!(
        all_lines(&fifo),
        [format!(
            "{}: cannot read: is a named pipe (FIFO), not a regular file",
            fifo.display()
        )]
    );
    std::fs::create_dir(root.join("sub")).expect("mkdir");
    let fleet = root.join("f.json");
    write(
        root,
        "f.json",
        "{\"accounts\": [{\"name\": \"a\", \"username\": \"u\", \"password\": \"p\"}],\n\
         \"station_sets\": [\n\
         {\"account\": \"a\", \"registry_config\": \"sub\", \"stations\": [\"1:1\"], \"device_path\": \"x/{station_number}\"},\n\
         {\"account\": \"a\", \"registry_config\": \"/dev/zero\", \"stations\": [\"1:2\"], \"device_path\": \"y/{station_number}\"}\n]}",
    );
    let f = fleet.display();
    assert_eq!(
        all_lines(&fleet),
        [
            format!(
                "{f}:3: registry_config 'sub': cannot read {}: is a directory, not a file",
                root.join("sub").display()
            ),
            format!(
                "{f}:4: registry_config '/dev/zero': cannot read /dev/zero: is a character device, not a regular file"
            ),
        ]
    );
}

/// Issue 14: a `config://` name must not reach out of the store through a symbolic link, and
/// a file that is not a registry is never quoted in an error.
#[test]
fn a_symlink_out_of_the_store_is_refused_and_foreign_files_are_not_echoed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outside = dir.path().join("outside");
    write(&outside, "secret.csv", "root:x:0:0:root:/root:/bin/bash\n");
    let root = dir.path().join("store");
    write(&root, "devices/a/b/cp1", &config("alice", "pw", "1:1"));
    std::os::unix::fs::symlink(outside.join("secret.csv"), root.join("cp.csv")).expect("symlink");
    let lines = all_lines(&root);
    assert_eq!(
        lines,
        [format!(
            "{}:2: registry_config 'config://cp.csv' must name a file inside the config store {} (a symbolic link leads out of it), like config://chargepoint.csv",
            root.join("devices/a/b/cp1").display(),
            root.display()
        )]
    );
    // A plain path may lead anywhere its author chose, but what is there is not shown.
    std::fs::remove_file(root.join("cp.csv")).expect("rm");
    write(
        &root,
        "devices/a/b/cp1",
        &config("alice", "pw", "1:1").replace("config://cp.csv", "../../../../outside/secret.csv"),
    );
    let lines = all_lines(&root);
    assert_eq!(
        lines,
        [format!(
            "{}:1: not a registry CSV: its first line names none of the registry's columns (expected a header like Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes)",
            root.join("devices/a/b/../../../../outside/secret.csv").display()
        )]
    );
    assert!(!lines[0].contains("root:x"), "{}", lines[0]);
}

/// Loads `fleet` as `fleet.json` next to the test registry `cp.csv`; problems (or, when it
/// loads, warnings) with the temporary directory cut from their paths.
fn fleet_outcome(fleet: &str) -> Result<Vec<String>, Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "cp.csv", CSV);
    write(dir.path(), "empty.txt", "\n");
    write(dir.path(), "fleet.json", fleet);
    let prefix = format!("{}/", dir.path().display());
    let cut = |lines: Vec<String>| -> Vec<String> {
        lines.into_iter().map(|l| l.replace(&prefix, "")).collect()
    };
    match FleetConfig::load_with_warnings(&dir.path().join("fleet.json")) {
        Ok((_, warnings)) => Ok(cut(warnings.iter().map(ToString::to_string).collect())),
        Err(problems) => Err(cut(problems.lines().collect())),
    }
}

const ACCOUNT: &str = r#"{"name": "a", "username": "u", "password": "p"}"#;

fn one_set(set_fields: &str) -> String {
    format!(
        "{{\"accounts\": [{ACCOUNT}],\n\"station_sets\": [\n{{\"account\": \"a\", \"registry_config\": \"cp.csv\", \"device_path\": \"x/{{station_number}}\", {set_fields}}}\n]}}\n"
    )
}

/// Issue 14: station IDs `abc`, `1:`, `:5` were accepted.
#[test]
fn station_ids_must_be_org_colon_station() {
    let fleet = one_set("\"stations\": [\n\"abc\",\n\"1:\",\n\":5\",\n\"1:5\"]");
    assert_eq!(
        fleet_outcome(&fleet).unwrap_err(),
        [
            "fleet.json:4: 'abc' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003)",
            "fleet.json:5: '1:' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003)",
            "fleet.json:6: ':5' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003)",
        ]
    );
    let range = one_set("\"stations\": {\"prefix\": \"x\", \"first\": 1, \"count\": 2}");
    assert_eq!(
        fleet_outcome(&range).unwrap_err(),
        ["fleet.json:3: 'x1' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003)"]
    );
}

/// Issue 14: a top-level `[1,2,3]` was "OK, 0 stations"; so were an empty station list and a
/// fleet file without station sets.
#[test]
fn a_fleet_that_supervises_nothing_is_an_error() {
    assert_eq!(
        fleet_outcome("[1,2,3]\n").unwrap_err(),
        ["fleet.json:1: the file must hold one JSON object ({\"key\": value, …}), found a list"]
    );
    assert_eq!(
        fleet_outcome(&one_set("\"stations\": []")).unwrap_err(),
        ["fleet.json:3: bad 'station_sets[0].stations' (expected at least one station ID, or \"all\" (a set without stations is a mistake), found a list)"]
    );
    assert_eq!(
        fleet_outcome(&format!("{{\"accounts\": [{ACCOUNT}]}}")).unwrap_err(),
        ["fleet.json: no stations: no station set or device config names one"]
    );
}

/// Issue 14: misspelt keys (`intervall`, `station_set`) were ignored.
#[test]
fn unknown_keys_are_errors_with_the_key_they_likely_meant() {
    let fleet = format!(
        "{{\"accounts\": [{ACCOUNT}],\n\"station_set\": [],\n\"station_sets\": [\n{{\"account\": \"a\", \"registry_config\": \"cp.csv\", \"stations\": [\"1:1\"],\n\"device_path\": \"x/y\", \"intervall\": 30, \"colour\": \"red\"}}\n]}}\n"
    );
    assert_eq!(
        fleet_outcome(&fleet).unwrap_err(),
        [
            "fleet.json:2: unknown key 'station_set' (did you mean 'station_sets'?)",
            "fleet.json:5: unknown key 'colour' in station_sets[0]",
            "fleet.json:5: unknown key 'intervall' in station_sets[0] (did you mean 'interval'?)",
        ]
    );
}

/// Issue 14: the same stations in two sets made 6 devices of 3 stations.
#[test]
fn a_station_in_two_sets_is_an_error_naming_both_places() {
    let fleet = format!(
        "{{\"accounts\": [{ACCOUNT}],\n\"station_sets\": [\n\
         {{\"account\": \"a\", \"registry_config\": \"cp.csv\", \"device_path\": \"x/{{station_number}}\", \"stations\": [\"1:1\", \"1:2\"]}},\n\
         {{\"account\": \"a\", \"registry_config\": \"cp.csv\", \"device_path\": \"y/{{station_number}}\",\n\"stations\": [\"1:3\",\n\"1:2\"]}}\n]}}\n"
    );
    assert_eq!(
        fleet_outcome(&fleet).unwrap_err(),
        ["fleet.json:6: station 1:2 is already a device (fleet.json:3): two devices would read and shed one station"]
    );
}

/// Issue 14: an unknown timezone was accepted.
#[test]
fn an_unknown_timezone_is_an_error_with_the_closest_name() {
    assert_eq!(
        fleet_outcome(&one_set("\"stations\": [\"1:1\"], \"timezone\": \"Europe/Berln\"")).unwrap_err(),
        ["fleet.json:3: unknown timezone 'Europe/Berln' (expected an IANA name such as UTC or America/Los_Angeles) (did you mean 'Europe/Berlin'?)"]
    );
    assert_eq!(
        fleet_outcome(&one_set("\"stations\": [\"1:1\"], \"timezone\": \"Mars/Olympus_Mons\"")).unwrap_err(),
        ["fleet.json:3: unknown timezone 'Mars/Olympus_Mons' (expected an IANA name such as UTC or America/Los_Angeles)"]
    );
    assert_eq!(
        fleet_outcome(&one_set(
            "\"stations\": [\"1:1\"], \"timezone\": \"US/Pacific\""
        )),
        Ok(vec![])
    );
}

/// Issue 14: a heartbeat point named like a data point hid that point.
#[test]
fn a_heartbeat_named_like_a_data_point_is_an_error() {
    assert_eq!(
        fleet_outcome(&one_set("\"stations\": [\"1:1\"], \"heart_beat_point\": \"portLoad\"")).unwrap_err(),
        ["fleet.json:3: heart_beat_point 'portLoad' is also a point of the registry (cp.csv:2): its 0/1 would hide that point's value; give the heartbeat a name of its own"]
    );
}

/// Issue 14: an empty password file or token was accepted.
#[test]
fn empty_passwords_and_tokens_are_errors() {
    let fleet = |account: &str, api: &str| {
        format!(
            "{{\"accounts\": [\n{account}],\n\"api\": {api},\n\"station_sets\": [{{\"account\": \"a\", \"registry_config\": \"cp.csv\", \"device_path\": \"x/{{station_number}}\", \"stations\": [\"1:1\"]}}]}}\n"
        )
    };
    assert_eq!(
        fleet_outcome(&fleet(
            r#"{"name": "a", "username": "u", "password_file": "empty.txt"}"#,
            r#"{"token": ""}"#
        ))
        .unwrap_err(),
        [
            "fleet.json:2: account a: password_file empty.txt is empty",
            "fleet.json:3: api: token is empty",
        ]
    );
    std::env::set_var("CP_FLEET_TEST_EMPTY_TOKEN", "");
    assert_eq!(
        fleet_outcome(&fleet(
            r#"{"name": "a", "username": "u", "password": ""}"#,
            r#"{"token_env": "CP_FLEET_TEST_EMPTY_TOKEN"}"#
        ))
        .unwrap_err(),
        [
            "fleet.json:2: account a: password is empty",
            "fleet.json:3: api: token_env CP_FLEET_TEST_EMPTY_TOKEN is empty",
        ]
    );
}

/// Device configs are VOLTTRON's files: what VOLTTRON loads is a warning there, and a station
/// in two device configs too; a fleet file listing a device config's station is an error.
#[test]
fn in_device_configs_the_same_mistakes_are_warnings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "cp.csv", CSV);
    let odd = config("alice", "", "abc").replace(
        "\"interval\": 30",
        "\"intervall\": 30,\n\"timezone\": \"Mars/Base\",\n\"heart_beat_point\": \"portLoad\"",
    );
    write(root, "devices/a/b/cp1", &odd);
    write(root, "devices/a/b/cp2", &config("alice", "", "abc"));
    let (fleet, warnings) = FleetConfig::load_with_warnings(root).expect("loads, as in VOLTTRON");
    assert_eq!(fleet.devices().len(), 2);
    let cp1 = root.join("devices/a/b/cp1");
    let cp2 = root.join("devices/a/b/cp2");
    let (cp1, cp2) = (cp1.display(), cp2.display());
    let lines: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    let tail = " (a warning: VOLTTRON loads this file as it is)";
    assert_eq!(
        lines,
        [
            format!("{cp1}:1: account alice: password is empty{tail}"),
            format!("{cp1}:1: 'abc' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003){tail}"),
            format!("{cp1}:2: unknown key 'intervall' (did you mean 'interval'?){tail}"),
            format!("{cp1}:3: unknown timezone 'Mars/Base' (expected an IANA name such as UTC or America/Los_Angeles){tail}"),
            format!("{cp1}:4: heart_beat_point 'portLoad' is also a point of the registry ({}:2): its 0/1 would hide that point's value; give the heartbeat a name of its own{tail}", root.join("cp.csv").display()),
            format!("{cp2}:1: account alice: password is empty{tail}"),
            format!("{cp2}:1: 'abc' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003){tail}"),
            format!("{cp2}:1: station abc is already a device ({cp1}:1): two devices would read and shed one station{tail}"),
        ]
    );
}

/// Issue 14: every count has a bound, stated in the error.
#[test]
fn counts_beyond_their_bounds_are_refused_naming_the_bound() {
    let range = |first: u64, count: u64, path: &str| {
        format!(
            "{{\"account\": \"a\", \"registry_config\": \"cp.csv\", \"device_path\": \"{path}/{{station_number}}\", \"stations\": {{\"prefix\": \"1:\", \"first\": {first}, \"count\": {count}}}}}"
        )
    };
    let fleet = format!(
        "{{\"accounts\": [{ACCOUNT}],\n\"station_sets\": [\n{},\n{}\n]}}\n",
        range(1, 60_000, "x"),
        range(100_000, 60_000, "y")
    );
    assert_eq!(
        fleet_outcome(&fleet).unwrap_err(),
        ["fleet.json:4: bad 'station_sets[1].stations' (expected no more stations than the fleet's limit of 100000 allows (40000 left for this set), found an object)"]
    );
    let accounts: Vec<String> = (0..1001)
        .map(|i| format!("{{\"name\": \"a{i}\", \"username\": \"u{i}\", \"password\": \"p\"}}"))
        .collect();
    assert_eq!(
        fleet_outcome(&format!("{{\"accounts\": [\n{}]}}", accounts.join(",\n"))).unwrap_err(),
        ["fleet.json:1: bad 'accounts' (expected at most 1000 accounts, found 1001)"]
    );
    let fleet = r#"{"accounts": [
{"name": "a", "username": "u", "password": "p", "rate_limit_per_minute": 60001}],
"station_sets": [
{"account": "a", "registry_config": "cp.csv", "device_path": "x/{station_number}", "stations": ["1:1"], "shed_lease_minutes": 1441, "interval": 1e9}]}
"#;
    assert_eq!(
        fleet_outcome(fleet).unwrap_err(),
        [
            "fleet.json:2: bad 'accounts[0].rate_limit_per_minute' (expected an integer from 1 to 60000, found 60001)",
            "fleet.json:4: bad 'station_sets[0].interval' (expected a number of seconds from 0.001 to 31622400 (366 days), found 1000000000.0)",
            "fleet.json:4: bad 'station_sets[0].shed_lease_minutes' (expected an integer from 0 to 1440, found 1441)",
        ]
    );
}
