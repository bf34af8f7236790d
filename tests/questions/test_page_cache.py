"""The question page's conversation is cached (questions.fragments): every change a
viewer should see still shows on the next page load."""

import pytest
from django.urls import reverse

from marketplace.roles import CUSTOMER_CARE
from privacy import services as privacy_services
from privacy.models import Flag
from questions import services
from tests.payments.test_refunds import staff

pytestmark = pytest.mark.django_db


def page(client, question) -> str:
    response = client.get(reverse("question_detail", args=[question.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_new_message_shows_on_the_next_load(client, world, assigned_question):
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="first")
    client.force_login(world.customer)
    assert "first" in page(client, assigned_question)
    services.message_post(
        question_id=assigned_question.pk, author=world.expert, body="second answer"
    )
    html = page(client, assigned_question)
    assert "first" in html and "second answer" in html


def test_a_redacted_message_is_gone_from_the_page(client, world, assigned_question):
    services.message_post(
        question_id=assigned_question.pk, author=world.customer, body="call me at 555 0101 1234"
    )
    client.force_login(world.expert)
    assert "555 0101 1234" in page(client, assigned_question)  # now cached
    flag = Flag.objects.get(message__question=assigned_question)
    privacy_services.flag_redact(flag_id=flag.pk, staff=staff(CUSTOMER_CARE))
    html = page(client, assigned_question)
    assert "555 0101 1234" not in html
    assert "removed: personal information" in html


def test_each_viewer_sees_their_own_messages_as_theirs(client, world, assigned_question):
    services.message_post(question_id=assigned_question.pk, author=world.customer, body="hi")
    client.force_login(world.customer)
    assert 'class="msg mine"' in page(client, assigned_question)
    client.force_login(world.expert)
    html = page(client, assigned_question)
    assert 'class="msg mine"' not in html and 'class="msg"' in html


def test_times_follow_a_change_of_time_zone(client, world, assigned_question):
    message = services.message_post(
        question_id=assigned_question.pk, author=world.expert, body="hello"
    )
    client.force_login(world.customer)
    utc = message.created_at.strftime("%H:%M")
    assert f">{message.created_at.strftime('%b %d')}, {utc}</time>" in page(
        client, assigned_question
    )
    world.customer.timezone = "Asia/Kolkata"  # UTC+05:30, no daylight saving
    world.customer.save(update_fields=["timezone"])
    from zoneinfo import ZoneInfo

    local = message.created_at.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%b %d, %H:%M")
    assert f">{local}</time>" in page(client, assigned_question)


def test_a_new_display_name_shows_on_old_messages(client, world, assigned_question):
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="hello")
    client.force_login(world.customer)
    page(client, assigned_question)
    world.expert.display_name = "Dr. Renamed"
    world.expert.save(update_fields=["display_name"])
    assert '<p class="who">Dr. Renamed <time' in page(client, assigned_question)
