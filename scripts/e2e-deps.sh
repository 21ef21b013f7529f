#!/usr/bin/env bash
# Installs Debian's Chromium (and a font) for the browser tests, unless it is already there.
# The Playwright browser download does not work in CI, so the e2e tests drive /usr/bin/chromium.
set -euo pipefail

if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi dejavu; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium fonts-dejavu-core
