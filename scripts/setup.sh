#!/usr/bin/env bash
# Prepare the Python environment in .venv. Idempotent and quick when nothing changed:
#   1. python3 with venv + ensurepip (apt-get installs python3 python3-venv python3-pip if missing)
#   2. .venv (created if missing, re-created if broken)
#   3. pip upgrade + `pip install -e ".[dev]"`, only when pyproject.toml (or the
#      interpreter) changed since the last successful install; a hash is kept in
#      .venv/.expertline-install-stamp.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.expertline-install-stamp"

step() { printf '==> setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# apt-get with a wait for the dpkg/apt locks (another process may be using apt).
apt_retry() {
    local try log rc
    log="$(mktemp)"
    for try in $(seq 1 30); do
        rc=0
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get -q -o DPkg::Lock::Timeout=120 "$@" >"$log" 2>&1 || rc=$?
        if [ "$rc" -eq 0 ]; then
            rm -f "$log"
            return 0
        fi
        if grep -qiE 'could not get lock|unable to acquire|is another process using it' "$log"; then
            step "apt is busy, retrying ($try/30)"
            sleep 10
            continue
        fi
        break
    done
    cat "$log" >&2
    rm -f "$log"
    return 1
}

python_ok() {
    command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

# 1. python3 + venv
if ! python_ok; then
    command -v apt-get >/dev/null 2>&1 || die "python3 (>= 3.11) with venv is missing and apt-get is not available"
    step "installing python3 python3-venv python3-pip (apt)"
    apt_retry update
    apt_retry install -y python3 python3-venv python3-pip
    python_ok || die "python3 >= 3.11 with venv is still not available"
fi

# 2. .venv
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'pass' >/dev/null 2>&1; then
    step "removing broken .venv"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    step "creating .venv ($(python3 --version 2>&1))"
    python3 -m venv "$VENV"
    rm -f "$STAMP"
fi

# 3. dependencies, only when pyproject.toml changed since the last install
[ -f pyproject.toml ] || die "pyproject.toml not found in $ROOT"
want="$( { sha256sum pyproject.toml | cut -d' ' -f1; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

if [ "$want" = "$have" ] &&
    "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("expertline")' >/dev/null 2>&1; then
    step "dependencies up to date (pyproject.toml unchanged)"
else
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    step "upgrading pip"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    step 'installing -e ".[dev]" (pyproject.toml changed)'
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    printf '%s\n' "$want" >"$STAMP"
    step "dependencies installed"
fi
