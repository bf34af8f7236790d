"""Health, production settings, staff groups and two-factor, demo data."""

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import Group
from django.core.management import call_command

from marketplace.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET
from marketplace.models import Category, User
from marketplace.roles import CUSTOMER_CARE, FINANCE
from questions.models import Question
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_checks_database_and_broker(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_reports_a_dead_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["database"] == "ok"
    assert r.json()["broker"].startswith("error")


def _settings_import(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "marketplace.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings_import({"DJANGO_ENV": "production", "ALLOWED_HOSTS": "example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_staff_groups_have_their_permissions():
    care = Group.objects.get(name=CUSTOMER_CARE)
    finance = Group.objects.get(name=FINANCE)
    care_perms = set(care.permissions.values_list("codename", flat=True))
    assert {"view_question", "view_message", "change_supportrequest"} <= care_perms
    assert "change_question" not in care_perms
    assert "change_expertprofile" in set(finance.permissions.values_list("codename", flat=True))


@pytest.mark.django_db
def test_staff_without_two_factor_is_sent_to_set_it_up(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    r = client.get("/admin/")
    assert r.status_code == 302
    assert r["Location"] == "/accounts/2fa/totp/activate/"


@pytest.mark.django_db
def test_staff_login_asks_for_the_totp_code_then_opens_the_admin(client):
    call_command("seed_demo", stdout=io.StringIO())
    r = client.post("/accounts/login/", {"login": "care@example.com", "password": DEMO_PASSWORD})
    assert r.status_code == 302 and r["Location"].startswith("/accounts/2fa/authenticate")
    assert client.get("/admin/").status_code == 302  # not logged in yet
    code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, int(time.time()) // 30))
    r = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert r.status_code == 302
    page = client.get("/admin/questions/question/")
    assert page.status_code == 200
    # Customer Care may look but not change questions.
    assert client.get("/admin/questions/question/add/").status_code == 403


@pytest.mark.django_db
def test_seed_demo_is_safe_to_run_twice():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (User.objects.count(), Category.objects.count(), Question.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (User.objects.count(), Category.objects.count(), Question.objects.count()) == counts
    assert Category.objects.count() == 7
    statuses = set(Question.objects.values_list("status", flat=True))
    assert {"open", "assigned", "answered"} <= statuses


@pytest.mark.django_db
def test_signup_through_the_accounts_api_sends_the_verification_email(client):
    from django.core import mail

    r = client.post(
        "/_allauth/app/v1/auth/signup",
        {
            "email": "newbie@example.com",
            "password": "a-Long-passw0rd!",
            "country": "us",
            "timezone": "America/New_York",
        },
        content_type="application/json",
    )
    # 401: signed up, but the email must be verified before the session is usable.
    assert r.status_code == 401
    flows = {f["id"]: f for f in r.json()["data"]["flows"]}
    assert flows["verify_email"]["is_pending"] is True
    user = User.objects.get(email="newbie@example.com")
    assert (user.customer_profile.country, user.timezone) == ("US", "America/New_York")
    assert "confirm-email" in mail.outbox[-1].body or "verify" in mail.outbox[-1].body.lower()
