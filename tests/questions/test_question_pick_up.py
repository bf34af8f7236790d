import pytest

from marketplace.errors import Conflict, Forbidden, NotFound
from questions import services
from questions.models import QuestionEvent, QuestionStatus
from tests.factories import make_expert

pytestmark = pytest.mark.django_db


def test_pick_up_makes_the_question_the_experts_alone(world, open_question):
    q = services.question_pick_up(question_id=open_question.pk, expert=world.expert)
    assert q.status == QuestionStatus.ASSIGNED
    assert q.expert == world.expert
    event = QuestionEvent.objects.filter(question=q).last()
    assert event is not None
    assert (event.from_status, event.to_status, event.actor) == ("open", "assigned", world.expert)


def test_second_expert_is_told_it_is_taken(world, assigned_question):
    with pytest.raises(Conflict, match="already picked up"):
        services.question_pick_up(
            question_id=assigned_question.pk, expert=world.same_category_expert
        )
    assigned_question.refresh_from_db()
    assert assigned_question.expert == world.expert


def test_expert_of_another_category_cannot_see_it(world, open_question):
    with pytest.raises(NotFound):
        services.question_pick_up(question_id=open_question.pk, expert=world.other_category_expert)


def test_unverified_expert_cannot_pick_up(world, open_question):
    unverified = make_expert(world.category, verified=False)
    with pytest.raises(Forbidden):
        services.question_pick_up(question_id=open_question.pk, expert=unverified)
    open_question.refresh_from_db()
    assert open_question.status == QuestionStatus.OPEN


def test_customer_is_notified_of_pick_up(world, open_question):
    services.question_pick_up(question_id=open_question.pk, expert=world.expert)
    assert world.customer.notifications.filter(kind="question_picked_up").count() == 1
    world.customer.refresh_from_db()
    assert world.customer.unread_notifications == world.customer.notifications.count()
