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
