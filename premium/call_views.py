"""The call endpoints of the question page (JSON, for static/js/call.js): a join token, join,
signalling by short polling, what the browser reports, hanging up. Each parses its input,
calls one function of premium.calls and answers JSON; a DomainError becomes its status.
Join, signal and poll hand out the token with which premium.call_fastpath answers the
page's later signal posts and polls without loading the session or the user."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from marketplace.errors import DomainError
from marketplace.models import User

from . import call_fastpath, calls
from .call_models import CallParticipant, CallSession, SignalMessage


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def body_of(request: HttpRequest) -> dict[str, Any]:
    """A JSON object body, or the form fields; anything else is an empty input."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {k: request.POST.get(k) for k in request.POST}


def _answers_json(view: Callable[..., dict[str, Any]]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return JsonResponse(view(request, *args, **kwargs))
        except DomainError as exc:
            return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.status)

    return wrapped


def session_json(session: CallSession) -> dict[str, Any]:
    return {
        "id": session.pk,
        "kind": session.kind,
        "status": session.status,
        "connected_at": session.connected_at.isoformat() if session.connected_at else None,
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "end_reason": session.end_reason,
    }


def _signal_json(m: SignalMessage) -> dict[str, Any]:
    return {"seq": m.seq, "kind": m.kind, "payload": m.payload}


def _call_token(request: HttpRequest, participant: CallParticipant, offer_id: int) -> str:
    """The signalling fast path's token (premium.call_fastpath), for the X-Call-Token header."""
    return call_fastpath.call_token(
        participant=participant, offer_id=offer_id, session_key=request.session.session_key
    )


@login_required
@require_POST
@_answers_json
def call_token(request: HttpRequest, offer_id: int) -> dict[str, Any]:
    token = calls.join_token_issue(offer_id=offer_id, user=_user(request))
    return {"token": token, "expires_in": calls.JOIN_TOKEN_SECONDS}


@login_required
@require_POST
@_answers_json
def call_join(request: HttpRequest, offer_id: int) -> dict[str, Any]:
    data = body_of(request)
    session_key = request.session.session_key
    joined = calls.call_join(
        offer_id=offer_id,
        user=_user(request),
        token=str(data.get("token") or ""),
        consent=consent_of(data),
        session_key=session_key,
    )
    return joined_json(joined, offer_id=offer_id, session_key=session_key)


def consent_of(data: dict[str, Any]) -> bool:
    return data.get("consent") in (True, "true", "yes", "1")


def joined_json(joined: calls.Joined, *, offer_id: int, session_key: str | None) -> dict[str, Any]:
    """The join's answer (the view's and premium.call_fastpath's)."""
    return {
        "session": session_json(joined.session),
        "role": joined.role,
        "rejoined": joined.rejoined,
        "next_seq": joined.next_seq,
        "peer_after": joined.peer_after,
        "peer_present": joined.peer_present,
        "ice_servers": settings.EXPERTLINE_ICE_SERVERS,
        "call_token": call_fastpath.call_token(
            participant=joined.participant, offer_id=offer_id, session_key=session_key
        ),
    }


@login_required
@require_POST
@_answers_json
def call_signal(request: HttpRequest, offer_id: int) -> dict[str, Any]:
    data = body_of(request)
    after = data.get("after")
    sent = calls.signal_send(
        offer_id=offer_id,
        user=_user(request),
        messages=data.get("messages"),
        after=after if isinstance(after, int) and not isinstance(after, bool) else None,
    )
    return {
        "stored_up_to": sent.stored_up_to,
        "messages": [_signal_json(m) for m in sent.messages],
        "call_token": _call_token(request, sent.participant, offer_id),
    }


@login_required
@require_GET
@_answers_json
def call_poll(request: HttpRequest, offer_id: int) -> dict[str, Any]:
    try:
        after = int(request.GET.get("after", "0"))
    except ValueError:
        after = 0
    poll = calls.signal_poll(offer_id=offer_id, user=_user(request), after=after)
    return {
        "session": session_json(poll.session),
        "messages": [_signal_json(m) for m in poll.messages],
        "call_token": _call_token(request, poll.participant, offer_id),
    }


@login_required
@require_POST
@_answers_json
def call_event(request: HttpRequest, offer_id: int) -> dict[str, Any]:
    data = body_of(request)
    session = calls.call_event(
        offer_id=offer_id,
        user=_user(request),
        kind=str(data.get("kind") or ""),
        note=str(data.get("note") or ""),
    )
    return {"session": session_json(session)}


@login_required
@require_POST
@_answers_json
def call_hang_up(request: HttpRequest, offer_id: int) -> dict[str, Any]:
    data = body_of(request)
    session = calls.call_hang_up(
        offer_id=offer_id, user=_user(request), reason=str(data.get("reason") or "hung_up")
    )
    return {"session": session_json(session)}
