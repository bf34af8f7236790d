"""Money benchmark: paid question posts and premium offer accepts over HTTP, against the floor.

    python benchmarks/bench_money.py [--count 2000] [--clients 16] [--benchmarks post,accept] ...

Steps (see benchmarks/MONEY.md):
  1. its own PostgreSQL database (`expertline_bench_money`), dropped, created and migrated;
     Redis databases 11 (cache, sessions) and 10 (Celery broker) flushed;
  2. seed: the demo categories with one phone-call service each, 16 customers (one per
     client) with a 4242 card saved through the local gateway (payments.services.card_save_local)
     and an API token each, one verified expert in every category with the premium tool;
  3. gunicorn (sync workers, as many as the Dockerfile runs) with development settings (DJANGO_ENV unset, so
     the LOCAL payment gateway) but DEBUG off, persistent database connections
     (DATABASE_URL: CONN_MAX_AGE=60), Redis cache and sessions, a Redis Celery broker, and
     LOCAL_GATEWAY_WEBHOOK_URL pointing at its own /payments/webhooks/stripe/; a real
     Celery worker on that broker POSTs the gateway's signed events back and processes them;
  4. SQL queries per post and per accept, in-process (django.test.Client, warm request);
  5. 2,000 paid question posts (POST /api/questions/), 16 client threads with http.client
     keep-alive connections, every answer checked (201, open, payment succeeded);
  6. 2,000 distinct `sent` offers prepared (a few through premium.services.offer_send, the
     rest with bulk_create), then accepted (POST /api/offers/<id>/accept/) by their customers,
     every answer checked (200, accepted, payment succeeded);
  7. the floor page (/bench/floor/) with wrk on the same server, 16 connections, 10 s;
  8. after each run the worker drains its queue; then webhook events stored and processed,
     `payments.ledger.check()` and the data are checked, and the figures printed against the
     targets (>= 0.15 x the floor's throughput; <= 25 queries per post, <= 30 per accept).

It prints figures; it is not a pass/fail test (it exits non-zero only when it cannot run).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import io
import json
import os
import pstats
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_pages as bp  # noqa: E402

if TYPE_CHECKING:
    from marketplace.models import Category, User
    from premium.models import ServiceTemplate

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/expertline_bench_money"
# Redis databases of their own: tests use 15/14, the page benchmark 13/12.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/10"
WEBHOOK_PATH = "/payments/webhooks/stripe/"
FLOOR_PATH = "/bench/floor/"
CARD_NUMBER = "4242424242424242"
CUSTOMER_EMAIL = "bench-money-customer-{:02d}@example.com"
EXPERT_EMAIL = "bench-money-expert@example.com"
RANDOM_SEED = 20_240_602
# In-process samples: one warm-up, one counted, the rest timed (best of).
IN_PROCESS_SAMPLES = 5

# Targets of the issues.
TARGET_RATIO = 0.15  # throughput / the floor's, same run, same server
TARGET_POST_QUERIES = 25
TARGET_ACCEPT_QUERIES = 30
OTHER_BENCHMARKS = "bench_pages|bench_payouts"


# --- Command line ----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench_money.py",
        description="Benchmark paid question posts and premium offer accepts over HTTP "
        "(gunicorn, PostgreSQL, the local gateway with webhooks) against the floor page.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--count", type=int, default=2000, help="posts, and offers accepted")
    p.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    p.add_argument(
        "--benchmarks",
        default="post,accept",
        help="comma-separated subset of: post,accept (the floor always runs)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=bp.production_workers(),
        help="gunicorn workers (default: as the Dockerfile runs production)",
    )
    p.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    p.add_argument("--threads", type=int, default=4, help="threads per worker with gthread")
    p.add_argument(
        "--no-access-log",
        action="store_true",
        help="do not write gunicorn's access log (production writes one)",
    )
    p.add_argument("--celery-pool", choices=["prefork", "solo"], default="prefork")
    p.add_argument("--celery-concurrency", type=int, default=1, help="Celery worker processes")
    p.add_argument("--floor-duration", type=float, default=10.0, help="seconds of the floor run")
    p.add_argument(
        "--floor-warmup", type=float, default=2.0, help="floor warm-up seconds (0: none)"
    )
    p.add_argument(
        "--floor-conns", type=int, default=0, help="wrk connections for the floor (0: --clients)"
    )
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (-t)")
    p.add_argument(
        "--service-offers",
        type=int,
        default=1,
        help="offers per client made through premium.services.offer_send (the rest: bulk_create)",
    )
    p.add_argument(
        "--wait-others",
        type=float,
        default=600,
        metavar="SECONDS",
        help=f"wait up to this long for other benchmarks ({OTHER_BENCHMARKS}) to finish",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=900,
        metavar="SECONDS",
        help="wait up to this long for the Celery worker to drain after each run",
    )
    p.add_argument("--request-timeout", type=float, default=120, help="seconds per HTTP request")
    p.add_argument(
        "--show-queries", action="store_true", help="print the SQL of a post and an accept"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the timed in-process post and accept requests and print the app's "
        "most expensive functions",
    )
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and re-created")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="cache and sessions (flushed)")
    p.add_argument("--broker-url", default=DEFAULT_BROKER_URL, help="Celery broker (flushed)")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the temporary folder (gunicorn and Celery logs, emails) and print its path",
    )
    args = p.parse_args(argv)
    wanted = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    unknown = set(wanted) - {"post", "accept"}
    if unknown or not wanted:
        p.error(f"--benchmarks takes post and/or accept, not {sorted(unknown) or 'nothing'}")
    args.wanted = wanted
    if args.clients < 1 or args.count < args.clients:
        p.error("need --clients >= 1 and --count >= --clients")
    if args.redis_url.rstrip("/") == args.broker_url.rstrip("/"):
        p.error("--redis-url and --broker-url must be different Redis databases")
    args.floor_conns = args.floor_conns or args.clients
    return args


# --- Environment --------------------------------------------------------------------------


def configure_environment(args: argparse.Namespace, var_dir: Path, port: int) -> None:
    """Development settings (the local gateway) made production-like: DEBUG off, persistent
    database connections, Redis cache/sessions and broker, webhooks posted to the server."""
    env = os.environ
    env["DATABASE_URL"] = args.database_url
    env["REDIS_URL"] = args.redis_url
    env["CELERY_BROKER_URL"] = args.broker_url
    env["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
    env["SECRET_KEY"] = "bench-" + secrets.token_urlsafe(48)
    env["STRIPE_WEBHOOK_SECRET"] = "whsec_bench_" + secrets.token_hex(16)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    env["EXPERTLINE_BENCHMARK_VIEWS"] = "1"
    env["EXPERTLINE_VAR_DIR"] = str(var_dir)
    env["LOCAL_GATEWAY_WEBHOOK_URL"] = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    # The seeding sends every offer as the one expert through offer_send (rate limited per
    # expert per hour); sending offers is not what is measured.
    env["EXPERTLINE_OFFERS_PER_HOUR"] = "1000000"
    # DJANGO_ENV=production refuses the local gateway: development settings, DEBUG off.
    for name in (
        "DJANGO_ENV",
        "DEBUG",
        "EXPERTLINE_TESTING",
        "CELERY_TASK_ALWAYS_EAGER",
        "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_API_BASE",
        "DB_CONN_MAX_AGE",
    ):
        env.pop(name, None)


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def code_version() -> str:
    """The commit measured, and whether the working tree differs from it (others edit it)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        changed = len(dirty.splitlines())
        return f"git {head}" + (f" + {changed} changed files (working tree)" if changed else "")
    return "?"


