#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test (tests/e2e/test_dashboard.py).
# Never a downloaded browser: no `playwright install`. Does nothing when chromium is present.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
command -v chromium
