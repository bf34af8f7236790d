"""What every app shares: users, roles, categories, profiles, notifications, support."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .money import DEFAULT_CURRENCY, format_minor

TIMEZONE_CHOICES = sorted(
    (tz, tz) for tz in zoneinfo.available_timezones() if "/" in tz or tz == "UTC"
)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person: customer, expert or staff. Logs in with an email address."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=80, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", choices=TIMEZONE_CHOICES)
    # Cached count of unread notifications (the bell). Changed only by
    # marketplace.notifications in the same transaction as the rows it counts;
    # `manage.py notifications_check` proves it equals the count.
    unread_notifications = models.PositiveIntegerField(default=0)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []  # type: ignore[misc]
    objects = UserManager()  # type: ignore[misc,assignment]

    def __str__(self) -> str:
        return self.email

    @property
    def name(self) -> str:
        return self.display_name or self.email.split("@")[0]

    @property
    def is_expert(self) -> bool:
        profile = getattr(self, "expert_profile", None)
        return bool(profile and profile.is_verified)


class Category(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    # Bounds of the price a Pay-Per-Question customer may state, in minor units.
    min_price_minor = models.PositiveIntegerField(default=500)
    max_price_minor = models.PositiveIntegerField(default=20_000)
    # Seconds after the customer's 2nd reply before "Offer Premium Services" shows.
    offer_delay_seconds = models.PositiveIntegerField(default=60)
    # Credited to the expert for a Member's question, in minor units.
    member_question_value_minor = models.PositiveIntegerField(default=1_000)
    # The phone-first flow's price to the customer and payout to the expert (minor units).
    phone_call_price_minor = models.PositiveIntegerField(null=True, blank=True)
    phone_call_payout_minor = models.PositiveIntegerField(null=True, blank=True)
    # Bounds of a premium service offer's price, in minor units.
    offer_min_price_minor = models.PositiveIntegerField(default=1_000)
    offer_max_price_minor = models.PositiveIntegerField(default=50_000)
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)
    # Admins mark the categories whose answers count toward the first-answers payout boost
    # (marketplace.payout_levels).
    answers_boost_eligible = models.BooleanField(
        default=False, verbose_name="answers count toward the payout boost"
    )

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_price_minor__lte=models.F("max_price_minor")),
                name="category_price_bounds_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def price_bounds_display(self) -> str:
        lo = format_minor(self.min_price_minor, self.currency)
        hi = format_minor(self.max_price_minor, self.currency)
        return f"{lo}–{hi}"


class MembershipStatus(models.TextChoices):
    NONE = "none", "Pay-Per-Question"
    ACTIVE = "active", "Member"


class CustomerProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="customer_profile")
    # ISO 3166-1 alpha-2 billing country; decides the phone-first rollout.
    country = models.CharField(max_length=2, blank=True)
    # Set by staff for now; membership billing (a later issue) will own it.
    membership_status = models.CharField(
        max_length=16, choices=MembershipStatus.choices, default=MembershipStatus.NONE
    )

    def __str__(self) -> str:
        return f"Customer {self.user}"

    @property
    def is_member(self) -> bool:
        return self.membership_status == MembershipStatus.ACTIVE


class ExpertProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="expert_profile")
    headline = models.CharField(max_length=120, blank=True)
    categories = models.ManyToManyField(Category, related_name="experts")
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Share of a question's price credited to the expert, in basis points (5000 = 50%).
    payout_level_bp = models.PositiveIntegerField(default=5_000)
    # Staff grant the "Offer Premium Services" tool.
    premium_tool_enabled = models.BooleanField(default=False)
    # How many payout boosts the expert has earned (marketplace.payout_levels): 0 spares
    # every credit the look-up of boosts.
    payout_boosts_earned = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(payout_level_bp__lte=10_000), name="expert_payout_level_at_most_100pct"
            )
        ]

    def __str__(self) -> str:
        return f"Expert {self.user}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class NotificationKind(models.TextChoices):
    QUESTION_POSTED = "question_posted", "A new question in my categories"
    QUESTION_PICKED_UP = "question_picked_up", "An expert picked up my question"
    MESSAGE_RECEIVED = "message_received", "A new reply on my question"
    QUESTION_RATED = "question_rated", "A customer rated my answer"
    OFFER_DUE = "offer_due", "I can offer premium services on a question"
    OFFER = "offer", "Premium service offers and what happens to them"
    SUPPORT_ANSWERED = "support_answered", "Customer Care answered my request"
    PAYMENT_RECEIPT = "payment_receipt", "Receipts for my payments"
    REFUND_UPDATE = "refund_update", "News about my refund requests"
    MEMBERSHIP = "membership", "My membership: confirmation, renewal reminders, problems"


class Notification(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40, choices=NotificationKind.choices)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set once the email for this notification was sent (or decided against).
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_skipped_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_recent")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.user}"


class EmailPreference(models.Model):
    """A user's choice to receive (or not) the email for one kind of notification."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_preferences")
    kind = models.CharField(max_length=40, choices=NotificationKind.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="email_preference_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}: {'on' if self.enabled else 'off'}"


class SupportStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class SupportRequest(models.Model):
    """A "contact Customer Care" request; staff answer it in the admin."""

    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="support_requests"
    )
    email = models.EmailField()
    subject = models.CharField(max_length=150)
    body = models.TextField(max_length=5000)
    status = models.CharField(max_length=16, choices=SupportStatus.choices, default="open")
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class Rollout(models.Model):
    """A staged feature rollout: who sees the feature, by country, category and share.

    A customer is in when the rollout is enabled, their profile (billing) country is
    listed (or none are), the category is listed (or none are) and their stable
    bucket (`marketplace.rollout.bucket`) falls under the percentage.
    """

    # The feature's name in code, e.g. "phone-first" (marketplace.rollout.PHONE_FIRST).
    key = models.SlugField(max_length=40, unique=True)
    description = models.CharField(max_length=200, blank=True)
    is_enabled = models.BooleanField(default=False)
    # ISO 3166-1 alpha-2 codes separated by commas ("US,CA"); empty: every country.
    countries = models.CharField(max_length=200, blank=True, default="US")
    # Empty: every category.
    categories = models.ManyToManyField(Category, blank=True, related_name="rollouts")
    # Share of the matching customers who get the feature, in basis points (2500 = 25%).
    share_bp = models.PositiveIntegerField(default=0, verbose_name="share (basis points)")
    # Mixed into the hash: changing it reshuffles who is in (a new experiment).
    salt = models.CharField(max_length=40, default="expertline")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(share_bp__lte=10_000), name="rollout_share_at_most_100pct"
            )
        ]

    def __str__(self) -> str:
        state = "on" if self.is_enabled else "off"
        return f"{self.key} ({state}, {self.share_bp / 100:g}%)"

    @property
    def country_codes(self) -> frozenset[str]:
        return frozenset(
            code.strip().upper()
            for code in self.countries.replace(" ", ",").split(",")
            if code.strip()
        )


