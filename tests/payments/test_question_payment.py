"""Charge up front: the stated price is captured when the question is posted."""

from __future__ import annotations

import pytest

from payments import ledger
from payments.gateway import get_gateway
from payments.gateway.base import GatewayUnavailable
from payments.models import LocalGatewayObject, Payment, PaymentStatus
from payments.services import PaymentFailed
from questions import services
from questions.models import Question, QuestionStatus
from tests.factories import make_customer, save_card

pytestmark = pytest.mark.django_db


def ask(world, customer, price=2500):
    return services.question_ask(
        customer=customer,
        category=world.category,
        title="Engine light",
        body="Details",
        price_minor=price,
    )


def test_paid_question_is_charged_once_and_posted_with_a_receipt(world):
    question, payment = ask(world, world.customer)
    assert question.status == QuestionStatus.OPEN
    assert payment is not None and payment.status == PaymentStatus.SUCCEEDED
    assert (payment.amount_minor, payment.currency, payment.reference) == (
        2500,
        "USD",
        f"question-{question.pk}",
    )
    assert ledger.balance(ledger.clearing("local")) == 2500
    assert ledger.balance(ledger.CUSTOMERS_PREPAID) == -2500
    receipt = world.customer.notifications.get(kind="payment_receipt")
    assert "$25.00" in receipt.text and "4242" in receipt.text


def test_member_question_is_not_charged(world):
    question, payment = ask(world, world.member, price=None)
    assert question.status == QuestionStatus.OPEN and payment is None
    assert Payment.objects.count() == 0


def test_declined_card_keeps_the_draft_and_charges_nothing(world):
    customer = make_customer(card="4000000000000341")
    with pytest.raises(PaymentFailed, match="declined"):
        ask(world, customer)
    question = Question.objects.get(customer=customer)
    assert question.status == QuestionStatus.INTAKE
    payment = Payment.objects.get(reference=f"question-{question.pk}")
    assert payment.status == PaymentStatus.FAILED
    assert "declined" in payment.failure_message
    assert not Payment.objects.filter(status=PaymentStatus.SUCCEEDED).exists()
    assert ledger.balance(ledger.clearing("local")) == 0


def test_after_a_decline_a_new_card_posts_the_same_draft(world):
    customer = make_customer(card="4000000000000341")
    with pytest.raises(PaymentFailed):
        ask(world, customer)
    draft = Question.objects.get(customer=customer)
    save_card(customer, "4242424242424242")
    question, payment = services.question_pay_and_post(question_id=draft.pk, customer=customer)
    assert payment is not None
    assert question.status == QuestionStatus.OPEN and payment.status == PaymentStatus.SUCCEEDED
    assert Payment.objects.filter(reference=f"question-{draft.pk}").count() == 2  # failed + paid


def test_no_card_keeps_the_draft_with_a_clear_message(world):
    customer = make_customer(card=None)
    with pytest.raises(PaymentFailed, match="Add a card"):
        ask(world, customer)
    assert Question.objects.get(customer=customer).status == QuestionStatus.INTAKE


def test_authentication_card_waits_for_the_customer_then_posts(world, client):
    customer = make_customer(card="4000002760003184")
    question, payment = ask(world, customer)
    assert question.status == QuestionStatus.INTAKE
    assert payment.status == PaymentStatus.REQUIRES_ACTION and payment.next_action_url
    client.force_login(customer)
    r = client.post(
        payment.next_action_url,
        {"outcome": "complete", "return_url": f"/q/{question.pk}/payment-return"},
    )
    assert r.status_code == 302
    client.get(f"/q/{question.pk}/payment-return")
    question.refresh_from_db()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert question.status == QuestionStatus.OPEN


class LosesAnswers:
    """Fault injection at the network edge: the gateway does the work, the answer is lost.

    The first `times` calls that reach the gateway lose their answer (confirm, and
    retrieve while the network is still down)."""

    def __init__(self, gateway, times):
        self.gateway, self.times = gateway, times
        self.name = gateway.name

    def __getattr__(self, name):
        return getattr(self.gateway, name)

    def _maybe_lose(self, result):
        if self.times > 0:
            self.times -= 1
            raise GatewayUnavailable()
        return result

    def payment_intent_confirm(self, **kwargs):
        return self._maybe_lose(self.gateway.payment_intent_confirm(**kwargs))

    def payment_intent_retrieve(self, **kwargs):
        return self._maybe_lose(self.gateway.payment_intent_retrieve(**kwargs))


@pytest.mark.parametrize("lost_answers", [1, 3])
def test_a_charge_whose_answer_is_lost_retried_three_times_charges_once(
    world, monkeypatch, lost_answers
):
    flaky = LosesAnswers(get_gateway(), times=lost_answers)
    monkeypatch.setattr("payments.services.get_gateway", lambda: flaky)
    draft = services.question_create_draft(
        customer=world.customer, category=world.category, title="T", body="B", price_minor=2500
    )
    outcomes = []
    for _ in range(1 + 3):  # the first call and three retries
        try:
            _, payment = services.question_pay_and_post(
                question_id=draft.pk, customer=world.customer
            )
            assert payment is not None
            outcomes.append(payment.status)
        except PaymentFailed as exc:
            assert "did not answer" in exc.message
            outcomes.append("lost")
    assert outcomes == ["lost"] * lost_answers + ["succeeded"] * (4 - lost_answers)
    draft.refresh_from_db()
    assert draft.status == QuestionStatus.OPEN
    assert Payment.objects.filter(reference=f"question-{draft.pk}").count() == 1
    assert LocalGatewayObject.objects.filter(kind="payment_intent").count() == 1
    assert ledger.balance(ledger.clearing("local")) == 2500
