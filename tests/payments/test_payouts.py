"""Expert payouts (payments.payouts): the available-balance rule, the payout job exactly once,
failures, holds, the payout account pages and the earnings page.

Credits are posted in the past with time-machine (the refund hold window is 14 days by
default); the job pays through the local gateway, whose transfers we count directly.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace import roles
from marketplace.celery import app as celery_app
from marketplace.errors import Conflict, Forbidden
from marketplace.models import User
from payments import ledger, payouts, services
from payments.gateway import get_gateway
from payments.gateway.base import GatewayUnavailable
from payments.gateway.local import LocalGateway
from payments.models import (
    LedgerTransaction,
    LocalGatewayObject,
    PayoutAccount,
    PayoutBatch,
    PayoutHold,
    PayoutLine,
    PayoutLineStatus,
    PayoutMaturity,
)
from payments.payout_tasks import pay_payout_lines, run_payouts
from tests.factories import UserFactory, make_category, make_expert

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


# --- helpers -------------------------------------------------------------------------


def connect(expert: User, *, complete: bool = True) -> PayoutAccount:
    """The expert connects a payout account through the local gateway's onboarding."""
    payouts.payout_account_connect(user=expert, return_url="/r/", refresh_url="/f/")
    account = PayoutAccount.objects.get(user=expert)
    local = get_gateway()
    assert isinstance(local, LocalGateway)
    local.payout_account_onboard(account_id=account.account_id, complete=complete)
    return payouts.payout_account_sync(account_id=account.account_id)


_n = [0]


def credit(expert: User, amount: int, *, days_ago: float = 20) -> LedgerTransaction:
    """A credit of `amount` posted `days_ago` days ago (a Member's question: no payment)."""
    _n[0] += 1
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False):
        txn = services.expert_credit(
            key=f"test-credit-{_n[0]}",
            expert=expert,
            amount_minor=amount,
            currency="USD",
            memo=f"Question #{_n[0]}",
            funded_by="member",
        )
    assert txn is not None
    return txn


def reverse_credit(txn: LedgerTransaction, *, days_ago: float = 0) -> None:
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False):
        ledger.reverse(original=txn, key=f"{txn.key}-reversal", memo=f"Reversal of {txn.memo}")


def pay_inline(line_ids: list[int]) -> None:
    payouts.payout_lines_pay(line_ids=line_ids)


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[..., PayoutBatch]:
    """Run the payout job in this process; its pay chunks run once their lines commit."""
    counter = [0]

    def go(run_key: str | None = None) -> PayoutBatch:
        counter[0] += 1
        with django_capture_on_commit_callbacks(execute=True):
            batch = payouts.payout_run(
                run_key=run_key or f"test-run-{counter[0]}", dispatch=pay_inline
            )
        batch.refresh_from_db()
        return batch

    return go


def transfers_to(account: PayoutAccount) -> list[int]:
    rows = LocalGatewayObject.objects.filter(kind="transfer", data__destination=account.account_id)
    return [int(r.data["amount"]) for r in rows]


def lines_of(expert: User) -> list[tuple[str, int]]:
    return list(
        PayoutLine.objects.filter(expert=expert)
        .order_by("id")
        .values_list("status", "amount_minor")
    )


@pytest.fixture
def category() -> Any:
    return make_category()


@pytest.fixture
def expert(category: Any) -> User:
    return make_expert(category)


# --- the rule (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owed", "pending", "available"),
    [
        (5000, 0, 5000),
        (5000, 2000, 3000),
        (5000, 5000, 0),
        (2000, 5000, 0),  # a reversal of an old credit eats into the pending ones first
        (-1500, 0, 0),  # negative balance: nothing to pay
        (-1500, 3000, 0),
        (0, 0, 0),
    ],
)
def test_available_is_owed_less_pending_never_negative(owed: int, pending: int, available: int):
    assert payouts.available_minor(owed_minor=owed, pending_minor=pending) == available


@pytest.mark.parametrize(
    ("available", "minimum", "due"),
    [(1999, 2000, False), (2000, 2000, True), (2001, 2000, True), (0, 0, False), (1, 0, True)],
)
def test_payout_due_at_the_minimum(available: int, minimum: int, due: bool):
    assert payouts.payout_due(available=available, minimum=minimum) is due


def test_next_run_follows_the_interval_from_the_last_run():
    now = timezone.now()
    every = DAY
    assert payouts.next_run_at(last_run_at=now - timedelta(hours=3), now=now, every=every) == (
        now + timedelta(hours=21)
    )
    # Runs were missed: the next step of the interval after now.
    assert payouts.next_run_at(
        last_run_at=now - timedelta(days=3, hours=1), now=now, every=every
    ) == now + timedelta(hours=23)
    assert payouts.next_run_at(last_run_at=None, now=now, every=every) == now + every


