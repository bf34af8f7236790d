"""Rate limits: the action one past the limit gets 429 with a message a person can act on,
and nothing of it is stored. Messages, flags, offers, uploads, card saving, the private box,
and the login lockout after repeated wrong passwords."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import Card, CardSetup
from premium import services as premium_services
from premium.models import Offer, OfferStatus
from privacy.models import Flag, PrivateAttachment, PrivateBox
from questions import services as question_services
from questions.models import Message

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JSON = {"HTTP_ACCEPT": "application/json"}


def page_says(response, text: str) -> bool:
    return text in response.content.decode()


@override_settings(EXPERTLINE_MESSAGE_RATE_PER_MINUTE=2)
def test_messages_past_the_limit_get_429(client, world, assigned_question):
    client.force_login(world.customer)
    url = f"/q/{assigned_question.pk}/messages"
    before = Message.objects.count()
    for i in range(2):
        assert client.post(url, {"body": f"Reply {i}"}, **JSON).status_code == 201
    response = client.post(url, {"body": "One too many"}, **JSON)
    assert response.status_code == 429
    assert "too quickly" in response.json()["detail"]
    assert Message.objects.count() == before + 2
    assert not Message.objects.filter(body="One too many").exists()


@override_settings(EXPERTLINE_MESSAGE_RATE_PER_MINUTE=1)
def test_messages_past_the_limit_get_429_without_javascript(client, world, assigned_question):
    client.force_login(world.customer)
    url = f"/q/{assigned_question.pk}/messages"
    assert client.post(url, {"body": "First"}).status_code == 302
    response = client.post(url, {"body": "One too many"})
    assert response.status_code == 429
    assert page_says(response, "You are sending messages too quickly")
    assert not Message.objects.filter(body="One too many").exists()


@override_settings(EXPERTLINE_FLAGS_PER_HOUR=2)
def test_flags_past_the_limit_get_429(client, world, assigned_question):
    ids = [
        question_services.message_post(
            question_id=assigned_question.pk, author=world.expert, body=f"Answer {i}"
        ).pk
        for i in range(3)
    ]
    client.force_login(world.customer)
    for message_id in ids[:2]:
        assert client.post(f"/messages/{message_id}/flag", {"reason": "other"}).status_code == 302
    response = client.post(f"/messages/{ids[2]}/flag", {"reason": "other"})
    assert response.status_code == 429
    assert page_says(response, "You have flagged many messages")
    assert Flag.objects.filter(flagged_by=world.customer).count() == 2
    assert not Flag.objects.filter(message_id=ids[2]).exists()


def _offer_form(phone_call) -> dict[str, object]:
    return {"service": str(phone_call.pk), "price": "40.00", "description": "A call"}


def _due_again(world, question) -> None:
    """Two more customer replies after a withdrawal, then past the category's delay."""
    for body in ("Still rattles", "Any news?"):
        question_services.message_post(question_id=question.pk, author=world.customer, body=body)


@override_settings(EXPERTLINE_OFFERS_PER_HOUR=1)
def test_offers_past_the_limit_get_429_on_the_page(client, world, due_question, phone_call):
    client.force_login(world.expert)
    url = reverse("offer_send", args=[due_question.pk])
    assert client.post(url, _offer_form(phone_call)).status_code == 302
    first = Offer.objects.get(question=due_question)
    premium_services.offer_withdraw(offer_id=first.pk, expert=world.expert)
    _due_again(world, due_question)
    with time_machine.travel(timezone.now() + timedelta(seconds=120), tick=True):
        # Due again: only the rate limit stands in the way.
        assert premium_services.eligibility_for(question=due_question, expert=world.expert).allowed
        response = client.post(url, _offer_form(phone_call))
    assert response.status_code == 429
    assert page_says(response, "You have sent many offers in the last hour")
    assert list(Offer.objects.filter(question=due_question).values_list("status", flat=True)) == [
        OfferStatus.WITHDRAWN
    ]


@override_settings(EXPERTLINE_OFFERS_PER_HOUR=1)
def test_offers_past_the_limit_get_429_in_the_api(world, due_question, phone_call):
    api = APIClient()
    api.force_authenticate(world.expert)
    url = reverse("api_question_offers", args=[due_question.pk])
    body = {"template_id": phone_call.pk, "price_minor": 4000, "description": "A call"}
    assert api.post(url, body, format="json").status_code == 201
    premium_services.offer_withdraw(
        offer_id=Offer.objects.get(question=due_question).pk, expert=world.expert
    )
    _due_again(world, due_question)
    with time_machine.travel(timezone.now() + timedelta(seconds=120), tick=True):
        response = api.post(url, body, format="json")
    assert response.status_code == 429
    assert "many offers" in response.json()["detail"]
    assert Offer.objects.filter(question=due_question).count() == 1


@override_settings(EXPERTLINE_PRIVATE_UPLOADS_PER_HOUR=2)
def test_uploads_past_the_limit_get_429(client, world, accepted, settings, tmp_path):
    settings.PRIVATE_FILES_DIR = tmp_path
    client.force_login(world.customer)
    url = f"/q/{accepted.pk}/private/files"
    for i in range(2):
        upload = SimpleUploadedFile(f"x{i}.png", PNG, content_type="image/png")
        assert client.post(url, {"file": upload}).status_code == 302
    upload = SimpleUploadedFile("x3.png", PNG, content_type="image/png")
    response = client.post(url, {"file": upload})
    assert response.status_code == 429
    assert page_says(response, "Too many uploads")
    assert PrivateAttachment.objects.filter(question=accepted).count() == 2
    assert len(list(tmp_path.iterdir())) == 2


@override_settings(EXPERTLINE_PRIVATE_WRITES_PER_MINUTE=2)
def test_private_box_writes_past_the_limit_get_429(client, world, accepted):
    client.force_login(world.customer)
    url = f"/q/{accepted.pk}/private"
    for phone in ("+1 415 555 0101", "+1 415 555 0102"):
        assert client.post(url, {"phone": phone}).status_code == 302
    response = client.post(url, {"phone": "+1 415 555 0199"})
    assert response.status_code == 429
    assert page_says(response, "Too many changes at once")
    box = PrivateBox.objects.get(question=accepted)
    assert box.customer_info is not None
    assert box.customer_info["phone"] == "+1 415 555 0102"


@override_settings(EXPERTLINE_CARD_SAVES_PER_HOUR=2)
def test_card_saves_past_the_limit_get_429(client, world):
    user = world.other_customer  # already saved one card (the factory's)
    client.force_login(user)
    form = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    assert client.post(reverse("payment_card"), form).status_code == 302
    setups = CardSetup.objects.filter(user=user).count()
    cards = Card.objects.filter(user=user).count()
    response = client.post(reverse("payment_card"), {**form, "number": "5555555555554444"})
    assert response.status_code == 429
    assert page_says(response, "Too many card attempts")
    assert CardSetup.objects.filter(user=user).count() == setups
    assert Card.objects.filter(user=user).count() == cards


def test_login_locks_out_after_repeated_wrong_passwords(client, world):
    url = reverse("account_login")
    for _ in range(5):
        response = client.post(url, {"login": world.customer.email, "password": "wrong-guess"})
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
    # The right password is refused too while the lockout lasts.
    response = client.post(url, {"login": world.customer.email, "password": "pw-for-tests-123"})
    assert "_auth_user_id" not in client.session
    assert page_says(response, "Too many failed login attempts")
