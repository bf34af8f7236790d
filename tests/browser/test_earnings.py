"""Earnings in headless Chromium: a verified phone call's credit with its protection badge,
the refund the platform carried, and a CSV of the period that matches the page."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace import demo, rollout
from marketplace.models import Rollout
from questions.models import IntakeQuestion
from tests.browser.conftest import NewContext, cars, log_in, seed_expert, shot
from tests.factories import make_customer
from tests.premium.test_earnings import call, fulfil, phone_offer, refund
from tests.premium.test_earnings_admin import staff_client

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]


def _after_commit(execute: bool = True) -> Any:
    return contextlib.nullcontext()  # live_server: no test transaction, callbacks run


def test_expert_sees_a_protected_call_its_carried_refund_and_downloads_the_csv(
    new_context: NewContext, live_server: Any, screenshots_dir: Path
) -> None:
    category = cars()
    category.phone_call_price_minor, category.phone_call_payout_minor = 4_900, 3_000
    category.save()
    IntakeQuestion.objects.get_or_create(category=category, position=1, prompt="Which car?")
    row, _ = Rollout.objects.get_or_create(key=rollout.PHONE_FIRST)
    Rollout.objects.filter(pk=row.pk).update(is_enabled=True, countries="US", share_bp=10_000)
    row.categories.set([category])
    world = SimpleNamespace(
        category=category, customer=make_customer(), expert=seed_expert(category)
    )
    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)

    page = log_in(new_context, live_server.url, world.expert.email, demo.DEMO_PASSWORD)
    page.goto(f"{live_server.url}/earnings/")
    credit = page.locator(f'#protected-credits [data-key="offer-{offer.pk}-call-credit"]')
    expect(credit.locator(".badge")).to_have_text("Protected")
    expect(page.locator("#ledger")).to_contain_text("$30.00")

    care, _ = staff_client("Customer Care")
    refund(world, offer, care, _after_commit)
    page.reload()
    expect(page.locator("#carried-refunds")).to_contain_text("you keep your payout")
    expect(page.locator("#earnings-balance")).to_have_text("$30.00")
    shot(page, screenshots_dir, "earnings-protected-call.png")

    today = timezone.localdate().isoformat()
    page.locator('#earnings-export input[name="from"]').fill(today)
    page.locator('#earnings-export input[name="to"]').fill(today)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(info.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["amount"], r["kind"], r["protected"]) for r in rows] == [("30.00", "credit", "yes")]
    ledger_amounts = page.locator("#ledger td.num").all_inner_texts()
    assert [f"${r['amount']}" for r in rows] == ledger_amounts
