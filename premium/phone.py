"""Phone-call requests of the phone-first flow, as Auto Premium Service offers.

The questions app's intake bot asks chat or phone; for a phone call it creates a
draft question priced at the category's phone-call price and asks the booker
registered here to create the Auto Premium offer and charge it up front
(`offer_accept`). The payment posts the question to the Request Center; the
expert who picks it up becomes the offer's expert (who reports its fulfilment).
Wired in PremiumConfig.ready.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.urls import reverse

from marketplace.errors import Conflict
from payments import services as payment_services
from payments.models import Payment, PaymentStatus
from questions import services as question_services
from questions.intake import PhoneBooking
from questions.models import Channel, Question, QuestionStatus

from . import services
from .models import ACCEPTED_STATES, Offer, OfferKind, OfferStatus, ServiceKind

LIVE = (OfferStatus.SENT, OfferStatus.ACCEPTING, *ACCEPTED_STATES)


def _phone_offer(question: Question) -> Offer | None:
    return (
        Offer.objects.filter(
            question=question,
            kind=OfferKind.AUTO,
            service_kind=ServiceKind.PHONE_CALL,
            status__in=LIVE,
        )
        .order_by("-sent_at")
        .first()
    )


def _booking(offer: Offer, payment: Payment | None) -> PhoneBooking:
    if offer.status in ACCEPTED_STATES or (
        payment is not None and payment.status == PaymentStatus.SUCCEEDED
    ):
        return PhoneBooking(status="paid")
    if payment is not None and payment.status == PaymentStatus.REQUIRES_ACTION:
        return PhoneBooking(
            status="requires_action",
            message="Your bank asks you to confirm this payment.",
            next_action_url=payment.next_action_url
            or reverse("offer_payment_return", args=[offer.pk]),
        )
    return PhoneBooking(status="failed", message=offer.charge_failure or "The payment is pending.")


def phone_request_book(question: Question) -> PhoneBooking:
    """Create the phone call's Auto Premium offer once and charge it (card on file).

    Safe to call again after a decline or a lost answer: the live offer is reused and
    its payment reference keeps the charge exactly once."""
    offer = _phone_offer(question)
    if offer is None:
        assert question.phone_price_minor is not None
        offer = services.auto_offer_create(
            question_id=question.pk,
            service_name=f"Phone call with a {question.category.name} expert",
            description="A phone call with a verified expert, booked and paid up front.",
            price_minor=question.phone_price_minor,
            kind=ServiceKind.PHONE_CALL,
        )
    if offer.status in ACCEPTED_STATES:
        return PhoneBooking(status="paid")
    if offer.status == OfferStatus.ACCEPTING:
        offer = services.offer_payment_sync(offer_id=offer.pk, customer=question.customer)
        payment = (
            Payment.objects.filter(reference=offer.payment_reference)
            .exclude(status=PaymentStatus.FAILED)
            .first()
        )
        return _booking(offer, payment)
    try:
        offer, payment = services.offer_accept(offer_id=offer.pk, customer=question.customer)
    except payment_services.PaymentFailed as exc:
        return PhoneBooking(status="failed", message=exc.message)
    except Conflict as exc:
        return PhoneBooking(status="failed", message=exc.message)
    return _booking(offer, payment)


def on_offer_paid(offer: Offer) -> None:
    """The phone call is paid: its question goes to the Request Center (intake → open).
    `offer`: the paid offer, locked with its question by `services.on_payment_succeeded`."""
    if offer.kind != OfferKind.AUTO:
        return
    question = offer.question
    if question.channel == Channel.PHONE and question.status == QuestionStatus.INTAKE:
        # The offer's customer is the question's.
        question_services.question_post(question_id=question.pk, customer=offer.customer)


@transaction.atomic
def on_picked_up(*, question: Question, expert: Any) -> None:
    """The expert who accepts a phone-call request becomes its offer's expert."""
    if question.channel != Channel.PHONE:
        return
    Offer.objects.filter(
        question=question, kind=OfferKind.AUTO, expert__isnull=True, status__in=LIVE
    ).update(expert=expert)


def offer_references(question_ids: Iterable[int]) -> dict[int, list[str]]:
    """For the rollout report: each question's offer payment references."""
    found: dict[int, list[str]] = {}
    for question_id, offer_id in Offer.objects.filter(
        question_id__in=list(question_ids)
    ).values_list("question_id", "pk"):
        found.setdefault(question_id, []).append(f"offer-{offer_id}")
    return found
