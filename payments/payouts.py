"""Expert payouts: payout accounts, the available-balance rule, the payout job, holds.

**Available balance.** What we owe an expert is the payable account's balance (the cached
`LedgerAccount.balance_minor`, which `ledger.check()` proves). Credits to the expert stay
*pending* for `EXPERTLINE_PAYOUT_HOLD_DAYS` after they are posted (the refund hold
window); everything that takes money away (a reversal, a frozen credit, a payout) counts
at once. So

    available = max(0, owed - pending credits)          (`available_minor`, pure)

and a negative balance is netted against later credits before anything is paid. Only
the pending part needs the entries, and only the recent ones: `PayoutMaturity` keeps a
per-account cursor below which every entry is known to be past the window, so the query
is a range scan of the (account, transaction) index after the cursor, whatever the
account's history (see benchmarks/PAYOUTS.md).

**Exactly once.** The job (`payout_run`, the beat task `payments.payout_run`) makes one
batch per run, keyed by the task id, so a task delivered again resumes its own batch.
Lines are written a chunk of payout accounts at a time, under row locks on those
accounts, after which a fresh statement sees any line a concurrent run committed; a
partial unique constraint (one pending or processing line per expert) backs that up.
Lines are paid a chunk at a time by `payout_lines_pay` (the pay task): one transaction
claims the chunk (pending -> processing: rows locked with SKIP LOCKED, so lines another
worker holds are left to it, then an update conditional on the status read); each
transfer goes to the gateway alone, keyed `payout-line-{id}`; the paid lines are then
recorded together (`_lines_paid`: under the lines' row locks, one bulk ledger posting,
`ledger.post_many`, with one transaction per line of the same key: Dr
expert:<id>:payable, Cr gateway:<name>:clearing). A worker stopped on the way records
what it sent first.

**Failures.** A refusal (the account is not ready, Stripe says no) marks the line
`failed` with the reason and posts nothing: the money stays in the balance and the next
run pays it on a new line (with a new key). An unknown outcome (timeout, 5xx) puts the
line back to `pending`; the next attempt first looks the transfer up by its key (it is
the transfer's group too, so this holds after Stripe forgets the key) and only sends it
again, with the same key, when there is none. A claim older than STALE_CLAIM belongs to
a worker that is gone and is taken over the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import (
    BigIntegerField,
    CharField,
    Exists,
    F,
    FilteredRelation,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat
from django.urls import reverse
from django.utils import timezone

from marketplace.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from marketplace.models import User
from marketplace.money import DEFAULT_CURRENCY, format_minor

from . import ledger
from .gateway import get_gateway
from .gateway.base import (
    Gateway,
    GatewayError,
    GatewayUnavailable,
    IdempotencyConflict,
    TransferResult,
)
from .models import LedgerAccount, LedgerEntry, LedgerTransaction
from .payout_models import (
    PAYOUT_LINE_LIVE,
    PAYOUT_LINE_TRANSITIONS,
    PayoutAccount,
    PayoutBatch,
    PayoutHold,
    PayoutLine,
    PayoutLineEvent,
    PayoutLineStatus,
    PayoutMaturity,
)

log = logging.getLogger(__name__)

# Payout accounts per transaction when a run writes its lines (one lock, a few queries).
CREATE_CHUNK = 1000
# Lines per pay task: with Stripe about a second each, well inside the task's time limit.
PAY_CHUNK = 100
# Paid lines are recorded (ledger and lines, one transaction) this many at a time, or after
# this many seconds: few sent-but-unrecorded lines if a worker dies (they are found by their
# key after STALE_CLAIM), and a fixed number of statements per chunk, not per line.
RECORD_CHUNK = 100
RECORD_EVERY_S = 5.0
# A claim older than this belongs to a worker that is gone: longer than the pay task's hard
# time limit (payments.payout_tasks), so a live worker never loses its line.
STALE_CLAIM = timedelta(minutes=15)
# A batch still "creating" after this was left by a run that died: longer than the run
# task's hard time limit.
STALE_CREATING = timedelta(hours=1)

HOLD_PERMISSION = "payments.add_payouthold"
RELEASE_PERMISSION = "payments.change_payouthold"

Dispatch = Callable[[list[int]], Any]


# --- The rule (pure) ------------------------------------------------------------------


def hold_cutoff(now: datetime, hold_days: int) -> datetime:
    """Credits posted at or before this moment are past the refund hold window."""
    return now - timedelta(days=hold_days)


def available_minor(*, owed_minor: int, pending_minor: int) -> int:
    """What may be paid now: what we owe less the credits still in the hold window, never
    below zero. A negative balance is netted against later credits before any payout."""
    return max(0, owed_minor - pending_minor)


def payout_due(*, available: int, minimum: int) -> bool:
    return available > 0 and available >= minimum


def next_run_at(*, last_run_at: datetime | None, now: datetime, every: timedelta) -> datetime:
    """When the payout job runs next: the next step of its interval after `now`, counted
    from its last run (beat runs an interval job every `every` from its last run)."""
    if last_run_at is None:
        return now + every
    nxt = last_run_at + every
    if nxt <= now:
        nxt += every * ((now - nxt) // every + 1)
    return nxt


# Stripe's requirement codes, in the expert's words (exact codes, then prefixes).
REQUIREMENT_LABELS = {
    "external_account": "bank account",
    "tos_acceptance.date": "acceptance of the terms of service",
    "tos_acceptance.ip": "acceptance of the terms of service",
    "requirements.pending_verification": "the payment service is checking your details",
    "requirements.past_due": "information the payment service asked for",
    "rejected.fraud": "the payment service refused this account",
}
REQUIREMENT_PREFIXES = {
    "individual.": "your identity details",
    "representative.": "your identity details",
    "business_profile.": "your business details",
    "company.": "your company details",
    "business_type": "your business type",
}


def requirement_labels(codes: Iterable[str]) -> list[str]:
    labels: list[str] = []
    for code in codes:
        label = REQUIREMENT_LABELS.get(code)
        if label is None:
            label = next(
                (text for prefix, text in REQUIREMENT_PREFIXES.items() if code.startswith(prefix)),
                code.replace("_", " ").replace(".", " "),
            )
        if label not in labels:
            labels.append(label)
    return labels


# --- Balances -------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutBalance:
    """An expert's balance for payouts, minor units of `currency`, credit-positive."""

    owed_minor: int  # what we owe now; negative when the expert owes us (refunds after a payout)
    pending_minor: int  # credits still in the hold window
    currency: str = DEFAULT_CURRENCY
    # When the oldest pending credit leaves the hold window (None: nothing pending).
    next_release_at: datetime | None = None

    @property
    def available_minor(self) -> int:
        return available_minor(owed_minor=self.owed_minor, pending_minor=self.pending_minor)


