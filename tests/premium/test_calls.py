"""In-browser calls and screen shares (premium.calls): joining with single-use tokens,
signalling without loss, reconnecting, the sweep, the log, and fulfilment from the log."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from premium import calls
from premium import services as premium_services
from premium.call_models import CallEvent, CallParticipant, CallSession, SignalMessage
from premium.call_panel import call_panel
from premium.models import ServiceKind, ServiceTemplate
from questions import services as question_services
from questions.selectors import question_get_for_user
from tests.factories import make_category, make_customer, make_expert, make_question

pytestmark = pytest.mark.django_db


def accepted_offer(world, question, kind=ServiceKind.VIDEO_CALL):
    """The assigned expert's offer of `kind`, accepted and paid by the customer."""
    template = ServiceTemplate.objects.create(
        category=world.category,
        kind=kind,
        name=str(kind.label),
        description="In the browser",
        usual_price_minor=4000,
    )
    offer = premium_services.offer_send(
        expert=world.expert,
        question_id=question.pk,
        template_id=template.pk,
        price_minor=4000,
        description="We look at it together",
    )
    offer, _ = premium_services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert offer.status == "accepted"
    return offer


@pytest.fixture
def video(world, due_question):
    return accepted_offer(world, due_question)


@pytest.fixture
def share(world, due_question):
    return accepted_offer(world, due_question, ServiceKind.REMOTE_ASSISTANCE)


def join(offer, user, **kwargs):
    token = calls.join_token_issue(offer_id=offer.pk, user=user)
    return calls.call_join(offer_id=offer.pk, user=user, token=token, **kwargs)


def ice(seq, n=0):
    return {"seq": seq, "kind": "ice", "payload": {"gen": 1, "c": {"candidate": f"c{n}"}}}


# --- Joining ---------------------------------------------------------------------------


def test_customer_and_expert_join_one_session(world, video):
    first = join(video, world.customer)
    second = join(video, world.expert)
    assert first.session.pk == second.session.pk
    assert (first.role, second.role) == ("customer", "expert")
    assert not first.peer_present and second.peer_present
    session = CallSession.objects.get()
    assert session.kind == "video" and session.status == "waiting"
    assert session.customer_joined_at and session.expert_joined_at
    assert set(session.participants.values_list("user__email", "role")) == {
        ("casey@example.com", "customer"),
        ("erin@example.com", "expert"),
    }


def test_a_join_token_works_once(world, video):
    token = calls.join_token_issue(offer_id=video.pk, user=world.customer)
    calls.call_join(offer_id=video.pk, user=world.customer, token=token)
    with pytest.raises(Forbidden, match="already used or has expired"):
        calls.call_join(offer_id=video.pk, user=world.customer, token=token)


def test_a_join_token_expires(world, video):
    token = calls.join_token_issue(offer_id=video.pk, user=world.customer)
    later = timezone.now() + timedelta(seconds=calls.JOIN_TOKEN_SECONDS + 1)
    with pytest.raises(Forbidden):
        calls.call_join(offer_id=video.pk, user=world.customer, token=token, now=later)
    assert not CallSession.objects.exists()


def test_a_token_is_only_good_for_the_person_it_was_issued_to(world, video):
    token = calls.join_token_issue(offer_id=video.pk, user=world.customer)
    with pytest.raises(Forbidden):
        calls.call_join(offer_id=video.pk, user=world.expert, token=token)


@pytest.mark.parametrize("who", ["other_customer", "same_category_expert", "other_category_expert"])
def test_outsiders_cannot_get_a_token_or_join(world, video, who):
    outsider = getattr(world, who)
    with pytest.raises(NotFound):
        calls.join_token_issue(offer_id=video.pk, user=outsider)
    customer_token = calls.join_token_issue(offer_id=video.pk, user=world.customer)
    with pytest.raises(NotFound):
        calls.call_join(offer_id=video.pk, user=outsider, token=customer_token)
    with pytest.raises(NotFound):
        calls.signal_poll(offer_id=video.pk, user=outsider, after=0)
    assert not CallSession.objects.exists()


