"""Recompute each expert's earnings from the raw events through the same rule functions,
and report any difference from the ledger (`manage.py earnings_recompute`).

For every credit recorded to an expert, the amount is computed again from the facts it
stands on: the question's price (or a Member's fixed value) at the payout level with the
boosts active at the credit's moment (replaying count-limited boosts in credit order), the
premium service's price, or a phone call's payout value from its report, verification and
call log; and whether a phone call was protected. The expert's expected balance is the sum
of those amounts, less the credits reversed to the expert (a refund the platform carried
leaves the credit), plus every other movement of the expert's account (payouts, disputes).
It is compared with the ledger's balance. Work goes by chunks of experts, so memory stays
flat however many there are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Min, Sum

from marketplace.models import ExpertProfile, PayoutBoost
from marketplace.money import Money
from marketplace.payout_levels import BoostFact, fact_of, payout_level
from payments.models import LedgerAccount, LedgerEntry
from questions.models import Question

from . import earnings
from .call_models import CallSession
from .earnings_models import FulfilmentVerification
from .models import Offer


@dataclass(frozen=True)
class Difference:
    expert_id: int
    key: str  # the credit's ledger key, or "balance"
    what: str
    recorded: Any
    recomputed: Any


@dataclass
class Totals:
    experts: int = 0
    credits: int = 0
    differences: list[Difference] = field(default_factory=list)


@dataclass(frozen=True)
class CreditRow:
    expert_id: int
    key: str
    created_at: dt.datetime
    details: dict[str, Any]
    amount_minor: int  # credited to the expert (positive)
    reversed_kind: str | None  # "reversal" (taken back), "protected_refund", or None


@dataclass(frozen=True)
class QuestionFact:
    price_minor: int
    currency: str
    is_member_question: bool
    member_value_minor: int


@dataclass(frozen=True)
class OfferFact:
    price_minor: int
    currency: str
    kind: str
    service_kind: str
    status: str
    payout_minor: int | None
    delivered: bool
    filed_at: dt.datetime | None
    deadline_at: dt.datetime | None
    verified: bool
    call_connected_at: dt.datetime | None


@dataclass
class Facts:
    questions: dict[int, QuestionFact] = field(default_factory=dict)
    offers: dict[int, OfferFact] = field(default_factory=dict)


def _ref(key: str) -> tuple[str, int, str]:
    """("question"|"offer", id, suffix) of a credit key like `offer-12-call-credit`."""
    head, ident, suffix = key.split("-", 2)
    return head, int(ident), suffix


# --- The pure part: one expert's credits through the rules ---------------------------------


def recompute_expert(
    *,
    expert_id: int,
    base_bp: int,
    boosts: Sequence[BoostFact],
    credits: Sequence[CreditRow],
    facts: Facts,
    other_movements_minor: int,
    balance_minor: int,
    protection_start: dt.date,
) -> list[Difference]:
    """Every difference between what the rules give for these facts and the ledger."""
    out: list[Difference] = []
    uses: dict[int, int] = defaultdict(int)
    expected_balance = other_movements_minor
    for credit in sorted(credits, key=lambda c: (c.created_at, c.key)):
        head, ident, suffix = _ref(credit.key)
        expected: int | None = None
        if suffix == "call-credit":
            offer = facts.offers.get(ident)
            if offer is None:
                out.append(Difference(expert_id, credit.key, "offer missing", credit.key, None))
                continue
            payout = earnings.phone_call_payout(
                offer_kind=offer.kind,
                service_kind=offer.service_kind,
                connected=offer.call_connected_at is not None,
                delivered=offer.delivered,
                on_time=offer.filed_at is not None
                and earnings.report_on_time(offer.filed_at, offer.deadline_at),
                verified=offer.verified,
                payout_minor=offer.payout_minor,
            )
            expected = payout.amount_minor
            protected = earnings.is_protected(
                offer_kind=offer.kind,
                service_kind=offer.service_kind,
                call_connected_at=offer.call_connected_at,
                delivered=offer.delivered,
                verified=offer.verified,
                start=protection_start,
            )
            if bool(credit.details.get("protected")) != protected:
                out.append(
                    Difference(
                        expert_id,
                        credit.key,
                        "protection",
                        bool(credit.details.get("protected")),
                        protected,
                    )
                )
            if credit.reversed_kind and (credit.reversed_kind == "protected_refund") != protected:
                out.append(
                    Difference(
                        expert_id, credit.key, "refund carried by", credit.reversed_kind, protected
                    )
                )
        else:
            price: Money | None = None
            if head == "question":
                question = facts.questions.get(ident)
                if question is None:
                    out.append(Difference(expert_id, credit.key, "question missing", None, None))
                    continue
                if question.is_member_question:
                    expected = question.member_value_minor
                else:
                    price = Money(question.price_minor, question.currency)
            else:
                offer = facts.offers.get(ident)
                if offer is None:
                    out.append(Difference(expert_id, credit.key, "offer missing", None, None))
                    continue
                price = Money(offer.price_minor, offer.currency)
            if price is not None:
                base = credit.details.get("base_level_bp", credit.details.get("payout_level_bp"))
                replayed = [replace(b, credits_used=uses[b.id]) for b in boosts]
                level = payout_level(
                    base_bp=int(base if base is not None else base_bp),
                    boosts=replayed,
                    at=credit.created_at,
                )
                for b in level.boosts:
                    if b.credits_total is not None:
                        uses[b.id] += 1
                expected = price.share(level.level_bp).amount
                recorded_level = credit.details.get("payout_level_bp")
                if recorded_level is not None and recorded_level != level.level_bp:
                    out.append(
                        Difference(
                            expert_id, credit.key, "payout level", recorded_level, level.level_bp
                        )
                    )
        assert expected is not None
        if expected != credit.amount_minor:
            out.append(Difference(expert_id, credit.key, "amount", credit.amount_minor, expected))
        if credit.reversed_kind != "reversal":
            expected_balance += expected
    if expected_balance != balance_minor:
        out.append(Difference(expert_id, "balance", "balance", balance_minor, expected_balance))
    return out


# --- Reading the facts, a chunk of experts at a time ------------------------------------------


def _chunk_credits(expert_ids: list[int]) -> dict[int, list[CreditRow]]:
    rows = LedgerEntry.objects.filter(
        account__user_id__in=expert_ids,
        account__key__endswith=":payable",
        transaction__kind="credit",
    ).values_list(
        "account__user_id",
        "transaction__key",
        "transaction__created_at",
        "transaction__details",
        "amount_minor",
        "transaction__reversed_by__kind",
    )
    out: dict[int, list[CreditRow]] = defaultdict(list)
    for user_id, key, created_at, details, amount, reversed_kind in rows.iterator(chunk_size=5000):
        out[user_id].append(
            CreditRow(user_id, key, created_at, details or {}, -amount, reversed_kind)
        )
    return out


def _chunk_facts(credits: dict[int, list[CreditRow]]) -> Facts:
    question_ids: list[int] = []
    offer_ids: list[int] = []
    for rows in credits.values():
        for row in rows:
            head, ident, _ = _ref(row.key)
            (question_ids if head == "question" else offer_ids).append(ident)
    facts = Facts()
    for qid, price, currency, member, value in (
        Question.objects.filter(pk__in=question_ids)
        .values_list(
            "pk",
            "price_minor",
            "currency",
            "is_member_question",
            "category__member_question_value_minor",
        )
        .iterator(chunk_size=5000)
    ):
        facts.questions[qid] = QuestionFact(price, currency, member, value)
    if offer_ids:
        verifications = {
            v.offer_id: v
            for v in FulfilmentVerification.objects.filter(offer_id__in=offer_ids).select_related(
                "report"
            )
        }
        connected = dict(
            CallSession.objects.filter(offer_id__in=offer_ids, connected_at__isnull=False)
            .values("offer_id")
            .annotate(first=Min("connected_at"))
            .values_list("offer_id", "first")
        )
        for offer in Offer.objects.filter(pk__in=offer_ids).select_related("question__category"):
            v = verifications.get(offer.pk)
            facts.offers[offer.pk] = OfferFact(
                price_minor=offer.price_minor,
                currency=offer.currency,
                kind=offer.kind,
                service_kind=offer.service_kind,
                status=offer.status,
                payout_minor=offer.question.category.phone_call_payout_minor,
                delivered=bool(v and v.report.delivered),
                filed_at=v.report.filed_at if v else None,
                deadline_at=v.deadline_at if v else None,
                verified=bool(v and v.status == "verified"),
                call_connected_at=connected.get(offer.pk),
            )
    return facts


def _expert_ids(chunk: int) -> Iterator[list[int]]:
    ids = ExpertProfile.objects.order_by("user_id").values_list("user_id", flat=True)
    last = 0
    while True:
        batch = list(ids.filter(user_id__gt=last)[:chunk])
        if not batch:
            return
        yield batch
        last = batch[-1]


def recompute_all(*, chunk: int = 250, expert_ids: Sequence[int] | None = None) -> Totals:
    """Recompute every expert (or the given ones); differences are returned, not fixed."""
    totals = Totals()
    start = earnings.protection_start()
    chunks: Iterator[list[int]]
    if expert_ids is not None:
        ids = sorted(expert_ids)
        chunks = iter([ids[i : i + chunk] for i in range(0, len(ids), chunk)])
    else:
        chunks = _expert_ids(chunk)
    for ids in chunks:
        credits = _chunk_credits(ids)
        facts = _chunk_facts(credits)
        boosts: dict[int, list[BoostFact]] = defaultdict(list)
        for b in PayoutBoost.objects.filter(expert_id__in=ids):
            boosts[b.expert_id].append(fact_of(b))
        base = dict(
            ExpertProfile.objects.filter(user_id__in=ids).values_list("user_id", "payout_level_bp")
        )
        balances = {
            user_id: -balance
            for user_id, balance in LedgerAccount.objects.filter(
                user_id__in=ids, key__endswith=":payable"
            ).values_list("user_id", "balance_minor")
        }
        # Everything else that moved the experts' accounts: payouts, disputes, corrections.
        others = {
            row["account__user_id"]: -int(row["total"] or 0)
            for row in LedgerEntry.objects.filter(
                account__user_id__in=ids, account__key__endswith=":payable"
            )
            .exclude(transaction__kind="credit")
            .exclude(transaction__reverses__kind="credit")
            .values("account__user_id")
            .annotate(total=Sum("amount_minor"))
        }
        for expert_id in ids:
            rows = credits.get(expert_id, [])
            totals.experts += 1
            totals.credits += len(rows)
            totals.differences.extend(
                recompute_expert(
                    expert_id=expert_id,
                    base_bp=base.get(expert_id, 0),
                    boosts=boosts.get(expert_id, []),
                    credits=rows,
                    facts=facts,
                    other_movements_minor=others.get(expert_id, 0),
                    balance_minor=balances.get(expert_id, 0),
                    protection_start=start,
                )
            )
    return totals
