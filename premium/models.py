"""Premium services: each category's services and each expert's catalog, offers and
their states, and fulfilment reports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from marketplace.models import Category
from marketplace.money import format_minor
from questions.models import Question


class ServiceKind(models.TextChoices):
    PHONE_CALL = "phone_call", "Phone call"
    VIDEO_CALL = "video_call", "Video call"
    REMOTE_ASSISTANCE = "remote_assistance", "Remote assistance"
    XRAY_REVIEW = "xray_review", "X-ray review"
    DOCUMENT_REVIEW = "document_review", "Document review"
    APPRAISAL_VIDEO_CALL = "appraisal_video_call", "Appraisal video call"
    OTHER = "other", "Other"


class ServiceTemplate(models.Model):
    """A service an expert can offer: from a category's list, or the expert's own catalog."""

    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.CASCADE, related_name="services"
    )
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="service_catalog",
    )
    kind = models.CharField(max_length=24, choices=ServiceKind.choices, default=ServiceKind.OTHER)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=500)
    # The usual price, in minor units (the expert sets each offer's price).
    usual_price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)  # retired templates are kept for old offers
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(category__isnull=False, expert__isnull=True)
                | Q(category__isnull=True, expert__isnull=False),
                name="service_template_category_xor_expert",
            )
        ]

    def __str__(self) -> str:
        owner = self.category.name if self.category else f"catalog of {self.expert}"
        return f"{self.name} ({owner})"

    @property
    def usual_price_display(self) -> str:
        return format_minor(self.usual_price_minor, self.currency)


class OfferKind(models.TextChoices):
    EXPERT = "expert", "Offered by the expert"
    AUTO = "auto", "Auto Premium Service"


class OfferStatus(models.TextChoices):
    SENT = "sent", "Waiting for the customer"
    ACCEPTING = "accepting", "Being paid"
    ACCEPTED = "accepted", "Accepted"
    FULFILLED = "fulfilled", "Fulfilled"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cannot be completed"
    REFUNDED = "refunded", "Refunded"


# DESIGN.md States: the only moves an offer may make (premium.services enforces them).
OFFER_TRANSITIONS: dict[str, frozenset[str]] = {
    OfferStatus.SENT: frozenset({"accepting", "declined", "withdrawn", "expired"}),
    OfferStatus.ACCEPTING: frozenset({"accepted", "sent"}),
    OfferStatus.ACCEPTED: frozenset({"fulfilled", "cancelled", "refunded"}),
    OfferStatus.FULFILLED: frozenset({"refunded"}),
    OfferStatus.DECLINED: frozenset(),
    OfferStatus.WITHDRAWN: frozenset(),
    OfferStatus.EXPIRED: frozenset(),
    OfferStatus.CANCELLED: frozenset(),
    OfferStatus.REFUNDED: frozenset(),
}
PENDING = (OfferStatus.SENT, OfferStatus.ACCEPTING)
ACCEPTED_STATES = (OfferStatus.ACCEPTED, OfferStatus.FULFILLED)


class Offer(models.Model):
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="offers")
    kind = models.CharField(max_length=8, choices=OfferKind.choices, default=OfferKind.EXPERT)
    # The expert who offered it; empty for an auto offer until an expert takes it.
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="offers_made",
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offers_received"
    )
    template = models.ForeignKey(
        ServiceTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="offers"
    )
    service_kind = models.CharField(max_length=24, choices=ServiceKind.choices)
    service_name = models.CharField(max_length=80)
    description = models.CharField(max_length=1000)
    # The extra price the customer pays, in minor units of `currency` (the question's).
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # Changed only by premium.services transitions; see OFFER_TRANSITIONS.
    status = models.CharField(max_length=12, choices=OfferStatus.choices, default="sent")
    sent_at = models.DateTimeField(default=timezone.now)
    # A `sent` offer past this moment expires (beat sweep); never while `accepting`.
    expires_at = models.DateTimeField()
    # When the customer clicked accept (the charge started); a stale one is recovered.
    accepting_since = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # When the offer stopped being pending (declined, withdrawn, expired, accepted).
    closed_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=500, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    # Why the last charge attempt failed, shown to the customer.
    charge_failure = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["question"],
                condition=Q(status__in=["sent", "accepting"]),
                name="offer_one_pending_per_question",
            ),
            models.CheckConstraint(condition=Q(price_minor__gt=0), name="offer_price_positive"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="sent"), name="offer_expiry_due")
        ]

    def __str__(self) -> str:
        return f"offer-{self.pk} {self.service_name} {self.status}"

    @property
    def price_display(self) -> str:
        return format_minor(self.price_minor, self.currency)

    @property
    def payment_reference(self) -> str:
        return f"offer-{self.pk}"


class OfferEvent(models.Model):
    """One row per offer status change: who, when, from, to."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.offer_id}: {self.from_status} → {self.to_status}"


class FulfilmentReport(models.Model):
    offer = models.OneToOneField(Offer, on_delete=models.CASCADE, related_name="report")
    delivered = models.BooleanField()
    notes = models.TextField(max_length=2000, blank=True)
    filed_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return (
            f"report on offer-{self.offer_id}: {'delivered' if self.delivered else 'not delivered'}"
        )


from .call_models import CallEvent, CallJoinToken, CallParticipant, CallSession, SignalMessage  # noqa: E402, F401  (calls: premium/call_models.py)
from .earnings_models import CreditRecord, FulfilmentVerification  # noqa: E402, F401  (premium/earnings.py)
