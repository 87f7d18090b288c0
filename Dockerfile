# The dashboard as a container image: gunicorn app:server on port 8050 (PORT), as user 10001.
#
#   docker build -t wsd .                              # base: python:3.11-slim-bookworm
#   docker run -p 8050:8050 -e SECRET_KEY=... -v wsd-data:/data wsd
#
# BASE_IMAGE may be any Debian bookworm image with python3 (3.11) and its venv module, used by
# both stages (the venv links to the base's python): scripts/build-image.sh builds on a base
# made from Debian packages with mmdebstrap, where no registry can be reached.
# Configuration only from the environment: see the ENV below, dashboard/server/settings.py and
# gunicorn.conf.py (SECRET_KEY or WSD_SECRET_KEY, REDIS_URL, WSD_CACHE_DIR, PORT,
# WEB_CONCURRENCY, DASH_URL_BASE_PATHNAME for a path behind a reverse proxy, e.g. /wsd/).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- build: the runtime requirements in a venv (no test tools) --------------------------
FROM ${BASE_IMAGE} AS build
# A CA bundle for pip, when the network to PyPI needs one the base does not have: pass
# --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt and mount that file (build-image.sh).
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir -r /tmp/requirements.txt

# ---- runtime ----------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
# A numeric user without rights on the code; its home holds gunicorn's control socket
# (gunicornc), /data the results cache and job state (WSD_CACHE_DIR: mount a volume there).
RUN groupadd --gid 10001 wsd \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/wsd --shell /usr/sbin/nologin wsd \
    && mkdir -p /data /opt/numba-cache \
    && chown 10001:10001 /data /opt/numba-cache
# PYTHONPATH: celery (unlike gunicorn) does not put its working directory on sys.path, and
# app.py imports some of the code lazily.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    WSD_HOST=0.0.0.0 \
    PORT=8050 \
    WSD_CACHE_DIR=/data \
    NUMBA_CACHE_DIR=/opt/numba-cache
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code, owned by root: the user can read it, not change it (.dockerignore keeps tests,
# docs, caches and the venv out).
COPY . .
RUN python -m compileall -q /app

USER 10001:10001
# Compile the numba kernels (cache=True) now, into NUMBA_CACHE_DIR: dashboard.server.worker's
# warm_up runs the engine as each job's fork server does, so no process of the container compiles
# them again (gunicorn's master, each worker's fork server, each Celery worker: seconds each).
# Numba keys the cache by CPU model, so a host with another CPU compiles once more, into the
# same directory. Run as another user, or with a read-only root filesystem, the server loads
# the kernels from a copy of it in /tmp (core/engine/numba_cache.py): /tmp must then be writable.
RUN python -c "from dashboard.server.worker import warm_up; warm_up()" && test -n "$(ls -A /opt/numba-cache)"

VOLUME ["/data"]
EXPOSE 8050
# GET /health answers OK (Dash's health endpoint, under the app's route prefix).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; p = os.environ.get('DASH_ROUTES_PATHNAME_PREFIX') or os.environ.get('DASH_URL_BASE_PATHNAME') or '/'; sys.exit(r.urlopen('http://127.0.0.1:%s%shealth' % (os.environ.get('PORT', '8050'), p), timeout=8).read() != b'OK')"]
CMD ["gunicorn", "app:server"]
