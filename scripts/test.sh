#!/usr/bin/env bash
# The whole test run, as CI runs it (`make test`, `.ci/run`). Extra arguments go to pytest:
#   scripts/test.sh -k refunds        make test ARGS="-k refunds -x"
# Steps: setup.sh (venv + deps), services.sh (PostgreSQL, Redis, Chromium), then lint,
# type check, Django checks, a production deploy check, compose validation and pytest.
# The first failing step fails the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

START=$SECONDS
finish() {
    local rc=$?
    local t=$((SECONDS - START))
    if [ "$rc" -eq 0 ]; then
        printf '\n==> test.sh: all steps passed in %dm%02ds\n' $((t / 60)) $((t % 60))
    else
        printf '\n==> test.sh: FAILED (exit %d) after %dm%02ds\n' "$rc" $((t / 60)) $((t % 60)) >&2
    fi
}
trap finish EXIT

STEP=0
TOTAL=10
header() {
    STEP=$((STEP + 1))
    printf '\n==> [%d/%d] %s\n' "$STEP" "$TOTAL" "$*"
}
# run NAME CMD...: a step that fails the run with a clear line.
run() {
    local name="$1" rc=0
    shift
    header "$name"
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '==> step failed: %s (exit %d)\n' "$name" "$rc" >&2
        exit "$rc"
    fi
}

header "setup (.venv, dependencies)"
bash "$ROOT/scripts/setup.sh"
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"

header "services (PostgreSQL, Redis, Chromium)"
# shellcheck source=scripts/services.sh
source "$ROOT/scripts/services.sh"

# Tests run in the default (development) mode against the services above.
unset DJANGO_ENV
export DJANGO_SETTINGS_MODULE=marketplace.settings
export PYTHONDONTWRITEBYTECODE=1

run "ruff check" ruff check .
run "ruff format --check" ruff format --check .
run "mypy" mypy .
run "manage.py check" python manage.py check
run "manage.py makemigrations --check" python manage.py makemigrations --check --dry-run

DEPLOY_SECRET_KEY="$(python -c 'import secrets, string
alphabet = string.ascii_letters + string.digits + "!@%^&*(-_=+)"
print("".join(secrets.choice(alphabet) for _ in range(60)))')"
DEPLOY_PRIVATE_KEYS="$(python -m privacy.keyring_setup | tail -n 1)"
run "manage.py check --deploy (DJANGO_ENV=production)" \
    env -u DJANGO_ALLOW_ASYNC_UNSAFE DJANGO_ENV=production SECRET_KEY="$DEPLOY_SECRET_KEY" ALLOWED_HOSTS=example.com \
    DATABASE_URL="$DATABASE_URL" \
    STRIPE_SECRET_KEY=sk_test_deploycheck STRIPE_WEBHOOK_SECRET=whsec_deploycheck \
    PRIVATE_INFO_KEYS="$DEPLOY_PRIVATE_KEYS" \
    python manage.py check --deploy --fail-level WARNING

# docker-compose.yml requires SECRET_KEY (${SECRET_KEY:?...}): give it one for validation.
run "docker-compose config" \
    env SECRET_KEY="$DEPLOY_SECRET_KEY" PRIVATE_INFO_KEYS="$DEPLOY_PRIVATE_KEYS" docker-compose -f docker-compose.yml config -q

header "pytest${*:+ $*}"
rc=0
pytest --ds=tests.settings "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "==> step failed: pytest collected no tests (exit 5)" >&2
    exit 5
elif [ "$rc" -ne 0 ]; then
    printf '==> step failed: pytest (exit %d)\n' "$rc" >&2
    exit "$rc"
fi