def payout_balance_get(*, user: User, now: datetime | None = None) -> PayoutBalance:
    """The expert's owed, pending and available balance in two indexed statements: the
    cached balance with the maturity cursor, then the pending credits after the cursor.
    (The cursor goes into the second as a value, so the planner sees how few entries lie
    after it; as a subquery it planned a scan of every transaction.)"""
    now = now or timezone.now()
    hold_days = settings.EXPERTLINE_PAYOUT_HOLD_DAYS
    cutoff = hold_cutoff(now, hold_days)
    cursor = PayoutMaturity.objects.filter(account_id=OuterRef("pk"), cutoff__lte=cutoff)
    account = (
        LedgerAccount.objects.filter(key=ledger.expert_payable(user.pk))
        .annotate(
            through=Coalesce(
                Subquery(cursor.values("through_transaction_id")[:1]),
                Value(0),
                output_field=BigIntegerField(),
            )
        )
        .order_by()  # the key is unique: no sort, so the key's index answers
        .values_list("pk", "balance_minor", "currency", "through")[:1]
    )
    if not account:
        return PayoutBalance(owed_minor=0, pending_minor=0)
    [(account_pk, balance, currency, through)] = account
    pending = LedgerEntry.objects.filter(
        account_id=account_pk,
        transaction_id__gt=through,
        amount_minor__lt=0,
        transaction__created_at__gt=cutoff,
    ).aggregate(total=Sum("amount_minor"), oldest=Min("transaction__created_at"))
    oldest = pending["oldest"]
    return PayoutBalance(
        owed_minor=-int(balance),
        pending_minor=-int(pending["total"] or 0),
        currency=currency,
        next_release_at=oldest + timedelta(days=hold_days) if oldest else None,
    )


def payout_balance_full(*, user: User, now: datetime | None = None) -> PayoutBalance:
    """The same figures from every entry, without the cursor (for checks and tests)."""
    now = now or timezone.now()
    cutoff = hold_cutoff(now, settings.EXPERTLINE_PAYOUT_HOLD_DAYS)
    entries = LedgerEntry.objects.filter(account__key=ledger.expert_payable(user.pk))
    owed = -int(entries.aggregate(total=Sum("amount_minor"))["total"] or 0)
    pending = entries.filter(amount_minor__lt=0, transaction__created_at__gt=cutoff).aggregate(
        total=Sum("amount_minor")
    )["total"]
    currency = entries.values_list("currency", flat=True).first() or DEFAULT_CURRENCY
    return PayoutBalance(owed_minor=owed, pending_minor=-int(pending or 0), currency=currency)


