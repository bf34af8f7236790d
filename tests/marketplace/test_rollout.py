"""The phone-first rollout: a stable hash of the customer decides, in proportion to the
share, within the rollout's countries and categories (marketplace.rollout)."""

from __future__ import annotations

import pytest

from marketplace import rollout
from marketplace.models import Rollout
from marketplace.rollout import Experience, RolloutRule, decide
from tests.factories import make_category, make_customer

CUSTOMERS = range(1, 10_001)  # 10,000 customer ids


def rule(**overrides: object) -> RolloutRule:
    fields: dict[str, object] = {
        "key": rollout.PHONE_FIRST,
        "is_enabled": True,
        "countries": frozenset({"US"}),
        "category_ids": frozenset({7}),
        "share_bp": 2_500,
        "salt": "test-salt",
    }
    fields.update(overrides)
    return RolloutRule(**fields)  # type: ignore[arg-type]


def share_with_feature(r: RolloutRule, *, country: str = "US", category_id: int = 7) -> float:
    given = [decide(r, customer_id=c, country=country, category_id=category_id) for c in CUSTOMERS]
    return 100 * given.count(Experience.FEATURE) / len(given)


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 75, 90])
def test_the_share_of_10000_customers_in_the_rollout_is_within_2_points(percent):
    assert abs(share_with_feature(rule(share_bp=percent * 100)) - percent) <= 2


def test_0_and_100_percent_are_exact():
    assert share_with_feature(rule(share_bp=0)) == 0
    assert share_with_feature(rule(share_bp=10_000)) == 100


def test_a_customer_keeps_the_same_experience_on_every_visit():
    first = [decide(rule(), customer_id=c, country="US", category_id=7) for c in CUSTOMERS]
    again = [decide(rule(), customer_id=c, country="US", category_id=7) for c in CUSTOMERS]
    assert first == again
    assert rollout.bucket(salt="s", key="k", customer_id=42) == rollout.bucket(
        salt="s", key="k", customer_id=42
    )


def test_raising_the_share_only_adds_customers():
    at_10 = {
        c
        for c in CUSTOMERS
        if decide(rule(share_bp=1_000), customer_id=c, country="US", category_id=7)
        == Experience.FEATURE
    }
    at_20 = {
        c
        for c in CUSTOMERS
        if decide(rule(share_bp=2_000), customer_id=c, country="US", category_id=7)
        == Experience.FEATURE
    }
    assert at_10 < at_20


def test_a_new_salt_draws_a_different_group_of_the_same_size():
    a = {
        c
        for c in CUSTOMERS
        if decide(rule(), customer_id=c, country="US", category_id=7) == Experience.FEATURE
    }
    b = {
        c
        for c in CUSTOMERS
        if decide(rule(salt="other"), customer_id=c, country="US", category_id=7)
        == Experience.FEATURE
    }
    assert a != b
    assert abs(len(a) - len(b)) <= 400


def test_customers_outside_the_countries_are_not_in_the_rollout_nor_its_control_group():
    r = rule(share_bp=10_000)
    assert decide(r, customer_id=1, country="CA", category_id=7) == Experience.NONE
    assert decide(r, customer_id=1, country="", category_id=7) == Experience.NONE
    assert decide(r, customer_id=1, country="us", category_id=7) == Experience.FEATURE


def test_an_empty_country_list_means_every_country():
    assert (
        decide(
            rule(countries=frozenset(), share_bp=10_000), customer_id=1, country="FR", category_id=7
        )
        == Experience.FEATURE
    )


def test_only_the_listed_categories_are_in_the_rollout():
    r = rule(share_bp=10_000)
    assert decide(r, customer_id=1, country="US", category_id=8) == Experience.NONE
    assert (
        decide(
            rule(category_ids=frozenset(), share_bp=10_000),
            customer_id=1,
            country="US",
            category_id=8,
        )
        == Experience.FEATURE
    )


def test_customers_matching_but_hashed_outside_the_share_are_the_control_group():
    given = {
        decide(rule(share_bp=5_000), customer_id=c, country="US", category_id=7)
        for c in range(1, 200)
    }
    assert given == {Experience.FEATURE, Experience.CONTROL}


def test_a_disabled_or_missing_rollout_gives_nobody_the_feature():
    assert (
        decide(rule(is_enabled=False, share_bp=10_000), customer_id=1, country="US", category_id=7)
        == Experience.NONE
    )
    assert decide(None, customer_id=1, country="US", category_id=7) == Experience.NONE


@pytest.mark.django_db
def test_the_admins_rollout_row_decides_by_profile_country_and_category():
    cars, legal = make_category(slug="cars"), make_category(slug="legal")
    row = Rollout.objects.create(
        key=rollout.PHONE_FIRST, is_enabled=True, countries="US, ca", share_bp=10_000
    )
    row.categories.set([cars])
    us, fr, ca = (
        make_customer(country="US", card=None),
        make_customer(country="FR", card=None),
        make_customer(country="CA", card=None),
    )

    def exp(user, category):
        return rollout.experience_for(key=rollout.PHONE_FIRST, customer=user, category=category)

    assert exp(us, cars) == Experience.FEATURE
    assert exp(ca, cars) == Experience.FEATURE
    assert exp(fr, cars) == Experience.NONE
    assert exp(us, legal) == Experience.NONE
    row.is_enabled = False
    row.save()
    assert exp(us, cars) == Experience.NONE
