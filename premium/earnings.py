"""The earnings rules that need offers and calls (DESIGN.md Rules), and their services.

Pure rules, each a function of recorded facts (the call log, the report, dates, counts):

- `phone_call_payout`: a phone-call request (an Auto Premium phone-call offer) pays the
  expert the category's phone-call payout value, only when its fulfilment report says yes,
  was filed by the deadline and is verified, and a call connected; otherwise nothing.
- `report_deadline` / `report_on_time`: a report is due a setting's hours (36) after the
  call's end; filed later, the offer is not payable.
- `auto_verifiable`: the call log verifies a report by itself when both parties were
  connected for at least a setting's minutes; otherwise it waits for Customer Care.
- `is_protected`: Expert Earnings Protection. An Auto Premium phone call made on our
  integrated call feature on or after the protection start date (a setting), whose report
  says yes and is verified, keeps its payout when the customer is later refunded; the
  platform carries the refund (`platform:protected_refunds` in the ledger).

The services record a verification when a report is filed (`report_filed`, called by
premium.services.offer_fulfil), let Customer Care approve or reject (`verification_approve`,
`verification_reject`), and hand payments the phone-call credit with its reasons. Boost
grants for accepted auto calls and for the first answers go to marketplace.payout_levels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Min
from django.utils import timezone

from marketplace import payout_levels
from marketplace.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from marketplace.models import BoostKind, Category, User
from marketplace.money import DEFAULT_CURRENCY
from payments import services as payment_services
from payments.models import Payment, PaymentStatus
from questions.models import Message, Question

from .call_models import CallSession
from .earnings_models import VERIFICATION_TRANSITIONS, FulfilmentVerification, VerificationStatus
from .models import FulfilmentReport, Offer, OfferKind, OfferStatus, ServiceKind

VERIFY_PERMISSION = "premium.change_fulfilmentverification"


# --- Pure rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFact:
    """One call session of an offer, as the call log recorded it."""

    connected_at: dt.datetime | None
    ended_at: dt.datetime | None
    customer_joined: bool = True
    expert_joined: bool = True


def call_ended_at(calls: Iterable[CallFact]) -> dt.datetime | None:
    """The end of the last call that connected (None: none connected and ended)."""
    ends = [c.ended_at for c in calls if c.connected_at is not None and c.ended_at is not None]
    return max(ends) if ends else None


def call_connected_at(calls: Iterable[CallFact]) -> dt.datetime | None:
    """When the first call connected, on the integrated call feature (None: never)."""
    starts = [c.connected_at for c in calls if c.connected_at is not None]
    return min(starts) if starts else None


def connected_seconds(calls: Iterable[CallFact]) -> int:
    """Seconds both parties were connected, summed over the offer's ended calls."""
    total = 0
    for c in calls:
        if c.connected_at is None or c.ended_at is None:
            continue
        if c.customer_joined and c.expert_joined:
            total += max(0, int((c.ended_at - c.connected_at).total_seconds()))
    return total


def report_deadline(call_end: dt.datetime | None, *, hours: int) -> dt.datetime | None:
    return call_end + dt.timedelta(hours=hours) if call_end is not None else None


def report_on_time(filed_at: dt.datetime, deadline: dt.datetime | None) -> bool:
    """Filed at or before the deadline (a report with no ended call yet has none)."""
    return deadline is None or filed_at <= deadline


def auto_verifiable(*, delivered: bool, seconds_connected: int, min_minutes: int) -> bool:
    return delivered and seconds_connected >= min_minutes * 60


def is_phone_request(*, offer_kind: str, service_kind: str) -> bool:
    """An Auto Premium phone call (the phone-first flow's phone-call request)."""
    return offer_kind == OfferKind.AUTO and service_kind == ServiceKind.PHONE_CALL


@dataclass(frozen=True)
class Payout:
    amount_minor: int
    reason: str  # why this amount, in words support can read out


def phone_call_payout(
    *,
    offer_kind: str,
    service_kind: str,
    connected: bool,
    delivered: bool,
    on_time: bool,
    verified: bool,
    payout_minor: int | None,
) -> Payout:
    """What a phone-call request pays its expert (pure)."""
    if not is_phone_request(offer_kind=offer_kind, service_kind=service_kind):
        return Payout(0, "not a phone-call request")
    if not connected:
        return Payout(0, "the call never connected")
    if not delivered:
        return Payout(0, "the fulfilment report says the call did not happen")
    if not on_time:
        return Payout(0, "the fulfilment report was filed after its deadline")
    if not verified:
        return Payout(0, "the fulfilment report is not verified")
    if not payout_minor:
        return Payout(0, "the category has no phone-call payout value")
    return Payout(payout_minor, "the category's phone-call payout value")


