"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium through Playwright.

`playwright install` cannot download a browser here, so the session launches the
system Chromium (FACTS.md, "Browser tests"). One browser per session; each user
gets a fresh context. The helpers at the end (signing in, typing a test card,
screenshots) are shared by the test modules here.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect

from marketplace import demo
from marketplace.models import Category, User

os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", tempfile.mkdtemp(prefix="expertline-playwright-"))
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# scripts/services.sh installs Debian's chromium and exports CHROMIUM_PATH.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Screenshots go to test-artifacts/ (ignored by git); EXPERTLINE_SCREENSHOTS_DIR=docs/screenshots
# refreshes the README pictures.
SCREENSHOTS = Path(
    os.environ.get("EXPERTLINE_SCREENSHOTS_DIR")
    or Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (scripts/services.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # Tests that need another viewport pass it to `new_context` themselves.
    return {**browser_context_args, "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# --- Helpers shared by the browser tests ---------------------------------------------

NewContext = Callable[..., BrowserContext]

# Stripe's test cards, as the local gateway reads them (templates/payments/card.html).
CARD_OK = "4242 4242 4242 4242"
CARD_CHARGE_DECLINED = "4000 0000 0000 0341"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_AUTHENTICATE = "4000 0027 6000 3184"


def cars() -> Category:
    return {c.slug: c for c in demo.categories_seed()}["cars"]


def seed_expert(category: Category) -> User:
    return demo.expert_ensure(
        "erin.expert@example.com",
        name="Dr. Erin Mechanic",
        headline="Master mechanic, 20 years on European cars",
        categories=[category],
    )


def log_in(new_context: NewContext, base: str, email_address: str, password: str) -> Page:
    page = new_context().new_page()
    page.goto(f"{base}/accounts/login/")
    page.locator("#id_login").fill(email_address)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator("#bell")).to_be_attached()
    return page


def totp_code(secret: str) -> str:
    """The authenticator's current code, not in the last seconds of its 30-second window
    (allauth accepts only the current window)."""
    left = 30 - time.time() % 30
    if left < 3:
        time.sleep(left + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def staff_log_in(
    new_context: NewContext, base: str, email_address: str, **context_args: Any
) -> Page:
    """A demo staff member signs in: password, then the TOTP code on the two-factor page."""
    page = new_context(**context_args).new_page()
    page.goto(f"{base}/accounts/login/")
    page.locator("#id_login").fill(email_address)
    page.locator("#id_password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.locator("#id_code").fill(totp_code(demo.DEMO_TOTP_SECRET))
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator("#bell")).to_be_attached()
    return page


def nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


def fill_card(page: Page, number: str) -> None:
    """Type a card into the local gateway's form (any future expiry, any 3-digit CVC)."""
    page.locator("#id_number").fill(number)
    page.locator("#id_exp_month").fill("12")
    page.locator("#id_exp_year").fill(str(date.today().year + 3))
    page.locator("#id_cvc").fill("123")
    page.get_by_role("button", name="Save card").click()


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / name), full_page=True, animations="disabled")


# In-browser calls (FACTS.md, "In-browser calls"): fake camera, microphone and screen, and
# loopback candidates, in a Chromium of their own; the shared browser is left as it is.
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
CONNECTED = (
    "() => !!(window.expertlineCall && window.expertlineCall.pc"
    " && window.expertlineCall.pc.connectionState === 'connected')"
)
LIVE = 8_000  # ms


@pytest.fixture(scope="module")
def media_browser(
    playwright: Playwright, browser_type_launch_args: dict[str, Any]
) -> Iterator[Browser]:
    """A Chromium of its own with fake camera, microphone and screen; the shared one is
    left as it is."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
    )
    yield browser
    browser.close()


@pytest.fixture
def media_context(media_browser: Browser, browser_context_args: dict[str, Any]) -> Iterator[Any]:
    contexts = []

    def new_context(**kwargs: Any) -> Any:
        context = media_browser.new_context(**{**browser_context_args, **kwargs})
        contexts.append(context)
        return context

    yield new_context
    for context in contexts:
        context.close()
