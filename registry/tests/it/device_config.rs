use std::path::{Path, PathBuf};
use std::time::Duration;

use cp_registry::{DeviceConfig, DevicePath, StationId};

/// The spec's sample driver configuration, verbatim (its trailing comma included).
const SPEC_SAMPLE: &str =
    include_str!("../../configs/volttron/devices/campus/building/chargepoint1");

fn parse(text: &str, path: &str) -> Result<DeviceConfig, Vec<String>> {
    DeviceConfig::parse_reader(text.as_bytes(), Path::new(path))
        .map_err(|p| p.iter().map(ToString::to_string).collect())
}

#[test]
fn spec_sample_config_parses_with_its_config_store_name() {
    let c = parse(SPEC_SAMPLE, "store/devices/campus/building/chargepoint1").expect("valid");
    assert_eq!(
        c.driver.username,
        "1b905c936af141b98f9b0f816087f3605a30c1df1d07f146281b151"
    );
    assert_eq!(
        c.driver.password.expose(),
        "**Put your chargepoint API passqword here**"
    );
    assert_eq!(c.driver.station_id, StationId::new("1:34003"));
    assert_eq!(c.driver.cache_expiration, None);
    assert_eq!(c.registry_config, "config://chargepoint.csv");
    assert_eq!(c.registry_path, PathBuf::from("store/chargepoint.csv"));
    assert_eq!(c.interval, Duration::from_secs(60));
    assert_eq!(c.heart_beat_point.as_deref(), Some("heartbeat"));
    assert_eq!(c.path.as_str(), "campus/building/chargepoint1");
    assert_eq!(
        c.path.all_topic(),
        "devices/campus/building/chargepoint1/all"
    );
}

#[test]
fn password_never_shows_in_debug_output() {
    let c = parse(SPEC_SAMPLE, "cp1.config").expect("valid");
    let debug = format!("{c:?}");
    assert!(!debug.contains("passqword"), "{debug}");
}

#[test]
fn flat_config_is_named_after_its_file_and_resolves_relative_registries() {
    let text = SPEC_SAMPLE.replace("config://chargepoint.csv", "registries/cp.csv");
    let c = parse(&text, "fleet/cp7.config").expect("valid");
    assert_eq!(c.path.as_str(), "cp7");
    assert_eq!(c.registry_path, PathBuf::from("fleet/registries/cp.csv"));
    let c = parse(SPEC_SAMPLE, "fleet/cp7.config").expect("valid");
    assert_eq!(c.registry_path, PathBuf::from("fleet/chargepoint.csv"));
}

#[test]
fn campus_building_unit_keys_give_the_device_path() {
    let text = SPEC_SAMPLE.replace(
        "\"interval\": 60,",
        "\"interval\": 15, \"campus\": \"pnnl\", \"building\": \"garage\", \"unit\": \"cp1\", \"timezone\": \"US/Pacific\",",
    );
    let c = parse(&text, "x.config").expect("valid");
    assert_eq!(c.path, DevicePath::parse("pnnl/garage/cp1").expect("path"));
    assert_eq!(c.interval, Duration::from_secs(15));
    assert_eq!(c.timezone.as_deref(), Some("US/Pacific"));
}

#[test]
fn hash_and_slash_comments_and_cache_expiration_are_accepted() {
    let text = "# device cp1\n{\n  // credentials\n  \"driver_config\": {\"username\": \"u\", \"password\": \"p#not-a-comment\",\n    \"stationID\": \"1:1\", \"cacheExpiration\": 30,},\n  \"driver_type\": \"chargepoint\", # the only type\n  \"registry_config\": \"config://cp.csv\",\n}\n";
    let c = parse(text, "cp1.config").expect("valid");
    assert_eq!(c.driver.password.expose(), "p#not-a-comment");
    assert_eq!(c.driver.cache_expiration, Some(Duration::from_secs(30)));
    assert_eq!(c.interval, Duration::from_secs(60));
}

#[test]
fn another_driver_type_is_an_error_on_its_line() {
    let text = SPEC_SAMPLE.replace("\"chargepoint\"", "\"bacnet\"");
    assert_eq!(
        parse(&text, "cp1.config").unwrap_err(),
        ["cp1.config:7: driver_type must be \"chargepoint\" (found \"bacnet\")"]
    );
}

