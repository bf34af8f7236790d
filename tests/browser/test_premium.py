"""Premium services in headless Chromium: the expert offers, the customer accepts or declines.

Two people in two browser contexts on the live server. The whole story goes through
the pages: the customer asks and pays, the expert picks it up, the customer replies
twice and the "Offer Premium Services" button appears on the expert's open page on its
own once the category's (shortened) delay has passed; the expert offers a new service
of their own, the customer sees the offer arrive through the live poll, accepts and
pays, and both open pages follow. The other tests start from an offer already sent
(through the services) and check a declined card, a card that asks for authentication
and a declined offer.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from marketplace import demo
from marketplace.models import Category, User
from payments.models import Payment, PaymentStatus
from premium import services as premium_services
from premium.models import Offer, OfferStatus, ServiceKind, ServiceTemplate
from questions import services as question_services
from questions.models import Question, QuestionStatus
from tests.browser.conftest import (
    CARD_AUTHENTICATE,
    CARD_CHARGE_DECLINED,
    CARD_OK,
    NewContext,
    cars,
    log_in,
    nav,
    seed_expert,
    shot,
)
from tests.factories import make_question, save_card

pytestmark = [
    pytest.mark.browser,
    # pytest-playwright's own base_url fixture (not ours) triggers this deprecation.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

LIVE = 5_000  # ms: a change made by the other person reaches an open page by the poll
POLL_MS = 500
OFFER_DELAY_SECONDS = 3
TITLE = "Clunk from the front left wheel over bumps"
NEW_SERVICE = "Video inspection of the suspension"
NEW_SERVICE_DESCRIPTION = "You film the wheel arch while I guide you, 30 minutes"
OFFER_DESCRIPTION = "A video call: I show you what to check on the front suspension."


# --- Helpers -------------------------------------------------------------------------


def customer(card: str = CARD_OK) -> User:
    user = demo.customer_ensure("casey@example.com", name="Casey Driver")
    save_card(user, card.replace(" ", ""))
    return user


def phone_call(category: Category) -> ServiceTemplate:
    return ServiceTemplate.objects.create(
        category=category,
        kind=ServiceKind.PHONE_CALL,
        name="Phone call with the mechanic",
        description="20 minutes on the phone",
        usual_price_minor=3900,
    )


def offer_delay(category: Category, seconds: int) -> None:
    Category.objects.filter(pk=category.pk).update(offer_delay_seconds=seconds)


def send(page: Page, text: str) -> None:
    """Write in the thread; the page appends the message itself, without a reload."""
    mine = page.locator("#thread li.msg.mine")
    count = mine.count()
    page.locator("#id_body").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(mine).to_have_count(count + 1)
    expect(mine.last.locator(".text")).to_have_text(text)


def last_message(page: Page) -> Any:
    return page.locator("#thread li.msg").last


def offer_button(page: Page) -> Any:
    """The orange "Offer Premium Services" summary of the expert's offer composer."""
    return page.locator("details.offer-composer > summary", has_text="Offer Premium Services")


def count_navigations(page: Page) -> list[str]:
    navigations: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    return navigations


def offer_sent(category: Category, client: User, expert: User) -> Offer:
    """A question in conversation, due for an offer at once (no delay), and the expert's
    offer of the category's phone call at $40.00, waiting for the customer."""
    offer_delay(category, 0)
    template = phone_call(category)
    question = make_question(customer=client, category=category, title=TITLE, price_minor=3000)
    question_services.question_pick_up(question_id=question.pk, expert=expert)
    for body in ("It clunks over every speed bump.", "Only on the left, and only at low speed."):
        question_services.message_post(question_id=question.pk, author=client, body=body)
    return premium_services.offer_send(
        expert=expert,
        question_id=question.pk,
        template_id=template.pk,
        price_minor=4000,
        description="A 20-minute call about the clunk.",
    )


def offer_payments(offer: Offer) -> list[str]:
    return list(
        Payment.objects.filter(reference=f"offer-{offer.pk}")
        .order_by("pk")
        .values_list("status", flat=True)
    )


def open_question(page: Page, base: str, question_id: int) -> None:
    page.goto(f"{base}/q/{question_id}/")
    expect(page.locator("#thread-page")).to_be_attached()


# --- The whole story through the pages ----------------------------------------------


