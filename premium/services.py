"""Every write about premium services: catalogs, sending, accepting (charged exactly
once), declining, withdrawing, expiry, fulfilment, cannot-complete and refunds.

Each status change goes through `_transition`, which locks the offer, checks the
move against OFFER_TRANSITIONS and records an OfferEvent.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from marketplace import notifications, payout_levels, presence, ratelimit, rowwrites
from marketplace.compiled import CompiledQuery
from marketplace.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from marketplace.models import ExpertProfile, NotificationKind, User
from marketplace.money import Money, format_minor
from marketplace.roles import CUSTOMER_CARE
from payments import services as payment_services
from payments.models import Payment, PaymentStatus
from privacy import services as privacy_services
from questions import credit
from questions import services as question_services
from questions.models import Question, QuestionStatus

from .eligibility import Eligibility, OfferFact, offer_eligibility
from .models import (
    OFFER_TRANSITIONS,
    PENDING,
    FulfilmentReport,
    Offer,
    OfferEvent,
    OfferKind,
    OfferStatus,
    ServiceKind,
    ServiceTemplate,
)

log = logging.getLogger(__name__)
NOT_FOUND = "This offer does not exist."


# --- Eligibility (reads the facts, asks the pure rule) -----------------------------


def eligibility_for(
    *, question: Question, expert: User, now: datetime | None = None
) -> Eligibility:
    profile = ExpertProfile.objects.filter(user=expert).first()
    replies = list(
        question.messages.filter(author_id=question.customer_id).values_list(
            "created_at", flat=True
        )
    )
    offers = [
        OfferFact(status=o.status, closed_at=o.closed_at)
        for o in Offer.objects.filter(question=question).only("status", "closed_at")
    ]
    return offer_eligibility(
        expert_has_tool=bool(profile and profile.premium_tool_enabled),
        question_status=question.status,
        picked_up_at=question.picked_up_at,
        customer_reply_times=replies,
        offers=offers,
        delay_seconds=question.category.offer_delay_seconds,
        now=now or timezone.now(),
    )


def schedule_due_notification(*, question: Question) -> None:
    """After a customer reply: if the button becomes due later, a countdown task tells the
    expert at that moment (the delay is seconds, so a countdown, not a beat sweep)."""
    if question.expert_id is None:
        return
    expert = question.expert
    assert expert is not None
    verdict = eligibility_for(question=question, expert=expert)
    if verdict.reason != "too_early" or verdict.due_at is None:
        return
    countdown = max(0.0, (verdict.due_at - timezone.now()).total_seconds())
    qid, due = question.pk, verdict.due_at.isoformat()

    def enqueue() -> None:
        from .tasks import notify_offer_due

        notify_offer_due.apply_async(args=(qid, due), countdown=countdown)

    transaction.on_commit(enqueue)


def offer_due_notify(*, question_id: int, due_at: str) -> bool:
    """The countdown fired: tell the expert, if it is still due at that moment (once)."""
    question = Question.objects.select_related("category", "expert").get(pk=question_id)
    if question.expert is None:
        return False
    verdict = eligibility_for(question=question, expert=question.expert)
    if not verdict.allowed or verdict.due_at is None or verdict.due_at.isoformat() != due_at:
        return False
    with transaction.atomic():
        # Claimed by a conditional insert of a keyed notification: a task delivered twice notifies once.
        marker = f"offer-due:{question_id}:{due_at}"
        if question.expert.notifications.filter(
            kind=NotificationKind.OFFER_DUE, url__endswith=f"#{marker}"
        ).exists():
            return False
        notifications.notify(
            user=question.expert,
            kind=NotificationKind.OFFER_DUE,
            text=f"You can now offer premium services on “{question.title}”",
            url=f"{question_services.question_url(question.pk)}#{marker}",
            place=presence.question_place(question.pk),
        )
    return True


# --- Catalogs -----------------------------------------------------------------


def templates_for_offer(*, question: Question, expert: User) -> list[ServiceTemplate]:
    """The category's services and the expert's own catalog, active ones only."""
    return list(
        ServiceTemplate.objects.filter(is_active=True)
        .filter(Q(category_id=question.category_id) | Q(expert=expert))
        .order_by("expert_id", "name")
    )


def _clean_money(price_minor: Any, *, low: int, high: int, currency: str, what: str) -> int:
    if not isinstance(price_minor, int) or isinstance(price_minor, bool):
        raise InvalidInput(f"Enter the {what} as an amount such as 40 or 39.50.")
    if price_minor < low or price_minor > high:
        raise InvalidInput(
            f"The {what} must be between {format_minor(low, currency)} and "
            f"{format_minor(high, currency)}."
        )
    return price_minor


def catalog_template_save(
    *,
    expert: User,
    name: str,
    description: str,
    usual_price_minor: int,
    kind: str = ServiceKind.OTHER,
    template_id: int | None = None,
) -> ServiceTemplate:
    """Add a service to the expert's own catalog, or edit one of theirs."""
    name, description = (name or "").strip(), (description or "").strip()
    if not name:
        raise InvalidInput("Give the service a name.")
    if not description:
        raise InvalidInput("Describe what the service includes.")
    if kind not in ServiceKind.values:
        raise InvalidInput("Choose a kind of service.")
    _clean_money(usual_price_minor, low=1, high=10_000_000, currency="USD", what="usual price")
    if template_id is None:
        return ServiceTemplate.objects.create(
            expert=expert,
            name=name[:80],
            description=description[:500],
            usual_price_minor=usual_price_minor,
            kind=kind,
        )
    template = ServiceTemplate.objects.filter(pk=template_id, expert=expert).first()
    if template is None:
        raise NotFound("This service is not in your catalog.")
    template.name, template.description = name[:80], description[:500]
    template.usual_price_minor, template.kind = usual_price_minor, kind
    template.save(update_fields=["name", "description", "usual_price_minor", "kind"])
    return template