@dataclass(frozen=True)
class _ChunkBalance:
    account_pk: int
    owed_minor: int
    pending_minor: int
    currency: str
    through: int  # the cursor after this look (unchanged when nothing new matured)
    moved: bool


def _chunk_balances(user_ids: Sequence[int], cutoff: datetime) -> dict[int, _ChunkBalance]:
    """Balances of many experts in two queries, and how far each cursor can move."""
    accounts = {
        row[0]: row
        for row in LedgerAccount.objects.filter(
            key__in=[ledger.expert_payable(u) for u in user_ids]
        ).values_list("pk", "user_id", "balance_minor", "currency")
    }
    if not accounts:
        return {}
    young = Q(transaction__created_at__gt=cutoff)
    recent = (
        LedgerEntry.objects.filter(account_id__in=list(accounts))
        .annotate(
            mat=FilteredRelation(
                "account__payout_maturity",
                condition=Q(account__payout_maturity__cutoff__lte=cutoff),
            )
        )
        .annotate(through=Coalesce(F("mat__through_transaction_id"), Value(0)))
        .filter(transaction_id__gt=F("through"))
        .values("account_id")
        .annotate(
            credits=Sum("amount_minor", filter=young & Q(amount_minor__lt=0)),
            first_young=Min("transaction_id", filter=young),
            last=Max("transaction_id"),
            was=Max("through"),
        )
        .order_by()
    )
    after = {row["account_id"]: row for row in recent}
    out: dict[int, _ChunkBalance] = {}
    for account_pk, user_id, balance, currency in accounts.values():
        row = after.get(account_pk)
        if row is None:  # nothing after the cursor: all of it is available
            out[user_id] = _ChunkBalance(account_pk, -int(balance), 0, currency, 0, False)
            continue
        # The cursor moves over the leading run of entries past the window, never beyond
        # the first one still inside it.
        first_young = row["first_young"]
        through = first_young - 1 if first_young is not None else row["last"]
        out[user_id] = _ChunkBalance(
            account_pk=account_pk,
            owed_minor=-int(balance),
            pending_minor=-int(row["credits"] or 0),
            currency=currency,
            through=through,
            moved=through > int(row["was"]),
        )
    return out


def _maturity_save(balances: Iterable[_ChunkBalance], cutoff: datetime, now: datetime) -> None:
    moved = [
        PayoutMaturity(
            account_id=b.account_pk, through_transaction_id=b.through, cutoff=cutoff, updated_at=now
        )
        for b in balances
        if b.moved
    ]
    if moved:
        # Any value written is a bound some run proved, so the last writer may win.
        PayoutMaturity.objects.bulk_create(
            moved,
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=["through_transaction_id", "cutoff", "updated_at"],
        )


# --- Payout accounts ------------------------------------------------------------------


def payout_account_get(*, user: User) -> PayoutAccount | None:
    account = PayoutAccount.objects.filter(user=user).first()
    if account is not None and account.gateway != get_gateway().name:
        return None  # made on another gateway (the site switched): connect again
    return account


def payout_account_connect(*, user: User, return_url: str, refresh_url: str) -> str:
    """Start or continue onboarding: the expert's connected account (made once) and a
    fresh link to the gateway's onboarding. Returns where to send the expert."""
    if not user.is_expert:
        raise Forbidden("Only verified experts receive payouts.")
    gateway = get_gateway()
    account = payout_account_get(user=user)
    if account is None:
        account_id = gateway.payout_account_create(
            email=user.email, idempotency_key=f"payout-account-{user.pk}"
        )
        with transaction.atomic():
            User.objects.select_for_update().filter(pk=user.pk).first()
            account, _ = PayoutAccount.objects.update_or_create(
                user=user,
                defaults={
                    "gateway": gateway.name,
                    "account_id": account_id,
                    "status": PayoutAccount.Status.ONBOARDING,
                    "missing": [],
                    "checked_at": None,
                },
            )
    try:
        return gateway.payout_account_link(
            account_id=account.account_id, return_url=return_url, refresh_url=refresh_url
        )
    except GatewayError as exc:
        raise Conflict(exc.message, code=exc.code) from None


def payout_account_sync(*, account_id: str) -> PayoutAccount:
    """Record what the gateway says of a payout account: after onboarding, after a refused
    transfer, on the gateway's `account.updated` event. The one writer of its status."""
    account = PayoutAccount.objects.filter(account_id=account_id).first()
    if account is None:
        raise NotFound("This payout account does not exist.")
    status = get_gateway().payout_account_status(account_id=account_id)
    with transaction.atomic():
        account = PayoutAccount.objects.select_for_update().get(pk=account.pk)
        account.status = (
            PayoutAccount.Status.READY if status.ready else PayoutAccount.Status.ONBOARDING
        )
        account.missing = [] if status.ready else list(status.missing)
        account.checked_at = timezone.now()
        account.save(update_fields=["status", "missing", "checked_at"])
    return account