def test_the_whole_premium_story(
    new_context: NewContext, live_server: Any, screenshots_dir: Path, settings: Any
) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = POLL_MS
    base = live_server.url
    category = cars()
    offer_delay(category, OFFER_DELAY_SECONDS)
    phone_call(category)
    expert = seed_expert(category)  # the premium tool is on by default
    casey = customer(CARD_OK)

    # --- The customer asks and pays with the saved card -------------------------------
    cpage = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    nav(cpage).get_by_role("link", name="Ask an expert").click()
    expect(cpage).to_have_url(re.compile(r"/ask/$"))
    cpage.locator("#id_category").select_option(label="Cars")
    cpage.locator("#id_title").fill(TITLE)
    cpage.locator("#id_body").fill(
        "Since last week there is a clunk from the front left wheel over bumps. "
        "It does not pull to one side. What should I check first?"
    )
    cpage.locator("#id_price").fill("30.00")
    cpage.get_by_role("button", name="Post my question").click()
    expect(cpage).to_have_url(re.compile(r"/q/\d+/$"))
    question = Question.objects.get(customer=casey)
    question_url = f"{base}/q/{question.pk}/"
    assert cpage.url == question_url
    expect(cpage.locator("#question-status")).to_have_text(QuestionStatus.OPEN.label)
    expect(cpage.locator("#receipt")).to_contain_text("Paid $30.00 with Visa •••• 4242")

    # --- The expert picks it up from All questions ------------------------------------
    epage = log_in(new_context, base, expert.email, demo.DEMO_PASSWORD)
    nav(epage).get_by_role("link", name="All questions").click()
    epage.locator(f'li.preview[data-question="{question.pk}"]').get_by_role(
        "button", name="Pick up"
    ).click()
    expect(epage).to_have_url(question_url)
    expect(epage.locator("#question-status")).to_have_text(QuestionStatus.ASSIGNED.label)
    # No offer yet: the control is there but hidden, with a note saying why.
    expect(offer_button(epage)).to_be_hidden()
    expect(epage.locator("details.offer-composer")).to_have_attribute("hidden", "")
    expect(epage.locator("#offer-form .offer-wait")).to_have_text(
        "You can offer premium services after 2 more customer replies, plus a short wait."
    )
    expert_navigations = count_navigations(epage)

    # --- The customer replies twice; the expert writes in between ---------------------
    expect(cpage.locator("#question-status")).to_have_text(
        QuestionStatus.ASSIGNED.label, timeout=LIVE
    )
    customer_navigations = count_navigations(cpage)
    send(cpage, "It clunks over every speed bump, not on smooth roads.")
    expect(last_message(epage).locator(".text")).to_contain_text("speed bump", timeout=LIVE)
    send(epage, "Does the steering wheel shake when it clunks?")
    expect(last_message(cpage).locator(".text")).to_contain_text("steering wheel", timeout=LIVE)
    expect(offer_button(epage)).to_be_hidden()  # one reply is not enough
    send(cpage, "No shaking, just the noise, and only at low speed.")
    second_reply = question.messages.filter(author=casey).order_by("-pk").first()
    assert second_reply is not None
    due_at = second_reply.created_at.timestamp() + OFFER_DELAY_SECONDS

    # The expert's open page learns of the 2nd reply: still no button, a note instead...
    expect(last_message(epage).locator(".text")).to_contain_text("low speed", timeout=LIVE)
    wrap = epage.locator("#offer-form")
    expect(wrap).to_have_attribute("data-due-at", re.compile(r"\d{4}-\d\d-\d\dT"))
    expect(wrap.locator(".offer-wait")).to_contain_text("You can offer premium services")
    assert time.time() < due_at, "the expert's page saw the 2nd reply only after the delay"
    expect(offer_button(epage)).to_be_hidden()

    # ...then the button appears on its own at its due time, without a reload.
    expect(offer_button(epage)).to_be_visible(timeout=8_000)
    assert time.time() >= due_at - 0.5, "the button appeared before it was due"
    expect(wrap.locator(".offer-wait")).to_have_count(0)
    assert expert_navigations == []
    shot(epage, screenshots_dir, "offer-button.png")

    # --- The expert offers a new service of their own at $40.00 -----------------------
    offer_button(epage).click()
    service = epage.locator("#id_service")
    expect(service).to_be_visible()
    expect(service.locator("option")).to_have_text(
        ["Phone call with the mechanic (usually $39.00)", "A new service…"]
    )
    service.select_option("new")
    epage.locator("#id_new_name").fill(NEW_SERVICE)
    epage.locator("#id_new_description").fill(NEW_SERVICE_DESCRIPTION)
    epage.locator("#id_new_usual_price").fill("45.00")
    epage.locator("#id_price").fill("40.00")
    epage.locator("#id_description").fill(OFFER_DESCRIPTION)
    epage.get_by_role("button", name="Send the offer").click()
    offer = Offer.objects.get(question=question)
    expect(epage).to_have_url(f"{question_url}#offer-{offer.pk}")
    expect(epage.locator(".flash")).to_contain_text(f"Your offer of {NEW_SERVICE} was sent.")
    card = epage.locator(f"article.offer#offer-{offer.pk}")
    expect(card.locator(".offer-service")).to_have_text(NEW_SERVICE)
    expect(card.locator(".offer-price")).to_have_text("$40.00")
    expect(card.locator(".offer-status")).to_have_text("Waiting for the customer")
    expect(card.get_by_role("button", name="Withdraw this offer")).to_be_visible()
    # While it waits, the expert cannot offer another one.
    expect(offer_button(epage)).to_be_hidden()
    expect(epage.locator("#offer-form .offer-wait")).to_have_text(
        "An offer on this question is already waiting for the customer."
    )
    assert offer.status == OfferStatus.SENT
    assert offer.price_minor == 4000
    assert offer.description == OFFER_DESCRIPTION

    # The new service is in the expert's catalog.
    epage.goto(f"{base}/premium/catalog/")
    expect(epage.get_by_role("heading", level=1)).to_have_text("Your services")
    listed = epage.locator("ul.qlist li", has_text=NEW_SERVICE)
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("usually $45.00")
    expect(listed).to_contain_text(NEW_SERVICE_DESCRIPTION)
    template = ServiceTemplate.objects.get(expert=expert)
    assert (template.name, template.usual_price_minor) == (NEW_SERVICE, 4500)
    assert offer.template_id == template.pk
    epage.goto(question_url)
    expect(card.locator(".offer-status")).to_have_text("Waiting for the customer")
    expert_navigations.clear()

    # --- The customer's open page shows the offer through the live poll ---------------
    ccard = cpage.locator(f"article.offer#offer-{offer.pk}")
    expect(ccard).to_be_visible(timeout=LIVE)
    assert customer_navigations == []
    expect(ccard.locator(".offer-service")).to_have_text(NEW_SERVICE)
    expect(ccard.locator(".offer-description")).to_have_text(OFFER_DESCRIPTION)
    expect(ccard.locator(".meta").first).to_contain_text("Offered by Dr. Erin Mechanic")
    accept = ccard.get_by_role("link", name="Accept and pay $40.00")
    expect(accept).to_be_visible()
    expect(ccard.locator("details summary", has_text="Decline")).to_be_visible()
    shot(cpage, screenshots_dir, "offer-card.png")

    # --- The customer accepts and pays with the card on file ---------------------------
    accept.click()
    expect(cpage).to_have_url(f"{base}/offers/{offer.pk}/accept")
    expect(cpage.get_by_role("heading", level=1)).to_have_text(f"Accept {NEW_SERVICE}")
    expect(cpage.locator("#accept-summary")).to_have_text("You pay $40.00 now with Visa •••• 4242.")
    cpage.get_by_role("button", name="Confirm and pay $40.00").click()
    expect(cpage).to_have_url(f"{question_url}#offer-{offer.pk}")
    expect(cpage.locator(".flash")).to_contain_text(f"Accepted: $40.00 paid for {NEW_SERVICE}.")
    expect(ccard.locator(".offer-status")).to_have_text("Accepted")
    expect(ccard.get_by_role("link", name=re.compile("Accept and pay"))).to_have_count(0)
    rating = cpage.locator("#question-rating")
    expect(rating).to_have_text("5★ (automatic)")
    expect(rating).to_have_attribute("aria-label", "Rated 5 of 5 stars, automatically")
    expect(cpage.locator("#private-box")).to_be_visible()
    expect(cpage.locator("#private-box")).to_contain_text("Private information")
    shot(cpage, screenshots_dir, "offer-accepted.png")

    # --- The expert's open page follows, without a reload -------------------------------
    expect(card.locator(".offer-status")).to_have_text("Accepted", timeout=LIVE)
    expect(epage.locator("#private-box")).to_be_visible()
    expect(card.locator("summary", has_text="Report it delivered")).to_be_visible()
    expect(epage.locator("#question-rating")).to_have_text("5★ (automatic)", timeout=LIVE)
    assert expert_navigations == []

    offer.refresh_from_db()
    question.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTED
    payments = Payment.objects.filter(reference=f"offer-{offer.pk}")
    assert [(p.status, p.amount_minor) for p in payments] == [(PaymentStatus.SUCCEEDED, 4000)]
    assert question.rating_stars == 5
    assert question.rating_automatic is True


