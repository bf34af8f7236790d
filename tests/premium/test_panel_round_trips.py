"""The question page's panels read Redis in one round trip (questions.panels), and each
process keeps what never changes (the offers and "no private box" at a version, the
premium section checked against the services generation): a warm page asks Redis only
for the generation, and every change a person makes still shows on the next load."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import RequestFactory
from redis.connection import AbstractConnection

from premium import services
from premium.models import ServiceKind, ServiceTemplate
from premium.panel import SERVICES_GENERATION_KEY
from questions import fragments, panels
from questions.models import Question
from tests.premium.test_panel_cache import page, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def panel_round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The commands the panels of each page send to Redis, one item per round trip (a
    write to the socket: a pipeline is one too), counted only while the panels render."""
    sent: list[bytes] = []
    rendering = False
    real_send = AbstractConnection.send_packed_command
    real_render = panels.render_panels

    def send_packed_command(self, command, check_health=True):
        if rendering:
            parts = [command] if isinstance(command, bytes | str) else command
            sent.append(b"".join(p if isinstance(p, bytes) else p.encode() for p in parts))
        return real_send(self, command, check_health)

    def render_panels(request, access):
        nonlocal rendering
        rendering = True
        try:
            return real_render(request, access)
        finally:
            rendering = False

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send_packed_command)
    monkeypatch.setattr(panels, "render_panels", render_panels)
    yield sent


def load(user, question, sent: list[bytes]) -> tuple[str, list[bytes]]:
    """The page, and the round trips its panels made."""
    sent.clear()
    html = page(user, question)
    return html, list(sent)


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that has served nothing yet: only Redis knows the panels."""
    monkeypatch.setattr(panels, "_kept", fragments._ProcessMemo(max_chars=2_000_000))


def test_a_warm_page_asks_redis_once_and_only_for_the_services_generation(
    world, due_question, phone_call, panel_round_trips
):
    offer = send(world, due_question, phone_call)
    for user in (world.expert, world.customer):
        page(user, due_question)  # rendered, cached and kept by this process
        html, trips = load(user, due_question, panel_round_trips)
        assert f'id="offer-{offer.pk}"' in html
        assert len(trips) == 1, trips
        assert b"MGET" in trips[0] and SERVICES_GENERATION_KEY.encode() in trips[0]
        assert b"qoffers:" not in trips[0] and b"qpremium:" not in trips[0]
        assert b"qno-private-box:" not in trips[0]
    assert "Withdraw this offer" in page(world.expert, due_question)
    assert "Accept and pay" in page(world.customer, due_question)


def test_a_new_process_reads_every_panel_in_one_round_trip(
    world, due_question, phone_call, panel_round_trips, monkeypatch
):
    first = page(world.expert, due_question)
    assert 'data-allowed="1"' in first and "Phone call" in first
    new_process(monkeypatch)
    html, trips = load(world.expert, due_question, panel_round_trips)
    assert 'data-allowed="1"' in html and "Phone call" in html
    assert len(trips) == 1, trips
    for key in (SERVICES_GENERATION_KEY, "qpremium:", "qoffers:", "qno-private-box:"):
        assert key.encode() in trips[0]


def add_written_report(category) -> ServiceTemplate:
    """A service the category's offer form did not list before."""
    return ServiceTemplate.objects.create(
        category=category,
        kind=ServiceKind.DOCUMENT_REVIEW,
        name="Written report",
        description="Two pages",
        usual_price_minor=3000,
    )


def test_a_new_service_shows_in_the_offer_form_kept_by_the_process(
    world, due_question, phone_call, panel_round_trips
):
    page(world.expert, due_question)
    assert "Written report" not in page(world.expert, due_question)  # kept by the process
    add_written_report(world.category)
    assert "Written report" in page(world.expert, due_question)
    html, trips = load(world.expert, due_question, panel_round_trips)
    assert "Written report" in html and len(trips) == 1
    ServiceTemplate.objects.filter(name="Written report").delete()
    assert "Written report" not in page(world.expert, due_question)


def test_a_process_that_kept_an_older_offer_form_shows_the_new_service(
    world, due_question, phone_call, panel_round_trips, monkeypatch
):
    """Another worker rendered the section after the change: this one's copy is refused by
    the generation, and the other's is read from Redis, not rendered again."""
    page(world.expert, due_question)
    this_process = panels._kept
    new_process(monkeypatch)  # the other worker
    add_written_report(world.category)
    assert "Written report" in page(world.expert, due_question)
    monkeypatch.setattr(panels, "_kept", this_process)
    html, trips = load(world.expert, due_question, panel_round_trips)
    assert "Written report" in html
    assert len(trips) == 2 and not any(b"\r\nSET\r\n" in trip for trip in trips), trips


def test_an_accepted_offer_shows_the_private_box_on_the_next_load(
    world, due_question, phone_call, panel_round_trips
):
    page(world.customer, due_question)
    html, trips = load(world.customer, due_question, panel_round_trips)
    assert 'id="private-box"' not in html and len(trips) == 1  # "no box" kept
    offer = send(world, due_question, phone_call)
    services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert 'id="private-box"' in page(world.customer, due_question)  # a new version
    assert 'id="private-box"' in page(world.expert, due_question)
    html, trips = load(world.customer, due_question, panel_round_trips)
    assert 'id="private-box"' in html and len(trips) == 1, trips


def test_panels_whose_keys_are_all_kept_ask_redis_nothing(
    world, due_question, panel_round_trips, monkeypatch
):
    monkeypatch.setattr(panels, "_PANELS", {"private": panels._PANELS["private"]})
    page(world.customer, due_question)
    html, trips = load(world.customer, due_question, panel_round_trips)
    assert 'id="private-box"' not in html
    assert trips == []


def test_each_load_gets_its_own_copy_of_the_kept_offers(world, due_question, phone_call):
    send(world, due_question, phone_call)
    page(world.customer, due_question)  # the offers now kept by the process
    key = f"qoffers:{due_question.pk}:v{Question.objects.get(pk=due_question.pk).version}"
    found, offers = panels.cached(RequestFactory().get("/"), key, keep=True)
    assert found and offers[0].status == "sent"
    offers[0].status = "withdrawn"  # what one request does to its objects...
    _, again = panels.cached(RequestFactory().get("/"), key, keep=True)
    assert again[0].status == "sent"  # ...no other request sees
