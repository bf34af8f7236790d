"""The question page, the poll and All questions cost a fixed number of SQL queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from questions import services
from tests.factories import make_customer, make_question

pytestmark = pytest.mark.django_db


class Counted(int):
    """A query count that shows its SQL when an assertion about it fails."""

    sql: list[str]

    def __repr__(self) -> str:
        return f"{int(self)} queries: " + " | ".join(q[:70] for q in self.sql)


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code in (200, 204)
    # The session is read from Redis (cached_db); a run beside ours that flushes Redis
    # sends it to the database once. That is not the page's cost: leave it out.
    sql = [q["sql"] for q in ctx.captured_queries if "django_session" not in q["sql"]]
    counted = Counted(len(sql))
    counted.sql = sql
    return counted


def test_question_page_queries_do_not_grow_with_messages(client, world, assigned_question):
    client.force_login(world.customer)
    url = reverse("question_detail", args=[assigned_question.pk])
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="first")
    few = count_queries(client, url)
    for i in range(30):
        author = world.customer if i % 2 else world.expert
        services.message_post(question_id=assigned_question.pk, author=author, body=f"m{i}")
    many = count_queries(client, url)
    assert few == many
    # Session user, question, payment, refund, messages (read once per version, then
    # cached), offers (shared by the premium and calls panels), private box, expert
    # profile (nav), and with unread notifications about it, two UPDATEs to read them.
    assert many <= 12


def test_an_unchanged_conversation_is_not_read_again(client, world, assigned_question):
    for i in range(10):
        author = world.customer if i % 2 else world.expert
        services.message_post(question_id=assigned_question.pk, author=author, body=f"m{i}")
    client.force_login(world.expert)
    url = reverse("question_detail", args=[assigned_question.pk])
    first = count_queries(client, url)
    again = count_queries(client, url)
    assert any("questions_message" in q and "body_html" in q for q in first.sql)
    assert not any("body_html" in q for q in again.sql)
    assert again < first


def test_all_questions_queries_do_not_grow_with_questions(client, world):
    client.force_login(world.expert)
    url = reverse("all_questions")
    make_question(customer=world.customer, category=world.category)
    client.get(url)  # the first load reads the expert's categories, then they are cached
    few = count_queries(client, url)
    for _ in range(25):
        make_question(customer=make_customer(), category=world.category)
    many = count_queries(client, url)
    second_page = count_queries(client, url + "?page=2")
    assert few == many == second_page
    assert many <= 6


def test_unchanged_poll_is_one_query_beyond_the_session(client, world, assigned_question):
    client.force_login(world.customer)
    world.customer.refresh_from_db()
    url = reverse("question_poll", args=[assigned_question.pk]) + (
        f"?v={assigned_question.version}&after=0&n={world.customer.unread_notifications}"
    )
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 204
    # The session row (cached in Redis in production), the user, and the one indexed check.
    poll_queries = [q["sql"] for q in ctx.captured_queries if "questions_question" in q["sql"]]
    assert len(poll_queries) == 1
    assert len(ctx.captured_queries) <= 3
