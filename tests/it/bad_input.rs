//! Bad input through the built binary (issue 14): configuration that used to be accepted
//! wrong, never finish, or answer with an unclear message. Every command here must end
//! within [`DEADLINE`]; each case's exact wording is tested in `cp-registry`'s own tests and
//! the binary's unit tests, so these check the path from the command line to the exit code.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any refusal may take. Each is immediate; the margin is for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(20);

const BIN: &str = env!("CARGO_BIN_EXE_chargepoint-supervisor");

/// The example registry every fleet here uses.
const REGISTRY: &str = include_str!("../../registry/configs/chargepoint.csv");

/// Runs the binary with `args` in `dir`; fails the test if it has not exited by [`DEADLINE`]
/// (and kills it).
fn finishes(dir: &Path, args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CP_SUPERVISOR_TOKEN")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => {
            let _ = waiter.join();
            output.expect("the binary's output can be read")
        }
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("`{}` did not finish within {DEADLINE:?}", args.join(" "));
        }
    }
}

/// `check FILE` in `dir` fails, printing exactly `expected`.
fn check_fails_with(dir: &Path, file: &str, expected: &str) {
    let out = finishes(dir, &["check", file]);
    assert!(!out.status.success(), "check {file} passed");
    assert_eq!(text(&out.stdout), expected);
}
/// `run fleet.json` in `dir` with `extra` arguments, on ports the system picks; see [`finishes`].
fn run_fleet(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "fleet.json",
        "--api-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    finishes(dir, &args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo runs");
}

/// A fleet directory: the example registry and `fleet.json` holding `fleet`.
fn fleet_dir(fleet: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("cp.csv"), REGISTRY).expect("write registry");
    std::fs::write(dir.path().join("fleet.json"), fleet).expect("write fleet");
    dir
}

/// One account whose password comes from `pw.txt`, one station.
const FLEET_WITH_PASSWORD_FILE: &str = r#"{
  "accounts": [{"name": "org1", "username": "u1", "password_file": "pw.txt"}],
  "station_sets": [{"account": "org1", "registry_config": "cp.csv", "stations": ["1:1"],
                    "device_path": "o/g/{station_number}"}]
}
"#;

#[test]
fn check_and_run_refuse_a_fifo_as_fleet_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    mkfifo(&dir.path().join("fleet.json"));
    check_fails_with(
        dir.path(),
        "fleet.json",
        "fleet.json: cannot read: is a named pipe (FIFO), not a regular file\n",
    );
    let out = run_fleet(dir.path(), &[]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "error: fleet fleet.json:\nfleet.json: cannot read: is a named pipe (FIFO), not a regular file\n"
    );
}

#[test]
fn a_password_file_on_dev_urandom_is_refused_at_once() {
    let dir = fleet_dir(FLEET_WITH_PASSWORD_FILE);
    std::os::unix::fs::symlink("/dev/urandom", dir.path().join("pw.txt")).expect("symlink");
    check_fails_with(dir.path(), "fleet.json", "fleet.json:2: account org1: cannot read password file pw.txt: is a character device, not a regular file\n");
}

/// The password file read at a SIGHUP reload is held to the same rule: the reload is refused
/// and the running fleet goes on.
#[test]
fn a_reload_whose_password_file_became_dev_urandom_is_refused_and_run_goes_on() {
    let dir = fleet_dir(FLEET_WITH_PASSWORD_FILE);
    std::fs::write(dir.path().join("pw.txt"), "secret\n").expect("write password");
    let mut child = Command::new(BIN)
        .args([
            "run",
            "fleet.json",
            // Nothing listens there: the fleet's calls fail fast, which is all this needs.
            "--endpoint",
            "http://127.0.0.1:9/cp",
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--no-summary",
            "--log-format",
            "json",
        ])
        .current_dir(dir.path())
        .env_remove("CP_SUPERVISOR_TOKEN")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let out_tx = lines_tx.clone();
    let readers = [
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        }),
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        }),
    ];
    let wait_for = |what: &str| -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => {}
                Err(_) => panic!("no line with {what:?} within {DEADLINE:?}"),
            }
        }
    };
    wait_for("listening api=");
    std::fs::remove_file(dir.path().join("pw.txt")).expect("rm");
    std::os::unix::fs::symlink("/dev/urandom", dir.path().join("pw.txt")).expect("symlink");
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    assert!(hup.is_ok_and(|s| s.success()));
    let refused = wait_for("fleet reload refused");
    assert!(
        refused.contains(
            "cannot read password file pw.txt: is a character device, not a regular file"
        ),
        "{refused}"
    );
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "run goes on after a refused reload"
    );
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(term.is_ok_and(|s| s.success()));
    let status = child.wait().expect("run exits");
    assert!(status.success(), "{status}");
    for reader in readers {
        let _ = reader.join();
    }
}

