"""The append-only, double-entry ledger.

Entries are signed minor units: debit positive, credit negative. Each
transaction's entries sum to zero and its `key` is unique, so a movement
recorded twice is recorded once. Account balances are sums; the cached
`LedgerAccount.balance_minor` is updated in the same transaction and
`ledger_check()` proves it equals the sum.

Accounts used by the payments app:
  gateway:<name>:clearing     money held for us by the gateway (asset)
  gateway:<name>:disputed     money the gateway withheld for a chargeback (asset)
  customers:prepaid           paid for, not yet earned (liability)
  platform:revenue            our share (income)
  platform:member_costs       credits for Members' questions (expense)
  platform:protected_refunds  refunds the platform carried (expense)
  expert:<id>:payable         owed to an expert (liability: negative = we owe)
  expert:<id>:frozen          an expert's credit frozen by a chargeback (liability)
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Sum

from marketplace.models import User

from .models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    insert_many_once,
    insert_once,
)

CUSTOMERS_PREPAID = "customers:prepaid"
PLATFORM_REVENUE = "platform:revenue"
PLATFORM_MEMBER_COSTS = "platform:member_costs"
PLATFORM_PROTECTED_REFUNDS = "platform:protected_refunds"


def clearing(gateway: str) -> str:
    return f"gateway:{gateway}:clearing"


def disputed(gateway: str) -> str:
    return f"gateway:{gateway}:disputed"


def expert_payable(user_id: int) -> str:
    return f"expert:{user_id}:payable"


def expert_frozen(user_id: int) -> str:
    return f"expert:{user_id}:frozen"


class LedgerError(Exception):
    pass


@dataclass(frozen=True)
class Line:
    account: str
    amount: int  # signed minor units: debit +, credit -
    user_id: int | None = None


def _account_user(key: str) -> int | None:
    parts = key.split(":")
    if parts[0] == "expert" and len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def _entries(key: str, lines: Sequence[Line]) -> dict[str, int]:
    """The lines merged per account, checked: they sum to zero and are not empty."""
    merged: dict[str, int] = defaultdict(int)
    for line in lines:
        merged[line.account] += line.amount
    entries = {k: v for k, v in merged.items() if v != 0}
    if sum(entries.values()) != 0:
        raise LedgerError(f"{key}: entries sum to {sum(entries.values())}, not zero")
    if not entries:
        raise LedgerError(f"{key}: a transaction needs entries")
    return entries


def post(
    *,
    key: str,
    kind: str,
    memo: str,
    lines: Sequence[Line],
    currency: str,
    payment: Payment | None = None,
    details: dict[str, Any] | None = None,
    reverses: LedgerTransaction | None = None,
) -> LedgerTransaction:
    """Record one balanced money movement, once per key. Returns the (first) transaction.

    Inside `batched()` it is checked now and recorded when the batch ends, with the
    batch's other movements (the returned transaction gets its id then)."""
    posting = Posting(
        key=key,
        kind=kind,
        memo=memo,
        lines=lines,
        currency=currency,
        details=details,
        payment=payment,
        reverses=reverses,
    )
    pending = _Pending(posting, _entries(key, lines), _transaction(posting))
    batch: list[_Pending] | None = getattr(_batch, "pending", None)
    if batch is None:
        return _record([pending])[key]
    for earlier in batch:
        if earlier.txn.key == key:
            return earlier.txn  # once per key, in a batch too
    batch.append(pending)
    return pending.txn


_batch = threading.local()


@contextmanager
def batched() -> Iterator[None]:
    """Movements posted inside are recorded together when it ends, in the statements of
    one (see `_record`): for a transaction that moves money several times (a charge and
    the credits it pays for). The same rules as `post`; nothing is recorded if the block
    raises. Use it inside the caller's transaction, and read no balance inside it (the
    movements are not in the database yet). A nested `batched()` joins the outer one."""
    if getattr(_batch, "pending", None) is not None:
        yield
        return
    if not transaction.get_connection().in_atomic_block:
        raise LedgerError("batched() records in the caller's transaction: open one first")
    _batch.pending = []
    try:
        yield
        pending: list[_Pending] = _batch.pending
    finally:
        _batch.pending = None
    if pending:
        _record(pending)


