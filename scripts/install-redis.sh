#!/usr/bin/env bash
# Debian's redis-server for the tests of the Celery backend (they start their own server on
# a loopback port and stop it). Installs it only when missing; needs root for apt-get.
set -euo pipefail
if command -v redis-server >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-redis: redis-server is missing; run as root or: sudo apt-get install redis-server" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# the package starts a system server on port 6379; the tests start their own
systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true
redis-server --version
