"""Memberships, billed honestly: the price and renewal date shown before consent, a
reminder before each renewal, one-click cancel, and each period charged exactly once.

Each period is charged through `services.payment_charge` with the reference
`membership-{id}-{period}` (one live payment per reference, key `payment-{id}`),
so two sweeps, or a task delivered twice, charge a period once. The sweep claims
a membership with a conditional update of its due time before charging.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.urls import reverse
from django.utils import timezone

from marketplace import notifications
from marketplace.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from marketplace.models import Category, NotificationKind, User

from . import ledger, services
from .models import (
    MEMBERSHIP_TRANSITIONS,
    Membership,
    MembershipEvent,
    MembershipPlan,
    MembershipStatus,
    Payment,
    PaymentStatus,
    Refund,
)

log = logging.getLogger(__name__)

PLATFORM_MEMBERSHIP_REVENUE = "platform:membership_revenue"
LIVE = (MembershipStatus.ACTIVE, MembershipStatus.PAST_DUE)
# A claimed renewal is retried by another sweep if its worker vanished for this long.
CLAIM_SECONDS = 10 * 60


def add_month(moment: datetime) -> datetime:
    """The same day and time next month, or that month's last day (Jan 31 → Feb 28/29)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def retry_delays() -> list[timedelta]:
    """After a failed renewal: retry after each of these; after the last, the membership lapses."""
    return [timedelta(hours=h) for h in settings.EXPERTLINE_MEMBERSHIP_RETRY_HOURS]


def consent_text(plan: MembershipPlan, renews_on: datetime) -> str:
    """Pure: the sentence the customer ticks, with the recurring price and the renewal date."""
    return (
        f"I agree to pay {plan.price_display} now and {plan.price_display} every month, "
        f"next on {renews_on:%B %-d, %Y}, until I cancel. I can cancel any time in one click."
    )


def covers(*, user: User, category: Category) -> bool:
    """Is this customer's question in this category covered by an active membership?"""
    return Membership.objects.filter(user=user, status__in=LIVE, plan__categories=category).exists()


def covers_expression(*, user_ref: str, category: Category | int) -> Exists:
    """`covers` as an expression of a query whose `user_ref` names the user (to annotate
    a row read anyway instead of asking once more)."""
    return Exists(
        Membership.objects.filter(
            user=OuterRef(user_ref), status__in=LIVE, plan__categories=category
        )
    )


def covered_category_ids(*, user: User) -> frozenset[int]:
    """The ids of the categories the customer's live membership covers (empty if none)."""
    return frozenset(
        Category.objects.filter(
            membership_plans__memberships__user=user,
            membership_plans__memberships__status__in=LIVE,
        ).values_list("pk", flat=True)
    )


def membership_current(*, user: User) -> Membership | None:
    return (
        Membership.objects.filter(user=user)
        .exclude(status=MembershipStatus.INCOMPLETE)
        .select_related("plan")
        .order_by("-created_at")
        .first()
    )


def _transition(membership: Membership, to: str, *, note: str = "", **fields: Any) -> None:
    """Move a locked membership to `to`, or refuse. The one place its status is set."""
    if to not in MEMBERSHIP_TRANSITIONS[membership.status]:
        raise InvalidTransition(f"A {membership.status} membership cannot become {to}.")
    MembershipEvent.objects.create(
        membership=membership, from_status=membership.status, to_status=to, note=note[:300]
    )
    membership.status = to
    for name, value in fields.items():
        setattr(membership, name, value)
    membership.save(update_fields=["status", *fields.keys()])


def _lock(membership_id: int) -> Membership:
    return Membership.objects.select_for_update().select_related("plan").get(pk=membership_id)


def _notify(membership: Membership, text: str) -> None:
    notifications.notify(
        user=membership.user, kind=NotificationKind.MEMBERSHIP, text=text, url=reverse("membership")
    )


