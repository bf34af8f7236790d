"""In-browser calls and a screen share in headless Chromium: two people, two contexts.

Chromium gets fake media devices and loopback candidates (FACTS.md, "In-browser calls"),
so it runs its own browser here, with those flags on top of the shared ones; the page is
served from 127.0.0.1 (a secure context). The offers are accepted through the services;
everything after that goes through the question page: both join, the peer connection
reaches `connected`, one hangs up, and both pages and the log show the call.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from marketplace import demo
from marketplace.models import User
from premium import services as premium_services
from premium.call_models import CallSession
from premium.models import Offer, ServiceKind
from questions import services as question_services
from tests.browser.conftest import CARD_OK, CONNECTED, LIVE, cars, log_in, seed_expert
from tests.factories import make_question, save_card

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]


def accepted_call(kind: str) -> tuple[User, User, Offer]:
    category = cars()
    expert = seed_expert(category)
    customer = demo.customer_ensure("casey@example.com", name="Casey Driver")
    save_card(customer, CARD_OK.replace(" ", ""))
    question = make_question(customer=customer, category=category, title="Rattle in the dashboard")
    question_services.question_pick_up(question_id=question.pk, expert=expert)
    offer = premium_services.auto_offer_create(
        question_id=question.pk,
        service_name="Video call with the mechanic"
        if kind == ServiceKind.VIDEO_CALL
        else "Remote assistance",
        description="In the browser",
        price_minor=4900,
        kind=kind,
    )
    offer, _ = premium_services.offer_accept(offer_id=offer.pk, customer=customer)
    assert offer.status == "accepted"
    return customer, expert, offer


def inbound_packets(page: Page, kind: str) -> int:
    return int(
        page.evaluate(
            """async (kind) => {
              const stats = await window.expertlineCall.pc.getStats();
              let n = 0;
              stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === kind) n += s.packetsReceived; });
              return n;
            }""",
            kind,
        )
    )


def test_customer_and_expert_talk_in_a_video_call(
    media_context: Any, live_server: Any, settings: Any
) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = 500
    base = live_server.url
    assert base.startswith("http://127.0.0.1") or base.startswith("http://localhost")
    customer, expert, offer = accepted_call(ServiceKind.VIDEO_CALL)
    url = f"{base}/q/{offer.question_id}/"
    card = f"#call-offer-{offer.pk}"

    cpage = log_in(media_context, base, customer.email, demo.DEMO_PASSWORD)
    cpage.goto(url)
    epage = log_in(media_context, base, expert.email, demo.DEMO_PASSWORD)
    epage.goto(url)
    expect(cpage.locator(card)).to_contain_text("Video call")
    assert cpage.locator(card).get_attribute("data-role") == "customer"

    # Each signalling post and poll: did it carry the call token (the fast path)?
    signalling: list[bool] = []
    for page in (cpage, epage):
        page.on(
            "request",
            lambda r: (
                signalling.append("x-call-token" in r.headers)
                if r.url.split("?")[0].endswith(("/call/signal", "/call/poll"))
                else None
            ),
        )

    cpage.locator(f"{card} [data-call-action=join]").click()
    expect(cpage.locator("#call-state")).to_have_text("Waiting for the other side to join…")
    epage.locator(f"{card} [data-call-action=join]").click()

    for page in (cpage, epage):
        page.wait_for_function(CONNECTED, timeout=15_000)
        expect(page.locator("#call-state")).to_have_attribute("data-state", "connected")
    assert signalling and all(signalling)
    # Media flows both ways, video included (a video call).
    cpage.wait_for_function(
        "() => document.getElementById('call-remote').videoWidth > 0", timeout=LIVE
    )
    epage.wait_for_function(
        "() => document.getElementById('call-remote').videoWidth > 0", timeout=LIVE
    )
    assert inbound_packets(cpage, "audio") > 0 and inbound_packets(epage, "audio") > 0
    session = CallSession.objects.get(offer=offer)
    assert session.status == "connected" and session.connected_at is not None

    epage.wait_for_timeout(1500)  # talk for a moment: a real call lasts real seconds
    epage.locator("#call-hang-up").click()
    expect(epage.locator("#call-state")).to_have_text("You hung up.")
    expect(cpage.locator("#call-state")).to_have_text("The other side hung up.", timeout=LIVE)
    assert cpage.evaluate("window.expertlineCall.pc.connectionState") == "closed"

    session.refresh_from_db()
    assert session.status == "ended" and session.end_reason == "hung_up"
    assert session.ended_by == expert
    assert set(session.participants.values_list("role", flat=True)) == {"customer", "expert"}
    assert session.duration_seconds is not None and 1 <= session.duration_seconds <= 60

    # Both pages show the log on their own (the question's poll refreshes the panel).
    for page in (cpage, epage):
        summary = page.locator(f"#call-summary-{offer.pk}")
        expect(summary.locator(".call-status")).to_have_text("Ended: hung up", timeout=LIVE)
        expect(summary.locator(".call-joined")).to_contain_text("Casey Driver at")
        expect(summary.locator(".call-joined")).to_contain_text(f"{expert.name} at")
        expect(summary.locator(".call-duration")).to_have_text(f"{session.duration_seconds} s")


def test_customer_shares_their_screen_after_consenting(
    media_context: Any, live_server: Any, settings: Any
) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = 500
    base = live_server.url
    customer, expert, offer = accepted_call(ServiceKind.REMOTE_ASSISTANCE)
    url = f"{base}/q/{offer.question_id}/"
    card = f"#call-offer-{offer.pk}"

    epage = log_in(media_context, base, expert.email, demo.DEMO_PASSWORD)
    epage.goto(url)
    epage.locator(f"{card} [data-call-action=join]").click()
    expect(epage.locator("#call-state")).to_have_text("Waiting for the other side to join…")

    cpage = log_in(media_context, base, customer.email, demo.DEMO_PASSWORD)
    cpage.goto(url)
    share = cpage.locator(f"{card} [data-call-action=join]")
    expect(share).to_have_text("Share my screen")
    share.click()  # without consent: nothing is shared, the customer is told why
    expect(cpage.locator(f"{card} .call-error")).to_have_text(
        "Tick the box to agree to share your screen first."
    )
    assert not CallSession.objects.filter(offer=offer, consented_at__isnull=False).exists()
    cpage.locator(f"{card} .call-consent-box").check()
    share.click()

    for page in (cpage, epage):
        page.wait_for_function(CONNECTED, timeout=15_000)
    # The expert sees the screen (a fake capture), and hears the customer.
    epage.wait_for_function(
        "() => document.getElementById('call-remote').videoWidth > 0", timeout=LIVE
    )
    assert inbound_packets(epage, "video") > 0 and inbound_packets(epage, "audio") > 0
    assert inbound_packets(cpage, "video") == 0  # view only: nothing comes back but voice

    stop = cpage.locator("#call-hang-up")
    expect(stop).to_have_text("Stop sharing")
    stop.click()
    expect(cpage.locator("#call-state")).to_have_text("You stopped sharing your screen.")
    expect(epage.locator("#call-state")).to_have_text(
        "The customer stopped sharing their screen.", timeout=LIVE
    )

    session = CallSession.objects.get(offer=offer)
    assert session.kind == "screen_share" and session.consented_at is not None
    assert session.end_reason == "stopped_sharing" and session.connected_at is not None
    kinds = list(session.events.values_list("kind", flat=True))
    assert "consent" in kinds and "share_started" in kinds
    assert set(session.participants.values_list("role", flat=True)) == {"customer", "expert"}
    summary = epage.locator(f"#call-summary-{offer.pk}")
    expect(summary.locator(".call-consent")).to_contain_text(
        "Casey Driver agreed to share their screen", timeout=LIVE
    )
    expect(summary.locator(".call-status")).to_have_text("Ended: screen sharing stopped")


def test_a_participant_who_reloads_rejoins_the_same_call(
    media_context: Any, live_server: Any, settings: Any
) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = 500
    base = live_server.url
    customer, expert, offer = accepted_call(ServiceKind.PHONE_CALL)
    url = f"{base}/q/{offer.question_id}/"
    join = f"#call-offer-{offer.pk} [data-call-action=join]"

    cpage = log_in(media_context, base, customer.email, demo.DEMO_PASSWORD)
    cpage.goto(url)
    epage = log_in(media_context, base, expert.email, demo.DEMO_PASSWORD)
    epage.goto(url)
    cpage.locator(join).click()
    epage.locator(join).click()
    for page in (cpage, epage):
        page.wait_for_function(CONNECTED, timeout=15_000)

    # The expert's tab reloads (a crash, a dropped network): the call is still open, and
    # joining again reconnects both browsers in the same session.
    epage.reload()
    expect(epage.locator(join)).to_have_text("Join the voice call", timeout=LIVE)
    epage.locator(join).click()
    epage.wait_for_function(CONNECTED, timeout=15_000)
    cpage.wait_for_function(CONNECTED, timeout=15_000)
    for _ in range(25):  # the new connection carries the customer's voice (up to 5 s)
        if inbound_packets(epage, "audio") > 0:
            break
        epage.wait_for_timeout(200)
    assert inbound_packets(epage, "audio") > 0
    session = CallSession.objects.get(offer=offer)
    assert session.status == "connected"
    assert session.participants.get(user=expert).joins == 2
    assert list(session.events.filter(kind="rejoined").values_list("actor", flat=True)) == [
        expert.pk
    ]

    cpage.locator("#call-hang-up").click()
    expect(epage.locator("#call-state")).to_have_text("The other side hung up.", timeout=LIVE)
    session.refresh_from_db()
    assert session.status == "ended" and CallSession.objects.filter(offer=offer).count() == 1
