"""Two phone-call requests sent at the same moment from two tabs: exactly one is made
(the partial unique constraint on open phone requests, on PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from marketplace import rollout
from marketplace.errors import Conflict
from marketplace.models import Rollout
from questions import intake
from questions.models import Channel, Question
from tests.factories import make_category, make_customer

pytestmark = pytest.mark.django_db(transaction=True)

TABS = 6


def test_racing_phone_requests_of_one_customer_make_exactly_one():
    category = make_category(slug="cars", phone_call_price_minor=4_900)
    row = Rollout.objects.create(key=rollout.PHONE_FIRST, is_enabled=True, share_bp=10_000)
    row.categories.set([category])
    customer = make_customer(country="US")
    sessions = [
        intake.intake_start(
            customer=customer,
            category=category,
            title=f"Tab {n}",
            body="Same problem, many tabs.",
            price_minor=2_500,
        )
        for n in range(TABS)
    ]
    barrier = threading.Barrier(TABS)
    outcomes: list[str] = []

    def tab(session_id: int) -> None:
        try:
            barrier.wait()
            intake.intake_finish_phone(intake_id=session_id, customer=customer)
            outcomes.append("made")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=tab, args=(s.pk,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["made"] + ["phone_request_open"] * (TABS - 1)
    assert Question.objects.filter(customer=customer, channel=Channel.PHONE).count() == 1