def test_requirement_codes_are_said_in_the_experts_words():
    assert payouts.requirement_labels(
        ["external_account", "individual.dob.day", "individual.id_number", "tos_acceptance.date"]
    ) == ["bank account", "your identity details", "acceptance of the terms of service"]


# --- the balance ------------------------------------------------------------------------


def test_credits_inside_the_hold_window_are_pending(expert: User):
    credit(expert, 3000, days_ago=20)
    credit(expert, 2500, days_ago=13)
    credit(expert, 1000, days_ago=1)

    balance = payouts.payout_balance_get(user=expert)

    assert (balance.owed_minor, balance.pending_minor, balance.available_minor) == (
        6500,
        3500,
        3000,
    )
    assert balance.next_release_at is not None
    assert abs(balance.next_release_at - (timezone.now() + DAY)) < timedelta(minutes=1)


def test_balance_with_the_cursor_equals_the_full_sum_at_every_step(expert: User, run):
    connect(expert)
    start = timezone.now() - timedelta(days=60)
    credits = []
    for day in range(0, 60, 3):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            credits.append(credit(expert, 700 + day, days_ago=0))
            if day % 9 == 0 and len(credits) > 2:
                reverse_credit(credits[-3])
            payout = run()  # moves the cursor as time passes
            assert payout.status == PayoutBatch.Status.DONE
            fast = payouts.payout_balance_get(user=expert)
            full = payouts.payout_balance_full(user=expert)
            assert (fast.owed_minor, fast.pending_minor) == (full.owed_minor, full.pending_minor)
    assert PayoutMaturity.objects.filter(account__key=ledger.expert_payable(expert.pk)).exists()
    # Back in time (a cursor proved for a later cutoff is not used for an earlier one).
    with time_machine.travel(start + timedelta(days=30), tick=False):
        fast = payouts.payout_balance_get(user=expert)
        full = payouts.payout_balance_full(user=expert)
        assert fast.pending_minor == full.pending_minor


def test_balance_takes_two_queries(expert: User, run, django_assert_num_queries):
    connect(expert)
    for days_ago in (40, 30, 2):
        credit(expert, 1500, days_ago=days_ago)
    run()
    with django_assert_num_queries(2):
        payouts.payout_balance_get(user=expert)


def _entry_rows_read(plan: Any) -> int:
    """The most rows any one scan of ledger entries in the plan returned (all its loops)."""
    rows = 0
    if plan.get("Relation Name") == "payments_ledgerentry":
        rows = plan["Actual Rows"] * plan["Actual Loops"]
    return max([rows, *(_entry_rows_read(child) for child in plan.get("Plans", []))])


def test_the_balance_reads_only_the_entries_after_the_cursor(expert: User, run):
    """An expert with a long history: after the job moved the cursor, the balance reads
    the entries still in the hold window, not the whole history."""
    connect(expert)
    for i in range(30):
        credit(expert, 100, days_ago=200 - i)
    credit(expert, 900, days_ago=2)
    run()
    cursor_row = PayoutMaturity.objects.get(account__key=ledger.expert_payable(expert.pk))
    young = LedgerTransaction.objects.order_by("-id").filter(kind="credit").first()
    assert young is not None
    assert cursor_row.through_transaction_id == young.pk - 1  # up to the pending credit

    with CaptureQueriesContext(connection) as queries:
        balance = payouts.payout_balance_get(user=expert)
    assert (balance.owed_minor, balance.pending_minor) == (900, 900)
    pending_sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {pending_sql}")
        [[plan]] = cursor.fetchone()
    assert _entry_rows_read(plan["Plan"]) <= 1


# --- the job ----------------------------------------------------------------------------


def test_available_balance_is_paid_once_through_the_gateway_and_the_ledger(expert: User, run):
    account = connect(expert)
    credit(expert, 3000, days_ago=30)
    credit(expert, 1200, days_ago=15)
    credit(expert, 800, days_ago=3)  # inside the hold window: not paid

    batch = run()

    [line] = batch.lines.all()
    assert (line.status, line.amount_minor, line.currency) == ("paid", 4200, "USD")
    assert (line.owed_minor, line.pending_minor) == (5000, 800)
    assert line.transfer_id.startswith("tr_local_")
    assert transfers_to(account) == [4200]
    txn = LedgerTransaction.objects.get(key=f"payout-line-{line.pk}")
    assert txn.kind == "payout" and line.ledger_transaction_id == txn.pk
    assert {(e.account.key, e.amount_minor) for e in txn.entries.select_related("account")} == {
        (ledger.expert_payable(expert.pk), 4200),
        (ledger.clearing("local"), -4200),
    }
    assert ledger.expert_balance(expert) == 800
    assert batch.status == PayoutBatch.Status.DONE
    assert payouts.payout_balance_get(user=expert).available_minor == 0


