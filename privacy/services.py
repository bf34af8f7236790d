"""Private information: who may see it, writing it, staff reads with a reason, flags and
redaction, contact-detail detection on posted messages, and retention."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from marketplace import notifications, ratelimit
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.models import NotificationKind, User
from questions import services as question_services
from questions.models import Message, Question, QuestionEvent, QuestionStatus

from . import crypto
from .detection import has_contact_details
from .models import (
    AccessLog,
    Flag,
    FlagReason,
    FlagStatus,
    PrivateAttachment,
    PrivateBox,
    RedactedOriginal,
)

REDACTED_TEXT = "[removed: personal information]"
BOX_FIELDS = ("phone", "skype", "email", "other")
NOT_FOUND = "This question does not exist."


# --- Files ---------------------------------------------------------------------


def _files_dir() -> Path:
    folder = Path(settings.PRIVATE_FILES_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _file_context(attachment: PrivateAttachment) -> str:
    return f"privacy.attachment:{attachment.crypto_id}"


# Content sniffing: (label, content type, test on the first bytes). By content, not by name.
_SIGNATURES: list[tuple[str, str, Any]] = [
    ("PNG image", "image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("JPEG image", "image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("GIF image", "image/gif", lambda b: b[:6] in (b"GIF87a", b"GIF89a")),
    ("WebP image", "image/webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
    ("PDF document", "application/pdf", lambda b: b.startswith(b"%PDF-")),
    ("DICOM X-ray", "application/dicom", lambda b: len(b) > 132 and b[128:132] == b"DICM"),
    (
        "Word document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        lambda b: b.startswith(b"PK\x03\x04") and b"word/" in b[:4096],
    ),
]


def sniff_content_type(head: bytes) -> str | None:
    """Pure: the content type the bytes really are, or None if not an accepted kind."""
    for _label, content_type, test in _SIGNATURES:
        if test(head):
            return str(content_type)
    return None


# --- Access ----------------------------------------------------------------------


def _question_for_participant(question_id: int, user: User) -> Question:
    question = Question.objects.filter(pk=question_id).first()
    if question is None or not user.is_authenticated or not question.is_participant(user.pk):
        raise NotFound(NOT_FOUND)
    return question


def box_get_for_user(*, question_id: int, user: User) -> tuple[PrivateBox, str]:
    """The box and the viewer's side ("customer" | "expert"), if an offer was accepted here."""
    question = _question_for_participant(question_id, user)
    box = PrivateBox.objects.filter(question=question).first()
    if box is None:
        raise NotFound("The private information box opens once an offer is accepted.")
    return box, "customer" if question.customer_id == user.pk else "expert"


def box_open(*, question_id: int) -> None:
    """An offer on the question was accepted (premium tells us): the box exists from now.
    One INSERT that does nothing when the box exists (a second accepted offer)."""
    PrivateBox.objects.bulk_create([PrivateBox(question_id=question_id)], ignore_conflicts=True)


@sensitive_variables("values", "cleaned", "value")
def box_update(*, question_id: int, user: User, values: dict[str, str]) -> PrivateBox:
    """The viewer's side of the box: phone, Skype handle, email, other details."""
    ratelimit.hit(
        scope="private-box",
        ident=user.pk,
        limit=settings.EXPERTLINE_PRIVATE_WRITES_PER_MINUTE,
        window_seconds=60,
        message="Too many changes at once. Please wait a minute and try again.",
    )
    cleaned = {}
    for key in BOX_FIELDS:
        value = (values.get(key) or "").strip()
        if len(value) > (500 if key == "other" else 120):
            raise InvalidInput(f"The {key} field is too long.")
        cleaned[key] = value
    with transaction.atomic():
        box, side = box_get_for_user(question_id=question_id, user=user)
        box = PrivateBox.objects.select_for_update().get(pk=box.pk)
        if box.erased_at is not None:
            raise Conflict("This box was erased after the retention period.")
        setattr(box, f"{side}_info", cleaned)
        box.updated_at = timezone.now()
        box.save()
        question_services.question_touch(question_id=question_id)
    return box