def protection_start() -> dt.date:
    return dt.date.fromisoformat(settings.EXPERTLINE_PROTECTION_START_DATE)


def is_protected(
    *,
    offer_kind: str,
    service_kind: str,
    call_connected_at: dt.datetime | None,
    delivered: bool,
    verified: bool,
    start: dt.date,
) -> bool:
    """Expert Earnings Protection (pure): an Auto Premium phone call that connected on our
    integrated call feature on or after `start` (its UTC date), reported yes and verified."""
    if not is_phone_request(offer_kind=offer_kind, service_kind=service_kind):
        return False
    if call_connected_at is None or not (delivered and verified):
        return False
    return call_connected_at.astimezone(dt.UTC).date() >= start


# --- Facts from the records ----------------------------------------------------------------


def call_facts(offer_id: int) -> list[CallFact]:
    return [
        CallFact(
            connected_at=s.connected_at,
            ended_at=s.ended_at,
            customer_joined=s.customer_joined_at is not None,
            expert_joined=s.expert_joined_at is not None,
        )
        for s in CallSession.objects.filter(offer_id=offer_id).only(
            "connected_at", "ended_at", "customer_joined_at", "expert_joined_at"
        )
    ]


# --- Verification -------------------------------------------------------------------------


def _transition(
    verification: FulfilmentVerification, to: str, *, actor: User | None, **fields: Any
) -> None:
    """Move a locked verification to `to`, or refuse. The one place its status is set."""
    if to not in VERIFICATION_TRANSITIONS[verification.status]:
        raise InvalidTransition(
            f"This report is already {verification.get_status_display().lower()}.",
            code=f"verification_{verification.status}",
        )
    verification.status = to
    fields.setdefault("decided_at", timezone.now())
    fields.setdefault("decided_by", actor)
    for name, value in fields.items():
        setattr(verification, name, value)
    verification.save(update_fields=["status", *fields.keys()])


def report_filed(
    *, offer: Offer, report: FulfilmentReport, now: dt.datetime | None = None
) -> FulfilmentVerification:
    """Record the report's verification (under the offer's lock): late, verified by the call
    log (and the phone call credited), or pending in Customer Care's queue."""
    now = now or timezone.now()
    calls = call_facts(offer.pk)
    end = call_ended_at(calls)
    deadline = report_deadline(end, hours=settings.EXPERTLINE_FULFILMENT_REPORT_HOURS)
    seconds = connected_seconds(calls)
    verification = FulfilmentVerification(
        report=report,
        offer=offer,
        call_ended_at=end,
        deadline_at=deadline,
        connected_seconds=seconds,
        created_at=now,
    )
    if not report_on_time(report.filed_at, deadline):
        verification.status = VerificationStatus.LATE
        verification.save()
        return verification
    verification.status = VerificationStatus.PENDING
    verification.save()
    if auto_verifiable(
        delivered=report.delivered,
        seconds_connected=seconds,
        min_minutes=settings.EXPERTLINE_CALL_VERIFY_MINUTES,
    ):
        # The offer is locked already, and a refund locks the payment, then the offer: the
        # payment is taken without waiting, and while a refund holds it the report stays in
        # Customer Care's queue (no deadlock; approved later, in the refund's order).
        try:
            with transaction.atomic():
                _lock_payments(offer.pk, nowait=True)
        except DatabaseError:
            return verification
        _verify(verification, offer=offer, actor=None, automatic=True, now=now)
    return verification


def _lock_payments(offer_id: int, *, nowait: bool = False) -> list[Payment]:
    return list(
        Payment.objects.select_for_update(nowait=nowait)
        .filter(reference=f"offer-{offer_id}")
        .order_by("id")
    )


