"""marketplace.compiled: a queryset compiled once gives what the ORM gives, value after value."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from marketplace.compiled import CompiledQuery
from questions.models import Question
from tests.factories import make_category, make_customer, make_expert, make_question

pytestmark = pytest.mark.django_db

WITH_PEOPLE = CompiledQuery(
    lambda question_id: Question.objects.select_related("customer", "category", "expert").filter(
        pk=question_id
    )
)


@pytest.fixture
def questions():
    category = make_category()
    expert = make_expert(category)
    first = make_question(customer=make_customer(), category=category, title="First")
    second = make_question(customer=make_customer(), category=category, title="Second")
    Question.objects.filter(pk=second.pk).update(expert=expert, status="assigned")
    return first, second


def test_instances_and_their_related_rows_are_those_the_orm_gives(questions):
    for question in questions:
        expected = Question.objects.select_related("customer", "category", "expert").get(
            pk=question.pk
        )
        got = WITH_PEOPLE.first(question.pk)
        assert got == expected and got.title == expected.title
        assert got.posted_at == expected.posted_at and got.posted_at.tzinfo is not None
        assert got.customer.email == expected.customer.email
        assert got.category.slug == expected.category.slug
        assert (got.expert and got.expert.email) == (expected.expert and expected.expert.email)
        with CaptureQueriesContext(connection) as ctx:  # select_related: nothing more read
            (got.customer.email, got.category.name, got.expert)
        assert len(ctx) == 0
        got.title = "Saved from a compiled read"
        got.save(update_fields=["title"])  # a full instance: saves as any other
    assert WITH_PEOPLE.first(-1) is None


def test_the_sql_is_built_once_and_each_run_sends_it_with_its_value(questions):
    WITH_PEOPLE.first(questions[0].pk)
    with CaptureQueriesContext(connection) as ctx:
        WITH_PEOPLE.first(questions[0].pk)
        WITH_PEOPLE.first(questions[1].pk)
    first, second = (re.sub(r'"id" = \d+', '"id" = ?', q["sql"]) for q in ctx)
    assert len(ctx) == 2 and ctx[0]["sql"] != ctx[1]["sql"]  # the values differ, nothing else
    assert first == second


def test_values_list_rows_and_annotations_are_converted_as_the_orm_does(questions):
    query = CompiledQuery(
        lambda category_id: (
            Question.objects.filter(category_id=category_id)
            .values("category_id")
            .annotate(n=Count("id"))
            .values_list("category_id", "n")
        )
    )
    category_id = questions[0].category_id
    assert query.rows(category_id) == [(category_id, 2)]
    assert query.rows(-5) == []


@pytest.mark.django_db(transaction=True)
def test_a_lock_outside_a_transaction_is_refused_as_the_orm_refuses_it(questions):
    locked = CompiledQuery(lambda pk: Question.objects.select_for_update().filter(pk=pk))
    with transaction.atomic():
        assert locked.first(questions[0].pk) == questions[0]
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            locked.first(questions[0].pk)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda pk: Question.objects.filter(pk=pk, customer_id=pk), id="used twice"),
        pytest.param(
            lambda pk: Question.objects.filter(pk__in=[1, 2, 3][: pk % 3 + 1]), id="shape"
        ),
        pytest.param(lambda pk: Question.objects.filter(pk=pk).values("pk"), id="values()"),
    ],
)
def test_a_query_that_cannot_be_kept_is_refused(build):
    with pytest.raises(ValueError):
        CompiledQuery(build).rows(1)


def test_a_wrong_number_of_values_is_refused():
    with pytest.raises(TypeError):
        WITH_PEOPLE.rows(1, 2)


@pytest.mark.django_db(transaction=True)
def test_threads_each_run_it_on_their_own_connection(questions):
    found: dict[int, object] = {}

    def read(i: int) -> None:
        try:
            found[i] = WITH_PEOPLE.first(questions[i % 2].pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [found[i] for i in range(4)] == [questions[0], questions[1]] * 2


def test_api_tokens_sign_in_their_user_and_bad_or_inactive_ones_are_refused(client):
    from rest_framework.authtoken.models import Token

    customer = make_customer()
    key = Token.objects.create(user=customer).key
    me = client.get("/api/account/", HTTP_AUTHORIZATION=f"Token {key}")
    assert me.status_code == 200 and me.json()["email"] == customer.email
    wrong = client.get("/api/account/", HTTP_AUTHORIZATION=f"Token {key[:-1]}x")
    # 403, not 401: session authentication comes first (settings), as before.
    assert wrong.status_code == 403 and "Invalid token" in wrong.json()["detail"]
    customer.is_active = False
    customer.save(update_fields=["is_active"])
    inactive = client.get("/api/account/", HTTP_AUTHORIZATION=f"Token {key}")
    assert inactive.status_code == 403 and "inactive" in inactive.json()["detail"]
