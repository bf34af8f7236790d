"""The monthly statement PDF (premium.earnings_views.earnings_statement_pdf): the signed-in
expert's own month, with the totals the earnings page and its CSV show."""

from __future__ import annotations

import csv
import io
import re
import zlib
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.premium.test_earnings import (  # noqa: F401
    PHONE_PAYOUT,
    call,
    fulfil,
    phone_first,
    phone_offer,
    refund,
)
from tests.premium.test_earnings_admin import staff_client

pytestmark = pytest.mark.django_db


def pdf_text(body: bytes) -> str:
    """The text the PDF draws: fpdf2 writes `(...) Tj` in its (Flate-compressed) pages."""
    chunks = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S):
        try:
            chunks.append(zlib.decompress(raw))
        except zlib.error:
            chunks.append(raw)
    shown = re.findall(rb"\((.*?)\)\s*Tj", b"\n".join(chunks), re.S)
    return "\n".join(s.decode("latin-1").replace("\\(", "(").replace("\\)", ")") for s in shown)


def statement_url(month) -> str:
    return f"/earnings/statement/{month.year}-{month.month}.pdf"


def test_the_statement_shows_the_months_credit_the_refund_the_platform_carried_and_balances(
    client,
    world,
    phone_first,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)  # verified by the call log, protected, credited $30.00
    care, _ = staff_client("Customer Care")
    refund(world, offer, care, django_capture_on_commit_callbacks)
    client.force_login(world.expert)
    today = timezone.localdate()
    page = client.get("/earnings/").content.decode()
    assert f'href="{statement_url(today)}"' in page
    assert "Expert Earnings Protection covers refunds only. A chargeback" in page
    response = client.get(statement_url(today))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    assert f"Expertline earnings statement: {today:%B %Y}" in text
    # The month's totals, as the CSV of the same month adds them up.
    first = today.replace(day=1)
    csv_response = client.get(f"/earnings/export.csv?from={first}&to={today}")
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    net = sum(Decimal(r["amount"]) for r in rows)
    assert net == Decimal("30.00") and "$30.00" in page
    lines = text.splitlines()
    assert lines[lines.index("Opening balance") + 1] == "0.00 USD"
    assert lines[lines.index("Credits this month") + 1] == "30.00 USD"
    assert lines[lines.index("Reversals this month") + 1] == "0.00 USD"
    assert lines[lines.index("Closing balance") + 1] == f"{net} USD"
    assert f"Phone call (question #{offer.question_id})" in text
    assert any(line.startswith("Carried by the platform.") for line in lines)
    assert "Phone-call payout value of the category" in text


def test_a_refund_the_expert_carries_shows_as_their_reversal(
    client,
    world,
    phone_first,  # noqa: F811
    settings,
    django_capture_on_commit_callbacks,
):
    settings.EXPERTLINE_PROTECTION_START_DATE = "2999-01-01"  # nothing is protected
    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)
    care, _ = staff_client("Customer Care")
    refund(world, offer, care, django_capture_on_commit_callbacks)
    client.force_login(world.expert)
    text = pdf_text(client.get(statement_url(timezone.localdate())).content)
    lines = text.splitlines()
    assert lines[lines.index("Credits this month") + 1] == "30.00 USD"
    assert lines[lines.index("Reversals this month") + 1] == "-30.00 USD"
    assert lines[lines.index("Closing balance") + 1] == "0.00 USD"
    assert any(line.startswith("Carried by you.") for line in lines)


def test_the_statement_is_for_experts_only_and_each_sees_their_own(client, world, phone_first):  # noqa: F811
    offer = phone_offer(world)
    call(world, offer, minutes=6)
    fulfil(world, offer)
    url = statement_url(timezone.localdate())
    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(world.customer)
    assert client.get(url).status_code == 404
    client.force_login(world.same_category_expert)
    other = pdf_text(client.get(url).content)
    assert world.same_category_expert.email in other and world.expert.email not in other
    assert "30.00 USD" not in other
    client.force_login(world.expert)
    assert client.get("/earnings/statement/2026-13.pdf").status_code == 404


def test_the_statement_lists_the_payout_with_its_line_and_the_level_and_boost_used(
    client,
    world,
    phone_first,  # noqa: F811
    settings,
    django_capture_on_commit_callbacks,
):
    from marketplace.models import BoostKind, PayoutBoostRule
    from payments import payouts
    from payments.payout_models import PayoutLine
    from questions import services as question_services
    from tests.factories import make_question
    from tests.payments.test_payouts import connect

    settings.EXPERTLINE_PAYOUT_HOLD_DAYS = 0
    settings.EXPERTLINE_PAYOUT_MINIMUM_MINOR = 100
    PayoutBoostRule.objects.create(kind=BoostKind.AUTO_CALL, raise_bp=1_000, duration_days=7)
    offer = phone_offer(world)  # accepted: the boost for accepted auto calls, +10%
    question = make_question(customer=world.customer, category=world.category)
    question_services.question_pick_up(question_id=question.pk, expert=world.expert)
    question_services.question_rate(question_id=question.pk, customer=world.customer, stars=5)
    connect(world.expert)
    with django_capture_on_commit_callbacks(execute=True):
        payouts.payout_run(
            run_key="statement",
            dispatch=lambda ids: payouts.payout_lines_pay(line_ids=ids),
        )
    line = PayoutLine.objects.get(expert=world.expert)
    assert line.status == "paid"
    paid = f"{line.amount_minor // 100}.{line.amount_minor % 100:02d}"
    client.force_login(world.expert)
    lines = pdf_text(client.get(statement_url(timezone.localdate())).content).splitlines()
    assert lines[lines.index("Credits this month") + 1] == f"{paid} USD"
    assert lines[lines.index("Payouts this month") + 1] == f"-{paid} USD"
    assert lines[lines.index("Closing balance") + 1] == "0.00 USD"
    assert any(
        text.startswith(f"Line #{line.pk} of batch {line.batch_id}: Paid, {paid} USD")
        for text in lines
    )
    assert f"60% (base 50%; boosts +10% (auto_call: offer-{offer.pk})): 1 credit" in lines
