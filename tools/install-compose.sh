#!/usr/bin/env bash
# A Compose implementation for `compose config` (validating compose.yaml offline; no daemon, no
# image is pulled or built): Docker's `docker compose` plugin when present, else Debian's
# `docker-compose` package. Does nothing when either is already there.
set -euo pipefail
if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get install -y -q docker-compose >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q docker-compose >/dev/null
}
docker-compose version | head -1
