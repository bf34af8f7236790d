"""Refunds: asked for by the customer, approved by Customer Care (and Finance above a
threshold), sent to the card once, reversing the expert's credit."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import cast

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection, connections

from marketplace.errors import Conflict, Forbidden, InvalidInput
from marketplace.models import User
from marketplace.roles import CUSTOMER_CARE, FINANCE, ensure_staff_groups
from payments import ledger, services
from payments.models import LocalGatewayObject, Payment, PaymentStatus, Refund, RefundStatus
from questions import services as question_services
from questions.models import QuestionStatus
from tests.factories import UserFactory, make_question

pytestmark = pytest.mark.django_db


def staff(group: str):
    ensure_staff_groups()
    user = cast(User, UserFactory(is_staff=True))
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def care():
    return staff(CUSTOMER_CARE)


@pytest.fixture
def finance():
    return staff(FINANCE)


@pytest.fixture
def rated(world, assigned_question):
    question_services.question_rate(
        question_id=assigned_question.pk, customer=world.customer, stars=5
    )
    return assigned_question


def ask_refund(world, question, reason="The answer did not help"):
    return question_services.question_refund_request(
        question_id=question.pk, customer=world.customer, reason=reason
    )


def test_approved_refund_goes_to_the_card_and_reverses_the_credit(
    world, rated, care, django_capture_on_commit_callbacks
):
    assert ledger.expert_balance(world.expert) == 1250  # 50% of $25.00
    refund = ask_refund(world, rated)
    assert refund.status == RefundStatus.REQUESTED
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, staff=care)
    refund.refresh_from_db()
    rated.refresh_from_db()
    payment = refund.payment
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.gateway_refund_id
    assert payment.status == PaymentStatus.REFUNDED and payment.refunded_minor == 2500
    assert rated.status == QuestionStatus.REFUNDED
    assert ledger.expert_balance(world.expert) == 0
    assert ledger.balance(ledger.clearing("local")) == 0
    assert world.customer.notifications.filter(kind="refund_update").count() == 1


def test_refund_needs_a_reason(world, rated):
    with pytest.raises(InvalidInput, match="why"):
        ask_refund(world, rated, reason=" ")


def test_refund_after_the_window_is_refused(world, rated, settings):
    settings.EXPERTLINE_REFUND_WINDOW_DAYS = 30
    with time_machine.travel(timedelta(days=31)), pytest.raises(Conflict, match="within 30 days"):
        ask_refund(world, rated)
    assert Refund.objects.count() == 0


def test_refund_can_be_asked_for_once(world, rated):
    ask_refund(world, rated)
    with pytest.raises(Conflict, match="already requested"):
        ask_refund(world, rated)


def test_other_customer_cannot_ask_for_a_refund(world, rated):
    from marketplace.errors import NotFound

    with pytest.raises(NotFound):
        question_services.question_refund_request(
            question_id=rated.pk, customer=world.other_customer, reason="x"
        )


def test_large_refund_needs_a_second_approver_from_finance(
    world, care, finance, settings, django_capture_on_commit_callbacks
):
    settings.EXPERTLINE_REFUND_SECOND_APPROVAL_OVER_MINOR = 2000
    q = make_question(customer=world.customer, category=world.category, price_minor=2500)
    refund = ask_refund(world, q)
    services.refund_approve(refund_id=refund.pk, staff=care)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.AWAITING_SECOND_APPROVAL
    with pytest.raises(Forbidden, match="second, different approver"):
        services.refund_approve(refund_id=refund.pk, staff=care)
    other_care = staff(CUSTOMER_CARE)
    with pytest.raises(Forbidden, match="Finance"):
        services.refund_approve(refund_id=refund.pk, staff=other_care)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, staff=finance)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert (refund.first_approver, refund.second_approver) == (care, finance)


def test_denied_refund_tells_the_customer_why(world, rated, care):
    refund = ask_refund(world, rated)
    with pytest.raises(InvalidInput):
        services.refund_deny(refund_id=refund.pk, staff=care, note="")
    services.refund_deny(refund_id=refund.pk, staff=care, note="The expert answered in full.")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.DENIED
    n = world.customer.notifications.get(kind="refund_update")
    assert "The expert answered in full." in n.text
    assert ledger.expert_balance(world.expert) == 1250


def test_customers_cannot_approve_refunds(world, rated):
    refund = ask_refund(world, rated)
    with pytest.raises(Forbidden):
        services.refund_approve(refund_id=refund.pk, staff=world.customer)


def test_auto_approval_under_the_setting(world, settings, django_capture_on_commit_callbacks):
    settings.EXPERTLINE_REFUND_AUTO_APPROVE_MAX_MINOR = 3000
    q = make_question(customer=world.customer, category=world.category, price_minor=2500)
    with django_capture_on_commit_callbacks(execute=True):
        refund = ask_refund(world, q)
    refund.refresh_from_db()
    assert refund.auto_approved and refund.status == RefundStatus.SUCCEEDED


def test_processing_twice_refunds_once(world, rated, care):
    refund = ask_refund(world, rated)
    services.refund_approve(refund_id=refund.pk, staff=care)  # on_commit not run: process by hand
    services.refund_process(refund_id=refund.pk)
    services.refund_process(refund_id=refund.pk)
    assert LocalGatewayObject.objects.filter(kind="refund").count() == 1
    assert Payment.objects.get(pk=refund.payment_id).refunded_minor == 2500


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_approvals_make_one_refund():
    assert connection.vendor == "postgresql"
    from tests.factories import make_category, make_customer, make_expert

    cat = make_category()
    customer, expert = make_customer(), make_expert(cat)
    q = make_question(customer=customer, category=cat, price_minor=2500)
    question_services.question_pick_up(question_id=q.pk, expert=expert)
    refund = question_services.question_refund_request(
        question_id=q.pk, customer=customer, reason="no"
    )
    approvers = [staff(CUSTOMER_CARE) for _ in range(50)]
    barrier = threading.Barrier(len(approvers))
    outcomes: list[str] = []

    def approve(user):
        try:
            barrier.wait()
            services.refund_approve(refund_id=refund.pk, staff=user)
            outcomes.append("approved")
        except Conflict as exc:
            outcomes.append(exc.code)
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(u,)) for u in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("approved") == 1, outcomes
    assert set(outcomes) - {"approved"} <= {"refund_approved", "refund_succeeded"}
    payment = Payment.objects.get(pk=refund.payment_id)
    assert payment.refunded_minor == payment.amount_minor == 2500
    assert LocalGatewayObject.objects.filter(kind="refund").count() == 1
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).count() == 1
