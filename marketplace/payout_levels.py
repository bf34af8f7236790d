"""Payout levels and the boosts that raise them (DESIGN.md: marketplace owns both).

An expert's payout level is a share of a question's (or premium service's) value, in basis
points. Boosts add to it: (a) once the expert has answered their first N questions in
categories admins marked eligible, (b) per accepted Auto Premium phone call. A boost is
active from the moment it was earned, never before, until its end or until it has been
used by its count of credits, as the rule said when it was earned (`PayoutBoostRule`).

The rules are pure functions of recorded facts (`payout_level`, `boost_active`,
`answers_boost_earned_at`, `boost_limits`); the services around them read the facts, write
grants, and count uses. Each credit records the `LevelUsed` it was computed with
(`LevelUsed.details()` in the ledger transaction's details), so support can explain it and
`manage.py earnings_recompute` can check it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import BoostKind, ExpertProfile, PayoutBoost, PayoutBoostRule

MAX_LEVEL_BP = 10_000


# --- Pure rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class BoostFact:
    """A boost grant as the rules see it."""

    id: int
    kind: str
    raise_bp: int
    earned_at: datetime
    ends_at: datetime | None = None
    credits_total: int | None = None
    credits_used: int = 0
    source: str = ""


def boost_active(boost: BoostFact, at: datetime) -> bool:
    """Active at `at`: earned at or before it (never retroactively), not yet ended (the end
    itself is outside), and with uses left when it is limited to a count of credits."""
    if at < boost.earned_at:
        return False
    if boost.ends_at is not None and at >= boost.ends_at:
        return False
    return boost.credits_total is None or boost.credits_used < boost.credits_total


@dataclass(frozen=True)
class LevelUsed:
    """The level a credit was computed with: the expert's base level plus active boosts."""

    base_bp: int
    boosts: tuple[BoostFact, ...] = field(default=())

    @property
    def level_bp(self) -> int:
        return min(MAX_LEVEL_BP, self.base_bp + sum(b.raise_bp for b in self.boosts))

    def details(self) -> dict[str, Any]:
        """What the credit's ledger transaction records about its level."""
        return {
            "payout_level_bp": self.level_bp,
            "base_level_bp": self.base_bp,
            "boosts": [
                {"id": b.id, "kind": b.kind, "raise_bp": b.raise_bp, "source": b.source}
                for b in self.boosts
            ],
        }


def payout_level(*, base_bp: int, boosts: Iterable[BoostFact], at: datetime) -> LevelUsed:
    """The level for a credit computed at `at` (pure)."""
    active = tuple(
        b for b in sorted(boosts, key=lambda b: (b.earned_at, b.id)) if boost_active(b, at)
    )
    return LevelUsed(base_bp=base_bp, boosts=active)


def answers_boost_earned_at(answer_times: Sequence[datetime], threshold: int) -> datetime | None:
    """When the expert answered their `threshold`-th question (first answers, any order
    given), or None before that: the moment the answers boost is earned."""
    if threshold <= 0 or len(answer_times) < threshold:
        return None
    return sorted(answer_times)[threshold - 1]


@dataclass(frozen=True)
class BoostLimits:
    raise_bp: int
    ends_at: datetime | None
    credits_total: int | None


def boost_limits(
    *, raise_bp: int, duration_days: int | None, credit_count: int | None, earned_at: datetime
) -> BoostLimits:
    """A grant's figures from the rule as it stands when the boost is earned (pure)."""
    ends = earned_at + timedelta(days=duration_days) if duration_days else None
    return BoostLimits(raise_bp=raise_bp, ends_at=ends, credits_total=credit_count or None)


def fact_of(boost: PayoutBoost) -> BoostFact:
    return BoostFact(
        id=boost.pk,
        kind=boost.kind,
        raise_bp=boost.raise_bp,
        earned_at=boost.earned_at,
        ends_at=boost.ends_at,
        credits_total=boost.credits_total,
        credits_used=boost.credits_used,
        source=boost.source,
    )


# --- Services -----------------------------------------------------------------------------


def rule_for(kind: str) -> PayoutBoostRule | None:
    return PayoutBoostRule.objects.filter(kind=kind, is_active=True).first()


def boost_grant(
    *, expert_id: int, kind: str, source: str, earned_at: datetime, note: str = ""
) -> PayoutBoost | None:
    """Grant the boost `source` earned, once, by the rule as it stands now; None when the
    rule is off or the boost was granted before."""
    rule = rule_for(kind)
    if rule is None or rule.raise_bp == 0:
        return None
    limits = boost_limits(
        raise_bp=rule.raise_bp,
        duration_days=rule.duration_days,
        credit_count=rule.credit_count,
        earned_at=earned_at,
    )
    with transaction.atomic():
        boost, created = PayoutBoost.objects.get_or_create(
            expert_id=expert_id,
            source=source,
            defaults={
                "kind": kind,
                "note": note[:200],
                "raise_bp": limits.raise_bp,
                "earned_at": earned_at,
                "ends_at": limits.ends_at,
                "credits_total": limits.credits_total,
            },
        )
        if created:
            ExpertProfile.objects.filter(user_id=expert_id).update(
                payout_boosts_earned=F("payout_boosts_earned") + 1
            )
    return boost if created else None


def answers_boost_granted(expert_id: int) -> bool:
    return PayoutBoost.objects.filter(expert_id=expert_id, kind=BoostKind.ANSWERS).exists()


def level_for_credit(*, profile: ExpertProfile, at: datetime | None = None) -> LevelUsed:
    """The level a credit computed now uses. The expert's boosts that may be active are
    locked, so two credits racing for a count-limited boost's last use take turns; call
    `boosts_consume` once the credit is recorded."""
    at = at or timezone.now()
    if profile.payout_boosts_earned == 0:
        return LevelUsed(base_bp=profile.payout_level_bp)  # no boost ever: no look-up
    rows = (
        PayoutBoost.objects.select_for_update()
        .filter(expert_id=profile.user_id, earned_at__lte=at)
        .exclude(ends_at__lte=at)
        .exclude(credits_total__isnull=False, credits_used__gte=F("credits_total"))
        .order_by("id")
    )
    return payout_level(base_bp=profile.payout_level_bp, boosts=[fact_of(b) for b in rows], at=at)


def boosts_consume(level: LevelUsed) -> None:
    """Count one use of each count-limited boost the recorded credit used."""
    counted = [b.id for b in level.boosts if b.credits_total is not None]
    if counted:
        with transaction.atomic(savepoint=False):
            PayoutBoost.objects.filter(pk__in=counted).update(credits_used=F("credits_used") + 1)


def boosts_for_expert(*, expert_id: int, at: datetime | None = None) -> list[PayoutBoost]:
    """The expert's boosts active at `at` (for the earnings page)."""
    at = at or timezone.now()
    rows = PayoutBoost.objects.filter(expert_id=expert_id).order_by("earned_at", "id")
    return [b for b in rows if boost_active(fact_of(b), at)]
