"""The main story in headless Chromium, against the live server.

A new customer signs up (verifying the email from the file backend), saves a
test card (the price is charged when the question is posted) and asks; a
verified expert sees the preview in All questions and picks it up; they exchange
messages, and each sees the other's message and bell count arrive without a
reload. The tests also save the screenshots in docs/screenshots/.
"""

from __future__ import annotations

import email
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, ViewportSize, expect

from marketplace import demo
from marketplace.models import Notification, User
from payments.models import Payment, PaymentStatus
from questions import services as question_services
from questions.models import Message, Question, QuestionStatus
from tests.browser.conftest import (
    CARD_OK,
    NewContext,
    cars,
    fill_card,
    log_in,
    nav,
    seed_expert,
    shot,
)
from tests.factories import TEST_CARD, make_question, save_card

pytestmark = [
    pytest.mark.browser,
    # pytest-playwright's own base_url fixture (not ours) triggers this deprecation.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

# The live updates arrive through the page's poll: well within this (ms).
LIVE = 4000
POLL_MS = 500
CUSTOMER_PASSWORD = "Tall-Giraffe-Orbit-42"
CONFIRM_LINK = re.compile(r"/accounts/confirm-email/[^\s\"'<>]+")
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 720}  # the contexts' default


@pytest.fixture(autouse=True)
def _fast_poll(settings: Any) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = POLL_MS


@pytest.fixture
def mail_dir(settings: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "mail"
    folder.mkdir()
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(folder)
    return folder


def confirmation_path(mail_dir: Path) -> str:
    """The confirm-email link of the verification email the file backend wrote."""
    for path in sorted(mail_dir.iterdir()):
        # The file backend separates messages with a line of 79 dashes.
        for chunk in path.read_text().split("-" * 79):
            if not chunk.strip():
                continue
            for part in email.message_from_string(chunk.lstrip()).walk():
                if part.get_content_maintype() != "text":
                    continue
                payload = part.get_payload(decode=True)
                text = payload.decode() if isinstance(payload, bytes) else str(payload)
                found = CONFIRM_LINK.search(text)
                if found:
                    return found.group(0)
    raise AssertionError(f"no confirm-email link in the mail written to {mail_dir}")


def unread(user: User) -> int:
    user.refresh_from_db(fields=["unread_notifications"])
    return user.unread_notifications


def last_message(page: Page) -> Locator:
    return page.locator("#thread li.msg").last


def send(page: Page, text: str) -> None:
    mine = page.locator("#thread li.msg.mine")
    count = mine.count()
    page.locator("#id_body").fill(text)
    page.get_by_role("button", name="Send").click()
    # Appended by the page itself, without a reload, and the box is emptied.
    expect(mine).to_have_count(count + 1)
    expect(mine.last.locator(".text")).to_have_text(text)
    expect(page.locator("#id_body")).to_have_value("")


def assert_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], f"{page.url} scrolls sideways: {widths}"