def payout_account_refresh(*, user: User) -> PayoutAccount:
    account = payout_account_get(user=user)
    if account is None:
        raise NotFound("Connect a payout account first.")
    try:
        return payout_account_sync(account_id=account.account_id)
    except GatewayError as exc:
        raise Conflict(exc.message, code=exc.code) from None


def local_onboarding_owner(*, account_id: str, user: User) -> PayoutAccount | None:
    """The local onboarding page opens only for the expert whose account it is."""
    return PayoutAccount.objects.filter(account_id=account_id, user__pk=user.pk or 0).first()


# --- Holds ----------------------------------------------------------------------------


def payout_hold_place(*, expert: User, staff: User, reason: str) -> PayoutHold:
    """Finance stops an expert's payouts. Lines not yet sent are cancelled; a line already
    sent once is finished, since its transfer may have gone through."""
    if not staff.is_staff or not staff.has_perm(HOLD_PERMISSION):
        raise Forbidden("Only Finance holds payouts.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the payouts are held.")
    batch_ids: set[int] = set()
    try:
        with transaction.atomic():
            # The job writes lines under this lock: a hold and a new line never cross.
            PayoutAccount.objects.select_for_update().filter(user=expert).first()
            if PayoutHold.objects.filter(expert=expert, released_at__isnull=True).exists():
                raise Conflict("This expert's payouts are already on hold.")
            hold = PayoutHold.objects.create(expert=expert, reason=reason[:500], placed_by=staff)
            lines = PayoutLine.objects.select_for_update().filter(
                expert=expert, status=PayoutLineStatus.PENDING, attempts=0
            )
            for line in lines:
                _line_transition(
                    line, PayoutLineStatus.CANCELLED, note=f"payouts held: {reason}", actor=staff
                )
                batch_ids.add(line.batch_id)
    except IntegrityError:
        raise Conflict("This expert's payouts are already on hold.") from None
    for batch_id in batch_ids:
        _batch_finish_if_done(batch_id)
    return hold


def payout_hold_release(*, hold_id: int, staff: User, note: str) -> PayoutHold:
    if not staff.is_staff or not staff.has_perm(RELEASE_PERMISSION):
        raise Forbidden("Only Finance releases held payouts.")
    note = (note or "").strip()
    if not note:
        raise InvalidInput("Say why the payouts are released.")
    with transaction.atomic():
        hold = PayoutHold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None:
            raise NotFound("This hold does not exist.")
        if hold.released_at is not None:
            raise Conflict("This hold is already released.")
        hold.released_at = timezone.now()
        hold.released_by = staff
        hold.release_note = note[:500]
        hold.save(update_fields=["released_at", "released_by", "release_note"])
    return hold


# --- Lines: transitions ---------------------------------------------------------------


def _line_transition(
    line: PayoutLine, to: str, *, note: str = "", actor: User | None = None, **fields: Any
) -> None:
    """Move a locked line to `to`, or refuse. Every status change goes here but the two done
    a chunk at a time: the claim (`_lines_claim`) and paid (`_lines_paid`, which checks
    the same map)."""
    if to not in PAYOUT_LINE_TRANSITIONS[line.status]:
        raise InvalidTransition(f"A {line.status} payout line cannot become {to}.")
    PayoutLineEvent.objects.create(
        line=line, from_status=line.status, to_status=to, note=note[:300], actor=actor
    )
    line.status = to
    for name, value in fields.items():
        setattr(line, name, value)
    line.save(update_fields=["status", *fields.keys()])


def _lines_claim(line_ids: Sequence[int], now: datetime) -> list[int]:
    """Take lines to send, in one transaction: pending -> processing, or a claim gone stale
    taken over. Lines another worker is claiming or recording are skipped (SKIP LOCKED:
    they are that worker's), and each update is conditional on the status read under the
    lock, so of two workers (or a task delivered twice) exactly one gets each line.
    Returns the ids claimed, in id order."""
    if not line_ids:
        return []
    due = Q(status=PayoutLineStatus.PENDING) | Q(
        status=PayoutLineStatus.PROCESSING, claimed_at__lt=now - STALE_CLAIM
    )
    claimed: list[int] = []
    with transaction.atomic():
        rows = list(
            PayoutLine.objects.select_for_update(skip_locked=True)
            .filter(due, pk__in=sorted(set(line_ids)))
            .order_by("pk")
            .values_list("pk", "status")
        )
        events: list[PayoutLineEvent] = []
        for was, note in (
            (PayoutLineStatus.PENDING, "claimed"),
            (PayoutLineStatus.PROCESSING, "stale claim taken over"),
        ):
            ids = [pk for pk, status in rows if status == was]
            if not ids:
                continue
            won = PayoutLine.objects.filter(pk__in=ids, status=was).update(
                status=PayoutLineStatus.PROCESSING, claimed_at=now, attempts=F("attempts") + 1
            )
            if won != len(ids):  # the rows are locked by us: nobody can have moved them
                raise RuntimeError(f"payout lines changed under their lock: {ids}")
            claimed.extend(ids)
            events.extend(
                PayoutLineEvent(
                    line_id=pk,
                    from_status=was,
                    to_status=PayoutLineStatus.PROCESSING,
                    note=note,
                    created_at=now,
                )
                for pk in ids
            )
        PayoutLineEvent.objects.bulk_create(events)
    return sorted(claimed)


