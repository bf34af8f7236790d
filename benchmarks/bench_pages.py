"""Page benchmark: the main pages against a floor page, served the way production serves them.

    python benchmarks/bench_pages.py [--fresh] [--duration 10] [--worker-class gthread] ...

Steps (see benchmarks/README.md):
  1. a PostgreSQL database of its own (`expertline_bench`), migrated, seeded once with
     100,000 questions of which 1,000 are assigned threads of 50 messages (reused on later
     runs; `--fresh` drops and re-seeds it);
  2. collectstatic into a temporary folder, then gunicorn with DJANGO_ENV=production
     (sync workers, as many as the Dockerfile runs) on a free port of 127.0.0.1;
  3. logged-in sessions (cached_db, Redis db 13) for the bench expert and customer, every
     URL checked for its status and content, SQL queries per request counted in-process;
  4. wrk from the same machine: a warm-up, then each URL at 50 connections (throughput)
     and at 8 connections (latency);
  5. a table of requests/s, p50/p99 latency and each page's throughput ratio to the floor,
     and one line per target saying met or not met.

It prints figures; it is not a pass/fail test (it exits non-zero only when it cannot run).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.db.models import Model

    from marketplace.models import User

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/expertline_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/12"

CUSTOMER_EMAIL = "bench-customer@example.com"
EXPERT_EMAIL = "bench-expert@example.com"
RANDOM_SEED = 20_240_601

# Targets of the issue.
TARGET_PAGE_RATIO = 0.8  # a page's throughput / the floor's, at the throughput connections
TARGET_POLL_RATIO = 3.0  # the poll's throughput / the floor's
TARGET_P99_MS = 50.0  # p99 at the latency connections
# Above this share of CPU busy before/after the runs, the report warns the figures are unreliable.
BUSY_WARN_PERCENT = 15

_WORD_TEXT = (
    "the a my our this that it is was has have will would could should can not no and or "
    "but if when after before since because about with without from into over under again "
    "still already just only also very really quite car engine noise brake battery light "
    "warning dashboard laptop phone screen network router printer update error crash slow "
    "dog cat puppy vet food skin ear cough fever rash pain doctor test result medicine "
    "dose lease landlord contract deposit notice employer salary court claim letter ring "
    "watch painting vase coin stamp value price estimate roof boiler pipe leak wall "
    "socket fuse heating window door week month year morning night yesterday today twice "
    "every start stop turn check replace repair help please thanks advice question answer "
    "problem"
)
WORDS = _WORD_TEXT.split()


def production_workers() -> int:
    """The gunicorn workers production runs (the Dockerfile's CMD; docker-compose.yml says
    the same), so the benchmarks serve the app as production does. 2 if it names none."""
    found = re.search(r'"--workers",\s*"(\d+)"', (ROOT / "Dockerfile").read_text())
    return int(found.group(1)) if found else 2


# --- Command line ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench_pages.py",
        description="Benchmark Expertline's pages against a floor page with gunicorn and wrk.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--fresh", action="store_true", help="drop, re-create and re-seed the database")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of each measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per URL (0: none)")
    p.add_argument("--throughput-conns", type=int, default=50, help="connections, throughput runs")
    p.add_argument("--latency-conns", type=int, default=8, help="connections, latency runs")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (-t)")
    p.add_argument(
        "--workers",
        type=int,
        default=production_workers(),
        help="gunicorn workers (default: as the Dockerfile runs production)",
    )
    p.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    p.add_argument("--threads", type=int, default=4, help="threads per worker with gthread")
    p.add_argument(
        "--no-access-log",
        action="store_true",
        help="do not write gunicorn's access log (production writes one)",
    )
    p.add_argument("--questions", type=int, default=100_000, help="questions to seed")
    p.add_argument("--threads-seeded", type=int, default=1_000, help="questions with a thread")
    p.add_argument("--messages", type=int, default=50, help="messages per thread")
    p.add_argument(
        "--pages",
        default="floor,question,all,all200,poll",
        help="comma-separated subset of: floor,question,all,all200,poll",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait up to this long for the CPUs to be quiet (other work) before the runs",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=0,
        help="measure a run again (after waiting for quiet) up to this many times while other "
        "work used more than 15%% of the CPUs during it; the quietest attempt is kept",
    )
    p.add_argument(
        "--no-bracket",
        action="store_true",
        help="compare each page with the floor's first run only, instead of the floor measured "
        "just before and just after that page's run",
    )
    p.add_argument("--show-queries", action="store_true", help="print each page's SQL")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the temporary folder (gunicorn logs, static files) and print its path",
    )
    args = p.parse_args(argv)
    if args.questions < 1 or not 0 <= args.threads_seeded <= args.questions:
        p.error("need --questions >= 1 and 0 <= --threads-seeded <= --questions")
    if args.threads_seeded < 1 or args.messages < 1:
        p.error("the question page needs --threads-seeded >= 1 and --messages >= 1")
    if "all200" in args.pages and args.questions - args.threads_seeded < 200 * 20:
        p.error("All questions page 200 needs at least 4,000 open questions (--questions)")
    return args


# --- Environment -------------------------------------------------------------------


def configure_environment(var_dir: Path) -> None:
    """Production settings for this process (migrate, seed, sessions) and for gunicorn."""
    env = os.environ
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    env.setdefault("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
    env["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
    env["DJANGO_ENV"] = "production"
    env["SECRET_KEY"] = "bench-" + secrets.token_urlsafe(48)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    env["SECURE_SSL_REDIRECT"] = "false"
    env["EXPERTLINE_BENCHMARK_VIEWS"] = "1"
    env["EXPERTLINE_VAR_DIR"] = str(var_dir)
    # Production refuses the local payment gateway. The measured pages never pay; these
    # placeholders (and an address where nothing listens) keep any call away from Stripe.
    env["STRIPE_SECRET_KEY"] = "sk_test_expertline_bench"
    env["STRIPE_PUBLISHABLE_KEY"] = "pk_test_expertline_bench"
    env["STRIPE_WEBHOOK_SECRET"] = "whsec_expertline_bench"
    env["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    # The private-information keyring (its own secret): a throw-away key; nothing measured
    # encrypts or decrypts.
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    env["PRIVATE_INFO_KEYS"] = f"bench:{key}"
    for name in ("DEBUG", "EXPERTLINE_TESTING", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def database_settings(url: str) -> dict[str, Any]:
    import dj_database_url

    db = dict(dj_database_url.parse(url))
    name = str(db.get("NAME") or "")
    if "postgresql" not in str(db.get("ENGINE")):
        raise SystemExit(f"bench: DATABASE_URL must be PostgreSQL, got {url!r}")
    if "bench" not in name:
        # The benchmark drops and seeds its database: never do that to another one.
        raise SystemExit(
            f"bench: refusing to use database {name!r}: its name must contain 'bench' "
            f"(default {DEFAULT_DATABASE_URL})"
        )
    return db


def ensure_database(db: dict[str, Any], *, fresh: bool) -> str:
    """Create the database (drop it first with --fresh). Returns what was done."""
    import psycopg
    from psycopg import sql

    name = db["NAME"]
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not fresh:
            return "exists"
        if exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return "re-created" if exists else "created"


# --- Seed ----------------------------------------------------------------------------


def _sentence(rng: random.Random, lo: int = 6, hi: int = 18) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi))).capitalize() + "."


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(lo, hi)))


def _copy_rows(model: type[Model], objs: Iterable[Model]) -> int:
    """COPY model instances (Python defaults applied, primary keys from the sequence)."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    n = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objs:
            copy.write_row(
                [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
            )
            n += 1
    return n


def seed(args: argparse.Namespace) -> float:
    """Categories, the bench customer and expert, questions and threads. Returns seconds."""
    from django.db import connection, transaction
    from django.utils import timezone
    from django.utils.text import Truncator

    from marketplace import demo
    from marketplace.models import User
    from questions.models import Channel, Message, Question, QuestionStatus
    from questions.services import render_message_html

    started = time.perf_counter()
    rng = random.Random(RANDOM_SEED)
    now = timezone.now()
    n_questions, n_threads, n_messages = args.questions, args.threads_seeded, args.messages
    step = n_questions // n_threads
    with transaction.atomic():
        categories = demo.categories_seed()
        customer = demo.customer_ensure(CUSTOMER_EMAIL, name="Bench Customer")
        expert = demo.expert_ensure(
            EXPERT_EMAIL,
            name="Bench Expert",
            headline="Answers in every category",
            categories=categories,
        )

        # A customer has at most one open phone-call request (a unique constraint), so
        # each open phone question gets a customer of its own from this pool.
        _copy_rows(
            User,
            (
                User(email=f"bench-phone-{i}@example.com", password="!", display_name="")
                for i in range(n_questions // 8 + 1)
            ),
        )
        phone_customers = iter(
            list(
                User.objects.filter(email__startswith="bench-phone-")
                .order_by("id")
                .values_list("id", flat=True)
            )
        )

        def questions() -> Iterator[Question]:
            threads = 0
            for i in range(n_questions):
                category = rng.choice(categories)
                body = _text(rng, 2, 6)
                is_thread = threads < n_threads and i % step == 0
                if is_thread:
                    threads += 1
                    posted = now - timedelta(seconds=rng.uniform(2 * 86_400, 90 * 86_400))
                else:
                    posted = now - timedelta(seconds=rng.uniform(0, 90 * 86_400))
                lo, hi = category.min_price_minor, category.max_price_minor
                phone = rng.random() < 0.1
                yield Question(
                    customer_id=next(phone_customers) if phone and not is_thread else customer.pk,
                    category_id=category.pk,
                    title=f"{category.name}: {_sentence(rng, 4, 10)}"[:150],
                    body=body,
                    summary=Truncator(" ".join(body.split())).chars(240),
                    channel=Channel.PHONE if phone else Channel.CHAT,
                    price_minor=lo + 100 * rng.randint(0, (hi - lo) // 100),
                    currency=category.currency,
                    is_member_question=False,
                    status=QuestionStatus.ASSIGNED if is_thread else QuestionStatus.OPEN,
                    expert_id=expert.pk if is_thread else None,
                    created_at=posted - timedelta(minutes=rng.randint(1, 20)),
                    posted_at=posted,
                    picked_up_at=posted + timedelta(minutes=rng.randint(1, 60))
                    if is_thread
                    else None,
                    # intake (1) -> open (2) -> assigned (3); each message adds one below.
                    version=3 if is_thread else 2,
                    last_message_id=0,
                    message_count=0,
                )

        _copy_rows(Question, questions())
        # Read before the COPY starts: the connection cannot run a query during a COPY.
        threads = list(
            Question.objects.filter(status=QuestionStatus.ASSIGNED, expert=expert)
            .order_by("id")
            .values_list("id", "picked_up_at")
        )

        def messages() -> Iterator[Message]:
            for qid, picked_up_at in threads:
                start = picked_up_at or now
                for k in range(n_messages):
                    author = customer if k % 2 == 0 else expert
                    body = _text(rng, 1, 4)
                    if k % 7 == 3:
                        body += f"\nSee https://example.com/docs/{qid}/{k} for details."
                    yield Message(
                        question_id=qid,
                        author_id=author.pk,
                        body=body,
                        body_html=render_message_html(body),
                        created_at=start + timedelta(minutes=3 * (k + 1)),
                    )

        _copy_rows(Message, messages())
        qt = connection.ops.quote_name(Question._meta.db_table)
        mt = connection.ops.quote_name(Message._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qt} AS q SET last_message_id = m.last_id, message_count = m.n,"
                f" version = q.version + m.n"
                f" FROM (SELECT question_id, MAX(id) AS last_id, COUNT(*) AS n"
                f" FROM {mt} GROUP BY question_id) AS m"
                f" WHERE q.id = m.question_id"
            )
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute(f"VACUUM (ANALYZE) {qt}")
        cursor.execute(f"VACUUM (ANALYZE) {mt}")
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def seed_state(args: argparse.Namespace) -> tuple[str, int, int]:
    """('empty' | 'seeded' | 'other', questions, messages) of the bench database."""
    from marketplace.models import User
    from questions.models import Message, Question

    n_q, n_m = Question.objects.count(), Message.objects.count()
    users = User.objects.filter(email__in=[CUSTOMER_EMAIL, EXPERT_EMAIL]).count()
    if n_q == 0 and n_m == 0:
        return "empty", n_q, n_m
    if (n_q, n_m, users) == (args.questions, args.threads_seeded * args.messages, 2):
        return "seeded", n_q, n_m
    return "other", n_q, n_m


# --- Pages -----------------------------------------------------------------------------


@dataclass
class Page:
    key: str
    label: str
    path: str
    kind: str  # "floor" | "page" | "poll"
    status: int
    check: Callable[[bytes], str | None]  # None when the body is what we expect
    session: str = "expert"


def _count_check(marker: str, want: int, extra: str = "") -> Callable[[bytes], str | None]:
    def check(body: bytes) -> str | None:
        text = body.decode("utf-8", "replace")
        got = text.count(marker)
        if got != want:
            return f"expected {want} x {marker!r} in the page, found {got}"
        if extra and extra not in text:
            return f"expected {extra!r} in the page"
        return None

    return check


def _empty_check(body: bytes) -> str | None:
    return None if body == b"" else f"expected an empty body, got {len(body)} bytes"


@dataclass
class Fixture:
    expert: User
    customer: User
    question_id: int
    version: int
    last_message_id: int
    unread: int


def fixture(args: argparse.Namespace) -> Fixture:
    from marketplace.models import User
    from questions.models import Question, QuestionStatus

    expert = User.objects.get(email=EXPERT_EMAIL)
    customer = User.objects.get(email=CUSTOMER_EMAIL)
    question = (
        Question.objects.filter(
            expert=expert, status=QuestionStatus.ASSIGNED, message_count=args.messages
        )
        .order_by("id")
        .first()
    )
    if question is None:
        raise SystemExit(f"bench: no assigned question with {args.messages} messages; use --fresh")
    return Fixture(
        expert=expert,
        customer=customer,
        question_id=question.pk,
        version=question.version,
        last_message_id=question.last_message_id,
        unread=expert.unread_notifications,
    )


def pages(args: argparse.Namespace, fx: Fixture, expert_cookie: str) -> list[Page]:
    """The measured URLs. The poll carries the token its page hands the expert's session
    (as thread.js does), so an unchanged poll takes the fast path."""
    from questions.middleware import poll_token

    size = 20
    qid = fx.question_id
    token = poll_token(
        question_id=qid,
        user_id=fx.expert.pk,
        version=fx.version,
        session_key=expert_cookie.partition("=")[2],
    )
    all_pages = [
        Page(
            "floor",
            "Floor (20 rows)",
            "/bench/floor/",
            "floor",
            200,
            _count_check('<li><a href="/q/', size),
        ),
        Page(
            "question",
            f"Question ({args.messages} msgs)",
            f"/q/{qid}/",
            "page",
            200,
            _count_check('<li class="msg', args.messages, f'data-id="{fx.last_message_id}"'),
        ),
        Page(
            "all",
            "All questions p1",
            "/questions/",
            "page",
            200,
            _count_check('class="preview"', size, "<span>Page 1</span>"),
        ),
        Page(
            "all200",
            "All questions p200",
            "/questions/?page=200",
            "page",
            200,
            _count_check('class="preview"', size, "<span>Page 200</span>"),
        ),
        Page(
            "poll",
            "Poll (no change, 204)",
            f"/q/{qid}/poll?v={fx.version}&after={fx.last_message_id}&n={fx.unread}&t={token}",
            "poll",
            204,
            _empty_check,
        ),
    ]
    wanted = [k.strip() for k in args.pages.split(",") if k.strip()]
    unknown = set(wanted) - {p.key for p in all_pages}
    if unknown:
        raise SystemExit(f"bench: unknown --pages {sorted(unknown)}")
    if "floor" not in wanted:
        wanted.insert(0, "floor")  # every ratio needs it
    return [p for p in all_pages if p.key in wanted]


def session_cookie(user: User) -> str:
    """A real logged-in session (the configured engine: cached_db on Redis + PostgreSQL)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@dataclass
class QueryCount:
    count: int
    sql: list[str]
    ms_in_process: float


def count_queries(page_list: list[Page], cookies: dict[str, str]) -> dict[str, QueryCount]:
    """SQL statements per request (the second, warm request) and its time in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {}
    for who, cookie in cookies.items():  # the sessions wrk sends
        name, _, value = cookie.partition("=")
        clients[who] = Client(HTTP_HOST="127.0.0.1")
        clients[who].cookies[name] = value
    out: dict[str, QueryCount] = {}
    for page in page_list:
        client = clients[page.session]
        client.get(page.path)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(page.path)
        # Read now: the next request's request_finished signal clears the query log.
        statements = [q["sql"] for q in ctx.captured_queries]
        elapsed = float("inf")  # the fastest of a few warm requests: the least disturbed
        for _ in range(5):
            t0 = time.perf_counter()
            client.get(page.path)
            elapsed = min(elapsed, (time.perf_counter() - t0) * 1000)
        if response.status_code != page.status:
            raise SystemExit(
                f"bench: in-process GET {page.path} answered {response.status_code}, "
                f"expected {page.status}"
            )
        out[page.key] = QueryCount(len(statements), statements, elapsed)
    return out


# --- Server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str, cookie: str = "", timeout: float = 10) -> tuple[int, bytes]:
    """One GET without following redirects (a 302 to the login page must show as 302)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    command: list[str]
    log: Path


@contextlib.contextmanager
def gunicorn(args: argparse.Namespace, work_dir: Path) -> Iterator[Server]:
    port = free_port()
    log = work_dir / "gunicorn.log"
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "marketplace.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--no-control-socket",
        "--error-logfile",
        str(log),
    ]
    if args.worker_class == "gthread":
        cmd += ["--threads", str(args.threads)]
    if not args.no_access_log:
        cmd += ["--access-logfile", str(work_dir / "access.log")]
    process = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
    )
    server = Server(port, process, cmd, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited ({process.returncode}):\n{_tail(log)}")
            with contextlib.suppress(OSError):
                if http_get(port, "/healthz", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: gunicorn did not answer /healthz in 60 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # gunicorn's master stops its workers on SIGTERM
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # Our own process group (start_new_session): the master and its workers only.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def check_urls(port: int, page_list: list[Page], cookies: dict[str, str], when: str) -> None:
    problems = []
    for page in page_list:
        status, body = http_get(port, page.path, cookies[page.session])
        if status != page.status:
            problems.append(f"GET {page.path} answered {status}, expected {page.status}")
            continue
        problem = page.check(body)
        if problem:
            problems.append(f"GET {page.path}: {problem}")
    if problems:
        raise SystemExit(f"bench: URL check {when} failed:\n  " + "\n  ".join(problems))


# --- wrk -------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


@dataclass
class WrkResult:
    conns: int
    rps: float
    p50_ms: float | None  # None when no request completed
    p99_ms: float | None
    requests: int
    non_2xx_3xx: int = 0
    socket_errors: str = ""
    other_work_percent: float | None = None  # CPU used by other processes meanwhile
    # CPU milliseconds per request of each of our processes (gunicorn, postgres, redis, wrk)
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)


def parse_wrk(output: str, conns: int) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p50 and p99 and total):
        raise SystemExit(f"bench: could not parse wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:\s+(.*)$", output, re.M)
    return WrkResult(
        conns=conns,
        rps=float(rps.group(1)),
        p50_ms=_ms(*p50.groups()) if int(total.group(1)) else None,
        p99_ms=_ms(*p99.groups()) if int(total.group(1)) else None,
        requests=int(total.group(1)),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else "",
    )


def run_wrk(wrk: str, url: str, cookie: str, conns: int, seconds: float, threads: int) -> WrkResult:
    cmd = [
        wrk,
        f"-t{max(1, min(threads, conns))}",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-H",
        f"Cookie: {cookie}",
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if done.returncode != 0:
        raise SystemExit(f"bench: wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout, conns)


# --- Machine ---------------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts), idle


def cpu_busy_percent(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over `seconds` (Linux); other work competing with the run."""
    try:
        total0, idle0 = _cpu_times()
        time.sleep(seconds)
        total1, idle1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return 100.0 * (1 - (idle1 - idle0) / total) if total else None


def _proc_ticks(pid: int) -> int:
    """CPU time (user + system, clock ticks) a process has used; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        fields = data[data.rindex(")") + 2 :].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    except (OSError, ValueError, IndexError):
        return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    return out


class OtherWork:
    """How much CPU other processes used while wrk ran: the noise in the figures.

    Ours: gunicorn (master and workers), wrk, the PostgreSQL backends connected to the
    bench database and the Redis server. Everything else busy on the machine is other
    work (a test run, a browser, a build), as a share of all CPUs.
    """

    def __init__(self, gunicorn_pid: int, db: dict[str, Any], redis_url: str) -> None:
        import psycopg

        self.gunicorn_pid = gunicorn_pid
        self.db_name = db["NAME"]
        self.pg = psycopg.connect(
            host=db.get("HOST") or "127.0.0.1",
            port=int(db.get("PORT") or 5432),
            user=db.get("USER") or "postgres",
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        )
        self.redis_pid = 0
        with contextlib.suppress(Exception):
            import redis

            self.redis_pid = int(redis.Redis.from_url(redis_url).info("server")["process_id"])

    def close(self) -> None:
        self.pg.close()

    def _ours(self) -> dict[int, str]:
        """Our processes, each with its group: gunicorn, postgres or redis."""
        rows = self.pg.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.db_name]
        ).fetchall()
        pids = dict.fromkeys((int(r[0]) for r in rows), "postgres")
        pids.update(dict.fromkeys([self.gunicorn_pid, *_children(self.gunicorn_pid)], "gunicorn"))
        if self.redis_pid:
            pids[self.redis_pid] = "redis"
        return pids

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, float]]:
        """Yields a dict that holds `percent` (None-safe: 0 when unmeasurable) afterwards."""
        out: dict[str, float] = {}
        try:
            pids0 = self._ours()
            ticks0 = {pid: _proc_ticks(pid) for pid in pids0}
            total0, idle0 = _cpu_times()
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        except (OSError, ValueError, IndexError):
            yield out
            return
        yield out
        with contextlib.suppress(OSError, ValueError, IndexError):
            total1, idle1 = _cpu_times()
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            pids1 = pids0 | self._ours()
            # A process that ended meanwhile reads 0: its share is lost (counted as other work).
            groups = {"gunicorn": 0.0, "postgres": 0.0, "redis": 0.0}
            for pid, group in pids1.items():
                groups[group] = groups.get(group, 0.0) + max(
                    0, _proc_ticks(pid) - ticks0.get(pid, 0)
                )
            hz = os.sysconf("SC_CLK_TCK")
            groups["wrk"] = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * hz
            capacity = total1 - total0
            busy = capacity - (idle1 - idle0)
            if capacity > 0:
                out["percent"] = max(0.0, 100.0 * (busy - sum(groups.values())) / capacity)
            for group, ticks in groups.items():
                out[f"ms:{group}"] = 1000.0 * ticks / hz


def cpu_per_request(measured: dict[str, float], requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each group of our processes, from `OtherWork.measure`."""
    if not requests:
        return {}
    return {
        key[3:]: max(0.0, ms) / requests for key, ms in measured.items() if key.startswith("ms:")
    }


def wait_idle(max_seconds: float) -> float | None:
    """CPU busy % over one second, after waiting up to `max_seconds` for it to be low."""
    deadline = time.monotonic() + max_seconds
    busy = cpu_busy_percent()
    while busy is not None and busy > BUSY_WARN_PERCENT and time.monotonic() < deadline:
        print(f"==> CPUs {busy:.0f}% busy with other work; waiting for quiet ...", flush=True)
        time.sleep(4)
        busy = cpu_busy_percent()
    return busy


def _version_of(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
        lines = (done.stdout + done.stderr).strip().splitlines()
        return lines[0] if lines else "?"
    return "?"


def versions(wrk: str) -> dict[str, str]:
    import django
    import gunicorn as gunicorn_package
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    return {
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": str(row[0]) if row else "?",
        "gunicorn": str(gunicorn_package.__version__),
        "wrk": _version_of([wrk, "-v"]).split(" Copyright")[0],
    }


# --- Report ----------------------------------------------------------------------------------


@dataclass
class Row:
    page: str
    label: str
    path: str
    kind: str
    result: WrkResult
    ratio: float
    # The floor's req/s the ratio is taken against: the mean of its runs just before and
    # just after this one (or its first run, with --no-bracket).
    floor_rps: float = 0.0
    floor_runs: list[float] = field(default_factory=list)


@dataclass
class Report:
    started_at: str
    machine: dict[str, Any]
    versions: dict[str, str]
    server: dict[str, Any]
    data: dict[str, Any]
    queries: dict[str, int]
    rows: list[Row] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)


def evaluate_targets(report: Report, args: argparse.Namespace) -> None:
    for row in report.rows:
        if row.kind == "floor":
            continue  # the reference: its own figures are in the table
        if row.result.conns == args.throughput_conns:
            want = TARGET_POLL_RATIO if row.kind == "poll" else TARGET_PAGE_RATIO
            report.targets.append(
                {
                    "page": row.label,
                    "what": f"throughput at {row.result.conns} conns >= {want:g} x floor",
                    "figure": f"{row.ratio:.2f} x floor ({row.result.rps:,.0f} req/s)",
                    "met": row.ratio >= want,
                }
            )
        if row.result.conns == args.latency_conns:
            report.targets.append(
                {
                    "page": row.label,
                    "what": f"p99 at {row.result.conns} conns < {TARGET_P99_MS:g} ms",
                    "figure": f"p99 {_ms_text(row.result.p99_ms)} ms",
                    "met": row.result.p99_ms is not None and row.result.p99_ms < TARGET_P99_MS,
                }
            )


CPU_GROUPS = ("gunicorn", "celery", "postgres", "redis", "clients", "wrk")


def print_cpu_per_request(rows: Sequence[tuple[str, int, Any]]) -> None:
    """A table of CPU milliseconds per request by process group, for results that carry
    `cpu_ms_per_request` (the groups no run used are left out)."""
    groups = [g for g in CPU_GROUPS if any(r.cpu_ms_per_request.get(g) for _, _, r in rows)]
    if not groups:
        return
    print("CPU per request, ms (each process's /proc CPU time over the run / its requests):")
    print(f"{'':<24} {'conns':>5} " + " ".join(f"{g:>9}" for g in groups) + f" {'all':>7}")
    for label, conns, result in rows:
        cpu = result.cpu_ms_per_request
        if cpu:
            values = [cpu.get(g, 0.0) for g in groups]
            cells = " ".join(f"{v:>9.2f}" for v in values)
            print(f"{label:<24} {conns:>5} {cells} {sum(values):>7.2f}")
    print()


def print_report(report: Report, query_sql: dict[str, QueryCount], show_sql: bool) -> None:
    m, v, s, d = report.machine, report.versions, report.server, report.data
    print()
    print(f"Expertline page benchmark, {report.started_at}")
    print(
        f"machine   {m['nproc']} CPUs; load average (1/5/15 min) at start {m['load_start']}, "
        f"before the runs {m['load_before']}, after {m['load_after']}"
    )
    before, after = m.get("cpu_busy_before"), m.get("cpu_busy_after")
    if before is not None and after is not None:
        print(
            f"          CPUs busy (other work) in the second before the runs {before:.0f}%, "
            f"after {after:.0f}%"
        )
        if max(before, after) > BUSY_WARN_PERCENT:
            print(
                f"          !! the machine was busy with other work (> {BUSY_WARN_PERCENT}%): "
                "the figures are lower and noisier than on a quiet machine"
            )
    print(
        f"software  Python {v['python']}, Django {v['django']}, PostgreSQL {v['postgresql']}, "
        f"gunicorn {v['gunicorn']}, {v['wrk']}"
    )
    print(
        f"server    gunicorn {s['workers']} {s['worker_class']} workers"
        + (f" x {s['threads']} threads" if s["worker_class"] == "gthread" else "")
        + f", DJANGO_ENV=production, access log {'off' if s['no_access_log'] else 'on'}"
        + f"; wrk -t{s['wrk_threads']} -d{s['duration']:g}s, warm-up {s['warmup']:g}s per URL,"
        + " same machine"
    )
    print(
        f"data      {d['questions']:,} questions ({d['open']:,} open), {d['threads']:,} threads"
        f" x {d['messages']} messages; {d['seed']}"
    )
    print()
    print("SQL queries per request (in-process, warm):")
    for row in report.rows:
        if row.result.conns != report.server["throughput_conns"]:
            continue
        q = query_sql[row.page]
        print(
            f"  {row.label:<24} {q.count:>3} queries  {q.ms_in_process:5.1f} ms in-process "
            "(django.test.Client, best of 5)"
        )
        if show_sql:
            for statement in q.sql:
                print(f"      {statement}")
    print()
    header = (
        f"{'page':<24} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'floor':>7}"
        f" {'x floor':>8} {'other work':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in report.rows:
        r = row.result
        flag = ""
        if r.non_2xx_3xx or r.socket_errors:
            flag = f"  !! non-2xx/3xx {r.non_2xx_3xx}, socket errors {r.socket_errors or 0}"
        print(
            f"{row.label:<24} {r.conns:>5} {r.rps:>9,.1f} {_ms_text(r.p50_ms):>8} "
            f"{_ms_text(r.p99_ms):>8} {row.floor_rps or r.rps:>7,.0f} "
            f"{row.ratio:>8.2f} {_percent(r.other_work_percent):>11}{flag}"
        )
    noisy = [
        r.result.other_work_percent
        for r in report.rows
        if (r.result.other_work_percent or 0) > BUSY_WARN_PERCENT
    ]
    if any(row.floor_runs for row in report.rows):
        print(
            "floor: the floor's req/s each page is compared with, the mean of its runs of half"
            " the duration just before and just after the page's run (--no-bracket: its first"
            " run); the machine's speed drifts by a quarter within minutes"
        )
    print(
        "other work: CPU used by other processes during the run, as a share of all CPUs"
        " (ours: gunicorn, wrk, the bench database's PostgreSQL backends, Redis)"
    )
    if noisy:
        print(
            f"!! {len(noisy)} runs shared the machine with other work above "
            f"{BUSY_WARN_PERCENT}%: those figures are low and noisy; run again on a quiet "
            "machine (--wait-idle helps)"
        )
    print()
    print_cpu_per_request([(row.label, row.result.conns, row.result) for row in report.rows])
    print("Targets:")
    for t in report.targets:
        mark = "met    " if t["met"] else "NOT MET"
        print(f"  [{mark}] {t['page']:<24} {t['what']:<38} {t['figure']}")
    met = sum(t["met"] for t in report.targets)
    print(f"  {met} of {len(report.targets)} targets met")
    print()


# --- Main --------------------------------------------------------------------------------------


def measure(
    args: argparse.Namespace, others: OtherWork, wrk: str, url: str, cookie: str, conns: int
) -> WrkResult:
    """One wrk run; again (up to --retries times) while other work disturbed it."""
    best: WrkResult | None = None
    last: WrkResult | None = None
    for attempt in range(args.retries + 1):
        if attempt and last is not None:
            print(
                f"==> other work took {_percent(last.other_work_percent)} of the CPUs "
                f"during that run; measuring again ({attempt}/{args.retries})",
                flush=True,
            )
            wait_idle(max(args.wait_idle, 60))
        with others.measure() as other:
            result = run_wrk(wrk, url, cookie, conns, args.duration, args.wrk_threads)
        result.other_work_percent = other.get("percent")
        result.cpu_ms_per_request = cpu_per_request(other, result.requests)
        last = result
        noise = result.other_work_percent or 0.0
        if best is None or noise < (best.other_work_percent or 0.0):
            best = result
        if noise <= BUSY_WARN_PERCENT:
            break
    assert best is not None
    return best


def run_pages(
    args: argparse.Namespace,
    others: OtherWork,
    wrk: str,
    base: str,
    page_list: list[Page],
    cookies: dict[str, str],
) -> list[Row]:
    """Each URL: a warm-up, then the throughput and the latency runs (the floor first)."""
    rows: list[Row] = []
    floor_rps: dict[int, float] = {}
    for page in page_list:
        url = base + page.path
        cookie = cookies[page.session]
        if args.wait_idle > 0 and page is not page_list[0]:
            wait_idle(args.wait_idle)
        if args.warmup > 0:
            run_wrk(wrk, url, cookie, args.throughput_conns, args.warmup, args.wrk_threads)
        for conns in (args.throughput_conns, args.latency_conns):
            bracket = page.kind != "floor" and not args.no_bracket
            floor_url = base + page_list[0].path
            floor_cookie = cookies[page_list[0].session]
            floors: list[float] = []
            if bracket:  # the floor again just before, at this moment's machine speed
                floors.append(_floor_run(args, others, wrk, floor_url, floor_cookie, conns))
            result = measure(args, others, wrk, url, cookie, conns)
            if bracket:  # and just after
                floors.append(_floor_run(args, others, wrk, floor_url, floor_cookie, conns))
            if page.kind == "floor":
                floor_rps[conns] = result.rps
            reference = sum(floors) / len(floors) if floors else floor_rps.get(conns, 0.0)
            ratio = result.rps / reference if reference else 0.0
            rows.append(
                Row(page.key, page.label, page.path, page.kind, result, ratio, reference, floors)
            )
            print(
                f"    {page.label:<24} c={conns:<3} {result.rps:>9,.1f} req/s  "
                f"p50 {_ms_text(result.p50_ms)} ms  p99 {_ms_text(result.p99_ms)} ms  "
                f"other work {_percent(result.other_work_percent)}"
                + (
                    f"  (floor before/after {floors[0]:,.0f}/{floors[1]:,.0f} req/s)"
                    if floors
                    else ""
                ),
                flush=True,
            )
    return rows


def _floor_run(
    args: argparse.Namespace, others: OtherWork, wrk: str, url: str, cookie: str, conns: int
) -> float:
    """The floor's req/s over half a run, for the page measured next to it."""
    half = argparse.Namespace(**{**vars(args), "duration": max(1.0, args.duration / 2)})
    return measure(half, others, wrk, url, cookie, conns).rps


def _ms_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}%"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = _load()
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("bench: wrk is not installed (Debian: apt-get install wrk)")

    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so gunicorn is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    work_dir = Path(tempfile.mkdtemp(prefix="expertline-bench-"))
    try:
        configure_environment(work_dir)
        db = database_settings(os.environ["DATABASE_URL"])
        done = ensure_database(db, fresh=args.fresh)
        print(f"==> database {db['NAME']} on {db.get('HOST')}:{db.get('PORT')}: {done}", flush=True)
        return run(args, wrk, work_dir, started_at, load_start, db)
    except KeyboardInterrupt:
        print("bench: interrupted; gunicorn stopped", file=sys.stderr)
        return 130
    except ImproperlyConfigured as exc:
        raise SystemExit(
            f"bench: the production settings refused to start: {exc}\n"
            "Give the new setting a bench value in configure_environment() "
            "(benchmarks/bench_pages.py)."
        ) from exc
    finally:
        if args.keep_logs:
            print(f"==> logs and static files kept in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def run(
    args: argparse.Namespace,
    wrk: str,
    work_dir: Path,
    started_at: str,
    load_start: str,
    db: dict[str, Any],
) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from questions.models import Question, QuestionStatus

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    print(f"==> migrate + collectstatic: {time.perf_counter() - t0:.1f} s", flush=True)

    state, n_q, n_m = seed_state(args)
    if state == "other":
        raise SystemExit(
            f"bench: the database holds {n_q:,} questions and {n_m:,} messages, not "
            f"{args.questions:,} and {args.threads_seeded * args.messages:,}: run with --fresh"
        )
    if state == "empty":
        print(
            f"==> seeding {args.questions:,} questions, {args.threads_seeded:,} threads x "
            f"{args.messages} messages ...",
            flush=True,
        )
        seconds = seed(args)
        seed_note = f"seeded in {seconds:.1f} s"
        print(f"==> {seed_note}", flush=True)
    else:
        seed_note = "reused from an earlier run (--fresh re-seeds)"
        print(f"==> database already seeded ({n_q:,} questions): reusing it", flush=True)

    fx = fixture(args)
    cookies = {"expert": session_cookie(fx.expert), "customer": session_cookie(fx.customer)}
    page_list = pages(args, fx, cookies["expert"])
    queries = count_queries(page_list, cookies)
    info_versions = versions(wrk)
    data = {
        "questions": Question.objects.count(),
        "open": Question.objects.filter(status=QuestionStatus.OPEN).count(),
        "threads": args.threads_seeded,
        "messages": args.messages,
        "seed": seed_note,
        "question_id": fx.question_id,
    }
    connection.close()  # the server has its own connections

    with gunicorn(args, work_dir) as server:
        base = f"http://127.0.0.1:{server.port}"
        print(f"==> gunicorn on {base} (pid {server.process.pid})", flush=True)
        check_urls(server.port, page_list, cookies, "before the runs")
        # The question page is also readable by its customer (not measured, only checked).
        status, _ = http_get(server.port, f"/q/{fx.question_id}/", cookies["customer"])
        if status != 200:
            raise SystemExit(f"bench: the question page answered {status} to its customer")

        busy_before = wait_idle(args.wait_idle)
        load_before = _load()
        others = OtherWork(server.process.pid, db, os.environ["REDIS_URL"])
        try:
            rows = run_pages(args, others, wrk, base, page_list, cookies)
        finally:
            others.close()
        load_after = _load()
        busy_after = cpu_busy_percent()
        check_urls(server.port, page_list, cookies, "after the runs")
        server_log = _tail(server.log, 200)
    if "Traceback" in server_log or " ERROR " in server_log:
        print(f"==> gunicorn logged errors:\n{server_log}")

    report = Report(
        started_at=started_at,
        machine={
            "nproc": os.cpu_count(),
            "load_start": load_start,
            "load_before": load_before,
            "load_after": load_after,
            "cpu_busy_before": busy_before,
            "cpu_busy_after": busy_after,
        },
        versions=info_versions,
        server={
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.threads,
            "no_access_log": args.no_access_log,
            "wrk_threads": args.wrk_threads,
            "duration": args.duration,
            "warmup": args.warmup,
            "throughput_conns": args.throughput_conns,
            "latency_conns": args.latency_conns,
        },
        data=data,
        queries={k: q.count for k, q in queries.items()},
        rows=rows,
    )
    evaluate_targets(report, args)
    print_report(report, queries, args.show_queries)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"==> results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
