"""Earnings recompute benchmark: `manage.py earnings_recompute`'s work (premium.
earnings_recompute.recompute_all, the same rule functions as the credits) for 2,000 experts
with 200 credits each, then 4,000 with 200.

    python benchmarks/bench_earnings.py [--sizes 2000,4000] [--credits 200] [--keep]

Steps:
  1. its own PostgreSQL database (`expertline_bench_earnings`), dropped, created, migrated;
  2. for each size: the tables emptied, then N experts seeded with COPY: a user and expert
     profile, one count-limited boost (earned at the 100th credit, good for 50 credits),
     200 Pay-Per-Question questions each credited as a balanced ledger transaction with the
     level and boosts the rules give (so a correct recompute finds no difference), and the
     payable account with its balance; a few credits are then altered on purpose;
  3. the recompute in a fresh child process: wall and CPU time, and the child's peak RSS
     (so each size's memory is its own), and the differences it found (exactly the altered).

It prints figures (and `uptime`, as the machine is shared); it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_payouts  # noqa: E402
from benchmarks.bench_payouts import copy_rows  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/expertline_bench_earnings"
CURRENCY = "USD"
ALTERED = 5  # credits altered on purpose: the recompute must report each


def configure_environment(var_dir: str) -> None:
    bench_payouts.configure_environment(var_dir, DEFAULT_DATABASE_URL)


def _admin_connection(db: dict[str, Any]) -> Any:
    import psycopg

    return psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def database(url: str) -> dict[str, Any]:
    import dj_database_url

    db = dict(dj_database_url.parse(url))
    if "postgresql" not in str(db.get("ENGINE")) or "bench" not in str(db.get("NAME")):
        raise SystemExit(f"bench: need a PostgreSQL database whose name contains 'bench': {url}")
    return db


def recreate_database(db: dict[str, Any], *, create: bool = True) -> None:
    from psycopg import sql

    with _admin_connection(db) as conn:
        name = sql.Identifier(db["NAME"])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def model_rows(model: Any, template: Any, n: int, fill: Any) -> tuple[list[str], Iterable[Any]]:
    """COPY rows of `model` from a template instance's saved values, `fill(i, row, at)` sets
    the varying columns of row i."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields]
    columns = [f.column for f in fields]
    base = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields]
    at = {c: i for i, c in enumerate(columns)}

    def rows() -> Iterable[tuple[Any, ...]]:
        for i in range(n):
            row = list(base)
            fill(i, row, at)
            yield tuple(row)

    return columns, rows()


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE marketplace_user, marketplace_category, payments_ledgeraccount, "
            "payments_ledgertransaction, payments_ledgerentry RESTART IDENTITY CASCADE"
        )


# --- Seed -------------------------------------------------------------------------------


