"""A deep page of All questions starts where its first row was last time (questions.
selectors, kept under a generation that every change to the open questions moves): it
shows the same rows as counting from the top would, after any such change."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from marketplace.models import ExpertProfile
from questions import services
from questions.models import Question
from tests.factories import make_customer, make_question

# The place moves when a change commits, as in production: outside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

SIZE = 2


def shown(client, page: int, query: str = "") -> list[int]:
    response = client.get(reverse("all_questions") + f"?page={page}{query}")
    assert response.status_code == 200
    return [int(x) for x in re.findall(r'data-question="(\d+)"', response.content.decode())]


def counted(expert, page: int) -> list[int]:
    """The page as counting from the top gives it."""
    categories = ExpertProfile.objects.get(user=expert).categories.all()
    ids = list(
        Question.objects.filter(status="open", category__in=categories)
        .order_by("-posted_at", "-id")
        .values_list("id", flat=True)
    )
    return ids[(page - 1) * SIZE : page * SIZE]


@pytest.fixture
def many(world, settings) -> list[Question]:
    settings.EXPERTLINE_PAGE_SIZE = SIZE
    return [
        make_question(customer=make_customer(), category=world.category, title=f"Q{i}")
        for i in range(7)
    ]


def test_a_deep_page_read_again_starts_where_it_did(client, world, many):
    client.force_login(world.expert)
    expected = counted(world.expert, 3)
    assert shown(client, 3) == expected
    with CaptureQueriesContext(connection) as ctx:
        assert shown(client, 3) == expected
    page_sql = [q["sql"] for q in ctx.captured_queries if "questions_question" in q["sql"]]
    assert len(page_sql) == 1 and "OFFSET" not in page_sql[0]


def test_a_new_question_moves_the_deep_pages(client, world, many):
    client.force_login(world.expert)
    before = shown(client, 3)
    make_question(customer=make_customer(), category=world.category, title="Newest")
    after = shown(client, 3)
    assert after == counted(world.expert, 3) and after != before


def test_a_question_picked_up_above_moves_the_deep_pages(client, world, many):
    client.force_login(world.expert)
    before = shown(client, 3)
    services.question_pick_up(question_id=many[-1].pk, expert=world.same_category_expert)
    after = shown(client, 3)
    assert after == counted(world.expert, 3) and after != before


def test_a_new_category_of_the_expert_moves_the_deep_pages(client, world, many):
    client.force_login(world.expert)
    shown(client, 3)
    make_question(customer=make_customer(), category=world.other_category, title="A will")
    ExpertProfile.objects.get(user=world.expert).categories.add(world.other_category)
    assert shown(client, 3) == counted(world.expert, 3)


def test_the_last_page_and_past_it(client, world, many):
    client.force_login(world.expert)
    assert shown(client, 4) == counted(world.expert, 4) == [many[0].pk]
    assert shown(client, 4) == [many[0].pk]
    assert shown(client, 5) == [] and shown(client, 5) == []
    many[0].delete()
    assert shown(client, 4) == []