def _line_claim(line_id: int, now: datetime) -> bool:
    """Claim one line (see `_lines_claim`)."""
    return _lines_claim([line_id], now) == [line_id]


def _lock_line(line_id: int) -> PayoutLine:
    # of=self: lock the line only, not its batch (every worker reads that one).
    return (
        PayoutLine.objects.select_for_update(of=("self",)).select_related("batch").get(pk=line_id)
    )


def _payout_posting(line: PayoutLine, *, gateway: str, transfer_id: str) -> ledger.Posting:
    """The ledger transaction of a paid line, keyed like its transfer."""
    return ledger.Posting(
        key=line.idempotency_key,
        kind="payout",
        memo=f"Payout #{line.pk} to your payout account",
        lines=[
            ledger.Line(ledger.expert_payable(line.expert_id), line.amount_minor),
            ledger.Line(ledger.clearing(gateway), -line.amount_minor),
        ],
        currency=line.currency,
        details={
            "expert": line.expert_id,
            "batch": line.batch_id,
            "line": line.pk,
            "transfer": transfer_id,
            "destination": line.destination,
        },
    )


def _check_result(line: PayoutLine, result: TransferResult) -> None:
    if result.amount != line.amount_minor or result.currency != line.currency:
        log.error("payout line %s: transfer %s is %s", line.pk, result.transfer_id, result)


@transaction.atomic
def _line_paid(line_id: int, result: TransferResult) -> PayoutLine:
    """The transfer went through: the line is paid and the ledger records it, together."""
    line = _lock_line(line_id)
    if line.status == PayoutLineStatus.PAID:
        return line  # recorded by another attempt with the same key
    _check_result(line, result)
    p = _payout_posting(line, gateway=line.batch.gateway, transfer_id=result.transfer_id)
    txn = ledger.post_many([p])[p.key]
    _line_transition(
        line,
        PayoutLineStatus.PAID,
        note=f"transfer {result.transfer_id}",
        transfer_id=result.transfer_id,
        paid_at=timezone.now(),
        ledger_transaction=txn,
        failure_code="",
        failure_message="",
    )
    return line


@transaction.atomic
def _lines_paid(paid: Sequence[tuple[PayoutLine, TransferResult]]) -> None:
    """The transfers of these lines went through: in one transaction, under the lines' row
    locks, each line is paid and the ledger records it (one bulk posting for the chunk)."""
    results = {line.pk: result for line, result in paid}
    gateways = {line.pk: line.batch.gateway for line, _ in paid}
    locked = list(
        PayoutLine.objects.select_for_update(of=("self",))
        .filter(pk__in=list(results))
        .order_by("pk")
    )
    todo = []
    for line in locked:
        if PayoutLineStatus.PAID in PAYOUT_LINE_TRANSITIONS[line.status]:
            todo.append(line)
        elif line.status != PayoutLineStatus.PAID:  # paid: recorded by another attempt
            log.error("payout line %s was sent but is %s", line.pk, line.status)
    if not todo:
        return
    for line in todo:
        _check_result(line, results[line.pk])
    ledger.post_many(
        [
            _payout_posting(
                line, gateway=gateways[line.pk], transfer_id=results[line.pk].transfer_id
            )
            for line in todo
        ]
    )
    now = timezone.now()
    events = []
    for line in todo:
        result = results[line.pk]
        events.append(
            PayoutLineEvent(
                line=line,
                from_status=line.status,
                to_status=PayoutLineStatus.PAID,
                note=f"transfer {result.transfer_id}",
                created_at=now,
            )
        )
    # One statement for the chunk: each line's ledger transaction (and the transfer it
    # records) is found by the line's key; the rest is the same for every line.
    posted = LedgerTransaction.objects.filter(
        key=Concat(Value("payout-line-"), Cast(OuterRef("pk"), CharField()))
    )
    PayoutLine.objects.filter(pk__in=[line.pk for line in todo]).update(
        status=PayoutLineStatus.PAID,
        paid_at=now,
        failure_code="",
        failure_message="",
        ledger_transaction=Subquery(posted.values("pk")[:1]),
        transfer_id=Subquery(posted.values(t=KT("details__transfer"))[:1]),
    )
    PayoutLineEvent.objects.bulk_create(events)


