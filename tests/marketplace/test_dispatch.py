"""marketplace.dispatch: tasks sent after commit, and a request's sends as one broker message."""

from __future__ import annotations

from typing import Any

import pytest
from celery.app.task import Task
from django.db import transaction
from rest_framework.test import APIClient

from marketplace import dispatch
from marketplace.tasks import email_notifications
from questions.tasks import notify_category_experts
from tests.factories import make_category, make_customer, make_expert


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """What reaches the broker: (task name, args) per message, nothing run."""
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def record(self: Task, args: Any = None, kwargs: object = None, **options: object) -> None:
        sent.append((self.name, tuple(args or ())))

    monkeypatch.setattr(Task, "apply_async", record)
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_send_leaves_when_its_transaction_commits_and_never_on_rollback(published):
    with transaction.atomic():
        dispatch.task_send_on_commit(notify_category_experts, 7)
        assert published == []  # not before the commit
    assert published == [("questions.notify_category_experts", (7,))]

    with pytest.raises(RuntimeError), transaction.atomic():
        dispatch.task_send_on_commit(notify_category_experts, 8)
        raise RuntimeError("rolled back")
    assert published == [("questions.notify_category_experts", (7,))]


@pytest.mark.django_db(transaction=True)
def test_sends_gathered_in_a_request_leave_as_one_message_at_its_end(published):
    with dispatch.gathered():
        with transaction.atomic():
            dispatch.task_send_on_commit(notify_category_experts, 1)
            dispatch.task_send_on_commit(email_notifications, [5, 6], "site")
        with dispatch.gathered(), transaction.atomic():  # nested: the outer one sends
            dispatch.task_send_on_commit(notify_category_experts, 2)
        with pytest.raises(RuntimeError), transaction.atomic():
            dispatch.task_send_on_commit(notify_category_experts, 3)
            raise RuntimeError("rolled back: not sent")
        assert published == []  # committed, but still gathered
    assert published == [
        (
            dispatch.BATCH_TASK,
            (
                [
                    ("questions.notify_category_experts", [1]),
                    ("marketplace.email_notifications", [[5, 6], "site"]),
                    ("questions.notify_category_experts", [2]),
                ],
            ),
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_a_lone_send_in_a_request_leaves_as_itself(published):
    with dispatch.gathered(), transaction.atomic():
        dispatch.task_send_on_commit(notify_category_experts, 4)
    assert published == [("questions.notify_category_experts", (4,))]


def test_the_worker_enqueues_each_task_of_a_batch_on_its_own(published):
    count = dispatch.send_batch.run(
        [
            ("questions.notify_category_experts", [1]),
            ("marketplace.email_notifications", [[2], "site"]),
        ]
    )
    assert count == 2
    assert published == [
        ("questions.notify_category_experts", (1,)),
        ("marketplace.email_notifications", ([2], "site")),
    ]


@pytest.mark.parametrize("name", ["celery.backend_cleanup", dispatch.BATCH_TASK])
def test_a_batch_naming_a_task_that_is_not_ours_enqueues_nothing(published, name):
    with pytest.raises(ValueError, match="not a task of ours"):
        dispatch.send_batch.run([("questions.notify_category_experts", [1]), (name, [])])
    assert published == []


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_does_not_turn_a_done_request_into_an_error(monkeypatch, caplog):
    def down(self: Task, *args: object, **kwargs: object) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(Task, "apply_async", down)
    with dispatch.gathered(), transaction.atomic():
        dispatch.task_send_on_commit(notify_category_experts, 1)
        dispatch.task_send_on_commit(notify_category_experts, 2)
    assert "could not enqueue 2 task(s)" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_paid_post_over_the_api_reaches_the_broker_as_one_message(published):
    """The receipt's email and the experts' notices of one post: one publish by the web
    worker (the worker then enqueues each)."""
    category = make_category(slug="cars")
    make_expert(category)
    customer = make_customer()
    client = APIClient()
    client.force_authenticate(customer)
    response = client.post(
        "/api/questions/",
        {"category": "cars", "title": "Noise", "body": "It rattles.", "price_minor": 2500},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert [name for name, _ in published] == [dispatch.BATCH_TASK]
    (batch,) = published[0][1]
    assert sorted(name for name, _ in batch) == [
        "marketplace.email_notifications",
        "questions.notify_category_experts",
    ]
