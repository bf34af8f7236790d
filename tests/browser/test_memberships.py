"""Becoming a Member in headless Chromium: consent required, questions not charged,
cancel in one click."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from marketplace import demo
from payments.models import Membership, MembershipPlan, MembershipStatus, Payment
from questions.models import Question
from tests.browser.conftest import NewContext, cars, log_in, nav, shot
from tests.factories import save_card

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]


def test_become_a_member_ask_free_and_cancel_in_one_click(
    new_context: NewContext, live_server: Any, screenshots_dir: Path
) -> None:
    base = live_server.url
    category = cars()
    plan = MembershipPlan.objects.create(
        name="Home & car", price_minor=1900, description="Mechanics and tradespeople."
    )
    plan.categories.set([category])
    customer = demo.customer_ensure("morgan@example.com", name="Morgan")
    save_card(customer, "4242424242424242")
    page = log_in(new_context, base, customer.email, demo.DEMO_PASSWORD)

    nav(page).get_by_role("link", name="Membership").click()
    form = page.locator(f"#plan-{plan.pk}")
    expect(form).to_contain_text("$19.00 today, then $19.00 every month. Next renewal:")
    consent = form.get_by_role("checkbox")
    expect(consent).not_to_be_checked()
    shot(page, screenshots_dir, "membership.png")

    # Without the tick the browser refuses to send the form; nothing is charged.
    form.get_by_role("button", name="Become a Member for $19.00/month").click()
    expect(page).to_have_url(f"{base}/account/membership/")
    assert Membership.objects.count() == 0 and Payment.objects.count() == 0

    consent.check()
    form.get_by_role("button", name="Become a Member for $19.00/month").click()
    expect(page.locator("#membership-current")).to_contain_text("You are a Member: Home & car")
    expect(page.locator("#membership-renews")).to_contain_text("Next renewal:")
    membership = Membership.objects.get(user=customer)
    assert membership.status == MembershipStatus.ACTIVE

    # A question in a covered category: no price to state, no charge.
    nav(page).get_by_role("link", name="Ask an expert").click()
    expect(page.locator("#membership-covers")).to_contain_text(
        "Your membership covers questions in Cars"
    )
    page.locator("#id_category").select_option(label=category.name)
    page.locator("#id_title").fill("Rattle from the dashboard over bumps")
    page.locator("#id_body").fill("A 2018 Octavia; the rattle started after a service.")
    page.get_by_role("button", name="Post my question").click()
    expect(page).to_have_url(re.compile(r"/q/\d+/$"))
    expect(page.locator("#question-status")).to_have_text("Waiting for an expert")
    question = Question.objects.get(customer=customer)
    assert question.is_member_question and question.price_minor == 0
    assert list(Payment.objects.values_list("reference", flat=True)) == [
        f"membership-{membership.pk}-1"
    ]

    # Cancel: one click, effective at the period's end.
    nav(page).get_by_role("link", name="Membership").click()
    page.get_by_role("button", name="Cancel membership").click()
    expect(page.locator(".flash")).to_contain_text("you will not be charged again")
    expect(page.locator("#membership-ends")).to_contain_text("Cancelled.")
    membership.refresh_from_db()
    assert membership.cancel_at_period_end and membership.status == MembershipStatus.ACTIVE
