"""The "Offer Premium Services" rule at its edges (premium.eligibility.offer_eligibility)."""

from datetime import UTC, datetime, timedelta

import pytest

from premium.eligibility import OfferFact, offer_eligibility

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(replies=(), offers=(), now=at(1000), status="assigned", tool=True, delay=60):
    return offer_eligibility(
        expert_has_tool=tool,
        question_status=status,
        picked_up_at=T0,
        customer_reply_times=[at(s) for s in replies],
        offers=list(offers),
        delay_seconds=delay,
        now=now,
    )


def test_one_reply_is_not_enough():
    assert rule(replies=[10]).reason == "needs_replies"


def test_two_replies_at_59_seconds_is_too_early():
    verdict = rule(replies=[10, 20], now=at(20 + 59))
    assert not verdict.allowed and verdict.reason == "too_early" and verdict.due_at == at(80)


def test_two_replies_at_60_seconds_is_due():
    verdict = rule(replies=[10, 20], now=at(20 + 60))
    assert verdict.allowed and verdict.due_at == at(80)


def test_the_question_text_and_messages_before_pick_up_do_not_count():
    assert rule(replies=[-30, -10, 5]).reason == "needs_replies"


def test_later_replies_never_restart_the_delay():
    verdict = rule(replies=[10, 20, 70, 79], now=at(80))
    assert verdict.allowed and verdict.due_at == at(80)


def test_expert_messages_between_the_replies_neither_count_nor_reset():
    # Only customer messages are given to the rule: the expert wrote at 15 and 30.
    assert rule(replies=[10, 40], now=at(100)).due_at == at(100)


@pytest.mark.parametrize("status", ["sent", "accepting"])
def test_never_while_an_offer_is_pending(status):
    verdict = rule(replies=[10, 20], offers=[OfferFact(status, None)], now=at(500))
    assert not verdict.allowed and verdict.reason == "pending_offer"


@pytest.mark.parametrize("ended", ["declined", "withdrawn", "expired"])
def test_after_a_decline_two_more_replies_plus_the_delay(ended):
    closed = [OfferFact(ended, at(100))]
    assert rule(replies=[10, 20], offers=closed, now=at(500)).reason == "needs_replies"
    assert rule(replies=[10, 20, 150], offers=closed, now=at(500)).reason == "needs_replies"
    verdict = rule(replies=[10, 20, 150, 200], offers=closed, now=at(259))
    assert verdict.reason == "too_early" and verdict.due_at == at(260)
    assert rule(replies=[10, 20, 150, 200], offers=closed, now=at(260)).allowed


@pytest.mark.parametrize("status", ["open", "closed", "refunded", "intake"])
def test_not_on_a_question_out_of_conversation(status):
    assert rule(replies=[10, 20], status=status).reason == "not_conversing"


def test_answered_questions_still_converse():
    assert rule(replies=[10, 20], status="answered").allowed


def test_never_for_an_expert_without_the_tool():
    assert rule(replies=[10, 20], tool=False).reason == "no_tool"


def test_the_category_delay_is_used():
    assert rule(replies=[10, 20], delay=300, now=at(319)).reason == "too_early"
    assert rule(replies=[10, 20], delay=300, now=at(320)).allowed
