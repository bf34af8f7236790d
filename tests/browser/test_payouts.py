"""Payouts in headless Chromium, against the live server and the local gateway.

An expert with credits (one past the refund hold window, one still inside it) sees on the
earnings page that a payout account is missing, connects one through the local gateway's
onboarding (first leaving the bank account out, and being told so, then completing it),
is paid by the payout job, and sees the payout on the earnings page: the paid line with
its transfer, the payout in the ledger with its reason, and what is still pending.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from marketplace import demo
from marketplace.models import User
from payments import ledger, services
from payments.models import LocalGatewayObject, PayoutAccount, PayoutLine
from payments.payout_tasks import run_payouts
from tests.browser.conftest import NewContext, cars, log_in, nav, seed_expert, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]


def credit(expert: User, key: str, amount: int, *, days_ago: int, memo: str) -> None:
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False):
        services.expert_credit(
            key=key,
            expert=expert,
            amount_minor=amount,
            currency="USD",
            memo=memo,
            funded_by="member",
        )


def test_expert_connects_a_payout_account_is_paid_and_sees_the_payout(
    new_context: NewContext, live_server: Any, screenshots_dir: Path
) -> None:
    base = live_server.url
    expert = seed_expert(cars())
    credit(expert, "browser-credit-1", 4200, days_ago=20, memo="Question #1: Brake noise")
    credit(expert, "browser-credit-2", 1500, days_ago=2, memo="Question #2: Battery light")

    # --- The earnings page says a payout account is missing ---------------------------
    page = log_in(new_context, base, expert.email, demo.DEMO_PASSWORD)
    nav(page).get_by_role("link", name="Earnings").click()
    expect(page).to_have_url(f"{base}/earnings/")
    expect(page.locator("#earnings-balance")).to_have_text("$57.00")
    expect(page.locator("#earnings-available")).to_have_text("$42.00")
    expect(page.locator("#earnings-pending")).to_have_text("$15.00")
    expect(page.locator("#payout-blockers")).to_contain_text("Connect a payout account")
    expect(page.locator("#no-payouts")).to_be_visible()

    # --- Onboarding left without a bank account: the expert is told what is missing -----
    page.locator("#payout-account-link").click()
    expect(page).to_have_url(f"{base}/earnings/payout-account/")
    page.get_by_role("button", name="Connect a payout account").click()
    expect(page).to_have_url(re.compile(r"/earnings/payout-account/local-onboarding/acct_"))
    expect(page.get_by_role("heading", name="Set up your payout account")).to_be_visible()
    page.get_by_role("button", name="Leave incomplete (missing: bank account)").click()
    expect(page).to_have_url(f"{base}/earnings/payout-account/")
    expect(page.locator(".flash")).to_contain_text(
        "Your payout account is not finished: missing bank account."
    )
    expect(page.locator("#payout-account-missing")).to_have_text("bank account")
    account = PayoutAccount.objects.get(user=expert)
    assert account.status == PayoutAccount.Status.ONBOARDING

    # --- Completed --------------------------------------------------------------------
    page.get_by_role("button", name="Continue onboarding").click()
    page.get_by_role("button", name="Complete onboarding").click()
    expect(page.locator(".flash")).to_contain_text("Your payout account is ready")
    expect(page.locator("#payout-account-status")).to_contain_text("Ready for payouts")
    account.refresh_from_db()
    assert account.status == PayoutAccount.Status.READY

    # --- The payout job runs (beat's task, in this process) ---------------------------
    run_payouts.apply(task_id="beat-browser-test")
    line = PayoutLine.objects.get(expert=expert)
    assert (line.status, line.amount_minor) == ("paid", 4200)
    [transfer] = LocalGatewayObject.objects.filter(kind="transfer")
    assert (transfer.data["destination"], transfer.data["amount"]) == (account.account_id, 4200)
    assert ledger.expert_balance(expert) == 1500

    # --- The expert sees the payout ------------------------------------------------------
    page.goto(f"{base}/earnings/")
    expect(page.locator("#earnings-balance")).to_have_text("$15.00")
    expect(page.locator("#earnings-available")).to_have_text("$0.00")
    expect(page.locator("#earnings-pending")).to_have_text("$15.00")
    expect(page.locator("#payout-account-link")).to_have_text("ready")
    paid = page.locator(f'#payouts tbody tr[data-line="{line.pk}"]')
    expect(paid).to_have_class("payout-paid")
    expect(paid.locator(".status")).to_have_text("Paid")
    expect(paid).to_contain_text(line.transfer_id)
    expect(paid.locator("td.num")).to_have_text("$42.00")
    payout_row = page.locator("#ledger tbody tr.kind-payout")
    expect(payout_row).to_have_count(1)
    expect(payout_row).to_contain_text(f"Payout #{line.pk} to your payout account")
    expect(payout_row.locator("td.num")).to_have_text("-$42.00")
    expect(page.locator("#ledger tbody tr.kind-credit")).to_have_count(2)
    expect(page.locator("#earnings-next-payout")).not_to_be_empty()
    shot(page, screenshots_dir, "earnings-payout.png")
