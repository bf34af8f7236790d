"""Expert earnings through the services (premium.earnings, marketplace.payout_levels): a
phone-call request pays its category's payout value once its report is verified, late or
unverified reports pay nothing, protected calls keep their payout when refunded, and
credits record the level and boosts they used."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import cast

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from marketplace import rollout
from marketplace.errors import Forbidden, InvalidInput, InvalidTransition
from marketplace.models import BoostKind, PayoutBoost, PayoutBoostRule, Rollout, User
from marketplace.roles import CUSTOMER_CARE, ensure_staff_groups
from payments import ledger
from payments import services as payment_services
from payments.models import LedgerTransaction
from premium import calls, earnings
from premium import services as premium_services
from premium.earnings_models import FulfilmentVerification, VerificationStatus
from premium.models import Offer
from questions import intake
from questions import services as question_services
from questions.models import IntakeQuestion
from tests.factories import UserFactory, make_question

pytestmark = pytest.mark.django_db

PHONE_PRICE = 4_900
PHONE_PAYOUT = 3_000


@pytest.fixture
def phone_first(world):
    world.category.phone_call_price_minor = PHONE_PRICE
    world.category.phone_call_payout_minor = PHONE_PAYOUT
    world.category.save()
    IntakeQuestion.objects.create(category=world.category, position=1, prompt="Which car?")
    row = Rollout.objects.create(
        key=rollout.PHONE_FIRST, is_enabled=True, countries="US", share_bp=10_000
    )
    row.categories.set([world.category])
    return row


@pytest.fixture
def care():
    ensure_staff_groups()
    user = cast(User, UserFactory(is_staff=True))
    user.groups.add(Group.objects.get(name=CUSTOMER_CARE))
    return user


def phone_offer(world) -> Offer:
    """A phone-call request booked and paid by the customer, accepted by the expert."""
    session = intake.intake_start(
        customer=world.customer,
        category=world.category,
        title="Engine light",
        body="The check engine light came on.",
        price_minor=2_500,
    )
    intake.intake_answer(intake_id=session.pk, customer=world.customer, answer="VW")
    question = intake.intake_finish_phone(intake_id=session.pk, customer=world.customer)
    assert intake.phone_request_book(question_id=question.pk, customer=world.customer).status == (
        "paid"
    )
    question_services.question_pick_up(question_id=question.pk, expert=world.expert)
    return Offer.objects.get(question=question)


def call(world, offer, *, minutes: float, start: dt.datetime | None = None) -> dt.datetime:
    """Both sides join, connect for `minutes` and hang up; returns the call's end."""
    start = start or timezone.now()
    for user in (world.customer, world.expert):
        token = calls.join_token_issue(offer_id=offer.pk, user=user)
        calls.call_join(offer_id=offer.pk, user=user, token=token)
    calls.call_event(offer_id=offer.pk, user=world.expert, kind="connected", now=start)
    end = start + timedelta(minutes=minutes)
    calls.call_hang_up(offer_id=offer.pk, user=world.customer, now=end)
    return end


def fulfil(world, offer):
    return premium_services.offer_fulfil(offer_id=offer.pk, expert=world.expert, delivered=True)


def call_credits(expert) -> list[LedgerTransaction]:
    return list(
        LedgerTransaction.objects.filter(key__endswith="-call-credit", details__expert=expert.pk)
    )


def refund(world, offer, care, capture):
    refund = premium_services.offer_refund_request(
        offer_id=offer.pk, customer=world.customer, reason="Not what I hoped"
    )
    with capture(execute=True):
        payment_services.refund_approve(refund_id=refund.pk, staff=care)


# --- Phone-call payout and verification ------------------------------------------------


def test_a_call_the_log_confirms_is_verified_and_pays_the_category_value(world, phone_first):
    offer = phone_offer(world)
    assert ledger.expert_balance(world.expert) == 0  # nothing at acceptance
    call(world, offer, minutes=5)  # exactly the threshold
    fulfil(world, offer)
    verification = FulfilmentVerification.objects.get(offer=offer)
    assert (verification.status, verification.automatic) == (VerificationStatus.VERIFIED, True)
    assert verification.connected_seconds == 300 and verification.protected
    assert ledger.expert_balance(world.expert) == PHONE_PAYOUT
    (credit,) = call_credits(world.expert)
    assert credit.details["rule"] == "phone_call_payout" and credit.details["protected"] is True