def catalog_template_retire(*, expert: User, template_id: int) -> ServiceTemplate:
    template = ServiceTemplate.objects.filter(pk=template_id, expert=expert).first()
    if template is None:
        raise NotFound("This service is not in your catalog.")
    template.is_active = False
    template.save(update_fields=["is_active"])
    return template


# --- Transitions ----------------------------------------------------------------


# The locks of an accept, compiled once per process (marketplace.compiled).
_OFFER_LOCKED = CompiledQuery(
    lambda offer_id: Offer.objects.select_for_update().filter(pk=offer_id).order_by()
)
# Offer first, then its question, as everywhere; with what the consequences of a paid
# offer use: the two people, the expert's profile, the category.
_PAID_OFFER_LOCKED = CompiledQuery(
    lambda offer_id: (
        Offer.objects.select_for_update(of=("self", "question"))
        .select_related("expert__expert_profile", "customer", "question__category")
        .filter(pk=offer_id)
        .order_by()
    )
)


def _lock(offer_id: int) -> Offer:
    offer: Offer | None = _OFFER_LOCKED.first(offer_id)
    if offer is None:
        raise NotFound(NOT_FOUND)
    return offer


def _transition(
    offer: Offer, to: str, *, actor: User | None, note: str = "", touch: bool = True, **fields: Any
) -> None:
    """Move a locked offer to `to`, or refuse. The one place an offer's status is set.
    `touch=False`: the caller moves the question's poll version itself (it saves the
    question in the same transaction anyway)."""
    if to not in OFFER_TRANSITIONS[offer.status]:
        messages: dict[str, str] = {
            OfferStatus.ACCEPTING: "This offer is already being accepted.",
            OfferStatus.ACCEPTED: "This offer was already accepted.",
            OfferStatus.FULFILLED: "This offer was already fulfilled.",
            OfferStatus.DECLINED: "This offer was declined.",
            OfferStatus.WITHDRAWN: "This offer was withdrawn.",
            OfferStatus.EXPIRED: "This offer has expired.",
            OfferStatus.CANCELLED: "This offer was cancelled.",
            OfferStatus.REFUNDED: "This offer was refunded.",
        }
        raise InvalidTransition(
            messages.get(offer.status, f"This offer cannot become {to}."),
            code=f"offer_{offer.status}",
        )
    event = OfferEvent(
        offer=offer, actor=actor, from_status=offer.status, to_status=to, note=note[:500]
    )
    offer.status = to
    if to not in PENDING and offer.closed_at is None:
        fields.setdefault("closed_at", timezone.now())
    for name, value in fields.items():
        setattr(offer, name, value)
    # One statement: the event, the offer, and (touch) the question's poll version.
    writes = [rowwrites.insert(event), rowwrites.update(offer, ["status", *fields.keys()])]
    if touch:
        writes.append(question_services.question_touch_write(question_id=offer.question_id))
    rowwrites.write_together(*writes)


