"""Privacy in headless Chromium: the private-information box, private attachments, the
composer's warning, a flag redacted by Customer Care, and the Content Security Policy.

Customer and expert in two browser contexts on the live server, and Customer Care in a
third (password and TOTP code). Before the offer is accepted neither page has the box;
after the customer accepts and pays, both fill their side and see the other's, the
customer uploads an X-ray (a PNG) and the expert opens it. The composer warns about a
phone number as it is typed; a message posted with one anyway is flagged, Customer Care
redacts it in the admin, and the customer sees it redacted. No page logs a Content
Security Policy violation along the way.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from marketplace import demo, roles
from premium.models import OfferStatus
from privacy.models import Flag, FlagStatus, PrivateAttachment
from privacy.services import REDACTED_TEXT
from tests.browser.conftest import NewContext, cars, log_in, seed_expert, shot, staff_log_in
from tests.browser.test_premium import customer, offer_sent, open_question, send

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

LIVE = 5_000  # ms
CUSTOMER_PHONE = "+1 415 555 0177"
EXPERT_SKYPE = "erin.mechanic.42"
THREAD_PHONE = "+44 20 7946 0321"
# A 2x2 red PNG, so the browser has a real picture to draw.
XRAY = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)


def watch_csp(page: Page, violations: list[str]) -> Page:
    """Record every console message about the Content Security Policy on this page."""

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    return page


def box(page: Page) -> Any:
    return page.locator("#private-box")


def test_the_private_box_story(
    new_context: NewContext, live_server: Any, screenshots_dir: Path, tmp_path: Path, settings: Any
) -> None:
    settings.PRIVATE_FILES_DIR = tmp_path / "private"
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    casey = customer()
    care = demo.staff_ensure("care@example.com", name="Cam Care", group=roles.CUSTOMER_CARE)
    offer = offer_sent(category, casey, expert)
    question_id = offer.question_id
    violations: list[str] = []

    cpage = watch_csp(log_in(new_context, base, casey.email, demo.DEMO_PASSWORD), violations)
    epage = watch_csp(log_in(new_context, base, expert.email, demo.DEMO_PASSWORD), violations)

    # --- Before acceptance: no box for either side ---------------------------------------
    open_question(cpage, base, question_id)
    open_question(epage, base, question_id)
    expect(box(cpage)).to_have_count(0)
    expect(box(epage)).to_have_count(0)

    # --- The composer warns on a phone number, before anything is sent ------------------
    warning = cpage.locator("form#composer .contact-warning")
    expect(warning).to_be_hidden()
    cpage.locator("#id_body").fill(f"Easier by phone, call me at {CUSTOMER_PHONE}")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("This looks like contact details (a phone number)")
    expect(warning).to_contain_text("after accepting a premium service offer")
    cpage.locator("#id_body").fill("Thanks, I will accept the call.")
    expect(warning).to_be_hidden()

    # --- The customer accepts and pays; the box opens on both pages ----------------------
    cpage.locator(f"#offer-{offer.pk}").get_by_role("link", name="Accept and pay $40.00").click()
    cpage.get_by_role("button", name="Confirm and pay $40.00").click()
    expect(cpage.locator(".flash")).to_contain_text("Accepted: $40.00 paid")
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTED
    expect(box(cpage)).to_be_visible()
    epage.reload()
    expect(box(epage)).to_be_visible()

    # --- Both fill their side and see the other's ----------------------------------------
    box(cpage).get_by_label("Phone").fill(CUSTOMER_PHONE)
    box(cpage).get_by_role("button", name="Save").click()
    expect(cpage.locator(".flash")).to_contain_text("Saved in the private information box.")
    expect(box(cpage).get_by_label("Phone")).to_have_value(CUSTOMER_PHONE)
    box(epage).get_by_label("Skype or other handle").fill(EXPERT_SKYPE)
    box(epage).get_by_role("button", name="Save").click()
    expect(epage.locator(".flash")).to_contain_text("Saved in the private information box.")
    expect(epage.locator("#private-theirs")).to_contain_text(CUSTOMER_PHONE)
    cpage.reload()
    expect(cpage.locator("#private-theirs")).to_contain_text(EXPERT_SKYPE)

    # --- The customer uploads an X-ray; the expert sees and opens it ----------------------
    box(cpage).locator("#private-file").set_input_files(
        {"name": "wrist-xray.png", "mimeType": "image/png", "buffer": XRAY}
    )
    box(cpage).get_by_role("button", name="Upload").click()
    expect(cpage.locator(".flash")).to_contain_text("Uploaded.")
    expect(cpage.locator("#private-attachments")).to_contain_text("wrist-xray.png")
    shot(cpage, screenshots_dir, "private-box.png")
    epage.reload()
    link = epage.locator("#private-attachments").get_by_role("link", name="wrist-xray.png")
    expect(link).to_be_visible()
    attachment = PrivateAttachment.objects.get(question_id=question_id)
    stored = (tmp_path / "private" / attachment.stored_name).read_bytes()
    assert XRAY not in stored  # encrypted on disk
    viewer = epage.context.new_page()
    response = viewer.goto(f"{base}{link.get_attribute('href')}")
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/png"
    assert response.body() == XRAY
    assert viewer.evaluate("document.images.length && document.images[0].naturalWidth") == 2
    viewer.close()

    # --- A phone number posted anyway is flagged; Customer Care redacts it ---------------
    send(epage, f"If the call drops, ring me on {THREAD_PHONE}")
    flag = Flag.objects.get(message__body__contains=THREAD_PHONE)
    assert flag.automatic and flag.status == FlagStatus.OPEN
    expect(cpage.locator("#thread li.msg").last).to_contain_text(THREAD_PHONE, timeout=LIVE)

    spage = staff_log_in(new_context, base, care.email, viewport={"width": 1600, "height": 720})
    watch_csp(spage, violations)
    spage.goto(f"{base}/admin/privacy/flag/?status__exact=open")
    row = spage.locator("#result_list tbody tr").filter(
        has=spage.locator(f'input[name="_selected_action"][value="{flag.pk}"]')
    )
    expect(row).to_contain_text(THREAD_PHONE)
    row.locator('input[name="_selected_action"]').check()
    spage.locator('select[name="action"]').select_option(label="Redact the flagged messages")
    spage.get_by_role("button", name="Go").click()
    expect(spage.locator("ul.messagelist")).to_contain_text(
        f"Flag {flag.pk}: the message is redacted."
    )
    shot(spage, screenshots_dir, "admin-flags.png")

    cpage.reload()
    last = cpage.locator("#thread li.msg").last
    expect(last).to_contain_text(REDACTED_TEXT)
    expect(cpage.locator("#thread")).not_to_contain_text(THREAD_PHONE)
    epage.reload()
    expect(epage.locator("#thread")).not_to_contain_text(THREAD_PHONE)

    # --- The card page and the admin's pages load without a policy violation ------------
    cpage.goto(f"{base}/account/card/")
    expect(cpage.get_by_role("heading", name="Your card")).to_be_visible()
    for path in ("/admin/", "/admin/privacy/flag/", f"/admin/privacy/flag/{flag.pk}/change/"):
        spage.goto(f"{base}{path}")
        expect(spage.locator("#content")).to_be_visible()
    assert violations == []


def test_a_policy_violation_is_seen(new_context: NewContext, live_server: Any) -> None:
    """The watcher above can fail: an inline script injected into a page is refused by
    the policy and reported on the console."""
    page = new_context().new_page()
    violations: list[str] = []
    watch_csp(page, violations)
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = true'; document.body.appendChild(s); }"
    )
    assert page.evaluate("window.ran === true") is False
    expect(page.locator("body")).to_be_visible()
    assert any(re.search("Content Security Policy", v) for v in violations)


def test_the_other_pages_load_without_a_policy_violation(
    new_context: NewContext, live_server: Any
) -> None:
    """Everyone's pages under the policy: the ask flow, lists, account pages, the card and
    membership pages, the expert's pages, the accounts pages (the TOTP set-up shows its QR
    code) and the API docs."""
    base = live_server.url
    category = cars()
    expert = seed_expert(category)
    casey = customer()
    violations: list[str] = []
    anonymous = watch_csp(new_context().new_page(), violations)
    for path in (
        "/",
        "/help/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
    ):
        anonymous.goto(f"{base}{path}")
        expect(anonymous.locator("main")).to_be_visible()
    cpage = watch_csp(log_in(new_context, base, casey.email, demo.DEMO_PASSWORD), violations)
    for path in (
        "/ask/",
        "/account/settings/",
        "/notifications/",
        "/help/contact/",
        "/account/card/",
        "/account/membership/",
        "/api/docs/",
    ):
        cpage.goto(f"{base}{path}")
        expect(cpage.locator("body")).not_to_be_empty()
    cpage.goto(f"{base}/accounts/2fa/totp/activate/")
    if cpage.get_by_role("heading", name="Confirm Access").count():
        cpage.locator("#id_password").fill(demo.DEMO_PASSWORD)
        cpage.locator("form[action='/accounts/reauthenticate/'] button[type=submit]").click()
    qr = cpage.locator("main img[src^='data:']")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 0  # the data: QR code is allowed
    epage = watch_csp(log_in(new_context, base, expert.email, demo.DEMO_PASSWORD), violations)
    for path in ("/questions/", "/request-center/", "/earnings/", "/premium/catalog/"):
        epage.goto(f"{base}{path}")
        expect(epage.locator("main")).to_be_visible()
    assert violations == []
