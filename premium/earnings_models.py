"""Fulfilment verification: each fulfilment report's check, automatic from the call log or
by Customer Care in the admin (premium.earnings). Imported by premium/models.py so Django
finds the model."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class VerificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting for Customer Care"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    LATE = "late", "Filed after the deadline (not payable)"


# The only moves a verification may make (premium.earnings enforces them).
VERIFICATION_TRANSITIONS: dict[str, frozenset[str]] = {
    VerificationStatus.PENDING: frozenset({"verified", "rejected"}),
    VerificationStatus.VERIFIED: frozenset(),
    VerificationStatus.REJECTED: frozenset(),
    VerificationStatus.LATE: frozenset(),
}


class FulfilmentVerification(models.Model):
    """The check of one fulfilment report, with the call-log facts it was decided on."""

    report = models.OneToOneField(
        "premium.FulfilmentReport", on_delete=models.CASCADE, related_name="verification"
    )
    offer = models.OneToOneField(
        "premium.Offer", on_delete=models.CASCADE, related_name="verification"
    )
    # Changed only by premium.earnings transitions; see VERIFICATION_TRANSITIONS.
    status = models.CharField(max_length=10, choices=VerificationStatus.choices)
    automatic = models.BooleanField(default=False)  # verified by the call log, not a person
    # The call log's facts: when the (last connected) call ended, the report's deadline,
    # and the seconds both parties were connected (summed over the offer's calls).
    call_ended_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    connected_seconds = models.PositiveIntegerField(default=0)
    # An Auto Premium phone call under Expert Earnings Protection (decided when verified).
    protected = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)  # why Customer Care rejected it
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="verification_queue"
            )
        ]

    def __str__(self) -> str:
        return f"verification of offer-{self.offer_id}: {self.status}"


from payments.models import LedgerTransaction  # noqa: E402


class CreditRecord(LedgerTransaction):
    """Experts' credits and their reversals, as Customer Care and Finance read them in the
    admin: each with the rule that produced it (premium.earnings.credit_rule)."""

    class Meta:
        proxy = True
        verbose_name = "credit"
        verbose_name_plural = "credits and the rules that produced them"
