"""manage.py earnings_recompute: the raw events through the same rules give the ledger's
figures, and a difference is reported."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from marketplace.models import BoostKind, PayoutBoostRule
from questions import services as question_services
from questions.models import Question
from tests.factories import make_question
from tests.premium.test_earnings import call, fulfil, phone_first, phone_offer, refund  # noqa: F401
from tests.premium.test_earnings_admin import staff_client

pytestmark = pytest.mark.django_db


def rated(world, customer):
    question = make_question(customer=customer, category=world.category)
    question_services.question_pick_up(question_id=question.pk, expert=world.expert)
    question_services.question_rate(question_id=question.pk, customer=customer, stars=5)
    return question


def test_recomputed_earnings_match_the_ledger_then_a_changed_fact_is_reported(
    world,
    phone_first,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    PayoutBoostRule.objects.create(kind=BoostKind.AUTO_CALL, raise_bp=1_000, credit_count=1)
    rated(world, world.other_customer)
    offer = phone_offer(world)  # the boost: one credit at 60%
    boosted = rated(world, world.other_customer)
    rated(world, world.other_customer)  # back to 50%
    rated(world, world.member)  # a Member's question: the category's fixed value
    call(world, offer, minutes=6)
    fulfil(world, offer)
    care, _ = staff_client("Customer Care")
    refund(world, offer, care, django_capture_on_commit_callbacks)  # carried by the platform

    out = StringIO()
    call_command("earnings_recompute", stdout=out)
    assert "0 difference(s)" in out.getvalue()

    Question.objects.filter(pk=boosted.pk).update(price_minor=3_000)
    with pytest.raises(CommandError, match="2 difference"):
        call_command("earnings_recompute", stdout=out)
    assert f"question-{boosted.pk}-credit: amount recorded 1500, recomputed 1800" in out.getvalue()