def _record_paid(paid: Sequence[tuple[PayoutLine, TransferResult]]) -> None:
    if not paid:
        return
    try:
        _lines_paid(paid)
    except IntegrityError:
        # A key recorded at the same moment by another path: record one by one instead.
        log.warning("payout lines %s: recording one by one", [line.pk for line, _ in paid])
        for line, result in paid:
            _line_paid(line.pk, result)


@transaction.atomic
def _line_failed(line_id: int, exc: GatewayError) -> PayoutLine:
    line = _lock_line(line_id)
    if line.status == PayoutLineStatus.PROCESSING:
        _line_transition(
            line,
            PayoutLineStatus.FAILED,
            note=exc.message,
            failure_code=exc.code[:60],
            failure_message=exc.message[:300],
        )
    return line


@transaction.atomic
def _line_unknown(line_id: int, exc: GatewayError) -> PayoutLine:
    line = _lock_line(line_id)
    if line.status == PayoutLineStatus.PROCESSING:
        _line_transition(
            line,
            PayoutLineStatus.PENDING,
            note=f"outcome unknown, to be sent again: {exc.message}",
            failure_code=exc.code[:60],
            failure_message=exc.message[:300],
        )
    return line


# --- Lines: paying --------------------------------------------------------------------


def _transfer(gateway: Gateway, line: PayoutLine) -> TransferResult:
    """Send a claimed line's transfer with its key (first looking for one already sent)."""
    if gateway.name != line.batch.gateway:
        raise GatewayError(
            f"This line was made for the {line.batch.gateway} gateway.", code="wrong_gateway"
        )
    if line.attempts > 1:
        # Sent before and the answer was lost: find that transfer before sending again.
        found = gateway.transfer_find(idempotency_key=line.idempotency_key)
        if found is not None:
            return found
    return gateway.transfer_create(
        amount=line.amount_minor,
        currency=line.currency,
        destination=line.destination,
        idempotency_key=line.idempotency_key,
        metadata={
            "payout_line": str(line.pk),
            "payout_batch": str(line.batch_id),
            "expert": str(line.expert_id),
        },
    )


def _lines_send(line_ids: Sequence[int]) -> None:
    """Send claimed lines one transfer each; record the paid ones RECORD_CHUNK at a time
    (or after RECORD_EVERY), and whatever was paid before an error on the way out."""
    gateway = get_gateway()
    lines = PayoutLine.objects.filter(pk__in=list(line_ids)).select_related("batch").order_by("pk")
    paid: list[tuple[PayoutLine, TransferResult]] = []
    since = time.monotonic()
    try:
        for line in lines:
            try:
                result = _transfer(gateway, line)
            except (GatewayUnavailable, IdempotencyConflict) as exc:
                # IdempotencyConflict: Stripe is still working on a request with this key.
                log.warning("payout line %s: outcome unknown (%s)", line.pk, exc.code)
                _line_unknown(line.pk, exc)
                continue
            except GatewayError as exc:
                _line_failed(line.pk, exc)
                if exc.code == "account_not_ready":
                    try:  # so the next run skips the account until its onboarding is done
                        payout_account_sync(account_id=line.destination)
                    except GatewayError:
                        log.warning("could not refresh payout account %s", line.destination)
                continue
            paid.append((line, result))
            if len(paid) >= RECORD_CHUNK or time.monotonic() - since > RECORD_EVERY_S:
                _record_paid(paid)
                paid, since = [], time.monotonic()
    finally:
        # A worker stopped on the way (a time limit) still records what it sent; one that
        # dies leaves its lines claimed, and the next run finds their transfers by key.
        _record_paid(paid)


def payout_lines_pay(*, line_ids: Iterable[int], now: datetime | None = None) -> dict[str, int]:
    """Pay these lines (a pay task's work), each exactly once: claim them, send each
    transfer with the line's key, record the paid ones in bulk. Returns how many of the
    lines are in each status afterwards (lines another worker has count as they stand)."""
    ids = list(line_ids)
    claimed = _lines_claim(ids, now or timezone.now())
    if claimed:
        _lines_send(claimed)
    counts: dict[str, int] = {}
    batch_ids: set[int] = set()
    for _, status, batch_id in PayoutLine.objects.filter(pk__in=ids).values_list(
        "pk", "status", "batch_id"
    ):
        counts[status] = counts.get(status, 0) + 1
        batch_ids.add(batch_id)
    for batch_id in sorted(batch_ids):
        _batch_finish_if_done(batch_id)
    return counts


