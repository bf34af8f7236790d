"""The admin's comparison of the phone-first rollout's groups.

For each experience a question was given (feature: offered chat or phone;
control: in the rollout's countries and categories but hashed outside its share;
none: outside it): questions posted, phone-call uptake, refunds, ratings and
revenue. Premium registers where its offers' payments are (this app cannot
import premium).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Avg, Count, Q, Sum

from marketplace.money import format_minor
from payments.models import Payment, PaymentStatus

from . import credit
from .models import Channel, Experience, Question, QuestionStatus

OfferReferences = Callable[[Iterable[int]], dict[int, list[str]]]
_SOURCES: dict[str, OfferReferences] = {}


def register_offer_references(source: OfferReferences) -> None:
    _SOURCES["offers"] = source


@dataclass(frozen=True)
class GroupFigures:
    experience: str
    label: str
    questions: int
    phone_requests: int
    refunded_payments: int
    ratings: int
    average_stars: float | None
    revenue_minor: int
    currency: str

    @property
    def phone_uptake_pct(self) -> float | None:
        return 100 * self.phone_requests / self.questions if self.questions else None

    @property
    def revenue_display(self) -> str:
        return format_minor(self.revenue_minor, self.currency)

    @property
    def revenue_per_question_display(self) -> str:
        per = self.revenue_minor // self.questions if self.questions else 0
        return format_minor(per, self.currency)


def rollout_report(*, currency: str = "USD") -> list[GroupFigures]:
    """One row per experience, for questions that were posted (drafts left out)."""
    posted = Question.objects.exclude(status=QuestionStatus.INTAKE).filter(currency=currency)
    rows = []
    for experience, label in Experience.choices:
        group = posted.filter(experience=experience)
        figures = group.aggregate(
            questions=Count("id"),
            phone=Count("id", filter=Q(channel=Channel.PHONE)),
            ratings=Count("id", filter=Q(rating_stars__isnull=False, rating_automatic=False)),
            stars=Avg("rating_stars", filter=Q(rating_stars__isnull=False, rating_automatic=False)),
        )
        ids = list(group.values_list("pk", flat=True))
        references = [credit.payment_reference(i) for i in ids]
        source = _SOURCES.get("offers")
        if source is not None and ids:
            for refs in source(ids).values():
                references.extend(refs)
        payments = Payment.objects.filter(reference__in=references, currency=currency)
        money = payments.aggregate(
            # Kept: paid and not refunded (refunds are in full, see DESIGN.md).
            revenue=Sum(
                "amount_minor",
                filter=Q(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.DISPUTED]),
            ),
            refunded=Count("id", filter=Q(status=PaymentStatus.REFUNDED)),
        )
        revenue, refunded = money["revenue"] or 0, money["refunded"]
        rows.append(
            GroupFigures(
                experience=experience,
                label=label,
                questions=figures["questions"],
                phone_requests=figures["phone"],
                refunded_payments=refunded,
                ratings=figures["ratings"],
                average_stars=round(figures["stars"], 2) if figures["stars"] is not None else None,
                revenue_minor=revenue,
                currency=currency,
            )
        )
    return rows
