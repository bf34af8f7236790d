"""All questions reads its page with one prebuilt statement (questions.selectors) and keeps
each row's HTML per process by everything it is made of (questions.fragments): an expert
sees every change to the open questions on the next load, with their own pick-up forms
and ages that move with the clock, and never another expert's rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from questions import selectors, services
from questions.models import Question
from tests.factories import make_customer, make_expert, make_question

pytestmark = pytest.mark.django_db


def page(client, query: str = "") -> str:
    response = client.get(reverse("all_questions") + query)
    assert response.status_code == 200
    return response.content.decode()


def shown(client, query: str = "") -> list[int]:
    return [int(x) for x in re.findall(r'data-question="(\d+)"', page(client, query))]


def test_the_page_is_one_query_beyond_the_user(client, world):
    make_question(customer=world.customer, category=world.category)
    client.force_login(world.expert)
    page(client)  # the expert's categories are read once, then cached
    with CaptureQueriesContext(connection) as ctx:
        page(client)
    questions = [q["sql"] for q in ctx.captured_queries if "questions_question" in q["sql"]]
    assert len(questions) == 1


def test_it_reads_what_the_orm_reads(world):
    for i in range(3):
        make_question(customer=make_customer(), category=world.category, title=f"Q{i}")
    make_question(customer=make_customer(), category=world.other_category)
    got, _ = selectors.open_questions_for_expert(expert=world.expert, page=1)
    orm = list(
        Question.objects.filter(status="open", category=world.category)
        .only(*selectors.PREVIEW_FIELDS)
        .order_by("-posted_at", "-id")
    )
    assert [q.pk for q in got.items] == [q.pk for q in orm]
    for ours, theirs in zip(got.items, orm, strict=True):
        for name in selectors.PREVIEW_FIELDS:
            assert getattr(ours, name) == getattr(theirs, name)
        assert ours.category.name == "Cars"
    posted = got.items[0].posted_at
    assert posted is not None and posted.tzinfo is not None


def test_a_new_price_shows_on_the_next_load(client, world):
    question = make_question(customer=world.customer, category=world.category)
    client.force_login(world.expert)
    assert "$25.00" in page(client)
    Question.objects.filter(pk=question.pk).update(price_minor=3100)
    html = page(client)
    assert "$31.00" in html and "$25.00" not in html


def test_a_new_question_shows_at_once(client, world):
    first = make_question(customer=world.customer, category=world.category)
    client.force_login(world.expert)
    assert shown(client) == [first.pk]
    second = make_question(customer=make_customer(), category=world.category, title="Tyres")
    assert shown(client) == [second.pk, first.pk]


def test_a_question_picked_up_by_another_expert_is_gone_at_once(client, world):
    question = make_question(customer=world.customer, category=world.category)
    client.force_login(world.expert)
    assert shown(client) == [question.pk]
    services.question_pick_up(question_id=question.pk, expert=world.same_category_expert)
    assert shown(client) == []


def test_an_edited_question_shows_its_new_title(client, world):
    question = make_question(customer=world.customer, category=world.category, title="Brakes")
    client.force_login(world.expert)
    assert "Brakes" in page(client)
    question.title = "Brakes squeal"
    question.save(update_fields=["title"])
    assert "Brakes squeal" in page(client)


def test_each_expert_gets_their_own_list_and_pick_up_token(world):
    mine = make_question(customer=world.customer, category=world.category, title="Cars only")
    legal = make_question(customer=make_customer(), category=world.other_category, title="Will")
    both = make_expert(world.category, world.other_category, email="both@example.com")
    first, second, third = (Client(enforce_csrf_checks=True) for _ in range(3))
    first.force_login(world.expert)
    second.force_login(world.other_category_expert)
    third.force_login(both)
    assert shown(first) == [mine.pk]  # now cached for the first expert
    assert shown(second) == [legal.pk]
    assert shown(third) == [legal.pk, mine.pk]

    # The same category's other expert: the rows, but with this session's CSRF token.
    same = Client(enforce_csrf_checks=True)
    same.force_login(world.same_category_expert)
    html = page(same)
    form = re.search(
        r'action="([^"]+)"><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"',
        html,
    )
    assert form is not None
    action, token = form.groups()
    assert same.post(action, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Question.objects.get(pk=mine.pk).expert_id == world.same_category_expert.pk
    assert shown(first) == []


def test_ages_move_with_the_clock_on_a_cached_page(client, world):
    make_question(customer=world.customer, category=world.category)
    client.force_login(world.expert)
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert "5\xa0minutes ago" in page(client)
    with time_machine.travel(start + timedelta(hours=2, minutes=5), tick=False):
        assert "2\xa0hours, 5\xa0minutes ago" in page(client)


def test_a_category_filter_page_is_kept_apart(client, world):
    both = make_expert(world.category, world.other_category, email="both@example.com")
    cars = make_question(customer=world.customer, category=world.category)
    will = make_question(customer=make_customer(), category=world.other_category)
    client.force_login(both)
    assert shown(client, "?category=cars") == [cars.pk]
    assert shown(client, "?category=legal") == [will.pk]
    assert shown(client) == [will.pk, cars.pk]