@dataclass
class _Pending:
    posting: Posting
    entries: dict[str, int]
    txn: LedgerTransaction  # unsaved until recorded


def _transaction(p: Posting) -> LedgerTransaction:
    return LedgerTransaction(
        key=p.key,
        kind=p.kind,
        memo=p.memo[:300],
        details=p.details or {},
        payment=p.payment,
        reverses=p.reverses,
    )


def _record(items: list[_Pending]) -> dict[str, LedgerTransaction]:
    """Record movements in three statements however many there are: the keys claimed by
    one `INSERT ... ON CONFLICT DO NOTHING` (a key recorded before, or by a concurrent
    transaction we waited for, is skipped: once), every account touched locked in key
    order and its cached balance moved by one `UPDATE`, the entries by one `INSERT`.
    Returns the transaction of each key (the first one, for keys recorded before)."""
    # No savepoint: any error here rolls back the caller's whole transaction.
    with transaction.atomic(savepoint=False):
        claimed = {t.key for t in insert_many_once([i.txn for i in items], unique_field="key")}
        out = {i.txn.key: i.txn for i in items if i.txn.key in claimed}
        earlier = [i.txn.key for i in items if i.txn.key not in claimed]
        if earlier:
            for txn in LedgerTransaction.objects.filter(key__in=earlier):
                out[txn.key] = txn
            for i in items:  # what `post` returned in a batch names the first one
                if i.txn.key not in claimed and i.txn.key in out:
                    i.txn.pk = out[i.txn.key].pk
                    i.txn._state.adding = False
        new = [i for i in items if i.txn.key in claimed]
        if not new:
            return out
        deltas: dict[str, int] = defaultdict(int)
        currencies: dict[str, str] = {}
        for i in new:
            for k, v in i.entries.items():
                deltas[k] += v
                if currencies.setdefault(k, i.posting.currency) != i.posting.currency:
                    raise LedgerError(f"{k}: postings in {currencies[k]} and {i.posting.currency}")
        accounts = _move_balances(deltas, currencies)
        LedgerEntry.objects.bulk_create(
            LedgerEntry(
                transaction=i.txn,
                account_id=accounts[k],
                amount_minor=v,
                currency=i.posting.currency,
            )
            for i in new
            for k, v in i.entries.items()
        )
        return out


def _move_balances(deltas: dict[str, int], currencies: dict[str, str]) -> dict[str, int]:
    """Lock the accounts in key order (PostgreSQL locks the rows of an ordered
    SELECT ... FOR UPDATE in that order, so concurrent postings cannot deadlock) and move
    each cached balance by its delta, in one statement; an account used for the first time
    is created first. Returns each account's id."""
    found = _update_balances(deltas, currencies)
    missing = sorted(k for k in deltas if k not in found)
    if missing:
        for account_key in missing:
            insert_once(
                LedgerAccount(
                    key=account_key,
                    currency=currencies[account_key],
                    user_id=_account_user(account_key),
                ),
                unique_field="key",
            )
        found.update(_update_balances({k: deltas[k] for k in missing}, currencies))
    return found


