"""The question page's panels read less by remembering facts per question version
(premium.panel, privacy.panel): what they show still follows every change."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from premium import services as premium_services
from questions import services as question_services

pytestmark = pytest.mark.django_db


def page(client, question) -> str:
    response = client.get(reverse("question_detail", args=[question.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_private_box_shows_once_an_offer_is_accepted(client, world, due_question, phone_call):
    client.force_login(world.customer)
    assert 'id="private-box"' not in page(client, due_question)  # "no box" remembered
    offer = premium_services.offer_send(
        expert=world.expert,
        question_id=due_question.pk,
        template_id=phone_call.pk,
        price_minor=4000,
        description="A call",
    )
    assert 'id="private-box"' not in page(client, due_question)
    premium_services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert 'id="private-box"' in page(client, due_question)
    client.force_login(world.expert)
    assert 'id="private-box"' in page(client, due_question)


def test_the_offer_button_follows_the_customers_replies(client, world, assigned_question, tool):
    client.force_login(world.expert)
    question_services.message_post(
        question_id=assigned_question.pk, author=world.customer, body="It rattles"
    )
    assert 'data-allowed="0"' in page(client, assigned_question)  # one reply: not yet
    question_services.message_post(
        question_id=assigned_question.pk, author=world.customer, body="Only over bumps"
    )
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        assert 'data-allowed="1"' in page(client, assigned_question)
