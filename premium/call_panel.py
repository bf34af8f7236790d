"""The calls section of the question page: for each accepted call-type offer, a way to join
(the customer's consent step for a screen share) and the summary of its last session.

One query: the offers with their latest session's facts as subqueries. Each offer the
viewer may join carries a single-use join token (signed, nothing stored until spent). None when the
question has no accepted call-type offer (the common case), so the page pays one query.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest

from questions.panels import Panel
from questions.selectors import QuestionAccess

from . import calls
from .call_models import CALL_SERVICE_KINDS, CallEndReason, CallKind, CallSession, CallStatus
from .models import ACCEPTED_STATES, Offer
from .panel import page_offers

LAST_SESSION_FIELDS = (
    "pk",
    "status",
    "kind",
    "created_at",
    "connected_at",
    "ended_at",
    "end_reason",
    "consented_at",
    "customer_joined_at",
    "expert_joined_at",
)


def call_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    if access.role not in ("customer", "expert", "staff"):
        return None
    if not any(  # the offers the premium panel read: most pages have no call to show
        o.service_kind in CALL_SERVICE_KINDS and o.status in ACCEPTED_STATES
        for o in page_offers(request, access.question)
    ):
        return None
    latest = CallSession.objects.filter(offer=OuterRef("pk")).order_by("-created_at")
    offers = list(
        Offer.objects.filter(
            question=access.question,
            service_kind__in=list(CALL_SERVICE_KINDS),
            status__in=ACCEPTED_STATES,
        )
        .annotate(**{f"last_{f}": Subquery(latest.values(f)[:1]) for f in LAST_SESSION_FIELDS})
        .order_by("accepted_at", "pk")
    )
    if not offers:
        return None
    question = access.question
    items = []
    for offer in offers:
        kind = CALL_SERVICE_KINDS[offer.service_kind]
        last = None
        if offer.last_pk is not None:  # type: ignore[attr-defined]
            last = CallSession(
                offer=offer, **{f: getattr(offer, f"last_{f}") for f in LAST_SESSION_FIELDS}
            )
        items.append(
            {
                "offer": offer,
                "kind": kind,
                "kind_label": CallKind(kind).label,
                "last": last,
                "last_open": last is not None and last.status != CallStatus.ENDED,
                "duration": calls.duration_text(last.duration_seconds) if last else "",
                # Rendered, so that clicking Join is one request (static/js/call.js).
                "join_token": calls.join_token_render(
                    offer_id=offer.pk,
                    user_id=request.user.pk,
                    session_key=request.session.session_key,
                )
                if offer.status == "accepted" and access.role in ("customer", "expert")
                else "",
                "end_reason": CallEndReason(last.end_reason).label
                if last and last.end_reason
                else "",
                # The expert's report, written from the call log (only once a call connected).
                "prefill": calls.fulfilment_prefill(offer=offer)
                if access.role == "expert"
                and offer.status == "accepted"
                and last is not None
                and last.status == CallStatus.ENDED
                and last.connected_at is not None
                else "",
            }
        )
    return Panel(
        name="calls",
        template="premium/call_panel.html",
        context={
            "items": items,
            "role": access.role,
            "customer_name": question.customer.name,
            "expert_name": question.expert.name if question.expert else "the expert",
            "ice_servers": json.dumps(settings.EXPERTLINE_ICE_SERVERS),
        },
    )
