"""The call signalling fast path: post and poll without sessions, users, CSRF or templates.

Join (premium.call_views.call_join, after the full checks and a single-use join token)
hands the participant a call token: the offer, the call session, the participant row and
the user, bound to the browser's session cookie and signed with a timestamp
(marketplace.signed_tokens, the mechanism the question poll uses). A signal post or poll
that carries it in the X-Call-Token header is answered here, placed first in MIDDLEWARE,
with one statement for a poll and two for a post (insert with ON CONFLICT DO NOTHING, then
the select that also checks the participant), and JSON written by hand.

What the browser reports (`connected`) and hanging up take the token too, and call the
same services as their views for the token's user (one query loads it).

Join itself comes here when it carries, in X-Join-Token, the join token the call panel
rendered into the page (premium.calls.join_token_render: single-use, expiring, naming the
user and offer, bound to the session cookie): the join service runs for that user with its
checks and locks, without loading the session.

A request that carries a token owns it: a forged, expired or foreign token (another
offer, another session cookie) is refused with 403 and stores nothing; the page then
falls back to the session-authenticated views, which check access in full and issue a
fresh token. A request without the header goes to those views unchanged. CSRF is moot
here: another site cannot read the token nor set a custom header without our consent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from marketplace.errors import DomainError, NotFound
from marketplace.models import User
from marketplace.signed_tokens import SessionBoundSigner

from . import calls
from .call_models import OPEN_CALL_STATES, CallParticipant, CallSession, SignalMessage

SIGNAL_PATH = re.compile(r"^/offers/(\d+)/call/(signal|poll|event|hang-up)$")
JOIN_PATH = re.compile(r"^/offers/(\d+)/call/join$")
TOKEN_HEADER = "HTTP_X_CALL_TOKEN"
JOIN_TOKEN_HEADER = "HTTP_X_JOIN_TOKEN"
TOKEN_SALT = "premium.call-token"
# A token lives this long; past half of it, an answer carries a fresh one, so a call that
# keeps polling never runs out, and a page left asleep for longer falls back to the views.
TOKEN_MAX_AGE_SECONDS = 900
TOKEN_REFRESH_SECONDS = TOKEN_MAX_AGE_SECONDS // 2
NO_SEQ = 2**31  # above every sequence number (premium.calls.clean_signals)
MAX_MESSAGES = 200  # per answer, as premium.calls._messages_for

_tokens = SessionBoundSigner(salt=TOKEN_SALT, max_age_seconds=TOKEN_MAX_AGE_SECONDS)


def call_token(*, participant: CallParticipant, offer_id: int, session_key: str | None) -> str:
    """The fast path's token for one participant of one call ("" without a session)."""
    return _tokens.issue(
        offer_id,
        participant.session_id,
        participant.pk,
        participant.user_id,
        session_key=session_key,
    )


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if timezone.is_naive(moment):  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))  # SQLite stores text


class _Sql:
    """The statements, with table names from the models (values are parameters)."""

    def __init__(self) -> None:
        q = connection.ops.quote_name
        s, p = q(CallSession._meta.db_table), q(CallParticipant._meta.db_table)
        m, u = q(SignalMessage._meta.db_table), q(User._meta.db_table)
        jsonb = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
        states = ", ".join(["%s"] * len(OPEN_CALL_STATES))
        # The participant, its session and, when asked, the other side's messages after a
        # number (a LEFT JOIN: no message still gives the one row that says who is there).
        read = "SELECT s.status, s.kind, s.connected_at, s.ended_at, s.end_reason,"
        read += " p.left_at, p.last_heartbeat_at, m.seq, m.kind, m.payload"
        read += " FROM {p} p JOIN {s} s ON s.id = p.session_id"
        read += " JOIN {u} u ON u.id = p.user_id AND u.is_active"
        read += " LEFT JOIN {m} m ON m.session_id = s.id AND m.sender_id <> p.user_id"
        read += " AND m.seq > %s"
        read += " WHERE p.id = %s AND p.session_id = %s AND p.user_id = %s AND s.offer_id = %s"
        read += " ORDER BY m.seq LIMIT {limit}"
        self.read = read.format(p=p, s=s, u=u, m=m, limit=MAX_MESSAGES)
        # Stored once per (session, sender, seq), and only while the sender is on the call.
        head = "INSERT INTO {m} (session_id, sender_id, seq, kind, payload, created_at)"
        self.insert_head = head.format(m=m)
        self.insert_row = f"SELECT %s, %s, %s, %s, {jsonb}, %s"
        tail = " WHERE EXISTS (SELECT 1 FROM {p} p JOIN {s} s ON s.id = p.session_id"
        tail += " JOIN {u} u ON u.id = p.user_id AND u.is_active"
        tail += " WHERE p.id = %s AND p.user_id = %s AND p.left_at IS NULL"
        tail += " AND s.status IN ({states}))"
        tail += " ON CONFLICT (session_id, sender_id, seq) DO NOTHING"
        self.insert_tail = tail.format(p=p, s=s, u=u, states=states)
        self.heartbeat = f"UPDATE {p} SET last_heartbeat_at = %s WHERE id = %s"  # noqa: S608


