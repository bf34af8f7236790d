"""A refund racing the payout job for the same offer (threads, PostgreSQL): the ledger stays
consistent, the expert is paid at most once, and the result is one of the two legitimate
orders. A protected call's refund racing a payout: the platform carries the refund and the
expert keeps the payout either way."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections

from payments import ledger, payouts
from payments import services as payment_services
from payments.models import LedgerTransaction, Payment, PaymentStatus
from payments.payout_models import PayoutLine
from premium import services as premium_services
from tests.payments.test_payouts import connect, transfers_to
from tests.premium.test_earnings import PHONE_PAYOUT, call, fulfil, phone_first, phone_offer  # noqa: F401
from tests.premium.test_earnings_admin import no_staff_mfa, staff_client  # noqa: F401


def race(*jobs: Callable[[], object], lag: float = 0.0) -> list[BaseException]:
    """Start the jobs at the same moment, each in its own thread and connection; the last
    one `lag` seconds later (so that each order of the race is seen, on any machine)."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            barrier.wait()
            if job is jobs[-1] and lag:
                time.sleep(lag)
            job()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def credited_call(world, settings):
    """A phone call credited at the category's payout value, at once available for payout,
    to an expert with a ready payout account; the customer has asked for a refund."""
    settings.EXPERTLINE_PAYOUT_HOLD_DAYS = 0
    account = connect(world.expert)
    offer = phone_offer(world)
    call(world, offer, minutes=6)  # the call log verifies the report
    fulfil(world, offer)
    assert ledger.expert_balance(world.expert) == PHONE_PAYOUT
    refund = premium_services.offer_refund_request(
        offer_id=offer.pk, customer=world.customer, reason="Not what I hoped"
    )
    return offer, refund, account


def pay_inline(line_ids: list[int]) -> None:
    payouts.payout_lines_pay(line_ids=line_ids)


def paid_to(expert) -> list[int]:
    return list(
        PayoutLine.objects.filter(expert=expert, status="paid").values_list(
            "amount_minor", flat=True
        )
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lag", [0.0, 0.0, 0.02, 0.05, 0.1, 0.2])
def test_a_refund_racing_a_payout_pays_the_expert_at_most_once(world, phone_first, settings, lag):  # noqa: F811
    assert connection.vendor == "postgresql", "row locks need PostgreSQL to be tested"
    settings.EXPERTLINE_PROTECTION_START_DATE = "2999-01-01"  # this call is not protected
    offer, refund, account = credited_call(world, settings)
    care, _ = staff_client("Customer Care")

    errors = race(
        lambda: payment_services.refund_approve(refund_id=refund.pk, staff=care),
        lambda: payouts.payout_run(run_key="race", dispatch=pay_inline),
        lag=lag,
    )

    assert errors == []
    assert ledger.check() == []
    payment = Payment.objects.get(reference=f"offer-{offer.pk}")
    assert payment.status == PaymentStatus.REFUNDED  # the customer has their money back
    key = f"offer-{offer.pk}-call-credit"
    assert LedgerTransaction.objects.filter(key=f"{key}-reversal", kind="reversal").count() == 1
    paid = paid_to(world.expert)
    assert transfers_to(account) == paid and len(paid) <= 1
    balance = ledger.expert_balance(world.expert)
    if paid:  # the payout went first: paid once, and the reversal is owed back from later pay
        assert (paid, balance) == ([PHONE_PAYOUT], -PHONE_PAYOUT)
    else:  # the refund went first: nothing left to pay
        assert balance == 0
    # The next run pays nothing more: a negative or empty balance is not paid.
    payouts.payout_run(run_key="after", dispatch=pay_inline)
    assert paid_to(world.expert) == paid and transfers_to(account) == paid


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lag", [0.0, 0.05, 0.2])
def test_a_protected_calls_refund_racing_a_payout_leaves_the_payout_to_the_expert(
    world,
    phone_first,  # noqa: F811
    settings,
    lag,
):
    assert connection.vendor == "postgresql", "row locks need PostgreSQL to be tested"
    offer, refund, account = credited_call(world, settings)
    care, _ = staff_client("Customer Care")

    errors = race(
        lambda: payment_services.refund_approve(refund_id=refund.pk, staff=care),
        lambda: payouts.payout_run(run_key="race", dispatch=pay_inline),
        lag=lag,
    )

    assert errors == []
    assert ledger.check() == []
    assert Payment.objects.get(reference=f"offer-{offer.pk}").status == PaymentStatus.REFUNDED
    key = f"offer-{offer.pk}-call-credit"
    carried = LedgerTransaction.objects.filter(key=f"{key}-reversal")
    assert list(carried.values_list("kind", flat=True)) == ["protected_refund"]
    assert ledger.balance(ledger.PLATFORM_PROTECTED_REFUNDS) == PHONE_PAYOUT
    # Whichever went first, the expert is paid the call once and owes nothing back.
    assert paid_to(world.expert) == [PHONE_PAYOUT] == transfers_to(account)
    assert ledger.expert_balance(world.expert) == 0