def test_running_the_job_again_pays_nobody_twice(expert: User, category, run):
    other = make_expert(category)
    accounts = [connect(expert), connect(other)]
    credit(expert, 3000)
    credit(other, 4500)

    first, second, third = run(), run(), run()

    assert first.lines.count() == 2
    assert second.lines.count() == 0 and third.lines.count() == 0
    assert [transfers_to(a) for a in accounts] == [[3000], [4500]]
    assert ledger.expert_balance(expert) == 0 and ledger.expert_balance(other) == 0


def test_credits_inside_the_hold_window_are_not_paid(expert: User, run, settings):
    account = connect(expert)
    credit(expert, 5000, days_ago=13.9)

    assert run().lines.count() == 0
    assert transfers_to(account) == []

    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        batch = run()
    assert [line.amount_minor for line in batch.lines.all()] == [5000]

    settings.EXPERTLINE_PAYOUT_HOLD_DAYS = 30
    credit(expert, 9000, days_ago=20)
    assert run().lines.count() == 0  # the window follows the setting


def test_a_negative_balance_is_netted_against_later_credits(expert: User, run):
    account = connect(expert)
    paid_out = credit(expert, 5000, days_ago=40)
    run()
    assert transfers_to(account) == [5000]
    reverse_credit(paid_out, days_ago=20)  # refunded after it was paid: we are owed 50.00
    assert ledger.expert_balance(expert) == -5000

    credit(expert, 3000, days_ago=18)
    assert run().lines.count() == 0  # -50.00 + 30.00: still negative
    credit(expert, 4500, days_ago=16)
    credit(expert, 9999, days_ago=2)  # pending: not netted, not paid

    batch = run()

    [line] = batch.lines.all()
    assert line.amount_minor == 2500  # -5000 + 3000 + 4500
    assert transfers_to(account) == [5000, 2500]
    assert ledger.expert_balance(expert) == 9999


def test_balances_under_the_minimum_wait(expert: User, run, settings):
    account = connect(expert)
    credit(expert, 1999)
    assert run().lines.count() == 0
    credit(expert, 1)
    assert [line.amount_minor for line in run().lines.all()] == [2000]
    settings.EXPERTLINE_PAYOUT_MINIMUM_MINOR = 5000
    credit(expert, 4999)
    assert run().lines.count() == 0
    assert transfers_to(account) == [2000]


def test_no_line_without_a_ready_payout_account(expert: User, category, run):
    unfinished = make_expert(category)
    connect(unfinished, complete=False)
    nothing = make_expert(category)
    for e in (expert, unfinished, nothing):
        credit(e, 5000)

    assert run().lines.count() == 0
    assert PayoutAccount.objects.get(user=unfinished).missing == ["external_account"]


def test_each_line_is_keyed_by_its_id_at_the_gateway(expert: User, run):
    account = connect(expert)
    credit(expert, 2500)
    [line] = run().lines.all()
    [transfer] = LocalGatewayObject.objects.filter(kind="transfer")
    assert transfer.data["transfer_group"] == f"payout-line-{line.pk}"
    assert transfer.data["metadata"]["payout_line"] == str(line.pk)
    assert transfer.data["destination"] == account.account_id


