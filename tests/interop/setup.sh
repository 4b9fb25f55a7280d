#!/usr/bin/env bash
# Install everything the interop tests (tests/interop.rs) need on a Debian machine, as root:
#   - Debian packages: libnats-dev, pkg-config, gcc (C client), nats-server (reference server),
#     nodejs + npm if missing, python3-venv if the interpreter cannot make a venv;
#   - nats-py and nkeys (for nkey authentication) into tests/interop/python/.venv, pinned with
#     their dependencies in python/requirements.txt;
#   - nats.js v2 into tests/interop/node/node_modules (pinned by node/package-lock.json).
# Idempotent and fast when everything is already installed. The test harness checks the stamp
# files written here and tells you to re-run this script when they are missing or stale.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY_DIR="$HERE/python"
NODE_DIR="$HERE/node"
VENV="$PY_DIR/.venv"

log() { printf 'interop setup: %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

APT_UPDATED=0
apt_install() {
    # Try with the current package lists first; refresh them only when that fails.
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" = 0 ]; then
        if $SUDO apt-get install -y --no-install-recommends "$@"; then return 0; fi
        log "apt-get install failed; refreshing package lists"
        $SUDO apt-get update
        APT_UPDATED=1
    fi
    $SUDO apt-get install -y --no-install-recommends "$@"
}

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# --- Debian packages -------------------------------------------------------------------------
need=()
# musl-tools: the C compiler ring needs for the static musl build (`make static`, CI).
for p in libnats-dev pkg-config nats-server gcc libc6-dev musl-tools; do
    is_installed "$p" || need+=("$p")
done
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
    log "installing Debian packages: ${need[*]}"
    apt_install "${need[@]}"
fi

# --- Python: nats-py in a venv ---------------------------------------------------------------
PY_STAMP="$VENV/interop-requirements.txt"
if [ -x "$VENV/bin/python" ] && [ -f "$PY_STAMP" ] && cmp -s "$PY_STAMP" "$PY_DIR/requirements.txt" \
    && "$VENV/bin/python" -c 'import nats, nkeys' >/dev/null 2>&1; then
    log "python venv up to date ($(paste -sd ' ' "$PY_DIR/requirements.txt"))"
else
    log "creating python venv in $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        log "python3 cannot create a venv; installing python3-venv"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$PY_DIR/requirements.txt"
    cp "$PY_DIR/requirements.txt" "$PY_STAMP"
    log "installed $(paste -sd ' ' "$PY_DIR/requirements.txt")"
fi

# --- Node: nats.js v2 from the lock file ------------------------------------------------------
NODE_STAMP="$NODE_DIR/node_modules/.interop-package-lock.json"
if [ -f "$NODE_STAMP" ] && cmp -s "$NODE_STAMP" "$NODE_DIR/package-lock.json" \
    && [ -f "$NODE_DIR/node_modules/nats/package.json" ]; then
    log "node_modules up to date"
else
    log "running npm ci in $NODE_DIR"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$NODE_DIR/package-lock.json" "$NODE_STAMP"
fi

log "done"