class CallSignalFastPathMiddleware:
    """Placed first: answers token-carrying signal posts and polls before anything loads."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.sql: _Sql | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw_token = request.META.get(TOKEN_HEADER)
        if raw_token is None:
            if JOIN_TOKEN_HEADER in request.META:
                return self._join(request)
            return self.get_response(request)
        match = SIGNAL_PATH.match(request.path_info)
        if match is None:
            return self.get_response(request)
        action = match.group(2)
        if request.method != ("GET" if action == "poll" else "POST"):
            return self.get_response(request)  # the view answers 405
        token = _tokens.read(
            raw_token, session_key=request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        )
        if token is None or len(token.fields) != 4 or token.fields[0] != match.group(1):
            return _refused()
        offer_id, session_id, participant_id, user_id = map(int, token.fields)
        if self.sql is None:
            self.sql = _Sql()
        ids = (participant_id, session_id, user_id, offer_id)
        try:
            if action == "signal":
                body = self._signal(request, ids)
            elif action == "poll":
                body = self._poll(request, ids)
            else:
                body = _report(request, action, offer_id=offer_id, user_id=user_id)
        except DomainError as exc:
            return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.status)
        if token.age_seconds > TOKEN_REFRESH_SECONDS:
            fresh = _tokens.issue(
                *token.fields, session_key=request.COOKIES[settings.SESSION_COOKIE_NAME]
            )
            body = body[:-1] + ',"call_token":' + json.dumps(fresh) + "}"
        response = HttpResponse(body, content_type="application/json")
        response["Cache-Control"] = "no-store"
        return response

    def _join(self, request: HttpRequest) -> HttpResponse:
        """Join by the join token the page rendered (premium.calls.join_token_render): it
        names the user and is bound to the session cookie, as a call token is, so the join
        needs neither the session nor CSRF (another site can neither read the token nor set
        the header). The same service and checks as the view, under the same lock. Anything
        else (another path or method, a token refused here) goes to the view unchanged,
        which checks the session and CSRF and spends the token in the body."""
        match = JOIN_PATH.match(request.path_info)
        if match is None or request.method != "POST":
            return self.get_response(request)
        offer_id = int(match.group(1))
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        raw_token = request.META[JOIN_TOKEN_HEADER]
        user_id = calls.rendered_join_token_user(
            raw_token, offer_id=offer_id, session_key=session_key
        )
        if user_id is None:
            return self.get_response(request)
        from .call_views import body_of, consent_of, joined_json

        try:
            user = User.objects.filter(pk=user_id, is_active=True).first()
            if user is None:
                raise NotFound(calls.NOT_FOUND)
            joined = calls.call_join(
                offer_id=offer_id,
                user=user,
                token=raw_token,
                consent=consent_of(body_of(request)),
                session_key=session_key,
            )
        except DomainError as exc:
            return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.status)
        response = JsonResponse(joined_json(joined, offer_id=offer_id, session_key=session_key))
        response["Cache-Control"] = "no-store"
        return response

    def _read(
        self, ids: tuple[int, int, int, int], after: int, now: datetime
    ) -> tuple[tuple[Any, ...], list[str]]:
        """The participant's row and the other side's messages as JSON texts; NotFound when
        the token names what is not (or no longer) there. A heartbeat when one is due."""
        assert self.sql is not None
        participant_id, session_id, user_id, offer_id = ids
        after = min(max(0, after), NO_SEQ)  # a sequence number is below 2**31
        with connection.cursor() as cursor:
            cursor.execute(self.sql.read, [after, participant_id, session_id, user_id, offer_id])
            rows = cursor.fetchall()
            if not rows:
                raise NotFound(calls.NOT_ON_CALL)
            head = rows[0]
            beat = _dt(head[6])
            open_, due = (
                head[0] in OPEN_CALL_STATES and head[5] is None,
                timedelta(seconds=calls.HEARTBEAT_WRITE_SECONDS),
            )
            if open_ and beat is not None and now - _aware(beat) >= due:
                at = connection.ops.adapt_datetimefield_value(now)
                cursor.execute(self.sql.heartbeat, [at, participant_id])
        # The payloads go out as the database holds them (JSON text): no parse, no dump.
        messages = [
            f'{{"seq":{int(row[7])},"kind":{json.dumps(row[8])},"payload":{_json_text(row[9])}}}'
            for row in rows
            if row[7] is not None
        ]
        return head, messages

    def _poll(self, request: HttpRequest, ids: tuple[int, int, int, int]) -> str:
        try:
            after = int(request.GET.get("after", "0"))
        except ValueError:
            after = 0
        head, messages = self._read(ids, after, timezone.now())
        session = {
            "id": ids[1],
            "kind": head[1],
            "status": head[0],
            "connected_at": _iso(_dt(head[2])),
            "ended_at": _iso(_dt(head[3])),
            "end_reason": head[4],
        }
        return f'{{"session":{json.dumps(session)},"messages":[{",".join(messages)}]}}'

    def _signal(self, request: HttpRequest, ids: tuple[int, int, int, int]) -> str:
        assert self.sql is not None
        participant_id, session_id, user_id, _ = ids
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        cleaned = calls.clean_signals(data.get("messages"))
        after = data.get("after")
        # Without `after` the answer carries no messages (the read still checks the sender).
        since = after if isinstance(after, int) and not isinstance(after, bool) else NO_SEQ
        now = timezone.now()
        at = connection.ops.adapt_datetimefield_value(now)  # as the ORM stores it
        params: list[Any] = []
        for m in cleaned:
            params += [session_id, user_id, m.seq, m.kind, json.dumps(m.payload), at]
        params += [participant_id, user_id, *OPEN_CALL_STATES]
        rows_sql = " UNION ALL ".join([self.sql.insert_row] * len(cleaned))
        sql = f"{self.sql.insert_head} SELECT * FROM ({rows_sql}) v{self.sql.insert_tail}"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        # Read after the insert: it also says whether the sender is on the call (else 404,
        # and the insert above stored nothing).
        head, messages = self._read(ids, since, now)
        if head[0] not in OPEN_CALL_STATES or head[5] is not None:
            raise NotFound(calls.NOT_ON_CALL)
        stored_up_to = max(m.seq for m in cleaned)
        return f'{{"stored_up_to":{stored_up_to},"messages":[{",".join(messages)}]}}'


def _report(request: HttpRequest, action: str, *, offer_id: int, user_id: int) -> str:
    """What the browser reports (`connected`, ...) and hanging up: the same services as the
    views, for the token's user, without the session, CSRF and the rest."""
    from .call_views import body_of, session_json  # the views' parsing and answer, shared

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound(calls.NOT_ON_CALL)
    data = body_of(request)
    if action == "event":
        session = calls.call_event(
            offer_id=offer_id,
            user=user,
            kind=str(data.get("kind") or ""),
            note=str(data.get("note") or ""),
        )
    else:
        session = calls.call_hang_up(
            offer_id=offer_id, user=user, reason=str(data.get("reason") or "hung_up")
        )
    return json.dumps({"session": session_json(session)})


def _json_text(value: Any) -> str:
    """PostgreSQL's jsonb comes back as text (Django asks psycopg not to parse it)."""
    return value if isinstance(value, str) else json.dumps(value)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment


def _refused() -> HttpResponse:
    response = JsonResponse(
        {"error": "call_token", "detail": "This call link is not valid here. Join again."},
        status=403,
    )
    response["Cache-Control"] = "no-store"
    return response
