import io

import pytest
from django.core.management import CommandError, call_command

from payments import ledger
from payments.models import LedgerAccount

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
