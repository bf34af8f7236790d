#!/usr/bin/env bash
# The page benchmark (`make bench`, `make bench ARGS="--fresh"`); see benchmarks/README.md.
# Arguments go to benchmarks/bench_pages.py (--help lists them).
# Steps: setup.sh (venv + deps), services.sh (PostgreSQL, Redis), then the benchmark on
# its own database (expertline_bench) and Redis databases (13: cache and sessions,
# 12: Celery broker), so it never touches the test or development data.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

# services.sh creates the database named here when missing and exports DATABASE_URL to it.
export EXPERTLINE_PG_DB="${EXPERTLINE_BENCH_DB:-expertline_bench}"
# shellcheck source=scripts/services.sh
source scripts/services.sh

redis_base="${REDIS_URL%/*}"
export REDIS_URL="$redis_base/13"
export CELERY_BROKER_URL="$redis_base/12"

if ! command -v wrk >/dev/null 2>&1; then
    echo "==> bench: installing wrk (apt)"
    _xl_apt_install wrk
fi

export PATH="$ROOT/.venv/bin:$PATH"
exec python benchmarks/bench_pages.py "$@"
