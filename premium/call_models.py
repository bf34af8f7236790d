"""In-browser calls and remote assistance (screen share) of accepted offers, logged.

A CallSession is one call of an accepted call-type offer: who joined (CallParticipant),
when it connected and ended, how it ended, and every step (CallEvent). The WebRTC
signalling goes through SignalMessage rows: each sender numbers its own messages
(seq), the other side polls for everything after the last it saw. Imported by
premium/models.py so Django finds the models.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class CallKind(models.TextChoices):
    CALL = "call", "Voice call"
    VIDEO = "video", "Video call"
    SCREEN_SHARE = "screen_share", "Screen share"


# Which offers are delivered in the browser, and how (premium.models.ServiceKind values).
CALL_SERVICE_KINDS: dict[str, str] = {
    "phone_call": CallKind.CALL,
    "video_call": CallKind.VIDEO,
    "appraisal_video_call": CallKind.VIDEO,
    "remote_assistance": CallKind.SCREEN_SHARE,
}


class CallStatus(models.TextChoices):
    WAITING = "waiting", "Waiting for the other side"
    CONNECTED = "connected", "Connected"
    ENDED = "ended", "Ended"


# The only moves a call session may make (premium.calls._transition enforces them).
CALL_TRANSITIONS: dict[str, frozenset[str]] = {
    CallStatus.WAITING: frozenset({"connected", "ended"}),
    CallStatus.CONNECTED: frozenset({"ended"}),
    CallStatus.ENDED: frozenset(),
}
OPEN_CALL_STATES = (CallStatus.WAITING, CallStatus.CONNECTED)


class CallEndReason(models.TextChoices):
    HUNG_UP = "hung_up", "Hung up"
    STOPPED_SHARING = "stopped_sharing", "Screen sharing stopped"
    LOST = "lost", "Connection lost (no one left on the call)"


class CallSession(models.Model):
    offer = models.ForeignKey("premium.Offer", on_delete=models.PROTECT, related_name="calls")
    kind = models.CharField(max_length=12, choices=CallKind.choices)
    # Changed only by premium.calls transitions; see CALL_TRANSITIONS.
    status = models.CharField(max_length=10, choices=CallStatus.choices, default="waiting")
    created_at = models.DateTimeField(default=timezone.now)  # the first join
    # First time a browser reported its peer connection `connected`; empty = never connected.
    connected_at = models.DateTimeField(null=True, blank=True)
    # For a session closed by the sweep: the last heartbeat of anyone on it.
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=CallEndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Screen share only: when the customer agreed to share their screen (explicit step).
    consented_at = models.DateTimeField(null=True, blank=True)
    # First join of each side (denormalised from CallParticipant for the page's summary).
    customer_joined_at = models.DateTimeField(null=True, blank=True)
    expert_joined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["offer"],
                condition=Q(status__in=["waiting", "connected"]),
                name="call_one_open_session_per_offer",
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["waiting", "connected"]),
                name="call_open_sessions",
            )
        ]

    def __str__(self) -> str:
        return f"call-{self.pk} ({self.get_kind_display()}, offer-{self.offer_id}) {self.status}"

    @property
    def duration_seconds(self) -> int | None:
        """Connected time in whole seconds; None while open or if it never connected."""
        if self.connected_at is None or self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.connected_at).total_seconds()))


class CallParticipant(models.Model):
    session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=8)  # "customer" | "expert"
    joined_at = models.DateTimeField(default=timezone.now)
    joins = models.PositiveSmallIntegerField(default=1)  # 2+ = rejoined after a drop
    left_at = models.DateTimeField(null=True, blank=True)
    # Every poll and message is a heartbeat; none for N seconds = vanished (the sweep).
    last_heartbeat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="call_participant_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} on call-{self.session_id}"


class CallEvent(models.Model):
    """One row per thing that happened on a call: joins, consent, status changes."""

    session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20)  # joined, rejoined, consent, status, left, ...
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"call-{self.session_id}: {self.kind}"


class SignalKind(models.TextChoices):
    HELLO = "hello", "Joined (asks for an offer)"
    OFFER = "offer", "Offer"
    ANSWER = "answer", "Answer"
    ICE = "ice", "ICE candidate"
    BYE = "bye", "Hung up"


class SignalMessage(models.Model):
    """A WebRTC signalling message; (session, sender, seq) is unique so a retried post is
    stored once (at-least-once delivery, the receiver drops what it has seen)."""

    session = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="signals")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveIntegerField()  # per session and sender, from 1, set by the sender
    kind = models.CharField(max_length=8, choices=SignalKind.choices)
    payload = models.JSONField(default=dict, blank=True)  # size-limited by premium.calls
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "sender", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "sender", "seq"], name="signal_seq_once")
        ]

    def __str__(self) -> str:
        return f"call-{self.session_id} {self.sender_id}#{self.seq} {self.kind}"


class CallJoinToken(models.Model):
    """A single-use, short-lived permission for one person to join one offer's call.
    Only a digest is stored."""

    offer = models.ForeignKey("premium.Offer", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)  # sha256 hex of the token
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"join token of {self.user_id} for offer-{self.offer_id}"
