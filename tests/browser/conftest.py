"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium through Playwright.

`playwright install` cannot download a browser here, so the session launches the
system Chromium (FACTS.md, "Browser tests"). One browser per session; each user
gets a fresh context.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

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