def test_the_task_delivered_twice_pays_each_line_once(
    expert: User, category, run, django_capture_on_commit_callbacks
):
    other = make_expert(category)
    accounts = [connect(expert), connect(other)]
    credit(expert, 3000)
    credit(other, 2200)

    with django_capture_on_commit_callbacks(execute=True):
        first: Any = run_payouts.apply(task_id="beat-2024-06-01").result
    with django_capture_on_commit_callbacks(execute=True):
        again: Any = run_payouts.apply(task_id="beat-2024-06-01").result
    # A pay task delivered again finds its lines paid.
    line_ids = list(PayoutLine.objects.values_list("pk", flat=True))
    assert pay_payout_lines.apply(args=(line_ids,)).result == {"paid": 2}

    assert first["batch"] == again["batch"]
    assert PayoutBatch.objects.count() == 1
    assert [transfers_to(a) for a in accounts] == [[3000], [2200]]
    assert PayoutLine.objects.filter(status="paid").count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_time_pay_each_line_once():
    assert connection.vendor == "postgresql", "row locks need PostgreSQL to be tested"
    category = make_category()
    experts = [make_expert(category) for _ in range(12)]
    accounts = {e.pk: connect(e) for e in experts}
    eligible = 0
    for i, e in enumerate(experts):
        credit(e, 2000 + 100 * i, days_ago=20)
        credit(e, 700, days_ago=2)  # pending
        eligible += 2000 + 100 * i
    barrier = threading.Barrier(6)
    errors: list[str] = []

    def job(i: int) -> None:
        try:
            barrier.wait()
            # Odd: runs of their own; even: one task delivered three times, at once.
            result = run_payouts.apply(task_id=f"beat-{i}" if i % 2 else "beat-same")
            assert result.successful(), result.traceback
        except Exception as exc:  # any exception is a bug
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    for e in experts:
        assert [s for s, _ in lines_of(e)] == ["paid"], e
        assert len(transfers_to(accounts[e.pk])) == 1
        assert ledger.expert_balance(e) == 700
    paid = sum(PayoutLine.objects.filter(status="paid").values_list("amount_minor", flat=True))
    assert paid == eligible
    assert sum(sum(transfers_to(a)) for a in accounts.values()) == eligible
    assert PayoutLine.objects.exclude(status="paid").count() == 0
    assert not PayoutBatch.objects.exclude(status=PayoutBatch.Status.DONE).exists()
    assert ledger.check() == []


@pytest.mark.django_db(transaction=True)
def test_many_workers_paying_the_same_lines_send_each_once(monkeypatch):
    """Eight workers get the same eight lines (a pay task delivered eight times): the
    claim lets one worker send each line, so the gateway is asked once per line (its
    idempotency key alone would hide a second request; Stripe forgets keys after a day)."""
    assert connection.vendor == "postgresql"
    category = make_category()
    experts = [make_expert(category) for _ in range(8)]
    accounts = [connect(e) for e in experts]
    for e in experts:
        credit(e, 2500)
    batch = payouts.payout_run(run_key="collect", dispatch=lambda ids: None)
    line_ids = list(batch.lines.values_list("pk", flat=True))
    assert len(line_ids) == 8
    sent: list[str] = []
    real = LocalGateway.transfer_create

    def counted(self: LocalGateway, **kwargs: Any) -> Any:
        sent.append(kwargs["idempotency_key"])
        return real(self, **kwargs)

    monkeypatch.setattr(LocalGateway, "transfer_create", counted)
    barrier = threading.Barrier(8)
    errors: list[str] = []

    def worker() -> None:
        try:
            barrier.wait()
            payouts.payout_lines_pay(line_ids=line_ids)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(sent) == sorted(f"payout-line-{pk}" for pk in line_ids)
    assert [transfers_to(a) for a in accounts] == [[2500]] * 8
    assert LedgerTransaction.objects.filter(kind="payout").count() == 8
    assert ledger.check() == []


def test_the_job_walks_accounts_and_lines_a_few_at_a_time_paying_everyone_once(
    category, run, monkeypatch
):
    """Small chunks everywhere (accounts per transaction, lines per task, lines per
    recording): every expert is reached by the keyset walk and paid exactly once."""
    monkeypatch.setattr(payouts, "CREATE_CHUNK", 2)
    monkeypatch.setattr(payouts, "PAY_CHUNK", 3)
    monkeypatch.setattr(payouts, "RECORD_CHUNK", 2)
    experts = [make_expert(category) for _ in range(7)]
    accounts = [connect(e) for e in experts]
    for i, e in enumerate(experts):
        credit(e, 2000 + i)

    batch = run()

    assert [transfers_to(a) for a in accounts] == [[2000 + i] for i in range(7)]
    assert sorted(batch.lines.values_list("status", flat=True)) == ["paid"] * 7
    for line in batch.lines.all():
        assert line.ledger_transaction is not None
        assert line.ledger_transaction.key == f"payout-line-{line.pk}"
        assert line.ledger_transaction.details["transfer"] == line.transfer_id
    assert all(ledger.expert_balance(e) == 0 for e in experts)
    assert ledger.check() == []
    assert batch.status == PayoutBatch.Status.DONE
    assert run().lines.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_line_another_worker_holds_is_skipped_not_waited_for():
    """A worker meets a line whose row another worker has locked (claiming or recording
    it): it pays the others at once and leaves that one to its holder."""
    assert connection.vendor == "postgresql"
    category = make_category()
    experts = [make_expert(category) for _ in range(3)]
    accounts = [connect(e) for e in experts]
    for e in experts:
        credit(e, 2500)
    batch = payouts.payout_run(run_key="collect", dispatch=lambda ids: None)
    line_ids = sorted(batch.lines.values_list("pk", flat=True))
    held = threading.Event()
    done = threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                PayoutLine.objects.select_for_update().get(pk=line_ids[1])
                held.set()
                done.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with connection.cursor() as cursor:  # waiting for the row would fail, not hang
            cursor.execute("SET lock_timeout = '3s'")
        counts = payouts.payout_lines_pay(line_ids=line_ids)
    finally:
        done.set()
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert counts == {"paid": 2, "pending": 1}
    assert [transfers_to(a) for a in accounts] == [[2500], [], [2500]]
    assert payouts.payout_lines_pay(line_ids=line_ids) == {"paid": 3}
    assert [transfers_to(a) for a in accounts] == [[2500]] * 3
    assert ledger.check() == []