def membership_start(*, user: User, plan_id: int, consent: bool) -> tuple[Membership, Payment]:
    """Become a Member: the consent box must be ticked; the first month is charged now."""
    if not consent:
        raise InvalidInput("Tick the box to agree to the monthly charge before joining.")
    plan = MembershipPlan.objects.filter(pk=plan_id, is_active=True).first()
    if plan is None:
        raise NotFound("This plan is not available.")
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if Membership.objects.filter(user=user, status__in=LIVE).exists():
            raise Conflict("You are already a Member.", code="already_member")
        # An abandoned first payment (authentication never completed) is closed first.
        for stale in Membership.objects.select_for_update().filter(
            user=user, status=MembershipStatus.INCOMPLETE
        ):
            _transition(stale, MembershipStatus.ENDED, note="replaced", ended_at=now)
        end = add_month(now)
        membership = Membership.objects.create(
            user=user,
            plan=plan,
            price_minor=plan.price_minor,
            currency=plan.currency,
            current_period_start=now,
            current_period_end=end,
            next_attempt_at=end,
            consent_text=consent_text(plan, end),
            consented_at=now,
        )
    try:
        payment = services.payment_charge(
            user=user,
            reference=membership.payment_reference(1),
            amount_minor=membership.price_minor,
            currency=membership.currency,
            description=f"{plan.name} membership, month 1",
            return_url=reverse("membership"),
        )
    except services.PaymentFailed:
        with transaction.atomic():
            m = _lock(membership.pk)
            if m.status == MembershipStatus.INCOMPLETE:
                _transition(m, MembershipStatus.ENDED, note="first payment failed", ended_at=now)
        raise
    membership.refresh_from_db()
    return membership, payment


def on_payment_succeeded(payment: Payment) -> None:
    """A membership period was paid: recognise the revenue; a first payment activates it."""
    if not payment.reference.startswith("membership-"):
        return
    _, membership_id, period = payment.reference.split("-")
    membership = _lock(int(membership_id))
    ledger.post(
        key=f"{payment.reference}-revenue",
        kind="revenue",
        memo=f"{membership.plan.name} membership, month {period}",
        lines=[
            ledger.Line(ledger.CUSTOMERS_PREPAID, payment.amount_minor),
            ledger.Line(PLATFORM_MEMBERSHIP_REVENUE, -payment.amount_minor),
        ],
        currency=payment.currency,
        payment=payment,
    )
    if membership.status == MembershipStatus.INCOMPLETE and int(period) == 1:
        _transition(membership, MembershipStatus.ACTIVE, note="first payment")
        _notify(
            membership,
            f"Welcome! You are a Member ({membership.plan.name}). {membership.price_display} "
            f"renews monthly, next on {membership.current_period_end:%B %-d, %Y}. To cancel: "
            "Membership page → Cancel membership (one click; you keep it until the period ends).",
        )


def on_refund_succeeded(payment: Payment) -> None:
    """The last renewal was refunded: the membership ends now."""
    if not payment.reference.startswith("membership-"):
        return
    membership = _lock(int(payment.reference.split("-")[1]))
    if membership.status in LIVE:
        _transition(
            membership,
            MembershipStatus.ENDED,
            note=f"refunded {payment.reference}",
            ended_at=timezone.now(),
            next_attempt_at=None,
        )
        _notify(membership, "Your membership was refunded and has ended.")