def box_read_by_staff(*, question_id: int, staff: User, reason: str) -> PrivateBox:
    """Staff read private information only with a reason; every read is logged."""
    if not (staff.is_staff and staff.has_perm("privacy.view_privatebox")):
        raise Forbidden("Only Customer Care may read private information.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise InvalidInput("Give the reason for reading this private information.")
    box = PrivateBox.objects.filter(question_id=question_id).first()
    if box is None:
        raise NotFound("This question has no private information box.")
    AccessLog.objects.create(staff=staff, question_id=question_id, what="box", reason=reason[:500])
    return box


# --- Attachments -------------------------------------------------------------------


@sensitive_variables("upload", "data", "head")
def attachment_upload(*, question_id: int, user: User, upload: UploadedFile) -> PrivateAttachment:
    """The customer uploads what a review needs; checked by content and size; stored encrypted."""
    box, side = box_get_for_user(question_id=question_id, user=user)
    if side != "customer":
        raise Forbidden("Only the customer uploads documents here.")
    if box.erased_at is not None:
        raise Conflict("This box was erased after the retention period.")
    ratelimit.hit(
        scope="private-upload",
        ident=user.pk,
        limit=settings.EXPERTLINE_PRIVATE_UPLOADS_PER_HOUR,
        window_seconds=3600,
        message="Too many uploads. Please wait and try again later.",
    )
    limit = settings.EXPERTLINE_PRIVATE_UPLOAD_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise InvalidInput(f"The file is too large: the limit is {limit // (1024 * 1024)} MB.")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"The file is too large: the limit is {limit // (1024 * 1024)} MB.")
    content_type = sniff_content_type(data[:4096])
    if content_type is None:
        raise InvalidInput(
            "This file is not an image (PNG, JPEG, GIF, WebP), a PDF, a Word document or a "
            "DICOM X-ray. Its content was checked, not its name."
        )
    attachment = PrivateAttachment(
        question_id=question_id,
        uploaded_by=user,
        content_type=content_type,
        size=len(data),
        stored_name=secrets.token_hex(20),
    )
    attachment.filename = (upload.name or "upload")[:200]
    path = _files_dir() / attachment.stored_name
    crypto.write_encrypted_file(path, data, context=_file_context(attachment))
    try:
        with transaction.atomic():
            attachment.save()
            question_services.question_touch(question_id=question_id)
    except Exception:
        path.unlink(missing_ok=True)  # nothing stored when the row is not
        raise
    return attachment


def attachment_get_for_user(*, attachment_id: int, user: User) -> PrivateAttachment:
    attachment = (
        PrivateAttachment.objects.filter(pk=attachment_id).select_related("question").first()
    )
    if attachment is None or not attachment.question.is_participant(user.pk):
        raise NotFound("This file does not exist.")
    if not PrivateBox.objects.filter(question_id=attachment.question_id).exists():
        raise NotFound("This file does not exist.")
    if attachment.erased_at is not None:
        raise NotFound("This file was erased after the retention period.")
    return attachment


def attachment_read(attachment: PrivateAttachment) -> bytes:
    return crypto.read_encrypted_file(
        _files_dir() / attachment.stored_name, context=_file_context(attachment)
    )


