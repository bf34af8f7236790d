from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="privacy.retention_sweep", acks_late=True, soft_time_limit=600, time_limit=660)
def retention_sweep() -> int:
    return services.retention_sweep()
