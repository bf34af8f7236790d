"""Every write that moves or records money: cards, charges, refunds, disputes, credits.

Gateway calls never run inside a transaction that may still roll back our
record of them: the row that names the call (and so its idempotency key) is
committed first, the gateway is called, and the outcome is applied under a row
lock by a named transition. A retry repeats the call with the same key.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace import ratelimit, rowwrites
from marketplace.compiled import CompiledQuery
from marketplace.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from marketplace.models import User

from . import ledger, signals
from .gateway import get_gateway
from .gateway.base import CardDeclined, GatewayError, GatewayUnavailable, IntentResult
from .models import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    Card,
    CardSetup,
    Dispute,
    DisputeStatus,
    GatewayCustomer,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Refund,
    RefundEvent,
    RefundStatus,
    insert_once,
)

log = logging.getLogger(__name__)

FINANCE_PERMISSION = "payments.approve_large_refund"


class PaymentFailed(InvalidInput):
    """The charge did not go through; `message` says why, for the customer."""

    status = 402
    code = "payment_failed"


# --- Cards -------------------------------------------------------------------


def _gateway_customer(user: User) -> str:
    gateway = get_gateway()
    loaded = user._state.fields_cache.get("gateway_customer")  # select_related by the caller
    if loaded is not None and loaded.gateway == gateway.name:
        return str(loaded.customer_id)
    existing = GatewayCustomer.objects.filter(user=user, gateway=gateway.name).first()
    if existing:
        return existing.customer_id
    customer_id = gateway.customer_create(email=user.email, idempotency_key=f"customer-{user.pk}")
    # A concurrent request with the same idempotency key may have recorded it first.
    with contextlib.suppress(IntegrityError), transaction.atomic():
        GatewayCustomer.objects.create(user=user, gateway=gateway.name, customer_id=customer_id)
    return customer_id


def card_get(*, user: User) -> Card | None:
    return Card.objects.filter(user=user, removed_at__isnull=True).first()


def card_save_local(*, user: User, number: str, exp_month: int, exp_year: int, cvc: str) -> Card:
    """The local gateway's card form. Replaces the active card. Rate limited."""
    ratelimit.hit(
        scope="card-save",
        ident=user.pk,
        limit=settings.EXPERTLINE_CARD_SAVES_PER_HOUR,
        window_seconds=3600,
        message="Too many card attempts. Please wait an hour and try again.",
    )
    setup = CardSetup.objects.create(user=user)
    customer_id = _gateway_customer(user)
    try:
        result = get_gateway().card_save_local(
            customer_id=customer_id,
            number=number,
            exp_month=exp_month,
            exp_year=exp_year,
            cvc=cvc,
            idempotency_key=setup.idempotency_key,
        )
    except GatewayError as exc:
        CardSetup.objects.filter(pk=setup.pk).update(
            status=CardSetup.Status.FAILED, failure_message=exc.message[:300]
        )
        raise PaymentFailed(exc.message, code=exc.code) from None
    if result.status != "succeeded" or result.card is None:
        CardSetup.objects.filter(pk=setup.pk).update(
            status=CardSetup.Status.FAILED, setup_intent_id=result.setup_intent_id
        )
        raise PaymentFailed("This card needs authentication we cannot do here; try another card.")
    CardSetup.objects.filter(pk=setup.pk).update(
        status=CardSetup.Status.SUCCEEDED, setup_intent_id=result.setup_intent_id
    )
    return _card_replace(user=user, info=result.card)


def card_setup_start(*, user: User) -> dict[str, str]:
    """Stripe's Payment Element: a SetupIntent whose client secret the page confirms."""
    setup = CardSetup.objects.create(user=user)
    result = get_gateway().setup_intent_create(
        customer_id=_gateway_customer(user), idempotency_key=setup.idempotency_key
    )
    CardSetup.objects.filter(pk=setup.pk).update(setup_intent_id=result.setup_intent_id)
    return {"client_secret": result.client_secret, "setup_intent_id": result.setup_intent_id}


