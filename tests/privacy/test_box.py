"""The private-information box and attachments: who sees them and when, encrypted at rest,
staff reads with a reason, flags and redaction, retention."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from marketplace.errors import Forbidden, InvalidInput, NotFound
from premium import services as premium_services
from privacy import services
from privacy.models import AccessLog, Flag, PrivateAttachment, PrivateBox
from questions import services as question_services
from tests.factories import make_question

pytestmark = pytest.mark.django_db

PHONE = "+1 415 555 0132"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def accepted(world, due_question, phone_call):
    offer = premium_services.offer_send(
        expert=world.expert,
        question_id=due_question.pk,
        template_id=phone_call.pk,
        price_minor=4000,
        description="A call",
    )
    premium_services.offer_accept(offer_id=offer.pk, customer=world.customer)
    return due_question


def test_no_box_before_an_offer_is_accepted(world, due_question):
    with pytest.raises(NotFound, match="opens once an offer is accepted"):
        services.box_get_for_user(question_id=due_question.pk, user=world.customer)


def test_after_acceptance_both_sides_fill_and_see_the_box(world, accepted):
    services.box_update(question_id=accepted.pk, user=world.customer, values={"phone": PHONE})
    services.box_update(question_id=accepted.pk, user=world.expert, values={"skype": "erin.mech"})
    box, side = services.box_get_for_user(question_id=accepted.pk, user=world.expert)
    assert side == "expert"
    assert box.customer_info is not None and box.expert_info is not None
    assert box.customer_info["phone"] == PHONE and box.expert_info["skype"] == "erin.mech"


@pytest.mark.parametrize("who", ["other_customer", "same_category_expert", "other_category_expert"])
def test_nobody_else_sees_the_box(world, accepted, who):
    with pytest.raises(NotFound):
        services.box_get_for_user(question_id=accepted.pk, user=getattr(world, who))


def test_the_same_pair_on_another_question_sees_nothing(world, accepted):
    other = make_question(customer=world.customer, category=world.category)
    question_services.question_pick_up(question_id=other.pk, expert=world.expert)
    with pytest.raises(NotFound):
        services.box_get_for_user(question_id=other.pk, user=world.customer)


def test_the_phone_number_is_not_in_the_database_in_plain_text(world, accepted):
    services.box_update(question_id=accepted.pk, user=world.customer, values={"phone": PHONE})
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_info::text FROM privacy_privatebox")
        stored = cursor.fetchone()[0]
    assert PHONE not in stored and "555" not in stored


def test_an_image_is_stored_encrypted_and_the_expert_views_it(
    world, accepted, client, settings, tmp_path
):
    settings.PRIVATE_FILES_DIR = tmp_path
    upload = SimpleUploadedFile("knee.png", PNG, content_type="image/png")
    attachment = services.attachment_upload(
        question_id=accepted.pk, user=world.customer, upload=upload
    )
    on_disk = (tmp_path / attachment.stored_name).read_bytes()
    assert not on_disk.startswith(b"\x89PNG") and PNG not in on_disk
    client.force_login(world.expert)
    r = client.get(f"/private/files/{attachment.pk}")
    assert r.status_code == 200 and r.content == PNG and r["Content-Type"] == "image/png"
    client.force_login(world.other_customer)
    assert client.get(f"/private/files/{attachment.pk}").status_code == 404


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("xray.png", b"MZ\x90\x00 not an image at all", "content was checked"),
        ("scan.pdf", b"<html>not a pdf</html>", "content was checked"),
    ],
)
def test_a_file_whose_content_does_not_match_is_refused(
    world, accepted, settings, tmp_path, name, data, message
):
    settings.PRIVATE_FILES_DIR = tmp_path
    with pytest.raises(InvalidInput, match=message):
        services.attachment_upload(
            question_id=accepted.pk, user=world.customer, upload=SimpleUploadedFile(name, data)
        )
    assert PrivateAttachment.objects.count() == 0 and list(tmp_path.iterdir()) == []


def test_an_oversized_file_is_refused_and_nothing_is_stored(world, accepted, settings, tmp_path):
    settings.PRIVATE_FILES_DIR = tmp_path
    settings.EXPERTLINE_PRIVATE_UPLOAD_MAX_BYTES = 1024 * 1024
    big = SimpleUploadedFile("big.png", PNG + b"\x00" * (1024 * 1024))
    with pytest.raises(InvalidInput, match="too large"):
        services.attachment_upload(question_id=accepted.pk, user=world.customer, upload=big)
    assert PrivateAttachment.objects.count() == 0 and list(tmp_path.iterdir()) == []


def test_only_the_customer_uploads(world, accepted):
    with pytest.raises(Forbidden):
        services.attachment_upload(
            question_id=accepted.pk, user=world.expert, upload=SimpleUploadedFile("a.png", PNG)
        )


def test_staff_read_needs_a_reason_and_is_logged(world, accepted):
    from marketplace.roles import CUSTOMER_CARE
    from tests.payments.test_refunds import staff

    care = staff(CUSTOMER_CARE)
    services.box_update(question_id=accepted.pk, user=world.customer, values={"phone": PHONE})
    with pytest.raises(InvalidInput, match="reason"):
        services.box_read_by_staff(question_id=accepted.pk, staff=care, reason="")
    assert AccessLog.objects.count() == 0
    box = services.box_read_by_staff(
        question_id=accepted.pk, staff=care, reason="Refund dispute #12"
    )
    assert box.customer_info is not None and box.customer_info["phone"] == PHONE
    log = AccessLog.objects.get()
    assert (log.staff, log.what, log.reason) == (care, "box", "Refund dispute #12")
    with pytest.raises(Forbidden):
        services.box_read_by_staff(question_id=accepted.pk, staff=world.expert, reason="curious")


def test_a_message_with_contact_details_is_flagged_automatically(world, assigned_question):
    m = question_services.message_post(
        question_id=assigned_question.pk, author=world.customer, body=f"Call me on {PHONE} tonight"
    )
    flag = Flag.objects.get(message=m)
    assert flag.automatic and flag.status == "open"
    ok = question_services.message_post(
        question_id=assigned_question.pk, author=world.customer, body="I take 500 mg twice a day"
    )
    assert not Flag.objects.filter(message=ok).exists()


def test_flag_then_redact_removes_the_text_everywhere(world, assigned_question, client):
    from marketplace.roles import CUSTOMER_CARE
    from tests.payments.test_refunds import staff

    secret = "my home is 42 Elm Street, Springfield"
    m = question_services.message_post(
        question_id=assigned_question.pk, author=world.expert, body=secret
    )
    flag = services.message_flag(message_id=m.pk, user=world.customer, note="address")
    services.flag_redact(flag_id=flag.pk, staff=staff(CUSTOMER_CARE))
    client.force_login(world.customer)
    for url in (
        f"/q/{assigned_question.pk}/",
        f"/q/{assigned_question.pk}/poll?v=0&after=0&n=-1",
        f"/api/questions/{assigned_question.pk}/messages/",
    ):
        body = client.get(url).content.decode()
        assert "Elm Street" not in body, url
        assert "removed: personal information" in body, url
    assert world.customer.notifications.filter(
        text__contains="removed the personal information"
    ).exists()


def test_retention_erases_the_box_and_files(world, accepted, settings, tmp_path):
    settings.PRIVATE_FILES_DIR = tmp_path
    services.box_update(question_id=accepted.pk, user=world.customer, values={"phone": PHONE})
    attachment = services.attachment_upload(
        question_id=accepted.pk, user=world.customer, upload=SimpleUploadedFile("a.png", PNG)
    )
    question_services.question_close(question_id=accepted.pk, actor=world.customer)
    later = timezone.now() + timedelta(days=settings.EXPERTLINE_PRIVATE_RETENTION_DAYS + 1)
    assert services.retention_sweep(now=later) == 2
    box = PrivateBox.objects.get(question=accepted)
    assert box.erased_at is not None and box.customer_info is None
    assert not (tmp_path / attachment.stored_name).exists()
    with pytest.raises(NotFound):
        services.attachment_get_for_user(attachment_id=attachment.pk, user=world.expert)


def test_sniffing_by_content():
    assert services.sniff_content_type(PNG) == "image/png"
    assert services.sniff_content_type(b"%PDF-1.7 ...") == "application/pdf"
    assert services.sniff_content_type(b"\x00" * 128 + b"DICM" + b"\x00" * 8) == "application/dicom"
    assert services.sniff_content_type(io.BytesIO(b"GIF89a").read()) == "image/gif"
    assert services.sniff_content_type(b"plain text") is None


def test_the_flag_page_asks_why_and_sends_the_flag(world, assigned_question, client):
    m = question_services.message_post(
        question_id=assigned_question.pk, author=world.expert, body="hi"
    )
    client.force_login(world.customer)
    page = client.get(f"/messages/{m.pk}/flag")
    assert page.status_code == 200 and b"Send to Customer Care" in page.content
    r = client.post(f"/messages/{m.pk}/flag", {"reason": "personal_info", "note": "his number"})
    assert r.status_code == 302 and r["Location"] == f"/q/{assigned_question.pk}/"
    assert Flag.objects.get(message=m).flagged_by == world.customer
    client.force_login(world.other_customer)
    assert client.get(f"/messages/{m.pk}/flag").status_code == 404
