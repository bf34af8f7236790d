"""Celery tasks enqueued after commit: one broker message for everything a request enqueues.

`task_send_on_commit(task, *args)` is how a write enqueues its follow-up work (emails, the
category's experts told of a new question, the local gateway's webhook): the task is sent
once the current transaction commits, and never when it rolls back.

Inside a web request (`marketplace.middleware.TaskBatchMiddleware`, outermost) the sends that commit during the
request are gathered and leave as one message when the request ends: a paid post enqueues
three tasks (its receipt email, the experts' notices, the gateway's webhook), and each
Celery publish costs the web worker about 0.7 ms of CPU and two round trips to the broker,
more than most of the request's SQL statements. The worker receives the batch
(`marketplace.send_batch`) and enqueues each task on its own, so every task keeps its own
retries, time limits and acknowledgement. A single send leaves as itself. Outside a request
(tasks, commands, the shell) each send leaves at its commit, as before.

A task that needs options (a countdown, an ETA; premium's offer-due notice) is not sent
through here: it keeps its own `on_commit` and `apply_async` with them. Nor are the sends
whose outcome the same request reports (a refund Customer Care approves, which the admin's
message then shows, processed in time where Celery runs eagerly): they keep theirs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from celery import current_app, shared_task
from celery.app.task import Task
from django.db import transaction

log = logging.getLogger(__name__)

BATCH_TASK = "marketplace.send_batch"

_local = threading.local()

# The apps whose tasks a batch may name.
_OWN_APPS = frozenset({"marketplace", "questions", "premium", "payments", "privacy"})


def task_send_on_commit(task: Task, *args: Any, robust: bool = False) -> None:
    """Send `task(*args)` once the current transaction commits (at once outside one).

    `robust`: a broker that is down is logged instead of raised, for sends that follow work
    which must not fail once committed (a payment). Gathered sends are always robust: they
    leave after the answer is built, when raising would only turn a done request into an
    error page.
    """
    transaction.on_commit(partial(_send, task.name, args), robust=robust)


def _send(name: str, args: tuple[Any, ...]) -> None:
    batch: list[tuple[str, list[Any]]] | None = getattr(_local, "batch", None)
    if batch is None:
        current_app.tasks[name].apply_async(args)
    else:
        batch.append((name, list(args)))


@contextmanager
def gathered() -> Iterator[None]:
    """Gather the sends that commit meanwhile and send them as one message at the end.

    Nested use gathers into the outer one."""
    if getattr(_local, "batch", None) is not None:
        yield
        return
    batch: list[tuple[str, list[Any]]] = []
    _local.batch = batch
    try:
        yield
    finally:
        _local.batch = None
        _flush(batch)


def _flush(batch: list[tuple[str, list[Any]]]) -> None:
    if not batch:
        return
    try:
        if len(batch) == 1:
            name, args = batch[0]
            current_app.tasks[name].apply_async(tuple(args))
        else:
            send_batch.apply_async((batch,))
    except Exception:
        # The work is committed and its answer built; the tasks' rows say what is owed
        # (unsent emails, unprocessed events), so a broker that is down is logged, not
        # turned into an error for the person who asked.
        log.exception("could not enqueue %d task(s): %s", len(batch), [n for n, _ in batch])


@shared_task(
    name=BATCH_TASK,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
    acks_late=True,
    soft_time_limit=25,
    time_limit=30,
)
def send_batch(batch: list[tuple[str, list[Any]]]) -> int:
    """Enqueue each task of a request's batch on its own; returns how many.

    Only the project's own tasks are accepted: a batch names them, and the worker must not
    become a way to run any registered task by name. A retry after a partial send enqueues
    the sent ones again: every task is safe to run twice (house style)."""
    sends = []
    for name, args in batch:
        if name.split(".", 1)[0] not in _OWN_APPS or name == BATCH_TASK:
            raise ValueError(f"not a task of ours: {name!r}")
        sends.append((current_app.tasks[name], args))
    for task, args in sends:
        task.apply_async(tuple(args))
    return len(sends)