def card_setup_finish(*, user: User, setup_intent_id: str) -> Card:
    setup = CardSetup.objects.filter(user=user, setup_intent_id=setup_intent_id).first()
    if setup is None:
        raise NotFound("This card set-up does not exist.")
    result = get_gateway().setup_intent_retrieve(setup_intent_id=setup_intent_id)
    if result.status != "succeeded" or result.card is None:
        CardSetup.objects.filter(pk=setup.pk).update(status=CardSetup.Status.FAILED)
        raise PaymentFailed("The card was not saved. Please try again or use another card.")
    CardSetup.objects.filter(pk=setup.pk).update(status=CardSetup.Status.SUCCEEDED)
    return _card_replace(user=user, info=result.card)


@transaction.atomic
def _card_replace(*, user: User, info: Any) -> Card:
    User.objects.select_for_update().filter(pk=user.pk).first()
    existing = Card.objects.filter(payment_method_id=info.payment_method_id).first()
    if existing and existing.removed_at is None:
        return existing
    Card.objects.filter(user=user, removed_at__isnull=True).update(removed_at=timezone.now())
    return Card.objects.create(
        user=user,
        payment_method_id=info.payment_method_id,
        brand=info.brand,
        last4=info.last4,
        exp_month=info.exp_month,
        exp_year=info.exp_year,
    )


def card_remove(*, user: User) -> None:
    card = card_get(user=user)
    if card is None:
        raise NotFound("You have no card on file.")
    Card.objects.filter(pk=card.pk).update(removed_at=timezone.now())
    pm = card.payment_method_id
    transaction.on_commit(lambda: _detach_quietly(pm))


def _detach_quietly(payment_method_id: str) -> None:
    try:
        get_gateway().payment_method_detach(payment_method_id=payment_method_id)
    except GatewayError:
        log.warning("could not detach %s at the gateway", payment_method_id)


# --- Charges -----------------------------------------------------------------


def _lock_payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def _payment_transition(payment: Payment, to: str, *, source: str, **fields: Any) -> None:
    """Move a locked payment to `to`, or refuse. The one place a payment status is set."""
    if to not in PAYMENT_TRANSITIONS[payment.status]:
        raise InvalidTransition(f"A {payment.status} payment cannot become {to}.")
    event = PaymentEvent(
        payment=payment, from_status=payment.status, to_status=to, source=source[:40]
    )
    payment.status = to
    for name, value in fields.items():
        setattr(payment, name, value)
    # One statement: the event and the payment.
    rowwrites.write_together(
        rowwrites.insert(event), rowwrites.update(payment, ["status", *fields.keys()])
    )


# The reads of every charge, compiled once per process (marketplace.compiled).
_PAYMENT_LOCKED_WITH_CARD = CompiledQuery(
    lambda payment_id: (
        Payment.objects.select_for_update(of=("self",)).select_related("card").filter(pk=payment_id)
    )
)
_CARD_ON_FILE = CompiledQuery(
    lambda user_id: (
        Card.objects.filter(user_id=user_id, removed_at__isnull=True)
        .select_related("user__gateway_customer")
        .order_by("pk")[:1]
    )
)