def _batch_finish_if_done(batch_id: int) -> None:
    live = PayoutLine.objects.filter(batch=OuterRef("pk"), status__in=PAYOUT_LINE_LIVE)
    PayoutBatch.objects.filter(pk=batch_id, status=PayoutBatch.Status.PAYING).exclude(
        Exists(live)
    ).update(status=PayoutBatch.Status.DONE, finished_at=timezone.now())


def _dispatch_on_commit(dispatch: Dispatch, line_ids: list[int]) -> None:
    for start in range(0, len(line_ids), PAY_CHUNK):
        transaction.on_commit(partial(dispatch, line_ids[start : start + PAY_CHUNK]))


# --- The job --------------------------------------------------------------------------


def payout_run(*, run_key: str, dispatch: Dispatch, now: datetime | None = None) -> PayoutBatch:
    """The payout job: hand the lines of earlier runs still owed an attempt to `dispatch`,
    then make this run's batch, handing its lines to `dispatch` a chunk at a time once
    they are committed. `dispatch(line_ids)` enqueues a pay task (or pays in-process)."""
    now = now or timezone.now()
    _batches_settle(now)
    for ids in _due_line_chunks(now):
        _dispatch_on_commit(dispatch, ids)
    return payout_batch_create(run_key=run_key, dispatch=dispatch, now=now)


def _batches_settle(now: datetime) -> None:
    """Batches left "creating" by a run that died keep their lines and go on to paying."""
    stale = PayoutBatch.objects.filter(
        status=PayoutBatch.Status.CREATING, created_at__lt=now - STALE_CREATING
    )
    for batch_id in stale.values_list("pk", flat=True):
        PayoutBatch.objects.filter(pk=batch_id, status=PayoutBatch.Status.CREATING).update(
            status=PayoutBatch.Status.PAYING, lines_created_at=now
        )
        _batch_finish_if_done(batch_id)


def _due_line_chunks(now: datetime) -> Iterable[list[int]]:
    """Ids of lines owed an attempt (pending, or a stale claim), PAY_CHUNK at a time."""
    due = PayoutLine.objects.filter(
        Q(status=PayoutLineStatus.PENDING)
        | Q(status=PayoutLineStatus.PROCESSING, claimed_at__lt=now - STALE_CLAIM)
    ).order_by("pk")
    after = 0
    while True:
        ids = list(due.filter(pk__gt=after).values_list("pk", flat=True)[:PAY_CHUNK])
        if not ids:
            return
        after = ids[-1]
        yield ids


def payout_batch_create(
    *, run_key: str, dispatch: Dispatch, now: datetime | None = None
) -> PayoutBatch:
    """Make (or resume) the batch of `run_key`: a line for every expert with a ready
    payout account, no hold and no live line whose available balance is at least the
    minimum. Streams the accounts CREATE_CHUNK at a time; memory does not grow with them."""
    now = now or timezone.now()
    hold_days = settings.EXPERTLINE_PAYOUT_HOLD_DAYS
    batch, _ = PayoutBatch.objects.get_or_create(
        run_key=run_key[:100],
        defaults={
            "gateway": get_gateway().name,
            "cutoff": hold_cutoff(now, hold_days),
            "hold_days": hold_days,
            "minimum_minor": settings.EXPERTLINE_PAYOUT_MINIMUM_MINOR,
            "created_at": now,
        },
    )
    if batch.status != PayoutBatch.Status.CREATING:
        return batch  # written already (a task delivered again): its lines are dispatched
    after: int | None = 0
    while after is not None:
        after = _lines_create_chunk(batch, after=after, dispatch=dispatch, now=now)
    PayoutBatch.objects.filter(pk=batch.pk, status=PayoutBatch.Status.CREATING).update(
        status=PayoutBatch.Status.PAYING, lines_created_at=timezone.now()
    )
    _batch_finish_if_done(batch.pk)
    batch.refresh_from_db()
    return batch