def _offer_url(offer: Offer) -> str:
    return f"{question_services.question_url(offer.question_id)}#offer-{offer.pk}"


def _notify(user: User, offer: Offer, text: str) -> None:
    notifications.notify(
        user=user,
        kind=NotificationKind.OFFER,
        text=text,
        url=_offer_url(offer),
        place=presence.question_place(offer.question_id),
    )


# --- Sending -------------------------------------------------------------------


@dataclass(frozen=True)
class NewService:
    name: str
    description: str
    usual_price_minor: int
    kind: str = ServiceKind.OTHER


def offer_send(
    *,
    expert: User,
    question_id: int,
    price_minor: int,
    description: str,
    template_id: int | None = None,
    new_service: NewService | None = None,
) -> Offer:
    """The assigned expert offers a premium service: from the category's list, from their
    catalog, or a new one (saved to their catalog as a template). Rate limited (429)."""
    ratelimit.hit(
        scope="offer-send",
        ident=expert.pk,
        limit=settings.EXPERTLINE_OFFERS_PER_HOUR,
        window_seconds=3600,
        message="You have sent many offers in the last hour. Please wait and try again later.",
    )
    with transaction.atomic():
        question = (
            Question.objects.select_for_update(of=("self",))
            .select_related("category")
            .filter(pk=question_id)
            .first()
        )
        if question is None or question.expert_id != expert.pk:
            raise NotFound("This question does not exist.")
        verdict = eligibility_for(question=question, expert=expert)
        if not verdict.allowed:
            if verdict.reason == "no_tool":
                raise Forbidden(verdict.message)
            message = verdict.message
            if verdict.due_at is not None:
                local = timezone.localtime(verdict.due_at)
                message = f"You can offer premium services from {local:%H:%M:%S}."
            raise Conflict(message, code=verdict.reason)
        category = question.category
        price = _clean_money(
            price_minor,
            low=category.offer_min_price_minor,
            high=category.offer_max_price_minor,
            currency=question.currency,
            what="price",
        )
        description = (description or "").strip()
        if not description:
            raise InvalidInput("Describe what exactly you will deliver.")
        if len(description) > 1000:
            raise InvalidInput("The description is too long: keep it under 1,000 characters.")
        if (template_id is None) == (new_service is None):
            raise InvalidInput("Choose a service, or describe a new one.")
        if new_service is not None:
            template = catalog_template_save(
                expert=expert,
                name=new_service.name,
                description=new_service.description,
                usual_price_minor=new_service.usual_price_minor,
                kind=new_service.kind,
            )
        else:
            found = [
                t
                for t in templates_for_offer(question=question, expert=expert)
                if t.pk == template_id
            ]
            if not found:
                raise InvalidInput("Choose one of the services offered here.")
            template = found[0]
        try:
            with transaction.atomic():
                offer = Offer.objects.create(
                    question=question,
                    kind=OfferKind.EXPERT,
                    expert=expert,
                    customer=question.customer,
                    template=template,
                    service_kind=template.kind,
                    service_name=template.name,
                    description=description,
                    price_minor=price,
                    currency=question.currency,
                    expires_at=timezone.now()
                    + timedelta(hours=settings.EXPERTLINE_OFFER_EXPIRY_HOURS),
                )
        except IntegrityError:
            raise Conflict(
                "An offer on this question is already waiting for the customer.",
                code="pending_offer",
            ) from None
        OfferEvent.objects.create(offer=offer, actor=expert, to_status=OfferStatus.SENT)
        question_services.question_touch(question_id=question.pk)
        _notify(
            question.customer,
            offer,
            f"{expert.name} offers you {offer.service_name} for {offer.price_display} on “{question.title}”",
        )
    return offer


