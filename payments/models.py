"""Money, moved and recorded: cards, payments, refunds, disputes, the ledger, webhooks.

This app records amounts it is given; how much an expert earns is decided by
the apps to its right. Amounts are integers in the minor unit of `currency`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.money import DEFAULT_CURRENCY, format_minor
from marketplace.prepared import prepared_cursor

M = TypeVar("M", bound=models.Model)


def insert_once(
    obj: models.Model, *, unique_field: str | None, child: tuple[models.Model, str] | None = None
) -> bool:
    """INSERT `obj` unless a row with its `unique_field` exists: one statement
    (`ON CONFLICT DO NOTHING RETURNING`), no savepoint, safe inside a transaction.
    `unique_field=None`: unless it would break any unique constraint (partial ones too).

    Returns True (and sets the pk) when this call inserted it. A concurrent insert of the
    same value that has not committed yet makes this one wait for it, as a unique index
    does; if it then commits, this returns False.

    `child`: (a new row, its foreign key to `obj`), inserted too when `obj` is, with that
    key set to `obj`'s new pk: in the same statement on PostgreSQL (a data-modifying WITH),
    right after elsewhere. E.g. a payment and its first event.
    """
    using = router.db_for_write(type(obj))
    if child is None:
        return bool(insert_many_once([obj], unique_field=unique_field))
    if connections[using].vendor != "postgresql":
        with transaction.atomic(using=using, savepoint=False):
            inserted = bool(insert_many_once([obj], unique_field=unique_field))
            if inserted:
                row, key = child
                setattr(row, key, obj)
                row.save(force_insert=True, using=using)
        return inserted
    return _insert_once_with_child(obj, unique_field, *child, using=using)


def _insert_once_with_child(
    obj: models.Model, unique_field: str | None, row: models.Model, key: str, *, using: str
) -> bool:
    connection = connections[using]
    qn = connection.ops.quote_name
    sql, params = _insert_sql([obj], unique_field, connection)
    fk = row._meta.get_field(key)
    if not isinstance(fk, models.ForeignKey) or fk.related_model is not type(obj):
        raise ValueError(f"{key} is not a foreign key of {row._meta.label} to {obj._meta.label}")
    assert obj._meta.pk is not None
    others = [f for f in row._meta.concrete_fields if not f.primary_key and f is not fk]
    params.extend(f.get_db_prep_save(f.pre_save(row, True), connection) for f in others)
    columns = ", ".join(qn(f.column) for f in (fk, *others))
    values = ", ".join(["%s"] * len(others))
    # Identifiers come from the models' metadata (quoted); values are parameters. Every
    # part of a WITH that writes runs to its end; the child's SELECT has a row only when
    # the parent's INSERT inserted one.
    sql = (
        f"WITH parent AS ({sql}), child AS ("  # noqa: S608
        f"INSERT INTO {qn(row._meta.db_table)} ({columns}) "
        f"SELECT {qn(obj._meta.pk.column)}, {values} FROM parent) "
        f"SELECT {qn(obj._meta.pk.column)} FROM parent"
    )
    with prepared_cursor(using) as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    if not found:
        return False
    for written in (obj, row):
        written._state.adding = False
        written._state.db = using
    obj.pk = found[0][0]
    setattr(row, key, obj)
    return True


def insert_many_once(objs: list[M], *, unique_field: str | None) -> list[M]:
    """INSERT every object of one model in one statement, skipping each that exists (by
    `unique_field`, or by any unique constraint when None), as `insert_once` does for one.
    Returns the objects this call inserted, with their pks set."""
    if not objs:
        return []
    model = type(objs[0])
    using = router.db_for_write(model)
    connection = connections[using]
    sql, values = _insert_sql(objs, unique_field, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        rows = cursor.fetchall()
    if unique_field is None:
        # Only ever used with one object: which one was inserted is not in doubt.
        if len(objs) > 1:
            raise ValueError("insert_many_once without unique_field takes one object")
        inserted = objs if rows else []
        pks = [r[0] for r in rows]
    else:
        by_value = {getattr(obj, unique_field): obj for obj in objs}
        inserted, pks = [], []
        for pk, value in rows:
            inserted.append(by_value[value])
            pks.append(pk)
    for obj, pk in zip(inserted, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = using
    return inserted


def _insert_sql(objs: list[M], unique_field: str | None, connection: Any) -> tuple[str, list[Any]]:
    """The INSERT ... ON CONFLICT DO NOTHING RETURNING of insert_many_once, with its values."""
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    pk_column = meta.pk.column if meta.pk is not None else "id"
    target = returning = ""
    if unique_field is not None:
        conflict = meta.get_field(unique_field)
        if not isinstance(conflict, models.Field) or not conflict.column or not conflict.unique:
            raise ValueError(f"{unique_field} is not a unique column of {meta.label}")
        target = f"({qn(conflict.column)}) "
        returning = f", {qn(conflict.column)}"
    values: list[Any] = []
    for obj in objs:
        values.extend(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    # Identifiers come from the model's metadata (quoted); values are parameters.
    columns = ", ".join(qn(f.column) for f in fields)
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(objs))} "
        f"ON CONFLICT {target}DO NOTHING "
        f"RETURNING {qn(pk_column)}{returning}"
    )
    return sql, values


class GatewayCustomer(models.Model):
    """A user's customer record at the gateway (created on first card save)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gateway_customer"
    )
    gateway = models.CharField(max_length=16)
    customer_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.gateway}:{self.customer_id}"


