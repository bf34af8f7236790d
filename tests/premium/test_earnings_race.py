"""A refund racing the verification that credits a phone call (threads, PostgreSQL): the
ledger stays consistent and the expert is credited at most once."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from payments import ledger
from payments import services as payment_services
from payments.models import LedgerTransaction
from premium import earnings
from premium import services as premium_services
from premium.earnings_models import FulfilmentVerification
from tests.premium.test_earnings import PHONE_PAYOUT, call, fulfil, phone_first, phone_offer  # noqa: F401
from tests.premium.test_earnings_admin import staff_client


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_a_refund_racing_the_verification_credits_at_most_once(world, phone_first, round_):  # noqa: F811
    offer = phone_offer(world)
    call(world, offer, minutes=1)  # short: it waits for Customer Care
    fulfil(world, offer)
    verification = FulfilmentVerification.objects.get(offer=offer)
    care, _ = staff_client("Customer Care")
    refund = premium_services.offer_refund_request(
        offer_id=offer.pk, customer=world.customer, reason="Changed my mind"
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(fn) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(
            target=run,
            args=(
                lambda: earnings.verification_approve(verification_id=verification.pk, staff=care),
            ),
        ),
        threading.Thread(
            target=run,
            args=(lambda: payment_services.refund_approve(refund_id=refund.pk, staff=care),),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ledger.check() == []
    credits = LedgerTransaction.objects.filter(key=f"offer-{offer.pk}-call-credit").count()
    assert credits <= 1
    # Credited then refunded under protection (the platform carries it), or refunded first
    # and never credited: never credited twice, never a negative balance from it.
    assert ledger.expert_balance(world.expert) == (PHONE_PAYOUT if credits else 0)
