"""Every page and API endpoint that names a question (or its messages) refuses outsiders.

The endpoints are read from the URL configuration, so a new one cannot escape:
another customer, another expert of the same category (after pick-up), an expert
of another category and an anonymous visitor get 403/404 (or, for a page, the
login redirect), never the data.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from premium import services as premium_services
from privacy import services as privacy_services
from privacy.models import Flag
from questions import services
from questions.models import IntakeSession

pytestmark = pytest.mark.django_db

ID_KWARGS = {"question_id", "offer_id", "attachment_id", "message_id", "intake_id"}
SECRET = "Zebra-unicorn-secret-42"


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def question_routes() -> list[tuple[str, str]]:
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if pattern.pattern.converters.keys() & ID_KWARGS or any(k in route for k in ID_KWARGS):
            found.append((route, pattern.name or route))
    return sorted(set(found))


ROUTES = question_routes()


def test_the_matrix_sees_every_question_endpoint():
    names = {name for _, name in ROUTES}
    # A guard against a walker that finds nothing: these must be among them.
    assert {
        "question_detail",
        "question_poll",
        "message_create",
        "question_pick_up",
        "question_rate",
        "api_question_detail",
        "api_question_messages",
        "api_question_rate",
        "offer_accept",
        "offer_decline",
        "api_offer_accept",
        "api_question_offers",
        "private_attachment",
        "private_box_update",
        "message_flag",
        "intake",
        "intake_finish",
    } <= names
    assert len(ROUTES) >= 11


def _url(route: str, ids: dict[str, int]) -> str:
    path = route
    for name, value in ids.items():
        path = path.replace(f"<int:{name}>", str(value))
    return "/" + path.lstrip("^").rstrip("$")


@pytest.fixture
def secret_question(world, settings, tmp_path):
    settings.PRIVATE_FILES_DIR = tmp_path
    q, _ = services.question_ask(
        customer=world.customer,
        category=world.category,
        title=f"Title {SECRET}",
        body=f"Body {SECRET}",
        price_minor=2500,
    )
    services.question_pick_up(question_id=q.pk, expert=world.expert)
    services.message_post(question_id=q.pk, author=world.customer, body=f"Message {SECRET}")
    offer = premium_services.auto_offer_create(
        question_id=q.pk,
        service_name=f"Call {SECRET}",
        description=f"Offer {SECRET}",
        price_minor=4900,
    )
    premium_services.offer_accept(offer_id=offer.pk, customer=world.customer)
    privacy_services.box_update(question_id=q.pk, user=world.customer, values={"phone": SECRET})
    privacy_services.attachment_upload(
        question_id=q.pk,
        user=world.customer,
        upload=SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\n" + SECRET.encode()),
    )
    # The customer's conversation with the intake bot (issue 7).
    IntakeSession.objects.create(
        customer=world.customer,
        category=world.category,
        title=f"Intake {SECRET}",
        body=f"Body {SECRET}",
        script=[{"prompt": "Which car?", "kind": "text", "choices": [], "max_chars": 300}],
        answers=[f"Answer {SECRET}"],
    )
    return q


@pytest.mark.parametrize("route,name", ROUTES, ids=[n for _, n in ROUTES])
@pytest.mark.parametrize(
    "who", ["anonymous", "other_customer", "same_category_expert", "other_category_expert"]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_outsiders_never_get_the_data(client, world, secret_question, route, name, who, method):
    if who != "anonymous":
        client.force_login(getattr(world, who))
    offer = secret_question.offers.get()
    ids = {
        "question_id": secret_question.pk,
        "offer_id": offer.pk,
        "attachment_id": secret_question.private_attachments.get().pk,
        "message_id": secret_question.messages.get().pk,
        "intake_id": IntakeSession.objects.get(customer=secret_question.customer).pk,
    }
    url = _url(route, ids)
    body = {"body": "intrusion", "stars": 5}
    response = getattr(client, method)(url, body)
    content = response.content.decode(errors="replace")
    assert SECRET not in content, f"{who} read the question through {method.upper()} {url}"
    status = response.status_code
    if status in (403, 404, 405):
        pass
    elif status == 302 and who == "anonymous":
        assert response["Location"].startswith("/accounts/login/")
    elif status in (302, 409) and name in ("question_pick_up", "api_question_pick_up"):
        # A same-category expert is told it is taken: they saw the preview before.
        assert who == "same_category_expert"
    else:
        pytest.fail(f"{who} {method.upper()} {url} answered {status}")
    # Nothing was written by the outsider.
    secret_question.refresh_from_db()
    assert secret_question.message_count == 1
    assert secret_question.expert_id == world.expert.pk
    assert secret_question.rating_stars is None
    offer.refresh_from_db()
    assert offer.status == "accepted"
    assert secret_question.private_box.customer_info["phone"] == SECRET
    assert not Flag.objects.exists()
    intake = IntakeSession.objects.get(customer=world.customer)
    assert intake.answers == [f"Answer {SECRET}"] and intake.question_id is None