def _verify(
    verification: FulfilmentVerification,
    *,
    offer: Offer,
    actor: User | None,
    automatic: bool,
    now: dt.datetime,
) -> None:
    report = verification.report
    calls = call_facts(offer.pk)
    protected = is_protected(
        offer_kind=offer.kind,
        service_kind=offer.service_kind,
        call_connected_at=call_connected_at(calls),
        delivered=report.delivered,
        verified=True,
        start=protection_start(),
    )
    _transition(
        verification,
        VerificationStatus.VERIFIED,
        actor=actor,
        automatic=automatic,
        protected=protected,
        decided_at=now,
    )
    FulfilmentReport.objects.filter(pk=report.pk).update(verified_at=now, verified_by=actor)
    phone_call_credit(offer=offer, verification=verification, calls=calls)


def _lock_verification(verification_id: int) -> FulfilmentVerification:
    found = (
        FulfilmentVerification.objects.select_for_update(of=("self",))
        .select_related("report")
        .filter(pk=verification_id)
        .first()
    )
    if found is None:
        raise NotFound("This fulfilment report does not exist.")
    return found


def _check_staff(staff: User) -> None:
    if not staff.is_staff or not staff.has_perm(VERIFY_PERMISSION):
        raise Forbidden("Only Customer Care verifies fulfilment reports.")


@transaction.atomic
def verification_approve(*, verification_id: int, staff: User) -> FulfilmentVerification:
    """Customer Care confirms the report: a phone-call request is credited now."""
    _check_staff(staff)
    offer_id = (
        FulfilmentVerification.objects.filter(pk=verification_id)
        .values_list("offer_id", flat=True)
        .first()
    )
    if offer_id is None:
        raise NotFound("This fulfilment report does not exist.")
    # In a refund's order: the payment, then the offer, then the verification.
    _lock_payments(offer_id)
    offer = Offer.objects.select_for_update().get(pk=offer_id)
    verification = _lock_verification(verification_id)
    _verify(verification, offer=offer, actor=staff, automatic=False, now=timezone.now())
    return verification


@transaction.atomic
def verification_reject(
    *, verification_id: int, staff: User, reason: str
) -> FulfilmentVerification:
    _check_staff(staff)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the report is rejected; the expert will see it.")
    verification = _lock_verification(verification_id)
    _transition(verification, VerificationStatus.REJECTED, actor=staff, reason=reason[:500])
    return verification


# --- Credits ---------------------------------------------------------------------------------


def call_credit_key(offer_id: int) -> str:
    return f"offer-{offer_id}-call-credit"


def phone_call_credit(
    *, offer: Offer, verification: FulfilmentVerification, calls: list[CallFact]
) -> bool:
    """Credit a verified phone-call request at its category's payout value, once. Returns
    whether a credit was recorded (nothing when refunded meanwhile or not payable)."""
    if offer.status != OfferStatus.FULFILLED or offer.expert_id is None:
        return False
    category = Category.objects.only("phone_call_payout_minor").get(questions__pk=offer.question_id)
    report = verification.report
    payout = phone_call_payout(
        offer_kind=offer.kind,
        service_kind=offer.service_kind,
        connected=call_connected_at(calls) is not None,
        delivered=report.delivered,
        on_time=report_on_time(report.filed_at, verification.deadline_at),
        verified=verification.status == VerificationStatus.VERIFIED,
        payout_minor=category.phone_call_payout_minor,
    )
    if payout.amount_minor == 0:
        return False
    # Locked by the caller (report_filed, verification_approve), so read as it stands.
    payment = Payment.objects.filter(
        reference=offer.payment_reference, status=PaymentStatus.SUCCEEDED
    ).first()
    if payment is None:
        return False
    expert = User.objects.get(pk=offer.expert_id)
    txn = payment_services.expert_credit(
        key=call_credit_key(offer.pk),
        expert=expert,
        amount_minor=payout.amount_minor,
        currency=offer.currency,
        memo=f"Phone call (question #{offer.question_id})",
        payment=payment,
        details={
            "rule": "phone_call_payout",
            "why": payout.reason,
            "offer": offer.pk,
            "verification": verification.pk,
            "verified_automatically": verification.automatic,
            "connected_seconds": verification.connected_seconds,
            # Read by payments.services.credits_reverse: a refund the platform carries.
            "protected": verification.protected,
        },
        payment_locked=True,
    )
    return txn is not None


# --- Boosts ---------------------------------------------------------------------------------