def test_a_short_call_waits_in_the_queue_and_customer_care_approves_it(world, phone_first, care):
    offer = phone_offer(world)
    call(world, offer, minutes=5 - 1 / 60)  # one second under the threshold
    fulfil(world, offer)
    verification = FulfilmentVerification.objects.get(offer=offer)
    assert verification.status == VerificationStatus.PENDING
    assert ledger.expert_balance(world.expert) == 0
    with pytest.raises(Forbidden):
        earnings.verification_approve(verification_id=verification.pk, staff=world.expert)
    earnings.verification_approve(verification_id=verification.pk, staff=care)
    verification.refresh_from_db()
    assert verification.status == VerificationStatus.VERIFIED and not verification.automatic
    assert verification.decided_by == care
    assert ledger.expert_balance(world.expert) == PHONE_PAYOUT
    with pytest.raises(InvalidTransition):  # approved twice, credited once
        earnings.verification_approve(verification_id=verification.pk, staff=care)
    assert ledger.expert_balance(world.expert) == PHONE_PAYOUT


def test_a_rejected_report_earns_nothing_and_keeps_the_reason(world, phone_first, care):
    offer = phone_offer(world)
    call(world, offer, minutes=1)
    fulfil(world, offer)
    verification = FulfilmentVerification.objects.get(offer=offer)
    with pytest.raises(InvalidInput):
        earnings.verification_reject(verification_id=verification.pk, staff=care, reason=" ")
    earnings.verification_reject(
        verification_id=verification.pk, staff=care, reason="The customer says nobody called"
    )
    verification.refresh_from_db()
    assert verification.status == VerificationStatus.REJECTED
    assert verification.reason == "The customer says nobody called"
    assert ledger.expert_balance(world.expert) == 0


@pytest.mark.parametrize(("after", "status"), [(-1, "verified"), (0, "verified"), (1, "late")])
def test_a_report_filed_after_its_deadline_is_not_payable(world, phone_first, after, status):
    offer = phone_offer(world)
    end = call(world, offer, minutes=10)
    with time_machine.travel(end + timedelta(hours=36, seconds=after), tick=False):
        fulfil(world, offer)
    verification = FulfilmentVerification.objects.get(offer=offer)
    assert verification.status == status
    assert verification.deadline_at == end + timedelta(hours=36)
    assert ledger.expert_balance(world.expert) == (PHONE_PAYOUT if status == "verified" else 0)


# --- Expert Earnings Protection ----------------------------------------------------------


@pytest.mark.parametrize(("start_offset", "protected"), [(-1, True), (0, True), (1, False)])
def test_protection_starts_on_the_start_date(world, phone_first, settings, start_offset, protected):
    offer = phone_offer(world)
    call_day = timezone.now().astimezone(dt.UTC).date()
    # The start date the day before the call, the call's day, the day after.
    settings.EXPERTLINE_PROTECTION_START_DATE = (
        call_day + timedelta(days=start_offset)
    ).isoformat()
    call(world, offer, minutes=6)
    fulfil(world, offer)
    assert FulfilmentVerification.objects.get(offer=offer).protected is protected


def test_a_protected_call_refunded_keeps_the_payout_and_the_platform_carries_it(
    world, phone_first, care, django_capture_on_commit_callbacks
):
    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)
    refund(world, offer, care, django_capture_on_commit_callbacks)
    offer.refresh_from_db()
    assert offer.status == "refunded"
    assert ledger.expert_balance(world.expert) == PHONE_PAYOUT
    assert ledger.balance(ledger.PLATFORM_PROTECTED_REFUNDS) == PHONE_PAYOUT
    carried = LedgerTransaction.objects.get(key=f"offer-{offer.pk}-call-credit-reversal")
    assert carried.kind == "protected_refund"
    assert {e.account.key for e in carried.entries.all()} >= {ledger.PLATFORM_PROTECTED_REFUNDS}


