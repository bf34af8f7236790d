#!/usr/bin/env bash
# Make PostgreSQL, Redis and Chromium available for the test suite and export the
# environment the tests need.
#
#   source scripts/services.sh     exports into the current shell (what test.sh does)
#   bash scripts/services.sh       prints `export ...` lines (eval "$(bash scripts/services.sh)")
#
# PostgreSQL: uses the server on 127.0.0.1:${EXPERTLINE_PG_PORT:-5432} when it answers
#   and `psql -U postgres` works there without a password. Otherwise it starts (or
#   reuses) a throw-away trust-auth cluster in ${EXPERTLINE_PG_DIR:-/tmp/expertline-pg}
#   on 127.0.0.1:${EXPERTLINE_PG_TMP_PORT:-54329}, installing Debian's `postgresql`
#   first when initdb is missing. The database ${EXPERTLINE_PG_DB:-expertline} is
#   created when missing.
# Redis: uses 127.0.0.1:${EXPERTLINE_REDIS_PORT:-6379} when it answers PONG, otherwise
#   installs `redis-server` if missing and starts one there (no persistence).
# Chromium (/usr/bin/chromium) and docker-compose (v1, offline validation of
#   docker-compose.yml) are installed with apt when missing.
# apt-get update runs at most once, and only when something must be installed.
#
# Written to be sourced into a `set -euo pipefail` shell: errors are handled
# explicitly and every helper is prefixed with _xl_.

_xl_log() { printf '==> services: %s\n' "$*" >&2; }
_xl_err() { printf 'services: error: %s\n' "$*" >&2; }

_xl_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _xl_err "need root (or sudo) to run: $*"
        return 1
    fi
}

# apt-get with a wait for the dpkg/apt locks (another process may be using apt).
_xl_apt() {
    local try log rc
    log="$(mktemp)"
    for try in $(seq 1 30); do
        rc=0
        _xl_as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get -q -o DPkg::Lock::Timeout=120 "$@" >"$log" 2>&1 || rc=$?
        if [ "$rc" -eq 0 ]; then
            rm -f "$log"
            return 0
        fi
        if grep -qiE 'could not get lock|unable to acquire|is another process using it' "$log"; then
            _xl_log "apt is busy, retrying ($try/30)"
            sleep 10
            continue
        fi
        break
    done
    cat "$log" >&2
    rm -f "$log"
    return 1
}

_XL_APT_UPDATED=0
_xl_apt_install() {
    command -v apt-get >/dev/null 2>&1 || {
        _xl_err "apt-get not available; install these by hand: $*"
        return 1
    }
    if [ "$_XL_APT_UPDATED" -eq 0 ]; then
        _xl_log "apt-get update"
        _xl_apt update || return 1
        _XL_APT_UPDATED=1
    fi
    _xl_log "apt-get install $*"
    _xl_apt install -y "$@"
}

# --- PostgreSQL ----------------------------------------------------------------

# Folder with initdb/pg_ctl/pg_isready of the newest installed server, if any.
_xl_pg_bindir() {
    local d found
    found="$(for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; fi
    done | sort -V | tail -n 1)"
    if [ -z "$found" ] && command -v initdb >/dev/null 2>&1; then
        found="$(dirname "$(readlink -f "$(command -v initdb)")")"
    fi
    [ -n "$found" ] || return 1
    printf '%s\n' "$found"
}

_xl_pg_tool() { # name -> path (prefers the server's own bin folder)
    local bindir
    bindir="$(_xl_pg_bindir || true)"
    if [ -n "$bindir" ] && [ -x "$bindir/$1" ]; then
        printf '%s\n' "$bindir/$1"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    else
        return 1
    fi
}

# Does a trust-auth server answer on 127.0.0.1:$1 for user postgres?
_xl_pg_answers() {
    local port="$1" isready psql
    isready="$(_xl_pg_tool pg_isready)" || return 1
    psql="$(_xl_pg_tool psql)" || return 1
    "$isready" -q -h 127.0.0.1 -p "$port" -U postgres -t 3 >/dev/null 2>&1 || return 1
    PGCONNECT_TIMEOUT=5 "$psql" -X -w -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -tAc 'select 1' >/dev/null 2>&1
}

# Run a command as the postgres user when we are root (data folders must be theirs).
_xl_as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_xl_pg_start_throwaway() {
    local dir="$1" port="$2" bindir opts
    bindir="$(_xl_pg_bindir)" || {
        _xl_err "initdb not found"
        return 1
    }
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
    fi
    mkdir -p "$dir/run" || return 1
    chmod 700 "$dir" || return 1
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres:postgres "$dir" || return 1
    fi
    opts="-p $port -k $dir/run -c listen_addresses=127.0.0.1"
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"

    local attempt
    for attempt in 1 2; do
        if [ ! -f "$dir/data/PG_VERSION" ]; then
            _xl_log "initdb throw-away cluster in $dir/data ($("$bindir/postgres" --version 2>/dev/null))"
            rm -rf "$dir/data"
            (cd "$dir" && _xl_as_postgres "$bindir/initdb" -D "$dir/data" -A trust -U postgres \
                -E UTF8 --no-locale >"$dir/initdb.log" 2>&1) || {
                cat "$dir/initdb.log" >&2
                return 1
            }
        fi
        _xl_log "starting throw-away PostgreSQL on 127.0.0.1:$port"
        if (cd "$dir" && _xl_as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
            -w -t 30 -o "$opts" start >/dev/null 2>&1); then
            return 0
        fi
        # Stale or incompatible data folder (e.g. another major version): start afresh once.
        tail -n 5 "$dir/postgres.log" >&2 2>/dev/null || true
        _xl_as_postgres "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
        [ "$attempt" -eq 1 ] && _xl_log "could not start the existing cluster; re-creating it"
        rm -rf "$dir/data"
    done
    _xl_err "could not start a throw-away PostgreSQL in $dir"
    return 1
}

