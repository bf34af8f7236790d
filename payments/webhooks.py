"""Gateway webhooks: verified, stored once by event id, processed by a task.

Processing is idempotent and order-safe: a final state is never downgraded
(payment_apply_intent and the dispute services ignore stale events).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import services
from .gateway import get_gateway
from .gateway.base import IntentResult
from .models import Payment, Refund, RefundStatus, WebhookEvent

log = logging.getLogger(__name__)


def webhook_receive(*, payload: bytes, signature: str) -> tuple[WebhookEvent, bool]:
    """Verify and store the event. Returns (event, created). Raises InvalidSignature."""
    gateway = get_gateway()
    event = gateway.webhook_event(payload=payload, signature=signature)
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                event_id=event.id,
                gateway=gateway.name,
                type=event.type,
                payload={"type": event.type, "created": event.created, "object": event.data},
            )
    except IntegrityError:
        return WebhookEvent.objects.get(event_id=event.id), False
    transaction.on_commit(lambda: _enqueue(row.pk))
    return row, True


def _enqueue(row_id: int) -> None:
    from .tasks import process_webhook_event

    process_webhook_event.delay(row_id)


def webhook_process(*, row_id: int) -> str:
    """Process one stored event once: claimed under a row lock, outcome recorded."""
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().get(pk=row_id)
        if row.processed_at is not None:
            return "already-processed"
        row.attempts += 1
        try:
            with transaction.atomic():
                outcome = _dispatch(row.type, row.payload.get("object") or {})
        except Exception as exc:
            row.error = f"{exc.__class__.__name__}: {exc}"[:2000]
            row.save(update_fields=["attempts", "error"])
            log.exception("webhook %s failed", row.event_id)
            raise
        row.processed_at = timezone.now()
        row.error = ""
        row.save(update_fields=["attempts", "error", "processed_at"])
        return outcome


def _intent_result(obj: dict[str, Any]) -> IntentResult:
    error = obj.get("last_payment_error") or {}
    status = obj.get("status") or ""
    return IntentResult(
        intent_id=obj["id"],
        status=status,
        amount=int(obj.get("amount") or 0),
        currency=str(obj.get("currency") or "usd").upper(),
        failure_code=str(error.get("code") or error.get("decline_code") or ""),
        failure_message=str(error.get("message") or ""),
    )


def _dispatch(event_type: str, obj: dict[str, Any]) -> str:
    if event_type in (
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.canceled",
    ):
        payment = Payment.objects.filter(intent_id=obj.get("id", "")).first()
        if payment is None:
            return "unknown-intent"
        result = _intent_result(obj)
        if event_type == "payment_intent.payment_failed" and result.status not in (
            "requires_payment_method",
            "canceled",
        ):
            result = IntentResult(
                intent_id=result.intent_id,
                status="requires_payment_method",
                amount=result.amount,
                currency=result.currency,
                failure_code=result.failure_code or "payment_failed",
                failure_message=result.failure_message or "The payment did not go through.",
            )
        services.payment_apply_intent(
            payment_id=payment.pk, result=result, source=f"webhook:{event_type}"[:40]
        )
        return "applied"
    if event_type == "charge.refunded":
        # Our refunds are recorded when the gateway answers; this confirms them.
        refund = Refund.objects.filter(
            payment__intent_id=obj.get("payment_intent", ""), status=RefundStatus.SUCCEEDED
        ).first()
        return "confirmed" if refund else "noted"
    if event_type == "charge.dispute.created":
        services.dispute_open(
            intent_id=str(obj.get("payment_intent") or ""),
            gateway_dispute_id=str(obj["id"]),
            amount_minor=int(obj.get("amount") or 0),
            reason=str(obj.get("reason") or ""),
        )
        return "dispute-opened"
    if event_type == "charge.dispute.closed":
        status = obj.get("status")
        if status not in ("won", "lost"):
            return "ignored"
        services.dispute_close(gateway_dispute_id=str(obj["id"]), won=status == "won")
        return f"dispute-{status}"
    return "ignored"