def test_an_unprotected_call_refunded_reverses_the_experts_credit(
    world, phone_first, care, settings, django_capture_on_commit_callbacks
):
    settings.EXPERTLINE_PROTECTION_START_DATE = "2999-01-01"
    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)
    assert ledger.expert_balance(world.expert) == PHONE_PAYOUT
    refund(world, offer, care, django_capture_on_commit_callbacks)
    assert ledger.expert_balance(world.expert) == 0
    assert ledger.balance(ledger.PLATFORM_PROTECTED_REFUNDS) == 0


def test_a_refund_before_verification_leaves_nothing_to_credit(
    world, phone_first, care, django_capture_on_commit_callbacks
):
    offer = phone_offer(world)
    call(world, offer, minutes=1)
    fulfil(world, offer)
    refund(world, offer, care, django_capture_on_commit_callbacks)
    verification = FulfilmentVerification.objects.get(offer=offer)
    earnings.verification_approve(verification_id=verification.pk, staff=care)
    assert ledger.expert_balance(world.expert) == 0
    assert call_credits(world.expert) == []


# --- Boosts on credits -------------------------------------------------------------------


def test_a_protected_call_refunded_after_a_boosted_payout(
    world, phone_first, care, django_capture_on_commit_callbacks
):
    """The combination: accepting the auto call earns a boost; the next question credit is
    computed and recorded with it; the call's refund is carried by the platform."""
    PayoutBoostRule.objects.create(kind=BoostKind.AUTO_CALL, raise_bp=1_000, credit_count=1)
    before = make_question(customer=world.other_customer, category=world.category)
    question_services.question_pick_up(question_id=before.pk, expert=world.expert)
    question_services.question_rate(question_id=before.pk, customer=world.other_customer, stars=5)
    offer = phone_offer(world)  # accepted now: the boost is earned now, not before
    boost = PayoutBoost.objects.get(expert=world.expert)
    assert boost.source == f"offer-{offer.pk}"
    after = make_question(customer=world.other_customer, category=world.category)
    question_services.question_pick_up(question_id=after.pk, expert=world.expert)
    question_services.question_rate(question_id=after.pk, customer=world.other_customer, stars=5)
    unboosted = LedgerTransaction.objects.get(key=f"question-{before.pk}-credit")
    boosted = LedgerTransaction.objects.get(key=f"question-{after.pk}-credit")
    assert (unboosted.details["amount"], unboosted.details["boosts"]) == (1250, [])
    assert boosted.details["amount"] == 1500  # 60% of $25.00
    assert boosted.details["payout_level_bp"] == 6000
    assert [b["source"] for b in boosted.details["boosts"]] == [f"offer-{offer.pk}"]
    boost.refresh_from_db()
    assert boost.credits_used == 1  # its one credit is used

    call(world, offer, minutes=6)
    fulfil(world, offer)
    refund(world, offer, care, django_capture_on_commit_callbacks)
    assert ledger.expert_balance(world.expert) == 1250 + 1500 + PHONE_PAYOUT
    assert ledger.balance(ledger.PLATFORM_PROTECTED_REFUNDS) == PHONE_PAYOUT


@pytest.mark.parametrize(("answered", "boosted"), [(99, False), (100, True), (101, True)])
def test_the_answers_boost_comes_with_the_100th_answer_in_an_eligible_category(
    world, settings, answered, boosted
):
    settings.EXPERTLINE_MESSAGE_RATE_PER_MINUTE = 1_000
    PayoutBoostRule.objects.create(kind=BoostKind.ANSWERS, raise_bp=500, answers_threshold=100)
    world.category.answers_boost_eligible = True
    world.category.save()
    for i in range(answered):
        question = make_question(
            customer=world.other_customer, category=world.category, title=f"Q{i}"
        )
        question_services.question_pick_up(question_id=question.pk, expert=world.expert)
        question_services.message_post(question_id=question.pk, author=world.expert, body="Hi")
    grant = PayoutBoost.objects.filter(expert=world.expert, kind=BoostKind.ANSWERS).first()
    assert (grant is not None) is boosted
    paid = make_question(customer=world.customer, category=world.category)
    question_services.question_pick_up(question_id=paid.pk, expert=world.expert)
    question_services.question_rate(question_id=paid.pk, customer=world.customer, stars=4)
    credit = LedgerTransaction.objects.get(key=f"question-{paid.pk}-credit")
    assert credit.details["payout_level_bp"] == (5500 if boosted else 5000)