@transaction.atomic
def payment_apply_intent(*, payment_id: int, result: IntentResult, source: str) -> Payment:
    """Record what the gateway says of the payment's intent. Idempotent; never downgrades."""
    # With its card: the receivers of payment_succeeded write the receipt.
    payment: Payment | None = _PAYMENT_LOCKED_WITH_CARD.first(payment_id)
    if payment is None:
        raise Payment.DoesNotExist(f"No payment {payment_id}.")
    status = payment.status
    if status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED):
        return payment  # final for a charge: a late or repeated event changes nothing
    if result.status == "succeeded":
        _payment_transition(
            payment,
            PaymentStatus.SUCCEEDED,
            source=source,
            succeeded_at=timezone.now(),
            failure_code="",
            failure_message="",
            next_action_url="",
        )
        # The charge and the credits the receivers post for it (an accepted offer credits
        # the question and the premium service) are recorded together.
        with ledger.batched():
            ledger.post(
                key=f"payment-{payment.pk}-charge",
                kind="charge",
                memo=f"Charge for {payment.description}",
                lines=[
                    ledger.Line(ledger.clearing(payment.gateway), payment.amount_minor),
                    ledger.Line(ledger.CUSTOMERS_PREPAID, -payment.amount_minor),
                ],
                currency=payment.currency,
                payment=payment,
            )
            answers = signals.payment_succeeded.send(sender=Payment, payment=payment)
        # What the receivers saved for this payment (a posted question, an accepted
        # offer), for the caller's answer: it need not read them again.
        payment._settled = [answer for _, answer in answers if answer is not None]  # type: ignore[attr-defined]
    elif result.status == "requires_action":
        if status == PaymentStatus.PENDING:
            _payment_transition(
                payment,
                PaymentStatus.REQUIRES_ACTION,
                source=source,
                client_secret=result.client_secret,
                next_action_url=result.next_action_url,
            )
    elif (
        result.status in ("requires_payment_method", "canceled") and status != PaymentStatus.FAILED
    ):
        _payment_transition(
            payment,
            PaymentStatus.FAILED,
            source=source,
            failure_code=result.failure_code or "payment_failed",
            failure_message=result.failure_message or "The payment did not go through.",
        )
        signals.payment_failed.send(sender=Payment, payment=payment)
    return payment


def payment_settled(payment: Payment) -> list[object]:
    """The objects the receivers of payment_succeeded saved when this payment succeeded
    in this call (empty otherwise): the apps above find theirs by type and id."""
    return list(getattr(payment, "_settled", []))


def _live_payment(reference: str) -> Payment | None:
    return Payment.objects.filter(reference=reference).exclude(status=PaymentStatus.FAILED).first()


def payment_prepare(
    *, user: User, reference: str, amount_minor: int, currency: str, description: str
) -> Payment:
    """The payment row that names the charge of `reference` (its idempotency key), created
    once: `pending` with the card on file, or the live one recorded before.

    A caller may record it in its own transaction (e.g. with the offer that moves to
    `accepting`) and pass it to `payment_charge` once that has committed.
    """
    if amount_minor <= 0:
        raise InvalidInput("A charge must be more than zero.")
    # With the gateway's customer record, which the charge needs next.
    card: Card | None = _CARD_ON_FILE.first(user.pk)
    payment: Payment | None
    if card is None:
        payment = _live_payment(reference)
        if payment is None:
            raise PaymentFailed(
                "Add a card first: your card is charged when you post.", code="no_card"
            )
    else:
        # Inserted first: a live payment of this reference (a retry) makes the insert do
        # nothing (the one-live-payment-per-reference constraint), and that one is used.
        # One statement, no savepoint: safe inside the caller's transaction.
        payment = Payment(
            user=card.user,  # the same user, with its gateway customer loaded
            reference=reference,
            description=description[:200],
            amount_minor=amount_minor,
            currency=currency,
            gateway=get_gateway().name,
            card=card,
        )
        # With its first event, in the same statement.
        event = PaymentEvent(to_status="pending", source="charge")
        inserted = insert_once(payment, unique_field=None, child=(event, "payment"))
        if not inserted:
            payment = _live_payment(reference)
            if payment is None:  # the live one failed meanwhile: the caller asks again
                raise Conflict("This payment changed meanwhile; please try again.")
    if payment.user_id != user.pk:
        raise Forbidden("This payment belongs to someone else.")
    if payment.amount_minor != amount_minor or payment.currency != currency:
        raise Conflict("This was already charged with another amount.")
    return payment


def payment_charge(
    *,
    user: User,
    reference: str,
    amount_minor: int,
    currency: str,
    description: str,
    return_url: str = "",
    prepared: Payment | None = None,
) -> Payment:
    """Charge the user's card on file for `reference`, exactly once however often it is called.

    `prepared`: the payment `payment_prepare` returned, already committed.
    Returns the payment: `succeeded`, `requires_action` (send the customer to
    `next_action_url` or complete `client_secret` on the page), or raises
    PaymentFailed with the reason (the payment is then `failed`).
    """
    if prepared is not None and prepared.reference == reference and prepared.user_id == user.pk:
        payment = prepared
    else:
        payment = payment_prepare(
            user=user,
            reference=reference,
            amount_minor=amount_minor,
            currency=currency,
            description=description,
        )
    if payment.status != PaymentStatus.PENDING:
        return _charge_outcome(payment)
    return _charge_outcome(_confirm(payment, return_url=return_url))


