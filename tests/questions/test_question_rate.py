import pytest

from marketplace.errors import Conflict, InvalidInput, NotFound
from questions import services
from questions.models import QuestionStatus

pytestmark = pytest.mark.django_db


def test_rating_records_stars_and_marks_answered(world, assigned_question):
    q = services.question_rate(
        question_id=assigned_question.pk, customer=world.customer, stars=4, comment="Good"
    )
    assert (q.rating_stars, q.rating_automatic, q.status) == (4, False, QuestionStatus.ANSWERED)
    world.expert.refresh_from_db()
    assert world.expert.notifications.filter(kind="question_rated").count() == 1


@pytest.mark.parametrize("stars", [0, 6, -1])
def test_stars_outside_one_to_five_are_refused(world, assigned_question, stars):
    with pytest.raises(InvalidInput):
        services.question_rate(
            question_id=assigned_question.pk, customer=world.customer, stars=stars
        )
    assigned_question.refresh_from_db()
    assert assigned_question.rating_stars is None


def test_rating_twice_is_refused(world, assigned_question):
    services.question_rate(question_id=assigned_question.pk, customer=world.customer, stars=5)
    with pytest.raises(Conflict, match="already rated"):
        services.question_rate(question_id=assigned_question.pk, customer=world.customer, stars=1)
    assigned_question.refresh_from_db()
    assert assigned_question.rating_stars == 5


def test_only_the_asking_customer_can_rate(world, assigned_question):
    with pytest.raises(NotFound):
        services.question_rate(
            question_id=assigned_question.pk, customer=world.other_customer, stars=5
        )


def test_cannot_rate_before_an_expert_picked_it_up(world, open_question):
    with pytest.raises(Conflict, match="no expert"):
        services.question_rate(question_id=open_question.pk, customer=world.customer, stars=5)


def test_mark_answered_then_rate(world, assigned_question):
    services.question_mark_answered(question_id=assigned_question.pk, customer=world.customer)
    q = services.question_rate(question_id=assigned_question.pk, customer=world.customer, stars=3)
    assert q.status == QuestionStatus.ANSWERED and q.rating_stars == 3
