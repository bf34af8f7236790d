"""Memberships: monthly plans and each member's periods. (Imported by payments.models.)"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from marketplace.models import Category
from marketplace.money import DEFAULT_CURRENCY, format_minor

__all__ = [
    "MEMBERSHIP_TRANSITIONS",
    "Membership",
    "MembershipEvent",
    "MembershipPlan",
    "MembershipStatus",
]


class MembershipPlan(models.Model):
    """A monthly plan covering a group of categories; staff define them in the admin."""

    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    # Charged every month, in minor units of `currency`.
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    categories = models.ManyToManyField(Category, related_name="membership_plans")
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "price_minor"]
        constraints = [
            models.CheckConstraint(condition=Q(price_minor__gt=0), name="plan_price_positive")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.price_display}/month)"

    @property
    def price_display(self) -> str:
        return format_minor(self.price_minor, self.currency)


class MembershipStatus(models.TextChoices):
    INCOMPLETE = "incomplete", "Waiting for the first payment"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Renewal failed, retrying"
    ENDED = "ended", "Ended"  # cancelled at the period's end, or refunded
    LAPSED = "lapsed", "Lapsed"  # renewal failed after every retry


MEMBERSHIP_TRANSITIONS: dict[str, frozenset[str]] = {
    MembershipStatus.INCOMPLETE: frozenset({"active", "ended"}),
    MembershipStatus.ACTIVE: frozenset({"past_due", "ended"}),
    MembershipStatus.PAST_DUE: frozenset({"active", "lapsed", "ended"}),
    MembershipStatus.ENDED: frozenset(),
    MembershipStatus.LAPSED: frozenset(),
}


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    plan = models.ForeignKey(MembershipPlan, on_delete=models.PROTECT, related_name="memberships")
    # Changed only by payments.memberships transitions; see MEMBERSHIP_TRANSITIONS.
    status = models.CharField(
        max_length=12, choices=MembershipStatus.choices, default=MembershipStatus.INCOMPLETE
    )
    # The plan's price when the customer agreed to it (minor units); renewals charge this.
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    # 1 for the first month; renewal N is charged with reference membership-{id}-{N}.
    period = models.PositiveIntegerField(default=1)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # When the renewal sweep should next try to charge (the period's end, or a retry).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    renewal_attempts = models.PositiveSmallIntegerField(default=0)
    # The period whose renewal reminder was emailed (so it is sent once).
    reminded_period = models.PositiveIntegerField(default=0)
    consent_text = models.CharField(max_length=300)
    consented_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=["active", "past_due"]),
                name="membership_one_live_per_user",
            ),
            models.CheckConstraint(
                condition=Q(current_period_end__gt=models.F("current_period_start")),
                name="membership_period_ordered",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["active", "past_due"]),
                name="membership_renewal_due",
            )
        ]

    def __str__(self) -> str:
        return f"membership-{self.pk} {self.user} {self.plan.name} {self.status}"

    @property
    def price_display(self) -> str:
        return format_minor(self.price_minor, self.currency)

    def payment_reference(self, period: int | None = None) -> str:
        return f"membership-{self.pk}-{period or self.period}"


class MembershipEvent(models.Model):
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.membership_id}: {self.from_status} → {self.to_status}"