def _confirm(payment: Payment, *, return_url: str) -> Payment:
    gateway = get_gateway()
    assert payment.card is not None
    try:
        if not payment.intent_id:
            customer_id = _gateway_customer(payment.user)
            intent = gateway.payment_intent_create(
                amount=payment.amount_minor,
                currency=payment.currency,
                customer_id=customer_id,
                payment_method_id=payment.card.payment_method_id,
                idempotency_key=payment.idempotency_key,
                description=payment.description,
                metadata={"reference": payment.reference, "payment": str(payment.pk)},
            )
            # Stored before confirming: a retry confirms this same intent.
            stored = Payment.objects.filter(pk=payment.pk, intent_id="").update(
                intent_id=intent.intent_id
            )
            if stored:
                payment.intent_id = intent.intent_id
            else:  # a concurrent retry stored it first (the same intent: the same key)
                payment.refresh_from_db(fields=["intent_id"])
        else:
            intent = gateway.payment_intent_retrieve(intent_id=payment.intent_id)
            if intent.status == "succeeded":
                return payment_apply_intent(payment_id=payment.pk, result=intent, source="retry")
        result = gateway.payment_intent_confirm(
            intent_id=payment.intent_id,
            idempotency_key=f"{payment.idempotency_key}-confirm",
            return_url=return_url,
        )
    except GatewayUnavailable as exc:
        # Outcome unknown: the payment stays pending and the same call is retried.
        raise PaymentFailed(exc.message, code=exc.code) from None
    except CardDeclined as exc:
        result = IntentResult(
            intent_id=payment.intent_id,
            status="requires_payment_method",
            amount=payment.amount_minor,
            currency=payment.currency,
            failure_code=exc.code,
            failure_message=exc.message,
        )
    except GatewayError as exc:
        result = IntentResult(
            intent_id=payment.intent_id,
            status="requires_payment_method",
            amount=payment.amount_minor,
            currency=payment.currency,
            failure_code=exc.code,
            failure_message=exc.message,
        )
    return payment_apply_intent(payment_id=payment.pk, result=result, source="charge")


def _charge_outcome(payment: Payment) -> Payment:
    if payment.status == PaymentStatus.FAILED:
        raise PaymentFailed(payment.failure_message or "The payment did not go through.")
    return payment


def payment_sync(*, payment_id: int, source: str = "sync") -> Payment:
    """Ask the gateway where the payment's intent stands (after authentication, a lost answer)."""
    payment = Payment.objects.get(pk=payment_id)
    if not payment.intent_id or payment.status not in (
        PaymentStatus.PENDING,
        PaymentStatus.REQUIRES_ACTION,
    ):
        return payment
    try:
        intent = get_gateway().payment_intent_retrieve(intent_id=payment.intent_id)
    except GatewayUnavailable:
        return payment
    return payment_apply_intent(payment_id=payment.pk, result=intent, source=source)


def payment_get_for_user(*, payment_id: int, user: User) -> Payment:
    payment = Payment.objects.filter(pk=payment_id, user=user).first()
    if payment is None:
        raise NotFound("This payment does not exist.")
    return payment


# --- Credits (amounts decided by the apps above) ---------------------------------