def test_signup_ask_pick_up_and_talk_live(
    new_context: NewContext, live_server: Any, mail_dir: Path, screenshots_dir: Path
) -> None:
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    other = demo.customer_ensure("olive@example.com", name="Olive")
    save_card(other, TEST_CARD)  # questions are posted once paid
    for title in (
        "Grinding noise when braking downhill",
        "Is a 2014 diesel with 180k miles worth buying?",
        "Battery light flickers at idle",
    ):
        make_question(customer=other, category=category, title=title)

    # --- The customer: landing page, sign-up, email verification ---------------
    cpage = new_context().new_page()
    cpage.goto(f"{base}/")
    expect(cpage.get_by_role("heading", level=1)).to_contain_text("Ask a verified expert")
    shot(cpage, screenshots_dir, "home.png")

    nav(cpage).get_by_role("link", name="Sign up").click()
    cpage.locator("#id_email").fill("casey.new@example.com")
    cpage.locator("#id_password1").fill(CUSTOMER_PASSWORD)
    cpage.locator("#id_password2").fill(CUSTOMER_PASSWORD)
    cpage.locator("#id_display_name").fill("Casey Driver")
    cpage.locator("#id_country").fill("us")
    cpage.locator("#id_timezone").select_option("UTC")
    cpage.get_by_role("button", name="Sign Up").click()
    expect(cpage).to_have_url(re.compile(r"/accounts/confirm-email/$"))

    cpage.goto(base + confirmation_path(mail_dir))
    cpage.get_by_role("button", name="Confirm").click()
    expect(cpage.locator("#bell")).to_be_attached()  # logged in by the confirmation
    customer = User.objects.get(email="casey.new@example.com")
    assert customer.display_name == "Casey Driver"
    assert customer.customer_profile.country == "US"

    # --- The customer saves a card (the price is charged on posting) and asks -----
    nav(cpage).get_by_role("link", name="Ask an expert").click()
    expect(cpage).to_have_url(re.compile(r"/ask/$"))
    cpage.get_by_role("link", name="Add a card").click()
    expect(cpage).to_have_url(re.compile(r"/account/card/\?next=/ask/$"))
    fill_card(cpage, CARD_OK)
    expect(cpage).to_have_url(re.compile(r"/ask/$"))  # `next` brings the customer back
    expect(cpage.locator(".flash")).to_contain_text("is saved")
    expect(cpage.locator("main .note")).to_contain_text("your card Visa •••• 4242 when you post")
    expect(cpage.get_by_role("link", name="Add a card")).to_have_count(0)
    cpage.locator("#id_category").select_option(label="Cars")
    cpage.locator("#id_title").fill("Check engine light after refuelling")
    cpage.locator("#id_body").fill(
        "My 2016 Golf shows a steady check engine light since I refuelled yesterday. "
        "It drives normally. Is it safe to keep driving?"
    )
    cpage.locator("#id_price").fill("25.00")
    shot(cpage, screenshots_dir, "ask.png")
    cpage.get_by_role("button", name="Post my question").click()
    expect(cpage).to_have_url(re.compile(r"/q/\d+/$"))
    question_id = int(cpage.url.rstrip("/").rsplit("/", 1)[1])
    question = Question.objects.get(pk=question_id)
    assert question.customer_id == customer.pk
    assert question.price_minor == 2500
    assert question.status == QuestionStatus.OPEN
    expect(cpage.locator("h1")).to_have_text("Check engine light after refuelling")
    expect(cpage.locator("#question-status")).to_have_text(QuestionStatus.OPEN.label)
    expect(cpage.locator("#receipt")).to_contain_text("Paid $25.00 with Visa •••• 4242")
    assert Payment.objects.get(user=customer).status == PaymentStatus.SUCCEEDED

    # --- The expert sees the preview and picks it up -----------------------------
    epage = log_in(new_context, base, expert.email, demo.DEMO_PASSWORD)
    nav(epage).get_by_role("link", name="All questions").click()
    expect(epage).to_have_url(re.compile(r"/questions/$"))
    expect(epage.locator("li.preview")).to_have_count(4)
    preview = epage.locator(f'li.preview[data-question="{question_id}"]')
    expect(preview.locator(".title")).to_have_text("Check engine light after refuelling")
    expect(preview.locator(".meta")).to_contain_text("Cars")
    expect(preview.locator(".meta strong")).to_have_text("$25.00")
    shot(epage, screenshots_dir, "all-questions.png")
    preview.get_by_role("button", name="Pick up").click()
    expect(epage).to_have_url(f"{base}/q/{question_id}/")
    expect(epage.locator("#question-status")).to_have_text(QuestionStatus.ASSIGNED.label)
    expect(epage.locator("#composer")).to_be_visible()

    # The customer's open page learns of the pick-up through its poll.
    expect(cpage.locator("#question-status")).to_have_text(
        QuestionStatus.ASSIGNED.label, timeout=LIVE
    )
    customer_bell = unread(customer)
    assert customer_bell >= 1  # "… picked up your question"
    expect(cpage.locator("#bell-count")).to_have_text(str(customer_bell), timeout=LIVE)
    expert_bell = unread(expert)
    expect(epage.locator("#bell-count")).to_have_text(str(expert_bell))

    # --- An empty message is refused in the page and nothing is posted -----------
    posts: list[str] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith(f"/q/{question_id}/messages"):
            posts.append(request.url)

    epage.on("request", record)
    epage.locator("#id_body").fill("   \n  ")
    epage.get_by_role("button", name="Send").click()
    expect(epage.locator("#composer-error")).to_have_text("The message cannot be empty.")
    expect(epage.locator("#thread li.msg")).to_have_count(0)
    assert posts == []
    assert not Message.objects.filter(question_id=question_id).exists()

    # --- The expert writes; the customer sees it and the bell rise, no reload ----
    reloads: list[str] = []
    for page in (cpage, epage):
        page.on("framenavigated", lambda frame: reloads.append(frame.url))
    hello = "Hello Casey, a loose fuel cap is the usual cause. Is it clicked shut?"
    send(epage, hello)
    expect(epage.locator("#composer-error")).to_have_text("")
    assert len(posts) == 1
    expect(last_message(cpage).locator(".text")).to_have_text(hello, timeout=LIVE)
    expect(last_message(cpage).locator(".who")).to_contain_text("Dr. Erin Mechanic")
    expect(cpage.locator("#bell-count")).to_have_text(str(customer_bell + 1), timeout=LIVE)
    expect(cpage.locator("#bell-count")).to_be_visible()
    expect(cpage.locator("#bell")).to_have_attribute(
        "aria-label", f"Notifications: {customer_bell + 1} unread"
    )

    # --- The customer replies; the expert sees it and the bell rise ---------------
    reply = "It was not fully clicked. I tightened it; the light is still on."
    send(cpage, reply)
    expect(last_message(cpage)).to_have_class(re.compile(r"\bmine\b"))
    expect(last_message(epage).locator(".text")).to_have_text(reply, timeout=LIVE)
    expect(last_message(epage).locator(".who")).to_contain_text("Casey Driver")
    expect(epage.locator("#bell-count")).to_have_text(str(expert_bell + 1), timeout=LIVE)

    # --- HTML is shown as text, links become clickable ----------------------------
    html = "<b>bold</b> <script>window.__pwned = 1</script>"
    send(epage, html)
    for page in (epage, cpage):
        text = last_message(page).locator(".text")
        expect(text).to_have_text(html, timeout=LIVE)
        expect(page.locator("#thread b")).to_have_count(0)
        expect(page.locator("#thread script")).to_have_count(0)
        assert page.evaluate("typeof window.__pwned") == "undefined"

    link_text = "The light goes off after a few drives: https://example.com/cel-guide explains."
    send(epage, link_text)
    for page in (epage, cpage):
        link = last_message(page).locator("a")
        expect(link).to_have_attribute("href", "https://example.com/cel-guide", timeout=LIVE)
        expect(link).to_have_text("https://example.com/cel-guide")
        expect(link).to_have_attribute("rel", re.compile(r"\bnofollow\b"))
        expect(link).to_be_visible()
    send(cpage, "Thank you! I will drive it a few days and see.")
    expect(last_message(epage).locator(".text")).to_have_text(
        "Thank you! I will drive it a few days and see.", timeout=LIVE
    )
    expect(epage.locator("#bell-count")).to_have_text(str(expert_bell + 2), timeout=LIVE)

    # Both pages ran the whole conversation without one navigation.
    assert reloads == []
    messages = list(
        Message.objects.filter(question_id=question_id)
        .order_by("pk")
        .values_list("author_id", flat=True)
    )
    assert messages == [expert.pk, customer.pk, expert.pk, expert.pk, customer.pk]
    expect(cpage.locator("#thread li.msg")).to_have_count(5)
    expect(epage.locator("#thread li.msg")).to_have_count(5)

    # --- Screenshots: the thread, the notifications, the thread on a phone -------
    cpage.reload()  # the page as the server renders it: the same escaping and links
    expect(cpage.locator("#thread li.msg")).to_have_count(5)
    # Opening the conversation read what the bell said about it.
    expect(cpage.locator("#bell-count")).to_be_hidden()
    assert unread(customer) == 0
    expect(cpage.locator("#thread li.msg .text").nth(2)).to_have_text(html)
    expect(cpage.locator("#thread b")).to_have_count(0)
    expect(cpage.locator('#thread a[href="https://example.com/cel-guide"]')).to_be_visible()
    shot(cpage, screenshots_dir, "question.png")
    cpage.set_viewport_size(PHONE)
    shot(cpage, screenshots_dir, "phone-question.png")
    cpage.set_viewport_size(DESKTOP)
    cpage.locator("#bell").click()
    expect(cpage).to_have_url(f"{base}/notifications/")
    expect(cpage.locator("ul.notifications li")).to_have_count(
        Notification.objects.filter(user=customer).count()
    )
    expect(cpage.locator("ul.notifications")).to_contain_text("Dr. Erin Mechanic replied")
    shot(cpage, screenshots_dir, "notifications.png")


