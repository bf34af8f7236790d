#!/usr/bin/env bash
# shellcheck disable=SC2317  # stop_children/on_exit run from traps, which shellcheck cannot see
# `make run`: the whole marketplace on this machine with embedded defaults (SQLite in
# var/, filesystem Celery broker, file cache): no PostgreSQL or Redis needed. Set
# DATABASE_URL / CELERY_BROKER_URL / REDIS_URL yourself to use real services.
# Starts gunicorn on 127.0.0.1:${PORT:-8000} and one Celery worker with embedded beat;
# Ctrl-C stops both. If either exits, the other is stopped and run.sh exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-8000}"
ADDRESS="http://127.0.0.1:$PORT/"
export SITE_URL="${SITE_URL:-http://127.0.0.1:$PORT}"
# The local payment gateway sends its signed webhook events to our own endpoint.
export LOCAL_GATEWAY_WEBHOOK_URL="${LOCAL_GATEWAY_WEBHOOK_URL:-$SITE_URL/payments/webhooks/stripe/}"

bash "$ROOT/scripts/setup.sh"
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export DJANGO_SETTINGS_MODULE=marketplace.settings

VAR_DIR="${EXPERTLINE_VAR_DIR:-$ROOT/var}"
mkdir -p "$VAR_DIR"

echo "==> run: migrate"
python manage.py migrate --noinput
echo "==> run: seed_demo"
seed_rc=0
SEED_OUTPUT="$(python manage.py seed_demo 2>&1)" || seed_rc=$?
if [ "$seed_rc" -ne 0 ]; then
    printf '%s\n' "$SEED_OUTPUT" >&2
    echo "run: seed_demo failed (exit $seed_rc)" >&2
    exit "$seed_rc"
fi
echo "==> run: collectstatic"
python manage.py collectstatic --noinput -v 0

# --- children: each in its own process group, so stopping one stops all its processes
PIDS=()
stop_children() {
    local pid alive
    for pid in "${PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 1 50); do # up to 10 s for a clean shutdown
        alive=0
        for pid in "${PIDS[@]}"; do
            kill -0 -- "-$pid" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.2
    done
    for pid in "${PIDS[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
on_exit() {
    local rc=$?
    trap - INT TERM EXIT
    if [ "${#PIDS[@]}" -gt 0 ]; then
        echo "==> run: stopping servers"
        stop_children
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # start CMD... in the background, in a new process group
    setsid -w "$@" &
    PIDS+=("$!")
}

echo "==> run: starting gunicorn on $ADDRESS and the Celery worker (+ beat)"
start gunicorn marketplace.wsgi:application --bind "127.0.0.1:$PORT" \
    --workers 2 --threads 4 --no-control-socket --access-logfile -
start celery -A marketplace worker -B --pool=solo --loglevel=INFO \
    --schedule "$VAR_DIR/celerybeat-schedule"

# --- wait until /healthz answers 200 (up to 30 s), while watching the children
healthy() {
    python - "$ADDRESS" <<'EOF'
import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1] + "healthz", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}
deadline=$((SECONDS + 30))
until healthy; do
    for pid in "${PIDS[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run: a server exited during start-up" >&2
            exit 1
        fi
    done
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "run: ${ADDRESS}healthz did not answer 200 within 30 s" >&2
        exit 1
    fi
    sleep 0.5
done

cat <<EOF

==========================================================================
 Expertline is running: $ADDRESS
 (Ctrl-C stops the web server and the Celery worker)

$SEED_OUTPUT
==========================================================================

EOF

# --- any child exiting ends the run
rc=0
wait -n || rc=$?
echo "run: a server process exited (status $rc); stopping the others" >&2
[ "$rc" -eq 0 ] && rc=1
exit "$rc"
