"""The call signalling fast path (premium.call_fastpath): posts and polls answered by a
signed per-participant token, before sessions and users load; bad tokens store nothing."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from premium import call_fastpath, calls
from premium.call_models import CallSession, SignalMessage

from .test_calls import accepted_offer, ice

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(world, due_question):
    return accepted_offer(world, due_question)


class Browser:
    """One person's browser, as static/js/call.js drives it (CSRF enforced, as in production)."""

    def __init__(self, user, offer):
        self.client = Client(enforce_csrf_checks=True)
        self.client.force_login(user)
        self.offer = offer
        self.csrf = "x" * 32
        self.client.cookies["csrftoken"] = self.csrf
        self.token = ""

    def url(self, action):
        return f"/offers/{self.offer.pk}/call/{action}"

    def slow_post(self, action, body):
        return self.client.post(
            self.url(action),
            json.dumps(body),
            content_type="application/json",
            headers={"X-CSRFToken": self.csrf},
        )

    def join(self):
        token = self.slow_post("token", {}).json()["token"]
        joined = self.slow_post("join", {"token": token}).json()
        self.token = joined["call_token"]
        return joined

    def post(self, messages, after=None, token=None):
        body = {"messages": messages} if after is None else {"messages": messages, "after": after}
        return self.client.post(
            self.url("signal"),
            json.dumps(body),
            content_type="application/json",
            headers={"X-Call-Token": self.token if token is None else token},
        )

    def report(self, action, body, token=None):
        return self.client.post(
            self.url(action),
            json.dumps(body),
            content_type="application/json",
            headers={"X-Call-Token": self.token if token is None else token},
        )

    def poll(self, after=0, token=None):
        return self.client.get(
            self.url("poll"),
            {"after": after},
            headers={"X-Call-Token": self.token if token is None else token},
        )


def offer_msg(seq):
    return {"seq": seq, "kind": "offer", "payload": {"gen": 1, "type": "offer", "sdp": "v=0"}}


def test_the_two_sides_trade_signals_by_token_in_one_or_two_queries(world, video):
    customer, expert = Browser(world.customer, video), Browser(world.expert, video)
    customer.join()
    expert.join()
    with CaptureQueriesContext(connection) as posted:
        sent = customer.post([offer_msg(2), ice(3, 1), ice(4, 2)], after=0)
    assert sent.status_code == 200, sent.content
    assert sent.json()["stored_up_to"] == 4
    assert [m["kind"] for m in sent.json()["messages"]] == ["hello"]  # the expert's join
    assert len(posted) == 2  # insert, then read (with the check)
    with CaptureQueriesContext(connection) as polled:
        got = expert.poll(after=0)
    assert got.status_code == 200 and got["Cache-Control"] == "no-store"
    assert len(polled) == 1
    data = got.json()
    assert data["session"]["status"] == "waiting" and data["session"]["kind"] == "video"
    assert [(m["seq"], m["kind"]) for m in data["messages"]] == [
        (1, "hello"),
        (2, "offer"),
        (3, "ice"),
        (4, "ice"),
    ]
    assert data["messages"][1]["payload"] == {"gen": 1, "type": "offer", "sdp": "v=0"}
    assert [m["seq"] for m in expert.poll(after=3).json()["messages"]] == [4]


