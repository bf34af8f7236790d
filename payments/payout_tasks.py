"""Celery tasks for payouts. (Imported by payments.tasks.)

`payments.payout_run` is the beat job (marketplace/celery.py, every
EXPERTLINE_PAYOUT_SCHEDULE_SECONDS): it writes the run's batch and hands its lines, a
hundred at a time, to `payments.payout_pay_lines`. Both are safe to run twice, at once
or one after the other: the run is keyed by its task id (a redelivered task resumes its
own batch) and every line is claimed with a conditional update before the gateway is
called with the line's key (payments.payouts).

Time limits: both stay well under the Redis visibility timeout (2 h, settings), so a
late-acknowledged task is not delivered again while it still runs.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import shared_task

from . import payouts

__all__ = ["pay_payout_lines", "run_payouts"]


@shared_task(
    bind=True,
    name="payments.payout_run",
    acks_late=True,
    soft_time_limit=25 * 60,
    time_limit=30 * 60,
)
def run_payouts(self: Any) -> dict[str, Any]:
    run_key = self.request.id or f"run-{uuid.uuid4()}"
    batch = payouts.payout_run(run_key=run_key, dispatch=_enqueue_pay)
    return {"batch": batch.pk, "status": batch.status}


def _enqueue_pay(line_ids: list[int]) -> None:
    pay_payout_lines.delay(line_ids)


@shared_task(
    name="payments.payout_pay_lines",
    acks_late=True,
    # Each line records its own outcome; a failure here is retried by the next run.
    soft_time_limit=8 * 60,
    time_limit=10 * 60,
)
def pay_payout_lines(line_ids: list[int]) -> dict[str, int]:
    return payouts.payout_lines_pay(line_ids=line_ids)
