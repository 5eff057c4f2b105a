#!/bin/sh
# Debian packages the test suite needs: headless Chromium (console tests), PostgreSQL (the suite starts a
# throw-away cluster of its own with initdb / pg_ctl) and Redis (shared worker state).
# Idempotent: installs only what is missing. Needs root (CI runs as root).
set -eu
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v pg_dump >/dev/null 2>&1 || missing="$missing postgresql-client"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != "0" ]; then
    echo "install as root: apt-get install$missing" >&2
    exit 1
fi
apt-get update -qq
# The packages' own services are not needed (the tests start their own servers on free ports).
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
