"""Every write and rule about in-browser calls and screen shares of accepted offers.

Only the offer's customer and its expert may join; each join spends a single-use,
short-lived token. A participant who comes back (a reload, a dropped network) rejoins
the session that is still open. Signalling messages carry the sender's own sequence
number: a retried post is stored once, the poll returns everything after the last
number the reader saw. Each status change goes through `_transition`, which locks the
session, checks CALL_TRANSITIONS and records a CallEvent. A session whose people all
stopped polling is closed by `call_sweep` at their last heartbeat.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from marketplace.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from marketplace.models import User
from marketplace.signed_tokens import SessionBoundSigner
from questions import services as question_services
from questions.models import QuestionStatus

from .call_models import (
    CALL_SERVICE_KINDS,
    CALL_TRANSITIONS,
    OPEN_CALL_STATES,
    CallEndReason,
    CallEvent,
    CallJoinToken,
    CallKind,
    CallParticipant,
    CallSession,
    CallStatus,
    SignalKind,
    SignalMessage,
)
from .models import Offer, OfferStatus

NOT_FOUND = "There is no call here for you."
NOT_ON_CALL = "You are not on a call here. Join it from the page."
# A join token is good for this long, once.
JOIN_TOKEN_SECONDS = 120
# The join token rendered into the page (join_token_render) is good for this long, once: a
# person reads the page a while before clicking Join. It is bound to the browser's session,
# so it is worth nothing alone; past its age the page asks for a fresh one.
RENDERED_JOIN_TOKEN_SECONDS = 600
# Signalling limits: one message's JSON payload (an SDP is 2-6 KB), messages per post.
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_BATCH = 50
# Signalling messages of an ended call are deleted by the sweep after this long.
SIGNAL_RETENTION_SECONDS = 3600
# A participant's heartbeat is written at most this often (seconds).
HEARTBEAT_WRITE_SECONDS = 5
SENDABLE_KINDS = (SignalKind.HELLO, SignalKind.OFFER, SignalKind.ANSWER, SignalKind.ICE)


def call_kind_of(offer: Offer) -> str | None:
    """How an offer is delivered in the browser, or None when it is not a call."""
    return CALL_SERVICE_KINDS.get(offer.service_kind)


def expert_id_of(offer: Offer) -> int | None:
    """The expert who delivers: the offer's, or for an auto offer the question's."""
    return offer.expert_id or offer.question.expert_id


def _role_in(offer: Offer, user: User) -> str | None:
    if user.pk == offer.customer_id:
        return "customer"
    if user.pk is not None and user.pk == expert_id_of(offer):
        return "expert"
    return None


def call_offer_get_for_user(*, offer_id: int, user: User, lock: bool = False) -> tuple[Offer, str]:
    """A call-type offer the user may join now, with their role; else NotFound (strangers
    learn nothing) or Conflict (theirs, but not callable now). With `lock`, the offer's row
    is locked (inside a transaction)."""
    offers = Offer.objects.select_related("question")
    if lock:
        offers = offers.select_for_update(of=("self",))
    offer = offers.filter(pk=offer_id).first()
    if offer is None or not user.is_authenticated or call_kind_of(offer) is None:
        raise NotFound(NOT_FOUND)
    role = _role_in(offer, user)
    if role is None:
        raise NotFound(NOT_FOUND)
    if offer.status != OfferStatus.ACCEPTED:
        raise Conflict(
            "This service is not open for a call: it is " + offer.get_status_display().lower() + "."
        )
    if offer.question.status == QuestionStatus.REFUNDED:
        raise Conflict("This question was refunded.")
    return offer, role


# --- Join tokens -----------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def join_token_issue(*, offer_id: int, user: User, now: datetime | None = None) -> str:
    """A fresh single-use token for this user and offer (only its digest is stored)."""
    offer, _ = call_offer_get_for_user(offer_id=offer_id, user=user)
    now = now or timezone.now()
    token = secrets.token_urlsafe(24)
    CallJoinToken.objects.create(
        offer=offer,
        user=user,
        digest=_digest(token),
        created_at=now,
        expires_at=now + timedelta(seconds=JOIN_TOKEN_SECONDS),
    )
    return token


_rendered_tokens = SessionBoundSigner(
    salt="premium.call-join-token", max_age_seconds=RENDERED_JOIN_TOKEN_SECONDS
)


def join_token_render(*, offer_id: int, user_id: int | None, session_key: str | None) -> str:
    """A single-use join token for the call panel to render, so that clicking Join is one
    request, not two. Nothing is stored until it is spent: it is signed (with a random
    nonce), names the offer and the user, is bound to the browser's session and expires
    after RENDERED_JOIN_TOKEN_SECONDS; spending it stores its digest, once ("" without a
    session: the page then asks for a token as before)."""
    if user_id is None:
        return ""
    return _rendered_tokens.issue(
        offer_id, user_id, secrets.token_urlsafe(9), session_key=session_key
    )


def rendered_join_token_user(token: str, *, offer_id: int, session_key: str | None) -> int | None:
    """The user a rendered join token was issued to, for this offer and session; None
    when it is forged, expired, of another offer or another session (not yet: spent)."""
    read = _rendered_tokens.read(token, session_key=session_key)
    if read is None or len(read.fields) != 3 or read.fields[0] != str(offer_id):
        return None
    return int(read.fields[1])


def _is_rendered(token: str) -> bool:
    return ":" in token  # signed (value:timestamp:signature); join_token_issue's never are


def _spend_rendered_token(
    *, offer: Offer, user: User, token: str, session_key: str | None, now: datetime
) -> bool:
    if rendered_join_token_user(token, offer_id=offer.pk, session_key=session_key) != user.pk:
        return False
    # Spent by storing its digest, which is unique: two joins with one token, one wins.
    table = connection.ops.quote_name(CallJoinToken._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(now)
    expires = connection.ops.adapt_datetimefield_value(
        now + timedelta(seconds=RENDERED_JOIN_TOKEN_SECONDS)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (offer_id, user_id, digest, created_at, expires_at, used_at)"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (digest) DO NOTHING",
            [offer.pk, user.pk, _digest(token), at, expires, at],
        )
        return cursor.rowcount == 1


def _spend_token(
    *, offer: Offer, user: User, token: str, now: datetime, session_key: str | None = None
) -> None:
    if _is_rendered(token or ""):
        if not _spend_rendered_token(
            offer=offer, user=user, token=token, session_key=session_key, now=now
        ):
            raise Forbidden(
                "This join link was already used or has expired. Join again from the page."
            )
        return
    spent = CallJoinToken.objects.filter(
        digest=_digest(token or ""),
        offer=offer,
        user=user,
        used_at__isnull=True,
        expires_at__gt=now,
    ).update(used_at=now)  # a conditional update: two joins with one token, one wins
    if spent != 1:
        raise Forbidden("This join link was already used or has expired. Join again from the page.")


# --- Transitions -------------------------------------------------------------------------


def _transition(
    session: CallSession, to: str, *, actor: User | None, note: str = "", **fields: Any
) -> None:
    """Move a locked session to `to`, or refuse. The one place a call's status is set."""
    if to not in CALL_TRANSITIONS[session.status]:
        raise InvalidTransition(
            "This call has ended." if session.status == CallStatus.ENDED else "Not possible now.",
            code=f"call_{session.status}",
        )
    CallEvent.objects.create(
        session=session,
        actor=actor,
        kind="status",
        from_status=session.status,
        to_status=to,
        note=note[:300],
    )
    session.status = to
    for name, value in fields.items():
        setattr(session, name, value)
    session.save(update_fields=["status", *fields.keys()])
    # The page's call panel (summary) refreshes for both sides through the question poll.
    question_services.question_touch(question_id=session.offer.question_id)