# --- From an offer already sent ---------------------------------------------------------


def test_declined_card_leaves_the_offer_sent_with_the_reason(
    new_context: NewContext, live_server: Any
) -> None:
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    casey = customer(CARD_OK)  # the question is paid with this card...
    offer = offer_sent(category, casey, expert)
    save_card(casey, CARD_CHARGE_DECLINED.replace(" ", ""))  # ...the offer with this one

    page = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    open_question(page, base, offer.question_id)
    card = page.locator(f"article.offer#offer-{offer.pk}")
    card.get_by_role("link", name="Accept and pay $40.00").click()
    expect(page.locator("#accept-summary")).to_have_text("You pay $40.00 now with Visa •••• 0341.")
    page.get_by_role("button", name="Confirm and pay $40.00").click()

    expect(page).to_have_url(f"{base}/q/{offer.question_id}/#offer-{offer.pk}")
    expect(page.locator(".flash")).to_contain_text(
        "The payment did not go through: Your card was declined."
    )
    alert = card.get_by_role("alert")
    expect(alert).to_contain_text(re.compile("declined", re.IGNORECASE))
    expect(card.locator(".offer-status")).to_have_text("Waiting for the customer")
    # Still open to accept, with another card.
    expect(card.get_by_role("link", name="Accept and pay $40.00")).to_be_visible()
    expect(page.locator("#private-box")).to_have_count(0)
    expect(page.locator("#question-rating")).to_have_count(0)

    offer.refresh_from_db()
    assert offer.status == OfferStatus.SENT
    assert "declined" in offer.charge_failure.lower()
    assert PaymentStatus.SUCCEEDED not in offer_payments(offer)
    question = Question.objects.get(pk=offer.question_id)
    assert question.rating_stars is None


