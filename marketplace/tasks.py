from __future__ import annotations

import logging

from celery import shared_task

from .dispatch import send_batch
from .notifications import notification_email_send

__all__ = ["email_notifications", "send_batch"]  # send_batch: registered with the worker here

log = logging.getLogger(__name__)


@shared_task(
    name="marketplace.email_notifications",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def email_notifications(notification_ids: list[int], place: str) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for nid in notification_ids:
        outcome = notification_email_send(notification_id=nid, place=place)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    log.info("notification emails: %s", outcomes)
    return outcomes
