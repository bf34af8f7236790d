"""The intake chat bot, the chat-or-phone choice and phone-call requests (questions.intake,
premium.phone), through the services and the pages."""

from __future__ import annotations

from typing import cast

import pytest
from django.urls import reverse

from marketplace import rollout
from marketplace.errors import Conflict, InvalidInput, NotFound
from marketplace.models import Rollout, User
from payments.models import Payment, PaymentStatus
from premium.models import Offer, OfferKind, OfferStatus, ServiceKind
from questions import intake
from questions import services as question_services
from questions.models import (
    Channel,
    Experience,
    IntakeKind,
    IntakeQuestion,
    IntakeSession,
    Question,
    QuestionStatus,
)
from tests.factories import make_customer, make_expert, make_question

pytestmark = pytest.mark.django_db

PHONE_PRICE = 4_900


@pytest.fixture
def script(world):
    """The Cars category's intake questions, with a phone-call price."""
    world.category.phone_call_price_minor = PHONE_PRICE
    world.category.save()
    IntakeQuestion.objects.create(
        category=world.category, position=1, prompt="Which make is the car?", max_chars=40
    )
    IntakeQuestion.objects.create(
        category=world.category,
        position=2,
        prompt="Is the engine petrol or diesel?",
        kind=IntakeKind.CHOICE,
        choices="Petrol\nDiesel\nElectric",
    )
    IntakeQuestion.objects.create(
        category=world.category, position=3, prompt="Retired question", is_active=False
    )
    return world.category


@pytest.fixture
def phone_first(world, script):
    """The rollout: US customers in Cars, everyone of them."""
    row = Rollout.objects.create(
        key=rollout.PHONE_FIRST, is_enabled=True, countries="US", share_bp=10_000
    )
    row.categories.set([world.category])
    return row


def start(customer, category, *, title="Engine light", price_minor=2_500):
    return intake.intake_start(
        customer=customer,
        category=category,
        title=title,
        body="The check engine light came on after refuelling.",
        price_minor=price_minor,
    )


def answer_all(session, customer):
    intake.intake_answer(intake_id=session.pk, customer=customer, answer="Volkswagen")
    return intake.intake_answer(intake_id=session.pk, customer=customer, answer="diesel")


# --- The bot's steps -------------------------------------------------------------------


def test_the_bot_asks_the_categorys_active_questions_in_order(world, script):
    session = start(world.customer, script)
    step = intake.next_step(session)
    assert step is not None and step.prompt == "Which make is the car?"
    session = intake.intake_answer(intake_id=session.pk, customer=world.customer, answer="VW")
    step = intake.next_step(session)
    assert step is not None and step.prompt == "Is the engine petrol or diesel?"
    assert step.choices == ("Petrol", "Diesel", "Electric")
    session = intake.intake_answer(intake_id=session.pk, customer=world.customer, answer="diesel")
    assert intake.next_step(session) is None  # the retired question is not asked
    assert intake.transcript(session) == [
        {"prompt": "Which make is the car?", "answer": "VW"},
        {"prompt": "Is the engine petrol or diesel?", "answer": "Diesel"},
    ]


def test_an_unknown_choice_is_refused_with_the_choices_and_nothing_is_recorded(world, script):
    session = start(world.customer, script)
    intake.intake_answer(intake_id=session.pk, customer=world.customer, answer="VW")
    with pytest.raises(InvalidInput) as err:
        intake.intake_answer(intake_id=session.pk, customer=world.customer, answer="Steam")
    assert "“Steam” is not one of the answers here" in err.value.message
    assert "Petrol, Diesel, Electric" in err.value.message
    session.refresh_from_db()
    assert session.answers == ["VW"]


def test_an_over_long_answer_is_refused_with_the_limit(world, script):
    session = start(world.customer, script)
    with pytest.raises(InvalidInput) as err:
        intake.intake_answer(intake_id=session.pk, customer=world.customer, answer="x" * 41)
    assert err.value.message.startswith("Your answer is too long: 41 characters; the limit is 40")
    session.refresh_from_db()
    assert session.answers == []