@transaction.atomic
def auto_offer_create(
    *,
    question_id: int,
    service_name: str,
    description: str,
    price_minor: int,
    kind: str = ServiceKind.PHONE_CALL,
) -> Offer:
    """An Auto Premium Service: the platform's own offer (e.g. a phone call at the category's
    price), with no expert yet. Accepted, it is charged and waits for an expert."""
    question = Question.objects.select_for_update().select_related("category").get(pk=question_id)
    if question.status in (QuestionStatus.CLOSED, QuestionStatus.REFUNDED):
        raise Conflict("This question is closed.")
    if price_minor <= 0:
        raise InvalidInput("An offer needs a price.")
    try:
        with transaction.atomic():
            offer = Offer.objects.create(
                question=question,
                kind=OfferKind.AUTO,
                customer=question.customer,
                service_kind=kind,
                service_name=service_name[:80],
                description=description[:1000],
                price_minor=price_minor,
                currency=question.currency,
                expires_at=timezone.now() + timedelta(hours=settings.EXPERTLINE_OFFER_EXPIRY_HOURS),
            )
    except IntegrityError:
        raise Conflict("An offer on this question is already waiting for the customer.") from None
    OfferEvent.objects.create(offer=offer, to_status=OfferStatus.SENT, note="auto")
    question_services.question_touch(question_id=question.pk)
    _notify(
        question.customer,
        offer,
        f"{offer.service_name} for {offer.price_display}: accept to book it",
    )
    return offer


# --- Accept, decline, withdraw, expire ---------------------------------------------


def _lock_for_customer(offer_id: int, customer: User) -> Offer:
    offer = _lock(offer_id)
    if offer.customer_id != customer.pk:
        raise NotFound(NOT_FOUND)
    offer.customer = customer  # the same user: not read again
    return offer


def offer_accept(*, offer_id: int, customer: User) -> tuple[Offer, Payment]:
    """Accept and pay up front, exactly once however often it is clicked.

    `sent → accepting` under the row lock (a second click is told it is being
    accepted), then the charge (payment reference `offer-{id}`), then, when the
    payment succeeds, `accepting → accepted` with its credits (`_on_paid`). A failed
    charge returns the offer to `sent` with the reason; a charge that needs
    authentication leaves it `accepting` until the customer completes it.
    """
    prepared: Payment | None = None
    with transaction.atomic():
        offer = _lock_for_customer(offer_id, customer)
        if offer.status == OfferStatus.SENT and offer.expires_at <= timezone.now():
            _transition(offer, OfferStatus.EXPIRED, actor=None, note="expired on accept")
            expired = True
        else:
            expired = False
            _transition(
                offer,
                OfferStatus.ACCEPTING,
                actor=customer,
                charge_failure="",
                accepting_since=timezone.now(),
            )
            # The payment that names the charge is recorded with `accepting` (one commit
            # less); without a card on file the charge below fails and says so.
            with contextlib.suppress(payment_services.PaymentFailed):
                prepared = payment_services.payment_prepare(**_charge_params(offer))
    if expired:
        raise Conflict("This offer has expired.", code="offer_expired")
    return offer, _charge(offer, prepared=prepared)


def _charge_params(offer: Offer) -> dict[str, Any]:
    return {
        "user": offer.customer,
        "reference": offer.payment_reference,
        "amount_minor": offer.price_minor,
        "currency": offer.currency,
        "description": f"{offer.service_name} on question #{offer.question_id}"[:200],
    }


def _charge(offer: Offer, *, prepared: Payment | None = None) -> Payment:
    """Charge an `accepting` offer (idempotent by its payment reference)."""
    try:
        payment = payment_services.payment_charge(
            **_charge_params(offer),
            return_url=reverse("offer_payment_return", args=[offer.pk]),
            prepared=prepared,
        )
    except payment_services.PaymentFailed as exc:
        with transaction.atomic():
            locked = _lock(offer.pk)
            if locked.status == OfferStatus.ACCEPTING and exc.code != "gateway_unavailable":
                _transition(
                    locked,
                    OfferStatus.SENT,
                    actor=None,
                    note=exc.message,
                    charge_failure=exc.message[:300],
                )
        raise
    # Paid now: the receiver of payment_succeeded accepted it and hands back the offer it
    # saved, so it is not read again.
    saved = next(
        (o for o in payment_services.payment_settled(payment) if isinstance(o, Offer)), None
    )
    if saved is not None and saved.pk == offer.pk:
        for field in Offer._meta.concrete_fields:
            setattr(offer, field.attname, getattr(saved, field.attname))
    else:
        offer.refresh_from_db()
    return payment


def accepting_recovery_sweep(*, now: datetime | None = None, stale_seconds: int = 300) -> int:
    """Beat job: an offer left `accepting` (a lost answer, a closed tab) is charged again with
    the same payment reference, which confirms the same intent: it ends accepted or sent."""
    now = now or timezone.now()
    stale = list(
        Offer.objects.filter(
            status=OfferStatus.ACCEPTING,
            accepting_since__lte=now - timedelta(seconds=stale_seconds),
        ).values_list("pk", flat=True)[:200]
    )
    for offer_id in stale:
        offer = Offer.objects.select_related("question", "customer").get(pk=offer_id)
        # A decline puts it back to `sent` (the failure is recorded on the offer).
        with contextlib.suppress(payment_services.PaymentFailed):
            _charge(offer)
    return len(stale)