# --- failures ---------------------------------------------------------------------------


def test_a_refused_transfer_fails_the_line_posts_nothing_and_a_later_run_pays(expert: User, run):
    account = connect(expert)
    credit(expert, 3000)
    # The expert's account stopped being able to receive at the gateway; we do not know yet.
    gateway = get_gateway()
    assert isinstance(gateway, LocalGateway)
    gateway.payout_account_onboard(account_id=account.account_id, complete=False)

    [line] = run().lines.all()

    assert line.status == PayoutLineStatus.FAILED
    assert line.failure_code == "account_not_ready"
    assert "cannot receive transfers" in line.failure_message
    assert not LedgerTransaction.objects.filter(kind="payout").exists()
    assert transfers_to(account) == []
    assert ledger.expert_balance(expert) == 3000
    account.refresh_from_db()
    assert account.status == PayoutAccount.Status.ONBOARDING  # synced after the refusal
    assert run().lines.count() == 0  # not ready: no new line

    gateway.payout_account_onboard(account_id=account.account_id, complete=True)
    payouts.payout_account_sync(account_id=account.account_id)
    [again] = run().lines.all()

    assert again.pk != line.pk and again.status == "paid"
    assert transfers_to(account) == [3000]
    assert ledger.expert_balance(expert) == 0


def test_a_lost_answer_is_found_by_its_key_and_paid_once(expert: User, run, monkeypatch):
    account = connect(expert)
    credit(expert, 3000)
    real = LocalGateway.transfer_create

    def made_then_lost(self: LocalGateway, **kwargs: Any) -> Any:
        real(self, **kwargs)  # the transfer happens...
        raise GatewayUnavailable()  # ...and its answer is lost

    monkeypatch.setattr(LocalGateway, "transfer_create", made_then_lost)
    [line] = run().lines.all()
    assert (line.status, line.attempts, line.failure_code) == ("pending", 1, "gateway_unavailable")
    assert transfers_to(account) == [3000]
    assert not LedgerTransaction.objects.filter(kind="payout").exists()
    monkeypatch.undo()

    run()  # the next run sends the line again: it finds the transfer

    line.refresh_from_db()
    assert (line.status, line.attempts) == ("paid", 2)
    assert transfers_to(account) == [3000]
    assert ledger.expert_balance(expert) == 0


def test_no_answer_at_all_is_sent_again_with_the_same_key(expert: User, run, monkeypatch):
    account = connect(expert)
    credit(expert, 3000)
    keys: list[str] = []
    real = LocalGateway.transfer_create

    def down(self: LocalGateway, **kwargs: Any) -> Any:
        keys.append(kwargs["idempotency_key"])
        raise GatewayUnavailable()

    monkeypatch.setattr(LocalGateway, "transfer_create", down)
    [line] = run().lines.all()
    assert line.status == "pending" and transfers_to(account) == []

    def up(self: LocalGateway, **kwargs: Any) -> Any:
        keys.append(kwargs["idempotency_key"])
        return real(self, **kwargs)

    monkeypatch.setattr(LocalGateway, "transfer_create", up)
    pay_payout_lines.apply(args=([line.pk],))

    line.refresh_from_db()
    assert line.status == "paid"
    assert keys == [f"payout-line-{line.pk}"] * 2
    assert transfers_to(account) == [3000]