#[test]
fn sim_refuses_endless_history_and_a_non_loopback_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = finishes(dir.path(), &["sim", "--history-hours", "100000000"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).starts_with(
            "error: invalid value '100000000' for '--history-hours <HISTORY_HOURS>': 100000000 is not in 0..=168"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = finishes(dir.path(), &["sim", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).starts_with(
            "error: invalid value '0.0.0.0:0' for '--listen <LISTEN>': 0.0.0.0 is not a loopback address"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_refuses_an_account_endpoint_for_no_account_of_the_fleet() {
    let dir = fleet_dir(
        &FLEET_WITH_PASSWORD_FILE.replace(r#""password_file": "pw.txt""#, r#""password": "pw""#),
    );
    let out = run_fleet(
        dir.path(),
        &["--account-endpoint", "nobody=http://127.0.0.1:9/cp"],
    );
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "error: --account-endpoint nobody=…: the fleet has no account nobody (its accounts, by name or username: org1)\n"
    );
}

/// `config://../../etc/passwd` was followed and its first line echoed; a binary CSV was
/// echoed whole.
#[test]
fn check_never_echoes_a_file_that_is_not_ours() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store/devices/campus/bldg");
    std::fs::create_dir_all(&store).expect("mkdir");
    std::fs::write(
        store.join("cp1"),
        r#"{"driver_config": {"username": "u", "password": "p", "stationID": "1:1"},
"driver_type": "chargepoint", "registry_config": "config://../../etc/passwd"}"#,
    )
    .expect("write config");
    check_fails_with(dir.path(), "store", "store/devices/campus/bldg/cp1:2: registry_config 'config://../../etc/passwd' must name a file inside the config store store ('..' would climb out of it), like config://chargepoint.csv\n");

    let mut binary = b"Volttron Point Name,Attribute Name\n".to_vec();
    binary.extend(std::iter::repeat_n(0u8, 400_000));
    std::fs::write(dir.path().join("garbage.csv"), binary).expect("write");
    check_fails_with(
        dir.path(),
        "garbage.csv",
        "garbage.csv:2: is not a text file (it holds zero bytes): is it the right file?\n",
    );
}

/// What `check` said "OK" to: now an error naming file, line and key, and a non-zero exit.
#[test]
fn check_fails_a_fleet_with_a_misspelt_key_an_odd_station_and_a_wrong_timezone() {
    let dir = fleet_dir(
        r#"{
  "accounts": [{"name": "org1", "username": "u1", "password": "pw"}],
  "station_sets": [{"account": "org1", "registry_config": "cp.csv",
                    "stations": ["1:1", "abc"], "intervall": 30, "timezone": "UTC+2",
                    "device_path": "o/g/{station_number}"}]
}
"#,
    );
    let out = finishes(dir.path(), &["check", "fleet.json"]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stdout),
        "fleet.json:4: unknown key 'intervall' in station_sets[0] (did you mean 'interval'?)\n\
         fleet.json:4: 'abc' is not a ChargePoint station ID (expected digits, a colon, digits, like 1:34003)\n\
         fleet.json:4: unknown timezone 'UTC+2' (expected an IANA name such as UTC or America/Los_Angeles) (did you mean 'UTC'?)\n"
    );
    assert_eq!(text(&out.stderr), "error: 3 problems found\n");
}

/// A symbolic link loop said "entity not found"; a device "invalid JSON: EOF".
#[test]
fn check_names_a_symlink_loop_and_a_device_for_what_they_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink("b", dir.path().join("a")).expect("symlink");
    std::os::unix::fs::symlink("a", dir.path().join("b")).expect("symlink");
    let out = finishes(dir.path(), &["check", "a"]);
    assert_eq!(
        text(&out.stdout),
        "a: cannot read: a symbolic link loop (a link on the path leads back to itself)\n"
    );
    let out = finishes(dir.path(), &["check", "/dev/null"]);
    assert_eq!(
        text(&out.stdout),
        "/dev/null: cannot read: is a character device, not a regular file\n"
    );
}