def attachment_read_by_staff(
    *, attachment_id: int, staff: User, reason: str
) -> tuple[PrivateAttachment, bytes]:
    if not (staff.is_staff and staff.has_perm("privacy.view_privateattachment")):
        raise Forbidden("Only Customer Care may read private information.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise InvalidInput("Give the reason for opening this file.")
    attachment = PrivateAttachment.objects.filter(pk=attachment_id, erased_at__isnull=True).first()
    if attachment is None:
        raise NotFound("This file does not exist.")
    AccessLog.objects.create(
        staff=staff,
        question_id=attachment.question_id,
        what=f"attachment {attachment.pk}",
        reason=reason[:500],
    )
    return attachment, attachment_read(attachment)


class _AttachmentRotator:
    label = "privacy.attachments"

    def rotate(self, *, dry_run: bool = False) -> Iterator[bool]:
        for attachment in PrivateAttachment.objects.filter(erased_at__isnull=True).iterator():
            path = _files_dir() / attachment.stored_name
            yield path.exists() and crypto.rotate_file(
                path, context=_file_context(attachment), dry_run=dry_run
            )

    def count(self) -> int:
        return PrivateAttachment.objects.filter(erased_at__isnull=True).count()


# --- Flags and redaction ---------------------------------------------------------------


def message_for_participant(*, message_id: int, user: User) -> Message:
    message = Message.objects.select_related("question").filter(pk=message_id).first()
    if message is None or not message.question.is_participant(user.pk):
        raise NotFound("This message does not exist.")
    return message


def message_flag(
    *, message_id: int, user: User, reason: str = FlagReason.PERSONAL_INFO, note: str = ""
) -> Flag:
    """Anyone in the thread can red-flag a message that carries personal information."""
    message_for_participant(message_id=message_id, user=user)
    message = Message.objects.select_related("question").get(pk=message_id)
    if reason not in FlagReason.values:
        raise InvalidInput("Choose why you flag this message.")
    ratelimit.hit(
        scope="flag",
        ident=user.pk,
        limit=settings.EXPERTLINE_FLAGS_PER_HOUR,
        window_seconds=3600,
        message="You have flagged many messages. Customer Care is on it; please wait.",
    )
    try:
        with transaction.atomic():
            return Flag.objects.create(
                message=message, flagged_by=user, reason=reason, note=note.strip()[:500]
            )
    except IntegrityError:
        raise Conflict("You already flagged this message; Customer Care will look at it.") from None


def on_message_posted(*, message: Message) -> Flag | None:
    """A message posted with contact details is flagged for Customer Care automatically."""
    if not has_contact_details(message.body):
        return None
    return Flag.objects.create(message=message, automatic=True, note="contact details detected")


def _decide(flag_id: int, staff: User) -> Flag:
    if not (staff.is_staff and staff.has_perm("privacy.change_flag")):
        raise Forbidden("Only Customer Care decide flags.")
    flag = Flag.objects.select_for_update().select_related("message").filter(pk=flag_id).first()
    if flag is None:
        raise NotFound("This flag does not exist.")
    if flag.status != FlagStatus.OPEN:
        raise Conflict(f"This flag is already {flag.get_status_display().lower()}.")
    return flag


def _tell_flagger(flag: Flag, text: str) -> None:
    if flag.flagged_by is not None:
        notifications.notify(
            user=flag.flagged_by,
            kind=NotificationKind.MESSAGE_RECEIVED,
            text=text,
            url=question_services.question_url(flag.message.question_id),
        )


@transaction.atomic
def flag_redact(*, flag_id: int, staff: User) -> Flag:
    """The message reads "[removed: personal information]" everywhere it is shown; the
    original is kept encrypted for the audit period, then erased."""
    flag = _decide(flag_id, staff)
    message = Message.objects.select_for_update().get(pk=flag.message_id)
    if message.body != REDACTED_TEXT:
        original = RedactedOriginal(
            message=message,
            erase_after=timezone.now() + timedelta(days=settings.EXPERTLINE_REDACTION_AUDIT_DAYS),
        )
        original.body = message.body
        original.save()
        message.body = REDACTED_TEXT
        message.body_html = REDACTED_TEXT.replace("[", "&#91;").replace("]", "&#93;")
        message.save(update_fields=["body", "body_html"])
        question_services.question_touch(question_id=message.question_id)
    now = timezone.now()
    others = Flag.objects.filter(message=message, status=FlagStatus.OPEN)
    for other in others:
        other.status, other.decided_by, other.decided_at = FlagStatus.REDACTED, staff, now
        other.save(update_fields=["status", "decided_by", "decided_at"])
        _tell_flagger(other, "Customer Care removed the personal information you flagged.")
    flag.refresh_from_db()
    return flag


@transaction.atomic
def flag_dismiss(*, flag_id: int, staff: User, note: str = "") -> Flag:
    flag = _decide(flag_id, staff)
    flag.status, flag.decided_by, flag.decided_at = FlagStatus.DISMISSED, staff, timezone.now()
    flag.save(update_fields=["status", "decided_by", "decided_at"])
    _tell_flagger(
        flag, f"Customer Care looked at the message you flagged and kept it. {note}".strip()
    )
    return flag


# --- Retention ------------------------------------------------------------------


def _closed_before(cutoff: datetime) -> list[int]:
    return list(
        QuestionEvent.objects.filter(
            to_status__in=[QuestionStatus.CLOSED, QuestionStatus.REFUNDED], created_at__lte=cutoff
        )
        .filter(question__status__in=[QuestionStatus.CLOSED, QuestionStatus.REFUNDED])
        .values_list("question_id", flat=True)
        .distinct()[:500]
    )


def retention_sweep(*, now: datetime | None = None) -> int:
    """Beat job: boxes and attachments of questions closed longer than the retention
    period are erased; originals of redactions past their audit period too."""
    now = now or timezone.now()
    erased = 0
    question_ids = _closed_before(now - timedelta(days=settings.EXPERTLINE_PRIVATE_RETENTION_DAYS))
    for box in PrivateBox.objects.filter(question_id__in=question_ids, erased_at__isnull=True):
        with transaction.atomic():
            box.customer_info = None
            box.expert_info = None
            box.erased_at = now
            box.save()
            erased += 1
    for attachment in PrivateAttachment.objects.filter(
        question_id__in=question_ids, erased_at__isnull=True
    ):
        (_files_dir() / attachment.stored_name).unlink(missing_ok=True)
        attachment.filename = ""
        attachment.erased_at = now
        attachment.save()
        erased += 1
    for original in RedactedOriginal.objects.filter(erase_after__lte=now, erased_at__isnull=True):
        original.body = None
        original.erased_at = now
        original.save()
        erased += 1
    return erased
