"""A real Celery worker, on the real broker (Redis), delivers the notification email."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from marketplace.celery import app
from questions import services
from tests.factories import make_category, make_customer, make_expert, make_question


@pytest.fixture
def real_worker(settings):
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_reply_email_is_sent_by_the_worker_after_commit(real_worker):
    cat = make_category()
    customer, expert = make_customer(), make_expert(cat)
    q = make_question(customer=customer, category=cat)
    services.question_pick_up(question_id=q.pk, expert=expert)
    mail.outbox.clear()
    services.message_post(question_id=q.pk, author=expert, body="Your answer is ready")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(customer.email in m.to for m in mail.outbox if "replied" in m.subject):
            break
        time.sleep(0.1)
    subjects = [m.subject for m in mail.outbox if customer.email in m.to]
    assert any("replied" in s for s in subjects), subjects
    n = customer.notifications.get(kind="message_received")
    assert n.emailed_at is not None and n.email_skipped_reason == ""
