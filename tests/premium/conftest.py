from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from marketplace.models import ExpertProfile
from premium.models import ServiceKind, ServiceTemplate
from questions import services as question_services


@pytest.fixture
def tool(world):
    ExpertProfile.objects.filter(user=world.expert).update(premium_tool_enabled=True)
    return world.expert


@pytest.fixture
def phone_call(world):
    return ServiceTemplate.objects.create(
        category=world.category,
        kind=ServiceKind.PHONE_CALL,
        name="Phone call",
        description="A 20-minute call",
        usual_price_minor=4000,
    )


@pytest.fixture
def due_question(world, assigned_question, tool):
    """Two customer replies, and the category's delay (60 s) has passed."""
    for body in ("It rattles", "Only over bumps"):
        question_services.message_post(
            question_id=assigned_question.pk, author=world.customer, body=body
        )
    traveller = time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True)
    traveller.start()
    yield assigned_question
    traveller.stop()
