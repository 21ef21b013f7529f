#!/usr/bin/env bash
# Installs Debian's PgBouncer for the deploy tests (transaction pooling in front of the
# embedded Postgres, as Supabase's pooler runs), unless it is already there.
set -euo pipefail

if [ -x /usr/sbin/pgbouncer ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y pgbouncer