def _lock_open(offer_id: int, user: User) -> CallSession:
    """The user's open session on this offer, locked; NotFound when they are not on one."""
    session = (
        CallSession.objects.select_for_update(of=("self",))
        .select_related("offer")
        .filter(offer_id=offer_id, status__in=OPEN_CALL_STATES, participants__user=user)
        .first()
    )
    if session is None:
        raise NotFound(NOT_ON_CALL)
    return session


# --- Joining -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    session: CallSession
    participant: CallParticipant
    role: str
    rejoined: bool
    next_seq: int  # the number this participant's next message takes
    peer_after: int  # the other side's last number so far: poll after it
    peer_present: bool


def call_join(
    *,
    offer_id: int,
    user: User,
    token: str,
    consent: bool = False,
    session_key: str | None = None,
    now: datetime | None = None,
) -> Joined:
    """Join the offer's open call (or start one), spending a join token: one of
    join_token_issue, or one the page rendered (join_token_render), which must come from
    the browser session `session_key` it was issued to. Someone already on it (a reload, a
    dropped connection) rejoins the same session. A screen share needs the customer's
    explicit consent before the customer joins."""
    now = now or timezone.now()
    with transaction.atomic():
        # The offer's row lock serialises the two sides' first joins: one session, not two.
        offer, role = call_offer_get_for_user(offer_id=offer_id, user=user, lock=True)
        kind = call_kind_of(offer)
        assert kind is not None
        if kind == CallKind.SCREEN_SHARE and role == "customer" and not consent:
            raise InvalidInput("Tick the box to agree to share your screen with the expert.")
        _spend_token(offer=offer, user=user, token=token, now=now, session_key=session_key)
        session = (
            CallSession.objects.select_for_update()
            .filter(offer=offer, status__in=OPEN_CALL_STATES)
            .first()
        )
        consenting = consent and role == "customer" and kind == CallKind.SCREEN_SHARE
        # A new session has no one on it and no messages yet: nothing to look up (a burst
        # of set-ups pays for every query here).
        created = session is None
        events = []
        # Who is on it already (two people at most): the joiner, back again, and the peer;
        # each with the highest number they sent (in the same query).
        people: list[CallParticipant] = (
            []
            if created
            else list(
                CallParticipant.objects.filter(session=session).annotate(
                    top_seq=Subquery(
                        SignalMessage.objects.filter(session=session, sender=OuterRef("user_id"))
                        .order_by("-seq")
                        .values("seq")[:1]
                    )
                )
            )
        )
        participant = next((p for p in people if p.user_id == user.pk), None)
        peer = next((p for p in people if p.user_id != user.pk and p.left_at is None), None)
        if session is None:
            session = CallSession.objects.create(
                offer=offer,
                kind=kind,
                created_at=now,
                consented_at=now if consenting else None,
                **{f"{role}_joined_at": now},
            )
            events.append(CallEvent(session=session, actor=user, kind="started", created_at=now))
        session.offer = offer
        rejoined = participant is not None
        if participant is None:
            participant = CallParticipant.objects.create(
                session=session, user=user, role=role, joined_at=now, last_heartbeat_at=now
            )
            if not created:
                field = f"{role}_joined_at"
                setattr(session, field, now)
                session.save(update_fields=[field])
        else:
            participant.joins += 1
            participant.left_at = None
            participant.last_heartbeat_at = now
            participant.save(update_fields=["joins", "left_at", "last_heartbeat_at"])
        events.append(
            CallEvent(
                session=session,
                actor=user,
                kind="rejoined" if rejoined else "joined",
                note=role,
                created_at=now,
            )
        )
        if consenting:
            if session.consented_at is None:
                session.consented_at = now
                session.save(update_fields=["consented_at"])
            events.append(
                CallEvent(
                    session=session,
                    actor=user,
                    kind="consent",
                    note="agreed to share their screen with the expert (view only, with voice)",
                    created_at=now,
                )
            )
        CallEvent.objects.bulk_create(events)  # in order: their ids keep it
        # Only participants send: their numbers are all there is.
        seqs: dict[int, int] = {
            p.user_id: p.top_seq  # type: ignore[attr-defined]
            for p in people
            if p.top_seq is not None  # type: ignore[attr-defined]
        }
        peer_present = peer is not None and peer.last_heartbeat_at > now - timedelta(
            seconds=settings.EXPERTLINE_CALL_HEARTBEAT_TIMEOUT_SECONDS
        )
        peer_after = max((top for sender, top in seqs.items() if sender != user.pk), default=0)
        # The joiner's hello, so the other side (re)starts the negotiation: sent by the join
        # itself, one request less for each side.
        hello_seq = seqs.get(user.pk, 0) + 1
        SignalMessage.objects.create(
            session=session, sender=user, seq=hello_seq, kind=SignalKind.HELLO, created_at=now
        )
        question_services.question_touch(question_id=offer.question_id)
    return Joined(
        session=session,
        participant=participant,
        role=role,
        rejoined=rejoined,
        next_seq=hello_seq + 1,
        peer_after=peer_after,
        peer_present=peer_present,
    )