def test_a_stale_claim_is_taken_over_and_paid_once(expert: User, run, monkeypatch):
    account = connect(expert)
    credit(expert, 3000)
    batch = payouts.payout_run(run_key="died", dispatch=lambda ids: None)
    [line] = batch.lines.all()
    # A worker claimed the line and died before the gateway answered (the transfer went out).
    assert payouts._line_claim(line.pk, timezone.now())
    get_gateway().transfer_create(
        amount=3000,
        currency="USD",
        destination=account.account_id,
        idempotency_key=line.idempotency_key,
        metadata={
            "payout_line": str(line.pk),
            "payout_batch": str(batch.pk),
            "expert": str(expert.pk),
        },
    )

    run()  # a claim of a minute ago is not taken over
    line.refresh_from_db()
    assert line.status == "processing"

    with time_machine.travel(timezone.now() + payouts.STALE_CLAIM + timedelta(minutes=1)):
        run()

    line.refresh_from_db()
    assert (line.status, line.attempts) == ("paid", 2)
    assert transfers_to(account) == [3000]
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DONE


def test_a_worker_stopped_mid_chunk_keeps_what_it_sent_and_the_rest_is_paid_once(
    category, run, monkeypatch
):
    """The worker stops at the third transfer, after it went out (a time limit, a bug):
    the two before it are recorded at once; the third is found by its key after the claim
    goes stale, and the last two are sent then. Nobody is paid twice."""
    monkeypatch.setattr(payouts, "PAY_CHUNK", 2)  # the lines left are re-sent in chunks
    experts = [make_expert(category) for _ in range(5)]
    accounts = [connect(e) for e in experts]
    for e in experts:
        credit(e, 3000)
    real = LocalGateway.transfer_create
    sent: list[str] = []

    def stops_at_the_third(self: LocalGateway, **kwargs: Any) -> Any:
        sent.append(kwargs["idempotency_key"])
        result = real(self, **kwargs)
        if len(sent) == 3:
            raise RuntimeError("worker stopped")
        return result

    monkeypatch.setattr(LocalGateway, "transfer_create", stops_at_the_third)
    batch = payouts.payout_run(run_key="stopped", dispatch=lambda ids: None)
    line_ids = sorted(batch.lines.values_list("pk", flat=True))
    with pytest.raises(RuntimeError):
        payouts.payout_lines_pay(line_ids=line_ids)
    monkeypatch.setattr(LocalGateway, "transfer_create", real)

    statuses = dict(PayoutLine.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in line_ids] == ["paid", "paid"] + ["processing"] * 3
    assert [len(transfers_to(a)) for a in accounts] == [1, 1, 1, 0, 0]
    assert ledger.check() == []

    run()  # the claims are fresh: nobody takes them over yet
    assert PayoutLine.objects.filter(status="processing").count() == 3

    with time_machine.travel(timezone.now() + payouts.STALE_CLAIM + timedelta(minutes=1)):
        run()

    assert sorted(PayoutLine.objects.values_list("status", flat=True)) == ["paid"] * 5
    assert [transfers_to(a) for a in accounts] == [[3000]] * 5
    assert all(ledger.expert_balance(e) == 0 for e in experts)
    assert LedgerTransaction.objects.filter(kind="payout").count() == 5
    assert ledger.check() == []
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DONE


# --- holds ------------------------------------------------------------------------------


def staff() -> User:
    return cast(User, UserFactory(is_staff=True))


@pytest.fixture
def finance() -> User:
    roles.ensure_staff_groups()
    user = staff()
    user.groups.add(Group.objects.get(name=roles.FINANCE))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def care() -> User:
    roles.ensure_staff_groups()
    user = staff()
    user.groups.add(Group.objects.get(name=roles.CUSTOMER_CARE))
    return User.objects.get(pk=user.pk)


def test_an_expert_on_hold_gets_no_line_until_released(expert: User, run, finance: User):
    account = connect(expert)
    credit(expert, 3000)
    hold = payouts.payout_hold_place(expert=expert, staff=finance, reason="Identity check")

    assert run().lines.count() == 0
    with pytest.raises(Conflict):
        payouts.payout_hold_place(expert=expert, staff=finance, reason="Again")

    payouts.payout_hold_release(hold_id=hold.pk, staff=finance, note="Identity confirmed")
    assert [line.amount_minor for line in run().lines.all()] == [3000]
    assert transfers_to(account) == [3000]
    hold.refresh_from_db()
    assert (hold.released_by, hold.release_note) == (finance, "Identity confirmed")


