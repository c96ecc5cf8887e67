//! Helpers shared by the suites, and the external tools some tests need.
//!
//! Tests that need a tool outside Rust (`xmllint` for the schema checks, `prometheus` and
//! `promtool` for the dashboard tests) start with [`tools_present`]. A missing tool fails the
//! test with a message naming it and the command that installs it (`./scripts/test.sh` installs
//! them all). Only where a machine cannot have them, set [`SKIP_MISSING_TOOLS`]
//! (`CP_TESTS_SKIP_MISSING_TOOLS=1`): those tests then print `SKIPPED` and pass.

/// Realistic requests and responses for every operation, and the credentials they carry.
/// The device API router over a supervised fleet, and requests to it.
pub mod api;
pub mod samples;
/// ChargePoint's XSD and the `xmllint` check against it.
pub mod schema;
/// A scripted HTTP server on loopback that records requests and answers from a closure.
pub mod scripted_server;
/// A simulator on loopback, clients for its accounts, and its admin endpoint.
pub mod sim;
/// A simulator with a real fleet supervising it.
pub mod supervisor;

use std::process::{Command, Stdio};

/// The opt-out: set to `1` to let a test whose tool is missing pass with a `SKIPPED` line
/// instead of failing. Meant for machines that cannot install the tools, never for CI.
pub const SKIP_MISSING_TOOLS: &str = "CP_TESTS_SKIP_MISSING_TOOLS";

/// An external program a test runs, and how to install it on Debian.
pub struct Tool {
    pub name: &'static str,
    pub install: &'static str,
}

impl Tool {
    /// What a test says when the tool is not on PATH.
    pub fn missing(&self) -> String {
        format!(
            "{} not found: install it with {} (./scripts/test.sh does), or set {SKIP_MISSING_TOOLS}=1 to skip the tests that need it",
            self.name, self.install
        )
    }

    fn runs(&self) -> bool {
        Command::new(self.name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// libxml2's validator, for the schema checks.
pub const XMLLINT: Tool = Tool {
    name: "xmllint",
    install: "apt-get install libxml2-utils",
};
/// The Prometheus server the dashboard tests scrape the supervisor with.
pub const PROMETHEUS: Tool = Tool {
    name: "prometheus",
    install: "apt-get install prometheus (scripts/prometheus-test-env.sh)",
};
/// Prometheus's checker for rules, configs and exposition text.
pub const PROMTOOL: Tool = Tool {
    name: "promtool",
    install: "apt-get install prometheus (scripts/prometheus-test-env.sh)",
};

/// True when every tool in `tools` runs. When one does not, the test fails naming it and its
/// install command, unless [`SKIP_MISSING_TOOLS`] is `1`: then this prints a `SKIPPED` line and
/// returns false, and the test returns at once.
pub fn tools_present(tools: &[Tool]) -> bool {
    let Some(tool) = tools.iter().find(|tool| !tool.runs()) else {
        return true;
    };
    if std::env::var(SKIP_MISSING_TOOLS).is_ok_and(|v| v == "1") {
        // libtest names each test's thread after the test.
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("this test");
        eprintln!(
            "SKIPPED {test}: {} not found ({SKIP_MISSING_TOOLS}=1)",
            tool.name
        );
        return false;
    }
    panic!("{}", tool.missing());
}
