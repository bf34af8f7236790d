"""All questions: its rows are formatted in Python (questions.fragments), so check what
the template used to guarantee: escaping, order, paging and a working pick-up form."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from questions.models import Question
from tests.factories import make_customer, make_question

pytestmark = pytest.mark.django_db


def test_titles_are_escaped(client, world):
    make_question(customer=world.customer, category=world.category, title="<b>Brakes</b> & co")
    client.force_login(world.expert)
    html = client.get(reverse("all_questions")).content.decode()
    assert "&lt;b&gt;Brakes&lt;/b&gt; &amp; co" in html
    assert "<b>Brakes</b>" not in html


def test_newest_first_and_page_two_continues(client, world, settings):
    settings.EXPERTLINE_PAGE_SIZE = 2
    ids = [
        make_question(customer=make_customer(), category=world.category, title=f"Q{i}").pk
        for i in range(5)
    ]
    client.force_login(world.expert)
    shown = []
    for page in (1, 2, 3):
        html = client.get(reverse("all_questions") + f"?page={page}").content.decode()
        shown += [int(x) for x in re.findall(r'data-question="(\d+)"', html)]
        assert f"<span>Page {page}</span>" in html
    assert shown == list(reversed(ids))


def test_the_pick_up_button_works_with_csrf_checks_on(world):
    question = make_question(customer=world.customer, category=world.category)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.expert)
    html = browser.get(reverse("all_questions")).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)"><input type="hidden" '
        r'name="csrfmiddlewaretoken" value="([^"]+)">',
        html,
    )
    assert form is not None
    action, token = form.groups()
    assert browser.post(action, {"csrfmiddlewaretoken": token}).status_code == 302
    question.refresh_from_db()
    assert question.expert_id == world.expert.pk
    assert Question.objects.filter(pk=question.pk, status="assigned").exists()
