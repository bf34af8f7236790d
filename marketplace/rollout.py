"""Staged feature rollouts: a stable hash of the customer decides who sees a feature.

`bucket` maps (salt, rollout key, customer id) to 0..9999 with SHA-256, so a customer
keeps the same experience on every visit and on every server, and the share of
customers in a rollout matches its percentage. `decide` is pure (no I/O); the
functions below it read the rollout row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db.models import Prefetch

from .models import Category, CustomerProfile, Rollout, User

BUCKETS = 10_000  # one bucket is one basis point of the customers
PHONE_FIRST = "phone-first"


class Experience:
    """What a customer was given, recorded on each question for the report."""

    FEATURE = "feature"  # in the rollout: saw the feature
    CONTROL = "control"  # matched country and category, but hashed outside the share
    NONE = "none"  # outside the rollout's countries or categories, or no rollout


@dataclass(frozen=True)
class RolloutRule:
    """What `decide` needs of a Rollout row."""

    key: str
    is_enabled: bool
    countries: frozenset[str]
    category_ids: frozenset[int]
    share_bp: int
    salt: str


def bucket(*, salt: str, key: str, customer_id: int) -> int:
    """0..9999, stable for the customer: the first 8 bytes of a SHA-256, modulo 10,000."""
    digest = hashlib.sha256(f"{salt}:{key}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def decide(rule: RolloutRule | None, *, customer_id: int, country: str, category_id: int) -> str:
    """The customer's experience under a rule (an Experience value)."""
    if rule is None or not rule.is_enabled:
        return Experience.NONE
    if rule.countries and country.upper() not in rule.countries:
        return Experience.NONE
    if rule.category_ids and category_id not in rule.category_ids:
        return Experience.NONE
    if bucket(salt=rule.salt, key=rule.key, customer_id=customer_id) < rule.share_bp:
        return Experience.FEATURE
    return Experience.CONTROL


def rule_of(rollout: Rollout) -> RolloutRule:
    return RolloutRule(
        key=rollout.key,
        is_enabled=rollout.is_enabled,
        countries=rollout.country_codes,
        category_ids=frozenset(c.pk for c in rollout.categories.all()),
        share_bp=rollout.share_bp,
        salt=rollout.salt,
    )


def rule_get(key: str) -> RolloutRule | None:
    rollout = (
        Rollout.objects.filter(key=key)
        .prefetch_related(Prefetch("categories", queryset=Category.objects.only("pk")))
        .first()
    )
    return rule_of(rollout) if rollout is not None else None


def experience_for(*, key: str, customer: User, category: Category) -> str:
    """The experience this customer gets in this category (one or two queries)."""
    rule = rule_get(key)
    if rule is None or not rule.is_enabled:
        return Experience.NONE
    country = (
        CustomerProfile.objects.filter(user=customer).values_list("country", flat=True).first()
        or ""
    )
    return decide(rule, customer_id=customer.pk, country=country, category_id=category.pk)