def _lines_create_chunk(
    batch: PayoutBatch, *, after: int, dispatch: Dispatch, now: datetime
) -> int | None:
    """Lines for the next chunk of ready accounts after id `after`, in one transaction.
    Returns the last account id seen, or None when there are no more."""
    with transaction.atomic():
        accounts = list(
            PayoutAccount.objects.select_for_update()
            .filter(status=PayoutAccount.Status.READY, gateway=batch.gateway, pk__gt=after)
            .order_by("pk")
            .values_list("pk", "user_id", "account_id")[:CREATE_CHUNK]
        )
        if not accounts:
            return None
        user_ids = [user_id for _, user_id, _ in accounts]
        # Read after taking the locks: these statements see what a concurrent run (or a
        # hold) committed while we waited for them.
        busy = set(
            PayoutLine.objects.filter(expert_id__in=user_ids)
            .filter(Q(status__in=PAYOUT_LINE_LIVE) | Q(batch=batch))
            .values_list("expert_id", flat=True)
        )
        held = set(
            PayoutHold.objects.filter(expert_id__in=user_ids, released_at__isnull=True).values_list(
                "expert_id", flat=True
            )
        )
        balances = _chunk_balances(user_ids, batch.cutoff)
        new = []
        for account_pk, user_id, destination in accounts:
            balance = balances.get(user_id)
            if balance is None or user_id in busy or user_id in held:
                continue
            amount = available_minor(
                owed_minor=balance.owed_minor, pending_minor=balance.pending_minor
            )
            if not payout_due(available=amount, minimum=batch.minimum_minor):
                continue
            new.append(
                PayoutLine(
                    batch=batch,
                    expert_id=user_id,
                    payout_account_id=account_pk,
                    destination=destination,
                    amount_minor=amount,
                    currency=balance.currency,
                    owed_minor=balance.owed_minor,
                    pending_minor=balance.pending_minor,
                    created_at=now,
                )
            )
        created = PayoutLine.objects.bulk_create(new)
        PayoutLineEvent.objects.bulk_create(
            PayoutLineEvent(
                line=line,
                to_status=PayoutLineStatus.PENDING,
                note=f"batch {batch.pk}",
                created_at=now,
            )
            for line in created
        )
        _maturity_save(balances.values(), batch.cutoff, now)
        _dispatch_on_commit(dispatch, [line.pk for line in created])
        return accounts[-1][0]


# --- The expert's earnings page -------------------------------------------------------


def payout_blockers(
    *,
    account: PayoutAccount | None,
    on_hold: bool,
    balance: PayoutBalance,
    minimum_minor: int,
) -> list[str]:
    """What stands between the expert and the next payout, in the expert's words (pure)."""
    blockers = []
    if account is None:
        blockers.append("Connect a payout account to be paid.")
    elif account.status != PayoutAccount.Status.READY:
        missing = requirement_labels(account.missing) or ["your details"]
        blockers.append(f"Finish your payout account: missing {', '.join(missing)}.")
    if on_hold:
        blockers.append("Your payouts are on hold. Customer Care can tell you why.")
    if balance.available_minor < minimum_minor:
        blockers.append(
            f"Payouts start when your available balance reaches "
            f"{format_minor(minimum_minor, balance.currency)}."
        )
    return blockers


def earnings_get_for_expert(*, user: User, now: datetime | None = None) -> dict[str, Any]:
    """Everything the earnings page shows: the ledger rows (credits, reversals, payouts,
    each with its reason), the balance owed, pending and available, the payout account,
    what is missing, the next run and the expert's payout lines."""
    now = now or timezone.now()
    entries = (
        LedgerEntry.objects.filter(account__key=ledger.expert_payable(user.pk))
        .select_related("transaction")
        .order_by("-transaction__created_at", "-id")[:200]
    )
    rows = [
        {
            "at": e.transaction.created_at,
            "memo": e.transaction.memo,
            "kind": e.transaction.kind,
            # The payable account is a liability: a credit to the expert is negative there.
            "amount_minor": -e.amount_minor,
            "currency": e.currency,
        }
        for e in entries
    ]
    balance = payout_balance_get(user=user, now=now)
    account = payout_account_get(user=user)
    on_hold = PayoutHold.objects.filter(expert=user, released_at__isnull=True).exists()
    minimum = settings.EXPERTLINE_PAYOUT_MINIMUM_MINOR
    last_run = PayoutBatch.objects.order_by("-created_at").values_list("created_at", flat=True)
    return {
        "rows": rows,
        "balance_minor": balance.owed_minor,
        "balance": balance,
        "account": account,
        "account_missing": requirement_labels(account.missing) if account else [],
        "on_hold": on_hold,
        "blockers": payout_blockers(
            account=account, on_hold=on_hold, balance=balance, minimum_minor=minimum
        ),
        "minimum_minor": minimum,
        "hold_days": settings.EXPERTLINE_PAYOUT_HOLD_DAYS,
        "next_run_at": next_run_at(
            last_run_at=last_run.first(),
            now=now,
            every=timedelta(seconds=settings.EXPERTLINE_PAYOUT_SCHEDULE_SECONDS),
        ),
        "lines": list(
            PayoutLine.objects.filter(expert=user).select_related("batch").order_by("-id")[:50]
        ),
        "payout_account_url": reverse("payout_account"),
    }
