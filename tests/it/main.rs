//! The integration tests, one binary: `cargo test --test it` runs them all, and
//! `cargo test --test it <module>::` runs one suite. Shared helpers live in `util`; fixture
//! files in `tests/fixtures/`. Some tests need external tools: see `util` for which, how a
//! missing one fails, and the opt-out.

// The codec against ChargePoint's schema (xmllint) and spec samples; faults, codes, hostile XML.
mod codec;
// Codec round trips over generated content (proptest).
mod codec_properties;
// The SOAP client over HTTP against a scripted server: paging, errors, deadlines, secrecy.
mod client;
// The real SOAP client against the simulator: every method, plans, schema validity, admin.
mod simulator;
// Faults the simulator injects, each reaching the client as the matching typed error.
mod chaos;
// Faults at fleet level: what a failing method withholds, how soon health shows it, recovery.
mod fleet_chaos;
// The device HTTP API (`router(state).oneshot`) over a real fleet supervising the simulator.
mod device_api;
// What the driver spec promises, through the device API.
mod driver_fidelity;
// The device API's defences (token, loopback, Host/Origin, JSON, connection limits).
mod api_security;
// Every write answered within the bound and truthfully, under the simulator's faults.
mod write_answers;
// Station-level Load points (no Port #) through the device API: shed, clear, lease, revert, mix.
mod station_load;
// End to end: client, gateway and actors against the simulator, and the built binary's CLI.
mod end_to_end;
// Bad input through the built binary: refused at once, in words a user can act on (issue 14).
mod bad_input;
// The Grafana dashboards and alert rules against a real Prometheus (prometheus, promtool).
mod dashboards;
// Helpers: samples, the schema check, the scripted server, the simulator and fleet fixtures.
mod util;
