"""Payout benchmark: the payout job at 10,000 and 100,000 experts, and the available balance
of one expert with 100,000 ledger entries.

    python benchmarks/bench_payouts.py [--sizes 10000,100000] [--heavy-entries 100000] [--keep]

Steps (see benchmarks/PAYOUTS.md):
  1. its own PostgreSQL database (`expertline_bench_payouts`), dropped and created, migrated;
  2. for each size: the tables emptied, then N experts seeded with COPY: a user, a payable
     ledger account, three credits each (30 and 20 days old: available; 2 days old: still in
     the refund hold window) as balanced ledger transactions funded by platform:member_costs,
     and a ready payout account at the local gateway;
  3. the payout job (payments.payouts.payout_run, paying each chunk in-process as the Celery
     pay task would) in a fresh child process: wall time, lines per second, and the child's
     peak RSS (resource.getrusage maxrss), so each size's memory is its own;
  4. every expert paid once, the paid total equal to the eligible balances, ledger_check clean;
  5. one expert with 100,000 credits: the available balance timed before the job has moved
     its maturity cursor (cold) and after (warm), against the full sum.

It prints figures; it is not a pass/fail test (it exits non-zero only when it cannot run, or
when a correctness check of step 4 fails).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/expertline_bench_payouts"
BALANCE_TARGET_MS = 5.0
TIME_RATIO_TARGET = 11.0
MEMORY_RATIO_TARGET = 1.5
CURRENCY = "USD"


# --- Environment ------------------------------------------------------------------------


def configure_environment(var_dir: str, database_url: str = DEFAULT_DATABASE_URL) -> None:
    """Development settings (the local gateway) on the bench database, quiet and in-process."""
    env = os.environ
    env.setdefault("DATABASE_URL", database_url)
    env["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
    env["EXPERTLINE_VAR_DIR"] = var_dir
    env["CELERY_BROKER_URL"] = "memory://"
    env["LOG_LEVEL"] = "WARNING"
    for name in ("DJANGO_ENV", "DEBUG", "STRIPE_SECRET_KEY", "REDIS_URL", "EXPERTLINE_TESTING"):
        env.pop(name, None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def database_name(url: str) -> dict[str, Any]:
    import dj_database_url

    db = dict(dj_database_url.parse(url))
    if "postgresql" not in str(db.get("ENGINE")) or "bench" not in str(db.get("NAME")):
        # The benchmark drops its database: never another one.
        raise SystemExit(f"bench: need a PostgreSQL database whose name contains 'bench': {url}")
    return db


def recreate_database(db: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        name = sql.Identifier(db["NAME"])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(db: dict[str, Any]) -> None:
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db["NAME"]))
        )


def maxrss_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of a local PostgreSQL backend, from /proc; None when
    the server is elsewhere or /proc is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    """This process's resident memory now (Linux), to see growth below an earlier peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return maxrss_mb()


# --- Seed -------------------------------------------------------------------------------


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (tuples in `columns` order) into `table`; JSON columns take JSON text."""
    from django.db import connection

    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    n = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as cp,
    ):
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def truncate() -> None:
    from django.db import connection

    from marketplace.models import User
    from payments.models import (
        LedgerAccount,
        LedgerEntry,
        LedgerTransaction,
        LocalGatewayObject,
        LocalIdempotencyKey,
        PayoutAccount,
        PayoutBatch,
        PayoutLine,
        PayoutLineEvent,
        PayoutMaturity,
    )

    models = [
        PayoutLineEvent,
        PayoutLine,
        PayoutBatch,
        PayoutMaturity,
        PayoutAccount,
        LedgerEntry,
        LedgerTransaction,
        LedgerAccount,
        LocalGatewayObject,
        LocalIdempotencyKey,
        User,
    ]
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _user_rows(first_id: int, n: int, now: datetime) -> tuple[list[str], Iterable[tuple[Any, ...]]]:
    from django.db import connection

    from marketplace.models import User

    template = User(email="x@example.com", password="!")  # unusable password, model defaults
    fields = list(User._meta.concrete_fields)
    columns = [f.column for f in fields]
    base = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields]
    at = {c: i for i, c in enumerate(columns)}

    def rows() -> Iterable[tuple[Any, ...]]:
        for uid in range(first_id, first_id + n):
            row = list(base)
            row[at["id"]] = uid
            row[at["email"]] = f"bench-expert-{uid}@example.com"
            row[at["display_name"]] = f"Bench Expert {uid}"
            row[at["date_joined"]] = now
            yield tuple(row)

    return columns, rows()


TXN_COLUMNS = ["id", "key", "kind", "memo", "details", "payment_id", "reverses_id", "created_at"]
ENTRY_COLUMNS = ["id", "transaction_id", "account_id", "amount_minor", "currency"]


def _credits_amounts(uid: int) -> list[tuple[int, int]]:
    """(amount, days ago) of an expert's three credits: two available, one pending."""
    return [(2000 + (uid * 37) % 3000, 30), (1000 + (uid * 11) % 500, 20), (700, 2)]