def expert_credit(
    *,
    key: str,
    expert: User,
    amount_minor: int,
    currency: str,
    memo: str,
    payment: Payment | None = None,
    funded_by: str = "payment",
    details: dict[str, Any] | None = None,
    payment_locked: bool = False,
) -> ledger.LedgerTransaction | None:
    """Credit an expert, once per key. Funded by the payment's prepaid money (the rest is
    platform revenue) or, for a Member's question, by the platform's member costs.

    `payment_locked`: the caller holds the payment's row lock in this transaction and
    read it under that lock, so it is not read again.
    Returns None (and credits nothing) when the payment is refunded or disputed.
    """
    if amount_minor < 0:
        raise InvalidInput("A credit cannot be negative.")
    # No savepoint of its own: an error here rolls back the caller's transaction.
    with transaction.atomic(savepoint=False):
        if funded_by == "payment":
            if payment is None:
                raise InvalidInput("A payment-funded credit needs its payment.")
            if not payment_locked:
                payment = _lock_payment(payment.pk)
            if payment.status != PaymentStatus.SUCCEEDED:
                return None
            if amount_minor > payment.amount_minor:
                raise InvalidInput("A credit cannot exceed the payment.")
            lines = [
                ledger.Line(ledger.CUSTOMERS_PREPAID, payment.amount_minor),
                ledger.Line(ledger.expert_payable(expert.pk), -amount_minor),
                ledger.Line(ledger.PLATFORM_REVENUE, -(payment.amount_minor - amount_minor)),
            ]
        elif funded_by == "member":
            if amount_minor == 0:
                return None
            lines = [
                ledger.Line(ledger.PLATFORM_MEMBER_COSTS, amount_minor),
                ledger.Line(ledger.expert_payable(expert.pk), -amount_minor),
            ]
        else:
            raise InvalidInput(f"Unknown funding: {funded_by}")
        return ledger.post(
            key=key,
            kind="credit",
            memo=memo,
            lines=lines,
            currency=currency,
            payment=payment,
            details={"expert": expert.pk, "amount": amount_minor, **(details or {})},
        )


# --- Refunds -----------------------------------------------------------------


def _lock_refund(refund_id: int) -> Refund:
    try:
        return Refund.objects.select_for_update().select_related("payment").get(pk=refund_id)
    except Refund.DoesNotExist:
        raise NotFound("This refund does not exist.") from None


def _refund_transition(
    refund: Refund, to: str, *, actor: User | None, note: str = "", **fields: Any
) -> None:
    if to not in REFUND_TRANSITIONS[refund.status]:
        raise InvalidTransition(
            f"This refund is {refund.get_status_display().lower()}; it cannot become "
            f"{RefundStatus(to).label.lower()}.",
            code="refund_" + refund.status,
        )
    RefundEvent.objects.create(
        refund=refund, actor=actor, from_status=refund.status, to_status=to, note=note[:500]
    )
    refund.status = to
    for name, value in fields.items():
        setattr(refund, name, value)
    refund.save(update_fields=["status", *fields.keys()])


def refund_create_approved(*, reference: str, reason: str) -> Refund | None:
    """A refund the platform owes without asking anyone (e.g. the expert cannot complete a
    paid service): recorded approved, processed after commit. None if nothing was paid."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(reference=reference, status=PaymentStatus.SUCCEEDED)
            .first()
        )
        if payment is None:
            return None
        existing = (
            Refund.objects.filter(payment=payment).exclude(status=RefundStatus.DENIED).first()
        )
        if existing is not None:
            if existing.status in (RefundStatus.REQUESTED, RefundStatus.AWAITING_SECOND_APPROVAL):
                _refund_transition(
                    existing,
                    RefundStatus.APPROVED,
                    actor=None,
                    note=reason,
                    auto_approved=True,
                    decided_at=timezone.now(),
                )
                _process_after_commit(existing.pk)
            return existing
        refund = Refund.objects.create(
            payment=payment,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            reason=reason[:500],
            requested_by=payment.user,
            status=RefundStatus.APPROVED,
            auto_approved=True,
            decided_at=timezone.now(),
        )
        RefundEvent.objects.create(refund=refund, to_status="approved", note=reason[:500])
        _process_after_commit(refund.pk)
        return refund


def refund_window_open(payment: Payment, now: Any = None) -> bool:
    """Pure: may the customer still ask for a refund of this payment?"""
    now = now or timezone.now()
    if payment.succeeded_at is None:
        return False
    return now <= payment.succeeded_at + timedelta(days=settings.EXPERTLINE_REFUND_WINDOW_DAYS)


def refund_request(*, user: User, reference: str, reason: str) -> Refund:
    """The customer asks for a full refund of one thing, with a reason, within the window."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Tell us why you want a refund.")
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(reference=reference, user=user)
            .exclude(status=PaymentStatus.FAILED)
            .first()
        )
        if payment is None:
            raise NotFound("There is no payment to refund.")
        if payment.status != PaymentStatus.SUCCEEDED:
            raise Conflict(f"This payment is {payment.get_status_display().lower()}.")
        if not refund_window_open(payment):
            days = settings.EXPERTLINE_REFUND_WINDOW_DAYS
            raise Conflict(f"Refunds can be asked for within {days} days of payment.")
        if Refund.objects.filter(payment=payment).exclude(status=RefundStatus.DENIED).exists():
            raise Conflict("A refund was already requested.", code="refund_exists")
        refund = Refund.objects.create(
            payment=payment,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            reason=reason[:500],
            requested_by=user,
        )
        RefundEvent.objects.create(refund=refund, actor=user, to_status="requested", note=reason)
        signals.refund_requested.send(sender=Refund, refund=refund, payment=payment)
        auto_max = settings.EXPERTLINE_REFUND_AUTO_APPROVE_MAX_MINOR
        if auto_max and refund.amount_minor <= auto_max:
            _refund_transition(
                refund,
                RefundStatus.APPROVED,
                actor=None,
                note="approved automatically",
                auto_approved=True,
                decided_at=timezone.now(),
            )
            _process_after_commit(refund.pk)
    return refund