def on_payment_succeeded(payment: Payment) -> Offer | None:
    """Receiver of payments' payment_succeeded: the accepted offer's consequences, once.
    Returns the offer the payment paid for (None for other payments)."""
    if not payment.reference.startswith("offer-"):
        return None
    # Locked with its question, in one read with what the consequences use.
    offer: Offer | None = _PAID_OFFER_LOCKED.first(int(payment.reference.removeprefix("offer-")))
    if offer is None or offer.status != OfferStatus.ACCEPTING:
        return offer
    now = timezone.now()
    expert_offer = offer.kind == OfferKind.EXPERT and offer.expert is not None
    # An expert's offer: the automatic rating below saves the question and moves its
    # poll version; otherwise the transition does.
    _transition(
        offer,
        OfferStatus.ACCEPTED,
        actor=None,
        touch=not expert_offer,
        accepted_at=now,
        charge_failure="",
    )
    # The private-information box of this question opens for the two of them.
    privacy_services.box_open(question_id=offer.question_id)
    told = [(offer.customer, f"You accepted {offer.service_name}: {offer.price_display} paid")]
    if expert_offer and offer.expert is not None:
        version = offer.question.version
        question = question_services.question_rate_automatic(
            question_id=offer.question_id,
            note=f"offer-{offer.pk} accepted",
            locked_question=offer.question,
        )
        if question.version == version:  # rated before: nothing saved it
            question_services.question_touch(question_id=question.pk)
        profile = offer.expert.expert_profile
        credit.question_credit(
            question_id=offer.question_id,
            trigger="offer",
            expert_profile=profile,
            locked_question=question,
        )
        # The payout level with the boosts earned by now, recorded on the credit.
        level = payout_levels.level_for_credit(profile=profile)
        share = Money(offer.price_minor, offer.currency).share(level.level_bp)
        if payment_services.expert_credit(
            key=f"offer-{offer.pk}-credit",
            expert=offer.expert,
            amount_minor=share.amount,
            currency=offer.currency,
            memo=f"Premium service: {offer.service_name} (question #{offer.question_id})",
            payment=payment,
            details={"offer": offer.pk, "rule": "premium_credit", **level.details()},
            payment_locked=True,  # payment_apply_intent holds its lock
        ):
            payout_levels.boosts_consume(level)
        told.append(
            (offer.expert, f"Accepted and paid: {offer.service_name} ({offer.price_display})")
        )
    # Both sides in one go: one INSERT, one counter UPDATE, one email task.
    notifications.notify_each(
        messages=told,
        kind=NotificationKind.OFFER,
        url=_offer_url(offer),
        place=presence.question_place(offer.question_id),
    )
    return offer


def on_payment_failed(payment: Payment) -> None:
    if not payment.reference.startswith("offer-"):
        return
    offer = _lock(int(payment.reference.removeprefix("offer-")))
    if offer.status == OfferStatus.ACCEPTING:
        _transition(
            offer,
            OfferStatus.SENT,
            actor=None,
            note=payment.failure_message,
            charge_failure=payment.failure_message[:300],
        )


@transaction.atomic
def offer_decline(*, offer_id: int, customer: User, reason: str = "") -> Offer:
    offer = _lock_for_customer(offer_id, customer)
    _transition(
        offer,
        OfferStatus.DECLINED,
        actor=customer,
        note=reason,
        decline_reason=reason.strip()[:500],
    )
    if offer.expert is not None:
        why = f": {offer.decline_reason}" if offer.decline_reason else ""
        _notify(offer.expert, offer, f"{customer.name} declined {offer.service_name}{why}")
    return offer


@transaction.atomic
def offer_withdraw(*, offer_id: int, expert: User) -> Offer:
    offer = _lock(offer_id)
    if offer.expert_id != expert.pk:
        raise NotFound(NOT_FOUND)
    _transition(offer, OfferStatus.WITHDRAWN, actor=expert)
    _notify(offer.customer, offer, f"{expert.name} withdrew the offer of {offer.service_name}")
    return offer


