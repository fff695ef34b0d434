#!/usr/bin/env bash
# Puts Debian's promtool (from the `prometheus` package, unpacked, never installed as a service)
# at .tools/bin/promtool, for the tests that check /metrics and ops/prometheus-alerts.yml.
# Does nothing when promtool is already on PATH or unpacked.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v promtool >/dev/null 2>&1 || [ -x .tools/bin/promtool ]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    $SUDO apt-get update -q >/dev/null
    (cd "$work" && apt-get download prometheus)
fi
rm -rf .tools/prometheus
mkdir -p .tools/prometheus .tools/bin
dpkg -x "$work"/prometheus_*.deb .tools/prometheus
ln -sf ../prometheus/usr/bin/promtool .tools/bin/promtool
.tools/bin/promtool --version | head -1
