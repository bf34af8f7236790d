"""All questions keeps each expert's categories in the cache (questions.selectors) and
formats ages once per process (questions.fragments): an expert still sees a change of
their categories on the next load, and the ages read as before."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from marketplace.models import ExpertProfile
from questions.fragments import age
from questions.models import Question
from tests.factories import make_category, make_question

pytestmark = pytest.mark.django_db


def filters(client) -> list[str]:
    html = client.get(reverse("all_questions")).content.decode()
    nav = html.split('class="filters"')[1].split("</nav>")[0]
    return re.findall(r'\?category=([\w-]+)"', nav)


def test_a_changed_category_assignment_changes_the_list(client, world):
    client.force_login(world.expert)
    make_question(customer=world.customer, category=world.other_category, title="A will")
    assert filters(client) == ["cars"]  # and now cached
    profile = ExpertProfile.objects.get(user=world.expert)

    profile.categories.add(world.other_category)
    assert filters(client) == ["cars", "legal"]
    assert "A will" in client.get(reverse("all_questions")).content.decode()

    world.other_category.experts.remove(profile)  # from the category's side
    assert filters(client) == ["cars"]
    assert "A will" not in client.get(reverse("all_questions")).content.decode()

    profile.categories.clear()
    assert filters(client) == []


def test_a_category_switched_off_or_renamed_shows_on_the_next_load(client, world):
    extra = make_category(name="Boats", slug="boats")
    ExpertProfile.objects.get(user=world.expert).categories.add(extra)
    client.force_login(world.expert)
    assert filters(client) == ["boats", "cars"] or filters(client) == ["cars", "boats"]

    extra.name = "Yachts"
    extra.save()
    assert "Yachts" in client.get(reverse("all_questions")).content.decode()

    extra.is_active = False
    extra.save()
    assert filters(client) == ["cars"]


def test_an_expert_no_longer_verified_loses_the_list(client, world):
    client.force_login(world.expert)
    assert filters(client) == ["cars"]
    profile = ExpertProfile.objects.get(user=world.expert)
    profile.verified_at = None
    profile.save()
    assert client.get(reverse("all_questions")).status_code == 403
    profile.verified_at = timezone.now()
    profile.save()
    assert filters(client) == ["cars"]


@pytest.mark.parametrize(
    "ago",
    [
        timedelta(seconds=20),
        timedelta(minutes=1, seconds=59),
        timedelta(hours=3, minutes=7),
        timedelta(days=6, hours=23, minutes=59, seconds=30),
        timedelta(days=27, hours=23),
        timedelta(days=28),
        timedelta(days=75, hours=5),
        timedelta(days=400),
    ],
)
def test_ages_read_as_timesince(ago):
    now = timezone.now()
    assert age(now - ago, now) == timesince(now - ago, now)


def test_the_rows_show_the_age(client, world):
    question = make_question(customer=world.customer, category=world.category)
    Question.objects.filter(pk=question.pk).update(
        posted_at=timezone.now() - timedelta(days=2, hours=3, minutes=1)
    )
    client.force_login(world.expert)
    html = client.get(reverse("all_questions")).content.decode()
    assert "2\xa0days, 3\xa0hours ago" in html