def test_an_offer_that_is_no_call_has_no_call(world, due_question):
    review = accepted_offer(world, due_question, ServiceKind.DOCUMENT_REVIEW)
    with pytest.raises(NotFound):
        calls.join_token_issue(offer_id=review.pk, user=world.customer)


def test_a_fulfilled_offer_cannot_be_called_again(world, video):
    join(video, world.customer)
    calls.call_event(offer_id=video.pk, user=world.customer, kind="connected")
    calls.call_hang_up(offer_id=video.pk, user=world.customer)
    premium_services.offer_fulfil(offer_id=video.pk, expert=world.expert, delivered=True)
    with pytest.raises(Conflict, match="fulfilled"):
        calls.join_token_issue(offer_id=video.pk, user=world.customer)


def test_a_participant_who_reconnects_rejoins_the_same_session(world, video):
    first = join(video, world.customer)
    assert first.next_seq == 2  # the join posted the customer's hello as 1
    calls.signal_send(offer_id=video.pk, user=world.customer, messages=[ice(2), ice(3)])
    join(video, world.expert)
    again = join(video, world.customer)  # a reload: a new token, the same session
    assert again.rejoined and again.session.pk == first.session.pk
    # Numbering carries on (a new hello is 4), nothing of the old run is overwritten.
    assert again.next_seq == 5
    assert again.peer_after == 1  # the expert's hello came before: not for the new page
    assert again.peer_present
    participant = CallParticipant.objects.get(user=world.customer)
    assert participant.joins == 2
    assert CallSession.objects.count() == 1
    assert list(CallEvent.objects.values_list("kind", flat=True)) == [
        "started",
        "joined",
        "joined",
        "rejoined",
    ]


# --- Signalling ------------------------------------------------------------------------


def test_signals_arrive_in_order_and_a_retried_post_is_stored_once(world, video):
    join(video, world.customer)  # its hello is the customer's 1
    expert = join(video, world.expert)
    offer_msg = {"seq": 2, "kind": "offer", "payload": {"gen": 1, "type": "offer", "sdp": "v=0"}}
    calls.signal_send(offer_id=video.pk, user=world.customer, messages=[offer_msg, ice(3)])
    # The answer to that post was lost: the browser posts the same numbers again, and more.
    calls.signal_send(
        offer_id=video.pk, user=world.customer, messages=[offer_msg, ice(3), ice(4, 1)]
    )
    poll = calls.signal_poll(offer_id=video.pk, user=world.expert, after=expert.peer_after)
    assert [(m.seq, m.kind) for m in poll.messages] == [(2, "offer"), (3, "ice"), (4, "ice")]
    # The expert saw up to 2: the rest comes again (at-least-once), its own never does,
    # in a poll or in the answer to its own post.
    sent = calls.signal_send(
        offer_id=video.pk,
        user=world.expert,
        messages=[{"seq": 2, "kind": "answer", "payload": {"gen": 1, "type": "answer"}}],
        after=2,
    )
    assert [m.seq for m in sent.messages] == [3, 4]
    again = calls.signal_poll(offer_id=video.pk, user=world.expert, after=2)
    assert [m.seq for m in again.messages] == [3, 4]
    answer = calls.signal_poll(offer_id=video.pk, user=world.customer, after=0)
    assert [(m.seq, m.kind) for m in answer.messages] == [(1, "hello"), (2, "answer")]


def test_many_signals_in_many_posts_are_all_delivered(world, video):
    customer = join(video, world.customer)
    join(video, world.expert)  # its hello is the expert's 1
    for start in range(2, 62, 3):  # 60 messages, 3 per post
        calls.signal_send(
            offer_id=video.pk,
            user=world.expert,
            messages=[ice(seq, seq - 1) for seq in range(start, start + 3)],
        )
    seen, after = [], customer.peer_after
    while True:
        batch = calls.signal_poll(offer_id=video.pk, user=world.customer, after=after).messages
        if not batch:
            break
        seen += [m.payload["c"]["candidate"] for m in batch if m.kind == "ice"]
        after = batch[-1].seq
    assert seen == [f"c{n}" for n in range(1, 61)]