def test_an_admins_edit_does_not_change_a_conversation_under_way(world, script):
    session = start(world.customer, script)
    IntakeQuestion.objects.filter(category=script).update(prompt="Changed?")
    assert intake.next_step(session).prompt == "Which make is the car?"  # type: ignore[union-attr]


def test_another_customer_cannot_see_or_answer_the_conversation(world, script):
    session = start(world.customer, script)
    with pytest.raises(NotFound):
        intake.intake_get_for_user(intake_id=session.pk, user=world.other_customer)
    with pytest.raises(NotFound):
        intake.intake_answer(intake_id=session.pk, customer=world.other_customer, answer="VW")


def test_an_out_of_range_chat_price_is_refused_before_the_bot_asks_anything(world, script):
    with pytest.raises(InvalidInput, match="must be between"):
        start(world.customer, script, price_minor=1)
    assert not IntakeSession.objects.exists()


# --- Chat (today's flow, after the bot) ------------------------------------------------


def test_the_chat_question_carries_the_transcript_and_the_experience(world, script):
    session = answer_all(start(world.customer, script), world.customer)
    draft = intake.intake_finish_chat(intake_id=session.pk, customer=world.customer)
    question, payment = question_services.question_pay_and_post(
        question_id=draft.pk, customer=world.customer
    )
    assert question.status == QuestionStatus.OPEN and question.channel == Channel.CHAT
    assert payment is not None and payment.amount_minor == 2_500
    assert question.bot_transcript[1] == {
        "prompt": "Is the engine petrol or diesel?",
        "answer": "Diesel",
    }
    assert question.experience == Experience.NONE
    # A second click gets the same draft, not a second question.
    assert intake.intake_finish_chat(intake_id=session.pk, customer=world.customer) == draft


def test_finishing_before_every_answer_is_refused(world, script):
    session = start(world.customer, script)
    with pytest.raises(Conflict, match="Answer the bot's questions first"):
        intake.intake_finish_chat(intake_id=session.pk, customer=world.customer)


# --- Phone-first -----------------------------------------------------------------------


def phone_request(customer, category, title="Engine light"):
    session = answer_all(start(customer, category, title=title), customer)
    question = intake.intake_finish_phone(intake_id=session.pk, customer=customer)
    booking = intake.phone_request_book(question_id=question.pk, customer=customer)
    question.refresh_from_db()
    return question, booking


def test_a_phone_request_is_one_auto_offer_charged_up_front_and_posted(world, phone_first):
    question, booking = phone_request(world.customer, world.category)
    assert booking.status == "paid"
    assert question.status == QuestionStatus.OPEN
    assert question.channel == Channel.PHONE
    assert question.experience == Experience.FEATURE
    assert question.price_display == "$49.00"
    offer = Offer.objects.get(question=question)
    assert (offer.kind, offer.service_kind, offer.status, offer.price_minor) == (
        OfferKind.AUTO,
        ServiceKind.PHONE_CALL,
        OfferStatus.ACCEPTED,
        PHONE_PRICE,
    )
    charges = Payment.objects.filter(user=world.customer, status=PaymentStatus.SUCCEEDED)
    assert [(p.reference, p.amount_minor) for p in charges] == [(f"offer-{offer.pk}", PHONE_PRICE)]
    # Booking again (a double click) charges nothing more and makes no second offer.
    again = intake.phone_request_book(question_id=question.pk, customer=world.customer)
    assert again.status == "paid"
    assert Offer.objects.filter(question=question).count() == 1
    assert Payment.objects.filter(user=world.customer).count() == 1


