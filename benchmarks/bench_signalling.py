"""Signalling benchmark: concurrent call set-ups over HTTP against gunicorn, as production serves it.

    python benchmarks/bench_signalling.py [--calls 50] [--ice 20] [--batch] [--workers 2] ...

Steps (see benchmarks/README.md, "Signalling benchmark"):
  1. a PostgreSQL database of its own (`expertline_bench_signalling`), migrated; each run
     adds one assigned question per call with an accepted video-call offer, and the users
     of the call pairs (created once, reused);
  2. gunicorn with DJANGO_ENV=production (bench_pages.gunicorn: 2 sync workers by default)
     on a free port of 127.0.0.1; logged-in sessions (force_login) per user;
  3. each side first loads the question page (untimed, as a person has it open before
     clicking Join) and takes the join token its call panel rendered; then all call set-ups
     start together, each as two threads (customer and expert) doing what
     static/js/call.js does: join by that token (a fresh one asked for only when it is
     refused), hello; the customer sends an offer and N
     ICE candidates, the expert polls (every --poll-ms) until it has the offer, then sends
     an answer and N ICE candidates; each polls until it has all the other side's
     messages (dropping ones it saw, as the page does). A set-up is done when both have
     everything; then the customer reports `connected` and hangs up (not timed);
  4. set-ups/s, p50/p99 set-up time, requests, the workers' CPU, messages lost (stored
     by the server for one side, never received by the other even after a last poll),
     late (received only by that last poll, past --timeout) and duplicates dropped, and
     the RSS of the gunicorn workers.

By default each message is its own POST (the worst case); --batch sends what has queued up
while the previous post was in flight in one POST, as the page does.
It prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import json
import os
import re
import secrets
import shutil
import string
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_pages import (
    _children,
    _load,
    _proc_ticks,
    configure_environment,
    database_settings,
    ensure_database,
    gunicorn,
    session_cookie,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/expertline_bench_signalling"
TARGET_P99_SECONDS = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench_signalling.py",
        description="Concurrent WebRTC call set-ups through Expertline's signalling endpoints.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--calls", type=int, default=50, help="concurrent call set-ups")
    p.add_argument("--ice", type=int, default=20, help="ICE candidates each side sends")
    p.add_argument(
        "--poll-ms", type=int, default=100, help="poll interval while setting up (as call.js)"
    )
    p.add_argument(
        "--no-rendered-token",
        action="store_true",
        help="ask for a join token by request, as before the panel rendered one",
    )
    p.add_argument("--batch", action="store_true", help="post queued messages together")
    p.add_argument(
        "--session-auth",
        action="store_true",
        help="signal and poll with the session and CSRF, without the call token (the slow path)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a set-up may take")
    p.add_argument(
        "--warm-up",
        type=int,
        default=0,
        help="untimed set-ups first, so the workers are warm (their first requests compile "
        "queries and load code, as a server that has been up a while has done)",
    )
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    p.add_argument("--threads", type=int, default=4, help="threads per worker with gthread")
    p.add_argument("--no-access-log", action="store_true", help="no gunicorn access log")
    p.add_argument("--fresh", action="store_true", help="drop and re-create the database")
    p.add_argument("--trace", action="store_true", help="print the requests of the slowest set-up")
    return p.parse_args(argv)


# --- Seed ------------------------------------------------------------------------------


@dataclass
class Pair:
    offer_id: int
    question_id: int
    customer_cookie: str
    expert_cookie: str


def seed_pairs(n: int) -> list[Pair]:
    """n call pairs: users created once; each run a new assigned question and accepted
    video-call offer per pair. Rows are written directly (production settings refuse the
    local payment gateway, so nothing can be charged here); the offer is what an accepted
    one looks like."""
    from django.db import transaction
    from django.utils import timezone

    from marketplace import demo
    from marketplace.models import User
    from premium.models import Offer, OfferKind, OfferStatus, ServiceKind
    from questions.models import Question, QuestionStatus

    now = timezone.now()
    category = demo.categories_seed()[0]
    with transaction.atomic():
        users = {}
        for side in ("customer", "expert"):
            for i in range(n):
                email = f"bench-call-{side}-{i}@example.com"
                users[email], _ = User.objects.get_or_create(
                    email=email, defaults={"password": "!", "display_name": f"{side} {i}"}
                )
        pairs = []
        for i in range(n):
            customer = users[f"bench-call-customer-{i}@example.com"]
            expert = users[f"bench-call-expert-{i}@example.com"]
            question = Question.objects.create(
                customer=customer,
                category=category,
                title=f"Bench call {i}",
                body="A call set-up for the signalling benchmark.",
                summary="A call set-up for the signalling benchmark.",
                price_minor=category.min_price_minor,
                currency=category.currency,
                status=QuestionStatus.ASSIGNED,
                expert=expert,
                posted_at=now,
                picked_up_at=now,
            )
            offer = Offer.objects.create(
                question=question,
                kind=OfferKind.EXPERT,
                expert=expert,
                customer=customer,
                service_kind=ServiceKind.VIDEO_CALL,
                service_name="Video call",
                description="Bench",
                price_minor=4000,
                currency=category.currency,
                status=OfferStatus.ACCEPTED,
                expires_at=now,
                accepted_at=now,
                closed_at=now,
            )
            pairs.append(
                Pair(offer.pk, question.pk, session_cookie(customer), session_cookie(expert))
            )
    return pairs


# --- One participant ---------------------------------------------------------------------


@dataclass
class Side:
    role: str
    pair: Pair
    port: int
    args: argparse.Namespace
    csrf: str = field(
        default_factory=lambda: "".join(secrets.choice(string.ascii_letters) for _ in range(32))
    )
    next_seq: int = 1
    last_seen: int = 0
    received: dict[str, int] = field(default_factory=dict)  # kind -> count, de-duplicated
    sent: dict[str, int] = field(default_factory=dict)  # kind -> count, posts answered 200
    duplicates: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    done_at: float | None = None
    call_token: str = ""  # for X-Call-Token: premium/call_fastpath.py answers without the session
    join_token: str = ""  # the one the call panel rendered into the question page
    join_fallbacks: int = 0  # rendered token refused: a fresh one asked for, as call.js does
    trace: list[tuple[float, str, float]] = field(default_factory=list)  # (start, what, ms)

    def _request(
        self, method: str, path: str, body: Any = None, token: str = "", join_token: str = ""
    ) -> Any:
        cookie = self.pair.customer_cookie if self.role == "customer" else self.pair.expert_cookie
        headers = {"Cookie": f"{cookie}; csrftoken={self.csrf}", "Accept": "application/json"}
        if token:  # as the page: the call token instead of CSRF
            headers["X-Call-Token"] = token
        else:
            headers["X-CSRFToken"] = self.csrf
        if join_token:
            headers["X-Join-Token"] = join_token
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in range(5):  # a refused connection (backlog full) is retried, like fetch
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.requests += 1
                t0 = time.perf_counter()
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                what = f"{method} {path.rsplit('/', 1)[-1]}"
                self.trace.append((t0, what, (time.perf_counter() - t0) * 1000))
                if response.status != 200:
                    raise RequestRefused(
                        response.status, f"{method} {path}: {response.status} {payload[:200]!r}"
                    )
                return json.loads(payload)
            except OSError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
            finally:
                conn.close()
        return None

    def url(self, action: str) -> str:
        return f"/offers/{self.pair.offer_id}/call/{action}"

    def open_page(self) -> None:
        """The question page, as the person has it open before clicking Join (untimed): the
        call panel in it carries a join token."""
        if self.args.no_rendered_token:
            return
        cookie = self.pair.customer_cookie if self.role == "customer" else self.pair.expert_cookie
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", f"/q/{self.pair.question_id}/", headers={"Cookie": cookie})
            page = conn.getresponse().read().decode()
        finally:
            conn.close()
        found = re.search(r'data-join-token="([^"]+)"', page)
        self.join_token = html.unescape(found.group(1)) if found else ""

    def join(self) -> dict[str, Any]:
        joined = None
        if self.join_token:  # as call.js: the rendered token, by the fast path
            token, self.join_token = self.join_token, ""
            try:
                joined = self._request("POST", self.url("join"), {"token": token}, join_token=token)
            except RequestRefused as exc:
                if exc.status != 403:
                    raise
                self.join_fallbacks += 1
        if joined is None:  # none rendered, or refused: a fresh one, as call.js does
            token = self._request("POST", self.url("token"), {})["token"]
            joined = self._request("POST", self.url("join"), {"token": token})
        self.next_seq = joined["next_seq"]
        self.last_seen = joined["peer_after"]
        if not self.args.session_auth:
            self.call_token = joined["call_token"]
        return joined

    def _signalling(self, method: str, path: str, body: Any = None) -> Any:
        got = self._request(method, path, body, token=self.call_token)
        if self.call_token and got.get("call_token"):
            self.call_token = got["call_token"]
        return got

    def send(self, messages: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Post, as the page does, with `after`: the answer brings the other side's news."""
        out = []
        for kind, payload in messages:
            out.append({"seq": self.next_seq, "kind": kind, "payload": payload})
            self.next_seq += 1
        chunks = [out] if self.args.batch else [[m] for m in out]
        fresh = []
        for chunk in chunks:
            got = self._signalling(
                "POST", self.url("signal"), {"messages": chunk, "after": self.last_seen}
            )
            for m in chunk:
                kind = str(m["kind"])
                self.sent[kind] = self.sent.get(kind, 0) + 1
            fresh += self._take(got["messages"])
        return fresh

    def poll(self) -> list[dict[str, Any]]:
        got = self._signalling("GET", self.url("poll") + f"?after={self.last_seen}")
        return self._take(got["messages"])

    def _take(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = []
        for m in messages:
            if m["seq"] <= self.last_seen:
                self.duplicates += 1
                continue
            self.last_seen = m["seq"]
            self.received[m["kind"]] = self.received.get(m["kind"], 0) + 1
            fresh.append(m)
        return fresh


def _ice(role: str, i: int) -> dict[str, Any]:
    return {
        "gen": 1,
        "c": {
            "candidate": f"candidate:{i} 1 udp 2122260223 127.0.0.1 {40000 + i} typ host "
            f"generation 0 ufrag {role[:4]} network-id 1",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        },
    }


class RequestRefused(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" + "a=x\r\n" * 600  # ~3.6 KB


def run_setup(
    customer: Side, expert: Side, start: threading.Barrier, results: dict[str, Any]
) -> None:
    """The two sides of one call, each in its own thread, as the page does it."""
    n = customer.args.ice
    pause = customer.args.poll_ms / 1000
    deadline_box: dict[str, float] = {}

    def wanted(side: Side) -> bool:
        other = "answer" if side.role == "customer" else "offer"
        return side.received.get(other, 0) >= 1 and side.received.get("ice", 0) >= n

    def customer_run() -> None:
        joined = customer.join()  # the join posts the customer's hello
        offered = False
        if joined["peer_present"]:
            customer.send(
                [("offer", {"gen": 1, "type": "offer", "sdp": SDP})]
                + [("ice", _ice("customer", i)) for i in range(n)]
            )
            offered = True
        while not wanted(customer) and time.perf_counter() < deadline_box["t"]:
            fresh = customer.poll()
            if not offered and any(m["kind"] == "hello" for m in fresh):
                customer.send(
                    [("offer", {"gen": 1, "type": "offer", "sdp": SDP})]
                    + [("ice", _ice("customer", i)) for i in range(n)]
                )
                offered = True
            if not wanted(customer):
                time.sleep(pause)
        customer.done_at = time.perf_counter()

    def expert_run() -> None:
        expert.join()
        answered = False
        while not wanted(expert) and time.perf_counter() < deadline_box["t"]:
            fresh = expert.poll()
            if not answered and any(m["kind"] == "offer" for m in fresh):
                expert.send(
                    [("answer", {"gen": 1, "type": "answer", "sdp": SDP})]
                    + [("ice", _ice("expert", i)) for i in range(n)]
                )
                answered = True
            if not wanted(expert):
                time.sleep(pause)
        expert.done_at = time.perf_counter()

    def guarded(fn: Any, side: Side) -> None:
        try:
            fn()
        except Exception as exc:  # reported, not raised: the other set-ups go on
            side.errors.append(str(exc)[:300])

    for side in (customer, expert):  # the pages are open before anyone clicks Join
        try:
            side.open_page()
        except Exception as exc:
            side.errors.append(f"page: {str(exc)[:200]}")
    start.wait()
    t0 = time.perf_counter()
    deadline_box["t"] = t0 + customer.args.timeout
    threads = [
        threading.Thread(target=guarded, args=(customer_run, customer)),
        threading.Thread(target=guarded, args=(expert_run, expert)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = wanted(customer) and wanted(expert) and not (customer.errors or expert.errors)
    results["seconds"] = (max(customer.done_at or 0, expert.done_at or 0) - t0) if ok else None
    # Past the timeout, one last poll each: what arrives now was late, not lost.
    before = sum(side.received.get("ice", 0) for side in (customer, expert))
    for side in (customer, expert):
        if not wanted(side):
            with contextlib.suppress(Exception):
                side.poll()
    results["late"] = sum(side.received.get("ice", 0) for side in (customer, expert)) - before
    # Lost: posted by one side (answered 200, so stored) but never received by the other,
    # even after the last poll (the hellos come from the joins and are not counted).
    lost = 0
    for side, peer in ((customer, expert), (expert, customer)):
        for kind in ("offer", "answer", "ice"):
            lost += max(0, peer.sent.get(kind, 0) - side.received.get(kind, 0))
    results["lost"] = lost
    with contextlib.suppress(Exception):
        customer._signalling("POST", customer.url("event"), {"kind": "connected"})
        customer._signalling("POST", customer.url("hang-up"), {"reason": "hung_up"})


# --- Memory ----------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def worker_rss(master: int) -> list[int]:
    return [rss_kib(pid) for pid in _children(master)]


def _mib(kib: list[int]) -> str:
    return ", ".join(f"{k / 1024:.0f}" for k in kib) + " MiB"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def _warm_up(pairs: list[Pair], port: int, args: argparse.Namespace) -> None:
    """Set-ups that are not timed nor counted, all at once, before the measured burst."""
    barrier = threading.Barrier(len(pairs) + 1)
    threads = [
        threading.Thread(
            target=run_setup,
            args=(
                Side("customer", pair, port, args),
                Side("expert", pair, port, args),
                barrier,
                {},
            ),
        )
        for pair in pairs
    ]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    print(f"==> {len(pairs)} warm-up set-ups done (not counted)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    work_dir = Path(tempfile.mkdtemp(prefix="expertline-bench-signalling-"))
    try:
        configure_environment(work_dir)
        db = database_settings(os.environ["DATABASE_URL"])
        done = ensure_database(db, fresh=args.fresh)
        print(f"==> database {db['NAME']}: {done}; load {_load()}", flush=True)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        pairs = seed_pairs(args.calls + args.warm_up)
        pairs, warm_pairs = pairs[: args.calls], pairs[args.calls :]
        print(f"==> {len(pairs)} accepted video-call offers, sessions ready", flush=True)
        with gunicorn(args, work_dir) as server:
            if warm_pairs:
                _warm_up(warm_pairs, server.port, args)
            rss_before = worker_rss(server.process.pid)
            workers = _children(server.process.pid)
            barrier = threading.Barrier(len(pairs) + 1)
            results: list[dict[str, Any]] = [{} for _ in pairs]
            sides = [
                (Side("customer", pair, server.port, args), Side("expert", pair, server.port, args))
                for pair in pairs
            ]
            threads = [
                threading.Thread(target=run_setup, args=(c, e, barrier, results[i]))
                for i, (c, e) in enumerate(sides)
            ]
            for t in threads:
                t.start()
            barrier.wait()  # every page loaded (not counted): the clocks start now
            ticks_before = sum(_proc_ticks(pid) for pid in workers)
            requests_before = sum(c.requests + e.requests for c, e in sides)
            t0 = time.perf_counter()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            rss_after = worker_rss(server.process.pid)
            # CPU the workers used (load-insensitive, unlike the times): ticks -> ms.
            cpu_ms = (
                (sum(_proc_ticks(pid) for pid in workers) - ticks_before)
                * 1000
                / os.sysconf("SC_CLK_TCK")
            )
        times = [r["seconds"] for r in results if r.get("seconds") is not None]
        lost = sum(r.get("lost", 0) for r in results)
        late = sum(r.get("late", 0) for r in results)
        dupes = sum(c.duplicates + e.duplicates for c, e in sides)
        requests = sum(c.requests + e.requests for c, e in sides) - requests_before
        fallbacks = sum(c.join_fallbacks + e.join_fallbacks for c, e in sides)
        errors = [err for c, e in sides for err in c.errors + e.errors]
        mode = "batched posts (as the page)" if args.batch else "one message per POST"
        mode += ", session auth (no call token)" if args.session_auth else ", call token"
        mode += (
            ", join token by request"
            if args.no_rendered_token
            else ", join token from the page (loaded untimed)"
        )
        print(
            f"\nSignalling: {args.calls} concurrent set-ups, {args.ice} ICE each way, {mode}, "
            f"poll every {args.poll_ms} ms; gunicorn {args.workers} {args.worker_class} workers"
        )
        print(f"  set-ups completed   {len(times)}/{args.calls} in {wall:.2f} s")
        if times:
            print(f"  set-ups/s           {len(times) / wall:.1f}")
            print(
                f"  set-up time         p50 {percentile(times, 50):.3f} s   p99 {percentile(times, 99):.3f} s   max {max(times):.3f} s"
            )
        print(
            f"  requests            {requests} ({requests / wall:.0f}/s); rendered join "
            f"tokens refused: {fallbacks}"
        )
        print(
            f"  server CPU          {cpu_ms:.0f} ms: {cpu_ms / max(1, requests):.1f} ms a request, "
            f"{cpu_ms / args.calls:.0f} ms a set-up "
            f"(so about {2000 / max(1.0, cpu_ms / args.calls):.0f} set-ups/s on 2 idle cores)"
        )
        print(
            f"  messages lost       {lost}   (late, past --timeout but delivered: {late}; "
            f"duplicates dropped by the client: {dupes})"
        )
        print(f"  worker RSS          before {_mib(rss_before)}; after {_mib(rss_after)}")
        if args.trace and times:
            slowest = max(range(len(results)), key=lambda i: results[i].get("seconds") or 0)
            c, e = sides[slowest]
            start = min(x[0] for x in c.trace + e.trace)
            print("  slowest set-up, request by request (start ms, side, request, ms):")
            for role, (at, what, ms) in sorted(
                [("customer", x) for x in c.trace] + [("expert", x) for x in e.trace],
                key=lambda item: item[1][0],
            ):
                print(f"    {(at - start) * 1000:7.0f}  {role:8}  {what:28} {ms:6.1f}")
        if errors:
            print(f"  errors              {len(errors)}, first: {errors[0]}")
        if times:
            p99 = percentile(times, 99)
            verdict = "met" if p99 < TARGET_P99_SECONDS and lost == 0 else "NOT met"
            print(f"  target (p99 < {TARGET_P99_SECONDS:.0f} s, no message lost): {verdict}")
        print(f"  load (1/5/15 min)   {_load()}")
        return 0
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