@pytest.mark.parametrize(
    "messages,message",
    [
        ([{"seq": 0, "kind": "ice"}], "positive sequence"),
        ([{"seq": 1, "kind": "bye"}], "Unknown signalling"),
        ([{"seq": 1, "kind": "offer", "payload": {"sdp": "x" * 20_000}}], "too large"),
        ([ice(n) for n in range(1, 60)], "At most"),
        ("not a list", "list"),
    ],
)
def test_bad_signals_are_refused_with_a_reason(world, video, messages, message):
    join(video, world.customer)
    with pytest.raises(InvalidInput, match=message):
        calls.signal_send(offer_id=video.pk, user=world.customer, messages=messages)
    assert list(SignalMessage.objects.values_list("kind", flat=True)) == ["hello"]  # the join's


def test_only_people_on_the_call_can_signal(world, video):
    join(video, world.customer)
    with pytest.raises(NotFound):  # the expert has not joined
        calls.signal_send(offer_id=video.pk, user=world.expert, messages=[ice(1)])
    with pytest.raises(NotFound):
        calls.signal_send(offer_id=video.pk, user=world.other_customer, messages=[ice(1)])


# --- Connected, hang-up, sweep -----------------------------------------------------------


def test_a_call_connects_and_hanging_up_ends_it_for_both(world, video):
    join(video, world.customer)
    join(video, world.expert)
    start = timezone.now()
    calls.call_event(offer_id=video.pk, user=world.expert, kind="connected", now=start)
    calls.call_event(  # the other browser says so too: connected_at is the first
        offer_id=video.pk, user=world.customer, kind="connected", now=start + timedelta(seconds=1)
    )
    session = calls.call_hang_up(
        offer_id=video.pk, user=world.customer, now=start + timedelta(seconds=125)
    )
    assert session.status == "ended" and session.end_reason == "hung_up"
    assert session.connected_at == start and session.duration_seconds == 125
    assert session.ended_by == world.customer
    poll = calls.signal_poll(offer_id=video.pk, user=world.expert, after=0)
    assert poll.session.status == "ended"  # the expert's page learns it
    assert SignalMessage.objects.filter(kind="bye", sender=world.customer).count() == 1
    with pytest.raises(NotFound):  # nothing more to do on an ended call
        calls.call_event(offer_id=video.pk, user=world.expert, kind="connected")
    # A new call of the same offer is a new session.
    assert join(video, world.expert).session.pk != session.pk


def test_the_sweep_closes_a_vanished_call_at_its_last_heartbeat(world, video):
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        join(video, world.customer)
        join(video, world.expert)
        calls.call_event(offer_id=video.pk, user=world.customer, kind="connected")
    last = t0 + timedelta(seconds=40)
    calls.signal_poll(
        offer_id=video.pk, user=world.customer, after=0, now=t0 + timedelta(seconds=5)
    )
    calls.signal_poll(offer_id=video.pk, user=world.expert, after=0, now=last)
    # Both tabs closed without hanging up. Not yet past the timeout: still open.
    assert calls.call_sweep(now=last + timedelta(seconds=29)) == 0
    assert calls.call_sweep(now=last + timedelta(minutes=10)) == 1
    session = CallSession.objects.get()
    assert session.status == "ended" and session.end_reason == "lost"
    assert session.ended_at == last  # the real end, not the sweep's time
    assert session.duration_seconds == 40
    assert calls.call_sweep(now=last + timedelta(minutes=20)) == 0  # once
    assert SignalMessage.objects.exists()
    calls.call_sweep(now=last + timedelta(hours=2))  # the log stays, the signalling goes
    assert not SignalMessage.objects.exists()
    assert CallSession.objects.get().participants.count() == 2