def test_a_hold_cancels_the_line_not_yet_sent(expert: User, run, finance: User):
    account = connect(expert)
    credit(expert, 3000)
    batch = payouts.payout_run(run_key="lines-only", dispatch=lambda ids: None)
    [line] = batch.lines.all()

    payouts.payout_hold_place(expert=expert, staff=finance, reason="Chargebacks under review")
    run()

    line.refresh_from_db()
    assert line.status == PayoutLineStatus.CANCELLED
    assert [e.note for e in line.events.all()][-1] == "payouts held: Chargebacks under review"
    assert transfers_to(account) == []
    assert ledger.expert_balance(expert) == 3000
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DONE


def test_only_finance_holds_and_releases(expert: User, care: User, finance: User):
    with pytest.raises(Forbidden):
        payouts.payout_hold_place(expert=expert, staff=care, reason="x")
    hold = payouts.payout_hold_place(expert=expert, staff=finance, reason="x")
    with pytest.raises(Forbidden):
        payouts.payout_hold_release(hold_id=hold.pk, staff=care, note="y")


def _admin(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def no_staff_mfa(settings: Any) -> None:
    # The admin's two-factor step is tested elsewhere (and in the browser).
    settings.EXPERTLINE_STAFF_MFA_REQUIRED = False


def test_finance_holds_and_releases_in_the_admin_with_reasons(
    expert: User, finance: User, care: User, no_staff_mfa: None
):
    connect(expert)
    client = _admin(finance)

    response = client.post(
        reverse("admin:payments_payouthold_add"),
        {"expert": expert.pk, "reason": "Customer complaints under review"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hold = PayoutHold.objects.get(expert=expert)
    assert (hold.placed_by, hold.reason, hold.is_active) == (
        finance,
        "Customer complaints under review",
        True,
    )

    changelist = reverse("admin:payments_payouthold_changelist")
    asked = client.post(changelist, {"action": "release", "_selected_action": [hold.pk]})
    assert asked.status_code == 200 and "Why are the payouts released?" in asked.content.decode()
    done = client.post(
        changelist,
        {"action": "release", "_selected_action": [hold.pk], "apply": "1", "reason": "Resolved"},
    )
    assert done.status_code == 302
    hold.refresh_from_db()
    assert (hold.is_active, hold.release_note, hold.released_by) == (False, "Resolved", finance)

    # Customer Care sees holds, batches and lines, and cannot hold.
    care_client = _admin(care)
    assert care_client.get(changelist).status_code == 200
    assert care_client.get(reverse("admin:payments_payoutbatch_changelist")).status_code == 200
    assert care_client.get(reverse("admin:payments_payouthold_add")).status_code == 403


def test_finance_sees_batches_with_their_lines(
    expert: User, run, finance: User, no_staff_mfa: None
):
    connect(expert)
    credit(expert, 3000)
    batch = run()
    client = _admin(finance)

    listing = client.get(reverse("admin:payments_payoutbatch_changelist")).content.decode()
    page = client.get(
        reverse("admin:payments_payoutbatch_change", args=[batch.pk])
    ).content.decode()

    assert "$30.00" in listing
    assert "Paid: 1 ($30.00)" in page
    assert expert.email in page
    line = batch.lines.get()
    assert (
        client.get(reverse("admin:payments_payoutline_change", args=[line.pk])).status_code == 200
    )


def test_finance_holds_from_the_payout_accounts_list(
    expert: User, finance: User, no_staff_mfa: None
):
    account = connect(expert)
    client = _admin(finance)
    url = reverse("admin:payments_payoutaccount_changelist")
    client.post(
        url,
        {
            "action": "hold_payouts",
            "_selected_action": [account.pk],
            "apply": "1",
            "reason": "Fraud check",
        },
    )
    assert PayoutHold.objects.get(expert=expert).reason == "Fraud check"


# --- Celery -------------------------------------------------------------------------------


def test_redis_visibility_timeout_outlasts_every_task_time_limit(settings: Any):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    celery_app.loader.import_default_modules()
    tasks = {name: t for name, t in celery_app.tasks.items() if not name.startswith("celery.")}
    assert {"payments.payout_run", "payments.payout_pay_lines"} <= set(tasks)
    for name, task in tasks.items():
        limit = task.time_limit or celery_app.conf.task_time_limit
        assert limit is not None and limit < timeout, name
        soft = task.soft_time_limit or celery_app.conf.task_soft_time_limit
        assert soft is None or soft < limit, name


def test_payout_tasks_are_acked_late_with_time_limits():
    for task in (run_payouts, pay_payout_lines):
        assert task.acks_late is True
        assert task.soft_time_limit and task.time_limit and task.soft_time_limit < task.time_limit
    # A claim older than STALE_CLAIM is taken over: the pay task must be dead by then.
    assert (pay_payout_lines.time_limit or 0) < payouts.STALE_CLAIM.total_seconds()
    assert (run_payouts.time_limit or 0) < payouts.STALE_CREATING.total_seconds()


def test_beat_runs_the_payout_job_at_the_configured_interval(settings: Any):
    entry = celery_app.conf.beat_schedule["payments-payout-run"]
    assert entry["task"] == run_payouts.name == "payments.payout_run"
    schedule = entry["schedule"]
    assert schedule.run_every == timedelta(days=1)
    settings.EXPERTLINE_PAYOUT_SCHEDULE_SECONDS = 3600
    assert schedule.run_every == timedelta(hours=1)
    assert pickle.loads(pickle.dumps(schedule)).run_every == timedelta(hours=1)


# --- pages --------------------------------------------------------------------------------


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_expert_connects_a_payout_account_and_sees_what_is_missing(expert: User):
    client = logged_in(expert)
    page = client.get(reverse("payout_account")).content.decode()
    assert "Connect a payout account" in page

    to_onboarding = client.post(reverse("payout_account_connect"))
    account = PayoutAccount.objects.get(user=expert)
    assert to_onboarding.status_code == 302
    assert to_onboarding["Location"].startswith(
        reverse("local_gateway_payout_onboarding", args=[account.account_id])
    )
    form = client.get(to_onboarding["Location"]).content.decode()
    assert "Complete onboarding" in form and "Leave incomplete (missing: bank account)" in form

    back = client.post(to_onboarding["Location"], {"outcome": "incomplete"})
    assert back["Location"] == "http://testserver" + reverse("payout_account_return")
    shown = client.get(back["Location"], follow=True).content.decode()
    assert "Your payout account is not finished: missing bank account." in shown
    account.refresh_from_db()
    assert (account.status, account.missing) == ("onboarding", ["external_account"])

    again = client.post(reverse("payout_account_connect"))
    assert PayoutAccount.objects.count() == 1  # the same account, a new link
    client.post(again["Location"], {"outcome": "complete"})
    shown = client.get(reverse("payout_account_return"), follow=True).content.decode()
    assert "Your payout account is ready" in shown
    account.refresh_from_db()
    assert (account.status, account.missing) == ("ready", [])


def test_the_onboarding_page_is_the_account_owners_only(expert: User, category):
    account = connect(expert, complete=False)
    stranger = make_expert(category)
    url = reverse("local_gateway_payout_onboarding", args=[account.account_id])
    assert logged_in(stranger).get(url).status_code == 404
    assert logged_in(stranger).post(url, {"outcome": "complete"}).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page
    account = payouts.payout_account_sync(account_id=account.account_id)
    assert account.status == "onboarding"


def test_the_onboarding_page_never_returns_off_site(expert: User):
    account = connect(expert, complete=False)
    url = reverse("local_gateway_payout_onboarding", args=[account.account_id])
    response = logged_in(expert).post(
        url, {"outcome": "complete", "return_url": "https://evil.example/"}
    )
    assert response["Location"] == reverse("payout_account_return")


def test_a_customer_has_no_payout_account(category):
    customer = cast(User, UserFactory())
    assert logged_in(customer).get(reverse("payout_account")).status_code == 404
    with pytest.raises(Forbidden):
        payouts.payout_account_connect(user=customer, return_url="/", refresh_url="/")


def test_earnings_show_pending_available_next_payout_and_payouts(expert: User, run):
    connect(expert)
    credit(expert, 3000, days_ago=30)
    batch = run()
    credit(expert, 1250, days_ago=20)
    credit(expert, 800, days_ago=2)

    page = logged_in(expert).get(reverse("earnings")).content.decode()

    [line] = batch.lines.all()
    assert 'id="earnings-balance">$20.50<' in page
    assert 'id="earnings-available">$12.50<' in page
    assert 'id="earnings-pending">$8.00<' in page
    next_run = batch.created_at + DAY
    assert f'id="earnings-next-payout" datetime="{next_run.isoformat()}' in page.replace(
        "+00:00", "+00:00"
    )
    assert f'class="payout-paid" data-line="{line.pk}"' in page
    assert line.transfer_id in page
    assert 'class="kind-payout"' in page and f"Payout #{line.pk} to your payout account" in page
    assert page.count('class="kind-credit"') == 3
    assert "Payouts start when your available balance reaches $20.00." in page


def test_earnings_say_what_is_missing(expert: User):
    connect(expert, complete=False)
    page = logged_in(expert).get(reverse("earnings")).content.decode()
    assert "Finish your payout account: missing bank account." in page
