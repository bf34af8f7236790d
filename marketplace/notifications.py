"""The one module that notifies people: in-app (the bell) and, when they are away, email.

Later issues add their notification kinds to `NotificationKind` and call `notify`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import dispatch, presence
from .models import EmailPreference, Notification, NotificationKind, User

UNSUBSCRIBE_SALT = "expertline.unsubscribe"


def notify(
    *, user: User, kind: str, text: str, url: str = "", place: str = presence.SITE
) -> Notification:
    """Create an in-app notification; email it after commit unless the user is on `place`."""
    notification = Notification.objects.create(user=user, kind=kind, text=text[:300], url=url)
    User.objects.filter(pk=user.pk).update(unread_notifications=F("unread_notifications") + 1)
    _email_after_commit([notification.pk], place)
    return notification


def notify_many(*, user_ids: Iterable[int], kind: str, text: str, url: str = "") -> int:
    """The same notification to many users, in two queries plus the email enqueue."""
    ids = sorted(set(user_ids))
    if not ids:
        return 0
    now = timezone.now()
    rows = Notification.objects.bulk_create(
        [
            Notification(user_id=uid, kind=kind, text=text[:300], url=url, created_at=now)
            for uid in ids
        ]
    )
    User.objects.filter(pk__in=ids).update(unread_notifications=F("unread_notifications") + 1)
    _email_after_commit([n.pk for n in rows], presence.SITE)
    return len(rows)


def notify_each(
    *, messages: Sequence[tuple[User, str]], kind: str, url: str = "", place: str = presence.SITE
) -> list[Notification]:
    """One notification to each of several users, each with its own text (e.g. both sides of
    an accepted offer): one INSERT, one UPDATE of the bell counters and one email task for
    them all, however many there are."""
    if not messages:
        return []
    now = timezone.now()
    rows = Notification.objects.bulk_create(
        [
            Notification(user_id=user.pk, kind=kind, text=text[:300], url=url, created_at=now)
            for user, text in messages
        ]
    )
    counts = Counter(user.pk for user, _ in messages)
    if set(counts.values()) == {1}:
        bump: Any = Value(1)
    else:
        bump = Case(*(When(pk=uid, then=Value(n)) for uid, n in counts.items()))
    User.objects.filter(pk__in=list(counts)).update(
        unread_notifications=F("unread_notifications") + bump
    )
    _email_after_commit([n.pk for n in rows], place)
    return rows


def _email_after_commit(notification_ids: list[int], place: str) -> None:
    from .tasks import email_notifications

    dispatch.task_send_on_commit(email_notifications, notification_ids, place)


@transaction.atomic
def notifications_mark_read(
    *, user: User, ids: Iterable[int] | None = None, url: str | None = None
) -> int:
    """Mark the user's unread notifications read (all, the given ids, or those pointing at
    `url`, e.g. when the user opens that question); returns how many.

    Two atomic UPDATEs keep the bell's cached count exact without locking the user:
    the count subtracted is the number of rows this UPDATE changed.
    """
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    if url is not None:
        unread = unread.filter(url=url)
    count = unread.update(read_at=timezone.now())
    if count:
        User.objects.filter(pk=user.pk).update(
            unread_notifications=F("unread_notifications") - count
        )
        user.unread_notifications = max(0, user.unread_notifications - count)
    return count


def email_enabled(user: User, kind: str) -> bool:
    pref = EmailPreference.objects.filter(user=user, kind=kind).values_list("enabled", flat=True)
    return next(iter(pref), True)


@transaction.atomic
def email_preferences_set(*, user: User, enabled: dict[str, bool]) -> None:
    for kind, on in enabled.items():
        if kind not in NotificationKind.values:
            continue
        EmailPreference.objects.update_or_create(user=user, kind=kind, defaults={"enabled": on})


def email_preferences_get(user: User) -> dict[str, bool]:
    prefs = dict(EmailPreference.objects.filter(user=user).values_list("kind", "enabled"))
    return {kind: prefs.get(kind, True) for kind in NotificationKind.values}


def unsubscribe_token(user_id: int, kind: str) -> str:
    return signing.dumps({"u": user_id, "k": kind}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token_read(token: str) -> tuple[int, str] | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if data.get("k") not in NotificationKind.values:
        return None
    return int(data["u"]), str(data["k"])


def site_url(path: str) -> str:
    return settings.EXPERTLINE_SITE_URL + path


def notification_email_send(*, notification_id: int, place: str) -> str:
    """Send one notification's email, exactly once. Returns what happened (for logs/tests).

    Claims the row with a conditional update first, so a task delivered twice sends once.
    """
    now = timezone.now()
    claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
        emailed_at=now
    )
    if not claimed:
        return "already-handled"
    n = Notification.objects.select_related("user").get(pk=notification_id)
    reason = ""
    if not n.user.is_active:
        reason = "inactive"
    elif n.read_at is not None:
        reason = "already-read"
    elif not email_enabled(n.user, n.kind):
        reason = "opted-out"
    elif presence.is_present(n.user_id, place):
        reason = "on-page"
    if reason:
        Notification.objects.filter(pk=n.pk).update(email_skipped_reason=reason)
        return reason
    unsubscribe = site_url(reverse("unsubscribe", args=[unsubscribe_token(n.user_id, n.kind)]))
    context = {
        "notification": n,
        "link": site_url(n.url) if n.url else site_url("/"),
        "unsubscribe_url": unsubscribe,
        "kind_label": NotificationKind(n.kind).label,
    }
    message = EmailMultiAlternatives(
        subject=f"[Expertline] {n.text[:120]}",
        body=render_to_string("email/notification.txt", context),
        to=[n.user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string("email/notification.html", context), "text/html")
    try:
        message.send()
    except Exception:
        # Release the claim so the task's retry sends it.
        Notification.objects.filter(pk=n.pk).update(emailed_at=None)
        raise
    return "sent"