def settings_summary() -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        "django_env": os.environ.get("DJANGO_ENV", "") or "unset (development settings)",
        "debug": settings.DEBUG,
        "gateway": settings.PAYMENTS_GATEWAY,
        "conn_max_age": db.get("CONN_MAX_AGE"),
        "database": db.get("NAME"),
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
        + " "
        + str(settings.CACHES["default"].get("LOCATION", "")),
        "session_engine": settings.SESSION_ENGINE.rsplit(".", 1)[-1],
        "broker": settings.CELERY_BROKER_URL,
        "webhook_url": settings.LOCAL_GATEWAY_WEBHOOK_URL,
    }


# --- Other benchmarks on the machine --------------------------------------------------------


def other_benchmarks() -> list[str]:
    """Other benchmark processes (`pgrep -af bench_pages|bench_payouts`), as 'pid command'."""
    try:
        done = subprocess.run(
            ["pgrep", "-af", OTHER_BENCHMARKS], capture_output=True, text=True, check=False
        )
    except OSError:
        return []
    mine = {os.getpid(), os.getppid()}
    out = []
    for line in done.stdout.splitlines():
        pid, _, cmd = line.partition(" ")
        if pid.isdigit() and int(pid) not in mine and _is_benchmark(cmd):
            out.append(f"{pid} {cmd[:80]}")
    return out


def _is_benchmark(cmd: str) -> bool:
    """Python running a benchmark script (not its PostgreSQL backends, named after its
    database, nor a linter or an editor given its file)."""
    words = cmd.split()
    if not words or "python" not in words[0].rsplit("/", 1)[-1]:
        return False
    rest = [w for w in words[1:] if not w.startswith("-") or w == "-m"]
    if not rest:
        return False
    target = rest[1] if rest[0] == "-m" and len(rest) > 1 else rest[0]
    return any(name in target for name in OTHER_BENCHMARKS.split("|"))


def wait_for_other_benchmarks(max_seconds: float) -> tuple[list[str], float, list[str]]:
    """(running at first, seconds waited, still running after the wait)."""
    first = other_benchmarks()
    started = time.monotonic()
    running = first
    last_note = 0.0
    while running and time.monotonic() - started < max_seconds:
        if time.monotonic() - last_note >= 30:
            print(
                f"==> other benchmarks running ({len(running)}: "
                + "; ".join(r.split(" ", 2)[0] + " " + _script(r) for r in running)
                + f"); waiting up to {max_seconds - (time.monotonic() - started):.0f} s more ...",
                flush=True,
            )
            last_note = time.monotonic()
        time.sleep(5)
        running = other_benchmarks()
    return first, time.monotonic() - started if first else 0.0, running


def _script(line: str) -> str:
    for word in line.split():
        if "bench_" in word:
            return word.rsplit("/", 1)[-1]
    return "?"


# --- Seed ----------------------------------------------------------------------------------


@dataclass
class Fixture:
    customers: list[User]
    tokens: list[str]
    expert: User
    categories: list[Category]
    templates: dict[int, ServiceTemplate]  # category id -> its phone-call service


def seed(args: argparse.Namespace) -> tuple[Fixture, float]:
    """Categories with a service each, the customers with a saved card and a token, the expert."""
    from django.test import override_settings
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from marketplace import demo
    from payments import services as payment_services
    from premium.models import ServiceKind, ServiceTemplate

    started = time.perf_counter()
    # Nobody signs in with a password here: a fast hasher keeps 17 accounts from taking seconds.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        categories = demo.categories_seed()
        templates = {
            c.pk: ServiceTemplate.objects.create(
                category=c,
                kind=ServiceKind.PHONE_CALL,
                name="Phone call",
                description="20 minutes on the phone with the expert",
                usual_price_minor=min(
                    max(c.phone_call_price_minor or 4900, c.offer_min_price_minor),
                    c.offer_max_price_minor,
                ),
                currency=c.currency,
            )
            for c in categories
        }
        expert = demo.expert_ensure(
            EXPERT_EMAIL,
            name="Bench Money Expert",
            headline="Answers in every category",
            categories=categories,
            premium_tool=True,
        )
        customers, tokens = [], []
        for i in range(args.clients):
            customer = demo.customer_ensure(CUSTOMER_EMAIL.format(i), name=f"Bench Customer {i}")
            # Through the local gateway: it knows the customer and the card.
            payment_services.card_save_local(
                user=customer,
                number=CARD_NUMBER,
                exp_month=12,
                exp_year=timezone.now().year + 5,
                cvc="123",
            )
            customers.append(customer)
            tokens.append(Token.objects.create(user=customer).key)
    fixture = Fixture(customers, tokens, expert, categories, templates)
    return fixture, time.perf_counter() - started


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(bp._sentence(rng) for _ in range(rng.randint(lo, hi)))


def post_payload(fx: Fixture, client: int, n: int, rng: random.Random) -> dict[str, Any]:
    category = fx.categories[(client + n) % len(fx.categories)]
    steps = (category.max_price_minor - category.min_price_minor) // 100
    return {
        "category": category.slug,
        "title": f"Bench {client:02d}-{n:04d}: {bp._sentence(rng, 4, 9)}"[:150],
        "body": _words(rng, 2, 5),
        "price_minor": category.min_price_minor + 100 * ((client * 7 + n) % (steps + 1)),
    }


# --- Offers to accept -----------------------------------------------------------------------


def _backdate_thread(question_id: int, picked_up_at: datetime) -> None:
    """Pick-up and the customer's replies an hour ago: the offer's delay has passed."""
    from questions.models import Message, Question

    Question.objects.filter(pk=question_id).update(picked_up_at=picked_up_at)
    for k, mid in enumerate(
        Message.objects.filter(question_id=question_id).order_by("id").values_list("id", flat=True)
    ):
        Message.objects.filter(pk=mid).update(created_at=picked_up_at + timedelta(minutes=5 + k))


