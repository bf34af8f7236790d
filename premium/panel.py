"""The premium section of the question page: offers as cards, the button and its form."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from marketplace.models import User
from payments.models import Payment, PaymentStatus
from questions.models import Question
from questions.panels import Panel
from questions.selectors import QuestionAccess

from . import services
from .eligibility import OfferFact, offer_eligibility
from .forms import OfferForm
from .models import Offer

RECEIPT_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)


def page_offers(request: HttpRequest, question: Question) -> list[Offer]:
    """The question's offers, read once per request for all premium panels."""
    memo: dict[int, list[Offer]] = request.__dict__.setdefault("_premium_offers", {})
    if question.pk not in memo:
        memo[question.pk] = list(
            Offer.objects.filter(question=question).select_related("expert").order_by("sent_at")
        )
    return memo[question.pk]


def _customer_message_times(question: Question) -> list[datetime]:
    """When the customer wrote, read once per version of the question: a message is the
    only way they change, and every message moves the version."""
    key = f"qcustomer-times:{question.pk}:v{question.version}"
    times: list[datetime] | None = cache.get(key)
    if times is None:
        times = list(
            question.messages.filter(author_id=question.customer_id).values_list(
                "created_at", flat=True
            )
        )
        cache.set(key, times, 24 * 3600)
    return times


@dataclass(frozen=True)
class RenderedField:
    """A field of the blank offer form, rendered: what panel.html reads of a BoundField."""

    name: str
    id_for_label: str
    label: str
    html: str

    def __str__(self) -> str:
        return self.html

    def __html__(self) -> str:
        return self.html


@functools.lru_cache(maxsize=1024)
def _offer_form_fields(templates: tuple[tuple[int, str, str], ...]) -> tuple[RenderedField, ...]:
    """The blank offer form depends only on the services it lists, so each list's fields
    are rendered once per process (rendering them was a fifth of the question page)."""
    form = OfferForm(
        templates=[SimpleNamespace(pk=pk, name=n, usual_price_display=p) for pk, n, p in templates]
    )
    return tuple(
        RenderedField(f.name, f.id_for_label, str(f.label), str(f.as_widget())) for f in form
    )


def premium_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    question = access.question
    user: User = request.user  # type: ignore[assignment]
    offers = page_offers(request, question)
    now = timezone.now()
    context: dict[str, object] = {"offers": offers, "role": access.role, "now": now}
    if access.role == "expert":
        # The same pure rule as services.eligibility_for, from facts this page already
        # holds: the offers above and the viewer's profile (loaded once per request for
        # the navigation), so only the customer's reply times are read here.
        profile = getattr(user, "expert_profile", None)
        verdict = offer_eligibility(
            expert_has_tool=bool(profile and profile.premium_tool_enabled),
            question_status=question.status,
            picked_up_at=question.picked_up_at,
            customer_reply_times=_customer_message_times(question)
            if profile and profile.premium_tool_enabled
            else [],
            offers=[OfferFact(status=o.status, closed_at=o.closed_at) for o in offers],
            delay_seconds=question.category.offer_delay_seconds,
            now=now,
        )
        context["eligibility"] = verdict
        if verdict.reason not in ("no_tool", "not_conversing"):
            templates = services.templates_for_offer(question=question, expert=user)
            context["offer_form"] = _offer_form_fields(
                tuple((t.pk, t.name, t.usual_price_display) for t in templates)
            )
    if access.role == "customer":
        paid = [
            o.payment_reference
            for o in offers
            if o.status not in ("sent", "declined", "withdrawn", "expired")
        ]
        context["receipts"] = (
            {
                int(p.reference.removeprefix("offer-")): p
                for p in Payment.objects.filter(
                    reference__in=paid, status__in=RECEIPT_STATUSES
                ).select_related("card")
            }
            if paid
            else {}
        )
    if not offers and "offer_form" not in context:
        return None
    return Panel(name="premium", template="premium/panel.html", context=context)
