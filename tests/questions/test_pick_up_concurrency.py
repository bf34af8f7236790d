"""Twenty experts pick up one question at the same moment, against PostgreSQL."""

import threading

import pytest
from django.db import connection, connections

from marketplace.errors import Conflict
from questions import services
from questions.models import QuestionEvent
from tests.factories import make_category, make_customer, make_expert, make_question


@pytest.mark.django_db(transaction=True)
def test_twenty_experts_racing_get_exactly_one_assignment():
    assert connection.vendor == "postgresql", "select_for_update needs PostgreSQL to be tested"
    cat = make_category()
    question = make_question(customer=make_customer(), category=cat)
    experts = [make_expert(cat) for _ in range(20)]
    barrier = threading.Barrier(len(experts))
    won, taken, errors = [], [], []

    def grab(expert):
        try:
            barrier.wait()
            services.question_pick_up(question_id=question.pk, expert=expert)
            won.append(expert.pk)
        except Conflict as exc:
            taken.append(exc.code)
        except Exception as exc:  # any other outcome is a bug
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=grab, args=(e,)) for e in experts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(won) == 1
    assert taken == ["taken"] * 19
    question.refresh_from_db()
    assert question.expert_id == won[0]
    assert QuestionEvent.objects.filter(question=question, to_status="assigned").count() == 1
