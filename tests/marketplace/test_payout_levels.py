"""Payout levels and boosts (marketplace.payout_levels): the pure rules at their edges, and
grants that apply from the moment they are earned, never before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace import payout_levels
from marketplace.models import BoostKind, ExpertProfile, PayoutBoost, PayoutBoostRule
from marketplace.payout_levels import BoostFact, answers_boost_earned_at, boost_active, payout_level

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def times(n: int) -> list[datetime]:
    return [T0 + timedelta(minutes=i) for i in range(n)]


@pytest.mark.parametrize(("answered", "earned"), [(99, None), (100, 99), (101, 99)])
def test_the_answers_boost_is_earned_at_the_100th_answer(answered, earned):
    got = answers_boost_earned_at(times(answered), 100)
    assert got == (None if earned is None else T0 + timedelta(minutes=earned))


def test_the_100th_answer_is_counted_in_time_order_whatever_order_the_facts_come_in():
    shuffled = list(reversed(times(100)))
    assert answers_boost_earned_at(shuffled, 100) == T0 + timedelta(minutes=99)


def boost(**kw) -> BoostFact:
    base = {"id": 1, "kind": "auto_call", "raise_bp": 500, "earned_at": T0}
    return BoostFact(**{**base, **kw})


def test_a_boost_applies_from_the_moment_it_is_earned_never_before():
    assert not boost_active(boost(), T0 - timedelta(microseconds=1))
    assert boost_active(boost(), T0)


def test_a_timed_boost_ends_at_its_end():
    timed = boost(ends_at=T0 + timedelta(days=7))
    assert boost_active(timed, T0 + timedelta(days=7) - timedelta(seconds=1))
    assert not boost_active(timed, T0 + timedelta(days=7))


def test_a_counted_boost_ends_when_its_credits_are_used():
    assert boost_active(boost(credits_total=3, credits_used=2), T0)
    assert not boost_active(boost(credits_total=3, credits_used=3), T0)


def test_level_adds_active_boosts_and_is_capped_at_100_percent():
    level = payout_level(
        base_bp=5000,
        boosts=[boost(id=1), boost(id=2, raise_bp=1000, earned_at=T0 + timedelta(hours=1))],
        at=T0 + timedelta(minutes=30),
    )
    assert level.level_bp == 5500
    assert level.details()["boosts"] == [
        {"id": 1, "kind": "auto_call", "raise_bp": 500, "source": ""}
    ]
    assert payout_level(base_bp=9800, boosts=[boost()], at=T0).level_bp == 10_000


@pytest.mark.django_db
def test_a_grant_copies_the_rule_and_a_later_rule_change_leaves_it(world):
    PayoutBoostRule.objects.create(kind=BoostKind.AUTO_CALL, raise_bp=300, duration_days=14)
    grant = payout_levels.boost_grant(
        expert_id=world.expert.pk, kind=BoostKind.AUTO_CALL, source="offer-1", earned_at=T0
    )
    assert grant is not None and grant.ends_at == T0 + timedelta(days=14)
    PayoutBoostRule.objects.update(raise_bp=900)
    again = payout_levels.boost_grant(
        expert_id=world.expert.pk, kind=BoostKind.AUTO_CALL, source="offer-1", earned_at=T0
    )
    assert again is None  # once per source
    assert PayoutBoost.objects.get().raise_bp == 300


@pytest.mark.django_db
def test_no_grant_while_the_rule_is_off(world):
    PayoutBoostRule.objects.create(kind=BoostKind.AUTO_CALL, raise_bp=300, is_active=False)
    assert (
        payout_levels.boost_grant(
            expert_id=world.expert.pk, kind=BoostKind.AUTO_CALL, source="offer-1", earned_at=T0
        )
        is None
    )


@pytest.mark.django_db
def test_a_counted_boost_is_used_by_as_many_credits_as_its_count(world):
    PayoutBoostRule.objects.create(kind=BoostKind.AUTO_CALL, raise_bp=1000, credit_count=2)
    payout_levels.boost_grant(
        expert_id=world.expert.pk, kind=BoostKind.AUTO_CALL, source="offer-1", earned_at=T0
    )
    profile = ExpertProfile.objects.get(user=world.expert)
    levels = []
    for _ in range(3):
        level = payout_levels.level_for_credit(profile=profile, at=T0 + timedelta(hours=1))
        payout_levels.boosts_consume(level)
        levels.append(level.level_bp)
    assert levels == [6000, 6000, 5000]
