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