def seed(n_experts: int, per_expert: int) -> dict[str, Any]:
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from marketplace.models import Category, ExpertProfile, PayoutBoost, User
    from marketplace.money import Money
    from marketplace.payout_levels import BoostFact, payout_level
    from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
    from questions.models import Question, QuestionStatus

    truncate()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.monotonic()
    with transaction.atomic():
        category = Category.objects.create(slug="bench", name="Bench")
        customer = User.objects.create(email="bench-customer@example.com")
        costs = LedgerAccount.objects.create(key="platform:member_costs", currency=CURRENCY)
        first_uid = customer.pk + 1

        def user_fill(i: int, row: list[Any], at: dict[str, int]) -> None:
            uid = first_uid + i
            row[at["id"]] = uid
            row[at["email"]] = f"bench-expert-{uid}@example.com"
            row[at["date_joined"]] = t0

        cols, rows = model_rows(User, User(email="x", password="!"), n_experts, user_fill)
        copy_rows(User._meta.db_table, cols, rows)

        def profile_fill(i: int, row: list[Any], at: dict[str, int]) -> None:
            row[at["id"]] = i + 1
            row[at["user_id"]] = first_uid + i
            row[at["verified_at"]] = t0
            row[at["payout_boosts_earned"]] = 1

        cols, rows = model_rows(ExpertProfile, ExpertProfile(), n_experts, profile_fill)
        copy_rows(ExpertProfile._meta.db_table, cols, rows)

        def credit_time(k: int) -> datetime:
            return t0 + timedelta(hours=k)

        boost_at = credit_time(100)  # earned just before the 101st credit

        def boost_fill(i: int, row: list[Any], at: dict[str, int]) -> None:
            row[at["id"]] = i + 1
            row[at["expert_id"]] = first_uid + i
            row[at["kind"]] = "auto_call"
            row[at["source"]] = "offer-bench"
            row[at["raise_bp"]] = 1000
            row[at["earned_at"]] = boost_at - timedelta(seconds=1)
            row[at["credits_total"]] = 50
            row[at["credits_used"]] = 50

        template = PayoutBoost(raise_bp=0, earned_at=t0)
        cols, rows = model_rows(PayoutBoost, template, n_experts, boost_fill)
        copy_rows(PayoutBoost._meta.db_table, cols, rows)

        def price(i: int, k: int) -> int:
            return 500 + ((i * 7919 + k * 104729) % 19_500)

        n_questions = n_experts * per_expert

        def question_fill(j: int, row: list[Any], at: dict[str, int]) -> None:
            i, k = divmod(j, per_expert)
            row[at["id"]] = j + 1
            row[at["customer_id"]] = customer.pk
            row[at["category_id"]] = category.pk
            row[at["expert_id"]] = first_uid + i
            row[at["price_minor"]] = price(i, k)
            row[at["created_at"]] = credit_time(k)
            row[at["credited_at"]] = credit_time(k)

        template_q = Question(
            title="Bench",
            body="Bench",
            summary="Bench",
            price_minor=0,
            currency=CURRENCY,
            status=QuestionStatus.CLOSED,
        )
        cols, rows = model_rows(Question, template_q, n_questions, question_fill)
        copy_rows(Question._meta.db_table, cols, rows)

        # Each credit as the rules give it: 50%, and 60% for the 50 credits the boost covers.
        balances = [0] * n_experts

        def txns() -> Iterable[tuple[Any, ...]]:
            for i in range(n_experts):
                uid = first_uid + i
                boost = BoostFact(
                    id=i + 1,
                    kind="auto_call",
                    raise_bp=1000,
                    earned_at=boost_at - timedelta(seconds=1),
                    credits_total=50,
                    source="offer-bench",
                )
                used = 0
                for k in range(per_expert):
                    from dataclasses import replace

                    level = payout_level(
                        base_bp=5000, boosts=[replace(boost, credits_used=used)], at=credit_time(k)
                    )
                    used += len(level.boosts)
                    amount = Money(price(i, k), CURRENCY).share(level.level_bp).amount
                    balances[i] += amount
                    qid = i * per_expert + k + 1
                    details = {
                        "expert": uid,
                        "amount": amount,
                        "question": qid,
                        "trigger": "rating",
                        "price_minor": price(i, k),
                        **level.details(),
                    }
                    yield (
                        qid,
                        f"question-{qid}-credit",
                        "credit",
                        f"Question #{qid}",
                        json.dumps(details),
                        None,
                        None,
                        credit_time(k),
                    )

        copy_rows(
            LedgerTransaction._meta.db_table,
            ["id", "key", "kind", "memo", "details", "payment_id", "reverses_id", "created_at"],
            txns(),
        )

        def accounts() -> Iterable[tuple[Any, ...]]:
            for i in range(n_experts):
                uid = first_uid + i
                yield (costs.pk + 1 + i, f"expert:{uid}:payable", CURRENCY, uid, -balances[i])

        copy_rows(
            LedgerAccount._meta.db_table,
            ["id", "key", "currency", "user_id", "balance_minor"],
            accounts(),
        )

        # Read before the COPY: the connection cannot query while it copies.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, (details->>'amount')::bigint, (details->>'expert')::bigint "
                "FROM payments_ledgertransaction ORDER BY id"
            )
            credit_rows = cursor.fetchall()

        def entries() -> Iterable[tuple[Any, ...]]:
            eid = 1
            for tid, amount, uid in credit_rows:
                yield (eid, tid, costs.pk, amount, CURRENCY)
                yield (eid + 1, tid, costs.pk + 1 + (uid - first_uid), -amount, CURRENCY)
                eid += 2

        copy_rows(
            LedgerEntry._meta.db_table,
            ["id", "transaction_id", "account_id", "amount_minor", "currency"],
            entries(),
        )
        LedgerAccount.objects.filter(pk=costs.pk).update(balance_minor=sum(balances))
        # Altered on purpose: a question's price changed after its credit.
        for j in range(ALTERED):
            Question.objects.filter(pk=1 + j * per_expert * (n_experts // ALTERED)).update(
                price_minor=20_000
            )
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(
                no_style(),
                [User, ExpertProfile, PayoutBoost, Question, LedgerTransaction, LedgerAccount],
            ):
                cursor.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return {"seed_s": time.monotonic() - started, "credits": n_questions}


# --- The recompute in a child process ------------------------------------------------------


def child() -> None:
    import django

    django.setup()
    from premium.earnings_recompute import recompute_all

    # A child's getrusage maxrss carries the parent's peak at fork (it survives exec): reset
    # the peak (VmHWM) so it is the recompute's own.
    reset = _reset_peak_rss()
    rss0 = _status_mb("VmRSS")
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    totals = recompute_all()
    wall = time.monotonic() - wall0
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": time.process_time() - cpu0,
                "rss_before_mb": rss0,
                "rss_peak_mb": _status_mb("VmHWM")
                if reset
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "experts": totals.experts,
                "credits": totals.credits,
                "differences": len(totals.differences),
                "kinds": sorted({d.what for d in totals.differences}),
            }
        )
    )


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_child() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: the recompute failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,4000")
    parser.add_argument("--credits", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-earnings-") as var_dir:
        configure_environment(var_dir)
        if args.child:
            child()
            return
        db = database(os.environ["DATABASE_URL"])
        recreate_database(db)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        print(f"machine: {os.cpu_count()} CPUs; {uptime()}")
        results = []
        for size in [int(s) for s in args.sizes.split(",")]:
            seeded = seed(size, args.credits)
            from django.db import connections

            connections.close_all()
            before = uptime()
            result = run_child()
            results.append((size, result))
            print(
                f"{size:>6} experts x {args.credits} credits = {result['credits']:>9,} credits: "
                f"recompute {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, "
                f"peak RSS {result['rss_peak_mb']:.0f} MB (at start {result['rss_before_mb']:.0f}); "
                f"differences {result['differences']} (altered {ALTERED}: {result['kinds']}); "
                f"seeded in {seeded['seed_s']:.0f} s\n        load before: {before}"
            )
        if len(results) == 2:
            (n1, r1), (n2, r2) = results
            print(
                f"time ratio {r2['wall_s'] / r1['wall_s']:.2f} (linear: {n2 / n1:.1f}); "
                f"CPU ratio {r2['cpu_s'] / r1['cpu_s']:.2f}; "
                f"peak memory ratio {r2['rss_peak_mb'] / r1['rss_peak_mb']:.2f} (flat: 1.0)"
            )
        print(f"after: {uptime()}")
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(db, create=False)


if __name__ == "__main__":
    main()