def test_a_second_phone_request_while_one_is_open_is_refused_and_loses_nothing(world, phone_first):
    phone_request(world.customer, world.category)
    session = answer_all(start(world.customer, world.category, title="Second"), world.customer)
    with pytest.raises(Conflict) as err:
        intake.intake_finish_phone(intake_id=session.pk, customer=world.customer)
    assert "You already have a phone-call request open (“Engine light”)" in err.value.message
    session.refresh_from_db()
    assert session.question is None and session.answers == ["Volkswagen", "Diesel"]
    assert Question.objects.filter(customer=world.customer).count() == 1
    # Chat is still open to them for this one.
    draft = intake.intake_finish_chat(intake_id=session.pk, customer=world.customer)
    assert draft.channel == Channel.CHAT and draft.title == "Second"


def test_a_new_phone_request_is_allowed_once_the_first_is_picked_up(world, phone_first):
    first, _ = phone_request(world.customer, world.category)
    question_services.question_pick_up(question_id=first.pk, expert=world.expert)
    second, booking = phone_request(world.customer, world.category, title="Another")
    assert booking.status == "paid" and second.status == QuestionStatus.OPEN


def test_a_declined_card_leaves_the_request_unposted_and_it_can_be_paid_again(world, phone_first):
    from tests.factories import save_card

    save_card(world.customer, "4000000000000341")  # attaches; every charge is declined
    question, booking = phone_request(world.customer, world.category)
    assert booking.status == "failed" and "declined" in booking.message.lower()
    assert question.status == QuestionStatus.INTAKE
    save_card(world.customer, "4242424242424242")
    booking = intake.phone_request_book(question_id=question.pk, customer=world.customer)
    question.refresh_from_db()
    assert booking.status == "paid" and question.status == QuestionStatus.OPEN
    assert Offer.objects.filter(question=question).count() == 1


def test_a_customer_outside_the_rollout_gets_no_phone_choice(world, phone_first):
    outside = make_customer(country="CA")
    session = answer_all(start(outside, world.category), outside)
    assert session.experience == Experience.NONE and not intake.offers_choice(session)
    with pytest.raises(Conflict, match="not offered"):
        intake.intake_finish_phone(intake_id=session.pk, customer=outside)


def test_the_control_group_is_recorded_on_its_questions(world, phone_first):
    phone_first.share_bp = 0
    phone_first.save()
    session = answer_all(start(world.customer, world.category), world.customer)
    draft = intake.intake_finish_chat(intake_id=session.pk, customer=world.customer)
    assert draft.experience == Experience.CONTROL
    assert Question.objects.get(pk=draft.pk).experience == Experience.CONTROL


# --- The expert's side -----------------------------------------------------------------


def test_the_bot_conversation_opens_to_the_expert_only_after_accepting(client, world, phone_first):
    question, _ = phone_request(world.customer, world.category)
    url = reverse("question_detail", args=[question.pk])
    client.force_login(world.expert)
    before = client.get(url).content.decode()
    assert "Phone call request" in before and "$49.00" in before
    assert "Volkswagen" not in before and "Engine light" not in before
    client.post(reverse("question_pick_up", args=[question.pk]))
    after = client.get(url).content.decode()
    assert 'id="bot-conversation"' in after and "Volkswagen" in after
    # The one who accepted is the phone call's expert (and files its report).
    assert Offer.objects.get(question=question).expert_id == world.expert.pk
    client.force_login(world.same_category_expert)
    assert client.get(url).status_code == 404


def test_the_request_center_lists_phone_requests_of_the_experts_categories_only(
    client, world, phone_first
):
    phone, _ = phone_request(world.customer, world.category)
    chat = make_question(customer=world.other_customer, category=world.category, title="Chat")
    client.force_login(world.expert)
    page = client.get(reverse("request_center")).content.decode()
    assert f'data-question="{phone.pk}"' in page and f'data-question="{chat.pk}"' not in page
    assert "channel-phone" in page and "$49.00" in page and "Engine light" not in page
    client.force_login(world.other_category_expert)
    assert (
        f'data-question="{phone.pk}"' not in client.get(reverse("request_center")).content.decode()
    )
    client.force_login(world.customer)
    assert client.get(reverse("request_center")).status_code == 403