def on_picked_up(*, question: Question, expert: User, now: dt.datetime | None = None) -> None:
    """An expert accepted a phone-call request: the boost for accepted auto calls."""
    offer_ids = Offer.objects.filter(
        question=question, kind=OfferKind.AUTO, service_kind=ServiceKind.PHONE_CALL
    ).values_list("pk", flat=True)
    for offer_id in offer_ids:
        payout_levels.boost_grant(
            expert_id=expert.pk,
            kind=BoostKind.AUTO_CALL,
            source=f"offer-{offer_id}",
            earned_at=now or timezone.now(),
            note=f"Accepted the phone-call request on question #{question.pk}",
        )


def answer_times(expert_id: int, limit: int) -> list[dt.datetime]:
    """When the expert first answered each question of theirs in an eligible category,
    the first `limit` of them."""
    return list(
        Message.objects.filter(
            author_id=expert_id,
            question__expert_id=expert_id,
            question__category__answers_boost_eligible=True,
        )
        .values("question_id")
        .annotate(first=Min("created_at"))
        .order_by("first")
        .values_list("first", flat=True)[:limit]
    )


def answers_boost_check(*, expert_id: int) -> bool:
    """Grant the first-answers boost once the expert has answered the rule's number of
    questions in eligible categories, from the moment of that answer."""
    if payout_levels.answers_boost_granted(expert_id):
        return False
    rule = payout_levels.rule_for(BoostKind.ANSWERS)
    if rule is None:
        return False
    earned = payout_levels.answers_boost_earned_at(
        answer_times(expert_id, rule.answers_threshold), rule.answers_threshold
    )
    if earned is None:
        return False
    granted = payout_levels.boost_grant(
        expert_id=expert_id,
        kind=BoostKind.ANSWERS,
        source=f"answers-{rule.answers_threshold}",
        earned_at=earned,
        note=f"Answered {rule.answers_threshold} questions in eligible categories",
    )
    return granted is not None


def on_message_posted(*, message: Message, question: Question) -> None:
    if message.author_id == question.expert_id and question.expert_id is not None:
        answers_boost_check(expert_id=question.expert_id)


# --- For staff: the rule behind a credit, protected refunds by month ------------------------


def _pct(bp: int | None) -> str:
    return f"{(bp or 0) / 100:g}%"


def credit_rule(*, key: str, kind: str, details: dict[str, Any]) -> str:
    """In words, the rule that produced a ledger credit (or reversal), from what it recorded."""
    if kind in ("reversal", "protected_refund"):
        original = details.get("reverses", "")
        if kind == "protected_refund":
            return f"Refund carried by the platform (Expert Earnings Protection) of {original}"
        return f"Reversal of {original}: the expert's credit is taken back"
    boosts = details.get("boosts") or []
    level = ""
    if "payout_level_bp" in details and details.get("payout_level_bp") is not None:
        level = f"payout level {_pct(details['payout_level_bp'])}"
        if boosts:
            raised = ", ".join(
                f"+{_pct(b['raise_bp'])} ({b['kind']}: {b['source']})" for b in boosts
            )
            level += f" = base {_pct(details.get('base_level_bp'))} {raised}"
    rule = details.get("rule")
    if rule == "phone_call_payout":
        how = "by the call log" if details.get("verified_automatically") else "by Customer Care"
        protected = "; protected" if details.get("protected") else ""
        return f"Phone-call payout value of the category, report verified {how}{protected}"
    if rule == "premium_credit":
        return f"Premium credit: {level} of the premium price, at acceptance"
    if key.startswith("question-"):
        if details.get("payout_level_bp") is None:
            return "Question credit: the category's fixed value for a Member's question"
        trigger = {"rating": "a rating of 3+ stars", "offer": "an accepted offer"}.get(
            str(details.get("trigger")), "days without a rating or refund request"
        )
        return f"Question credit on {trigger}: {level} of the question's price"
    return kind


@dataclass(frozen=True)
class MonthTotal:
    month: dt.date
    count: int
    amount_minor: int
    currency: str


def protected_refunds_by_month() -> list[MonthTotal]:
    """What the platform carried each month under Expert Earnings Protection."""
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncMonth

    from payments import ledger
    from payments.models import LedgerEntry

    rows = (
        LedgerEntry.objects.filter(account__key=ledger.PLATFORM_PROTECTED_REFUNDS)
        .annotate(month=TruncMonth("transaction__created_at", tzinfo=dt.UTC))
        .values("month", "currency")
        .annotate(count=Count("id"), total=Sum("amount_minor"))
        .order_by("-month")
    )
    return [
        MonthTotal(r["month"].date(), r["count"], int(r["total"] or 0), r["currency"]) for r in rows
    ]


