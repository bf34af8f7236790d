"""Webhooks: verified by signature, stored once, processed once, never downgrading."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import pytest
from django.db import connections
from django.test import Client

from payments.models import Payment, PaymentStatus, WebhookEvent
from tests.factories import make_question

pytestmark = pytest.mark.django_db
URL = "/payments/webhooks/stripe/"


def sign(payload: bytes, secret: str, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(event_type: str, obj: dict, event_id: str = "evt_test_1") -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def post(client, payload: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(URL, payload, content_type="application/json", **headers)


@pytest.fixture
def paid(world):
    q = make_question(customer=world.customer, category=world.category)
    return Payment.objects.get(reference=f"question-{q.pk}")


def test_same_event_twice_is_processed_once(
    client, settings, paid, django_capture_on_commit_callbacks
):
    payload = event(
        "payment_intent.succeeded",
        {"id": paid.intent_id, "status": "succeeded", "amount": 2500, "currency": "usd"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, payload, sign(payload, settings.STRIPE_WEBHOOK_SECRET))
        second = post(client, payload, sign(payload, settings.STRIPE_WEBHOOK_SECRET))
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    row = WebhookEvent.objects.get()
    assert row.processed_at is not None and row.attempts == 1


@pytest.mark.parametrize("problem", ["tampered", "wrong-secret", "stale", "missing"])
def test_bad_signatures_are_refused_and_nothing_is_written(client, settings, paid, problem):
    payload = event(
        "payment_intent.payment_failed", {"id": paid.intent_id, "status": "requires_payment_method"}
    )
    secret = settings.STRIPE_WEBHOOK_SECRET
    signature: str | None = sign(payload, secret)
    if problem == "tampered":
        payload = payload.replace(b"payment_failed", b"payment_faile_")
    elif problem == "wrong-secret":
        signature = sign(payload, "whsec_someone_else")
    elif problem == "stale":
        signature = sign(payload, secret, t=int(time.time()) - 3600)
    else:
        signature = None
    r = post(client, payload, signature)
    assert r.status_code == 400
    assert WebhookEvent.objects.count() == 0
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.SUCCEEDED


def test_a_late_failure_event_never_downgrades_a_paid_payment(
    client, settings, paid, django_capture_on_commit_callbacks
):
    payload = event(
        "payment_intent.payment_failed",
        {
            "id": paid.intent_id,
            "status": "requires_payment_method",
            "last_payment_error": {"message": "declined"},
        },
        event_id="evt_late",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            post(client, payload, sign(payload, settings.STRIPE_WEBHOOK_SECRET)).status_code == 200
        )
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_twenty_deliveries_at_once_are_processed_once(settings):
    from tests.factories import make_category, make_customer

    q = make_question(customer=make_customer(), category=make_category())
    paid = Payment.objects.get(reference=f"question-{q.pk}")
    payload = event(
        "charge.dispute.created",
        {
            "id": "dp_race",
            "payment_intent": paid.intent_id,
            "amount": 2500,
            "currency": "usd",
            "reason": "fraudulent",
            "status": "needs_response",
        },
        event_id="evt_race",
    )
    signature = sign(payload, settings.STRIPE_WEBHOOK_SECRET)
    barrier = threading.Barrier(20)
    codes: list[int] = []

    def deliver():
        try:
            barrier.wait()
            codes.append(post(Client(), payload, signature).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 20
    assert WebhookEvent.objects.count() == 1
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.DISPUTED
    assert paid.disputes.count() == 1
