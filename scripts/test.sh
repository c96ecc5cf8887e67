#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need on a fresh Debian
# machine, then runs every test. Safe to run again: installs are skipped when present.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The dashboard tests need a real Prometheus; where it cannot be installed they say SKIPPED.
./scripts/prometheus-test-env.sh || echo "warning: could not install prometheus; tests/prometheus_dashboards.rs will skip" >&2
cargo test --workspace --all-targets