def test_a_retried_post_is_stored_once(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    for _ in range(2):
        assert customer.post([ice(2, 1), ice(3, 2)]).json()["stored_up_to"] == 3
    assert SignalMessage.objects.filter(sender=world.customer, kind="ice").count() == 2


def test_bad_messages_are_refused_with_a_reason_by_the_fast_path_too(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    answer = customer.post([{"seq": 2, "kind": "bye"}])
    assert answer.status_code == 400 and "kind" in answer.json()["detail"]
    assert not SignalMessage.objects.filter(seq=2).exists()


def _refused_and_nothing_stored(response):
    assert response.status_code == 403
    assert response.json()["error"] == "call_token"
    assert not SignalMessage.objects.filter(kind="ice").exists()


def test_a_forged_token_is_refused_and_stores_nothing(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    value, stamp, _signature = customer.token.rsplit(":", 2)
    _refused_and_nothing_stored(customer.post([ice(2)], token=f"{value}:{stamp}:forged"))
    # The same fields signed by someone without the key: another participant id.
    fields = value.split(".")
    fields[2] = str(int(fields[2]) + 1)
    _refused_and_nothing_stored(customer.post([ice(2)], token=".".join(fields) + f":{stamp}:x"))
    assert customer.poll(token="nonsense").status_code == 403


def test_an_expired_token_is_refused_and_stores_nothing(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    later = timezone.now() + timedelta(seconds=call_fastpath.TOKEN_MAX_AGE_SECONDS + 5)
    with time_machine.travel(later):
        _refused_and_nothing_stored(customer.post([ice(2)]))
        assert customer.poll().status_code == 403
        # The page falls back to the views (session and CSRF), which hand out a fresh one.
        fresh = customer.slow_post("signal", {"messages": [ice(2)], "after": 0}).json()
        assert customer.post([ice(3)], token=fresh["call_token"]).status_code == 200


def test_a_token_is_refused_with_another_session_cookie(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    other_browser = Browser(world.customer, video)  # same person, another login
    _refused_and_nothing_stored(other_browser.post([ice(2)], token=customer.token))
    outsider = Browser(world.other_customer, video)
    _refused_and_nothing_stored(outsider.post([ice(2)], token=customer.token))
    assert outsider.poll(token=customer.token).status_code == 403


def test_a_token_is_refused_on_another_offers_call(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    elsewhere = Browser(world.customer, video)
    elsewhere.client = customer.client  # the same browser and session
    elsewhere.offer = type(video)(pk=video.pk + 1)  # another offer's call URL
    _refused_and_nothing_stored(elsewhere.post([ice(2)], token=customer.token))
    assert elsewhere.poll(token=customer.token).status_code == 403


def test_without_a_token_the_views_still_check_the_session_and_csrf(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    no_csrf = customer.client.post(
        customer.url("signal"), json.dumps({"messages": [ice(2)]}), content_type="application/json"
    )
    assert no_csrf.status_code == 403
    assert not SignalMessage.objects.filter(kind="ice").exists()
    stranger = Browser(world.other_customer, video)
    assert stranger.slow_post("signal", {"messages": [ice(2)]}).status_code == 404


def test_after_hanging_up_posts_are_refused_and_the_poll_says_ended(world, video):
    customer, expert = Browser(world.customer, video), Browser(world.expert, video)
    customer.join()
    expert.join()
    assert customer.report("hang-up", {"reason": "hung_up"}).status_code == 200
    gone = customer.post([ice(9)])
    assert gone.status_code == 404
    assert not SignalMessage.objects.filter(seq=9).exists()
    polled = expert.poll(after=0).json()
    assert polled["session"]["status"] == "ended"
    assert polled["messages"][-1]["kind"] == "bye"
    assert CallSession.objects.get().status == "ended"


def test_a_deactivated_user_is_refused_even_with_a_valid_token(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    world.customer.is_active = False
    world.customer.save(update_fields=["is_active"])
    assert customer.post([ice(2)]).status_code == 404
    assert not SignalMessage.objects.filter(kind="ice").exists()


def test_a_call_that_keeps_polling_gets_a_fresh_token_before_its_own_expires(world, video):
    customer = Browser(world.customer, video)
    customer.join()
    assert "call_token" not in customer.poll().json()
    later = timezone.now() + timedelta(seconds=call_fastpath.TOKEN_REFRESH_SECONDS + 5)
    with time_machine.travel(later):
        fresh = customer.poll().json()["call_token"]
    with time_machine.travel(later + timedelta(seconds=call_fastpath.TOKEN_REFRESH_SECONDS + 10)):
        assert customer.poll(token=fresh).status_code == 200
        assert customer.poll().status_code == 403  # the first one has expired


def test_the_poll_is_a_heartbeat(world, video):
    customer = Browser(world.customer, video)
    joined = customer.join()
    later = timezone.now() + timedelta(seconds=30)
    with time_machine.travel(later):
        assert customer.poll().status_code == 200
    participant = CallSession.objects.get(pk=joined["session"]["id"]).participants.get()
    assert participant.last_heartbeat_at >= later - timedelta(seconds=1)


def test_connected_and_hanging_up_by_token_are_logged_as_by_the_views(world, video):
    customer, expert = Browser(world.customer, video), Browser(world.expert, video)
    customer.join()
    expert.join()
    forged = customer.report("event", {"kind": "connected"}, token=expert.token)
    assert forged.status_code == 403  # the expert's token, the customer's browser
    assert CallSession.objects.get().status == "waiting"
    connected = expert.report("event", {"kind": "connected"})
    assert connected.status_code == 200, connected.content
    assert connected.json()["session"]["status"] == "connected"
    assert customer.report("event", {"kind": "nonsense"}).status_code == 400
    ended = customer.report("hang-up", {"reason": "hung_up"})
    assert ended.json()["session"]["status"] == "ended"
    session = CallSession.objects.get()
    assert session.ended_by == world.customer and session.connected_at is not None
    assert list(session.events.values_list("kind", flat=True)) == [
        "started",
        "joined",
        "joined",
        "status",
        "status",
    ]


def test_an_absurd_sequence_number_gets_an_empty_answer_not_an_error(world, video):
    customer, expert = Browser(world.customer, video), Browser(world.expert, video)
    customer.join()
    expert.join()
    assert customer.poll(after=10**30).json()["messages"] == []
    assert customer.post([ice(2)], after=-(10**30)).json()["messages"][0]["kind"] == "hello"


# --- Join by the token the page rendered ------------------------------------------------------


def rendered_join_token(browser):
    """The join token the call panel rendered into the question page for this browser."""
    page = browser.client.get(f"/q/{browser.offer.question_id}/").content.decode()
    found = re.search(
        rf'id="call-offer-{browser.offer.pk}"[^>]*?data-join-token="([^"]+)"', page, re.S
    )
    assert found, "the panel renders a join token for a participant"
    return found.group(1)


def fast_join(browser, join_token, csrf=False):
    """Join as the page does with its rendered token: in X-Join-Token (CSRF only for the
    view the request falls back to)."""
    headers = {"X-Join-Token": join_token}
    if csrf:
        headers["X-CSRFToken"] = browser.csrf
    return browser.client.post(
        browser.url("join"),
        json.dumps({"token": join_token}),
        content_type="application/json",
        headers=headers,
    )


def test_join_by_the_rendered_token_is_one_request_without_the_session(world, video):
    customer, expert = Browser(world.customer, video), Browser(world.expert, video)
    token = rendered_join_token(customer)
    with CaptureQueriesContext(connection) as ctx:
        joined = fast_join(customer, token)  # no CSRF header: the fast path needs none
    assert joined.status_code == 200, joined.content
    assert joined["Cache-Control"] == "no-store"
    assert joined.json()["role"] == "customer" and joined.json()["session"]["status"] == "waiting"
    assert not any("django_session" in q["sql"] for q in ctx.captured_queries)
    customer.token = joined.json()["call_token"]
    assert customer.post([offer_msg(2)], after=0).status_code == 200
    # The expert's page, likewise; the two are on one call and trade signals.
    joined = fast_join(expert, rendered_join_token(expert))
    assert joined.status_code == 200 and joined.json()["peer_present"] is True
    expert.token = joined.json()["call_token"]
    assert [m["kind"] for m in expert.poll(after=0).json()["messages"]] == ["hello", "offer"]
    assert CallSession.objects.filter(offer=video).count() == 1


def test_a_rendered_token_is_single_use(world, video):
    customer = Browser(world.customer, video)
    token = rendered_join_token(customer)
    assert fast_join(customer, token).status_code == 200
    again = fast_join(customer, token, csrf=True)
    assert again.status_code == 403 and again.json()["error"] == "forbidden"
    # ... by the view too (the token in the body, the session and CSRF)
    again = customer.slow_post("join", {"token": token})
    assert again.status_code == 403
    session = CallSession.objects.get(offer=video)
    assert session.participants.get().joins == 1  # no rejoin was recorded
    assert session.events.filter(kind="rejoined").count() == 0


def test_an_expired_rendered_token_is_refused_and_the_page_gets_a_fresh_one(world, video):
    customer = Browser(world.customer, video)
    token = rendered_join_token(customer)
    later = timezone.now() + timedelta(seconds=calls.RENDERED_JOIN_TOKEN_SECONDS + 5)
    with time_machine.travel(later):
        refused = fast_join(customer, token, csrf=True)
        assert refused.status_code == 403
        assert not CallSession.objects.filter(offer=video).exists()
        # call.js then asks for a fresh token and joins with it (Browser.join does the same).
        assert customer.join()["role"] == "customer"
    assert CallSession.objects.filter(offer=video).count() == 1


def test_a_rendered_token_is_refused_from_another_session_and_to_outsiders(world, video):
    customer = Browser(world.customer, video)
    token = rendered_join_token(customer)
    other_login = Browser(world.customer, video)  # same person, another browser
    assert fast_join(other_login, token, csrf=True).status_code == 403
    assert other_login.slow_post("join", {"token": token}).status_code == 403
    outsider = Browser(world.other_customer, video)
    assert fast_join(outsider, token, csrf=True).status_code in (403, 404)
    assert outsider.slow_post("join", {"token": token}).status_code == 404
    expert = Browser(world.expert, video)  # a participant, but the token is not theirs
    assert fast_join(expert, token, csrf=True).status_code == 403
    assert not CallSession.objects.filter(offer=video).exists()
    # Still good for its own browser: the refusals spent nothing.
    assert fast_join(customer, token).status_code == 200


def test_a_refused_rendered_token_goes_to_the_view_which_checks_csrf(world, video):
    customer = Browser(world.customer, video)
    token = rendered_join_token(customer)
    other_login = Browser(world.customer, video)
    assert fast_join(other_login, token).status_code == 403  # no CSRF: the view refuses
    assert not CallSession.objects.filter(offer=video).exists()


def test_staff_and_outsiders_get_no_join_token_in_the_page(world, video):
    customer = Browser(world.customer, video)
    rendered_join_token(customer)
    outsider = Browser(world.other_customer, video)
    page = outsider.client.get(f"/q/{video.question_id}/")
    assert b"data-join-token" not in page.content