def _can_give_second_approval(staff: User) -> bool:
    return staff.has_perm(FINANCE_PERMISSION)


def refund_approve(*, refund_id: int, staff: User, note: str = "") -> Refund:
    """Customer Care approves; above the threshold a second approver from Finance must too.

    Concurrent approvals of one refund: the row lock lets one through; the others
    are told it is already approved.
    """
    if not staff.is_staff or not staff.has_perm("payments.change_refund"):
        raise Forbidden("Only Customer Care and Finance approve refunds.")
    with transaction.atomic():
        refund = _lock_refund(refund_id)
        over = refund.amount_minor > settings.EXPERTLINE_REFUND_SECOND_APPROVAL_OVER_MINOR
        if refund.status == RefundStatus.REQUESTED and over:
            _refund_transition(
                refund,
                RefundStatus.AWAITING_SECOND_APPROVAL,
                actor=staff,
                note=note or "first approval",
                first_approver=staff,
            )
            return refund
        if refund.status == RefundStatus.AWAITING_SECOND_APPROVAL:
            if refund.first_approver_id == staff.pk:
                raise Forbidden(
                    "A second, different approver from Finance must approve this refund."
                )
            if not _can_give_second_approval(staff):
                raise Forbidden("Refunds over the threshold need a Finance approver.")
            _refund_transition(
                refund,
                RefundStatus.APPROVED,
                actor=staff,
                note=note or "second approval",
                second_approver=staff,
                decided_by=staff,
                decided_at=timezone.now(),
            )
        else:
            _refund_transition(
                refund,
                RefundStatus.APPROVED,
                actor=staff,
                note=note or "approved",
                first_approver=staff,
                decided_by=staff,
                decided_at=timezone.now(),
            )
        _process_after_commit(refund.pk)
    return refund


def refund_deny(*, refund_id: int, staff: User, note: str) -> Refund:
    if not staff.is_staff or not staff.has_perm("payments.change_refund"):
        raise Forbidden("Only Customer Care and Finance decide refunds.")
    if not note.strip():
        raise InvalidInput("Say why the refund is denied; the customer will see it.")
    with transaction.atomic():
        refund = _lock_refund(refund_id)
        _refund_transition(
            refund,
            RefundStatus.DENIED,
            actor=staff,
            note=note,
            decided_by=staff,
            decision_note=note.strip()[:500],
            decided_at=timezone.now(),
        )
        signals.refund_denied.send(sender=Refund, refund=refund, payment=refund.payment)
    return refund


def _process_after_commit(refund_id: int) -> None:
    from .tasks import process_refund

    transaction.on_commit(lambda: process_refund.delay(refund_id))


