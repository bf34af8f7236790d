"""The question-credit rule: the expert is credited once for a question.

Keyed `question-{id}-credit`, on the first of: the customer's rating of 3 stars
or more, the acceptance of an expert-initiated offer (premium), or N days
(setting) after pick-up without a rating or refund request. Pay-Per-Question:
the expert's payout-level share of the price. Member: the category's value for
member questions. Amounts are handed to payments; the rule lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace import payout_levels, rowwrites
from marketplace.compiled import CompiledQuery
from marketplace.models import ExpertProfile
from marketplace.money import Money
from payments import services as payment_services
from payments.models import Payment, PaymentStatus, Refund, RefundStatus

from .models import Question, QuestionStatus

MIN_STARS_FOR_CREDIT = 3

# The question's succeeded payment, locked; compiled once per process (marketplace.compiled):
# it is on every credit. One at most: a reference has one live payment.
_PAID_LOCKED = CompiledQuery(
    lambda reference: (
        Payment.objects.select_for_update()
        .filter(reference=reference, status=PaymentStatus.SUCCEEDED)
        .order_by()[:1]
    )
)


def credit_key(question_id: int) -> str:
    return f"question-{question_id}-credit"


def payment_reference(question_id: int) -> str:
    return f"question-{question_id}"


@dataclass(frozen=True)
class CreditAmount:
    amount_minor: int
    currency: str
    funded_by: str  # "payment" | "member"
    payout_level_bp: int | None


def credit_amount(
    question: Question, expert_profile: ExpertProfile, level_bp: int | None = None
) -> CreditAmount:
    """Pure: what the expert earns for this question. `level_bp`: the payout level with its
    boosts (marketplace.payout_levels); the profile's base level when not given."""
    if question.is_member_question:
        return CreditAmount(
            question.category.member_question_value_minor, question.currency, "member", None
        )
    level = expert_profile.payout_level_bp if level_bp is None else level_bp
    share = Money(question.price_minor, question.currency).share(level)
    return CreditAmount(share.amount, question.currency, "payment", level)


def rating_triggers_credit(stars: int) -> bool:
    return stars >= MIN_STARS_FOR_CREDIT


def auto_credit_due_before(now: datetime) -> datetime:
    """Questions picked up before this moment are credited if nothing else happened."""
    return now - timedelta(days=settings.EXPERTLINE_AUTO_CREDIT_DAYS)


def _refund_requested(question_id: int) -> bool:
    return (
        Refund.objects.filter(payment__reference=payment_reference(question_id))
        .exclude(status=RefundStatus.DENIED)
        .exists()
    )


@transaction.atomic(savepoint=False)
def question_credit(
    *,
    question_id: int,
    trigger: str,
    expert_profile: ExpertProfile | None = None,
    locked_question: Question | None = None,
) -> bool:
    """Credit the expert for the question, once. Returns whether a credit was recorded now.

    The caller may pass what it has, so it is not read again: `expert_profile`, the
    assigned expert's profile; `locked_question`, the question with its category, read
    under its row lock in the caller's transaction.
    """
    if locked_question is not None and locked_question.pk == question_id:
        question = locked_question
    else:
        question = (
            Question.objects.select_for_update(of=("self",))
            .select_related("category")
            .get(pk=question_id)
        )
    if question.credited_at is not None or question.expert_id is None:
        return False
    if question.status in (QuestionStatus.REFUNDED, QuestionStatus.INTAKE, QuestionStatus.OPEN):
        return False
    if trigger == "auto" and _refund_requested(question.pk):
        return False
    profile = expert_profile
    if profile is None or profile.user_id != question.expert_id:
        profile = ExpertProfile.objects.select_related("user").get(user_id=question.expert_id)
    # The level with the boosts earned by now (never retroactively); recorded on the credit.
    level = None if question.is_member_question else payout_levels.level_for_credit(profile=profile)
    amount = credit_amount(question, profile, level.level_bp if level else None)
    payment = None
    if amount.funded_by == "payment":
        # Locked here, so payments does not read it again (a refund or a chargeback that
        # changes it waits for this credit, or this credit sees it changed).
        payment = _PAID_LOCKED.first(payment_reference(question.pk))
        if payment is None:
            return False
    txn = payment_services.expert_credit(
        key=credit_key(question.pk),
        expert=profile.user,
        amount_minor=amount.amount_minor,
        currency=amount.currency,
        memo=f"Question #{question.pk}: {question.title}"[:300],
        payment=payment,
        funded_by=amount.funded_by,
        details={
            "question": question.pk,
            "trigger": trigger,
            "payout_level_bp": amount.payout_level_bp,
            "price_minor": question.price_minor,
            **(level.details() if level else {}),
        },
        payment_locked=payment is not None,
    )
    if txn is None:
        return False
    if level is not None:
        payout_levels.boosts_consume(level)
    question.credited_at = timezone.now()
    rowwrites.write_together(rowwrites.update(question, ["credited_at"]))
    return True


def credit_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Beat job: credit questions picked up N days ago with no rating or refund request."""
    now = now or timezone.now()
    due = list(
        Question.objects.filter(
            credited_at__isnull=True,
            expert__isnull=False,
            rating_stars__isnull=True,
            picked_up_at__lte=auto_credit_due_before(now),
            status__in=[QuestionStatus.ASSIGNED, QuestionStatus.ANSWERED, QuestionStatus.CLOSED],
        )
        # A phone-call request is not question-credited (its price is an Auto Premium
        # offer's, credited on a verified call): left in, it would stay due for ever and
        # fill the batch.
        .exclude(phone_price_minor__isnull=False)
        .order_by("picked_up_at")
        .values_list("pk", flat=True)[:batch]
    )
    return sum(question_credit(question_id=qid, trigger="auto") for qid in due)
