from __future__ import annotations

from celery import shared_task

from .services import experts_of_category_notify


@shared_task(
    name="questions.notify_category_experts",
    acks_late=True,
    soft_time_limit=120,
    time_limit=180,
    max_retries=3,
)
def notify_category_experts(question_id: int) -> int:
    return experts_of_category_notify(question_id=question_id)


@shared_task(name="questions.credit_sweep", acks_late=True, soft_time_limit=300, time_limit=360)
def credit_sweep() -> int:
    from .credit import credit_sweep as sweep

    return sweep()