def test_an_unverified_expert_sees_no_request_center(client, world, phone_first):
    client.force_login(make_expert(world.category, verified=False))
    assert client.get(reverse("request_center")).status_code == 403


# --- The pages -------------------------------------------------------------------------


def ask_page(client, category, price="25.00"):
    return client.post(
        reverse("ask"),
        {"category": category.pk, "title": "Engine light", "body": "Came on.", "price": price},
    )


def test_the_ask_page_hands_over_to_the_bot_and_a_bad_answer_keeps_what_was_typed(
    client, world, script
):
    client.force_login(world.customer)
    response = ask_page(client, world.category)
    session = IntakeSession.objects.get(customer=world.customer)
    assert response.status_code == 302 and response["Location"] == f"/ask/{session.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Which make is the car?" in page
    client.post(response["Location"], {"answer": "Volkswagen"})
    bad = client.post(response["Location"], {"answer": "Steam engine"})
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "is not one of the answers here" in text and 'value="Steam engine"' in text
    long = client.post(response["Location"], {"answer": "D" * 400})
    assert "too long" in long.content.decode()
    client.post(response["Location"], {"answer": "Petrol"})
    summary = client.get(response["Location"]).content.decode()
    assert (
        "Here is what I will pass on" in summary and 'name="channel" value="phone"' not in summary
    )
    posted = client.post(reverse("intake_finish", args=[session.pk]), {"channel": "chat"})
    question = Question.objects.get(customer=world.customer)
    assert posted["Location"] == f"/q/{question.pk}/"
    assert (
        question.status == QuestionStatus.OPEN and question.bot_transcript[1]["answer"] == "Petrol"
    )


def test_the_phone_choice_shows_its_price_and_books_the_call(client, world, phone_first):
    client.force_login(world.customer)
    location = ask_page(client, world.category)["Location"]
    client.post(location, {"answer": "VW"})
    client.post(location, {"answer": "Diesel"})
    page = client.get(location).content.decode()
    assert 'name="channel" value="phone"' in page and "$49.00" in page
    session = IntakeSession.objects.get(customer=world.customer)
    response = client.post(reverse("intake_finish", args=[session.pk]), {"channel": "phone"})
    question = Question.objects.get(customer=world.customer)
    assert response["Location"] == f"/q/{question.pk}/"
    assert question.channel == Channel.PHONE and question.status == QuestionStatus.OPEN
    # A second phone request is refused on the page, with the conversation kept.
    location = ask_page(client, world.category)["Location"]
    client.post(location, {"answer": "Audi"})
    client.post(location, {"answer": "Petrol"})
    second = IntakeSession.objects.filter(customer=world.customer).latest("pk")
    refused = client.post(reverse("intake_finish", args=[second.pk]), {"channel": "phone"})
    assert refused.status_code == 409
    text = refused.content.decode()
    assert "already have a phone-call request open" in text and "Audi" in text


def test_without_intake_questions_nor_rollout_the_ask_page_posts_at_once(client, world):
    client.force_login(world.customer)
    response = ask_page(client, world.category)
    question = Question.objects.get(customer=world.customer)
    assert response["Location"] == f"/q/{question.pk}/"
    assert question.status == QuestionStatus.OPEN and question.bot_transcript == []


def test_the_rollout_report_compares_the_groups_for_staff_only(
    client, settings, world, phone_first
):
    settings.EXPERTLINE_STAFF_MFA_REQUIRED = False  # the admin's two-factor step is not the point
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    phone_request(world.customer, world.category)
    url = reverse("admin:questions_rollout_report")
    client.force_login(world.customer)
    assert client.get(url).status_code == 302  # to the admin login
    staff = cast(User, UserFactory(is_staff=True))
    staff.user_permissions.add(Permission.objects.get(codename="view_question"))
    client.force_login(staff)
    page = client.get(url).content.decode()
    feature_row = page.split('data-experience="feature"')[1].split("</tr>")[0]
    assert '<td class="questions">1</td>' in feature_row
    assert '<td class="uptake">100.0%</td>' in feature_row
    assert '<td class="revenue">$49.00</td>' in feature_row


