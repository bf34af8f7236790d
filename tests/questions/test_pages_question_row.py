"""The question page reads its question, category, customer and expert with one prebuilt
statement (questions.selectors.question_with_people): what it loads is what the ORM
loads, and the page shows changes to any of them on the next load."""

from __future__ import annotations

import pytest
from django.db.models import Model
from django.urls import reverse

from questions import selectors
from questions.models import Question

pytestmark = pytest.mark.django_db


def fields(obj: Model) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_it_loads_what_the_orm_loads(world, assigned_question):
    orm = Question.objects.select_related("category", "customer", "expert").get(
        pk=assigned_question.pk
    )
    ours = selectors.question_with_people(assigned_question.pk)
    assert ours is not None
    assert fields(ours) == fields(orm)
    assert fields(ours.category) == fields(orm.category)
    assert fields(ours.customer) == fields(orm.customer)
    assert ours.expert is not None and orm.expert is not None
    assert fields(ours.expert) == fields(orm.expert)
    assert ours.posted_at is not None and ours.posted_at.tzinfo is not None
    assert ours._state.adding is False and ours._state.db == "default"


def test_an_open_question_has_no_expert_and_a_missing_one_is_none(world, open_question):
    ours = selectors.question_with_people(open_question.pk)
    assert ours is not None and ours.expert is None and ours.expert_id is None
    assert ours.customer.pk == world.customer.pk
    assert selectors.question_with_people(open_question.pk + 10_000) is None


def test_a_renamed_customer_and_category_show_on_the_next_load(client, world, assigned_question):
    client.force_login(world.expert)
    url = reverse("question_detail", args=[assigned_question.pk])
    assert "Asked by Casey" in client.get(url).content.decode()
    world.customer.display_name = "Casey Jones"
    world.customer.save(update_fields=["display_name"])
    world.category.name = "Classic cars"
    world.category.save(update_fields=["name"])
    html = client.get(url).content.decode()
    assert "Asked by Casey Jones" in html
    assert "Classic cars" in html


def test_strangers_still_get_a_404(client, world, assigned_question):
    client.force_login(world.other_customer)
    assert client.get(reverse("question_detail", args=[assigned_question.pk])).status_code == 404
    client.force_login(world.other_category_expert)
    assert client.get(reverse("question_detail", args=[assigned_question.pk])).status_code == 404
