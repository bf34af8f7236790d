"""The live-update poll's fast path: "nothing changed" without loading the session or the user.

The question page (and every answer of the poll) hands the viewer a poll token: the
question, the viewer, the version the viewer has seen and a digest of the viewer's
session cookie, signed with a timestamp. A poll carrying a valid token, sent with the
same session cookie, is answered 204 from one indexed query when the question's version
and the viewer's unread count are still what the browser holds. Anything else (no token,
a bad, expired or foreign token, another session, a change, a staff viewer who is not a
participant) falls through to the poll view, which checks access in full.

So an outsider learns nothing: a token is issued only to someone the poll view let read
the thread, it is bound to that person's session cookie, and its answer is only "nothing
new since the version you were shown". The view stays the place of the access rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from marketplace import presence
from marketplace.models import User
from marketplace.prepared import prepared_cursor
from marketplace.signed_tokens import SessionBoundSigner

from .models import Question

POLL_PATH = re.compile(r"^/q/(\d+)/poll$")
TOKEN_SALT = "questions.poll-token"
# A token older than this falls through to the view, which issues a fresh one; it bounds
# how long a page kept open after its session ended still hears "nothing new".
TOKEN_MAX_AGE_SECONDS = 600
TOKEN_HEADER = "X-Poll-Token"

_tokens = SessionBoundSigner(salt=TOKEN_SALT, max_age_seconds=TOKEN_MAX_AGE_SECONDS)


def poll_token(*, question_id: int, user_id: int, version: int, session_key: str | None) -> str:
    """The token for a viewer who may read the thread ("" without a session)."""
    return _tokens.issue(question_id, user_id, version, session_key=session_key)


def _unchanged_sql() -> str:
    """One primary-key lookup of each; the viewer must still be the customer or the expert.
    Table names come from the models; the values are parameters."""
    q = connection.ops.quote_name(Question._meta.db_table)
    u = connection.ops.quote_name(User._meta.db_table)
    sql = "SELECT q.version, u.unread_notifications FROM {q} q, {u} u WHERE q.id = %s"
    sql += " AND u.id = %s AND u.is_active AND (q.customer_id = u.id OR q.expert_id = u.id)"
    return sql.format(q=q, u=u)


class PollFastPathMiddleware:
    """Placed first: answers the unchanged poll before sessions, auth and the rest load."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.sql = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and "t" in request.GET:
            match = POLL_PATH.match(request.path_info)
            if match and self._unchanged(request, int(match.group(1))):
                response = HttpResponse(status=204)
                response["Cache-Control"] = "no-store"  # the same URL answers differently later
                return response
        return self.get_response(request)

    def _unchanged(self, request: HttpRequest, question_id: int) -> bool:
        token = _tokens.read(
            request.GET["t"], session_key=request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        )
        if token is None:
            return False
        try:
            qid, uid, version = token.fields
            seen_version = int(request.GET.get("v", ""))
            seen_unread = int(request.GET.get("n", ""))
        except ValueError:
            return False
        if int(qid) != question_id or int(version) != seen_version:
            return False
        if not self.sql:
            self.sql = _unchanged_sql()
        with prepared_cursor() as cursor:
            cursor.execute(self.sql, [question_id, int(uid)])
            row = cursor.fetchone()
        if row is None or row[0] != seen_version or row[1] != seen_unread:
            return False
        presence.mark_throttled(int(uid), presence.question_place(question_id))
        return True
