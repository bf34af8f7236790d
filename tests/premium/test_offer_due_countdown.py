"""With a real Celery worker: the "you can now offer" notification arrives after the
(shortened) delay, and not before."""

import time

import pytest

from marketplace.models import Category, ExpertProfile, Notification
from questions import services as question_services
from tests.factories import make_category, make_customer, make_expert, make_question
from tests.marketplace.test_celery_worker import real_worker  # noqa: F401  (fixture)


@pytest.mark.django_db(transaction=True)
def test_the_countdown_notifies_the_expert_after_the_delay(real_worker):  # noqa: F811
    cat = make_category()
    Category.objects.filter(pk=cat.pk).update(offer_delay_seconds=3)
    customer, expert = make_customer(), make_expert(cat)
    ExpertProfile.objects.filter(user=expert).update(premium_tool_enabled=True)
    q = make_question(customer=customer, category=cat)
    question_services.question_pick_up(question_id=q.pk, expert=expert)
    question_services.message_post(question_id=q.pk, author=customer, body="first reply")
    question_services.message_post(question_id=q.pk, author=customer, body="second reply")
    posted = time.monotonic()

    def due_notices() -> int:
        return Notification.objects.filter(user=expert, kind="offer_due").count()

    time.sleep(1.5)
    assert due_notices() == 0, "notified before the delay"
    while due_notices() == 0 and time.monotonic() - posted < 15:
        time.sleep(0.1)
    waited = time.monotonic() - posted
    assert due_notices() == 1
    assert 2.5 <= waited < 15
    notice = Notification.objects.get(user=expert, kind="offer_due")
    assert "You can now offer premium services" in notice.text