#[test]
fn every_missing_or_bad_key_is_reported() {
    let text = "{\n  \"driver_config\": {\n    \"username\": \"u\",\n    \"password\": \"p\"\n  },\n  \"interval\": \"soon\",\n  \"heart_beat_point\": 5\n}\n";
    assert_eq!(
        parse(text, "cp1.config").unwrap_err(),
        [
            "cp1.config:1: missing 'driver_type' (expected a non-empty string)",
            "cp1.config:1: missing 'registry_config' (expected a non-empty string)",
            "cp1.config:2: missing 'driver_config.stationID' (expected a non-empty string)",
            "cp1.config:6: bad 'interval' (expected a number of seconds from 0.001 to 31622400 (366 days), found 'soon')",
            "cp1.config:7: bad 'heart_beat_point' (expected a string, found 5)",
        ]
    );
}

#[test]
fn json_syntax_errors_name_line_and_column_of_the_original_file() {
    let text = SPEC_SAMPLE.replace("\"interval\": 60,", "\"interval\": 60");
    assert_eq!(
        parse(&text, "cp1.config").unwrap_err(),
        ["cp1.config:10:5: invalid JSON: expected `,` or `}`"]
    );
}

#[test]
fn password_from_an_unset_environment_variable_names_the_variable() {
    let text = SPEC_SAMPLE.replace(
        "\"password\"   : \"**Put your chargepoint API passqword here**\"",
        "\"password_env\": \"CP_TEST_SURELY_UNSET_VARIABLE\"",
    );
    assert_eq!(
        parse(&text, "cp1.config").unwrap_err(),
        ["cp1.config:4: account 1b905c936af141b98f9b0f816087f3605a30c1df1d07f146281b151: environment variable CP_TEST_SURELY_UNSET_VARIABLE is not set"]
    );
}

#[test]
fn password_from_a_file_is_read_relative_to_the_config_without_its_newline() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("secret.txt"), "s3cret\n").expect("write");
    let text = SPEC_SAMPLE.replace(
        "\"password\"   : \"**Put your chargepoint API passqword here**\"",
        "\"password_file\": \"secret.txt\"",
    );
    let path = dir.path().join("cp1.config");
    std::fs::write(&path, text).expect("write");
    let c = DeviceConfig::parse(&path).expect("valid");
    assert_eq!(c.driver.password.expose(), "s3cret");

    std::fs::remove_file(dir.path().join("secret.txt")).expect("rm");
    let e = DeviceConfig::parse(&path).expect_err("missing file");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:4: account 1b905c936af141b98f9b0f816087f3605a30c1df1d07f146281b151: cannot read password file {}: no such file or directory",
            path.display(),
            dir.path().join("secret.txt").display()
        )
    );
}

/// Issue 14: `/dev/urandom` as a password file grew to 12 GB; a FIFO blocked forever.
#[test]
fn password_file_that_is_a_device_a_fifo_or_too_large_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo runs");
    std::fs::write(dir.path().join("big"), vec![b'x'; 4097]).expect("write");
    let path = dir.path().join("cp1.config");
    let account = "account 1b905c936af141b98f9b0f816087f3605a30c1df1d07f146281b151";
    for (file, why) in [
        (
            "/dev/urandom".to_string(),
            "is a character device, not a regular file",
        ),
        (
            fifo.display().to_string(),
            "is a named pipe (FIFO), not a regular file",
        ),
        (
            dir.path().join("big").display().to_string(),
            "is larger than 4 KiB, the most a password or token file may be (is it the right file?)",
        ),
        (
            dir.path().display().to_string(),
            "is a directory, not a file",
        ),
    ] {
        let text = SPEC_SAMPLE.replace(
            "\"password\"   : \"**Put your chargepoint API passqword here**\"",
            &format!("\"password_file\": \"{file}\""),
        );
        std::fs::write(&path, text).expect("write");
        let e = DeviceConfig::parse(&path).expect_err("not a password file");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:4: {account}: cannot read password file {file}: {why}",
                path.display()
            )
        );
    }
}

#[test]
fn two_password_sources_are_rejected_without_showing_either() {
    let text = SPEC_SAMPLE.replace("\"stationID\"", "\"password_env\": \"X\", \"stationID\"");
    assert_eq!(
        parse(&text, "cp1.config").unwrap_err(),
        ["cp1.config:2: account 1b905c936af141b98f9b0f816087f3605a30c1df1d07f146281b151: give exactly one of password, password_env, password_file (found password, password_env)"]
    );
}

#[test]
fn device_paths_reject_empty_segments_and_wildcards() {
    assert_eq!(
        DevicePath::parse("devices/a/b/c").map(|p| p.to_string()),
        Some("a/b/c".into())
    );
    assert!(DevicePath::parse("a//c").is_none());
    assert!(DevicePath::parse("a/#/c").is_none());
    assert!(DevicePath::parse("").is_none());
}

