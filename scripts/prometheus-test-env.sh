#!/usr/bin/env bash
# Installs Debian's `prometheus` package (the `prometheus` server and `promtool`) when either is
# missing, so tests/it/dashboards.rs and the metrics unit tests run against the real thing.
# Non-interactive and idempotent: does nothing when both binaries are already on PATH.
# The package also installs a systemd unit; on a machine without systemd nothing starts it, and
# where systemd runs we stop and disable it: the tests start their own server on a free port.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
# policy-rc.d exit 101 keeps the package's post-install from starting a service we do not use.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
status=0
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus || status=$?
if [ "$created_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi
if [ "$status" -ne 0 ]; then exit "$status"; fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

command -v prometheus >/dev/null && command -v promtool >/dev/null
