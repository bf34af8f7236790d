"""The premium section of the question page: offers as cards, the button and its form."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from marketplace.models import User
from payments.models import Payment, PaymentStatus
from questions.panels import Panel
from questions.selectors import QuestionAccess

from . import services
from .forms import OfferForm
from .models import Offer

RECEIPT_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)


def premium_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    question = access.question
    user: User = request.user  # type: ignore[assignment]
    offers = list(
        Offer.objects.filter(question=question).select_related("expert").order_by("sent_at")
    )
    context: dict[str, object] = {
        "offers": offers,
        "role": access.role,
        "now": timezone.now(),
    }
    if access.role == "expert":
        verdict = services.eligibility_for(question=question, expert=user)
        context["eligibility"] = verdict
        if verdict.reason not in ("no_tool", "not_conversing"):
            templates = services.templates_for_offer(question=question, expert=user)
            context["offer_form"] = OfferForm(templates=templates)
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