#[test]
fn bad_campus_building_unit_is_reported_on_its_line() {
    let text = SPEC_SAMPLE.replace(
        "\"interval\": 60,",
        "\"interval\": 60,\n    \"campus\": \"north campus\", \"building\": \"b\", \"unit\": \"all\",",
    );
    assert_eq!(
        parse(&text, "cp1.config").unwrap_err(),
        [
            "cp1.config:10: bad 'device path' (expected campus/building/unit: non-empty segments \
          without spaces, '#', '+' or a segment 'all', found 'north campus/b/all')"
        ]
    );
}

#[test]
fn config_store_name_wins_over_legacy_campus_keys_below_devices() {
    let text = SPEC_SAMPLE.replace(
        "\"interval\": 60,",
        "\"interval\": 60, \"campus\": \"c\", \"building\": \"b\", \"unit\": \"u\",",
    );
    let below = parse(&text, "store/devices/pnnl/garage/cp9").expect("valid");
    assert_eq!(below.path.as_str(), "pnnl/garage/cp9");
    let flat = parse(&text, "store/cp9.config").expect("valid");
    assert_eq!(flat.path.as_str(), "c/b/u");
}

#[test]
fn shed_lease_minutes_is_a_driver_config_setting() {
    let text = "{\"driver_config\": {\"username\": \"u\", \"password\": \"p\", \"stationID\": \"1:1\", \"shed_lease_minutes\": 30},\n\"driver_type\": \"chargepoint\", \"registry_config\": \"config://cp.csv\"}\n";
    let c = parse(text, "cp1.config").expect("valid");
    assert_eq!(c.driver.shed_lease_minutes, Some(30));
    let text = text.replace("30}", "1.5}");
    assert_eq!(
        parse(&text, "cp1.config").unwrap_err(),
        ["cp1.config:1: bad 'driver_config.shed_lease_minutes' (expected an integer from 0 to 1440, found 1.5)"]
    );
}

/// Issue 14: `config://../../etc/passwd` was followed and its first line echoed.
#[test]
fn config_store_names_that_climb_out_or_are_absolute_are_refused() {
    let error = |name: &str| {
        parse(
            &SPEC_SAMPLE.replace("config://chargepoint.csv", name),
            "store/devices/campus/building/chargepoint1",
        )
        .unwrap_err()
    };
    assert_eq!(
        error("config://../../etc/passwd"),
        ["store/devices/campus/building/chargepoint1:8: registry_config 'config://../../etc/passwd' must name a file inside the config store store ('..' would climb out of it), like config://chargepoint.csv"]
    );
    assert_eq!(
        error("config:///etc/passwd"),
        ["store/devices/campus/building/chargepoint1:8: registry_config 'config:///etc/passwd' must name a file inside the config store store (an absolute path is not a name in it), like config://chargepoint.csv"]
    );
    assert_eq!(
        error("config://"),
        ["store/devices/campus/building/chargepoint1:8: registry_config 'config://' must name a file inside the config store store (it names no file), like config://chargepoint.csv"]
    );
    let inside = parse(
        &SPEC_SAMPLE.replace("config://chargepoint.csv", "config://registries/./cp.csv"),
        "store/devices/campus/building/chargepoint1",
    )
    .expect("a name in a subdirectory of the store is fine");
    assert_eq!(
        inside.registry_path,
        PathBuf::from("store/registries/./cp.csv")
    );
}

/// Issue 14: an unterminated comment said "EOF", UTF-16 "expected value".
#[test]
fn json_errors_say_what_is_wrong_in_words() {
    assert_eq!(
        parse("{\"a\": 1,\n  /* a comment\n", "c.config").unwrap_err(),
        ["c.config:2:3: invalid JSON: a /* comment is never closed (it runs to the end of the file): close it with */"]
    );
    assert_eq!(
        parse("{\"driver_config\": {\"a\": 1}\n", "c.config").unwrap_err(),
        ["c.config:2:0: invalid JSON: the file ends inside an object: a closing '}' is missing"]
    );
    assert_eq!(
        parse("{\"a\": [1, 2\n", "c.config").unwrap_err(),
        ["c.config:2:0: invalid JSON: the file ends inside a list: a closing ']' is missing"]
    );
    assert_eq!(
        parse(" \n", "c.config").unwrap_err(),
        ["c.config:1:1: invalid JSON: the file is empty (expected a JSON object)"]
    );
    assert_eq!(
        parse("driver_config = 1\n", "c.config").unwrap_err(),
        ["c.config:1:1: invalid JSON: expected a JSON value (an object, list, string, number, true, false or null)"]
    );
    let utf16: Vec<u8> = SPEC_SAMPLE
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let e = DeviceConfig::parse_reader(&utf16[..], Path::new("c.config")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "c.config: is UTF-16 text: save it as UTF-8, as VOLTTRON's files are"
    );
}
