import pytest
from django.core import mail
from django.test import override_settings

from marketplace import presence
from marketplace.errors import Conflict, InvalidInput, NotFound, RateLimited
from questions import services
from questions.models import Message

pytestmark = pytest.mark.django_db


def test_message_is_escaped_keeps_line_breaks_and_links(world, assigned_question):
    m = services.message_post(
        question_id=assigned_question.pk,
        author=world.customer,
        body="<script>alert(1)</script>\nsee https://example.com/x",
    )
    assert "<script>" not in m.body_html
    assert "&lt;script&gt;" in m.body_html
    assert "<br>" in m.body_html
    assert '<a href="https://example.com/x" rel="nofollow">' in m.body_html
    assert m.body == "<script>alert(1)</script>\nsee https://example.com/x"


def test_empty_message_is_refused(world, assigned_question):
    with pytest.raises(InvalidInput, match="cannot be empty"):
        services.message_post(question_id=assigned_question.pk, author=world.customer, body=" \n ")
    assert Message.objects.count() == 0


@override_settings(EXPERTLINE_MESSAGE_MAX_CHARS=100)
def test_oversized_message_is_refused_with_the_limit(world, assigned_question):
    with pytest.raises(InvalidInput, match="limit is 100"):
        services.message_post(
            question_id=assigned_question.pk, author=world.customer, body="x" * 101
        )
    assert Message.objects.count() == 0


@pytest.mark.parametrize("who", ["other_customer", "same_category_expert", "other_category_expert"])
def test_outsiders_cannot_post(world, assigned_question, who):
    with pytest.raises(NotFound):
        services.message_post(
            question_id=assigned_question.pk, author=getattr(world, who), body="hello"
        )
    assert Message.objects.count() == 0


def test_no_messages_on_a_closed_question(world, assigned_question):
    services.question_close(question_id=assigned_question.pk, actor=world.customer)
    with pytest.raises(Conflict, match="closed"):
        services.message_post(question_id=assigned_question.pk, author=world.expert, body="hi")


@override_settings(EXPERTLINE_MESSAGE_RATE_PER_MINUTE=3)
def test_too_many_messages_get_rate_limited(world, assigned_question):
    for i in range(3):
        services.message_post(question_id=assigned_question.pk, author=world.customer, body=f"m{i}")
    with pytest.raises(RateLimited):
        services.message_post(question_id=assigned_question.pk, author=world.customer, body="m4")
    assert Message.objects.count() == 3


def test_reply_bumps_the_version_and_notifies_the_other_side(
    world, assigned_question, django_capture_on_commit_callbacks
):
    before = assigned_question.version
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        m = services.message_post(question_id=assigned_question.pk, author=world.expert, body="Hi!")
    assigned_question.refresh_from_db()
    assert assigned_question.version == before + 1
    assert assigned_question.last_message_id == m.pk
    world.customer.refresh_from_db()
    assert world.customer.notifications.filter(kind="message_received").count() == 1
    assert [e.to for e in mail.outbox] == [[world.customer.email]]


def test_no_email_when_the_other_side_is_on_the_page(
    world, assigned_question, django_capture_on_commit_callbacks
):
    presence.mark(world.customer.pk, presence.question_place(assigned_question.pk))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post(question_id=assigned_question.pk, author=world.expert, body="Hi!")
    assert mail.outbox == []
    n = world.customer.notifications.get(kind="message_received")
    assert n.email_skipped_reason == "on-page"