# --- For the expert's earnings page ------------------------------------------------------------


@dataclass(frozen=True)
class PendingReport:
    offer_id: int
    question_id: int
    service_name: str
    deadline_at: dt.datetime | None  # None: the call has not ended yet
    status: str  # "to file" | "waiting for Customer Care"

    @property
    def url(self) -> str:
        from questions.services import question_url

        return f"{question_url(self.question_id)}#offer-{self.offer_id}"


def earnings_overview(*, expert: User, now: dt.datetime | None = None) -> dict[str, Any]:
    """The level and active boosts, and the fulfilment reports still to file or to verify."""
    from marketplace.models import ExpertProfile

    now = now or timezone.now()
    profile = ExpertProfile.objects.filter(user=expert).first()
    boosts = payout_levels.boosts_for_expert(expert_id=expert.pk, at=now)
    base = profile.payout_level_bp if profile else 0
    level = payout_levels.payout_level(
        base_bp=base, boosts=[payout_levels.fact_of(b) for b in boosts], at=now
    )
    pending: list[PendingReport] = []
    hours = settings.EXPERTLINE_FULFILMENT_REPORT_HOURS
    for offer in Offer.objects.filter(
        expert=expert, status=OfferStatus.ACCEPTED, service_kind=ServiceKind.PHONE_CALL
    ).order_by("accepted_at"):
        deadline = report_deadline(call_ended_at(call_facts(offer.pk)), hours=hours)
        if deadline is None or deadline >= now:
            pending.append(
                PendingReport(offer.pk, offer.question_id, offer.service_name, deadline, "to file")
            )
    for v in FulfilmentVerification.objects.filter(
        offer__expert=expert, status=VerificationStatus.PENDING
    ).select_related("offer"):
        pending.append(
            PendingReport(
                v.offer_id,
                v.offer.question_id,
                v.offer.service_name,
                v.deadline_at,
                "waiting for Customer Care",
            )
        )
    from payments.models import LedgerTransaction

    carried = list(
        LedgerTransaction.objects.filter(
            kind="protected_refund", reverses__details__expert=expert.pk
        )
        .select_related("reverses")
        .order_by("-created_at")[:20]
    )
    return {
        "weeks": earnings_by_week(expert=expert, now=now),
        "level": level,
        "boosts": boosts,
        "pending_reports": pending,
        "protected_credits": LedgerTransaction.objects.filter(
            kind="credit", details__expert=expert.pk, details__protected=True
        ).order_by("-created_at")[:20],
        "carried_refunds": carried,
        "statement_months": statement_months(expert=expert),
    }


@dataclass(frozen=True)
class EarningsRow:
    at: dt.datetime
    memo: str
    kind: str
    rule: str
    protected: bool
    amount_minor: int  # to the expert: + credited, - taken back or paid out
    currency: str


def earnings_rows(*, expert: User, start: dt.datetime, end: dt.datetime) -> Iterable[EarningsRow]:
    """Every movement of the expert's account in [start, end), oldest first, with the rule
    that produced it (the CSV export)."""
    from payments import ledger
    from payments.models import LedgerEntry

    entries = (
        LedgerEntry.objects.filter(
            account__key=ledger.expert_payable(expert.pk),
            transaction__created_at__gte=start,
            transaction__created_at__lt=end,
        )
        .select_related("transaction")
        .order_by("transaction__created_at", "id")
    )
    for e in entries.iterator(chunk_size=2000):
        t = e.transaction
        details = t.details or {}
        yield EarningsRow(
            at=t.created_at,
            memo=t.memo,
            kind=t.kind,
            rule=credit_rule(key=t.key, kind=t.kind, details=details),
            protected=bool(details.get("protected")),
            amount_minor=-e.amount_minor,
            currency=e.currency,
        )


EARNING_KINDS = ("questions", "premium", "calls_protected", "calls_unprotected")


def _earning_kind(key: str, protected: bool) -> str | None:
    base = key.removesuffix("-reversal")
    if base.startswith("question-"):
        return "questions"
    if base.endswith("-call-credit"):
        return "calls_protected" if protected else "calls_unprotected"
    if base.startswith("offer-") and base.endswith("-credit"):
        return "premium"
    return None