# --- Signalling -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingSignal:
    seq: int
    kind: str
    payload: dict[str, Any]


def clean_signals(raw: Any) -> list[OutgoingSignal]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("Send a list of signalling messages.")
    if len(raw) > MAX_BATCH:
        raise InvalidInput(f"At most {MAX_BATCH} signalling messages at once.")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("A signalling message is an object with seq, kind and payload.")
        seq, kind, payload = item.get("seq"), item.get("kind"), item.get("payload", {})
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 2**31:
            raise InvalidInput("A signalling message needs a positive sequence number.")
        if kind not in SENDABLE_KINDS:
            raise InvalidInput(f"Unknown signalling message kind: {str(kind)[:20]!r}.")
        if not isinstance(payload, dict):
            raise InvalidInput("A signalling message's payload is an object.")
        if len(json.dumps(payload, separators=(",", ":"))) > MAX_PAYLOAD_BYTES:
            raise InvalidInput("This signalling message is too large.")
        out.append(OutgoingSignal(seq, kind, payload))
    return out


def _participant_of_open(offer_id: int, user: User) -> CallParticipant:
    """One query: the user's participation in the offer's open session (with it)."""
    participant = (
        CallParticipant.objects.select_related("session")
        .filter(
            session__offer_id=offer_id,
            session__status__in=OPEN_CALL_STATES,
            user=user,
            left_at__isnull=True,
        )
        .first()
    )
    if participant is None:
        raise NotFound(NOT_ON_CALL)
    return participant


