import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from payments import ledger
from payments.models import LedgerAccount, LedgerTransaction

pytestmark = pytest.mark.django_db


def test_a_transaction_must_balance():
    with pytest.raises(ledger.LedgerError, match="sum to 5"):
        ledger.post(
            key="t1",
            kind="test",
            memo="m",
            lines=[ledger.Line("a:x", 10), ledger.Line("a:y", -5)],
            currency="USD",
        )


def test_the_same_key_records_once():
    lines = [ledger.Line("a:x", 10), ledger.Line("a:y", -10)]
    first = ledger.post(key="t2", kind="test", memo="m", lines=lines, currency="USD")
    again = ledger.post(key="t2", kind="test", memo="m", lines=lines, currency="USD")
    assert first.pk == again.pk
    assert ledger.balance("a:x") == 10


def test_ledger_check_finds_a_cached_balance_that_drifted():
    ledger.post(
        key="t3",
        kind="test",
        memo="m",
        lines=[ledger.Line("a:x", 7), ledger.Line("a:y", -7)],
        currency="USD",
    )
    call_command("ledger_check", stdout=io.StringIO())
    LedgerAccount.objects.filter(key="a:x").update(balance_minor=8)
    with pytest.raises(CommandError, match="1 problem"):
        call_command("ledger_check", stdout=io.StringIO(), stderr=io.StringIO())
    LedgerAccount.objects.filter(key="a:x").update(balance_minor=7)


def _move(key: str, debit: str, credit: str, amount: int) -> ledger.LedgerTransaction:
    return ledger.post(
        key=key,
        kind="test",
        memo=key,
        lines=[ledger.Line(debit, amount), ledger.Line(credit, -amount)],
        currency="USD",
    )


def test_a_batch_records_its_movements_together_in_three_statements():
    """A charge and the two credits it pays for, as an accept records them: the balances
    are the sums and every movement has its entries, for three statements (claim the keys,
    move the locked balances, write the entries) instead of four per movement."""
    _move("warm", "a:clearing", "a:prepaid", 1)  # the accounts exist
    _move("warm-2", "a:expert", "a:prepaid", 1)
    with transaction.atomic(), CaptureQueriesContext(connection) as captured, ledger.batched():
        charge = _move("charge", "a:clearing", "a:prepaid", 4000)
        _move("credit-1", "a:prepaid", "a:expert", 1250)
        _move("credit-2", "a:prepaid", "a:expert", 2000)
        assert charge.pk is None  # not in the database until the batch ends
    assert len(captured) == 3, [q["sql"] for q in captured.captured_queries]
    assert charge.pk is not None
    assert ledger.balance("a:clearing") == 4001
    assert ledger.balance("a:prepaid") == -4002 + 1250 + 2000
    assert ledger.balance("a:expert") == 1 - 3250
    assert ledger.check() == []


def test_a_batch_that_raises_records_nothing():
    with pytest.raises(RuntimeError), transaction.atomic(), ledger.batched():
        _move("b1", "a:x", "a:y", 10)
        raise RuntimeError("the accept failed")
    assert not LedgerTransaction.objects.filter(key="b1").exists()
    assert ledger.balance("a:x") == 0
    # The next batch starts empty.
    with transaction.atomic(), ledger.batched():
        _move("b2", "a:x", "a:y", 5)
    assert ledger.balance("a:x") == 5


def test_a_key_is_recorded_once_in_a_batch_and_a_key_recorded_before_is_skipped():
    earlier = _move("k1", "a:x", "a:y", 10)
    with transaction.atomic(), ledger.batched():
        again = _move("k1", "a:x", "a:y", 10)
        twice = [_move("k2", "a:x", "a:y", 3), _move("k2", "a:x", "a:y", 3)]
    assert again.pk == earlier.pk
    assert twice[0] is twice[1]
    assert ledger.balance("a:x") == 13
    assert ledger.check() == []


@pytest.mark.django_db(transaction=True)
def test_a_batch_needs_the_callers_transaction():
    with pytest.raises(ledger.LedgerError, match="transaction"), ledger.batched():
        pass


def test_an_unbalanced_movement_is_refused_when_posted_in_a_batch():
    with (
        pytest.raises(ledger.LedgerError, match="sum to 5"),
        transaction.atomic(),
        ledger.batched(),
    ):
        ledger.post(
            key="u1",
            kind="test",
            memo="m",
            lines=[ledger.Line("a:x", 10), ledger.Line("a:y", -5)],
            currency="USD",
        )
    assert not LedgerTransaction.objects.filter(key="u1").exists()


def test_an_account_in_another_currency_is_refused():
    _move("eur", "e:x", "e:y", 10)  # USD accounts
    with pytest.raises(ledger.LedgerError, match="in USD, not EUR"), transaction.atomic():
        ledger.post(
            key="eur-2",
            kind="test",
            memo="m",
            lines=[ledger.Line("e:x", 10), ledger.Line("e:y", -10)],
            currency="EUR",
        )
    assert ledger.balance("e:x") == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_the_same_accounts_in_any_order_neither_deadlock_nor_drift():
    """Eight threads on PostgreSQL, each posting movements that touch the same accounts in
    a different order: the accounts are locked in key order, so none deadlocks, and every
    cached balance equals its sum afterwards."""
    accounts = ["c:a", "c:b", "c:c", "c:d"]
    _move("seed-1", "c:a", "c:b", 1)
    _move("seed-2", "c:c", "c:d", 1)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            order = accounts[n % 4 :] + accounts[: n % 4]
            for round_ in range(15):
                with transaction.atomic(), ledger.batched():
                    for i, debit in enumerate(order):
                        credit = order[(i + 1) % 4]
                        _move(f"t{n}-{round_}-{i}", debit, credit, n + 1)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert LedgerTransaction.objects.count() == 2 + 8 * 15 * 4
    assert ledger.check() == []
