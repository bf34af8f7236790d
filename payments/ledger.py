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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import BigIntegerField, Case, F, OuterRef, Subquery, Sum, Value, When

from marketplace.models import User

from .models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, insert_once

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
    """Record one balanced money movement, once per key. Returns the (first) transaction."""
    merged: dict[str, int] = defaultdict(int)
    for line in lines:
        merged[line.account] += line.amount
    entries = {k: v for k, v in merged.items() if v != 0}
    if sum(entries.values()) != 0:
        raise LedgerError(f"{key}: entries sum to {sum(entries.values())}, not zero")
    if not entries:
        raise LedgerError(f"{key}: a transaction needs entries")
    txn = LedgerTransaction(
        key=key,
        kind=kind,
        memo=memo[:300],
        details=details or {},
        payment=payment,
        reverses=reverses,
    )
    # No savepoint: the key is claimed by an INSERT that does nothing when it exists, and
    # any other error rolls back the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        if not insert_once(txn, unique_field="key"):
            # Recorded before (or by a concurrent request, which we waited for): once.
            return LedgerTransaction.objects.get(key=key)
        accounts = _lock_accounts(sorted(entries), currency)
        for account_key, account in accounts.items():
            if account.currency != currency:
                raise LedgerError(f"{account_key} is in {account.currency}, not {currency}")
        LedgerEntry.objects.bulk_create(
            LedgerEntry(transaction=txn, account=accounts[k], amount_minor=v, currency=currency)
            for k, v in entries.items()
        )
        # Every cached balance in one UPDATE; the rows are already locked.
        LedgerAccount.objects.filter(pk__in=[a.pk for a in accounts.values()]).update(
            balance_minor=F("balance_minor")
            + Case(
                *(When(pk=accounts[k].pk, then=Value(v)) for k, v in entries.items()),
                output_field=BigIntegerField(),
            )
        )
        return txn


def _lock_accounts(keys: list[str], currency: str) -> dict[str, LedgerAccount]:
    """The accounts, locked in key order (PostgreSQL locks the rows of an ordered
    SELECT ... FOR UPDATE in that order), so concurrent postings cannot deadlock.
    An account used for the first time is created, then locked with the others."""

    def lock() -> dict[str, LedgerAccount]:
        rows = LedgerAccount.objects.select_for_update().filter(key__in=keys).order_by("key")
        return {a.key: a for a in rows}

    accounts = lock()
    missing = [k for k in keys if k not in accounts]
    if not missing:
        return accounts
    for account_key in missing:
        insert_once(
            LedgerAccount(key=account_key, currency=currency, user_id=_account_user(account_key)),
            unique_field="key",
        )
    return lock()


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


def post_many(postings: Sequence[Posting]) -> dict[str, LedgerTransaction]:
    """Record many balanced movements (a chunk of payouts) in a fixed number of statements,
    by the rules of `post`: once per key, entries summing to zero, cached balances updated
    in the same transaction, accounts locked in key order. Returns the transaction of each
    key (keys recorded before are returned as they are). A caller that may race another
    for the same key must hold a lock on its own row for it (a concurrent insert of one
    key raises IntegrityError here, and nothing of the call is recorded)."""
    prepared: list[tuple[Posting, dict[str, int]]] = []
    for p in postings:
        merged: dict[str, int] = defaultdict(int)
        for line in p.lines:
            merged[line.account] += line.amount
        entries = {k: v for k, v in merged.items() if v != 0}
        if sum(entries.values()) != 0:
            raise LedgerError(f"{p.key}: entries sum to {sum(entries.values())}, not zero")
        if not entries:
            raise LedgerError(f"{p.key}: a transaction needs entries")
        prepared.append((p, entries))
    with transaction.atomic():
        out = {
            t.key: t for t in LedgerTransaction.objects.filter(key__in=[p.key for p in postings])
        }
        new = [(p, e) for p, e in prepared if p.key not in out]
        if not new:
            return out
        currencies: dict[str, str] = {}
        for p, entries in new:
            for k in entries:
                if currencies.setdefault(k, p.currency) != p.currency:
                    raise LedgerError(f"{k}: postings in {currencies[k]} and {p.currency}")
        for k in sorted(currencies):  # rare: an account's first posting
            if not LedgerAccount.objects.filter(key=k).exists():
                LedgerAccount.objects.get_or_create(
                    key=k, defaults={"currency": currencies[k], "user_id": _account_user(k)}
                )
        # Lock in key order, as `post` does, so concurrent postings cannot deadlock.
        accounts = {
            a.key: a
            for a in LedgerAccount.objects.select_for_update()
            .filter(key__in=list(currencies))
            .order_by("key")
        }
        for k, a in accounts.items():
            if a.currency != currencies[k]:
                raise LedgerError(f"{k} is in {a.currency}, not {currencies[k]}")
        txns = LedgerTransaction.objects.bulk_create(
            LedgerTransaction(key=p.key, kind=p.kind, memo=p.memo[:300], details=p.details or {})
            for p, _ in new
        )
        deltas: dict[int, int] = defaultdict(int)
        rows = []
        for txn, (p, entries) in zip(txns, new, strict=True):
            out[p.key] = txn
            for k, v in entries.items():
                account = accounts[k]
                deltas[account.pk] += v
                rows.append(
                    LedgerEntry(
                        transaction=txn, account=account, amount_minor=v, currency=p.currency
                    )
                )
        LedgerEntry.objects.bulk_create(rows)
        # Each cached balance moves by the sum of the entries just written to it (one
        # statement; the rows are locked above).
        changed = [pk for pk, d in deltas.items() if d != 0]
        if changed:
            written = (
                LedgerEntry.objects.filter(
                    account=OuterRef("pk"), transaction_id__in=[t.pk for t in txns]
                )
                .values("account")
                .annotate(total=Sum("amount_minor"))
                .values("total")
            )
            LedgerAccount.objects.filter(pk__in=changed).update(
                balance_minor=F("balance_minor") + Subquery(written)
            )
        return out


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