def refund_process(*, refund_id: int) -> Refund:
    """Send an approved refund to the gateway, exactly once.

    The refund row stays locked while the gateway is called (its key is
    `refund-{id}`), so a task delivered twice, or two workers, call it once; a
    crash mid-call is retried with the same key, which the gateway answers with
    the first result.
    """
    with transaction.atomic():
        refund = _lock_refund(refund_id)
        if refund.status != RefundStatus.APPROVED:
            return refund
        payment = _lock_payment(refund.payment_id)
        if payment.refunded_minor + refund.amount_minor > payment.amount_minor:
            _refund_transition(
                refund, RefundStatus.FAILED, actor=None, failure_message="Already refunded in full."
            )
            return refund
        try:
            result = get_gateway().refund_create(
                intent_id=payment.intent_id,
                amount=refund.amount_minor,
                idempotency_key=refund.idempotency_key,
            )
        except GatewayUnavailable:
            raise  # the task retries with the same key
        except GatewayError as exc:
            _refund_transition(
                refund,
                RefundStatus.FAILED,
                actor=None,
                note=exc.message,
                failure_message=exc.message,
            )
            return refund
        _refund_succeeded(refund, payment, gateway_refund_id=result.refund_id)
        return refund


def _refund_succeeded(refund: Refund, payment: Payment, *, gateway_refund_id: str) -> None:
    _refund_transition(
        refund,
        RefundStatus.SUCCEEDED,
        actor=None,
        gateway_refund_id=gateway_refund_id,
        refunded_at=timezone.now(),
    )
    payment.refunded_minor += refund.amount_minor
    payment.save(update_fields=["refunded_minor"])
    _payment_transition(payment, PaymentStatus.REFUNDED, source=f"refund-{refund.pk}")
    credits_reverse(payment=payment, why=f"refund-{refund.pk}")
    _money_back_to_customer(
        payment,
        refund.amount_minor,
        key=f"refund-{refund.pk}",
        kind="refund",
        memo=f"Refund of {payment.description}",
        source=ledger.clearing(payment.gateway),
    )
    signals.refund_succeeded.send(sender=Refund, refund=refund, payment=payment)


def _money_back_to_customer(
    payment: Payment, amount: int, *, key: str, kind: str, memo: str, source: str
) -> None:
    """The customer's prepaid money leaves us: from the gateway's clearing (a refund) or
    from what the gateway withheld (a lost chargeback)."""
    ledger.post(
        key=key,
        kind=kind,
        memo=memo,
        lines=[ledger.Line(ledger.CUSTOMERS_PREPAID, amount), ledger.Line(source, -amount)],
        currency=payment.currency,
        payment=payment,
    )


def credits_reverse(*, payment: Payment, why: str, frozen: bool = False) -> int:
    """Reverse every not-yet-reversed credit funded by this payment (a refund or a lost
    chargeback). Returns how many were reversed."""
    count = 0
    # Credits to experts, and revenue recognised from the payment (memberships).
    for txn in ledger.transactions_for_payment(payment, ["credit", "revenue"]):
        if hasattr(txn, "reversed_by"):
            continue
        swap = {}
        kind = "reversal"
        if frozen and txn.kind == "credit":
            expert_id = txn.details.get("expert")
            swap = {ledger.expert_payable(expert_id): ledger.expert_frozen(expert_id)}
        elif txn.kind == "credit" and txn.details.get("protected"):
            # Expert Earnings Protection (decided by premium.earnings): the expert keeps
            # the payout and the platform carries the refund.
            swap = {ledger.expert_payable(txn.details["expert"]): ledger.PLATFORM_PROTECTED_REFUNDS}
            kind = "protected_refund"
        ledger.reverse(
            original=txn,
            key=f"{txn.key}-reversal",
            memo=f"Reversal of {txn.memo} ({why})",
            kind=kind,
            swap=swap,
        )
        count += 1
    return count


# --- Disputes ----------------------------------------------------------------


