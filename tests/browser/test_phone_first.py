"""Phone-first in headless Chromium: the intake bot, chat or phone up front, the Request
Center (issue 7).

A US customer in the rollout's category answers the bot, chooses a phone call,
sees its price and pays with the card on file; an expert sees the request with
its phone icon in the Request Center (category, price and channel only),
accepts it, and only then sees the bot conversation. A customer outside the
rollout gets the bot and today's chat flow, with no choice. Then both join the
call on the question page in two browser contexts (fake media devices), the peer
connection is established, the expert hangs up, and the call log shows both
participants and a plausible duration. (Video calls and screen shares:
tests/browser/test_calls.py.)
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from marketplace import demo
from premium.call_models import CallSession
from premium.models import Offer, OfferStatus
from questions import intake
from questions.models import Channel, Experience, Question, QuestionStatus
from tests.browser.conftest import (
    CONNECTED,
    LIVE,
    NewContext,
    cars,
    log_in,
    nav,
    seed_expert,
    shot,
)
from tests.factories import TEST_CARD, save_card

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

TITLE = "Grinding noise when braking"
BODY = "Since last week the brakes grind when I slow down from highway speed."


def ask_and_answer_the_bot(page: Page, base: str) -> None:
    nav(page).get_by_role("link", name="Ask an expert").click()
    expect(page).to_have_url(re.compile(r"/ask/$"))
    page.locator("#id_category").select_option(label="Cars")
    page.locator("#id_title").fill(TITLE)
    page.locator("#id_body").fill(BODY)
    page.locator("#id_price").fill("25.00")
    page.get_by_role("button", name="Post my question").click()
    expect(page).to_have_url(re.compile(r"/ask/\d+/$"))
    bot = page.locator("#bot-prompt")
    expect(bot).to_contain_text("Make, model and year?")
    page.locator("#id_answer").fill("Honda Civic 2014")
    page.get_by_role("button", name="Send").click()
    expect(bot).to_contain_text("Which fuel?")
    # An answer the bot does not know: the reason, and what was typed is still there.
    page.locator("#id_answer").fill("Steam")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#answer-error")).to_contain_text("“Steam” is not one of the answers here")
    expect(page.locator("#id_answer")).to_have_value("Steam")
    page.locator("#id_answer").fill("Petrol")
    page.get_by_role("button", name="Send").click()
    expect(bot).to_contain_text("warning lights")
    page.locator("#id_answer").fill("A grinding noise from the front left wheel")
    page.get_by_role("button", name="Send").click()
    expect(bot).to_contain_text("Since when?")
    page.locator("#id_answer").fill("About a week")
    page.get_by_role("button", name="Send").click()
    summary = page.locator("#bot-summary")
    expect(summary).to_contain_text("Here is what I will pass on")
    expect(summary).to_contain_text("Honda Civic 2014")
    expect(summary).to_contain_text("Petrol")


def test_phone_first_bot_phone_call_paid_request_center_accept_transcript_then_call(
    media_context: NewContext, live_server: Any, screenshots_dir: Path, settings: Any
) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = 500
    new_context = media_context  # fake microphone and camera, loopback candidates
    base = live_server.url
    category = cars()
    intake.intake_questions_seed(demo.INTAKE_QUESTIONS)
    demo.phone_first_rollout_seed()
    expert = seed_expert(category)
    customer = demo.customer_ensure("casey.phone@example.com", name="Casey", country="US")
    save_card(customer, TEST_CARD)

    # --- The customer: the bot, then chat or phone; the phone call is paid up front ----
    cpage = log_in(new_context, base, customer.email, demo.DEMO_PASSWORD)
    ask_and_answer_the_bot(cpage, base)
    choice = cpage.locator("#channel-choice")
    expect(choice).to_be_visible()
    expect(cpage.locator("#phone-price")).to_have_text("$45.00")
    choice.get_by_label(re.compile("Phone call with an expert")).check()
    shot(cpage, screenshots_dir, "intake-bot.png")
    cpage.get_by_role("button", name="Continue").click()
    expect(cpage).to_have_url(re.compile(r"/q/\d+/$"))
    expect(cpage.locator(".flash")).to_contain_text("Your phone call is booked and paid")
    question = Question.objects.get(customer=customer)
    assert question.channel == Channel.PHONE and question.status == QuestionStatus.OPEN
    assert question.experience == Experience.FEATURE
    offer = Offer.objects.get(question=question)
    assert offer.status == OfferStatus.ACCEPTED and offer.price_minor == 4500

    # --- The expert: the Request Center shows category, price and the phone icon -----
    epage = log_in(new_context, base, expert.email, demo.DEMO_PASSWORD)
    nav(epage).get_by_role("link", name="Request Center").click()
    expect(epage).to_have_url(re.compile(r"/request-center/$"))
    item = epage.locator(f'#requests li[data-question="{question.pk}"]')
    expect(item.get_by_role("img", name="Phone call")).to_be_visible()
    expect(item).to_contain_text("Cars")
    expect(item).to_contain_text("$45.00")
    expect(epage.locator("main")).not_to_contain_text(TITLE)
    shot(epage, screenshots_dir, "request-center.png")
    expect(epage.locator("main")).not_to_contain_text("Honda Civic")
    item.get_by_role("button", name=re.compile("Accept")).click()

    # --- Only after accepting: the question and the bot conversation -----------------
    expect(epage).to_have_url(re.compile(rf"/q/{question.pk}/$"))
    conversation = epage.locator("#bot-conversation")
    expect(conversation).to_contain_text("Make, model and year?")
    expect(conversation).to_contain_text("Honda Civic 2014")
    expect(conversation).to_contain_text("About a week")
    expect(epage.locator("h1")).to_contain_text(TITLE)
    # The hook for the call: the accepted phone call's premium panel is on this page.
    expect(epage.locator("#panel-premium")).to_be_attached()
    shot(epage, screenshots_dir, "phone-request-accepted.png")
    offer.refresh_from_db()
    assert offer.expert_id == expert.pk

    # --- The call, in the browser: no phone numbers exchanged ---------------------------
    url = f"{base}/q/{question.pk}/"
    card = f"#call-offer-{offer.pk}"
    cpage.goto(url)
    expect(cpage.locator(card)).to_contain_text("Phone call")
    cpage.locator(f"{card} [data-call-action=join]").click()
    expect(cpage.locator("#call-state")).to_have_text("Waiting for the other side to join…")
    epage.locator(f"{card} [data-call-action=join]").click()
    for page in (cpage, epage):
        page.wait_for_function(CONNECTED, timeout=15_000)
    # Talk for a moment (a real call lasts real seconds); the browsers' `connected` report,
    # sent as the connection comes up, has landed by then.
    epage.wait_for_timeout(1500)
    session = CallSession.objects.get(offer=offer)
    deadline = time.monotonic() + LIVE / 1000  # on a loaded machine it may land later
    while session.connected_at is None and time.monotonic() < deadline:
        epage.wait_for_timeout(200)
        session.refresh_from_db()
    assert session.status == "connected" and session.connected_at is not None
    epage.locator("#call-hang-up").click()
    expect(epage.locator("#call-state")).to_have_text("You hung up.")
    expect(cpage.locator("#call-state")).to_have_text("The other side hung up.", timeout=LIVE)

    session.refresh_from_db()
    assert session.status == "ended" and session.end_reason == "hung_up"
    assert set(session.participants.values_list("user_id", flat=True)) == {
        customer.pk,
        expert.pk,
    }
    assert session.duration_seconds is not None and 1 <= session.duration_seconds <= 60
    summary = cpage.locator(f"#call-summary-{offer.pk}")
    expect(summary.locator(".call-status")).to_have_text("Ended: hung up", timeout=LIVE)
    expect(summary.locator(".call-joined")).to_contain_text("Casey at")
    expect(summary.locator(".call-joined")).to_contain_text(f"{expert.name} at")


def test_a_customer_outside_the_rollout_sees_no_choice(
    new_context: NewContext, live_server: Any
) -> None:
    base = live_server.url
    cars()
    intake.intake_questions_seed(demo.INTAKE_QUESTIONS)
    demo.phone_first_rollout_seed()
    customer = demo.customer_ensure("olive.ca@example.com", name="Olive", country="CA")
    save_card(customer, TEST_CARD)

    page = log_in(new_context, base, customer.email, demo.DEMO_PASSWORD)
    ask_and_answer_the_bot(page, base)
    expect(page.locator("#channel-choice")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("Phone call")
    page.get_by_role("button", name="Post my question").click()
    expect(page).to_have_url(re.compile(r"/q/\d+/$"))
    question = Question.objects.get(customer=customer)
    assert question.channel == Channel.CHAT and question.status == QuestionStatus.OPEN
    assert question.experience == Experience.NONE
    assert question.bot_transcript[0] == {
        "prompt": "Make, model and year?",
        "answer": "Honda Civic 2014",
    }