def expiry_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Beat job: `sent` offers past their expiry expire; `accepting` ones never do."""
    now = now or timezone.now()
    due = list(
        Offer.objects.filter(status=OfferStatus.SENT, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch]
    )
    expired = 0
    for offer_id in due:
        with transaction.atomic():
            offer = _lock(offer_id)
            if offer.status != OfferStatus.SENT or offer.expires_at > now:
                continue
            _transition(offer, OfferStatus.EXPIRED, actor=None)
            if offer.expert is not None:
                _notify(
                    offer.expert, offer, f"Your offer of {offer.service_name} expired unanswered"
                )
            expired += 1
    return expired


# --- After acceptance -------------------------------------------------------------


def _lock_for_expert(offer_id: int, expert: User) -> Offer:
    offer = _lock(offer_id)
    if offer.expert_id != expert.pk:
        raise NotFound(NOT_FOUND)
    return offer


@transaction.atomic
def offer_fulfil(
    *, offer_id: int, expert: User, delivered: bool, notes: str = ""
) -> FulfilmentReport:
    """The expert reports the service delivered (or not), and the offer is fulfilled."""
    offer = _lock_for_expert(offer_id, expert)
    if not delivered:
        raise InvalidInput(
            "If the service could not be delivered, say it cannot be completed: the customer is refunded."
        )
    from .calls import fulfilment_check  # a call that never connected is not fulfilled

    fulfilment_check(offer=offer)
    _transition(offer, OfferStatus.FULFILLED, actor=expert, note="report filed")
    report = FulfilmentReport.objects.create(
        offer=offer, delivered=True, notes=notes.strip()[:2000]
    )
    from .earnings import report_filed  # verified by the call log, or queued for Customer Care

    report_filed(offer=offer, report=report)
    return report


@transaction.atomic
def offer_cannot_complete(*, offer_id: int, expert: User, reason: str) -> Offer:
    """The expert cannot deliver: the customer and Customer Care are told at once, and the
    premium charge is refunded in full automatically (the premium credit is reversed)."""
    offer = _lock_for_expert(offer_id, expert)  # strangers learn nothing, not even a 400
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the service cannot be completed; the customer will see it.")
    _transition(offer, OfferStatus.CANCELLED, actor=expert, note=reason, cancel_reason=reason[:500])
    payment_services.refund_create_approved(
        reference=offer.payment_reference, reason=f"Cannot complete: {reason}"
    )
    _notify(
        offer.customer,
        offer,
        f"{expert.name} cannot complete {offer.service_name}: {reason}. "
        f"Your {offer.price_display} is being refunded in full.",
    )
    for staff in User.objects.filter(groups__name=CUSTOMER_CARE, is_active=True):
        _notify(staff, offer, f"Cannot complete: offer-{offer.pk} ({offer.service_name}): {reason}")
    return offer


def offer_refund_request(*, offer_id: int, customer: User, reason: str) -> Any:
    offer = Offer.objects.filter(pk=offer_id, customer=customer).first()
    if offer is None:
        raise NotFound(NOT_FOUND)
    if offer.status not in (OfferStatus.ACCEPTED, OfferStatus.FULFILLED):
        raise Conflict("Only a paid service can be refunded.")
    return payment_services.refund_request(
        user=customer, reference=offer.payment_reference, reason=reason
    )


def on_refund_succeeded(payment: Payment) -> None:
    if not payment.reference.startswith("offer-"):
        return
    offer = _lock(int(payment.reference.removeprefix("offer-")))
    if offer.status in (OfferStatus.ACCEPTED, OfferStatus.FULFILLED):
        _transition(offer, OfferStatus.REFUNDED, actor=None, note="refunded")
    _notify(
        offer.customer, offer, f"Your {offer.price_display} for {offer.service_name} was refunded"
    )


def offer_payment_sync(*, offer_id: int, customer: User) -> Offer:
    """Back from authenticating the charge: ask the gateway where it stands."""
    offer = Offer.objects.filter(pk=offer_id, customer=customer).first()
    if offer is None:
        raise NotFound(NOT_FOUND)
    payment = (
        Payment.objects.filter(reference=offer.payment_reference)
        .exclude(status=PaymentStatus.FAILED)
        .first()
    )
    if payment is not None:
        payment_services.payment_sync(payment_id=payment.pk, source="offer-return")
    offer.refresh_from_db()
    return offer
