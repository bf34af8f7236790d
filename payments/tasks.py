from __future__ import annotations

from celery import shared_task

from .gateway.base import GatewayUnavailable
from .gateway.local import local_gateway_send_webhook  # noqa: F401  (registers the task)
from .services import refund_process
from .webhooks import webhook_process


@shared_task(
    name="payments.process_refund",
    acks_late=True,
    autoretry_for=(GatewayUnavailable,),
    retry_backoff=True,
    max_retries=10,
    soft_time_limit=60,
    time_limit=90,
)
def process_refund(refund_id: int) -> str:
    return refund_process(refund_id=refund_id).status


@shared_task(
    name="payments.membership_renewals",
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
)
def membership_renewals() -> dict[str, int]:
    from .memberships import renewal_sweep

    return renewal_sweep()


@shared_task(
    name="payments.membership_reminders",
    acks_late=True,
    soft_time_limit=300,
    time_limit=360,
)
def membership_reminders() -> int:
    from .memberships import reminder_sweep

    return reminder_sweep()


@shared_task(
    name="payments.process_webhook_event",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def process_webhook_event(row_id: int) -> str:
    return webhook_process(row_id=row_id)


from .payout_tasks import *  # noqa: E402,F403  (registers the payout tasks)
