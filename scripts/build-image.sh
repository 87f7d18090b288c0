#!/usr/bin/env bash
# Builds the container image (Dockerfile) with podman, with no container registry: the base
# is made here from Debian's packages (mmdebstrap: bookworm with python3, python3-venv,
# python3-pip and ca-certificates) and imported as localhost/wsd-base:bookworm.
#
#   bash scripts/build-image.sh [TAG]      # TAG: wsd:latest; as root (podman and mmdebstrap
#                                          # from scripts/install-debian.sh containers)
#
# The base's tarball is kept in .cache/container/ and made again when older than a week
# (Debian's security updates); podman's layer cache makes a rebuild after a code change
# short (the venv layer is reused while requirements.txt is unchanged).
#
# Run the image on this kind of machine (its limits refuse podman's default rlimits):
#   podman --runtime runc run --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
#       -e PORT=8050 -e SECRET_KEY=... wsd:latest
# `podman healthcheck run NAME` runs the image's HEALTHCHECK (no systemd here to time it).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-wsd:latest}
base=localhost/wsd-base:bookworm
dir=.cache/container
tarball=$dir/base-bookworm.tar
ca=/etc/ssl/certs/ca-certificates.crt # the host's CA bundle, for pip inside the build
for tool in podman runc mmdebstrap; do
    if ! command -v "$tool" >/dev/null; then
        echo "build-image: $tool is missing; run scripts/install-debian.sh containers (as root)" >&2
        exit 1
    fi
done
mkdir -p "$dir"

if [ ! -s "$tarball" ] || [ -n "$(find "$tarball" -mtime +6)" ]; then
    echo "build-image: making the base (Debian bookworm, minbase + python3) in $tarball"
    rm -f "$dir/base-new.tar"
    mmdebstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$dir/base-new.tar"
    mv "$dir/base-new.tar" "$tarball"
fi
if ! podman image exists "$base" || [ "$tarball" -nt "$dir/base-imported" ]; then
    podman import "$tarball" "$base"
    touch "$dir/base-imported"
fi

# chroot isolation: each RUN step in a chroot, not in a runc container (lighter, and free of
# the runtime's rlimits and cgroups); docker format: the OCI format drops HEALTHCHECK. The CA bundle is mounted for the RUN steps only.
build_ca=()
if [ -f "$ca" ]; then
    build_ca=(--volume "$ca:$ca:ro" --build-arg "PIP_CERT=$ca")
fi
# The build stage is tagged too (localhost/wsd-build:cache), so that its venv layer is kept
# as a cache; the images these two tags named before are removed once replaced.
stage=localhost/wsd-build:cache
old_ids=$(podman image inspect --format '{{.Id}}' "$tag" "$stage" 2>/dev/null || true)
build=(podman build --isolation chroot --format docker --build-arg "BASE_IMAGE=$base" "${build_ca[@]}")
"${build[@]}" --target build -t "$stage" .
"${build[@]}" -t "$tag" .
new_ids=$(podman image inspect --format '{{.Id}}' "$tag" "$stage")
for id in $old_ids; do
    if ! grep -q "$id" <<<"$new_ids"; then
        podman rmi "$id" >/dev/null 2>&1 || true # still used by a container: left
    fi
done