def membership_cancel(*, user: User) -> Membership:
    """One click: no further charge; the membership lasts until the period's end."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(user=user, status__in=LIVE)
            .select_related("plan")
            .first()
        )
        if membership is None:
            raise NotFound("You have no membership to cancel.")
        if membership.cancel_at_period_end:
            return membership
        membership.cancel_at_period_end = True
        membership.canceled_at = timezone.now()
        membership.save(update_fields=["cancel_at_period_end", "canceled_at"])
        MembershipEvent.objects.create(
            membership=membership,
            from_status=membership.status,
            to_status=membership.status,
            note="cancelled at period end",
        )
        _notify(
            membership,
            f"Your membership is cancelled. It ends on {membership.current_period_end:%B %-d, %Y}; "
            "you will not be charged again.",
        )
    return membership


def membership_refund_last(*, user: User, reason: str) -> Refund:
    membership = membership_current(user=user)
    if membership is None:
        raise NotFound("You have no membership.")
    return services.refund_request(
        user=user, reference=membership.payment_reference(), reason=reason
    )


def membership_renew(*, membership_id: int, now: datetime | None = None) -> str:
    """Charge the next period of one due membership, once. Returns what happened."""
    now = now or timezone.now()
    with transaction.atomic():
        m = _lock(membership_id)
        if m.status not in LIVE or m.next_attempt_at is None or m.next_attempt_at > now:
            return "not-due"
        if m.cancel_at_period_end:
            _transition(
                m, MembershipStatus.ENDED, note="cancelled", ended_at=now, next_attempt_at=None
            )
            return "ended"
        # Claim: another sweep (or a redelivered task) now finds it not due.
        m.next_attempt_at = now + timedelta(seconds=CLAIM_SECONDS)
        m.save(update_fields=["next_attempt_at"])
    next_period = m.period + 1
    try:
        payment = services.payment_charge(
            user=m.user,
            reference=m.payment_reference(next_period),
            amount_minor=m.price_minor,
            currency=m.currency,
            description=f"{m.plan.name} membership, month {next_period}",
        )
    except services.PaymentFailed as exc:
        return _renewal_failed(m.pk, exc.message, now)
    if payment.status != PaymentStatus.SUCCEEDED:
        return _renewal_failed(m.pk, "Your bank asked to confirm the payment.", now)
    return _renewal_succeeded(m.pk, next_period)


def _renewal_succeeded(membership_id: int, period: int) -> str:
    with transaction.atomic():
        m = _lock(membership_id)
        if m.period >= period:
            return "already-renewed"
        start = m.current_period_end
        end = add_month(start)
        fields: dict[str, Any] = {
            "period": period,
            "current_period_start": start,
            "current_period_end": end,
            "next_attempt_at": end,
            "renewal_attempts": 0,
        }
        if m.status == MembershipStatus.PAST_DUE:
            _transition(m, MembershipStatus.ACTIVE, note=f"month {period} paid", **fields)
        else:
            for name, value in fields.items():
                setattr(m, name, value)
            m.save(update_fields=list(fields))
        _notify(m, f"Your membership renewed: {m.price_display} paid for month {period}.")
    return "renewed"


def _renewal_failed(membership_id: int, reason: str, now: datetime) -> str:
    delays = retry_delays()
    with transaction.atomic():
        m = _lock(membership_id)
        attempts = m.renewal_attempts + 1
        if attempts > len(delays):
            _transition(
                m,
                MembershipStatus.LAPSED,
                note=reason,
                renewal_attempts=attempts,
                next_attempt_at=None,
                ended_at=now,
            )
            _notify(m, f"Your membership has lapsed: the renewal could not be charged ({reason}).")
            return "lapsed"
        retry_at = now + delays[attempts - 1]
        fields = {"renewal_attempts": attempts, "next_attempt_at": retry_at}
        if m.status == MembershipStatus.ACTIVE:
            _transition(m, MembershipStatus.PAST_DUE, note=reason, **fields)
        else:
            m.renewal_attempts, m.next_attempt_at = attempts, retry_at
            m.save(update_fields=["renewal_attempts", "next_attempt_at"])
        _notify(
            m,
            f"We could not renew your membership: {reason} We will try again on "
            f"{retry_at:%B %-d, %H:%M} UTC. Update your card to keep it.",
        )
    return "retry"


def renewals_due(*, now: datetime | None = None, batch: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(
        Membership.objects.filter(status__in=LIVE, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    )


def renewal_sweep(*, now: datetime | None = None) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for membership_id in renewals_due(now=now):
        try:
            outcome = membership_renew(membership_id=membership_id, now=now)
        except Exception:
            log.exception("renewal of membership %s failed", membership_id)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def reminder_sweep(*, now: datetime | None = None) -> int:
    """Email each member a few days (setting) before a renewal, once per period."""
    now = now or timezone.now()
    soon = now + timedelta(days=settings.EXPERTLINE_MEMBERSHIP_REMINDER_DAYS)
    due = Membership.objects.filter(
        reminded_period__lt=F("period"),
        status=MembershipStatus.ACTIVE,
        cancel_at_period_end=False,
        current_period_end__lte=soon,
        current_period_end__gt=now,
    ).select_related("plan", "user")
    sent = 0
    for m in due:
        with transaction.atomic():
            claimed = Membership.objects.filter(pk=m.pk, reminded_period__lt=m.period).update(
                reminded_period=m.period
            )
            if claimed:
                _notify(
                    m,
                    f"Reminder: your membership renews on {m.current_period_end:%B %-d, %Y} for "
                    f"{m.price_display}. Not needed any more? Cancel in one click on the "
                    "Membership page.",
                )
                sent += 1
    return sent
