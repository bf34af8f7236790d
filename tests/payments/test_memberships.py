"""Memberships billed honestly: consent, each period charged once, retries, lapse, cancel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from marketplace.errors import Conflict, InvalidInput
from payments import ledger, memberships, services
from payments.memberships import add_month
from payments.models import Membership, MembershipPlan, MembershipStatus, Payment, PaymentStatus
from questions import services as question_services
from tests.factories import make_category, make_customer, save_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(world):
    p = MembershipPlan.objects.create(name="Cars club", price_minor=1900)
    p.categories.set([world.category])
    return p


def join(user, plan):
    return memberships.membership_start(user=user, plan_id=plan.pk, consent=True)


def charges(membership):
    return list(
        Payment.objects.filter(reference__startswith=f"membership-{membership.pk}-")
        .filter(status=PaymentStatus.SUCCEEDED)
        .order_by("id")
        .values_list("reference", flat=True)
    )


@pytest.mark.parametrize(
    "start,renews",
    [
        (datetime(2026, 1, 31, 9, tzinfo=UTC), datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, tzinfo=UTC), datetime(2028, 2, 29, 9, tzinfo=UTC)),
        (datetime(2026, 12, 15, 9, tzinfo=UTC), datetime(2027, 1, 15, 9, tzinfo=UTC)),
    ],
)
def test_a_month_later(start, renews):
    assert add_month(start) == renews


def test_joining_needs_the_consent_box(world, plan):
    with pytest.raises(InvalidInput, match="Tick the box"):
        memberships.membership_start(user=world.customer, plan_id=plan.pk, consent=False)
    assert Membership.objects.count() == 0 and Payment.objects.count() == 0


def test_consent_states_the_recurring_price_and_the_renewal_date(plan):
    text = memberships.consent_text(plan, datetime(2026, 12, 23, tzinfo=UTC))
    assert "$19.00 now and $19.00 every month, next on December 23, 2026" in text
    assert "cancel" in text


def test_joining_charges_the_first_month_and_covers_its_categories(world, plan):
    m, payment = join(world.customer, plan)
    assert m.status == MembershipStatus.ACTIVE and payment.status == PaymentStatus.SUCCEEDED
    assert charges(m) == [f"membership-{m.pk}-1"]
    assert ledger.balance(memberships.PLATFORM_MEMBERSHIP_REVENUE) == -1900
    welcome = world.customer.notifications.get(kind="membership")
    assert "To cancel" in welcome.text and "$19.00" in welcome.text
    q, q_payment = question_services.question_ask(
        customer=world.customer, category=world.category, title="T", body="B", price_minor=None
    )
    assert q.is_member_question and q_payment is None
    other, other_payment = question_services.question_ask(
        customer=world.customer,
        category=world.other_category,
        title="T",
        body="B",
        price_minor=2500,
    )
    assert not other.is_member_question and other_payment is not None


def test_one_membership_at_a_time(world, plan):
    join(world.customer, plan)
    with pytest.raises(Conflict, match="already a Member"):
        join(world.customer, plan)


def test_a_declined_first_payment_makes_no_member(world, plan):
    customer = make_customer(card="4000000000000341")
    with pytest.raises(services.PaymentFailed):
        join(customer, plan)
    assert not memberships.covers(user=customer, category=world.category)
    assert Membership.objects.get(user=customer).status == MembershipStatus.ENDED


def test_renewal_charges_the_next_period_once_even_if_run_again(world, plan):
    m, _ = join(world.customer, plan)
    with time_machine.travel(m.current_period_end + timedelta(minutes=1)):
        assert memberships.renewal_sweep() == {"renewed": 1}
        assert memberships.renewal_sweep() == {}
        # A redelivered task for the same membership.
        assert memberships.membership_renew(membership_id=m.pk) == "not-due"
    m.refresh_from_db()
    assert m.period == 2
    assert charges(m) == [f"membership-{m.pk}-1", f"membership-{m.pk}-2"]
    assert ledger.balance(memberships.PLATFORM_MEMBERSHIP_REVENUE) == -3800


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_renewal_runs_charge_once():
    assert connection.vendor == "postgresql"
    cat = make_category()
    plan = MembershipPlan.objects.create(name="P", price_minor=1500)
    plan.categories.set([cat])
    members = [make_customer() for _ in range(5)]
    joined = [join(u, plan)[0] for u in members]
    later = max(m.current_period_end for m in joined) + timedelta(minutes=1)
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def run():
        try:
            barrier.wait()
            results.append(memberships.renewal_sweep(now=later))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.get("renewed", 0) for r in results) == 5
    for m in joined:
        assert charges(m) == [f"membership-{m.pk}-1", f"membership-{m.pk}-2"]


def test_a_failed_renewal_retries_then_lapses_with_notice(world, plan, settings):
    settings.EXPERTLINE_MEMBERSHIP_RETRY_HOURS = [24, 72]
    m, _ = join(world.customer, plan)
    save_card(world.customer, "4000000000000341")  # the new card declines every charge
    end = m.current_period_end
    with time_machine.travel(end + timedelta(minutes=1)):
        assert memberships.renewal_sweep() == {"retry": 1}
    m.refresh_from_db()
    assert m.status == MembershipStatus.PAST_DUE
    assert memberships.covers(user=world.customer, category=world.category)  # grace period
    with time_machine.travel(end + timedelta(hours=25)):
        assert memberships.renewal_sweep() == {"retry": 1}
    with time_machine.travel(end + timedelta(hours=25 + 73)):
        assert memberships.renewal_sweep() == {"lapsed": 1}
    m.refresh_from_db()
    assert m.status == MembershipStatus.LAPSED
    assert not memberships.covers(user=world.customer, category=world.category)
    texts = list(
        world.customer.notifications.filter(kind="membership").values_list("text", flat=True)
    )
    assert any("lapsed" in t for t in texts)
    assert sum("could not renew" in t for t in texts) == 2
    assert charges(m) == [f"membership-{m.pk}-1"]


def test_a_retry_that_succeeds_makes_it_active_again(world, plan):
    m, _ = join(world.customer, plan)
    save_card(world.customer, "4000000000000341")
    with time_machine.travel(m.current_period_end + timedelta(minutes=1)):
        memberships.renewal_sweep()
    save_card(world.customer, "4242424242424242")
    with time_machine.travel(m.current_period_end + timedelta(days=2)):
        assert memberships.renewal_sweep() == {"renewed": 1}
    m.refresh_from_db()
    assert m.status == MembershipStatus.ACTIVE and m.period == 2


def test_cancel_is_one_click_and_nothing_more_is_charged(world, plan):
    m, _ = join(world.customer, plan)
    memberships.membership_cancel(user=world.customer)
    m.refresh_from_db()
    assert m.cancel_at_period_end and m.status == MembershipStatus.ACTIVE
    assert (
        "will not be charged again"
        in world.customer.notifications.filter(kind="membership").first().text
    )
    with time_machine.travel(m.current_period_end + timedelta(minutes=1)):
        assert memberships.renewal_sweep() == {"ended": 1}
    m.refresh_from_db()
    assert m.status == MembershipStatus.ENDED
    assert charges(m) == [f"membership-{m.pk}-1"]


def test_refund_of_the_last_payment_ends_the_membership(
    world, plan, django_capture_on_commit_callbacks
):
    from marketplace.roles import CUSTOMER_CARE
    from tests.payments.test_refunds import staff

    m, _ = join(world.customer, plan)
    refund = memberships.membership_refund_last(user=world.customer, reason="I never used it")
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund_id=refund.pk, staff=staff(CUSTOMER_CARE))
    m.refresh_from_db()
    assert m.status == MembershipStatus.ENDED
    assert ledger.balance(memberships.PLATFORM_MEMBERSHIP_REVENUE) == 0
    assert ledger.balance(ledger.clearing("local")) == 0


def test_the_reminder_is_sent_once_a_few_days_before(world, plan, settings):
    settings.EXPERTLINE_MEMBERSHIP_REMINDER_DAYS = 3
    m, _ = join(world.customer, plan)
    with time_machine.travel(m.current_period_end - timedelta(days=4)):
        assert memberships.reminder_sweep() == 0
    with time_machine.travel(m.current_period_end - timedelta(days=2)):
        assert memberships.reminder_sweep() == 1
        assert memberships.reminder_sweep() == 0
    reminder = world.customer.notifications.filter(text__startswith="Reminder").get()
    assert "$19.00" in reminder.text and "Cancel in one click" in reminder.text


def test_membership_page_shows_price_renewal_date_and_an_unticked_consent(client, world, plan):
    client.force_login(world.customer)
    page = client.get("/account/membership/").content.decode()
    renews = memberships.add_month(timezone.now())
    assert f"Next renewal: {renews:%B} {renews.day}, {renews.year}" in page
    assert 'type="checkbox" name="consent"' in page and "checked" not in page
    r = client.post("/account/membership/", {"action": "join", "plan": plan.pk})
    assert r.status_code == 302
    assert Membership.objects.count() == 0
