"""Chargebacks freeze the expert's credit, and end won or lost with the right ledger entries."""

import pytest

from payments import ledger, services
from payments.models import Dispute, DisputeStatus, Payment, PaymentStatus
from questions import services as question_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def credited(world, assigned_question):
    question_services.question_rate(
        question_id=assigned_question.pk, customer=world.customer, stars=5
    )
    return Payment.objects.get(reference=f"question-{assigned_question.pk}")


def open_dispute(payment):
    return services.dispute_open(
        intent_id=payment.intent_id,
        gateway_dispute_id="dp_1",
        amount_minor=2500,
        reason="fraudulent",
    )


def test_a_chargeback_freezes_the_experts_credit(world, credited):
    open_dispute(credited)
    credited.refresh_from_db()
    assert credited.status == PaymentStatus.DISPUTED
    assert ledger.expert_balance(world.expert) == 0
    assert ledger.balance(ledger.expert_frozen(world.expert.pk)) == -1250
    assert ledger.balance(ledger.disputed("local")) == 2500
    assert ledger.balance(ledger.clearing("local")) == 0


def test_a_dispute_won_releases_the_credit_and_the_money(world, credited):
    open_dispute(credited)
    services.dispute_close(gateway_dispute_id="dp_1", won=True)
    credited.refresh_from_db()
    assert credited.status == PaymentStatus.SUCCEEDED
    assert ledger.expert_balance(world.expert) == 1250
    assert ledger.balance(ledger.expert_frozen(world.expert.pk)) == 0
    assert ledger.balance(ledger.clearing("local")) == 2500
    assert ledger.balance(ledger.disputed("local")) == 0
    assert Dispute.objects.get().status == DisputeStatus.WON


def test_a_dispute_lost_reverses_the_credit_and_loses_the_money(world, credited):
    open_dispute(credited)
    services.dispute_close(gateway_dispute_id="dp_1", won=False)
    credited.refresh_from_db()
    assert credited.status == PaymentStatus.REFUNDED
    assert ledger.expert_balance(world.expert) == 0
    assert ledger.balance(ledger.expert_frozen(world.expert.pk)) == 0
    assert ledger.balance(ledger.clearing("local")) == 0
    assert ledger.balance(ledger.disputed("local")) == 0
    assert ledger.balance(ledger.PLATFORM_REVENUE) == 0
    assert ledger.balance(ledger.CUSTOMERS_PREPAID) == 0


def test_a_repeated_close_changes_nothing(world, credited):
    open_dispute(credited)
    services.dispute_close(gateway_dispute_id="dp_1", won=False)
    services.dispute_close(gateway_dispute_id="dp_1", won=True)
    assert Dispute.objects.get().status == DisputeStatus.LOST
    assert ledger.expert_balance(world.expert) == 0


def test_a_disputed_question_is_not_credited_later(world, assigned_question):
    payment = Payment.objects.get(reference=f"question-{assigned_question.pk}")
    open_dispute(payment)
    question_services.question_rate(
        question_id=assigned_question.pk, customer=world.customer, stars=5
    )
    assert ledger.expert_balance(world.expert) == 0


def test_evidence_export_holds_the_thread_and_the_payment(world, credited, admin_client):
    from payments.admin import dispute_evidence

    question_services.message_post(
        question_id=int(credited.reference.split("-")[1]), author=world.expert, body="Evidence line"
    )
    bundle = dispute_evidence(open_dispute(credited))
    assert bundle["payment"]["reference"] == credited.reference
    held = bundle["held"][0]["data"]
    assert any(m["body"] == "Evidence line" for m in held["messages"])