def _next_ids() -> tuple[int, int, int]:
    from django.db.models import Max

    from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

    return tuple(  # type: ignore[return-value]
        int(m.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        for m in (LedgerAccount, LedgerTransaction, LedgerEntry)
    )


def _reset_sequences() -> None:
    from django.core.management.color import no_style
    from django.db import connection

    from marketplace.models import User
    from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

    models = [User, LedgerAccount, LedgerTransaction, LedgerEntry]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)


def seed_experts(first_uid: int, n: int, *, credits: Any, now: datetime) -> tuple[int, int]:
    """N experts from `first_uid`, each with `credits(uid)` -> [(amount, days ago)], a
    payable account and a ready payout account. Returns (eligible total, ledger entries)."""
    from django.db import connection, transaction

    from payments import ledger
    from payments.models import LedgerAccount

    member_costs, _ = LedgerAccount.objects.get_or_create(
        key=ledger.PLATFORM_MEMBER_COSTS, defaults={"currency": CURRENCY}
    )
    first_account, first_txn, first_entry = _next_ids()
    total_credited = 0
    n_entries = 0
    eligible = 0
    for uid in range(first_uid, first_uid + n):
        # What the rule makes available: credits past the 14-day hold, when >= the minimum.
        available = sum(amount for amount, days in credits(uid) if days > 14)
        eligible += available if available >= 2000 else 0

    with transaction.atomic():
        columns, users = _user_rows(first_uid, n, now)
        copy_rows("marketplace_user", columns, users)

        def txns() -> Iterable[tuple[Any, ...]]:
            tid = first_txn
            for uid in range(first_uid, first_uid + n):
                for k, (amount, days) in enumerate(credits(uid)):
                    yield (
                        tid,
                        f"bench-credit-{uid}-{k}",
                        "credit",
                        f"Bench question {uid}-{k}",
                        json.dumps({"expert": uid, "amount": amount}),
                        None,
                        None,
                        now - timedelta(days=days, seconds=k),
                    )
                    tid += 1

        copy_rows("payments_ledgertransaction", TXN_COLUMNS, txns())

        def entries() -> Iterable[tuple[Any, ...]]:
            nonlocal total_credited, n_entries
            tid, eid = first_txn, first_entry
            for i, uid in enumerate(range(first_uid, first_uid + n)):
                account = first_account + i
                for amount, _ in credits(uid):
                    # Each credit balances: Dr platform:member_costs, Cr expert:<id>:payable.
                    yield (eid, tid, member_costs.pk, amount, CURRENCY)
                    yield (eid + 1, tid, account, -amount, CURRENCY)
                    eid += 2
                    tid += 1
                    total_credited += amount
                    n_entries += 1

        copy_rows("payments_ledgerentry", ENTRY_COLUMNS, entries())

        def accounts() -> Iterable[tuple[Any, ...]]:
            for i, uid in enumerate(range(first_uid, first_uid + n)):
                owed = sum(amount for amount, _ in credits(uid))
                yield (first_account + i, f"expert:{uid}:payable", CURRENCY, uid, -owed)

        copy_rows(
            "payments_ledgeraccount",
            ["id", "key", "currency", "user_id", "balance_minor"],
            accounts(),
        )
        LedgerAccount.objects.filter(pk=member_costs.pk).update(
            balance_minor=member_costs.balance_minor + total_credited
        )

        def payout_accounts() -> Iterable[tuple[Any, ...]]:
            for uid in range(first_uid, first_uid + n):
                yield (uid, "local", f"acct_local_bench{uid:09d}", "ready", "[]", now, now)

        copy_rows(
            "payments_payoutaccount",
            ["user_id", "gateway", "account_id", "status", "missing", "created_at", "checked_at"],
            payout_accounts(),
        )

        def gateway_accounts() -> Iterable[tuple[Any, ...]]:
            for uid in range(first_uid, first_uid + n):
                data = {
                    "type": "express",
                    "email": f"bench-expert-{uid}@example.com",
                    "details_submitted": True,
                    "payouts_enabled": True,
                    "currently_due": [],
                    "transferred": 0,
                }
                yield (f"acct_local_bench{uid:09d}", "connect_account", json.dumps(data), now, now)

        copy_rows(
            "payments_localgatewayobject",
            ["object_id", "kind", "data", "created_at", "updated_at"],
            gateway_accounts(),
        )
        _reset_sequences()
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute("VACUUM (ANALYZE)")
    return eligible, n_entries * 2