def test_customer_marks_answered_and_rates_five_stars(
    new_context: NewContext, live_server: Any
) -> None:
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    customer = demo.customer_ensure("casey@example.com", name="Casey")
    save_card(customer, TEST_CARD)
    question = make_question(customer=customer, category=category, title="Squeaky belt")
    question_services.question_pick_up(question_id=question.pk, expert=expert)
    question_services.message_post(
        question_id=question.pk, author=expert, body="Replace the serpentine belt."
    )

    epage = log_in(new_context, base, expert.email, demo.DEMO_PASSWORD)
    epage.goto(f"{base}/q/{question.pk}/")
    expect(epage.locator("#question-status")).to_have_text(QuestionStatus.ASSIGNED.label)

    page = log_in(new_context, base, customer.email, demo.DEMO_PASSWORD)
    page.goto(f"{base}/q/{question.pk}/")
    expect(page.locator("#question-rating")).to_have_count(0)
    page.get_by_role("button", name="Mark as answered").click()
    expect(page.locator("#question-status")).to_have_text(QuestionStatus.ANSWERED.label)
    expect(page.get_by_role("button", name="Mark as answered")).to_have_count(0)
    # The expert's open page follows the status without a reload.
    expect(epage.locator("#question-status")).to_have_text(
        QuestionStatus.ANSWERED.label, timeout=LIVE
    )

    page.get_by_role("radio", name="5★").check()
    page.locator("#id_comment").fill("Clear and quick, thank you!")
    page.get_by_role("button", name="Send rating").click()
    expect(page.locator(".flash")).to_contain_text("Thank you for rating your expert.")
    rating = page.locator("#question-rating")
    expect(rating).to_have_text("5★")
    expect(rating).to_have_attribute("aria-label", "Rated 5 of 5 stars")
    expect(page.get_by_role("button", name="Send rating")).to_have_count(0)

    question.refresh_from_db()
    assert question.status == QuestionStatus.ANSWERED
    assert question.rating_stars == 5
    assert question.rating_comment == "Clear and quick, thank you!"
    assert question.rating_automatic is False


