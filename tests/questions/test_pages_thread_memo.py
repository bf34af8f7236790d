"""Each process keeps the conversations it served last (questions.fragments._threads),
in front of Redis: what a viewer sees on the next load is still every change, in their
own time zone, with their own messages marked, and never another viewer's copy."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from marketplace.roles import CUSTOMER_CARE
from questions import fragments, services
from tests.payments.test_refunds import staff
from tests.questions.test_page_cache import page

pytestmark = pytest.mark.django_db


def test_a_new_message_shows_after_the_page_was_kept_in_memory(client, world, assigned_question):
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="first")
    client.force_login(world.customer)
    page(client, assigned_question)
    assert "first" in page(client, assigned_question)  # served from this process's memo
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="second")
    html = page(client, assigned_question)
    assert "first" in html and "second" in html


def test_a_reload_skips_redis(client, world, assigned_question, monkeypatch):
    services.message_post(question_id=assigned_question.pk, author=world.expert, body="hello")
    client.force_login(world.expert)
    page(client, assigned_question)
    asked: list[str] = []
    real_get = cache.get

    def get(key: str, default: object = None, version: int | None = None) -> object:
        asked.append(key)
        return real_get(key, default, version)

    monkeypatch.setattr(cache, "get", get)
    assert "hello" in page(client, assigned_question)
    assert not any(str(key).startswith("qthread:") for key in asked)


def test_viewers_never_get_each_others_copy(client, world, assigned_question):
    services.message_post(question_id=assigned_question.pk, author=world.customer, body="hi")
    client.force_login(world.customer)
    customer_html = page(client, assigned_question)
    client.force_login(world.expert)
    expert_html = page(client, assigned_question)
    client.force_login(staff(CUSTOMER_CARE))
    staff_html = page(client, assigned_question)
    assert 'class="msg mine"' in customer_html
    assert 'class="msg mine"' not in expert_html and 'class="msg"' in expert_html
    assert "flag-link" in customer_html and "flag-link" in expert_html
    assert "flag-link" not in staff_html and 'class="msg mine"' not in staff_html


def test_the_memo_keeps_the_latest_within_its_size():
    memo = fragments._ProcessMemo(max_chars=100)
    memo.put("a", "x" * 20)
    memo.put("b", "y" * 20)
    memo.put("too-big", "z" * 30)  # over a quarter of the size: never kept
    assert memo.get("too-big") is None
    assert memo.get("a") == "x" * 20  # now the most recent
    for key in ("c", "d", "e", "f"):
        memo.put(key, "w" * 20)
    assert memo.chars <= 100
    assert memo.get("b") is None  # the least recently used went first
    assert memo.get("f") == "w" * 20
