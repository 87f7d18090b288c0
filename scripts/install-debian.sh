#!/usr/bin/env bash
# The Debian packages the tests and tools need, installed only when missing (needs root for
# apt-get; one apt-get for all that is missing):
#   browser     chromium + chromium-driver: browser tests (dash_duo) and screenshots; no
#               downloaded browsers
#   redis       redis-server: the Celery backend's tests start their own on a loopback port
#   containers  podman, runc, mmdebstrap: scripts/build-image.sh builds the image on a base
#               made from Debian packages (no registry); as root podman needs none of its
#               recommends (uidmap, slirp4netns, fuse-overlayfs are for rootless use)
#
#   bash scripts/install-debian.sh browser redis containers
set -euo pipefail
declare -A commands=([browser]="chromium chromedriver" [redis]="redis-server" [containers]="podman runc mmdebstrap")
declare -A packages=([browser]="chromium chromium-driver" [redis]="redis-server" [containers]="podman runc mmdebstrap")
missing=()
for group in "$@"; do
    if [ -z "${commands[$group]:-}" ]; then
        echo "install-debian: unknown group '$group' (browser, redis, containers)" >&2
        exit 2
    fi
    for command in ${commands[$group]}; do
        if ! command -v "$command" >/dev/null; then
            missing+=(${packages[$group]})
            break
        fi
    done
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-debian: missing ${missing[*]}; run as root or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    # the package starts a system server on port 6379; the tests start their own
    systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true
fi
echo "install-debian: installed ${missing[*]}"
