"""The premium section of the question page: offers as cards, the button and its form.

The section is cached as HTML per question version and viewer (panel_key), with its
CSRF token left as a placeholder filled per request. Everything it shows moves the
question's version (an offer sent, declined, withdrawn, expired, paid: every offer
transition calls question_touch) or is part of the key (the viewer's role and premium
tool, the category's delay, the names, the time zone), except two things:

- the services listed in the offer form: a generation number, bumped whenever a
  ServiceTemplate is saved or deleted, is read with the entry and must match;
- the clock: "too early" becomes "allowed" at the eligibility's due_at. The entry keeps
  that moment and is rendered again once it has passed (the page's script reveals the
  button at that moment without a reload; the server still refuses an early offer).
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from marketplace.models import User
from payments.models import Payment, PaymentStatus
from questions import panels
from questions.models import Question
from questions.panels import Panel
from questions.selectors import QuestionAccess

from . import services
from .eligibility import OfferFact, offer_eligibility
from .forms import OfferForm
from .models import Offer, ServiceTemplate

RECEIPT_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)
PANEL_TTL_SECONDS = 24 * 3600
SERVICES_GENERATION_KEY = "premium:services-generation"
CSRF_PLACEHOLDER = "__expertline_csrf_token__"


def _offers_key(question: Question) -> str:
    return f"qoffers:{question.pk}:v{question.version}"


def page_offers(request: HttpRequest, question: Question) -> list[Offer]:
    """The question's offers, read once per request for all premium panels, and once per
    version of the question: every offer change moves it (question_touch), so each
    process also keeps them once seen."""
    memo: dict[int, list[Offer]] = request.__dict__.setdefault("_premium_offers", {})
    if question.pk not in memo:
        key = _offers_key(question)
        offers: list[Offer] | None
        _, offers = panels.cached(request, key, keep=True)
        if offers is None:
            offers = list(
                Offer.objects.filter(question=question).select_related("expert").order_by("sent_at")
            )
            panels.store(request, key, offers, PANEL_TTL_SECONDS, keep=True)
        memo[question.pk] = offers
    return memo[question.pk]


def services_generation_bump() -> None:
    """The offer forms list other services now: every cached premium panel is stale."""
    cache.set(SERVICES_GENERATION_KEY, time.time_ns(), None)


@receiver(post_save, sender=ServiceTemplate, dispatch_uid="premium-services-generation-save")
@receiver(post_delete, sender=ServiceTemplate, dispatch_uid="premium-services-generation-del")
def _services_changed(sender: Any, **_: Any) -> None:
    # Now, and again when the change is committed: a panel rendered in between read the
    # old list under the new number.
    services_generation_bump()
    transaction.on_commit(services_generation_bump)


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


def panel_key(request: HttpRequest, access: QuestionAccess) -> str:
    question = access.question
    user: User = request.user  # type: ignore[assignment]
    tool = False
    if access.role == "expert":
        profile = getattr(user, "expert_profile", None)
        tool = bool(profile and profile.premium_tool_enabled)
    names = question.customer.name + "\x00" + (question.expert.name if question.expert else "")
    digest = hashlib.blake2b(names.encode(), digest_size=8).hexdigest()
    return (
        f"qpremium:{question.pk}:v{question.version}:u{user.pk}:{access.role}:t{int(tool)}"
        f":c{question.category_id}.{question.category.offer_delay_seconds}"
        f":{timezone.get_current_timezone_name()}:{digest}"
    )


def panel_keys(request: HttpRequest, access: QuestionAccess) -> list[str]:
    """What the premium panels read from the cache (questions.panels reads them in one
    round trip with the other panels' keys): the section, the services generation (read
    fresh on every page) and the offers (for the calls panel, and a render)."""
    return [panel_key(request, access), SERVICES_GENERATION_KEY, _offers_key(access.question)]


def premium_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    """The section from the cache (with this request's CSRF token), or rendered once.

    The entry is also kept per process: it is checked against the generation and its
    stale_at on every page, whichever copy it is."""
    question = access.question
    key = panel_key(request, access)
    _, generation = panels.cached(request, SERVICES_GENERATION_KEY)
    if generation is None:  # never set, or evicted: a new number, so no entry matches it
        generation = time.time_ns()
        if not cache.add(SERVICES_GENERATION_KEY, generation, None):
            generation = cache.get(SERVICES_GENERATION_KEY, generation)

    def fresh(entry: dict[str, Any] | None) -> bool:
        return (
            entry is not None
            and entry["generation"] == generation
            and (entry["stale_at"] is None or time.time() < entry["stale_at"])
        )

    _, entry = panels.cached(request, key, keep=True, valid=fresh)
    if fresh(entry):
        html = entry["html"]
    else:
        panel = _premium_panel(request, access)
        html = ""
        stale_at = None
        if panel is not None:
            verdict = panel.context.get("eligibility")
            if verdict is not None and verdict.reason == "too_early" and verdict.due_at:
                stale_at = verdict.due_at.timestamp()
            html = render_to_string(
                panel.template,
                {**panel.context, "question": question, "csrf_token": CSRF_PLACEHOLDER},
            )
        panels.store(
            request,
            key,
            {"html": html, "generation": generation, "stale_at": stale_at},
            PANEL_TTL_SECONDS,
            keep=True,
        )
    if not html:
        return None
    return Panel(
        name="premium",
        template="premium/panel.html",
        context={},
        # Our template's output with a token of [A-Za-z0-9] in place of the placeholder.
        html=mark_safe(html.replace(CSRF_PLACEHOLDER, get_token(request))),  # noqa: S308
    )


def _premium_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    question = access.question
    user: User = request.user  # type: ignore[assignment]
    offers = page_offers(request, question)
    now = timezone.now()
    context: dict[str, object] = {"offers": offers, "role": access.role}
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