def _heartbeat(participant: CallParticipant, now: datetime) -> None:
    """Record that the participant is still there; at most one write per HEARTBEAT_WRITE_SECONDS
    (a poll every 250 ms must not be a write and a commit each), so the recorded last
    heartbeat, and a swept call's end, is at most that much early."""
    if now - participant.last_heartbeat_at >= timedelta(seconds=HEARTBEAT_WRITE_SECONDS):
        CallParticipant.objects.filter(pk=participant.pk).update(last_heartbeat_at=now)


@dataclass(frozen=True)
class Sent:
    stored_up_to: int  # the highest number of this post, now stored
    messages: list[SignalMessage]  # the other side's after `after`, when asked
    participant: CallParticipant


def signal_send(
    *,
    offer_id: int,
    user: User,
    messages: Any,
    after: int | None = None,
    now: datetime | None = None,
) -> Sent:
    """Store the user's signalling messages for the other side. Idempotent per (sender,
    seq): a post retried after a lost answer stores nothing twice. With `after`, the answer
    also carries the other side's messages numbered after it, as a poll would: one request
    less while the two sides trade their offer, answer and candidates."""
    now = now or timezone.now()
    participant = _participant_of_open(offer_id, user)  # strangers learn nothing, not even a 400
    cleaned = clean_signals(messages)
    SignalMessage.objects.bulk_create(
        [
            SignalMessage(
                session_id=participant.session_id,
                sender=user,
                seq=m.seq,
                kind=m.kind,
                payload=m.payload,
                created_at=now,
            )
            for m in cleaned
        ],
        ignore_conflicts=True,
    )
    _heartbeat(participant, now)
    incoming = _messages_for(participant.session_id, user, after) if after is not None else []
    return Sent(max(m.seq for m in cleaned), incoming, participant)


def _messages_for(session_id: int, user: User, after: int) -> list[SignalMessage]:
    return list(
        SignalMessage.objects.filter(session_id=session_id, seq__gt=max(0, after))
        .exclude(sender=user)
        .order_by("seq")[:200]
    )


@dataclass(frozen=True)
class Poll:
    session: CallSession
    messages: list[SignalMessage]
    participant: CallParticipant


def signal_poll(*, offer_id: int, user: User, after: int, now: datetime | None = None) -> Poll:
    """The other side's messages numbered after `after`, in order; a heartbeat. On a session
    that just ended, the user learns it (status `ended`, and the other side's bye) instead
    of a 404."""
    now = now or timezone.now()
    participant = (
        CallParticipant.objects.select_related("session")
        .filter(session__offer_id=offer_id, user=user)
        .order_by("-session__created_at")
        .first()
    )
    if participant is None:
        raise NotFound(NOT_ON_CALL)
    session = participant.session
    if session.status != CallStatus.ENDED:
        _heartbeat(participant, now)
    return Poll(session, _messages_for(session.pk, user, after), participant)


# --- Connected, events, hanging up ------------------------------------------------------


CLIENT_EVENTS = {
    "connected",  # the browser's peer connection reached `connected`
    "disconnected",
    "failed",
    "share_started",
    "share_stopped",
    "media_error",
}


@transaction.atomic
def call_event(
    *, offer_id: int, user: User, kind: str, note: str = "", now: datetime | None = None
) -> CallSession:
    """What a browser reports about its call. `connected` moves the session from waiting to
    connected (the first report sets connected_at); the others are logged."""
    now = now or timezone.now()
    session = _lock_open(offer_id, user)
    if kind not in CLIENT_EVENTS:
        raise InvalidInput("Unknown call event.")
    if kind == "connected" and session.status == CallStatus.WAITING:
        _transition(session, CallStatus.CONNECTED, actor=user, connected_at=now)
    else:
        CallEvent.objects.create(
            session=session, actor=user, kind=kind, note=(note or "")[:300], created_at=now
        )
    return session


