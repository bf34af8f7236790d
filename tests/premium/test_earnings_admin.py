"""Staff in the Django admin: the fulfilment verification queue (approve, reject with a
reason), every credit with the rule that produced it, protected refunds by month."""

from __future__ import annotations

from typing import cast

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketplace.models import User
from marketplace.roles import CUSTOMER_CARE, FINANCE, ensure_staff_groups
from payments import ledger
from premium.earnings_models import FulfilmentVerification, VerificationStatus
from tests.factories import UserFactory
from tests.premium.test_earnings import call, fulfil, phone_first, phone_offer, refund  # noqa: F401

pytestmark = pytest.mark.django_db


def staff_client(group: str) -> tuple[User, Client]:
    ensure_staff_groups()
    user = cast(User, UserFactory(is_staff=True))
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return user, client


@pytest.fixture(autouse=True)
def no_staff_mfa(settings):
    settings.EXPERTLINE_STAFF_MFA_REQUIRED = False


def queued(world) -> FulfilmentVerification:
    offer = phone_offer(world)
    call(world, offer, minutes=1)  # too short for the call log to confirm it
    fulfil(world, offer)
    return FulfilmentVerification.objects.get(offer=offer)


def test_customer_care_rejects_a_queued_report_with_a_reason(world, phone_first):  # noqa: F811
    verification = queued(world)
    _, client = staff_client(CUSTOMER_CARE)
    url = reverse("admin:premium_fulfilmentverification_changelist")
    listing = client.get(url + "?status__exact=pending").content.decode()
    assert f"offer-{verification.offer_id}" in listing
    asked = client.post(url, {"action": "reject", "_selected_action": [verification.pk]})
    assert "Reject fulfilment reports" in asked.content.decode()
    client.post(
        url,
        {
            "action": "reject",
            "_selected_action": [verification.pk],
            "apply": "1",
            "reason": "Nobody answered the phone",
        },
    )
    verification.refresh_from_db()
    assert verification.status == VerificationStatus.REJECTED
    assert verification.reason == "Nobody answered the phone"
    assert ledger.expert_balance(world.expert) == 0


def test_customer_care_approves_and_the_credit_shows_its_rule(world, phone_first):  # noqa: F811
    verification = queued(world)
    care, client = staff_client(CUSTOMER_CARE)
    url = reverse("admin:premium_fulfilmentverification_changelist")
    client.post(url, {"action": "approve", "_selected_action": [verification.pk]})
    verification.refresh_from_db()
    assert verification.status == VerificationStatus.VERIFIED and verification.decided_by == care
    assert ledger.expert_balance(world.expert) == 3000
    _, finance = staff_client(FINANCE)
    credits = finance.get(reverse("admin:premium_creditrecord_changelist")).content.decode()
    assert "Phone-call payout value of the category, report verified by Customer Care" in credits


def test_finance_reads_protected_refunds_by_month(
    world,
    phone_first,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)
    care, _ = staff_client(CUSTOMER_CARE)
    refund(world, offer, care, django_capture_on_commit_callbacks)
    _, finance = staff_client(FINANCE)
    page = finance.get(reverse("admin:premium_protected_refunds")).content.decode()
    assert f"{timezone.now():%B %Y}" in page and "$30.00" in page
    credits = finance.get(reverse("admin:premium_creditrecord_changelist")).content.decode()
    assert "Refund carried by the platform (Expert Earnings Protection)" in credits


def test_finance_configures_boost_rules_and_reads_earned_boosts(world):
    from marketplace.models import BoostKind, PayoutBoostRule

    _, finance = staff_client(FINANCE)
    added = finance.post(
        reverse("admin:marketplace_payoutboostrule_add"),
        {
            "kind": BoostKind.AUTO_CALL,
            "raise_bp": 700,
            "answers_threshold": 100,
            "duration_days": 14,
            "credit_count": "",
            "is_active": "on",
        },
    )
    assert added.status_code == 302
    assert PayoutBoostRule.objects.get().raise_bp == 700
    page = finance.get(reverse("admin:marketplace_payoutboost_changelist"))
    assert page.status_code == 200
