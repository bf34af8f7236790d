from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="premium.notify_offer_due", acks_late=True, soft_time_limit=30, time_limit=60)
def notify_offer_due(question_id: int, due_at: str) -> bool:
    return services.offer_due_notify(question_id=question_id, due_at=due_at)


@shared_task(name="premium.expiry_sweep", acks_late=True, soft_time_limit=300, time_limit=360)
def expiry_sweep() -> int:
    return services.expiry_sweep()


@shared_task(name="premium.accepting_recovery", acks_late=True, soft_time_limit=300, time_limit=360)
def accepting_recovery() -> int:
    return services.accepting_recovery_sweep()


@shared_task(name="premium.call_sweep", acks_late=True, soft_time_limit=120, time_limit=180)
def call_sweep() -> int:
    from . import calls

    return calls.call_sweep()