def test_question_page_keyboard_and_small_screen(new_context: NewContext, live_server: Any) -> None:
    base = live_server.url
    category = cars()
    customer = demo.customer_ensure("casey@example.com", name="Casey")
    save_card(customer, TEST_CARD)
    question = make_question(customer=customer, category=category, title="Rattle at idle")

    page = log_in(new_context, base, customer.email, demo.DEMO_PASSWORD)
    page.goto(f"{base}/q/{question.pk}/")

    # The first Tab reaches the skip link, which leads to the main content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

    # The composer's textarea is labelled; the thread announces additions politely.
    box = page.get_by_label("Your message")
    expect(box).to_have_id("id_body")
    expect(box).to_have_js_property("tagName", "TEXTAREA")
    expect(page.locator("#thread")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#composer-error")).to_have_attribute("role", "alert")

    # Writing and sending with the keyboard alone.
    box.focus()
    page.keyboard.type("Sent with the keyboard only.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#thread li.msg .text")).to_have_text("Sent with the keyboard only.")
    expect(box).to_be_focused()  # focus comes back to the box for the next message

    # On a phone (the same signed-in customer), nothing scrolls sideways.
    phone = new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        storage_state=page.context.storage_state(),
    )
    ppage = phone.new_page()
    ppage.goto(f"{base}/ask/")
    expect(ppage.get_by_role("heading", name="Ask an expert")).to_be_visible()
    assert_no_sideways_scroll(ppage)
    ppage.goto(f"{base}/q/{question.pk}/")
    expect(ppage.locator("#composer")).to_be_visible()
    assert_no_sideways_scroll(ppage)
