"""marketplace.rowwrites: a transition's writes (the row, its event, a poll version) go to
PostgreSQL as one statement and leave what the ORM's writes would; the embedded mode's
one-by-one writes leave the same."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from marketplace import rowwrites
from questions.models import Question, QuestionEvent, QuestionStatus
from tests.factories import make_category, make_customer, make_question

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["postgresql", "one by one"])
def mode(request, monkeypatch):
    """Each test runs as PostgreSQL runs it and as the embedded mode (SQLite) does: the
    ORM, one write at a time (forced here by the vendor the module checks)."""
    if request.param == "one by one":
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return request.param


@pytest.fixture
def question() -> Question:
    return make_question(customer=make_customer(), category=make_category(), title="Writes")


def _close(question: Question) -> QuestionEvent:
    """Close it with its event and a new poll version, as a transition does."""
    question.status = QuestionStatus.CLOSED
    question.rating_comment = "Thanks"
    event = QuestionEvent(question=question, from_status="open", to_status="closed", note="n")
    rowwrites.write_together(
        rowwrites.update(question, ["status", "rating_comment"], add_one=["version"]),
        rowwrites.insert(event),
    )
    return event


def test_the_row_its_event_and_its_version_are_written(question, mode):
    version = question.version
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        event = _close(question)
    statements = [q["sql"] for q in ctx.captured_queries]
    data = [s for s in statements if s.split()[0] not in ("BEGIN", "COMMIT", "SAVEPOINT")]
    assert len(data) == (1 if mode == "postgresql" else 2)
    fresh = Question.objects.get(pk=question.pk)
    assert (fresh.status, fresh.rating_comment) == (QuestionStatus.CLOSED, "Thanks")
    assert fresh.version == version + 1 == question.version  # the instance is told too
    assert event.pk is not None and not event._state.adding
    stored = QuestionEvent.objects.get(pk=event.pk)
    assert (stored.question_id, stored.from_status, stored.to_status, stored.note) == (
        question.pk,
        "open",
        "closed",
        "n",
    )
    assert stored.created_at == event.created_at


def test_the_version_moves_from_the_database_value_not_the_instance(question, mode):
    Question.objects.filter(pk=question.pk).update(version=40)
    stale = Question.objects.get(pk=question.pk)
    stale.version = 3  # what the instance holds does not matter: the column adds one
    rowwrites.write_together(rowwrites.add_one(Question, question.pk, "version"))
    assert Question.objects.get(pk=question.pk).version == 41


def test_a_row_that_is_gone_is_an_error_and_nothing_is_written(question, mode):
    gone = Question.objects.get(pk=question.pk)
    gone.pk = question.pk + 10_000
    events = QuestionEvent.objects.count()
    with pytest.raises(DatabaseError), transaction.atomic():
        rowwrites.write_together(
            rowwrites.insert(QuestionEvent(question=question, to_status="closed")),
            rowwrites.update(gone, ["status"]),
        )
    assert QuestionEvent.objects.count() == events


def test_receivers_of_save_signals_hear_of_the_update(question, mode):
    heard: list[dict[str, Any]] = []

    def receiver(sender: Any, instance: Question, **kwargs: Any) -> None:
        heard.append({"pk": instance.pk, **kwargs})

    post_save.connect(receiver, sender=Question, dispatch_uid="test-rowwrites")
    try:
        _close(question)
        rowwrites.write_together(rowwrites.add_one(Question, question.pk, "version"))
    finally:
        post_save.disconnect(dispatch_uid="test-rowwrites", sender=Question)
    # The update of the instance is heard (the open list drops a closed question); the
    # bare version move is not, as with QuerySet.update().
    assert len(heard) == 1
    assert heard[0]["pk"] == question.pk and heard[0]["created"] is False
    assert set(heard[0]["update_fields"]) == {"status", "rating_comment", "version"}


def test_values_are_stored_as_their_fields_store_them(question, mode):
    """Time zones, NULLs and a nullable foreign key come back as written."""
    at = timezone.now()
    question.rated_at = at
    question.expert = None
    question.status = QuestionStatus.CLOSED
    rowwrites.write_together(rowwrites.update(question, ["rated_at", "expert", "status"]))
    fresh = Question.objects.get(pk=question.pk)
    assert fresh.rated_at == at and fresh.expert_id is None


def test_bad_writes_are_refused_before_anything_runs(question):
    with pytest.raises(ValueError, match="new instance"):
        rowwrites.insert(question)
    with pytest.raises(ValueError, match="saved instance"):
        rowwrites.update(Question(), ["status"])
    with pytest.raises(ValueError, match="not a column"):
        rowwrites.update(question, ["events"])
    with pytest.raises(ValueError, match="either set or moved"):
        rowwrites.update(question, ["version"], add_one=["version"])