def _update_balances(deltas: dict[str, int], currencies: dict[str, str]) -> dict[str, int]:
    keys = sorted(deltas)
    connection = transaction.get_connection()
    qn = connection.ops.quote_name
    table = qn(LedgerAccount._meta.db_table)
    key, balance, pk, cur = (qn(c) for c in ("key", "balance_minor", "id", "currency"))
    cases = " ".join(f"WHEN {key} = %s THEN %s" for _ in keys)
    marks = ", ".join(["%s"] * len(keys))
    params: list[object] = [v for k in keys for v in (k, deltas[k])]
    if connection.features.has_select_for_update:
        where = (
            f"{pk} IN (SELECT {pk} FROM {table} WHERE {key} IN ({marks}) "  # noqa: S608
            f"ORDER BY {key} FOR UPDATE)"
        )
    else:  # SQLite: one writer at a time
        where = f"{key} IN ({marks})"
    params.extend(keys)
    # Identifiers are quoted from the model; keys and amounts are parameters.
    sql = (
        f"UPDATE {table} SET {balance} = {balance} + CASE {cases} ELSE 0 END "  # noqa: S608
        f"WHERE {where} RETURNING {pk}, {key}, {cur}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found: dict[str, int] = {}
    for account_id, account_key, currency in rows:
        if currency != currencies[account_key]:
            raise LedgerError(f"{account_key} is in {currency}, not {currencies[account_key]}")
        found[account_key] = account_id
    return found


def reverse(
    *,
    original: LedgerTransaction,
    key: str,
    memo: str,
    kind: str = "reversal",
    swap: dict[str, str] | None = None,
) -> LedgerTransaction:
    """Post the negation of `original` (once). `swap` moves a leg to another account,
    e.g. an expert's frozen account instead of the payable one."""
    swap = swap or {}
    lines = [
        Line(swap.get(e.account.key, e.account.key), -e.amount_minor)
        for e in original.entries.select_related("account")
    ]
    currency = original.entries.values_list("currency", flat=True).first() or "USD"
    return post(
        key=key,
        kind=kind,
        memo=memo,
        lines=lines,
        currency=currency,
        payment=original.payment,
        details={"reverses": original.key},
        reverses=original,
    )


@dataclass(frozen=True)
class Posting:
    """One movement for `post_many`: the same fields as `post` takes."""

    key: str
    kind: str
    memo: str
    lines: Sequence[Line]
    currency: str
    details: dict[str, Any] | None = None
    payment: Payment | None = None
    reverses: LedgerTransaction | None = None


def post_many(postings: Sequence[Posting]) -> dict[str, LedgerTransaction]:
    """Record many balanced movements (a chunk of payouts) in a fixed number of statements,
    by the rules of `post`: once per key, entries summing to zero, cached balances updated
    in the same transaction, accounts locked in key order. Returns the transaction of each
    key (keys recorded before are returned as they are)."""
    items: list[_Pending] = []
    seen: set[str] = set()
    for p in postings:
        entries = _entries(p.key, p.lines)
        if p.key not in seen:
            seen.add(p.key)
            items.append(_Pending(p, entries, _transaction(p)))
    return _record(items) if items else {}


def balance(account_key: str) -> int:
    """The account's balance: the sum of its entries (signed, minor units)."""
    value = (
        LedgerEntry.objects.filter(account__key=account_key)
        .aggregate(total=Sum("amount_minor"))
        .get("total")
    )
    return int(value or 0)


def expert_balance(user: User) -> int:
    """What we owe the expert now (minor units): the payable account, credit-positive."""
    cached = (
        LedgerAccount.objects.filter(key=expert_payable(user.pk))
        .values_list("balance_minor", flat=True)
        .first()
    )
    return -int(cached or 0)


@dataclass(frozen=True)
class Problem:
    what: str
    detail: str


def check() -> list[Problem]:
    """Every transaction sums to zero; every cached balance equals its entries' sum."""
    problems: list[Problem] = []
    unbalanced = (
        LedgerEntry.objects.values("transaction__key")
        .annotate(total=Sum("amount_minor"))
        .exclude(total=0)
    )
    for row in unbalanced:
        problems.append(
            Problem("unbalanced transaction", f"{row['transaction__key']}: {row['total']}")
        )
    sums = dict(LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount_minor")))
    for account in LedgerAccount.objects.all().iterator():
        real = int(sums.get(account.pk) or 0)
        if real != account.balance_minor:
            problems.append(
                Problem(
                    "cached balance differs",
                    f"{account.key}: cached {account.balance_minor}, sum {real}",
                )
            )
    empty = LedgerTransaction.objects.filter(entries__isnull=True).values_list("key", flat=True)
    problems.extend(Problem("transaction without entries", k) for k in empty)
    return problems


def transactions_for_payment(payment: Payment, kinds: Iterable[str]) -> list[LedgerTransaction]:
    return list(payment.ledger_transactions.filter(kind__in=list(kinds)).order_by("id"))
