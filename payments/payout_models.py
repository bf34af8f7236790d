"""Expert payouts: accounts, batches, lines, holds. (Imported by payments.models.)

An expert connects a payout account at the gateway (`PayoutAccount`, a Stripe Connect
Express account). The payout job makes one `PayoutBatch` per run with one `PayoutLine`
per expert whose available balance is at least the minimum; each line is one transfer,
keyed `payout-line-{id}` at the gateway and in the ledger. Finance can hold an expert's
payouts (`PayoutHold`). `PayoutMaturity` is a cursor that keeps the available-balance
query cheap (see payments.payouts).

Amounts are integers in the minor unit of the row's `currency`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from marketplace.money import DEFAULT_CURRENCY, format_minor

__all__ = [
    "PAYOUT_LINE_LIVE",
    "PAYOUT_LINE_TRANSITIONS",
    "PayoutAccount",
    "PayoutBatch",
    "PayoutHold",
    "PayoutLine",
    "PayoutLineEvent",
    "PayoutLineStatus",
    "PayoutMaturity",
]


class PayoutAccount(models.Model):
    """An expert's connected account at the gateway, where payouts are sent."""

    class Status(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding not finished"
        READY = "ready", "Ready for payouts"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_account"
    )
    gateway = models.CharField(max_length=16)  # "local" | "stripe": where account_id lives
    account_id = models.CharField(max_length=64, unique=True)  # "acct_..."
    # What the gateway last said (payments.payouts.payout_account_sync is the one writer):
    # "ready" means it can receive transfers; the job pays only ready accounts.
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ONBOARDING)
    # The gateway's requirement codes still due ("external_account"...), for the expert.
    missing = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The job walks ready accounts in id order, a chunk at a time.
        indexes = [
            models.Index(fields=["id"], condition=Q(status="ready"), name="payout_account_ready_id")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} ({self.get_status_display().lower()})"


class PayoutHold(models.Model):
    """Finance stops an expert's payouts, with a reason, until released (with a note)."""

    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_holds"
    )
    reason = models.CharField(max_length=500)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["expert"],
                condition=Q(released_at__isnull=True),
                name="payout_hold_one_active_per_expert",
            )
        ]

    def __str__(self) -> str:
        state = "released" if self.released_at else "active"
        return f"hold on {self.expert} ({state})"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class PayoutBatch(models.Model):
    """One run of the payout job: a line per expert paid."""

    class Status(models.TextChoices):
        CREATING = "creating", "Creating lines"
        PAYING = "paying", "Paying"
        DONE = "done", "Done"

    # The Celery task id of the run (a task delivered again resumes its own batch), or
    # "manual-..." for a run started by hand.
    run_key = models.CharField(max_length=100, unique=True)
    gateway = models.CharField(max_length=16)
    # creating -> paying (every line written) -> done (every line paid, failed or cancelled);
    # changed only by payments.payouts with conditional updates.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATING)
    # The rule's inputs for this run, for Finance: credits posted at or before `cutoff`
    # (now minus the hold days) were available; balances under `minimum_minor` wait.
    cutoff = models.DateTimeField()
    hold_days = models.PositiveIntegerField()
    minimum_minor = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    lines_created_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "payout batches"

    def __str__(self) -> str:
        return f"payout batch {self.pk} ({self.created_at:%Y-%m-%d %H:%M})"


class PayoutLineStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Being sent"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Allowed moves; payments.payouts._line_transition enforces them. `processing -> pending`
# is an attempt whose answer was lost (sent again with the same key); `pending -> paid`
# is the late answer of such an attempt. Paid, failed and cancelled are final: a failed
# line's money stays in the balance and the next run pays it on a new line.
PAYOUT_LINE_TRANSITIONS: dict[str, frozenset[str]] = {
    PayoutLineStatus.PENDING: frozenset({"processing", "paid", "cancelled"}),
    PayoutLineStatus.PROCESSING: frozenset({"pending", "paid", "failed"}),
    PayoutLineStatus.PAID: frozenset(),
    PayoutLineStatus.FAILED: frozenset(),
    PayoutLineStatus.CANCELLED: frozenset(),
}
# A live line may still move money: an expert has at most one.
PAYOUT_LINE_LIVE = (PayoutLineStatus.PENDING, PayoutLineStatus.PROCESSING)


class PayoutLine(models.Model):
    """One expert's payout in a batch: one transfer, `payout-line-{id}` at the gateway and
    in the ledger (Dr expert:<id>:payable, Cr gateway:<name>:clearing, when it is paid)."""

    Status = PayoutLineStatus

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="lines")
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_lines"
    )
    payout_account = models.ForeignKey(
        PayoutAccount, on_delete=models.PROTECT, related_name="lines"
    )
    destination = models.CharField(max_length=64)  # the account id the transfer goes to
    amount_minor = models.PositiveBigIntegerField()  # paid amount, minor units (> 0)
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    # The balance when the line was made (minor units, credit-positive): what we owed and
    # how much of it was still in the hold window. amount = owed - pending.
    owed_minor = models.BigIntegerField()
    pending_minor = models.BigIntegerField()
    # Changed only by payments.payouts (a conditional update claims pending -> processing).
    status = models.CharField(
        max_length=12, choices=PayoutLineStatus.choices, default=PayoutLineStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)  # claims so far
    claimed_at = models.DateTimeField(null=True, blank=True)  # the latest claim
    transfer_id = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    ledger_transaction = models.OneToOneField(
        "payments.LedgerTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payout_line",
    )
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="payout_line_amount_positive"
            ),
            # Two runs at once cannot both make a line for one expert.
            models.UniqueConstraint(
                fields=["expert"],
                condition=Q(status__in=["pending", "processing"]),
                name="payout_line_one_live_per_expert",
            ),
            models.UniqueConstraint(fields=["batch", "expert"], name="payout_line_once_per_batch"),
            models.UniqueConstraint(
                fields=["transfer_id"],
                condition=~Q(transfer_id=""),
                name="payout_line_transfer_unique",
            ),
        ]
        indexes = [
            # Lines still to pay (pending, or a claim that went stale), oldest first; and
            # whether a batch has any left (both small: only live lines are indexed).
            models.Index(
                fields=["id"],
                condition=Q(status__in=["pending", "processing"]),
                name="payout_line_live_id",
            ),
            models.Index(
                fields=["batch"],
                condition=Q(status__in=["pending", "processing"]),
                name="payout_line_live_batch",
            ),
        ]

    def __str__(self) -> str:
        return f"payout-line-{self.pk} {self.amount_display} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"payout-line-{self.pk}"

    @property
    def amount_display(self) -> str:
        return format_minor(self.amount_minor, self.currency)


class PayoutLineEvent(models.Model):
    """One row per line status change (who or what, when, from, to, why)."""

    line = models.ForeignKey(PayoutLine, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    note = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.line_id}: {self.from_status} → {self.to_status}"


class PayoutMaturity(models.Model):
    """How far an expert's payable account is known to be past the hold window.

    Every entry of `account` in a ledger transaction with id <= `through_transaction_id`
    was posted at or before `cutoff`, so for any query whose cutoff is at or after it,
    those entries are available: the available-balance query reads only the entries after
    the cursor (a range scan of the ledger_entry_account index). It holds no money figure,
    only a bound the payout job proved, so nothing here can drift from the ledger.
    """

    account = models.OneToOneField(
        "payments.LedgerAccount",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="payout_maturity",
    )
    through_transaction_id = models.BigIntegerField(default=0)
    cutoff = models.DateTimeField()  # the hold cutoff the cursor was proved for
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.account_id} matured through txn {self.through_transaction_id}"
