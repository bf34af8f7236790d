"""One evidence file for a refund or a dispute (payments.admin, with premium's part from
premium.earnings.payment_evidence): the thread, the offer, the fulfilment report with its
verification and the call log, and nothing of the private box or attachments."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from payments import services as payment_services
from payments.admin import dispute_evidence
from payments.models import Payment, Refund
from premium import services as premium_services
from privacy import services as privacy_services
from questions import services as question_services
from tests.premium.test_earnings import call, fulfil, phone_first, phone_offer  # noqa: F401
from tests.premium.test_earnings_admin import no_staff_mfa, staff_client  # noqa: F401

pytestmark = pytest.mark.django_db

PHONE = "+1 555 0199 3377"
FILENAME = "xray-of-casey-knee.pdf"


@pytest.fixture
def delivered_call(world, phone_first, settings, tmp_path):  # noqa: F811
    """A phone-call request that was talked for 6 minutes and reported; the private box holds
    a phone number and a document; the thread has a line."""
    settings.PRIVATE_FILES_DIR = tmp_path
    offer = phone_offer(world)
    privacy_services.box_open(question_id=offer.question_id)
    privacy_services.box_update(
        question_id=offer.question_id, user=world.customer, values={"phone": PHONE}
    )
    privacy_services.attachment_upload(
        question_id=offer.question_id,
        user=world.customer,
        upload=SimpleUploadedFile(FILENAME, b"%PDF-1.4 scan", content_type="application/pdf"),
    )
    question_services.message_post(
        question_id=offer.question_id, author=world.expert, body="Calling you now about the VW"
    )
    call(world, offer, minutes=6)
    fulfil(world, offer)
    return offer


def premium_part(bundle: dict) -> dict:
    (part,) = [h for h in bundle["held"] if "offers" in h["data"]]
    return part["data"]


def test_the_refund_admin_downloads_one_file_with_thread_offer_report_and_call_log(
    world, delivered_call
):
    offer = delivered_call
    premium_services.offer_refund_request(
        offer_id=offer.pk, customer=world.customer, reason="The call did not help"
    )
    refund = Refund.objects.get(payment__reference=f"offer-{offer.pk}")
    _care, client = staff_client("Customer Care")
    response = client.post(
        "/admin/payments/refund/",
        {"action": "export_evidence", "_selected_action": [refund.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "refund-evidence.json" in response["Content-Disposition"]
    raw = response.content.decode()
    (bundle,) = json.loads(raw)
    assert bundle["refund"]["reason"] == "The call did not help"
    assert bundle["payment"]["reference"] == f"offer-{offer.pk}"
    data = premium_part(bundle)
    assert any(m["body"] == "Calling you now about the VW" for m in data["messages"])
    (sent,) = data["offers"]
    assert (sent["id"], sent["service_kind"], sent["price_minor"]) == (
        offer.pk,
        "phone_call",
        offer.price_minor,
    )
    report = sent["fulfilment_report"]
    assert report["delivered"] is True
    assert report["verification"]["status"] == "verified"
    assert report["verification"]["automatic"] is True
    assert report["verification"]["connected_seconds"] == 360
    (session,) = sent["calls"]
    assert session["duration_seconds"] == 360
    assert {p["role"]: p["user"] for p in session["participants"]} == {
        "customer": world.customer.email,
        "expert": world.expert.email,
    }
    assert session["events"], "the call's events are in the log"
    # Privacy: nothing of the private box nor the attachments, nor signalling payloads.
    assert PHONE not in raw and "555 0199" not in raw
    assert FILENAME not in raw and "xray" not in raw
    assert "sdp" not in raw.lower()


def test_a_dispute_on_the_call_carries_the_same_premium_part(world, delivered_call):
    offer = delivered_call
    payment = Payment.objects.get(reference=f"offer-{offer.pk}")
    dispute = payment_services.dispute_open(
        intent_id=payment.intent_id,
        gateway_dispute_id="dp_call",
        amount_minor=payment.amount_minor,
        reason="product_not_received",
    )
    bundle = dispute_evidence(dispute)
    raw = json.dumps(bundle, default=str)
    data = premium_part(bundle)
    assert data["offers"][0]["fulfilment_report"]["verification"]["protected"] is True
    assert data["offers"][0]["calls"][0]["participants"]
    assert any(t["key"] == f"offer-{offer.pk}-call-credit" for t in bundle["ledger"])
    assert PHONE not in raw and FILENAME not in raw