def call_hang_up(
    *, offer_id: int, user: User, reason: str = CallEndReason.HUNG_UP, now: datetime | None = None
) -> CallSession:
    """Either side ends the call for both (a customer stopping a screen share too)."""
    now = now or timezone.now()
    with transaction.atomic():
        session = _lock_open(offer_id, user)
        if reason not in (CallEndReason.HUNG_UP, CallEndReason.STOPPED_SHARING):
            raise InvalidInput("Unknown way to end a call.")
        CallParticipant.objects.filter(session=session, user=user).update(
            left_at=now, last_heartbeat_at=now
        )
        top = (
            SignalMessage.objects.filter(session=session, sender=user).aggregate(top=Max("seq"))[
                "top"
            ]
            or 0
        )
        # The other browser learns it from its poll (status ended) or from this bye.
        SignalMessage.objects.create(
            session=session,
            sender=user,
            seq=top + 1,
            kind=SignalKind.BYE,
            payload={"reason": reason},
            created_at=now,
        )
        _transition(
            session,
            CallStatus.ENDED,
            actor=user,
            note=f"{CallEndReason(reason).label} by {user.name}",
            ended_at=now,
            end_reason=reason,
            ended_by=user,
        )
    return session


def call_sweep(*, now: datetime | None = None, batch: int = 200) -> int:
    """Beat job: an open session whose people all stopped polling for the heartbeat timeout
    is ended at its real end: the last heartbeat of anyone on it. Signalling messages of
    sessions ended over SIGNAL_RETENTION_SECONDS ago are deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.EXPERTLINE_CALL_HEARTBEAT_TIMEOUT_SECONDS)
    stale = list(
        CallSession.objects.filter(status__in=OPEN_CALL_STATES)
        .annotate(last_beat=Max("participants__last_heartbeat_at"))
        .filter(last_beat__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch]
    )
    closed = 0
    for session_id in stale:
        with transaction.atomic():
            session = (
                CallSession.objects.select_for_update(of=("self",))
                .select_related("offer")
                .filter(pk=session_id)
                .first()
            )
            if session is None or session.status not in OPEN_CALL_STATES:
                continue
            last = session.participants.aggregate(top=Max("last_heartbeat_at"))["top"]
            if last is None or last >= cutoff:
                continue  # someone came back meanwhile
            # Never before it connected: a heartbeat can predate a late `connected` report.
            ended_at = max(last, session.connected_at) if session.connected_at else last
            _transition(
                session,
                CallStatus.ENDED,
                actor=None,
                note="no heartbeat from anyone on the call",
                ended_at=ended_at,
                end_reason=CallEndReason.LOST,
            )
            closed += 1
    # Signalling of calls ended a while ago is transport, not log (ICE candidates carry
    # network addresses): it goes; the sessions, participants and events stay.
    SignalMessage.objects.filter(
        session__status=CallStatus.ENDED,
        session__ended_at__lt=now - timedelta(seconds=SIGNAL_RETENTION_SECONDS),
    ).delete()
    return closed


# --- The summary and fulfilment ---------------------------------------------------------


def _clock(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%b %d, %H:%M}"


def duration_text(seconds: int | None) -> str:
    if seconds is None:
        return "never connected"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def connected_sessions(offer: Offer) -> list[CallSession]:
    return list(
        CallSession.objects.filter(offer=offer, connected_at__isnull=False)
        .select_related("ended_by")
        .prefetch_related("participants__user")
        .order_by("created_at")
    )


def fulfilment_prefill(*, offer: Offer) -> str:
    """The expert's fulfilment report, written from the call log ("" when it is no call)."""
    kind = call_kind_of(offer)
    if kind is None:
        return ""
    lines = []
    for session in connected_sessions(offer):
        people = ", ".join(f"{p.user.name} ({p.role})" for p in session.participants.all())
        assert session.connected_at is not None
        end = (
            f"ended {_clock(session.ended_at)} ({session.get_end_reason_display().lower()})"
            if session.ended_at
            else "still open"
        )
        lines.append(
            f"{CallKind(kind).label} call-{session.pk}: connected {_clock(session.connected_at)}, "
            f"{end}, lasted {duration_text(session.duration_seconds)}; joined: {people}."
        )
    return "\n".join(lines)


def fulfilment_check(*, offer: Offer) -> None:
    """Refuse to report a call-type service fulfilled when no call of it ever connected
    (called by premium.services.offer_fulfil, under the offer's lock)."""
    if call_kind_of(offer) is None:
        return
    if not CallSession.objects.filter(offer=offer, connected_at__isnull=False).exists():
        raise Conflict(
            "No call of this service ever connected, so it cannot be reported as fulfilled. "
            "Call the customer from this page first, or say it cannot be completed.",
            code="call_never_connected",
        )
