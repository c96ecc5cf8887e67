#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need on a fresh Debian
# machine, then runs every test. Safe to run again: installs are skipped when present.
# The tools are required: a test whose tool is missing fails (see tests/it/util/mod.rs), so this
# stops here when it cannot install them rather than run tests that cannot pass.
set -euo pipefail
cd "$(dirname "$0")/.."

# xmllint, for the schema checks (tests/it/codec.rs, tests/it/simulator.rs).
if ! command -v xmllint >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libxml2-utils \
    || { echo "error: could not install libxml2-utils (xmllint), which the schema tests need" >&2; exit 1; }
fi
command -v xmllint >/dev/null 2>&1 \
  || { echo "error: xmllint is still not on PATH after installing libxml2-utils" >&2; exit 1; }

# prometheus and promtool, for the dashboard tests (tests/it/dashboards.rs).
./scripts/prometheus-test-env.sh \
  || { echo "error: could not install prometheus (prometheus, promtool), which the dashboard tests need" >&2; exit 1; }

cargo test --workspace --all-targets
