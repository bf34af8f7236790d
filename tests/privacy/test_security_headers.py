"""The Content Security Policy and the production security settings, as a browser sees them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_every_page_carries_the_policy(client, world, assigned_question):
    client.force_login(world.customer)
    for url in ("/", f"/q/{assigned_question.pk}/", reverse("payment_card"), "/accounts/login/"):
        policy = directives(client.get(url))
        assert policy["default-src"] == ["'self'"], url
        assert policy["script-src"] == ["'self'"], url  # no 'unsafe-inline', no Stripe
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'self'"]
        assert policy["form-action"] == ["'self'"]


def test_anonymous_and_error_pages_carry_the_policy(client):
    assert "frame-ancestors 'none'" in client.get("/accounts/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in client.get("/q/999999/")["Content-Security-Policy"]


def test_our_templates_have_no_inline_script():
    """The policy forbids inline scripts: a <script> in our templates must load a file
    (a json_script data block is not run)."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        if "email" in path.parts:
            continue  # emails are not web pages; the policy does not apply to them
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and "application/json" not in tag:
                offenders.append(f"{path.relative_to(ROOT)}: {tag}")
        if re.search(r"\son[a-z]+=\"", text):
            offenders.append(f"{path.relative_to(ROOT)}: inline event handler")
    assert offenders == []


@override_settings(PAYMENTS_GATEWAY="stripe", STRIPE_PUBLISHABLE_KEY="pk_test_123")
def test_the_stripe_card_page_passes_its_data_in_attributes(client, world):
    client.force_login(world.customer)
    html = client.get(reverse("payment_card")).content.decode()
    assert 'data-publishable-key="pk_test_123"' in html
    assert f'data-setup-url="{reverse("payment_stripe_setup")}"' in html
    assert "/static/js/stripe-card.js" in html
    assert "Stripe(" not in html  # the call lives in the static file


def _production_env() -> dict[str, str]:
    keys = (
        subprocess.run(
            [sys.executable, "-m", "privacy.keyring_setup"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTLINE_TEST")}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE="marketplace.settings",
        SECRET_KEY="x" * 20 + "production-check-9fK2mQ7vL1pZ8rT4wY6nB3cH5jD0sA",
        ALLOWED_HOSTS="example.com",
        STRIPE_SECRET_KEY="sk_test_deploycheck",
        STRIPE_PUBLISHABLE_KEY="pk_test_deploycheck",
        STRIPE_WEBHOOK_SECRET="whsec_deploycheck",
        PRIVATE_INFO_KEYS=keys,
    )
    return env


@pytest.mark.slow
def test_production_passes_the_security_checks_and_allows_stripe_only_there():
    env = _production_env()
    check = subprocess.run(
        # The security checks (Django's deploy checks and django-csp's); scripts/test.sh
        # runs every check with --deploy.
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--tag",
            "security",
            "--fail-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    policy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "d = s.CONTENT_SECURITY_POLICY['DIRECTIVES']; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
            "d['script-src'], d['frame-src'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert policy.startswith("True True True")
    assert "https://js.stripe.com" in policy
