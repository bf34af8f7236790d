"""The premium section of the question page is cached as HTML (premium/panel.py): every
change a person makes still shows on the next load, and the cached forms still post."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from premium import services
from premium.models import ServiceKind, ServiceTemplate
from questions import services as question_services

pytestmark = pytest.mark.django_db


def page(user, question, client: Client | None = None) -> str:
    client = client or Client()
    client.force_login(user)
    response = client.get(f"/q/{question.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def send(world, question, template):
    return services.offer_send(
        expert=world.expert,
        question_id=question.pk,
        template_id=template.pk,
        price_minor=4000,
        description="A call about the noise",
    )


def test_offer_decline_and_expiry_show_on_the_next_load(world, due_question, phone_call, settings):
    assert 'data-allowed="1"' in page(world.expert, due_question)  # cached now
    assert "Accept and pay" not in page(world.customer, due_question)

    offer = send(world, due_question, phone_call)
    assert f'id="offer-{offer.pk}"' in page(world.customer, due_question)
    expert_page = page(world.expert, due_question)
    assert 'data-status="sent"' in expert_page and "Withdraw this offer" in expert_page

    services.offer_decline(offer_id=offer.pk, customer=world.customer, reason="Too dear")
    assert "Declined: Too dear" in page(world.expert, due_question)
    assert 'data-status="declined"' in page(world.customer, due_question)

    for body in ("three", "four"):
        question_services.message_post(
            question_id=due_question.pk, author=world.customer, body=body
        )
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        second = send(world, due_question, phone_call)
        assert 'data-status="sent"' in page(world.customer, due_question)
    later = timezone.now() + timedelta(hours=settings.EXPERTLINE_OFFER_EXPIRY_HOURS, minutes=5)
    assert services.expiry_sweep(now=later) == 1
    customer_page = page(world.customer, due_question)
    assert f'id="offer-{second.pk}" data-status="expired"' in customer_page
    assert "Accept and pay" not in customer_page


def test_a_new_service_appears_in_the_offer_form(world, due_question, phone_call):
    assert "Phone call" in page(world.expert, due_question)
    assert "Written report" not in page(world.expert, due_question)  # served from the cache
    ServiceTemplate.objects.create(
        category=world.category,
        kind=ServiceKind.DOCUMENT_REVIEW,
        name="Written report",
        description="Two pages",
        usual_price_minor=3000,
    )
    assert "Written report" in page(world.expert, due_question)
    ServiceTemplate.objects.filter(name="Written report").delete()
    assert "Written report" not in page(world.expert, due_question)


def test_the_offer_button_is_ready_on_a_reload_once_due(world, assigned_question, tool):
    for body in ("It rattles", "Only over bumps"):
        question_services.message_post(
            question_id=assigned_question.pk, author=world.customer, body=body
        )
    early = page(world.expert, assigned_question)
    assert 'data-allowed="0"' in early and "You can offer premium services from" in early
    due_at = re.search(r'data-due-at="([^"]+)"', early)
    assert due_at and due_at.group(1)
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        ready = page(world.expert, assigned_question)
    assert 'data-allowed="1"' in ready and "offer-wait" not in ready


def test_every_session_gets_a_working_form_from_the_cached_section(world, due_question, phone_call):
    offer = send(world, due_question, phone_call)
    page(world.expert, due_question)  # renders and caches the section
    other = Client(enforce_csrf_checks=True)  # another browser: another CSRF secret
    html = page(world.expert, due_question, other)
    withdraw = html.split(f'action="/offers/{offer.pk}/withdraw"')[1]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', withdraw)
    assert token and "csrf" not in token.group(1)
    response = other.post(f"/offers/{offer.pk}/withdraw", {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.status == "withdrawn"
    assert 'data-status="withdrawn"' in page(world.customer, due_question)
