"""The earnings rules of premium.earnings as pure functions, at their edges."""

from __future__ import annotations

import datetime as dt

import pytest

from premium.earnings import (
    CallFact,
    auto_verifiable,
    call_ended_at,
    connected_seconds,
    is_protected,
    phone_call_payout,
    report_deadline,
    report_on_time,
)

UTC = dt.UTC
START = dt.date(2022, 9, 1)
END = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def payout(**kw):
    facts = {
        "offer_kind": "auto",
        "service_kind": "phone_call",
        "connected": True,
        "delivered": True,
        "on_time": True,
        "verified": True,
        "payout_minor": 3000,
    }
    return phone_call_payout(**{**facts, **kw})


def test_a_verified_connected_phone_call_pays_the_categorys_payout_value():
    assert payout().amount_minor == 3000


@pytest.mark.parametrize(
    ("fact", "why"),
    [
        ({"connected": False}, "the call never connected"),
        ({"delivered": False}, "the fulfilment report says the call did not happen"),
        ({"on_time": False}, "the fulfilment report was filed after its deadline"),
        ({"verified": False}, "the fulfilment report is not verified"),
        ({"offer_kind": "expert"}, "not a phone-call request"),
        ({"payout_minor": None}, "the category has no phone-call payout value"),
    ],
)
def test_a_phone_call_earns_nothing_and_says_why(fact, why):
    result = payout(**fact)
    assert (result.amount_minor, result.reason) == (0, why)


def test_the_report_deadline_is_36_hours_after_the_calls_end_to_the_second():
    deadline = report_deadline(END, hours=36)
    assert deadline == END + dt.timedelta(hours=36)
    assert report_on_time(deadline - dt.timedelta(seconds=1), deadline)
    assert report_on_time(deadline, deadline)
    assert not report_on_time(deadline + dt.timedelta(seconds=1), deadline)


def call(minutes: float, *, customer=True, expert=True, connected=True) -> CallFact:
    start = END - dt.timedelta(minutes=minutes)
    return CallFact(
        connected_at=start if connected else None,
        ended_at=END,
        customer_joined=customer,
        expert_joined=expert,
    )


def test_the_call_log_verifies_at_the_threshold_and_not_a_second_below():
    five = connected_seconds([call(5)])
    assert five == 300
    assert auto_verifiable(delivered=True, seconds_connected=five, min_minutes=5)
    assert not auto_verifiable(delivered=True, seconds_connected=299, min_minutes=5)
    assert not auto_verifiable(delivered=False, seconds_connected=3600, min_minutes=5)


def test_connected_time_sums_calls_where_both_sides_joined_only():
    calls = [call(3), call(2), call(30, expert=False), call(30, connected=False)]
    assert connected_seconds(calls) == 300
    assert call_ended_at(calls) == END
    assert call_ended_at([call(30, connected=False)]) is None


@pytest.mark.parametrize(
    ("day", "protected"),
    [(dt.date(2022, 8, 31), False), (dt.date(2022, 9, 1), True), (dt.date(2022, 9, 2), True)],
)
def test_protection_starts_on_its_start_date(day, protected):
    late_evening = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=UTC)
    early_morning = dt.datetime.combine(day, dt.time(0, 0), tzinfo=UTC)
    for moment in (early_morning, late_evening):
        assert (
            is_protected(
                offer_kind="auto",
                service_kind="phone_call",
                call_connected_at=moment,
                delivered=True,
                verified=True,
                start=START,
            )
            is protected
        )


@pytest.mark.parametrize(
    "fact",
    [
        {"offer_kind": "expert"},
        {"service_kind": "video_call"},
        {"call_connected_at": None},  # not on the integrated call feature
        {"verified": False},
        {"delivered": False},
    ],
)
def test_only_a_verified_auto_phone_call_on_our_call_feature_is_protected(fact):
    facts = {
        "offer_kind": "auto",
        "service_kind": "phone_call",
        "call_connected_at": END,
        "delivered": True,
        "verified": True,
        "start": START,
    }
    assert not is_protected(**{**facts, **fact})