@transaction.atomic
def dispute_open(
    *, intent_id: str, gateway_dispute_id: str, amount_minor: int, reason: str
) -> Dispute:
    """A chargeback: the gateway withholds the money and the expert's credit is frozen."""
    payment = Payment.objects.select_for_update().filter(intent_id=intent_id).first()
    if payment is None:
        raise NotFound(f"No payment for intent {intent_id}.")
    dispute, created = Dispute.objects.get_or_create(
        gateway_dispute_id=gateway_dispute_id,
        defaults={
            "payment": payment,
            "amount_minor": amount_minor,
            "currency": payment.currency,
            "reason": reason[:60],
        },
    )
    if not created:
        return dispute
    if payment.status == PaymentStatus.SUCCEEDED:
        _payment_transition(payment, PaymentStatus.DISPUTED, source=f"dispute-{dispute.pk}")
    ledger.post(
        key=f"dispute-{dispute.pk}-withheld",
        kind="dispute",
        memo=f"Chargeback withheld for {payment.description}",
        lines=[
            ledger.Line(ledger.disputed(payment.gateway), dispute.amount_minor),
            ledger.Line(ledger.clearing(payment.gateway), -dispute.amount_minor),
        ],
        currency=payment.currency,
        payment=payment,
    )
    for txn in ledger.transactions_for_payment(payment, ["credit"]):
        if hasattr(txn, "reversed_by"):
            continue
        expert_id = txn.details.get("expert")
        amount = -sum(
            e.amount_minor
            for e in txn.entries.all()
            if e.account.key == ledger.expert_payable(expert_id)
        )
        if amount:
            ledger.post(
                key=f"dispute-{dispute.pk}-freeze-{txn.pk}",
                kind="freeze",
                memo=f"Credit frozen by a chargeback on {payment.description}",
                lines=[
                    ledger.Line(ledger.expert_payable(expert_id), amount),
                    ledger.Line(ledger.expert_frozen(expert_id), -amount),
                ],
                currency=payment.currency,
                payment=payment,
                details={"expert": expert_id, "credit": txn.key},
            )
    signals.dispute_opened.send(sender=Dispute, dispute=dispute, payment=payment)
    return dispute


@transaction.atomic
def dispute_close(*, gateway_dispute_id: str, won: bool) -> Dispute:
    dispute = (
        Dispute.objects.select_for_update().filter(gateway_dispute_id=gateway_dispute_id).first()
    )
    if dispute is None:
        raise NotFound(f"No dispute {gateway_dispute_id}.")
    if dispute.status != DisputeStatus.OPEN:
        return dispute  # closed already: a repeated event changes nothing
    payment = _lock_payment(dispute.payment_id)
    dispute.status = DisputeStatus.WON if won else DisputeStatus.LOST
    dispute.closed_at = timezone.now()
    dispute.save(update_fields=["status", "closed_at"])
    freezes = list(
        payment.ledger_transactions.filter(key__startswith=f"dispute-{dispute.pk}-freeze-")
    )
    if won:
        # The gateway gives the withheld money back: the withholding, reversed.
        ledger.reverse(
            original=payment.ledger_transactions.get(key=f"dispute-{dispute.pk}-withheld"),
            key=f"dispute-{dispute.pk}-won",
            memo=f"Chargeback won for {payment.description}",
            kind="dispute",
        )
        for freeze in freezes:
            ledger.reverse(
                original=freeze,
                key=f"{freeze.key}-released",
                memo="Chargeback won: credit released",
                kind="unfreeze",
            )
        if payment.status == PaymentStatus.DISPUTED:
            _payment_transition(
                payment, PaymentStatus.SUCCEEDED, source=f"dispute-{dispute.pk}-won"
            )
    else:
        # The credits were moved to frozen: reverse them from there.
        credits_reverse(
            payment=payment, why=f"chargeback {dispute.gateway_dispute_id}", frozen=True
        )
        _money_back_to_customer(
            payment,
            dispute.amount_minor,
            key=f"dispute-{dispute.pk}-lost",
            kind="dispute",
            memo=f"Chargeback lost for {payment.description}",
            source=ledger.disputed(payment.gateway),
        )
        payment.refunded_minor = payment.amount_minor
        payment.save(update_fields=["refunded_minor"])
        if payment.status == PaymentStatus.DISPUTED:
            _payment_transition(
                payment, PaymentStatus.REFUNDED, source=f"dispute-{dispute.pk}-lost"
            )
    signals.dispute_closed.send(sender=Dispute, dispute=dispute, payment=payment, won=won)
    return dispute
