#!/bin/sh
# Debian packages the test suite needs (headless Chromium for console tests).
# Idempotent: installs only what is missing. Needs root (CI runs as root).
set -eu
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != "0" ]; then
    echo "install as root: apt-get install$missing" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