# --- The API ---------------------------------------------------------------------------


def test_the_request_center_api_shows_category_price_and_channel_only(world, phone_first):
    from tests.conftest import api_as

    question, _ = phone_request(world.customer, world.category)
    rows = api_as(world.expert).get("/api/request-center/").json()["results"]
    assert [(r["id"], r["channel"], r["price_minor"]) for r in rows] == [
        (question.pk, "phone", PHONE_PRICE)
    ]
    assert rows[0]["title"] == "Phone call request" and rows[0]["summary"] == ""
    assert api_as(world.customer).get("/api/request-center/").status_code == 403
    assert api_as(world.other_category_expert).get("/api/request-center/").json()["results"] == []


def test_the_bot_conversation_api_opens_to_the_expert_after_accepting(world, phone_first):
    from tests.conftest import api_as

    question, _ = phone_request(world.customer, world.category)
    url = f"/api/questions/{question.pk}/bot-conversation/"
    assert api_as(world.expert).get(url).status_code == 404
    preview = api_as(world.expert).get(f"/api/questions/{question.pk}/").json()["preview"]
    assert "Engine light" not in str(preview)
    api_as(world.expert).post(f"/api/questions/{question.pk}/pick-up/")
    transcript = api_as(world.expert).get(url).json()["transcript"]
    assert transcript[0] == {"prompt": "Which make is the car?", "answer": "Volkswagen"}
    assert api_as(world.customer).get(url).status_code == 200
    assert api_as(world.same_category_expert).get(url).status_code == 404


def test_experts_are_told_of_a_phone_request_without_its_title(
    world, phone_first, django_capture_on_commit_callbacks
):
    from marketplace.models import Notification

    with django_capture_on_commit_callbacks(execute=True):
        phone_request(world.customer, world.category)
    told = Notification.objects.get(user=world.expert, kind="question_posted")
    assert told.text == "New Cars phone-call request ($49.00)"