class Card(models.Model):
    """A card on file. At most one active card per user: saving a new one replaces it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cards"
    )
    payment_method_id = models.CharField(max_length=64, unique=True)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(removed_at__isnull=True),
                name="card_one_active_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand.title()} •••• {self.last4}"


class CardSetup(models.Model):
    """One attempt to save a card; its id keys the gateway call (`card-setup-{id}`)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        REQUIRES_ACTION = "requires_action"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    setup_intent_id = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"card-setup-{self.pk} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"card-setup-{self.pk}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REQUIRES_ACTION = "requires_action", "Needs authentication"
    SUCCEEDED = "succeeded", "Paid"
    FAILED = "failed", "Failed"
    REFUNDED = "refunded", "Refunded"
    DISPUTED = "disputed", "Disputed"


# Allowed moves; payments.services.payment_transition enforces them.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset({"requires_action", "succeeded", "failed"}),
    PaymentStatus.REQUIRES_ACTION: frozenset({"succeeded", "failed"}),
    PaymentStatus.SUCCEEDED: frozenset({"refunded", "disputed"}),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.REFUNDED: frozenset(),
    PaymentStatus.DISPUTED: frozenset({"succeeded", "refunded"}),
}
PAYMENT_FINAL = {PaymentStatus.FAILED, PaymentStatus.REFUNDED}


class Payment(models.Model):
    """One charge of a customer's card for one thing (`reference`, e.g. `question-12`)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    # What is paid for, named by the app that asked (payments does not interpret it).
    reference = models.CharField(max_length=80)
    description = models.CharField(max_length=200)
    amount_minor = models.PositiveIntegerField()  # charged amount, minor units
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    # Changed only by payments.services transitions; see PAYMENT_TRANSITIONS.
    status = models.CharField(max_length=20, choices=PaymentStatus.choices, default="pending")
    gateway = models.CharField(max_length=16)
    card = models.ForeignKey(
        Card, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Stored before the intent is confirmed, so a retry confirms the same intent.
    intent_id = models.CharField(max_length=64, blank=True)
    client_secret = models.CharField(max_length=200, blank=True)
    next_action_url = models.CharField(max_length=300, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    # Total refunded so far, minor units (refunds are in full, so 0 or amount).
    refunded_minor = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_minor__lte=models.F("amount_minor")),
                name="payment_refund_at_most_amount",
            ),
            # One successful (or in-flight) payment per thing.
            models.UniqueConstraint(
                fields=["reference"],
                condition=Q(
                    status__in=["pending", "requires_action", "succeeded", "refunded", "disputed"]
                ),
                name="payment_one_live_per_reference",
            ),
            models.UniqueConstraint(
                fields=["intent_id"], condition=~Q(intent_id=""), name="payment_intent_unique"
            ),
        ]
        indexes = [models.Index(fields=["reference"], name="payment_reference")]

    def __str__(self) -> str:
        return f"payment-{self.pk} {self.reference} {self.amount_display} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"payment-{self.pk}"

    @property
    def amount_display(self) -> str:
        return format_minor(self.amount_minor, self.currency)


class PaymentEvent(models.Model):
    """One row per payment status change (who/what, when, from, to)."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    source = models.CharField(max_length=40)  # "charge", "webhook:evt_...", "refund-3"...
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.from_status} → {self.to_status}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AWAITING_SECOND_APPROVAL = "awaiting_second_approval", "Awaiting finance approval"
    APPROVED = "approved", "Approved, being refunded"
    SUCCEEDED = "succeeded", "Refunded"
    FAILED = "failed", "Refund failed"
    DENIED = "denied", "Denied"


REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    RefundStatus.REQUESTED: frozenset({"awaiting_second_approval", "approved", "denied"}),
    RefundStatus.AWAITING_SECOND_APPROVAL: frozenset({"approved", "denied"}),
    RefundStatus.APPROVED: frozenset({"succeeded", "failed"}),
    RefundStatus.FAILED: frozenset({"approved"}),  # staff may retry
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.DENIED: frozenset(),
}


class Refund(models.Model):
    """A request to refund one payment in full, and its processing."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveIntegerField()  # always the payment's amount (full refunds)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=500)
    status = models.CharField(max_length=30, choices=RefundStatus.choices, default="requested")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="refund_requests"
    )
    first_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.CharField(max_length=500, blank=True)
    auto_approved = models.BooleanField(default=False)
    gateway_refund_id = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_large_refund", "Can give the second approval of a large refund")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive"),
            # A payment has at most one refund that is not denied: never two refunds.
            models.UniqueConstraint(
                fields=["payment"],
                condition=~Q(status="denied"),
                name="refund_one_live_per_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"refund-{self.pk} of {self.payment.reference}"

    @property
    def idempotency_key(self) -> str:
        return f"refund-{self.pk}"

    @property
    def amount_display(self) -> str:
        return format_minor(self.amount_minor, self.currency)


class RefundEvent(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.refund_id}: {self.from_status} → {self.to_status}"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Dispute(models.Model):
    """A chargeback on a payment."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    gateway_dispute_id = models.CharField(max_length=64, unique=True)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=DisputeStatus.choices, default="open")
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"dispute {self.gateway_dispute_id} on {self.payment.reference}"


class LedgerAccount(models.Model):
    """An account of the double-entry ledger, e.g. `expert:12:payable`, `platform:revenue`."""

    key = models.CharField(max_length=80, unique=True)
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    # The user the account belongs to, for per-user accounts (experts' payables).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Cached sum of this account's entries (minor units, signed: debit +, credit -).
    # Updated in the same transaction as the entries; `ledger_check` proves it.
    balance_minor = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.key


class LedgerTransaction(models.Model):
    """One money movement: entries that sum to zero. Append-only."""

    # Unique key from our own records, e.g. `question-12-credit`: a movement happens once.
    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=40)  # charge, question_credit, refund, reversal, ...
    memo = models.CharField(max_length=300)
    # Facts the amount was computed from (payout level, boosts...), for support staff.
    details = models.JSONField(default=dict, blank=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions"
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.key


class LedgerEntry(models.Model):
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    # Signed minor units: debit positive, credit negative.
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        indexes = [models.Index(fields=["account", "transaction"], name="ledger_entry_account")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="ledger_entry_not_zero")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount_minor}"


class WebhookEvent(models.Model):
    """A gateway event, stored once by its id, processed by a task."""

    event_id = models.CharField(max_length=80, unique=True)
    gateway = models.CharField(max_length=16)
    type = models.CharField(max_length=80)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


# --- The local gateway's own state (what Stripe keeps on its side) -------------


class LocalGatewayObject(models.Model):
    """An object of the embedded local gateway: customer, payment method, intent, refund..."""

    object_id = models.CharField(max_length=64, unique=True)  # "pi_local_...", "pm_local_..."
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.object_id


class LocalIdempotencyKey(models.Model):
    """The local gateway keeps each idempotency key's first request and answer, as Stripe does."""

    key = models.CharField(max_length=200, unique=True)
    # sha256 of the operation name and its parameters; a reuse with other parameters is an error.
    request_hash = models.CharField(max_length=64)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


from .membership_models import *  # noqa: E402,F403  (membership models, their own module)
from .payout_models import *  # noqa: E402,F403  (payout models live in their own module)