def test_the_sweep_leaves_a_call_someone_is_still_on(world, video):
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        join(video, world.customer)
        join(video, world.expert)
    calls.signal_poll(offer_id=video.pk, user=world.expert, after=0, now=t0 + timedelta(minutes=9))
    assert calls.call_sweep(now=t0 + timedelta(minutes=9, seconds=10)) == 0
    assert CallSession.objects.get().status == "waiting"


# --- Screen share ----------------------------------------------------------------------


def test_a_screen_share_needs_the_customers_consent(world, share):
    with pytest.raises(InvalidInput, match="agree to share your screen"):
        join(share, world.customer)
    assert not CallSession.objects.exists()
    joined = join(share, world.customer, consent=True)
    join(share, world.expert)  # the expert only watches: no consent asked
    calls.call_event(offer_id=share.pk, user=world.customer, kind="connected")
    calls.call_hang_up(offer_id=share.pk, user=world.customer, reason="stopped_sharing")
    session = CallSession.objects.get(pk=joined.session.pk)
    assert session.kind == "screen_share" and session.consented_at is not None
    assert session.end_reason == "stopped_sharing"
    kinds = list(session.events.values_list("kind", flat=True))
    assert kinds[:3] == ["started", "joined", "consent"] and "status" in kinds


# --- Fulfilment from the log ---------------------------------------------------------------


def test_a_call_that_never_connected_cannot_be_reported_fulfilled(world, video):
    join(video, world.customer)
    join(video, world.expert)
    calls.call_hang_up(offer_id=video.pk, user=world.expert)
    with pytest.raises(Conflict, match="ever connected"):
        premium_services.offer_fulfil(offer_id=video.pk, expert=world.expert, delivered=True)
    video.refresh_from_db()
    assert video.status == "accepted"


def test_the_report_is_prefilled_from_the_call_log(world, video):
    join(video, world.customer)
    join(video, world.expert)
    start = timezone.now()
    calls.call_event(offer_id=video.pk, user=world.customer, kind="connected", now=start)
    calls.call_hang_up(offer_id=video.pk, user=world.expert, now=start + timedelta(seconds=754))
    text = calls.fulfilment_prefill(offer=video)
    assert "Video call" in text and "lasted 12 min 34 s" in text
    assert "Casey (customer)" in text and "Erin (expert)" in text and "hung up" in text
    report = premium_services.offer_fulfil(
        offer_id=video.pk, expert=world.expert, delivered=True, notes=text
    )
    assert report.notes == text
    video.refresh_from_db()
    assert video.status == "fulfilled"


def test_a_service_that_is_no_call_is_fulfilled_without_a_call(world, due_question):
    review = accepted_offer(world, due_question, ServiceKind.DOCUMENT_REVIEW)
    premium_services.offer_fulfil(offer_id=review.pk, expert=world.expert, delivered=True)


# --- The page ------------------------------------------------------------------------------


def test_the_panel_costs_one_query_and_is_absent_without_a_call_offer(rf, world, due_question):
    request = rf.get("/")
    request.user = world.customer
    access = question_get_for_user(question_id=due_question.pk, user=world.customer)
    with CaptureQueriesContext(connection) as ctx:
        assert call_panel(request, access) is None
    assert len(ctx.captured_queries) == 1


def test_both_sides_see_the_call_summary(client, world, video):
    join(video, world.customer)
    join(video, world.expert)
    start = timezone.now() - timedelta(minutes=5)
    calls.call_event(offer_id=video.pk, user=world.customer, kind="connected", now=start)
    calls.call_hang_up(offer_id=video.pk, user=world.customer, now=start + timedelta(seconds=65))
    for user in (world.customer, world.expert):
        client.force_login(user)
        page = client.get(f"/q/{video.question_id}/").content.decode()
        assert 'id="calls"' in page and "1 min 05 s" in page and "Ended: hung up" in page
        assert "Casey at" in page and "Erin at" in page
    assert "Fulfilment report, from the call log" in page  # the expert's prefilled form