# --- The job in a child process --------------------------------------------------------


def job_child(size: int, run_key: str, trace: bool) -> None:
    """Runs in a fresh process: the payout job, timed, with this process's peak memory
    (and with --tracemalloc the peak of Python allocations during the job, slower)."""
    import tracemalloc

    import django

    django.setup()
    from django.db import connection

    from payments import payouts

    connection.ensure_connection()
    rss_before = rss_mb()
    peak_before = maxrss_mb()
    if trace:
        tracemalloc.start()
    paying = [0.0]
    chunks: list[tuple[int, float]] = []  # (lines, seconds) per pay chunk, in order

    def pay(line_ids: list[int]) -> None:
        t = time.perf_counter()
        payouts.payout_lines_pay(line_ids=line_ids)
        took = time.perf_counter() - t
        paying[0] += took
        chunks.append((len(line_ids), took))

    statements = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    db_cpu0 = backend_cpu_s(backend)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with connection.execute_wrapper(count):
        batch = payouts.payout_run(run_key=run_key, dispatch=pay)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    db_cpu1 = backend_cpu_s(backend)
    lines = batch.lines.count()
    # Paying speed over the first and the last tenth of the lines: a per-line cost that
    # grew with the tables would show here, whatever else ran on the machine meanwhile.
    tenth = max(1, len(chunks) // 10)
    first, last = chunks[:tenth], chunks[-tenth:]
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    print(
        json.dumps(
            {
                "size": size,
                "batch": batch.pk,
                "status": batch.status,
                "wall_s": wall,
                "pay_s": paying[0],
                "rss_before_mb": rss_before,
                "rss_peak_before_mb": peak_before,
                "rss_peak_mb": maxrss_mb(),
                "traced_peak_mb": traced,
                "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
                # The PostgreSQL backend serving the job (None when /proc cannot tell).
                "db_cpu_s": db_cpu1 - db_cpu0
                if db_cpu0 is not None and db_cpu1 is not None
                else None,
                "statements_per_line": statements[0] / max(1, lines),
                "first_tenth_lines_s": sum(n for n, _ in first) / sum(t for _, t in first),
                "last_tenth_lines_s": sum(n for n, _ in last) / sum(t for _, t in last),
            }
        )
    )


def run_job(size: int, run_key: str, trace: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--job", str(size)]
    proc = subprocess.run(
        [*command, "--run-key", run_key, *(["--tracemalloc"] if trace else [])],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: the payout job failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --- Checks and the heavy expert -------------------------------------------------------


def verify(batch_id: int, n_experts: int, eligible: int) -> dict[str, Any]:
    from django.db.models import Count, Sum

    from payments import ledger
    from payments.models import LocalGatewayObject, PayoutLine

    lines = PayoutLine.objects.filter(batch_id=batch_id)
    by_status = dict(lines.values_list("status").annotate(n=Count("id")))
    paid = int(lines.filter(status="paid").aggregate(s=Sum("amount_minor"))["s"] or 0)
    transfers = LocalGatewayObject.objects.filter(kind="transfer").count()
    per_expert = PayoutLine.objects.values("expert").annotate(n=Count("id")).filter(n__gt=1).count()
    t = time.perf_counter()
    problems = ledger.check()
    check_s = time.perf_counter() - t
    result = {
        "lines": by_status,
        "paid_minor": paid,
        "eligible_minor": eligible,
        "transfers": transfers,
        "experts_paid_twice": per_expert,
        "ledger_problems": len(problems),
        "ledger_check_s": check_s,
    }
    ok = (
        by_status == {"paid": n_experts}
        and paid == eligible
        and transfers == n_experts
        and per_expert == 0
        and not problems
    )
    if not ok:
        raise SystemExit(f"bench: payout results are wrong: {result}; {problems[:5]}")
    return result


def _time_ms(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def heavy_expert(first_uid: int, n_entries: int, now: datetime) -> dict[str, Any]:
    """One expert with `n_entries` credits (50 of them in the hold window): the available
    balance before the job moved the cursor (cold) and after (warm), and the full sum."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from marketplace.models import User
    from payments import payouts

    recent = 50
    old = n_entries - recent
    span = 385 * 86_400  # old credits spread from 400 to 15 days ago

    def credits(uid: int) -> list[tuple[int, float]]:
        return [(100, 15 + (span * (old - i) / old) / 86_400) for i in range(old)] + [
            (100, 10 * (recent - i) / recent) for i in range(recent)
        ]

    started = time.perf_counter()
    rows = credits(first_uid)
    seed_experts(first_uid, 1, credits=lambda uid: rows, now=now)
    seed_s = time.perf_counter() - started
    expert = User.objects.get(pk=first_uid)

    def fast() -> Any:
        return payouts.payout_balance_get(user=expert)

    def full() -> Any:
        return payouts.payout_balance_full(user=expert)

    fast()
    cold = _time_ms(fast, 20)
    full_ms = _time_ms(full, 5)
    before = fast()
    t = time.perf_counter()
    batch = payouts.payout_run(
        run_key="bench-heavy",
        dispatch=lambda ids: payouts.payout_lines_pay(line_ids=ids),
    )
    job_s = time.perf_counter() - t
    warm = _time_ms(fast, 300)
    with CaptureQueriesContext(connection) as queries:
        after = fast()
    check = full()
    if (after.owed_minor, after.pending_minor) != (check.owed_minor, check.pending_minor):
        raise SystemExit(f"bench: the cursor's balance {after} differs from the full sum {check}")
    warm_sorted = sorted(warm)
    return {
        "entries": n_entries,
        "seed_s": seed_s,
        "available_before_minor": before.available_minor,
        "paid_lines": batch.lines.count(),
        "job_s": job_s,
        "cold_median_ms": statistics.median(cold),
        "warm_median_ms": statistics.median(warm),
        "warm_p95_ms": warm_sorted[int(len(warm_sorted) * 0.95) - 1],
        "warm_max_ms": warm_sorted[-1],
        "full_sum_median_ms": statistics.median(full_ms),
        "queries": len(queries),
        "owed_minor": after.owed_minor,
        "pending_minor": after.pending_minor,
    }


# --- Main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_payouts.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="experts per run, comma-separated")
    p.add_argument("--heavy-entries", type=int, default=100_000, help="ledger entries (0: skip)")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also trace Python allocations in the job (their peak; the job runs slower)",
    )
    p.add_argument("--job", type=int, help=argparse.SUPPRESS)  # the child process
    p.add_argument("--run-key", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _ratio(big: dict[str, Any], small: dict[str, Any], of: Any) -> str:
    if big["db_cpu_s"] is None or small["db_cpu_s"] is None:
        return "unknown"
    return f"{of(big) / of(small):.2f}"


def _fmt_s(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} s"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.job is not None:
        job_child(args.job, args.run_key, args.tracemalloc)
        return 0
    var_dir = tempfile.mkdtemp(prefix="expertline-bench-payouts-")
    configure_environment(var_dir)
    os.environ["EXPERTLINE_VAR_DIR"] = var_dir
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    db = database_name(os.environ["DATABASE_URL"])
    load_start = _load()
    recreate_database(db)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"database  {db['NAME']}: created and migrated in {time.perf_counter() - t:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    print(
        f"machine   {os.cpu_count()} CPUs; load average (1/5/15 min) at start {load_start}; "
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"PostgreSQL {pg_version}"
    )
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            truncate()
            now = timezone.now()
            t = time.perf_counter()
            eligible, n_entries = seed_experts(1, size, credits=_credits_amounts, now=now)
            seed_s = time.perf_counter() - t
            load_before = _load()
            job = run_job(size, f"bench-{size}", args.tracemalloc)
            checks = verify(job["batch"], size, eligible)
            results.append(
                {"size": size, "seed_s": seed_s, "entries": n_entries, "load": load_before}
                | job
                | checks
            )
            r = results[-1]
            print(
                f"size {size:>7,}: seeded {n_entries:,} ledger entries in {seed_s:.1f} s; "
                f"job {r['wall_s']:.1f} s ({r['pay_s']:.1f} s paying), "
                f"{size / r['wall_s']:,.0f} lines/s, peak RSS {r['rss_peak_mb']:.1f} MB "
                f"(RSS {r['rss_before_mb']:.1f} MB when the job started)"
                + (
                    f", Python allocations peak {r['traced_peak_mb']:.2f} MB"
                    if r["traced_peak_mb"] is not None
                    else ""
                )
                + f"; paying {r['first_tenth_lines_s']:.0f} lines/s over the first tenth, "
                f"{r['last_tenth_lines_s']:.0f} over the last; job CPU (this process) "
                f"{r['cpu_s']:.1f} s, its PostgreSQL backend {_fmt_s(r['db_cpu_s'])}; "
                f"{r['statements_per_line']:.2f} SQL statements per line; paid {r['paid_minor'] / 100:,.2f} USD "
                f"= eligible; ledger_check clean ({r['ledger_check_s']:.1f} s); "
                f"load before the job {load_before}"
            )
        heavy = None
        if args.heavy_entries:
            heavy = heavy_expert(max(sizes, default=0) + 1, args.heavy_entries, timezone.now())
    finally:
        load_end = _load()
        if not args.keep:
            drop_database(db)

    print()
    print(
        f"{'experts':>9} {'job s':>8} {'lines/s':>9} {'peak RSS MB':>12} "
        f"{'RSS at start MB':>16} {'traced peak MB':>15}"
    )
    for r in results:
        traced = r["traced_peak_mb"]
        print(
            f"{r['size']:>9,} {r['wall_s']:>8.1f} {r['size'] / r['wall_s']:>9,.0f} "
            f"{r['rss_peak_mb']:>12.1f} {r['rss_before_mb']:>16.1f} "
            f"{'-' if traced is None else f'{traced:.2f}':>15}"
        )
    print()
    print("Targets:")
    if len(results) >= 2:
        small, big = results[0], results[-1]
        scale = big["size"] / small["size"]
        time_ratio = big["wall_s"] / small["wall_s"]
        mem_ratio = big["rss_peak_mb"] / small["rss_peak_mb"]
        target_time = TIME_RATIO_TARGET * scale / 10
        print(
            f"  [{'met    ' if time_ratio <= target_time else 'NOT MET'}] time ratio for "
            f"{scale:.0f}x the experts <= {target_time:.1f}: {time_ratio:.2f} "
            f"(load-insensitive: the job process's CPU time "
            f"{big['cpu_s'] / small['cpu_s']:.2f}, with its PostgreSQL backend's "
            f"{_ratio(big, small, lambda r: r['cpu_s'] + r['db_cpu_s'])}; SQL statements per "
            f"line {small['statements_per_line']:.2f} -> {big['statements_per_line']:.2f})"
        )
        print(
            f"  [{'met    ' if mem_ratio <= MEMORY_RATIO_TARGET else 'NOT MET'}] peak memory "
            f"ratio <= {MEMORY_RATIO_TARGET}: {mem_ratio:.2f} "
            f"({small['rss_peak_mb']:.1f} -> {big['rss_peak_mb']:.1f} MB peak RSS)"
        )
        if small["traced_peak_mb"] and big["traced_peak_mb"]:
            print(
                f"            Python allocations' peak ratio: "
                f"{big['traced_peak_mb'] / small['traced_peak_mb']:.2f} "
                f"({small['traced_peak_mb']:.2f} -> {big['traced_peak_mb']:.2f} MB)"
            )
    if heavy:
        ok = heavy["warm_median_ms"] < BALANCE_TARGET_MS
        print(
            f"  [{'met    ' if ok else 'NOT MET'}] available balance of an expert with "
            f"{heavy['entries']:,} ledger entries < {BALANCE_TARGET_MS:.0f} ms: median "
            f"{heavy['warm_median_ms']:.2f} ms, p95 {heavy['warm_p95_ms']:.2f} ms, max "
            f"{heavy['warm_max_ms']:.2f} ms ({heavy['queries']} queries)"
        )
        print(
            f"      before the job moved its cursor: {heavy['cold_median_ms']:.1f} ms; "
            f"the full sum over every entry: {heavy['full_sum_median_ms']:.1f} ms; "
            f"the job paid {heavy['available_before_minor'] / 100:,.2f} USD on "
            f"{heavy['paid_lines']} line in {heavy['job_s']:.1f} s (iterating all accounts)"
        )
    print(f"load average at end {load_end}")
    return 0


if __name__ == "__main__":
    if "--job" in sys.argv:
        configure_environment(os.environ.get("EXPERTLINE_VAR_DIR") or tempfile.mkdtemp())
    sys.exit(main())
