"""No private value in plain text anywhere we write.

One story fills the box through the pages: both sides enter contact details, the
customer uploads an X-ray, the expert also writes a phone number in the thread (it is
flagged and Customer Care redacts it). Then the distinctive values are looked for in a
`pg_dump` of the test database, the Celery task payloads, every log record (all loggers
at DEBUG, SQL included), the error pages and the error report emailed to the admins
(DEBUG off), every email, and the files under the attachments folder.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish, task_prerun
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from marketplace.celery import app
from marketplace.roles import CUSTOMER_CARE
from privacy import services
from privacy.models import Flag, PrivateAttachment
from tests.payments.test_refunds import staff

CUSTOMER_PHONE = "+1 415 555 0177"
CUSTOMER_SKYPE = "casey.quietfox.8841"
EXPERT_EMAIL = "erin.backchannel.7342@example.org"
EXPERT_OTHER = "Garage at 17 Juniper Crescent, Thornbury"
IMAGE_MARKER = b"XRAY-OF-CASEY-LEFT-WRIST-5519"
THREAD_PHONE = "+44 20 7946 0321"
IMAGE = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + IMAGE_MARKER + b"\x00" * 32

SECRETS = [CUSTOMER_PHONE, CUSTOMER_SKYPE, EXPERT_EMAIL, EXPERT_OTHER, IMAGE_MARKER.decode()]


def pg_dump_path() -> str:
    found = shutil.which("pg_dump") or next(
        iter(sorted(glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)), None
    )
    if found is None:
        pytest.skip("pg_dump is not installed")
    return found


def leaked(text: str, secrets: list[str] = SECRETS) -> list[str]:
    return [s for s in secrets if s in text]


@pytest.fixture
def celery_payloads() -> Iterator[list[str]]:
    """What we hand Celery: every message published to the real broker (Redis), headers
    and body, and the arguments each task runs with on the worker."""
    seen: list[str] = []

    def on_publish(body: Any = None, headers: Any = None, **_: Any) -> None:
        seen.append(f"published {headers!r} {body!r}")

    def on_run(task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
        seen.append(f"ran {getattr(task, 'name', task)} {args!r} {kwargs!r}")

    before_task_publish.connect(on_publish, weak=False)
    task_prerun.connect(on_run, weak=False)
    app.conf.task_always_eager = False  # the tests' default is eager: publish for real
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield seen
    finally:
        app.conf.task_always_eager = True
        before_task_publish.disconnect(on_publish)
        task_prerun.disconnect(on_run)


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every logger at DEBUG, SQL statements with their parameters included."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    ]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        lg.addHandler(handler)
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True
    yield records
    connection.force_debug_cursor = debug_cursor
    for lg, level, disabled in saved:
        lg.setLevel(level)
        lg.disabled = disabled
        lg.removeHandler(handler)


def formatted(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    out = []
    for record in records:
        out.append(formatter.format(record))
        out.append(repr(getattr(record, "params", "")) + repr(getattr(record, "sql", "")))
    return "\n".join(out)


def the_story(world: Any, question: Any, files_dir: Path) -> None:
    """Both sides fill the box and the customer uploads an X-ray, through the pages;
    the expert's phone number in the thread is flagged and redacted."""
    customer, expert = Client(), Client()
    customer.force_login(world.customer)
    expert.force_login(world.expert)
    box_url = f"/q/{question.pk}/private"
    assert (
        customer.post(box_url, {"phone": CUSTOMER_PHONE, "skype": CUSTOMER_SKYPE}).status_code
        == 302
    )
    assert expert.post(box_url, {"email": EXPERT_EMAIL, "other": EXPERT_OTHER}).status_code == 302
    upload = SimpleUploadedFile("wrist.png", IMAGE, content_type="image/png")
    assert customer.post(f"{box_url}/files", {"file": upload}).status_code == 302
    # Both see what the other entered, and the expert opens the image.
    assert CUSTOMER_PHONE in expert.get(f"/q/{question.pk}/").content.decode()
    assert EXPERT_EMAIL in customer.get(f"/q/{question.pk}/").content.decode()
    attachment = PrivateAttachment.objects.get(question=question)
    assert expert.get(f"/private/files/{attachment.pk}").content == IMAGE
    posted = expert.post(
        f"/q/{question.pk}/messages",
        {"body": f"Easier by phone: {THREAD_PHONE}"},
        HTTP_ACCEPT="application/json",
    )
    assert posted.status_code == 201
    flag = Flag.objects.get(message__body__contains=THREAD_PHONE)
    services.flag_redact(flag_id=flag.pk, staff=staff(CUSTOMER_CARE))


