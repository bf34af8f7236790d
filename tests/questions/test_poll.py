import pytest
from django.urls import reverse

from marketplace import presence
from questions import services

pytestmark = pytest.mark.django_db


def poll(client, q, **params):
    return client.get(reverse("question_poll", args=[q.pk]), params)


def test_poll_answers_204_and_nothing_else_when_nothing_changed(client, world, assigned_question):
    client.force_login(world.customer)
    world.customer.refresh_from_db()
    r = poll(
        client,
        assigned_question,
        v=assigned_question.version,
        after=0,
        n=world.customer.unread_notifications,
    )
    assert r.status_code == 204
    assert r.content == b""


def test_poll_returns_only_new_messages_after_a_change(client, world, assigned_question):
    first = services.message_post(
        question_id=assigned_question.pk, author=world.customer, body="one"
    )
    assigned_question.refresh_from_db()
    version = assigned_question.version
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="two <i>")
    client.force_login(world.customer)
    r = poll(client, assigned_question, v=version, after=first.pk, n=0)
    assert r.status_code == 200
    data = r.json()
    assert [m["html"] for m in data["messages"]] == ["two &lt;i&gt;"]
    assert data["messages"][0]["mine"] is False
    assert data["version"] == version + 1


def test_poll_marks_presence_on_the_question(client, world, assigned_question):
    client.force_login(world.expert)
    poll(client, assigned_question, v=0, after=0, n=0)
    assert presence.is_present(world.expert.pk, presence.question_place(assigned_question.pk))


def test_poll_refuses_bad_numbers(client, world, assigned_question):
    client.force_login(world.customer)
    assert poll(client, assigned_question, v="x").status_code == 400


@pytest.mark.parametrize("who", ["other_customer", "same_category_expert"])
def test_poll_is_404_for_outsiders(client, world, assigned_question, who):
    client.force_login(getattr(world, who))
    assert poll(client, assigned_question, v=0, after=0, n=0).status_code == 404


# --- The fast path: the signed token the page hands out (questions.middleware) --------


def page_token(client, q) -> str:
    html = client.get(reverse("question_detail", args=[q.pk])).content.decode()
    return html.split('data-poll-token="', 1)[1].split('"', 1)[0]


def test_an_unchanged_poll_with_the_pages_token_is_204_from_one_query(
    client, world, assigned_question
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(world.customer)
    token = page_token(client, assigned_question)
    assigned_question.refresh_from_db()
    world.customer.refresh_from_db()
    with CaptureQueriesContext(connection) as ctx:
        r = poll(
            client,
            assigned_question,
            v=assigned_question.version,
            after=0,
            n=world.customer.unread_notifications,
            t=token,
        )
    assert r.status_code == 204 and r.content == b""
    # No session and no user loaded: the one indexed query of the fast path.
    assert len(ctx.captured_queries) == 1


def test_a_new_message_reaches_a_poll_that_carries_a_token(client, world, assigned_question):
    client.force_login(world.customer)
    token = page_token(client, assigned_question)
    assigned_question.refresh_from_db()
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="news")
    r = poll(client, assigned_question, v=assigned_question.version, after=0, n=0, t=token)
    assert r.status_code == 200
    data = r.json()
    assert [m["html"] for m in data["messages"]] == ["news"]
    # The answer carries the token for the new version, which the fast path accepts.
    again = poll(
        client,
        assigned_question,
        v=data["version"],
        after=0,
        n=data["unread"],
        t=data["poll_token"],
    )
    assert again.status_code == 204


def test_a_new_notification_reaches_a_poll_that_carries_a_token(client, world, assigned_question):
    from marketplace import notifications
    from marketplace.models import NotificationKind

    client.force_login(world.expert)
    token = page_token(client, assigned_question)
    assigned_question.refresh_from_db()
    world.expert.refresh_from_db()
    unread = world.expert.unread_notifications
    notifications.notify(user=world.expert, kind=NotificationKind.MESSAGE_RECEIVED, text="x")
    r = poll(client, assigned_question, v=assigned_question.version, after=0, n=unread, t=token)
    assert r.status_code == 200
    assert r.json()["unread"] == unread + 1


@pytest.mark.parametrize("who", ["other_customer", "same_category_expert"])
def test_a_token_is_useless_to_anyone_else(client, world, assigned_question, who):
    """Someone else's token (copied from a page or a log) with the outsider's own session
    is still a 404: the token is bound to the session it was issued to."""
    from django.test import Client

    owner = Client()
    owner.force_login(world.customer)
    token = page_token(owner, assigned_question)
    assigned_question.refresh_from_db()
    client.force_login(getattr(world, who))
    r = poll(client, assigned_question, v=assigned_question.version, after=0, n=0, t=token)
    assert r.status_code == 404


def test_a_token_stops_working_after_log_out(client, world, assigned_question):
    client.force_login(world.customer)
    token = page_token(client, assigned_question)
    assigned_question.refresh_from_db()
    world.customer.refresh_from_db()
    params = dict(
        v=assigned_question.version, after=0, n=world.customer.unread_notifications, t=token
    )
    assert poll(client, assigned_question, **params).status_code == 204
    client.logout()
    r = poll(client, assigned_question, **params)
    assert r.status_code == 302  # to the login page, as any poll without a session


def test_a_forged_token_is_ignored(client, world, assigned_question):
    client.force_login(world.other_customer)
    assigned_question.refresh_from_db()
    forged = f"{assigned_question.pk}.{world.other_customer.pk}.{assigned_question.version}.x:a:b"
    r = poll(client, assigned_question, v=assigned_question.version, after=0, n=0, t=forged)
    assert r.status_code == 404