def test_the_json_endpoints_refuse_strangers_and_serve_the_two(client, world, video):
    client.force_login(world.other_customer)
    assert client.post(f"/offers/{video.pk}/call/token").status_code == 404
    client.force_login(world.customer)
    token = client.post(f"/offers/{video.pk}/call/token").json()["token"]
    joined = client.post(
        f"/offers/{video.pk}/call/join",
        json.dumps({"token": token}),
        content_type="application/json",
    )
    assert joined.status_code == 200 and joined.json()["role"] == "customer"
    reused = client.post(
        f"/offers/{video.pk}/call/join",
        json.dumps({"token": token}),
        content_type="application/json",
    )
    assert reused.status_code == 403
    sent = client.post(
        f"/offers/{video.pk}/call/signal",
        json.dumps({"messages": [ice(2)]}),
        content_type="application/json",
    )
    assert sent.json()["stored_up_to"] == 2 and sent.json()["messages"] == []
    assert sent.json()["call_token"]  # for the signalling fast path
    client.force_login(world.same_category_expert)
    assert client.get(f"/offers/{video.pk}/call/poll?after=0").status_code == 404


# --- Concurrency (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_both_sides_joining_at_once_share_one_session_and_a_token_is_spent_once():
    assert connection.vendor == "postgresql"
    cat = make_category()
    customer, expert = make_customer(), make_expert(cat)
    question = make_question(customer=customer, category=cat)
    question_services.question_pick_up(question_id=question.pk, expert=expert)
    offer = premium_services.auto_offer_create(
        question_id=question.pk,
        service_name="Phone call",
        description="A call",
        price_minor=3000,
    )
    premium_services.offer_accept(offer_id=offer.pk, customer=customer)
    # 10 joins of each side at once: 5 with one shared token each, 5 with their own.
    shared = {u.pk: calls.join_token_issue(offer_id=offer.pk, user=u) for u in (customer, expert)}
    jobs = [(u, shared[u.pk]) for u in (customer, expert) for _ in range(5)]
    jobs += [
        (u, calls.join_token_issue(offer_id=offer.pk, user=u))
        for u in (customer, expert)
        for _ in range(5)
    ]
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []

    def run(user, token):
        try:
            barrier.wait()
            calls.call_join(offer_id=offer.pk, user=user, token=token)
            outcomes.append("joined")
        except Forbidden:
            outcomes.append("refused")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["joined"] * 12 + ["refused"] * 8
    session = CallSession.objects.get()
    assert session.participants.count() == 2
    assert sum(p.joins for p in session.participants.all()) == 12


def test_admins_read_the_call_log_and_cannot_edit_it(client, settings, world, share):
    join(share, world.customer, consent=True)
    join(share, world.expert)
    calls.call_event(offer_id=share.pk, user=world.customer, kind="connected")
    session = calls.call_hang_up(offer_id=share.pk, user=world.customer, reason="stopped_sharing")
    settings.EXPERTLINE_STAFF_MFA_REQUIRED = False
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("root@example.com", "pw-Admin-123")
    client.force_login(admin_user)
    listing = client.get("/admin/premium/callsession/").content.decode()
    assert "Screen share" in listing and "Screen sharing stopped" in listing
    page = client.get(f"/admin/premium/callsession/{session.pk}/change/").content.decode()
    assert "casey@example.com" in page and "erin@example.com" in page  # participants
    assert "agreed to share their screen" in page  # the consent event
    assert "<form" in page and 'name="_save"' not in page  # read-only
    assert client.get("/admin/premium/callsession/add/").status_code == 403


def test_the_beat_runs_the_call_sweep_every_minute(world, video):
    from marketplace.celery import app
    from premium import tasks

    entry = app.conf.beat_schedule["premium-call-sweep"]
    assert entry["task"] == tasks.call_sweep.name == "premium.call_sweep"
    assert entry["schedule"] == 60
    t0 = timezone.now() - timedelta(minutes=5)
    with time_machine.travel(t0, tick=False):
        join(video, world.customer)
    assert tasks.call_sweep.delay().get() == 1
    assert CallSession.objects.get().ended_at == t0
