"""Questions, their threads and the record of every state change."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from marketplace.models import Category
from marketplace.money import format_minor


class QuestionStatus(models.TextChoices):
    INTAKE = "intake", "Draft"
    OPEN = "open", "Waiting for an expert"
    ASSIGNED = "assigned", "In conversation"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"
    REFUNDED = "refunded", "Refunded"


# The only moves a question's status may make; `questions.services` enforces them.
QUESTION_TRANSITIONS: dict[str, frozenset[str]] = {
    QuestionStatus.INTAKE: frozenset({QuestionStatus.OPEN}),
    QuestionStatus.OPEN: frozenset(
        {QuestionStatus.ASSIGNED, QuestionStatus.CLOSED, QuestionStatus.REFUNDED}
    ),
    QuestionStatus.ASSIGNED: frozenset(
        {QuestionStatus.ANSWERED, QuestionStatus.CLOSED, QuestionStatus.REFUNDED}
    ),
    QuestionStatus.ANSWERED: frozenset({QuestionStatus.CLOSED, QuestionStatus.REFUNDED}),
    QuestionStatus.CLOSED: frozenset({QuestionStatus.REFUNDED}),
    QuestionStatus.REFUNDED: frozenset(),
}


class Channel(models.TextChoices):
    CHAT = "chat", "Chat"
    PHONE = "phone", "Phone call"


class Experience(models.TextChoices):
    """Which experience of the phone-first rollout a question was given (the values of
    marketplace.rollout.Experience)."""

    FEATURE = "feature", "Phone-first: offered chat or phone"
    CONTROL = "control", "Control: chat only (in the rollout's population)"
    NONE = "none", "Not in the rollout"


class Question(models.Model):
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="questions_asked"
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="questions")
    title = models.CharField(max_length=150)
    body = models.TextField(max_length=5000)
    # The first words of the body, shown in previews before pick-up.
    summary = models.CharField(max_length=240)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.CHAT)
    # What the customer pays, in minor units of `currency`; 0 for a Member's question.
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # Covered by a membership (not charged) rather than Pay-Per-Question.
    is_member_question = models.BooleanField(default=False)
    # Changed only by questions.services transitions; see QUESTION_TRANSITIONS.
    status = models.CharField(
        max_length=16, choices=QuestionStatus.choices, default=QuestionStatus.INTAKE
    )
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="questions_assigned",
    )
    created_at = models.DateTimeField(default=timezone.now)
    posted_at = models.DateTimeField(null=True, blank=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    # Stars 1..5 given by the customer (or automatically, see rating_automatic).
    rating_stars = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.CharField(max_length=500, blank=True)
    rating_automatic = models.BooleanField(default=False)
    rated_at = models.DateTimeField(null=True, blank=True)
    # When the expert was credited for this question (once; see questions.credit).
    credited_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every change a viewer should see (message, status, rating): the
    # poll answers "nothing new" by comparing it, with one primary-key lookup.
    version = models.PositiveIntegerField(default=1)
    last_message_id = models.BigIntegerField(default=0)
    message_count = models.PositiveIntegerField(default=0)
    # The intake bot's conversation: [{"prompt": ..., "answer": ...}, ...]. Shown to the
    # expert only after pick-up.
    bot_transcript = models.JSONField(default=list, blank=True)
    # Set when the question was asked; see marketplace.rollout.
    experience = models.CharField(max_length=8, choices=Experience.choices, default="none")
    # A phone-call request's price, in minor units of `currency`: paid as an Auto Premium
    # Service offer, not as the question's price (which is then 0).
    phone_price_minor = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # All questions: open questions, newest first, walked in index order and
            # filtered by the expert's categories inside the index (an index-only scan
            # finds a deep page's ids without reading the rows it skips), and one
            # category's list.
            models.Index(
                fields=["-posted_at", "-id", "category"],
                condition=Q(status="open"),
                name="question_open_recent_cat",
            ),
            models.Index(
                fields=["category", "-posted_at", "-id"],
                condition=Q(status="open"),
                name="question_open_by_category",
            ),
            models.Index(fields=["customer", "-created_at"], name="question_customer_recent"),
            # The automatic-credit sweep: picked up, not yet credited, oldest first.
            models.Index(
                fields=["picked_up_at"],
                condition=Q(credited_at__isnull=True, expert__isnull=False),
                name="question_credit_due",
            ),
            models.Index(fields=["expert", "-picked_up_at"], name="question_expert_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating_stars__isnull=True)
                | Q(rating_stars__gte=1, rating_stars__lte=5),
                name="question_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(price_minor__gte=0), name="question_price_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["assigned", "answered"]) | Q(expert__isnull=False),
                name="question_assigned_has_expert",
            ),
            # A customer has at most one phone-call request being paid or waiting.
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(channel="phone", status__in=["intake", "open"]),
                name="question_one_open_phone_request",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def price_display(self) -> str:
        if self.phone_price_minor is not None:
            return format_minor(self.phone_price_minor, self.currency)
        if self.is_member_question:
            return "Membership"
        return format_minor(self.price_minor, self.currency)

    def is_participant(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in (self.customer_id, self.expert_id)


class Message(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    body = models.TextField()
    # The body escaped, with line breaks and clickable links, rendered once on write.
    body_html = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["question", "id"], name="message_question_id")]

    def __str__(self) -> str:
        return f"Message {self.pk} on {self.question_id}"


class QuestionEvent(models.Model):
    """One row per status change: who, when, from, to. Append-only."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=16, choices=QuestionStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=QuestionStatus.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.from_status or '∅'} → {self.to_status}"


class IntakeKind(models.TextChoices):
    TEXT = "text", "Free text"
    CHOICE = "choice", "One of the listed choices"


class IntakeQuestion(models.Model):
    """One question the intake bot asks in a category, set by admins."""

    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="intake_questions"
    )
    position = models.PositiveSmallIntegerField(default=0)
    prompt = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=IntakeKind.choices, default=IntakeKind.TEXT)
    # For a choice question: the allowed answers, one per line.
    choices = models.TextField(blank=True)
    # The longest answer accepted, in characters.
    max_chars = models.PositiveSmallIntegerField(default=300)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["category", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_chars__gte=1, max_chars__lte=2000), name="intake_max_chars_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.prompt}"

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class IntakeSession(models.Model):
    """A customer's conversation with the intake bot, until it becomes a question.

    `script` is the category's intake questions as they were when it started, so an
    admin's edit never changes a conversation half-way; `answers` are the customer's
    answers to them, in order.
    """

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="intake_sessions"
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=150)
    body = models.TextField(max_length=5000)
    # The price the customer stated when starting, in minor units (None: not stated).
    price_minor = models.PositiveIntegerField(null=True, blank=True)
    # [{"prompt", "kind", "choices", "max_chars"}, ...]
    script = models.JSONField(default=list)
    answers = models.JSONField(default=list)
    experience = models.CharField(max_length=8, choices=Experience.choices, default="none")
    question = models.OneToOneField(
        Question, null=True, blank=True, on_delete=models.SET_NULL, related_name="intake"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="intake_customer_recent")]

    def __str__(self) -> str:
        return f"intake-{self.pk} {self.title}"