@dataclass(frozen=True)
class Week:
    start: dt.date  # Monday, UTC
    amounts: dict[str, int]  # EARNING_KINDS -> net minor units
    widths: dict[str, int]  # EARNING_KINDS -> bar width in % of the largest week

    @property
    def bars(self) -> list[tuple[str, int]]:
        return [(k, self.widths[k]) for k in EARNING_KINDS]


def earnings_by_week(
    *, expert: User, weeks: int = 12, now: dt.datetime | None = None
) -> list[Week]:
    """Net credits (less reversals) of the last `weeks` weeks, by kind and protection."""
    from payments import ledger
    from payments.models import LedgerEntry

    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=today.weekday() + 7 * (weeks - 1))
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    totals: dict[dt.date, dict[str, int]] = {
        first + dt.timedelta(weeks=i): dict.fromkeys(EARNING_KINDS, 0) for i in range(weeks)
    }
    rows = LedgerEntry.objects.filter(
        account__key=ledger.expert_payable(expert.pk),
        transaction__created_at__gte=since,
        transaction__kind__in=["credit", "reversal"],
    ).values_list(
        "transaction__key",
        "transaction__created_at",
        "transaction__details__protected",
        "amount_minor",
    )
    for key, at, protected, amount in rows:
        kind = _earning_kind(key, bool(protected))
        if kind is None:
            continue
        day = at.astimezone(dt.UTC).date()
        week = day - dt.timedelta(days=day.weekday())
        if week in totals:
            totals[week][kind] += -amount
    top = max((sum(max(0, v) for v in t.values()) for t in totals.values()), default=0) or 1
    return [
        Week(
            start=week,
            amounts=amounts,
            widths={k: max(0, v) * 100 // top for k, v in amounts.items()},
        )
        for week, amounts in sorted(totals.items())
    ]


# --- The monthly statement (a PDF on the earnings page) -------------------------------------


@dataclass(frozen=True)
class StatementLine:
    at: dt.datetime
    memo: str
    rule: str
    amount_minor: int  # to the expert: + credited, - taken back or paid out
    carried_by: str = ""  # reversals: "you" or "the platform" (Expert Earnings Protection)
    payout_line: Any = None  # payouts: the payments.PayoutLine sent


@dataclass(frozen=True)
class LevelUsed:
    level_bp: int
    base_bp: int
    boosts: tuple[str, ...]  # "+10% (auto_call: offer-12)"
    credits: int  # how many of the month's credits used it


@dataclass(frozen=True)
class Statement:
    expert: User
    month: dt.date  # the first day, in the expert's time zone
    zone: str
    currency: str
    opening_minor: int  # the balance owed to the expert when the month began
    closing_minor: int  # ... and when it ended
    credits: list[StatementLine]
    reversals: list[StatementLine]
    payouts: list[StatementLine]
    levels: list[LevelUsed]

    @property
    def credits_minor(self) -> int:
        return sum(line.amount_minor for line in self.credits)

    @property
    def reversals_minor(self) -> int:
        return sum(line.amount_minor for line in self.reversals)

    @property
    def payouts_minor(self) -> int:
        return sum(line.amount_minor for line in self.payouts)


def month_bounds(month: dt.date, zone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the calendar month of `month`, in the time zone `zone`."""
    import zoneinfo

    tz = zoneinfo.ZoneInfo(zone)
    first = month.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return (
        dt.datetime.combine(first, dt.time(), tzinfo=tz),
        dt.datetime.combine(following, dt.time(), tzinfo=tz),
    )


def statement_months(*, expert: User, limit: int = 12) -> list[dt.date]:
    """The months (newest first, the expert's time zone) in which the expert's account moved."""
    import zoneinfo

    from django.db.models.functions import TruncMonth

    from payments import ledger
    from payments.models import LedgerEntry

    tz = zoneinfo.ZoneInfo(expert.timezone or "UTC")
    months = (
        LedgerEntry.objects.filter(account__key=ledger.expert_payable(expert.pk))
        .annotate(month=TruncMonth("transaction__created_at", tzinfo=tz))
        .values_list("month", flat=True)
        .distinct()
        .order_by("-month")[:limit]
    )
    return [m.date() for m in months]


def _levels_used(credit_details: Iterable[dict[str, Any]]) -> list[LevelUsed]:
    seen: dict[tuple[int, int, tuple[str, ...]], int] = {}
    for d in credit_details:
        if d.get("payout_level_bp") is None:
            continue
        boosts = tuple(
            f"+{_pct(b.get('raise_bp'))} ({b.get('kind')}: {b.get('source')})"
            for b in d.get("boosts") or []
        )
        key = (int(d["payout_level_bp"]), int(d.get("base_level_bp") or 0), boosts)
        seen[key] = seen.get(key, 0) + 1
    return [LevelUsed(level, base, boosts, n) for (level, base, boosts), n in seen.items()]


def statement_get(*, expert: User, month: dt.date) -> Statement:
    """The expert's statement of one calendar month (their time zone): the opening balance,
    each credit, reversal (and who carried it) and payout with its line, the closing balance,
    and the payout levels and boosts the month's credits were computed with."""
    from django.db.models import Sum

    from payments import ledger
    from payments.models import LedgerEntry, LedgerTransaction, PayoutLine

    zone = expert.timezone or "UTC"
    start, end = month_bounds(month, zone)
    payable = ledger.expert_payable(expert.pk)
    # The payable account is a liability: what we owe the expert is minus its sum.
    before = LedgerEntry.objects.filter(account__key=payable, transaction__created_at__lt=start)
    opening = -int(before.aggregate(s=Sum("amount_minor"))["s"] or 0)
    entries = list(
        LedgerEntry.objects.filter(
            account__key=payable,
            transaction__created_at__gte=start,
            transaction__created_at__lt=end,
        )
        .select_related("transaction")
        .order_by("transaction__created_at", "id")
    )
    currency = entries[0].currency if entries else DEFAULT_CURRENCY
    line_ids = [
        (e.transaction.details or {}).get("line") for e in entries if e.transaction.kind == "payout"
    ]
    lines_by_id = {
        line.pk: line
        for line in PayoutLine.objects.filter(expert=expert, pk__in=[i for i in line_ids if i])
    }
    credits: list[StatementLine] = []
    reversals: list[StatementLine] = []
    payouts: list[StatementLine] = []
    for e in entries:
        t = e.transaction
        details = t.details or {}
        line = StatementLine(
            at=t.created_at,
            memo=t.memo,
            rule=credit_rule(key=t.key, kind=t.kind, details=details),
            amount_minor=-e.amount_minor,
            carried_by="you" if t.kind == "reversal" else "",
            payout_line=lines_by_id.get(int(details.get("line") or 0)),
        )
        if t.kind == "payout":
            payouts.append(line)
        elif t.kind == "reversal":
            reversals.append(line)
        else:
            credits.append(line)
    # Refunds the platform carried never touch the expert's account: listed, at 0 to them.
    for t in (
        LedgerTransaction.objects.filter(
            kind="protected_refund",
            reverses__details__expert=expert.pk,
            created_at__gte=start,
            created_at__lt=end,
        )
        .select_related("reverses")
        .order_by("created_at", "id")
    ):
        reversals.append(
            StatementLine(
                at=t.created_at,
                memo=t.memo,
                rule=credit_rule(key=t.key, kind=t.kind, details=t.details or {}),
                amount_minor=0,
                carried_by="the platform",
            )
        )
    reversals.sort(key=lambda line: line.at)
    credit_details = [
        e.transaction.details or {} for e in entries if e.transaction.kind == "credit"
    ]
    return Statement(
        expert=expert,
        month=start.date(),
        zone=zone,
        currency=currency,
        opening_minor=opening,
        closing_minor=opening + sum(-e.amount_minor for e in entries),
        credits=credits,
        reversals=reversals,
        payouts=payouts,
        levels=_levels_used(credit_details),
    )


# --- One evidence file for a refund or a dispute ----------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _email(user: User | None) -> str | None:
    return user.email if user is not None else None


def _call_log(offer: Offer) -> list[dict[str, Any]]:
    """The offer's calls and screen shares: who took part, when, and what happened. Never the
    signalling payloads (network addresses) nor anything of the private box."""
    from .call_models import CallEvent, CallParticipant

    sessions = list(
        CallSession.objects.filter(offer=offer).select_related("ended_by").order_by("id")
    )
    participants: dict[int, list[dict[str, Any]]] = {s.pk: [] for s in sessions}
    for p in (
        CallParticipant.objects.filter(session__in=sessions).select_related("user").order_by("id")
    ):
        participants[p.session_id].append(
            {
                "role": p.role,
                "user": p.user.email,
                "joined_at": _iso(p.joined_at),
                "joins": p.joins,
                "left_at": _iso(p.left_at),
            }
        )
    events: dict[int, list[dict[str, Any]]] = {s.pk: [] for s in sessions}
    for e in CallEvent.objects.filter(session__in=sessions).select_related("actor").order_by("id"):
        events[e.session_id].append(
            {
                "at": _iso(e.created_at),
                "kind": e.kind,
                "actor": _email(e.actor),
                "from": e.from_status,
                "to": e.to_status,
                "note": e.note,
            }
        )
    return [
        {
            "id": s.pk,
            "kind": s.kind,
            "status": s.status,
            "started_at": _iso(s.created_at),
            "connected_at": _iso(s.connected_at),
            "ended_at": _iso(s.ended_at),
            "end_reason": s.end_reason,
            "ended_by": _email(s.ended_by),
            "consented_at": _iso(s.consented_at),
            "duration_seconds": s.duration_seconds,
            "participants": participants[s.pk],
            "events": events[s.pk],
        }
        for s in sessions
    ]


def _report(offer: Offer) -> dict[str, Any] | None:
    report = FulfilmentReport.objects.filter(offer=offer).select_related("verified_by").first()
    if report is None:
        return None
    verification = (
        FulfilmentVerification.objects.filter(report=report).select_related("decided_by").first()
    )
    return {
        "delivered": report.delivered,
        "notes": report.notes,
        "filed_at": _iso(report.filed_at),
        "verified_at": _iso(report.verified_at),
        "verified_by": _email(report.verified_by),
        "verification": None
        if verification is None
        else {
            "status": verification.status,
            "automatic": verification.automatic,
            "call_ended_at": _iso(verification.call_ended_at),
            "deadline_at": _iso(verification.deadline_at),
            "connected_seconds": verification.connected_seconds,
            "protected": verification.protected,
            "reason": verification.reason,
            "decided_by": _email(verification.decided_by),
            "decided_at": _iso(verification.decided_at),
        },
    }


def payment_evidence(*, payment: Payment) -> dict[str, Any] | None:
    """What premium holds about a refunded or disputed payment (payments'
    `dispute_evidence_requested`): the offer(s), each fulfilment report with its
    verification, and the call and screen-share log. For an offer's own payment the question's
    thread too (questions contributes it for the question's payment). The private box and
    private attachments are left out: they are never evidence we hand on."""
    ref = payment.reference
    if ref.startswith("offer-"):
        offers = list(Offer.objects.filter(pk=int(ref.removeprefix("offer-"))))
    elif ref.startswith("question-"):
        offers = list(Offer.objects.filter(question_id=int(ref.removeprefix("question-"))))
    else:
        return None
    if not offers:
        return None
    data: dict[str, Any] = {
        "offers": [
            {
                "id": o.pk,
                "question": o.question_id,
                "kind": o.kind,
                "service_kind": o.service_kind,
                "service_name": o.service_name,
                "description": o.description,
                "price_minor": o.price_minor,
                "currency": o.currency,
                "status": o.status,
                "expert": _email(o.expert),
                "customer": _email(o.customer),
                "sent_at": _iso(o.sent_at),
                "accepted_at": _iso(o.accepted_at),
                "closed_at": _iso(o.closed_at),
                "cancel_reason": o.cancel_reason,
                "events": [
                    {
                        "at": _iso(e.created_at),
                        "actor": _email(e.actor),
                        "from": e.from_status,
                        "to": e.to_status,
                        "note": e.note,
                    }
                    for e in o.events.select_related("actor").order_by("id")
                ],
                "fulfilment_report": _report(o),
                "calls": _call_log(o),
            }
            for o in offers
        ]
    }
    if ref.startswith("offer-"):
        question = offers[0].question
        data["question"] = {"id": question.pk, "title": question.title, "body": question.body}
        data["messages"] = [
            {"at": _iso(m.created_at), "author": m.author.email, "body": m.body}
            for m in question.messages.select_related("author").order_by("id")
        ]
    title = ", ".join(f"Offer #{o.pk}" for o in offers)
    return {"title": f"{title} (premium services)", "data": data}
