"""The expert's earnings page shows the payout level, active boosts with how they were
earned, and fulfilment reports due with their deadlines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.models import BoostKind, PayoutBoostRule
from premium import earnings
from tests.premium.test_earnings import call, fulfil, phone_first, phone_offer  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_earnings_page_shows_level_boost_and_the_report_due(client, world, phone_first):  # noqa: F811
    PayoutBoostRule.objects.create(kind=BoostKind.AUTO_CALL, raise_bp=1_000, duration_days=7)
    offer = phone_offer(world)
    end = call(world, offer, minutes=2)
    client.force_login(world.expert)
    page = client.get("/earnings/").content.decode()
    assert 'id="payout-level">60%' in page
    assert "+10%: Accepted the phone-call request" in page
    deadline = timezone.localtime(end + timedelta(hours=36))
    assert f'to file, file it by <time datetime="{deadline:%Y-%m-%dT%H:%M:%S}' in page
    fulfil(world, offer)  # too short for the call log: Customer Care decides
    page = client.get("/earnings/").content.decode()
    assert "waiting for Customer Care" in page and "to file" not in page


def test_a_protected_call_shows_its_badge_and_the_refund_the_platform_carried(
    client,
    world,
    phone_first,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    from tests.premium.test_earnings import refund
    from tests.premium.test_earnings_admin import staff_client

    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)
    client.force_login(world.expert)
    page = client.get("/earnings/").content.decode()
    assert f'data-key="offer-{offer.pk}-call-credit"><span class="badge"' in page
    assert "carried-refunds" not in page
    care, _ = staff_client("Customer Care")
    refund(world, offer, care, django_capture_on_commit_callbacks)
    page = client.get("/earnings/").content.decode()
    assert 'id="carried-refunds"' in page and "you keep your payout" in page
    # This week's row of the chart: the protected call, kept after the refund.
    week = [w for w in earnings.earnings_by_week(expert=world.expert)][-1]
    assert week.amounts["calls_protected"] == 3000 and week.widths["calls_protected"] == 100
    assert f'data-week="{week.start:%Y-%m-%d}"' in page
    assert "$30.00" in page  # the credit is still in the expert's ledger rows


def test_the_csv_of_a_period_has_the_pages_rows_with_their_rules(client, world, phone_first):  # noqa: F811
    import csv
    import io

    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)
    client.force_login(world.expert)
    today = timezone.localdate()
    response = client.get(f"/earnings/export.csv?from={today}&to={today}")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["amount"], r["kind"], r["protected"]) for r in rows] == [("30.00", "credit", "yes")]
    assert rows[0]["rule"].startswith("Phone-call payout value of the category")
    yesterday = today - timedelta(days=1)
    empty = client.get(f"/earnings/export.csv?from={yesterday}&to={yesterday}")
    assert b"".join(empty.streaming_content).decode().count("\n") == 1  # the header only
    assert client.get("/earnings/export.csv?from=2026-02-01&to=2026-01-01").status_code == 400