def offer_through_services(fx: Fixture, question_id: int, customer: User) -> int:
    """Pick-up, two customer replies, then premium.services.offer_send: the real path."""
    from django.utils import timezone

    from premium import services as premium_services
    from questions import services as question_services
    from questions.models import Question

    question_services.question_pick_up(question_id=question_id, expert=fx.expert)
    for text in ("It started last week, after the update.", "Could we talk it through?"):
        question_services.message_post(question_id=question_id, author=customer, body=text)
    _backdate_thread(question_id, timezone.now() - timedelta(hours=1))
    question = Question.objects.get(pk=question_id)
    template = fx.templates[question.category_id]
    offer = premium_services.offer_send(
        expert=fx.expert,
        question_id=question_id,
        template_id=template.pk,
        price_minor=template.usual_price_minor,
        description="A 20-minute call to go through it together.",
    )
    return offer.pk


def offers_bulk(fx: Fixture, question_ids: list[int]) -> list[int]:
    """The same rows as offer_through_services, written in bulk: the question assigned to the
    expert (with its event), two customer replies after the pick-up, a `sent` offer (with its
    event) for the question's customer, and each question's version moved as the services do."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.db.models import F
    from django.utils import timezone

    from premium.models import Offer, OfferEvent, OfferKind, OfferStatus
    from questions.models import Message, Question, QuestionEvent, QuestionStatus
    from questions.services import render_message_html

    if not question_ids:
        return []
    now = timezone.now()
    picked = now - timedelta(hours=1)
    replies = ("It started last week, after the update.", "Could we talk it through?")
    with transaction.atomic():
        rows = list(
            Question.objects.select_for_update()
            .filter(pk__in=question_ids, status=QuestionStatus.OPEN, expert__isnull=True)
            .values_list("id", "customer_id", "category_id", "currency")
        )
        if len(rows) != len(question_ids):
            raise SystemExit(f"bench: {len(question_ids) - len(rows)} questions are not open")
        ids = [r[0] for r in rows]
        Question.objects.filter(pk__in=ids).update(
            status=QuestionStatus.ASSIGNED,
            expert=fx.expert,
            picked_up_at=picked,
            version=F("version") + 1,
        )
        QuestionEvent.objects.bulk_create(
            QuestionEvent(
                question_id=qid,
                actor=fx.expert,
                from_status=QuestionStatus.OPEN,
                to_status=QuestionStatus.ASSIGNED,
                created_at=picked,
            )
            for qid in ids
        )
        Message.objects.bulk_create(
            Message(
                question_id=qid,
                author_id=customer_id,
                body=text,
                body_html=render_message_html(text),
                created_at=picked + timedelta(minutes=5 + k),
            )
            for qid, customer_id, _, _ in rows
            for k, text in enumerate(replies)
        )
        qt = connection.ops.quote_name(Question._meta.db_table)
        mt = connection.ops.quote_name(Message._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qt} AS q SET last_message_id = m.last_id,"
                f" message_count = q.message_count + m.n, version = q.version + m.n"
                f" FROM (SELECT question_id, MAX(id) AS last_id, COUNT(*) AS n FROM {mt}"
                f" WHERE question_id = ANY(%s) GROUP BY question_id) AS m"
                f" WHERE q.id = m.question_id",
                [ids],
            )
        sent = now - timedelta(minutes=10)
        expires = sent + timedelta(hours=settings.EXPERTLINE_OFFER_EXPIRY_HOURS)
        offers = Offer.objects.bulk_create(
            Offer(
                question_id=qid,
                kind=OfferKind.EXPERT,
                expert=fx.expert,
                customer_id=customer_id,
                template=fx.templates[category_id],
                service_kind=fx.templates[category_id].kind,
                service_name=fx.templates[category_id].name,
                description="A 20-minute call to go through it together.",
                price_minor=fx.templates[category_id].usual_price_minor,
                currency=currency,
                status=OfferStatus.SENT,
                sent_at=sent,
                expires_at=expires,
            )
            for qid, customer_id, category_id, currency in rows
        )
        OfferEvent.objects.bulk_create(
            OfferEvent(offer=o, actor=fx.expert, to_status=OfferStatus.SENT, created_at=sent)
            for o in offers
        )
        Question.objects.filter(pk__in=ids).update(version=F("version") + 1)  # question_touch
    return [o.pk for o in offers]


def offers_prepare(args: argparse.Namespace, fx: Fixture, per_client: list[int]) -> dict[str, Any]:
    """`per_client[c]` sent offers for each client, on open paid questions of that client (the
    posts of the post benchmark; missing ones are asked through questions.services now)."""
    from django.db import connection

    from premium.models import Offer, OfferStatus
    from questions import services as question_services
    from questions.models import Question, QuestionStatus

    started = time.perf_counter()
    rng = random.Random(RANDOM_SEED + 1)
    asked = via_services = 0
    offers: list[list[int]] = []
    for c, customer in enumerate(fx.customers):
        want = per_client[c]
        qids = list(
            Question.objects.filter(
                customer=customer,
                status=QuestionStatus.OPEN,
                expert__isnull=True,
                is_member_question=False,
            )
            .order_by("id")
            .values_list("id", flat=True)[:want]
        )
        for n in range(want - len(qids)):
            payload = post_payload(fx, c, 10_000 + n, rng)
            category = next(x for x in fx.categories if x.slug == payload["category"])
            question, _ = question_services.question_ask(
                customer=customer,
                category=category,
                title=payload["title"],
                body=payload["body"],
                price_minor=payload["price_minor"],
            )
            if question.status != QuestionStatus.OPEN:
                raise SystemExit(f"bench: a seeded question is {question.status}, not open")
            qids.append(question.pk)
            asked += 1
        k = min(args.service_offers, want)
        mine = [offer_through_services(fx, qid, customer) for qid in qids[:k]]
        via_services += k
        mine += offers_bulk(fx, qids[k:])
        offers.append(mine)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # Every offer: sent, not expired, for the client that accepts it, on the expert's question.
    flat = [o for mine in offers for o in mine]
    ok = Offer.objects.filter(
        pk__in=flat,
        status=OfferStatus.SENT,
        question__expert=fx.expert,
        question__status=QuestionStatus.ASSIGNED,
        question__message_count__gte=2,
    ).count()
    wrong_customer = sum(
        Offer.objects.filter(pk__in=mine).exclude(customer=fx.customers[c]).count()
        for c, mine in enumerate(offers)
    )
    if ok != len(flat) or wrong_customer or len(set(flat)) != len(flat):
        raise SystemExit(
            f"bench: offer seed check failed: {ok} of {len(flat)} valid, "
            f"{wrong_customer} with another customer"
        )
    return {
        "offers": offers,
        "via_services": via_services,
        "bulk": len(flat) - via_services,
        "questions_asked": asked,
        "seconds": time.perf_counter() - started,
    }


# --- In-process query counts --------------------------------------------------------------


@dataclass
class QueryCount:
    label: str
    count: int
    sql: list[str]
    ms_in_process: float
    profile: str = ""
    # The local gateway's own statements (its storage stands in for Stripe's servers:
    # HTTP calls with Stripe keys), its BEGIN/COMMIT included; `count` is ours alone.
    gateway: int = 0


_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"([^"]+)"')


def sql_breakdown(statements: list[str]) -> tuple[int, list[tuple[str, int]]]:
    """(transaction-control statements, [(table, data statements)] most first)."""
    control = 0
    tables: Counter[str] = Counter()
    for statement in statements:
        if statement.lstrip().split(None, 1)[0].upper() in _CONTROL:
            control += 1
            continue
        found = _TABLE.search(statement)
        tables[found.group(1) if found else "?"] += 1
    return control, tables.most_common()


def _profile_text(profiler: cProfile.Profile, n: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"/(payments|questions|premium|marketplace)/", n)
    stats.sort_stats("tottime").print_stats(12)
    return out.getvalue()


def count_queries(args: argparse.Namespace, fx: Fixture) -> dict[str, QueryCount]:
    """SQL statements of one warm post and one warm accept (the second request), and the
    fastest in-process time of the next ones; client 0's token. The posts' questions then
    carry the offers accepted here."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from payments.gateway import local as local_gateway

    client = Client(HTTP_HOST="127.0.0.1")
    headers = {"authorization": f"Token {fx.tokens[0]}"}
    rng = random.Random(RANDOM_SEED + 2)
    out: dict[str, QueryCount] = {}

    def post(n: int) -> int:
        payload = post_payload(fx, 0, 90_000 + n, rng)
        response = client.post(
            "/api/questions/", data=payload, content_type="application/json", headers=headers
        )
        problem = check_post(response.status_code, response.content)
        if problem:
            raise SystemExit(f"bench: in-process post: {problem}")
        return int(json.loads(response.content)["id"])

    def accept(offer_id: int) -> None:
        response = client.post(f"/api/offers/{offer_id}/accept/", headers=headers)
        problem = check_accept(response.status_code, response.content)
        if problem:
            raise SystemExit(f"bench: in-process accept: {problem}")

    def sample(label: str, call: Callable[[int], Any], items: list[int]) -> QueryCount:
        call(items[0])
        with (
            CaptureQueriesContext(connection) as ctx,
            local_gateway.statements_counted() as gateway,
        ):
            call(items[1])
        # Read now: the context reads the connection's log lazily, and the next requests
        # reset that log.
        captured = [q["sql"] for q in ctx.captured_queries]
        ours = len(captured) - gateway.statements
        best = float("inf")
        profiler = cProfile.Profile() if args.profile else None
        for item in items[2:]:
            t0 = time.perf_counter()
            if profiler:
                profiler.enable()
            call(item)
            if profiler:
                profiler.disable()
            best = min(best, (time.perf_counter() - t0) * 1000)
        return QueryCount(
            label,
            ours,
            captured,
            best,
            _profile_text(profiler, 25) if profiler else "",
            gateway=gateway.statements,
        )

    question_ids: list[int] = []
    out["post"] = sample(
        "Paid question post",
        lambda n: question_ids.append(post(n)),
        list(range(IN_PROCESS_SAMPLES)),
    )
    if "accept" in args.wanted:
        offer_ids = [offer_through_services(fx, qid, fx.customers[0]) for qid in question_ids]
        out["accept"] = sample("Offer accept", accept, offer_ids)
    return out