def test_admins_set_the_rollout_and_reach_the_report_from_it(client, settings, world):
    settings.EXPERTLINE_STAFF_MFA_REQUIRED = False
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("root@example.com", "pw-Admin-123")
    client.force_login(admin_user)
    response = client.post(
        "/admin/marketplace/rollout/add/",
        {
            "key": "phone-first",
            "is_enabled": "on",
            "countries": "US",
            "categories": [world.category.pk],
            "share_bp": "2500",
            "salt": "expertline",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert rollout.rule_get(rollout.PHONE_FIRST) == rollout.RolloutRule(
        key="phone-first",
        is_enabled=True,
        countries=frozenset({"US"}),
        category_ids=frozenset({world.category.pk}),
        share_bp=2500,
        salt="expertline",
    )
    listing = client.get("/admin/marketplace/rollout/").content.decode()
    assert reverse("admin:questions_rollout_report") in listing and "25%" in listing


def test_an_unpaid_phone_request_is_named_when_a_second_is_refused(world, phone_first):
    from tests.factories import save_card

    save_card(world.customer, "4000000000000341")  # every charge declined
    phone_request(world.customer, world.category)
    session = answer_all(start(world.customer, world.category, title="Second"), world.customer)
    with pytest.raises(Conflict, match="not paid yet: pay for it from its page"):
        intake.intake_finish_phone(intake_id=session.pk, customer=world.customer)


def test_a_declined_phone_payment_comes_back_to_the_bot_page_to_pay_again(
    client, world, phone_first
):
    from tests.factories import save_card

    save_card(world.customer, "4000000000000341")
    client.force_login(world.customer)
    location = ask_page(client, world.category)["Location"]
    client.post(location, {"answer": "VW"})
    client.post(location, {"answer": "Diesel"})
    session = IntakeSession.objects.get(customer=world.customer)
    refused = client.post(reverse("intake_finish", args=[session.pk]), {"channel": "phone"})
    assert refused.status_code == 402
    text = refused.content.decode()
    assert "The payment did not go through" in text and "Nothing was charged" in text
    # The page (and the draft's page) offer to pay again; a good card books the call.
    assert "Pay $49.00 and request the call" in client.get(location).content.decode()
    question = Question.objects.get(customer=world.customer)
    assert "Pay $49.00 and request the call" in client.get(f"/q/{question.pk}/").content.decode()
    save_card(world.customer, "4242424242424242")
    paid = client.post(reverse("intake_finish", args=[session.pk]), {"channel": "phone"})
    assert paid["Location"] == f"/q/{question.pk}/"
    question.refresh_from_db()
    assert question.status == QuestionStatus.OPEN
    assert Payment.objects.filter(user=world.customer, status=PaymentStatus.SUCCEEDED).count() == 1


def test_all_questions_shows_a_phone_request_by_category_price_and_icon_only(
    client, world, phone_first
):
    question, _ = phone_request(world.customer, world.category)
    client.force_login(world.expert)
    page = client.get(reverse("all_questions")).content.decode()
    row = page.split(f'data-question="{question.pk}"')[1].split("</li>")[0]
    assert "Phone call request" in row and "$49.00" in row and "channel-phone" in row
    assert "Engine light" not in row and "refuelling" not in row


def test_the_credit_sweep_passes_over_phone_requests(world, phone_first):
    from datetime import timedelta

    from django.utils import timezone

    from questions import credit

    question, _ = phone_request(world.customer, world.category)
    question_services.question_pick_up(question_id=question.pk, expert=world.expert)
    chat = make_question(customer=world.other_customer, category=world.category)
    question_services.question_pick_up(question_id=chat.pk, expert=world.expert)
    later = timezone.now() + timedelta(days=60)
    # A batch of one: the chat question is credited; the phone request does not block it.
    assert credit.credit_sweep(now=later, batch=1) == 1
    chat.refresh_from_db()
    question.refresh_from_db()
    assert chat.credited_at is not None and question.credited_at is None


def test_the_bot_over_the_api_start_answer_and_book_a_phone_call(world, phone_first):
    from tests.conftest import api_as

    api = api_as(world.customer)
    start_body = {"category": "cars", "title": "Engine light", "body": "On.", "price_minor": 2500}
    started = api.post("/api/intake/", start_body, format="json")
    assert started.status_code == 201
    intake_id = started.json()["id"]
    assert started.json()["next_question"]["prompt"] == "Which make is the car?"
    api.post(f"/api/intake/{intake_id}/answers/", {"answer": "VW"}, format="json")
    bad = api.post(f"/api/intake/{intake_id}/answers/", {"answer": "Steam"}, format="json")
    assert bad.status_code == 400 and "not one of the answers here" in bad.json()["detail"]
    done = api.post(f"/api/intake/{intake_id}/answers/", {"answer": "Diesel"}, format="json")
    assert done.json()["channels"] == ["chat", "phone"]
    assert done.json()["phone_price_minor"] == PHONE_PRICE
    booked = api.post(f"/api/intake/{intake_id}/finish/", {"channel": "phone"}, format="json")
    assert booked.status_code == 201, booked.content
    assert booked.json()["booking"]["status"] == "paid"
    assert booked.json()["channel"] == "phone" and booked.json()["status"] == "open"
    again = api.post("/api/intake/", {**start_body, "title": "Again"}, format="json").json()
    api.post(f"/api/intake/{again['id']}/answers/", {"answer": "VW"}, format="json")
    api.post(f"/api/intake/{again['id']}/answers/", {"answer": "Diesel"}, format="json")
    refused = api.post(f"/api/intake/{again['id']}/finish/", {"channel": "phone"}, format="json")
    assert refused.status_code == 409
    assert "already have a phone-call request open" in refused.json()["detail"]
    assert api_as(world.other_customer).get(f"/api/intake/{intake_id}/").status_code == 404
