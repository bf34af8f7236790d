"""Writes of the shared app: profiles, settings, support requests, expert verification."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from . import notifications
from .errors import InvalidInput
from .models import (
    TIMEZONE_CHOICES,
    Category,
    CustomerProfile,
    ExpertProfile,
    NotificationKind,
    SupportRequest,
    SupportStatus,
    User,
)

_ZONES = {z for z, _ in TIMEZONE_CHOICES} | {"UTC"}


def _check_timezone(name: str) -> str:
    if name not in _ZONES:
        raise InvalidInput(f"Unknown time zone: {name}")
    return name


@transaction.atomic
def customer_signup_complete(
    *, user: User, display_name: str, country: str, timezone_name: str
) -> CustomerProfile:
    user.display_name = display_name.strip()[:80]
    user.timezone = _check_timezone(timezone_name)
    user.save(update_fields=["display_name", "timezone"])
    profile, _ = CustomerProfile.objects.update_or_create(
        user=user, defaults={"country": country.upper()[:2]}
    )
    return profile


def customer_profile_get(*, user: User) -> CustomerProfile:
    profile, _ = CustomerProfile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def account_settings_update(
    *, user: User, display_name: str, timezone_name: str, email_enabled: dict[str, bool]
) -> None:
    user.display_name = display_name.strip()[:80]
    user.timezone = _check_timezone(timezone_name)
    user.save(update_fields=["display_name", "timezone"])
    notifications.email_preferences_set(user=user, enabled=email_enabled)


@transaction.atomic
def support_request_create(
    *, user: User | None, email: str, subject: str, body: str
) -> SupportRequest:
    subject, body = subject.strip(), body.strip()
    if not subject or not body:
        raise InvalidInput("Please write a subject and a message.")
    return SupportRequest.objects.create(
        user=user if user and user.is_authenticated else None,
        email=email,
        subject=subject[:150],
        body=body[:5000],
    )


@transaction.atomic
def support_request_answer(*, request_id: int, staff: User, answer: str) -> SupportRequest:
    sr = SupportRequest.objects.select_for_update().get(pk=request_id)
    if not answer.strip():
        raise InvalidInput("Write an answer first.")
    sr.answer = answer.strip()
    sr.answered_by = staff
    sr.answered_at = timezone.now()
    sr.status = SupportStatus.ANSWERED
    sr.save(update_fields=["answer", "answered_by", "answered_at", "status"])
    if sr.user_id:
        notifications.notify(
            user=sr.user,  # type: ignore[arg-type]
            kind=NotificationKind.SUPPORT_ANSWERED,
            text=f"Customer Care answered: {sr.subject}",
            url="/notifications/",
        )
    return sr


@transaction.atomic
def expert_verify(
    *, user: User, staff: User, categories: list[Category], headline: str = ""
) -> ExpertProfile:
    """Staff make a user a verified expert of the given categories."""
    if not categories:
        raise InvalidInput("An expert needs at least one category.")
    profile, _ = ExpertProfile.objects.get_or_create(user=user)
    profile.verified_at = profile.verified_at or timezone.now()
    profile.verified_by = profile.verified_by or staff
    if headline:
        profile.headline = headline
    profile.save()
    profile.categories.set(categories)
    return profile