class BoostKind(models.TextChoices):
    ANSWERS = "answers", "First answered questions in eligible categories"
    AUTO_CALL = "auto_call", "Accepted Auto Premium phone call"


class PayoutBoostRule(models.Model):
    """How a kind of boost is earned and how long it lasts, as admins configure it. A change
    applies to boosts earned afterwards: each grant copies the figures it was earned with."""

    kind = models.CharField(max_length=12, choices=BoostKind.choices, unique=True)
    # Added to the expert's payout level while the boost is active, in basis points.
    raise_bp = models.PositiveIntegerField(default=500, verbose_name="raise (basis points)")
    # Answers boost: earned at this many answered questions in eligible categories.
    answers_threshold = models.PositiveIntegerField(default=100)
    # How long one grant lasts (days) and/or for how many credits; both empty: for good.
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    credit_count = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(raise_bp__lte=10_000), name="boost_rule_raise_at_most_100pct"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: +{self.raise_bp / 100:g}%"


class PayoutBoost(models.Model):
    """One boost an expert earned (append-only apart from `credits_used`): active from
    `earned_at`, never before, until `ends_at` or `credits_total` credits used it."""

    expert = models.ForeignKey(User, on_delete=models.CASCADE, related_name="payout_boosts")
    kind = models.CharField(max_length=12, choices=BoostKind.choices)
    # What earned it, unique per expert: "answers-100", "offer-42".
    source = models.CharField(max_length=60)
    note = models.CharField(max_length=200, blank=True)  # how it was earned, for the expert
    raise_bp = models.PositiveIntegerField()  # basis points added to the payout level
    earned_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)  # empty: no time limit
    credits_total = models.PositiveIntegerField(null=True, blank=True)  # empty: no count limit
    # Credits that used it so far; changed only by payout_levels.level_for_credit, locked.
    credits_used = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["earned_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["expert", "source"], name="payout_boost_once"),
            models.CheckConstraint(
                condition=Q(credits_total__isnull=True)
                | Q(credits_used__lte=models.F("credits_total")),
                name="payout_boost_uses_within_count",
            ),
        ]
        indexes = [models.Index(fields=["expert", "earned_at"], name="payout_boost_expert")]

    def __str__(self) -> str:
        return f"+{self.raise_bp / 100:g}% for {self.expert} ({self.source})"
