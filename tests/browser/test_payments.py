"""Paying for a question in headless Chromium, against the live server and the local gateway.

A customer saves a test card, posts a paid question and sees the receipt; after
the expert's answer is rated (which credits the expert) the customer asks for a
refund, Customer Care approves it in the admin (password and TOTP code), and the
customer sees the refund while the expert's ledger shows the reversal. Declined
and authentication-required cards: the customer sees why, nothing is left
charged, and the draft question stays until it is paid.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from marketplace import demo, roles
from marketplace.models import User
from marketplace.money import format_minor
from payments import ledger
from payments.models import Card, Payment, PaymentStatus, Refund, RefundStatus
from questions.models import Question, QuestionStatus
from tests.browser.conftest import (
    CARD_AUTHENTICATE,
    CARD_CHARGE_DECLINED,
    CARD_DECLINED,
    CARD_OK,
    NewContext,
    cars,
    fill_card,
    log_in,
    nav,
    seed_expert,
    shot,
    staff_log_in,
)

pytestmark = [
    pytest.mark.browser,
    # pytest-playwright's own base_url fixture (not ours) triggers this deprecation.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

QUESTION_URL = re.compile(r"/q/(\d+)/$")
TITLE = "Brake pedal feels soft after a fluid change"


def customer(email: str = "casey@example.com") -> User:
    # demo customers have no card: each test saves one on the card page.
    return demo.customer_ensure(email, name="Casey Driver")


def save_card_on_page(page: Page, number: str, last4: str) -> None:
    nav(page).get_by_role("link", name="Card").click()
    expect(page).to_have_url(re.compile(r"/account/card/$"))
    fill_card(page, number)
    expect(page).to_have_url(re.compile(r"/account/card/$"))
    expect(page.locator("#card-on-file")).to_contain_text(f"Visa •••• {last4}")


def ask(page: Page, *, title: str = TITLE, price: str = "30.00") -> None:
    nav(page).get_by_role("link", name="Ask an expert").click()
    expect(page).to_have_url(re.compile(r"/ask/$"))
    page.locator("#id_category").select_option(label="Cars")
    page.locator("#id_title").fill(title)
    page.locator("#id_body").fill(
        "I had the brake fluid changed last week and the pedal now sinks further "
        "before the car stops. Is that normal while it beds in?"
    )
    page.locator("#id_price").fill(price)
    page.get_by_role("button", name="Post my question").click()


def question_of(user: User) -> Question:
    return Question.objects.get(customer=user)


def payments_of(question: Question) -> list[str]:
    return list(
        Payment.objects.filter(reference=f"question-{question.pk}")
        .order_by("pk")
        .values_list("status", flat=True)
    )


def test_paid_question_refund_approved_by_customer_care(
    new_context: NewContext, live_server: Any, screenshots_dir: Path
) -> None:
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    casey = customer()
    roles.ensure_staff_groups()
    care = demo.staff_ensure("care@example.com", name="Cam Care", group=roles.CUSTOMER_CARE)

    # --- The customer saves a card, asks at $30.00 and sees the receipt -------------
    cpage = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    save_card_on_page(cpage, CARD_OK, "4242")
    expect(cpage.locator(".flash")).to_contain_text("is saved")
    shot(cpage, screenshots_dir, "card.png")

    ask(cpage)
    expect(cpage).to_have_url(QUESTION_URL)
    question = question_of(casey)
    assert cpage.url == f"{base}/q/{question.pk}/"
    assert question.status == QuestionStatus.OPEN
    payment = Payment.objects.get(reference=f"question-{question.pk}")
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_minor == 3000
    expect(cpage.locator(".flash")).to_contain_text("Your question is posted.")
    expect(cpage.locator("#question-status")).to_have_text(QuestionStatus.OPEN.label)
    receipt = cpage.locator("#receipt")
    expect(receipt.get_by_role("heading", name="Payment")).to_be_visible()
    expect(receipt).to_contain_text("Paid $30.00 with Visa •••• 4242")
    expect(receipt).to_contain_text(f"receipt no. {payment.pk}")

    # --- The expert picks it up and answers -----------------------------------------
    epage = log_in(new_context, base, expert.email, demo.DEMO_PASSWORD)
    nav(epage).get_by_role("link", name="All questions").click()
    preview = epage.locator(f'li.preview[data-question="{question.pk}"]')
    expect(preview.locator(".meta strong")).to_have_text("$30.00")
    preview.get_by_role("button", name="Pick up").click()
    expect(epage).to_have_url(f"{base}/q/{question.pk}/")
    # The payment is the customer's business, not the expert's.
    expect(epage.locator("#receipt")).to_have_count(0)
    answer = "A soft pedal after a fluid change usually means air in the lines: bleed them."
    epage.locator("#id_body").fill(answer)
    epage.get_by_role("button", name="Send").click()
    expect(epage.locator("#thread li.msg.mine .text")).to_have_text(answer)

    # --- The customer rates 5 stars, which credits the expert ------------------------
    cpage.reload()
    expect(cpage.locator("#question-status")).to_have_text(QuestionStatus.ASSIGNED.label)
    expect(cpage.locator("#thread li.msg .text")).to_have_text(answer)
    cpage.get_by_role("radio", name="5★").check()
    cpage.get_by_role("button", name="Send rating").click()
    expect(cpage.locator(".flash")).to_contain_text("Thank you for rating your expert.")
    expect(cpage.locator("#question-rating")).to_have_text("5★")
    expect(cpage.locator("#receipt")).to_contain_text("Paid $30.00 with Visa •••• 4242")
    shot(cpage, screenshots_dir, "receipt.png")

    credited = ledger.expert_balance(expert)
    assert credited > 0
    nav(epage).get_by_role("link", name="Earnings").click()
    expect(epage).to_have_url(f"{base}/earnings/")
    expect(epage.locator("#earnings-balance")).to_have_text(format_minor(credited))
    credit_row = epage.locator("#ledger tbody tr.kind-credit")
    expect(credit_row).to_have_count(1)
    expect(credit_row).to_contain_text(f"Question #{question.pk}: {TITLE}")
    expect(credit_row.locator("td.num")).to_have_text(format_minor(credited))

    # --- The customer asks for a full refund -----------------------------------------
    cpage.get_by_text("Not satisfied? Ask for a full refund").click()
    cpage.get_by_label("Why do you want a refund?").fill("The advice did not fix the pedal.")
    cpage.get_by_role("button", name="Ask for a refund").click()
    expect(cpage.locator(".flash")).to_contain_text("Your refund request is with Customer Care.")
    expect(cpage.locator("#refund-status")).to_have_text("Refund request: Requested")
    expect(cpage.get_by_text("Not satisfied? Ask for a full refund")).to_have_count(0)
    refund = Refund.objects.get(payment=payment)
    assert refund.status == RefundStatus.REQUESTED
    assert refund.amount_minor == 3000

    # --- Customer Care signs in with the TOTP code and approves it in the admin ------
    # Wide enough for the admin's list beside its filters.
    spage = staff_log_in(new_context, base, care.email, viewport={"width": 1600, "height": 720})
    spage.goto(f"{base}/admin/payments/refund/")
    row = spage.locator("#result_list tbody tr").filter(
        has=spage.locator(f'input[name="_selected_action"][value="{refund.pk}"]')
    )
    expect(row).to_contain_text("Requested")
    expect(row).to_contain_text("$30.00")
    row.locator('input[name="_selected_action"]').check()
    spage.locator('select[name="action"]').select_option(label="Approve the selected refunds")
    spage.get_by_role("button", name="Go").click()
    # No confirmation page for this action: back on the list with the outcome.
    expect(spage).to_have_url(f"{base}/admin/payments/refund/")
    # Tests run Celery eagerly: the refund is processed by the time the message is written.
    expect(spage.locator("ul.messagelist")).to_contain_text(f"Refund {refund.pk}: Refunded")
    # The refund task ran after the approval committed (eager Celery in the tests).
    expect(row).to_contain_text("Refunded")
    shot(spage, screenshots_dir, "admin-refunds.png")

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.first_approver_id == care.pk
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunded_minor == 3000

    # --- The customer sees the refund; the expert's ledger shows the reversal ---------
    cpage.reload()
    expect(cpage.locator("#question-status")).to_have_text(QuestionStatus.REFUNDED.label)
    refund_status = cpage.locator("#refund-status")
    expect(refund_status).to_contain_text("Refund request: Refunded")
    expect(refund_status).to_contain_text("$30.00 sent back to your card")
    expect(cpage.locator("#receipt")).to_contain_text("Refunded $30.00 with Visa •••• 4242")
    question.refresh_from_db()
    assert question.status == QuestionStatus.REFUNDED

    epage.reload()
    expect(epage.locator("#earnings-balance")).to_have_text("$0.00")
    reversal = epage.locator("#ledger tbody tr.kind-reversal")
    expect(reversal).to_have_count(1)
    expect(reversal).to_contain_text(f"refund-{refund.pk}")
    expect(reversal.locator("td.num")).to_have_text(format_minor(-credited))
    expect(epage.locator("#ledger tbody tr.kind-credit")).to_have_count(1)
    assert ledger.expert_balance(expert) == 0
    shot(epage, screenshots_dir, "earnings.png")


def test_declined_card_keeps_the_draft(new_context: NewContext, live_server: Any) -> None:
    base = live_server.url
    cars()
    casey = customer()
    page = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    # This card saves fine; every charge to it is declined.
    save_card_on_page(page, CARD_CHARGE_DECLINED, "0341")

    ask(page)
    expect(page).to_have_url(QUESTION_URL)
    question = question_of(casey)
    assert page.url == f"{base}/q/{question.pk}/"
    expect(page.locator(".flash")).to_contain_text(
        "Your question is saved as a draft and was not posted"
    )
    expect(page.locator(".status-intake")).to_have_text("Draft, not posted")
    expect(page.locator("h1")).to_have_text(TITLE)
    error = page.locator("#payment-error")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text(re.compile("declined", re.IGNORECASE))
    expect(error).to_contain_text("Nothing was charged")
    question.refresh_from_db()
    assert question.status == QuestionStatus.INTAKE
    assert payments_of(question) == [PaymentStatus.FAILED]
    assert not Payment.objects.filter(user=casey, status=PaymentStatus.SUCCEEDED).exists()

    # Another card, and back to the draft to pay and post it.
    page.get_by_role("link", name="Use another card").click()
    expect(page).to_have_url(re.compile(rf"/account/card/\?next=/q/{question.pk}/$"))
    fill_card(page, CARD_OK)
    expect(page).to_have_url(f"{base}/q/{question.pk}/")
    expect(page.locator(".status-intake")).to_have_text("Draft, not posted")
    expect(page.locator("main")).to_contain_text("Pay $30.00 with Visa •••• 4242")
    page.get_by_role("button", name="Pay $30.00 and post").click()
    expect(page).to_have_url(f"{base}/q/{question.pk}/")
    expect(page.locator(".flash")).to_contain_text("Your question is posted.")
    expect(page.locator("#question-status")).to_have_text(QuestionStatus.OPEN.label)
    expect(page.locator("#receipt")).to_contain_text("Paid $30.00 with Visa •••• 4242")
    question.refresh_from_db()
    assert question.status == QuestionStatus.OPEN
    assert payments_of(question) == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]


def test_card_declined_when_saved_shows_why(new_context: NewContext, live_server: Any) -> None:
    base = live_server.url
    casey = customer()
    page = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    nav(page).get_by_role("link", name="Card").click()
    fill_card(page, CARD_DECLINED)
    expect(page).to_have_url(re.compile(r"/account/card/$"))
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page.locator("#card-on-file")).to_have_count(0)
    assert not Card.objects.filter(user=casey).exists()

    # Without a card, the ask page says to add one first.
    nav(page).get_by_role("link", name="Ask an expert").click()
    expect(page.get_by_role("link", name="Add a card")).to_have_attribute(
        "href", "/account/card/?next=/ask/"
    )


def test_authentication_card_completes_on_the_page(
    new_context: NewContext, live_server: Any
) -> None:
    base = live_server.url
    cars()
    casey = customer()
    page = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    # Saves without a question asked; every charge asks for authentication.
    save_card_on_page(page, CARD_AUTHENTICATE, "3184")

    ask(page)
    expect(page).to_have_url(re.compile(r"/payments/local-gateway/authenticate/[^/]+/"))
    question = question_of(casey)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm with your bank")
    expect(page.locator("main")).to_contain_text("a payment of $30.00 to Expertline")
    expect(page.locator("main")).to_contain_text("card ending in 3184")
    expect(page.get_by_role("button", name="Fail authentication")).to_be_visible()
    assert payments_of(question) == [PaymentStatus.REQUIRES_ACTION]
    assert Question.objects.get(pk=question.pk).status == QuestionStatus.INTAKE

    page.get_by_role("button", name="Complete authentication").click()
    expect(page).to_have_url(f"{base}/q/{question.pk}/")
    expect(page.locator(".flash")).to_contain_text("Payment confirmed. Your question is posted.")
    expect(page.locator("#question-status")).to_have_text(QuestionStatus.OPEN.label)
    receipt = page.locator("#receipt")
    expect(receipt).to_contain_text("Paid $30.00 with Visa •••• 3184")
    payment = Payment.objects.get(reference=f"question-{question.pk}")
    expect(receipt).to_contain_text(f"receipt no. {payment.pk}")
    assert payment.status == PaymentStatus.SUCCEEDED
    assert Question.objects.get(pk=question.pk).status == QuestionStatus.OPEN


def test_authentication_failed_keeps_the_draft(new_context: NewContext, live_server: Any) -> None:
    base = live_server.url
    cars()
    casey = customer()
    page = log_in(new_context, base, casey.email, demo.DEMO_PASSWORD)
    save_card_on_page(page, CARD_AUTHENTICATE, "3184")

    ask(page)
    expect(page).to_have_url(re.compile(r"/payments/local-gateway/authenticate/[^/]+/"))
    question = question_of(casey)
    page.get_by_role("button", name="Fail authentication").click()
    expect(page).to_have_url(f"{base}/q/{question.pk}/")
    expect(page.locator(".flash")).to_contain_text("The payment did not go through")
    expect(page.locator(".status-intake")).to_have_text("Draft, not posted")
    error = page.locator("#payment-error")
    expect(error).to_contain_text("Authentication failed")
    expect(error).to_contain_text("Nothing was charged")
    expect(page.get_by_role("button", name="Pay $30.00 and post")).to_be_visible()
    assert Question.objects.get(pk=question.pk).status == QuestionStatus.INTAKE
    assert payments_of(question) == [PaymentStatus.FAILED]
    assert not Payment.objects.filter(user=casey, status=PaymentStatus.SUCCEEDED).exists()
