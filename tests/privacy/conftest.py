import pytest

from premium import services as premium_services
from tests.premium.conftest import due_question, phone_call, tool  # noqa: F401


@pytest.fixture
def accepted(world, due_question, phone_call):  # noqa: F811
    """The expert's phone-call offer, accepted and paid: the private box is open."""
    offer = premium_services.offer_send(
        expert=world.expert,
        question_id=due_question.pk,
        template_id=phone_call.pk,
        price_minor=4000,
        description="A call",
    )
    premium_services.offer_accept(offer_id=offer.pk, customer=world.customer)
    return due_question
