from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from marketplace.models import Category, User
from questions import services as question_services
from questions.models import Question

from .factories import make_category, make_customer, make_expert, make_question


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Rate limits and presence live in the cache (Redis): each test starts clean.
    prefix = cache.key_prefix
    client = getattr(getattr(cache, "_cache", None), "get_client", None)
    if prefix and client is not None:
        redis = client(write=True)
        keys = list(redis.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            redis.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _ledger_balances(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that touched the database, the whole ledger balances."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & names
    )
    uses_db = marker is not None or transactional or "db" in names
    if uses_db:
        # Set the database up before this fixture, so it is still there at our teardown.
        request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    if uses_db:
        from payments import ledger

        problems = ledger.check()
        assert problems == [], f"ledger_check failed after the test: {problems}"


@dataclass
class World:
    """A category with its people: the customer who asks, the expert who answers,
    and the outsiders who must never see their thread."""

    category: Category
    other_category: Category
    customer: User
    member: User
    expert: User
    other_customer: User
    same_category_expert: User
    other_category_expert: User


@pytest.fixture
def world(db: None) -> World:
    cat = make_category(name="Cars", slug="cars")
    other = make_category(name="Legal", slug="legal")
    return World(
        category=cat,
        other_category=other,
        customer=make_customer(email="casey@example.com", display_name="Casey"),
        member=make_customer(member=True, email="morgan@example.com"),
        expert=make_expert(cat, email="erin@example.com", display_name="Erin"),
        other_customer=make_customer(email="olive@example.com"),
        same_category_expert=make_expert(cat, email="sam@example.com"),
        other_category_expert=make_expert(other, email="lee@example.com"),
    )


@pytest.fixture
def tasks_enqueued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Celery tasks are recorded by name as the worker would receive them, instead of run
    inline by the eager test setting: for the tests that count a request's own statements
    (in production the worker runs them, after the answer)."""
    from celery.app.task import Task

    from marketplace import dispatch

    names: list[str] = []

    def record(self: Task, args: Any = None, kwargs: object = None, **options: object) -> None:
        if self.name == dispatch.BATCH_TASK:
            # A request's batch: the worker enqueues each of its tasks.
            names.extend(name for name, _ in args[0])
        else:
            names.append(self.name)

    monkeypatch.setattr(Task, "apply_async", record)
    return names


@pytest.fixture
def open_question(world: World) -> Question:
    return make_question(customer=world.customer, category=world.category)


@pytest.fixture
def assigned_question(world: World, open_question: Question) -> Question:
    return question_services.question_pick_up(question_id=open_question.pk, expert=world.expert)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def api_as(user: User) -> APIClient:
    client = APIClient()
    user.refresh_from_db()  # as a real request would load it
    client.force_authenticate(user)
    return client
