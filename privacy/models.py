"""Private information of one question: the box and the attachments, encrypted at rest,
visible to its customer, its expert and (with a logged reason) staff; the access log;
personal-info flags on messages and the originals they redacted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from questions.models import Message, Question

from .fields import CryptoIdField, EncryptedJSONField, EncryptedTextField


class PrivateBox(models.Model):
    """Opened when an offer on the question is accepted; one per question."""

    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="private_box")
    crypto_id = CryptoIdField()
    # {"phone": ..., "skype": ..., "email": ..., "other": ...} as each side entered it.
    customer_info = EncryptedJSONField(null=True, blank=True)
    expert_info = EncryptedJSONField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)
    # Set by the retention sweep when the contents were erased.
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "private boxes"

    def __str__(self) -> str:
        return f"Private box of question #{self.question_id}"


class PrivateAttachment(models.Model):
    """An X-ray, image or document for the review; the file is encrypted on disk."""

    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="private_attachments"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    crypto_id = CryptoIdField()
    filename = EncryptedTextField()
    content_type = models.CharField(max_length=80)
    size = models.PositiveIntegerField()  # bytes, before encryption
    # A random name under PRIVATE_FILES_DIR; never served directly.
    stored_name = models.CharField(max_length=80, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Attachment {self.pk} of question #{self.question_id}"


class AccessLog(models.Model):
    """Every staff read of private information: who, when, what, why."""

    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="+")
    what = models.CharField(max_length=80)  # "box", "attachment 12", "original of message 5"
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.staff} read {self.what} of #{self.question_id}: {self.reason}"


class FlagStatus(models.TextChoices):
    OPEN = "open", "Waiting for Customer Care"
    REDACTED = "redacted", "Redacted"
    DISMISSED = "dismissed", "Dismissed"


class FlagReason(models.TextChoices):
    PERSONAL_INFO = "personal_info", "Personal information"
    OTHER = "other", "Something else"


class Flag(models.Model):
    """A red flag on a message; Customer Care redacts or dismisses it in the admin."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="flags")
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Raised by the contact-detail detector when a message was posted anyway.
    automatic = models.BooleanField(default=False)
    reason = models.CharField(max_length=20, choices=FlagReason.choices, default="personal_info")
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=FlagStatus.choices, default="open")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "flagged_by"],
                condition=Q(status="open"),
                name="flag_one_open_per_person",
            )
        ]

    def __str__(self) -> str:
        return f"Flag {self.pk} on message {self.message_id}: {self.status}"


class RedactedOriginal(models.Model):
    """The text a redaction removed, kept encrypted for the audit period, then erased."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="redacted_original"
    )
    crypto_id = CryptoIdField()
    body = EncryptedTextField(null=True, blank=True)
    redacted_at = models.DateTimeField(default=timezone.now)
    erase_after = models.DateTimeField()
    erased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Original of message {self.message_id}"