def settle_database(timeout: float = 120.0) -> str:
    """VACUUM (ANALYZE) the benchmark's database, then wait (up to `timeout` s) until no
    autovacuum worker works on it. Returns what it did, for the report."""
    from django.db import connection

    t0 = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    vacuumed = time.monotonic() - t0
    waited = 0.0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                "AND datname = current_database()"
            )
            (busy,) = cursor.fetchone()
        if not busy or waited >= timeout:
            break
        time.sleep(1.0)
        waited += 1.0
    left = f", {busy} autovacuum worker(s) still busy" if busy else ""
    return f"vacuum {vacuumed:.1f} s, autovacuum waited {waited:.0f} s{left}"


# --- HTTP clients ------------------------------------------------------------------------------


def check_post(status: int, body: bytes) -> str | None:
    if status != 201:
        return f"answered {status}, expected 201: {body[:200]!r}"
    data = json.loads(body)
    payment = data.get("payment") or {}
    if data.get("status") != "open" or payment.get("status") != "succeeded":
        return f"question {data.get('status')}, payment {payment.get('status')}: {body[:200]!r}"
    return None


def check_accept(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"answered {status}, expected 200: {body[:200]!r}"
    data = json.loads(body)
    payment = data.get("payment") or {}
    if data.get("status") != "accepted" or payment.get("status") != "succeeded":
        return f"offer {data.get('status')}, payment {payment.get('status')}: {body[:200]!r}"
    return None


@dataclass
class Job:
    path: str
    body: bytes
    check: Callable[[int, bytes], str | None]


@dataclass
class RunResult:
    label: str
    unit: str
    clients: int
    requests: int
    ok: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    error_samples: list[str] = field(default_factory=list)
    other_work_percent: float | None = None
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    backlog_after: int = 0  # Celery tasks waiting when the last response arrived
    drain_seconds: float = 0.0
    ratio: float = 0.0
    floor_rps: float = 0.0  # the floor it is compared with: the mean of those around it


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_clients(
    label: str, unit: str, port: int, jobs: list[list[Job]], tokens: list[str], timeout: float
) -> RunResult:
    """One thread per client, each with its own http.client connection (kept alive when the
    server allows it, reopened when the server closes it), its jobs in order."""
    n_clients = len(jobs)
    barrier = threading.Barrier(n_clients + 1)
    latencies: list[list[float]] = [[] for _ in range(n_clients)]
    problems: list[list[str]] = [[] for _ in range(n_clients)]
    ended = [0.0] * n_clients
    done = [0] * n_clients

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {
            "Authorization": f"Token {tokens[i]}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        barrier.wait()
        for job in jobs[i]:
            t0 = time.perf_counter()
            try:
                conn.request("POST", job.path, body=job.body, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                problems[i].append(f"POST {job.path}: {exc!r}")
                conn.close()
                done[i] += 1
                continue
            latencies[i].append((time.perf_counter() - t0) * 1000)
            try:
                problem = job.check(response.status, body)
            except ValueError as exc:  # not JSON
                problem = f"answered {response.status}, unreadable: {exc}"
            if problem:
                problems[i].append(f"POST {job.path}: {problem}")
            done[i] += 1
        conn.close()
        ended[i] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n_clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    total = sum(len(j) for j in jobs)
    last_note = started
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if time.perf_counter() - last_note >= 10:
            last_note = time.perf_counter()
            print(
                f"    {label}: {sum(done):,} of {total:,} in {last_note - started:.0f} s",
                flush=True,
            )
    seconds = max(ended) - started
    all_latencies = [x for chunk in latencies for x in chunk]
    errors = sum(len(p) for p in problems)
    return RunResult(
        label=label,
        unit=unit,
        clients=n_clients,
        requests=total,
        ok=total - errors,
        errors=errors,
        seconds=seconds,
        rps=(total - errors) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(all_latencies, 50),
        p99_ms=percentile(all_latencies, 99),
        max_ms=max(all_latencies, default=0.0),
        error_samples=[p for chunk in problems for p in chunk][:5],
    )


def split(count: int, clients: int) -> list[int]:
    """`count` requests shared by `clients` (the first ones take the remainder)."""
    return [count // clients + (1 if c < count % clients else 0) for c in range(clients)]


# --- Celery worker ------------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def celery_worker(args: argparse.Namespace, work_dir: Path) -> Iterator[Worker]:
    log = work_dir / "celery.log"
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "marketplace",
        "worker",
        f"--pool={args.celery_pool}",
        f"--concurrency={args.celery_concurrency}",
        "--loglevel=INFO",
        "-n",
        f"bench-money-{os.getpid()}@%h",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    worker = Worker(process, log)
    try:
        deadline = time.monotonic() + 90
        while " ready." not in bp._tail(log, 400):
            if process.poll() is not None:
                raise SystemExit(f"bench: the Celery worker exited:\n{bp._tail(log)}")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"bench: the Celery worker was not ready in 90 s:\n{bp._tail(log)}"
                )
            time.sleep(0.3)
        yield worker
    finally:
        _stop_worker(process)


def _stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # warm shutdown: the task at hand finishes
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # our own process group only
        process.wait(timeout=10)


def broker_backlog(broker_url: str) -> int:
    """Celery messages waiting in the broker (every priority list of every queue) or taken by
    the worker and not acknowledged yet, except those with an ETA still ahead (countdown
    tasks such as premium.notify_offer_due, which wait by design)."""
    import redis

    r = redis.Redis.from_url(broker_url)
    waiting = 0
    for key in r.scan_iter(count=500):
        name = key.decode(errors="replace")
        if name.startswith(("_kombu", "unacked")) or r.type(key) != b"list":
            continue
        waiting += int(r.llen(key))
    now = datetime.now().astimezone()
    for raw in r.hvals("unacked"):
        with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
            eta = json.loads(raw)[0]["headers"].get("eta")
            if eta and datetime.fromisoformat(eta) > now:
                continue
        waiting += 1
    return waiting


@dataclass
class WebhookState:
    emitted: int  # events the local gateway recorded
    stored: int  # WebhookEvent rows (received, verified)
    processed: int
    failed: int  # rows with an error recorded
    types: dict[str, int]


def webhook_state() -> WebhookState:
    from django.db.models import Count

    from payments.models import LocalGatewayObject, WebhookEvent

    rows = WebhookEvent.objects.all()
    return WebhookState(
        emitted=LocalGatewayObject.objects.filter(kind="event").count(),
        stored=rows.count(),
        processed=rows.filter(processed_at__isnull=False).count(),
        failed=rows.exclude(error="").count(),
        types={
            r["type"]: r["n"] for r in rows.values("type").annotate(n=Count("id")).order_by("type")
        },
    )


def drain(args: argparse.Namespace, what: str) -> tuple[float, bool]:
    """Wait until the worker has done everything queued and every gateway event is stored and
    processed. Returns (seconds, drained)."""
    started = time.monotonic()
    last_note = started
    quiet = 0
    while time.monotonic() - started < args.drain_timeout:
        backlog = broker_backlog(args.broker_url)
        state = webhook_state()
        settled = state.stored == state.emitted and state.processed == state.stored
        quiet = quiet + 1 if backlog == 0 and settled else 0
        if quiet >= 2:
            return time.monotonic() - started, True
        if time.monotonic() - last_note >= 15:
            last_note = time.monotonic()
            print(
                f"    draining after {what}: {backlog:,} tasks queued; webhooks "
                f"{state.stored:,}/{state.emitted:,} stored, {state.processed:,} processed",
                flush=True,
            )
        time.sleep(1)
    return time.monotonic() - started, False


class OtherWork(bp.OtherWork):
    """The page benchmark's measure of other work, with the Celery worker and this process
    (the client threads) counted as ours too."""

    def __init__(self, gunicorn_pid: int, celery_pid: int, db: dict[str, Any], redis: str) -> None:
        super().__init__(gunicorn_pid, db, redis)
        self.celery_pid = celery_pid

    def _ours(self) -> dict[int, str]:
        ours = super()._ours()
        ours.update(dict.fromkeys([self.celery_pid, *bp._children(self.celery_pid)], "celery"))
        ours[os.getpid()] = "clients"
        return ours


# --- Checks after the runs ------------------------------------------------------------------------


def data_check(fx: Fixture, posted: int, offers: list[int]) -> dict[str, Any]:
    from payments import ledger
    from payments.models import Payment, PaymentStatus
    from premium.models import Offer, OfferStatus
    from questions.models import Question

    customers = [c.pk for c in fx.customers]
    problems = ledger.check()
    return {
        "questions_of_clients": Question.objects.filter(customer__in=customers).count(),
        "posted_by_http": posted,
        "offers_accepted": Offer.objects.filter(pk__in=offers, status=OfferStatus.ACCEPTED).count(),
        "offers_total": len(offers),
        "offer_questions_credited": Question.objects.filter(
            offers__pk__in=offers, credited_at__isnull=False
        ).count(),
        "payments_succeeded": Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count(),
        "payments_other": Payment.objects.exclude(status=PaymentStatus.SUCCEEDED).count(),
        "ledger_problems": [f"{p.what}: {p.detail}" for p in problems],
    }


_TASK_DONE = re.compile(r"Task ([\w.]+)\[[^\]]*\] succeeded in ([\d.]+)s")


def worker_tasks(path: Path) -> dict[str, Any]:
    """Tasks the worker ran (from its log): per task name the count and mean time, and how
    many were retried or failed."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {"tasks": {}, "retried": 0, "failed": 0}
    seconds: dict[str, list[float]] = {}
    for name, took in _TASK_DONE.findall(text):
        seconds.setdefault(name, []).append(float(took))
    return {
        "tasks": {
            name: {"count": len(v), "mean_ms": 1000 * sum(v) / len(v)}
            for name, v in sorted(seconds.items(), key=lambda kv: -len(kv[1]))
        },
        "retried": len(re.findall(r"\] retry: ", text)),
        "failed": len(re.findall(r"\] raised unexpected", text)),
    }


def log_errors(path: Path) -> list[str]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if " ERROR" in line or "Traceback" in line]


# --- Report --------------------------------------------------------------------------------------


@dataclass
class Report:
    started_at: str
    machine: dict[str, Any]
    versions: dict[str, str]
    server: dict[str, Any]
    seed: dict[str, Any]
    queries: dict[str, dict[str, Any]]
    floor: dict[str, Any]
    runs: list[RunResult]
    webhooks: dict[str, Any]
    checks: dict[str, Any]
    targets: list[dict[str, Any]] = field(default_factory=list)


def evaluate_targets(report: Report) -> None:
    query_target = {"post": TARGET_POST_QUERIES, "accept": TARGET_ACCEPT_QUERIES}
    for run in report.runs:
        report.targets.append(
            {
                "what": f"{run.label}: throughput >= {TARGET_RATIO:g} x floor",
                "figure": f"{run.ratio:.3f} x floor ({run.rps:,.1f} {run.unit}/s vs "
                f"{run.floor_rps:,.0f} req/s)",
                "met": run.ratio >= TARGET_RATIO and run.errors == 0,
            }
        )
        key = "post" if run.unit == "posts" else "accept"
        q = report.queries.get(key)
        if q is not None:
            report.targets.append(
                {
                    "what": f"{run.label}: SQL queries per {key} <= {query_target[key]}",
                    "figure": f"{q['count']} queries of ours (+ {q['gateway']} of the "
                    "local gateway's storage, Stripe's side)",
                    "met": q["count"] <= query_target[key],
                }
            )


def print_report(report: Report, queries: dict[str, QueryCount], show_sql: bool) -> None:
    m, v, s = report.machine, report.versions, report.server
    print()
    print(f"Expertline money benchmark, {report.started_at}")
    print(
        f"machine   {m['nproc']} CPUs; load average (1/5/15 min) at start {m['load_start']}, "
        f"before the runs {m['load_before']}, after {m['load_after']}"
    )
    if m["others_first"]:
        print(
            f"          other benchmarks were running: {'; '.join(m['others_first'])}; "
            f"waited {m['others_waited']:.0f} s"
            + (
                f"; STILL RUNNING during the runs: {'; '.join(m['others_after_wait'])}"
                if m["others_after_wait"]
                else "; they had finished before the runs"
            )
        )
    else:
        print("          no other benchmark (bench_pages, bench_payouts) running at the start")
    if m["others_end"]:
        print(f"          other benchmarks running at the end: {'; '.join(m['others_end'])}")
    print(
        f"software  Python {v['python']}, Django {v['django']}, PostgreSQL {v['postgresql']}, "
        f"gunicorn {v['gunicorn']}, Celery {v['celery']}, {v['wrk']}; code {v['code']}"
    )
    print(
        f"server    gunicorn {s['workers']} {s['worker_class']} workers"
        + (f" x {s['threads']} threads" if s["worker_class"] == "gthread" else "")
        + f", access log {'off' if s['no_access_log'] else 'on'}; DJANGO_ENV {s['django_env']}"
        f" so the {s['gateway']} payment gateway, DEBUG {'on' if s['debug'] else 'off'},"
        f" persistent DB connections (CONN_MAX_AGE={s['conn_max_age']}),"
        f" {s['cache']} cache with {s['session_engine']} sessions"
    )
    print(
        f"          webhooks on: LOCAL_GATEWAY_WEBHOOK_URL={s['webhook_url']}; Celery worker "
        f"({s['celery_pool']} x {s['celery_concurrency']}) on broker {s['broker']}"
    )
    print(
        f"clients   {s['clients']} threads in this process, http.client keep-alive connections"
        + (
            " (sync workers close after each response: clients reconnect, as wrk does)"
            if s["worker_class"] == "sync"
            else ""
        )
    )
    sd = report.seed
    print(
        f"data      {sd['customers']} customers with a 4242 card saved at the local gateway and a "
        f"token, 1 expert (premium tool) in {sd['categories']} categories; seeded in "
        f"{sd['seconds']:.1f} s"
    )
    if "offers" in sd:
        print(
            f"          {sd['offers']:,} sent offers: {sd['via_services']} through "
            f"premium.services.offer_send, {sd['bulk']:,} bulk_create"
            + (
                f", {sd['questions_asked']:,} questions asked in-process"
                if sd["questions_asked"]
                else ""
            )
            + f" ({sd['prepare_seconds']:.1f} s)"
        )
    print()
    print("SQL queries per request (in-process, django.test.Client, warm second request):")
    for q in queries.values():
        print(
            f"  {q.label:<22} {q.count:>3} queries of ours + {q.gateway} of the local "
            f"gateway's storage (Stripe's side; 0 with Stripe)  {q.ms_in_process:6.1f} ms "
            f"in-process (best of {IN_PROCESS_SAMPLES - 2})"
        )
        control, tables = sql_breakdown(q.sql)
        print(
            f"      together {q.count + q.gateway} = {control} transaction control "
            f"(BEGIN/COMMIT/SAVEPOINT/RELEASE) + data statements: "
            + ", ".join(f"{table} {n}" for table, n in tables)
        )
        if show_sql:
            for n, statement in enumerate(q.sql, 1):
                print(f"      {n:>2}. {statement}")
    print()
    header = (
        f"{'benchmark':<24} {'conns':>5} {'requests':>8} {'errors':>6} {'req/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'floor':>6} {'x floor':>8} {'other work':>10}"
    )
    print(header)
    print("-" * len(header))
    f = report.floor
    print(
        f"{'Floor (wrk, between)':<24} {f['conns']:>5} {f['requests']:>8,} {f['errors']:>6} "
        f"{f['rps']:>8,.1f} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {f['rps']:>6,.0f} {1:>8.2f} "
        f"{_percent(f['other_work_percent']):>10}"
    )
    for r in report.runs:
        print(
            f"{r.label:<24} {r.clients:>5} {r.requests:>8,} {r.errors:>6} {r.rps:>8,.1f} "
            f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.floor_rps:>6,.0f} {r.ratio:>8.3f} "
            f"{_percent(r.other_work_percent):>10}"
        )
    runs_rps = ", ".join(f"{x:,.0f}" for x in f.get("runs_rps") or [])
    print(
        f"floor: each benchmark is compared with the mean of the floor's runs just before and "
        f"just after it (the floor's runs, in order: {runs_rps} req/s)"
    )
    print(
        "other work: CPU used by processes other than ours (gunicorn, the Celery worker, this "
        "client, wrk, the bench database's PostgreSQL backends, Redis), as a share of all CPUs"
    )
    print()
    floor_cpu = types.SimpleNamespace(cpu_ms_per_request=f.get("cpu_ms_per_request") or {})
    bp.print_cpu_per_request(
        [("Floor (wrk)", f["conns"], floor_cpu)] + [(r.label, r.clients, r) for r in report.runs]
    )
    for r in report.runs:
        print(
            f"  {r.label}: {r.requests:,} in {r.seconds:.1f} s, max {r.max_ms:.0f} ms; Celery "
            f"backlog at the last response {r.backlog_after:,} tasks, drained "
            f"{r.drain_seconds:.1f} s later: end to end (webhooks processed, emails sent) "
            f"{r.ok / (r.seconds + r.drain_seconds):,.1f} {r.unit}/s"
        )
        for sample in r.error_samples:
            print(f"    !! {sample}")
    print()
    w = report.webhooks
    print(
        f"Webhooks: the local gateway emitted {w['emitted']:,} events; {w['stored']:,} stored "
        f"(WebhookEvent), {w['processed']:,} processed, {w['failed']} with an error; "
        + ", ".join(f"{k} {n:,}" for k, n in w["types"].items())
        + ("" if w["drained"] else "  !! the worker had NOT drained when the report was made")
    )
    t = w["worker_tasks"]
    print(
        f"Celery worker: {sum(x['count'] for x in t['tasks'].values()):,} tasks run: "
        + ", ".join(
            f"{name} {x['count']:,} (mean {x['mean_ms']:.0f} ms)" for name, x in t["tasks"].items()
        )
        + f"; {t['retried']} retried, {t['failed']} failed"
    )
    if w["worker_errors"]:
        print(f"  !! the Celery worker logged {len(w['worker_errors'])} error lines, e.g.:")
        for line in w["worker_errors"][:3]:
            print(f"     {line[:200]}")
    c = report.checks
    print(f"Ledger: payments.ledger.check() -> {c['ledger_problems']!r}")
    print(
        f"Data: {c['questions_of_clients']:,} questions of the clients "
        f"({c['posted_by_http']:,} posted over HTTP); offers accepted "
        f"{c['offers_accepted']:,} of {c['offers_total']:,}, their questions credited "
        f"{c['offer_questions_credited']:,}; payments succeeded {c['payments_succeeded']:,}, "
        f"other {c['payments_other']}"
    )
    if c.get("server_errors"):
        print(f"  !! gunicorn logged errors:\n{c['server_errors']}")
    print()
    print("Targets:")
    for t in report.targets:
        mark = "met    " if t["met"] else "NOT MET"
        print(f"  [{mark}] {t['what']:<52} {t['figure']}")
    met = sum(t["met"] for t in report.targets)
    print(f"  {met} of {len(report.targets)} targets met")
    for q in queries.values():
        if q.profile:
            print()
            print(f"Profile of {IN_PROCESS_SAMPLES - 2} in-process {q.label.lower()} requests:")
            print(q.profile)
    print()


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}%"


# --- Main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = bp._load()
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("bench: wrk is not installed (Debian: apt-get install wrk)")
    # Before anything heavy: migrating and seeding would disturb another benchmark too.
    others = wait_for_other_benchmarks(args.wait_others)
    work_dir = Path(tempfile.mkdtemp(prefix="expertline-bench-money-"))
    try:
        port = bp.free_port()
        configure_environment(args, work_dir, port)
        db = bp.database_settings(os.environ["DATABASE_URL"])
        bp.ensure_database(db, fresh=True)
        print(
            f"==> database {db['NAME']} on {db.get('HOST')}:{db.get('PORT')}: re-created",
            flush=True,
        )
        redis_flush(args.redis_url)
        redis_flush(args.broker_url)
        print(f"==> Redis {args.redis_url} and {args.broker_url} flushed", flush=True)
        return run(args, wrk, work_dir, port, db, started_at, load_start, others)
    finally:
        if args.keep_logs:
            print(f"==> logs kept in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def run(
    args: argparse.Namespace,
    wrk: str,
    work_dir: Path,
    port: int,
    db: dict[str, Any],
    started_at: str,
    load_start: str,
    others_at_start: tuple[list[str], float, list[str]],
) -> int:
    import celery
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from questions.models import Question

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"==> migrate: {time.perf_counter() - t0:.1f} s", flush=True)
    fx, seed_seconds = seed(args)
    print(
        f"==> seeded {len(fx.customers)} customers with cards and tokens, 1 expert: "
        f"{seed_seconds:.1f} s",
        flush=True,
    )
    seed_info: dict[str, Any] = {
        "customers": len(fx.customers),
        "categories": len(fx.categories),
        "seconds": seed_seconds,
    }
    # Seeding enqueued nothing we want: every task from here on belongs to the runs.
    redis_flush(args.broker_url)
    server_info = {
        **settings_summary(),
        "workers": args.workers,
        "worker_class": args.worker_class,
        "threads": args.threads,
        "no_access_log": args.no_access_log,
        "celery_pool": args.celery_pool,
        "celery_concurrency": args.celery_concurrency,
        "clients": args.clients,
    }
    info_versions = {
        **bp.versions(wrk),
        "celery": str(celery.__version__),
        "code": code_version(),
    }
    shares = split(args.count, args.clients)
    runs: list[RunResult] = []
    posted = 0
    offer_ids: list[int] = []
    gunicorn_args = argparse.Namespace(
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        no_access_log=args.no_access_log,
    )
    with contextlib.ExitStack() as stack:
        # The port was chosen first: the webhook address names it.
        with mock.patch.object(bp, "free_port", return_value=port):
            server = stack.enter_context(bp.gunicorn(gunicorn_args, work_dir))
        print(f"==> gunicorn on http://127.0.0.1:{port} (pid {server.process.pid})", flush=True)
        worker = stack.enter_context(celery_worker(args, work_dir))
        print(f"==> Celery worker ready (pid {worker.process.pid})", flush=True)

        # Again before measuring (one may have started meanwhile), within what is left of
        # the --wait-others budget.
        first, waited = others_at_start[0], others_at_start[1]
        again, waited_again, others_after_wait = wait_for_other_benchmarks(
            max(0.0, args.wait_others - waited)
        )
        others_first = first + [o for o in again if o not in first]
        waited += waited_again
        if others_after_wait:
            print(
                f"==> !! other benchmarks still running after {waited:.0f} s; measuring anyway",
                flush=True,
            )
        load_before = bp._load()
        others = OtherWork(server.process.pid, worker.process.pid, db, args.redis_url)
        stack.callback(others.close)

        print("==> SQL queries per request, in-process ...", flush=True)
        queries = count_queries(args, fx)
        drain(args, "the in-process requests")

        # The floor: same server, same run, with a signed-in session (the expert's). It is
        # measured before the posts, between the posts and the accepts, and after the
        # accepts (once the worker has drained), and each benchmark is compared with the
        # mean of the two floors around it: the machine's speed drifts within minutes.
        cookie = bp.session_cookie(fx.expert)
        url = f"http://127.0.0.1:{port}{FLOOR_PATH}"
        floors: list[float] = []

        def floor_run(when: str, *, settle_first: bool = True) -> bp.WrkResult:
            n_rows = min(20, Question.objects.count())
            floor_page = bp.Page(
                "floor",
                "Floor",
                FLOOR_PATH,
                "floor",
                200,
                bp._count_check('<li><a href="/q/', n_rows),
            )
            bp.check_urls(port, [floor_page], {"expert": cookie}, f"before the floor run ({when})")
            # Runs leave dead rows behind (webhook events, notifications, payments): vacuum
            # now, and let PostgreSQL's own autovacuum finish, so it does not work on this
            # database during the floor (its CPU would count as ours and slow the floor).
            # Not before the first run: the database is new, and statistics taken of its
            # empty tables made the posts that followed a third slower (in PostgreSQL).
            settle = settle_database() if settle_first else "no VACUUM: a new database"
            print(
                f"==> floor {when}: wrk {args.floor_conns} connections, {args.floor_duration:g} s "
                f"({settle}) ...",
                flush=True,
            )
            if args.floor_warmup > 0:
                bp.run_wrk(wrk, url, cookie, args.floor_conns, args.floor_warmup, args.wrk_threads)
            with others.measure() as other:
                result = bp.run_wrk(
                    wrk, url, cookie, args.floor_conns, args.floor_duration, args.wrk_threads
                )
            result.other_work_percent = other.get("percent")
            result.cpu_ms_per_request = bp.cpu_per_request(other, result.requests)
            print(
                f"    {result.rps:,.1f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
                flush=True,
            )
            return result

        if "post" in args.wanted:
            floors.append(floor_run("before the posts", settle_first=False).rps)

        if "post" in args.wanted:
            rng = random.Random(RANDOM_SEED)
            jobs = [
                [
                    Job(
                        "/api/questions/",
                        json.dumps(post_payload(fx, c, n, rng)).encode(),
                        check_post,
                    )
                    for n in range(shares[c])
                ]
                for c in range(args.clients)
            ]
            print(f"==> {args.count:,} paid question posts, {args.clients} clients ...", flush=True)
            with others.measure() as other:
                result = run_clients(
                    "Paid question posts", "posts", port, jobs, fx.tokens, args.request_timeout
                )
            result.other_work_percent = other.get("percent")
            result.cpu_ms_per_request = bp.cpu_per_request(other, result.ok)
            result.backlog_after = broker_backlog(args.broker_url)
            result.drain_seconds, _ = drain(args, "the posts")
            posted = result.ok
            runs.append(result)
            print(
                f"    {result.rps:,.1f} posts/s, p50 {result.p50_ms:.0f} ms, p99 "
                f"{result.p99_ms:.0f} ms, {result.errors} errors; worker drained in "
                f"{result.drain_seconds:.1f} s",
                flush=True,
            )

        if "accept" in args.wanted:
            print(f"==> preparing {args.count:,} sent offers ...", flush=True)
            prepared = offers_prepare(args, fx, shares)
            seed_info.update(
                offers=args.count,
                via_services=prepared["via_services"],
                bulk=prepared["bulk"],
                questions_asked=prepared["questions_asked"],
                prepare_seconds=prepared["seconds"],
            )
            offer_ids = [o for mine in prepared["offers"] for o in mine]
            print(f"    done in {prepared['seconds']:.1f} s", flush=True)
            drain(args, "the offer seed")

        floor = floor_run("between the benchmarks")
        floors.append(floor.rps)

        if "accept" in args.wanted:
            jobs = [
                [Job(f"/api/offers/{oid}/accept/", b"", check_accept) for oid in mine]
                for mine in prepared["offers"]
            ]
            print(f"==> {args.count:,} offer accepts, {args.clients} clients ...", flush=True)
            with others.measure() as other:
                result = run_clients(
                    "Offer accepts", "accepts", port, jobs, fx.tokens, args.request_timeout
                )
            result.other_work_percent = other.get("percent")
            result.cpu_ms_per_request = bp.cpu_per_request(other, result.ok)
            result.backlog_after = broker_backlog(args.broker_url)
            result.drain_seconds, _ = drain(args, "the accepts")
            runs.append(result)
            print(
                f"    {result.rps:,.1f} accepts/s, p50 {result.p50_ms:.0f} ms, p99 "
                f"{result.p99_ms:.0f} ms, {result.errors} errors; worker drained in "
                f"{result.drain_seconds:.1f} s",
                flush=True,
            )
            floors.append(floor_run("after the accepts").rps)

        load_after = bp._load()
        others_end = other_benchmarks()
        _, drained = drain(args, "the runs")
        state = webhook_state()
        checks = data_check(fx, posted, offer_ids)
        server_log = bp._tail(server.log, 200)
        if "Traceback" in server_log or " ERROR " in server_log:
            checks["server_errors"] = server_log
        worker_errors = log_errors(worker.log)
    tasks = worker_tasks(worker.log)  # the worker has stopped: its log is complete
    connection.close()

    # Each benchmark against the mean of the floors just before and just after it.
    for r in runs:
        around = floors[:2] if r.unit == "posts" else floors[-2:]
        r.floor_rps = sum(around) / len(around)
        r.ratio = r.rps / r.floor_rps if r.floor_rps else 0.0
    report = Report(
        started_at=started_at,
        machine={
            "nproc": os.cpu_count(),
            "load_start": load_start,
            "load_before": load_before,
            "load_after": load_after,
            "others_first": others_first,
            "others_waited": waited,
            "others_after_wait": others_after_wait,
            "others_end": others_end,
        },
        versions=info_versions,
        server=server_info,
        seed=seed_info,
        queries={k: asdict(q) for k, q in queries.items()},
        floor=asdict(floor) | {"errors": floor.non_2xx_3xx, "runs_rps": floors},
        runs=runs,
        webhooks=asdict(state)
        | {"drained": drained, "worker_errors": worker_errors, "worker_tasks": tasks},
        checks=checks,
    )
    evaluate_targets(report)
    print_report(report, queries, args.show_queries)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
        print(f"==> results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
