"""Joining a call in headless Chromium with the join token the call panel rendered: one
request by the fast path (X-Join-Token), and, when the rendered token is refused (spent,
expired, another session), the page asks for a fresh one and joins all the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Response, expect

from marketplace import demo
from premium.call_models import CallSession
from premium.models import ServiceKind
from tests.browser.conftest import CONNECTED, LIVE, log_in
from tests.browser.test_calls import accepted_call

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]


def test_join_uses_the_rendered_token_and_a_refused_one_gets_a_fresh_one(
    media_context: Any, live_server: Any, settings: Any
) -> None:
    settings.EXPERTLINE_POLL_INTERVAL_MS = 500
    base = live_server.url
    customer, expert, offer = accepted_call(ServiceKind.VIDEO_CALL)
    url = f"{base}/q/{offer.question_id}/"
    card = f"#call-offer-{offer.pk}"
    cpage = log_in(media_context, base, customer.email, demo.DEMO_PASSWORD)
    cpage.goto(url)
    epage = log_in(media_context, base, expert.email, demo.DEMO_PASSWORD)
    epage.goto(url)

    calls: dict[str, list[str]] = {"customer": [], "expert": []}

    def recorder(who: str) -> Callable[[Response], None]:
        def record(r: Response) -> None:
            if r.url.endswith(("/call/token", "/call/join")):
                by = " by-join-token" if "x-join-token" in r.request.headers else ""
                calls[who].append(f"{r.url.rsplit('/', 1)[-1]} {r.status}{by}")

        return record

    cpage.on("response", recorder("customer"))
    epage.on("response", recorder("expert"))

    # The customer's page holds the token of another browser session (as if expired or
    # spent): refused, then a fresh token and the join go through.
    other = log_in(media_context, base, customer.email, demo.DEMO_PASSWORD)
    other.goto(url)
    foreign = other.locator(card).get_attribute("data-join-token")
    assert foreign and foreign != cpage.locator(card).get_attribute("data-join-token")
    cpage.locator(card).evaluate("(el, t) => { el.dataset.joinToken = t; }", foreign)
    cpage.locator(f"{card} [data-call-action=join]").click()
    expect(cpage.locator("#call-state")).to_have_text("Waiting for the other side to join…")
    assert calls["customer"] == ["join 403 by-join-token", "token 200", "join 200"]

    # The expert's page joins with its rendered token: one request.
    epage.locator(f"{card} [data-call-action=join]").click()
    for page in (cpage, epage):
        page.wait_for_function(CONNECTED, timeout=15_000)
    assert calls["expert"] == ["join 200 by-join-token"]
    # The `connected` report is sent as the connection comes up: it lands a little later.
    session = CallSession.objects.get(offer=offer)
    for _ in range(LIVE // 200):
        if session.status == "connected":
            break
        epage.wait_for_timeout(200)
        session.refresh_from_db()
    assert session.status == "connected"

    epage.locator("#call-hang-up").click()
    expect(cpage.locator("#call-state")).to_have_text("The other side hung up.", timeout=LIVE)