@pytest.mark.django_db(transaction=True)
def test_no_private_value_in_plain_text_anywhere_we_write(
    world, accepted, settings, tmp_path, celery_payloads, all_logs
):
    settings.PRIVATE_FILES_DIR = tmp_path / "private"
    settings.ADMINS = [("Ops", "ops@example.com")]  # error reports are emailed
    settings.DEBUG = False
    settings.EXPERTLINE_PRESENCE_SECONDS = 0  # nobody is "on the page": every notice is emailed
    mail.outbox.clear()

    the_story(world, accepted, settings.PRIVATE_FILES_DIR)

    # --- Error pages, DEBUG off: a 404 and a 500 on the pages carrying the box -----------
    expert = Client(raise_request_exception=False)
    expert.force_login(world.expert)
    missing = expert.get("/private/files/987654321")
    assert missing.status_code == 404
    assert leaked(missing.content.decode()) == []
    # A broken key ring (a malformed key in the configuration) fails the save: 500, with
    # the values in the request. Neither the page, nor the logs, nor the report emailed
    # to the admins may carry them.
    settings.PRIVATE_INFO_KEYS = ["k-broken:not-a-key"]
    failed = expert.post(
        f"/q/{accepted.pk}/private", {"email": EXPERT_EMAIL, "other": EXPERT_OTHER}
    )
    assert failed.status_code == 500
    assert leaked(failed.content.decode()) == []
    page = expert.get(f"/q/{accepted.pk}/")
    assert page.status_code == 500
    assert leaked(page.content.decode()) == []
    reports = [m for m in mail.outbox if "ops@example.com" in m.to]
    assert reports, "the 500 was reported to the admins"
    del settings.PRIVATE_INFO_KEYS  # back to the working ring

    # --- The worker has run every task published (emails are sent by tasks) -------------
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        published = sum(p.startswith("published") for p in celery_payloads)
        if sum(p.startswith("ran") for p in celery_payloads) >= published:
            break
        time.sleep(0.1)
    assert [m for m in mail.outbox if "ops@example.com" not in m.to], "notifications emailed"

    # --- Emails: bodies, alternatives, subjects and headers ------------------------------
    emails = "\n".join(
        f"{m.subject}\n{m.body}\n{getattr(m, 'alternatives', [])!r}\n{m.extra_headers!r}\n{m.message()}"
        for m in mail.outbox
    )
    assert leaked(emails) == []

    # --- Celery payloads ----------------------------------------------------------------
    assert any(p.startswith("published") for p in celery_payloads)  # the broker was used
    assert leaked("\n".join(celery_payloads)) == []

    # --- Logs, all loggers at DEBUG, with SQL and its parameters ------------------------
    logs = formatted(all_logs)
    assert "INSERT INTO" in logs  # the SQL was captured
    assert leaked(logs) == []

    # --- Files under the attachments folder: ciphertext only ---------------------------
    stored = [p for p in Path(settings.PRIVATE_FILES_DIR).rglob("*") if p.is_file()]
    assert len(stored) == 1
    data = stored[0].read_bytes()
    assert IMAGE_MARKER not in data and not data.startswith(b"\x89PNG")

    # --- The database, as pg_dump writes it ----------------------------------------------
    db = connection.settings_dict
    dump = subprocess.run(
        [
            pg_dump_path(),
            "--no-owner",
            "-h",
            db.get("HOST") or "127.0.0.1",
            "-p",
            str(db.get("PORT") or 5432),
            "-U",
            db.get("USER") or "postgres",
            db["NAME"],
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PGPASSWORD": db.get("PASSWORD") or "", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert world.customer.email in dump  # the story's rows are in this dump
    assert "Easier by phone" not in dump  # the redacted message, original encrypted
    assert leaked(dump, [*SECRETS, THREAD_PHONE, "wrist.png"]) == []
