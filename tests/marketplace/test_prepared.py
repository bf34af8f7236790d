"""marketplace.prepared: the hot reads are planned once per connection by PostgreSQL, give
the same answers as unprepared statements, and show in the query log as any other."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from marketplace.prepared import prepared_cursor, prepares
from questions.models import Question
from questions.selectors import question_with_people
from tests.factories import make_category, make_customer, make_question

pytestmark = pytest.mark.django_db

BY_ID = 'SELECT "id", "title", "posted_at" FROM "questions_question" WHERE "id" = %s'


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _read(question_id: int) -> tuple:
    with prepared_cursor() as cursor:
        cursor.execute(BY_ID, [question_id])
        return cursor.fetchone()


@pytest.fixture
def question():
    return make_question(customer=make_customer(), category=make_category(), title="Prepared")


def test_postgresql_plans_the_statement_once_per_connection(question):
    assert prepares()  # the test settings are PostgreSQL's, with preparing on
    _read(question.pk)
    _read(question.pk)
    mine = [s for s in _prepared_statements() if '"questions_question" WHERE "id" = $1' in s]
    assert len(mine) == 1  # prepared the first time, reused the second


def test_answers_are_those_of_an_unprepared_statement(question):
    with connection.cursor() as cursor:
        cursor.execute(BY_ID, [question.pk])
        expected = cursor.fetchone()
    for _ in range(3):  # prepared, then by name
        got = _read(question.pk)
        assert got == expected
        assert got[2].tzinfo is not None and got[2] == question.posted_at
    assert _read(-1) is None


def test_the_query_log_shows_each_statement_with_its_values(question):
    _read(question.pk)
    with CaptureQueriesContext(connection) as ctx:
        _read(question.pk)
        _read(question.pk + 1000)
    assert [q["sql"] for q in ctx.captured_queries] == [
        BY_ID.replace("%s", str(question.pk)),
        BY_ID.replace("%s", str(question.pk + 1000)),
    ]


def test_a_failed_transaction_leaves_no_broken_statement_behind(question):
    _read(question.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        _read(question.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
    # psycopg forgets its statements when it sees the rollback; the next run prepares again.
    assert _read(question.pk)[1] == "Prepared"
    Question.objects.filter(pk=question.pk).update(title="Renamed")
    assert _read(question.pk)[1] == "Renamed"  # a plan, never a stale row


def test_the_question_page_read_is_prepared_and_complete(question):
    got = question_with_people(question.pk)
    again = question_with_people(question.pk)
    assert got == again == question and again.category.name and again.customer.email
    assert any(
        'JOIN "marketplace_category"' in s and 'WHERE "questions_question"."id" = $1' in s
        for s in _prepared_statements()
    )


@pytest.mark.django_db(transaction=True)
def test_without_prepare_threshold_nothing_is_prepared(question):
    options = connection.settings_dict["OPTIONS"]
    saved = options.pop("prepare_threshold")
    try:
        assert not prepares()
        connection.close()  # a new connection, as with DB_PREPARED_STATEMENTS=false
        assert _read(question.pk)[1] == "Prepared"
        assert not [s for s in _prepared_statements() if '"id" = $1' in s]
    finally:
        options["prepare_threshold"] = saved
        connection.close()
