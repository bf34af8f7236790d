"""The question-credit rule (DESIGN.md Rules): once, on the first trigger, the right amount."""

from datetime import timedelta

import pytest
import time_machine

from marketplace.models import ExpertProfile
from payments import ledger
from payments.models import LedgerTransaction
from questions import credit, services
from tests.factories import make_question

pytestmark = pytest.mark.django_db


def test_rating_three_stars_credits_the_payout_level_share(world, assigned_question):
    ExpertProfile.objects.filter(user=world.expert).update(payout_level_bp=6_000)
    services.question_rate(question_id=assigned_question.pk, customer=world.customer, stars=3)
    assert ledger.expert_balance(world.expert) == 1500  # 60% of $25.00
    txn = LedgerTransaction.objects.get(key=f"question-{assigned_question.pk}-credit")
    assert txn.details["payout_level_bp"] == 6_000 and txn.details["trigger"] == "rating"
    assert ledger.balance(ledger.PLATFORM_REVENUE) == -1000


def test_rating_two_stars_credits_nothing(world, assigned_question):
    services.question_rate(question_id=assigned_question.pk, customer=world.customer, stars=2)
    assert ledger.expert_balance(world.expert) == 0


def test_member_question_credits_the_category_value(world):
    q = make_question(customer=world.member, category=world.category, price_minor=None)
    services.question_pick_up(question_id=q.pk, expert=world.expert)
    services.question_rate(question_id=q.pk, customer=world.member, stars=5)
    assert ledger.expert_balance(world.expert) == world.category.member_question_value_minor
    assert (
        ledger.balance(ledger.PLATFORM_MEMBER_COSTS) == world.category.member_question_value_minor
    )


def test_unrated_question_is_credited_after_n_days_by_the_sweep(world, assigned_question, settings):
    settings.EXPERTLINE_AUTO_CREDIT_DAYS = 7
    with time_machine.travel(timedelta(days=6, hours=23)):
        assert credit.credit_sweep() == 0
    with time_machine.travel(timedelta(days=7, minutes=1)):
        assert credit.credit_sweep() == 1
        assert credit.credit_sweep() == 0
    assert ledger.expert_balance(world.expert) == 1250


def test_no_automatic_credit_while_a_refund_is_requested(world, assigned_question, settings):
    services.question_refund_request(
        question_id=assigned_question.pk, customer=world.customer, reason="x"
    )
    with time_machine.travel(timedelta(days=settings.EXPERTLINE_AUTO_CREDIT_DAYS + 1)):
        assert credit.credit_sweep() == 0
    assert ledger.expert_balance(world.expert) == 0


def test_credit_happens_once_whatever_triggers_it(world, assigned_question, settings):
    services.question_rate(question_id=assigned_question.pk, customer=world.customer, stars=5)
    assert credit.question_credit(question_id=assigned_question.pk, trigger="offer") is False
    with time_machine.travel(timedelta(days=settings.EXPERTLINE_AUTO_CREDIT_DAYS + 1)):
        credit.credit_sweep()
    assert ledger.expert_balance(world.expert) == 1250
    assert LedgerTransaction.objects.filter(kind="credit").count() == 1


def test_boost_of_payout_level_is_not_retroactive(world, assigned_question):
    services.question_rate(question_id=assigned_question.pk, customer=world.customer, stars=5)
    ExpertProfile.objects.filter(user=world.expert).update(payout_level_bp=9_000)
    assert ledger.expert_balance(world.expert) == 1250