def test_authentication_card_completes_on_the_page(
    new_context: NewContext, live_server: Any
) -> None:
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    casey = customer(CARD_OK)
    offer = offer_sent(category, casey, expert)
    save_card(casey, CARD_AUTHENTICATE.replace(" ", ""))  # every charge asks for authentication

    page = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    open_question(page, base, offer.question_id)
    page.locator(f"#offer-{offer.pk}").get_by_role("link", name="Accept and pay $40.00").click()
    expect(page.locator("#accept-summary")).to_have_text("You pay $40.00 now with Visa •••• 3184.")
    page.get_by_role("button", name="Confirm and pay $40.00").click()

    expect(page).to_have_url(re.compile(r"/payments/local-gateway/authenticate/[^/]+/"))
    expect(page.locator("main")).to_contain_text("a payment of $40.00 to Expertline")
    expect(page.locator("main")).to_contain_text("card ending in 3184")
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTING
    assert offer_payments(offer) == [PaymentStatus.REQUIRES_ACTION]

    page.get_by_role("button", name="Complete authentication").click()
    expect(page).to_have_url(f"{base}/q/{offer.question_id}/#offer-{offer.pk}")
    expect(page.locator(".flash")).to_contain_text("Accepted: $40.00 paid for")
    card = page.locator(f"article.offer#offer-{offer.pk}")
    expect(card.locator(".offer-status")).to_have_text("Accepted")
    expect(page.locator("#question-rating")).to_have_text("5★ (automatic)")
    expect(page.locator("#private-box")).to_be_visible()

    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTED
    assert offer_payments(offer) == [PaymentStatus.SUCCEEDED]


def test_customer_declines_the_offer(
    new_context: NewContext, live_server: Any, settings: Any
) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = POLL_MS
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    casey = customer(CARD_OK)
    offer = offer_sent(category, casey, expert)
    reason = "I found the loose bolt myself, thank you."

    epage = log_in(new_context, base, expert.email, demo.DEMO_PASSWORD)
    open_question(epage, base, offer.question_id)
    ecard = epage.locator(f"article.offer#offer-{offer.pk}")
    expect(ecard.locator(".offer-status")).to_have_text("Waiting for the customer")
    expert_navigations = count_navigations(epage)

    page = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    open_question(page, base, offer.question_id)
    card = page.locator(f"article.offer#offer-{offer.pk}")
    card.locator("summary", has_text="Decline").click()
    card.get_by_label("Reason (optional)").fill(reason)
    card.get_by_role("button", name="Decline the offer").click()
    expect(page).to_have_url(f"{base}/q/{offer.question_id}/#offer-{offer.pk}")
    expect(page.locator(".flash")).to_contain_text("You declined the offer.")
    expect(card.locator(".offer-status")).to_have_text("Declined")
    expect(card).to_contain_text(f"Declined: {reason}")
    expect(card.get_by_role("link", name=re.compile("Accept and pay"))).to_have_count(0)

    # The expert's open page shows it declined, with the reason, without a reload.
    expect(ecard.locator(".offer-status")).to_have_text("Declined", timeout=LIVE)
    expect(ecard).to_contain_text(f"Declined: {reason}")
    expect(ecard.get_by_role("button", name="Withdraw this offer")).to_have_count(0)
    assert expert_navigations == []

    offer.refresh_from_db()
    assert offer.status == OfferStatus.DECLINED
    assert offer.decline_reason == reason
    assert offer_payments(offer) == []