_xl_pg_ensure_db() {
    local port="$1" db="$2" psql exists
    psql="$(_xl_pg_tool psql)" || return 1
    exists="$(PGCONNECT_TIMEOUT=5 "$psql" -X -w -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -tAc "select 1 from pg_database where datname = '$db'" 2>/dev/null)" || return 1
    if [ "$exists" != "1" ]; then
        _xl_log "creating database $db"
        PGCONNECT_TIMEOUT=5 "$psql" -X -w -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -c "create database \"$db\"" >/dev/null || return 1
    fi
}

# --- Redis ---------------------------------------------------------------------

_xl_redis_answers() {
    command -v redis-cli >/dev/null 2>&1 || return 1
    [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]
}

# --- main ----------------------------------------------------------------------

_xl_services_main() {
    local pg_port="${EXPERTLINE_PG_PORT:-5432}"
    local pg_tmp_port="${EXPERTLINE_PG_TMP_PORT:-54329}"
    local pg_dir="${EXPERTLINE_PG_DIR:-/tmp/expertline-pg}"
    local pg_db="${EXPERTLINE_PG_DB:-expertline}"
    local redis_port="${EXPERTLINE_REDIS_PORT:-6379}"
    local chromium=/usr/bin/chromium
    local pkgs=() use_pg_port="" redis_up=0

    # 1. Look first; decide what must be installed.
    if _xl_pg_answers "$pg_port"; then
        _xl_log "PostgreSQL: using the server on 127.0.0.1:$pg_port"
        use_pg_port="$pg_port"
    elif _xl_pg_answers "$pg_tmp_port"; then
        _xl_log "PostgreSQL: reusing the throw-away cluster on 127.0.0.1:$pg_tmp_port"
        use_pg_port="$pg_tmp_port"
    elif ! _xl_pg_bindir >/dev/null; then
        pkgs+=(postgresql)
    fi

    if _xl_redis_answers "$redis_port"; then
        _xl_log "Redis: using the server on 127.0.0.1:$redis_port"
        redis_up=1
    elif ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        pkgs+=(redis-server)
    fi

    [ -x "$chromium" ] || pkgs+=(chromium)
    command -v docker-compose >/dev/null 2>&1 || pkgs+=(docker-compose)

    # 2. One apt-get update + install for everything missing.
    if [ "${#pkgs[@]}" -gt 0 ]; then
        _xl_apt_install "${pkgs[@]}" || return 1
    fi

    # 3. Start what is not running.
    if [ -z "$use_pg_port" ]; then
        _xl_log "PostgreSQL: nothing usable on 127.0.0.1:$pg_port; using a throw-away cluster"
        _xl_pg_start_throwaway "$pg_dir" "$pg_tmp_port" || return 1
        _xl_pg_answers "$pg_tmp_port" || {
            _xl_err "throw-away PostgreSQL on 127.0.0.1:$pg_tmp_port does not answer (see $pg_dir/postgres.log)"
            return 1
        }
        use_pg_port="$pg_tmp_port"
    fi
    _xl_pg_ensure_db "$use_pg_port" "$pg_db" || {
        _xl_err "could not create database $pg_db on 127.0.0.1:$use_pg_port"
        return 1
    }

    if [ "$redis_up" -eq 0 ]; then
        if _xl_redis_answers "$redis_port"; then # the package's own service may have started it
            _xl_log "Redis: using the server on 127.0.0.1:$redis_port"
        else
            _xl_log "Redis: starting redis-server on 127.0.0.1:$redis_port"
            redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" \
                --appendonly no --dir /tmp --logfile /tmp/expertline-redis.log >/dev/null || {
                _xl_err "redis-server did not start"
                return 1
            }

            for _ in $(seq 1 50); do
                _xl_redis_answers "$redis_port" && break
                sleep 0.2
            done
            _xl_redis_answers "$redis_port" || {
                _xl_err "Redis on 127.0.0.1:$redis_port does not answer (see /tmp/expertline-redis.log)"
                return 1
            }
        fi
    fi

    # 4. Environment for the tests.
    local pw_dir="${TMPDIR:-/tmp}/expertline-playwright"
    mkdir -p "$pw_dir" || return 1
    export DATABASE_URL="postgres://postgres@127.0.0.1:$use_pg_port/$pg_db"
    export REDIS_URL="redis://127.0.0.1:$redis_port/15"
    export CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/14"
    export CHROMIUM_PATH="$chromium"
    export DJANGO_ALLOW_ASYNC_UNSAFE=true
    export PLAYWRIGHT_BROWSERS_PATH="$pw_dir"
    _xl_log "DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL CELERY_BROKER_URL=$CELERY_BROKER_URL"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced
    _xl_services_main || return 1
else
    set -uo pipefail
    _xl_services_main || exit 1
    for _xl_var in DATABASE_URL REDIS_URL CELERY_BROKER_URL CHROMIUM_PATH \
        DJANGO_ALLOW_ASYNC_UNSAFE PLAYWRIGHT_BROWSERS_PATH; do
        printf 'export %s=%q\n' "$_xl_var" "${!_xl_var}"
    done
fi
