"""The REST API runs the whole story through the same services as the pages."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from questions.models import Question
from tests.conftest import api_as

pytestmark = pytest.mark.django_db


def test_the_story_over_the_api(world):
    customer, expert = api_as(world.customer), api_as(world.expert)
    r = customer.post(
        "/api/questions/",
        {
            "category": "cars",
            "title": "Brakes squeal",
            "body": "Only when cold.",
            "price_minor": 3000,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    qid = r.json()["id"]
    assert r.json()["status"] == "open"

    previews = expert.get("/api/questions/open/").json()["results"]
    assert [p["id"] for p in previews] == [qid]
    assert "body" not in previews[0]

    assert expert.post(f"/api/questions/{qid}/pick-up/").json()["status"] == "assigned"
    taken = api_as(world.same_category_expert).post(f"/api/questions/{qid}/pick-up/")
    assert taken.status_code == 409
    assert taken.json() == {
        "error": "taken",
        "detail": "Another expert has already picked up this question.",
    }

    assert expert.post(f"/api/questions/{qid}/messages/", {"body": "Hello"}).status_code == 201
    assert customer.post(f"/api/questions/{qid}/messages/", {"body": "Hi!"}).status_code == 201
    thread = customer.get(f"/api/questions/{qid}/messages/").json()["results"]
    assert [m["body"] for m in thread] == ["Hello", "Hi!"]

    rated = customer.post(f"/api/questions/{qid}/rating/", {"stars": 5}, format="json")
    assert rated.json()["rating_stars"] == 5
    assert rated.json()["status"] == "answered"


def test_bad_input_gets_a_clear_message_and_changes_nothing(world):
    customer = api_as(world.customer)
    r = customer.post(
        "/api/questions/",
        {"category": "cars", "title": "T", "body": "B", "price_minor": 1},
        format="json",
    )
    assert r.status_code == 400
    assert "between $5.00–$200.00" in r.json()["detail"]
    r = customer.post(
        "/api/questions/", {"category": "nope", "title": "T", "body": "B"}, format="json"
    )
    assert r.status_code == 400 and "category" in r.json()
    assert Question.objects.count() == 0


def test_empty_message_over_the_api_is_400(world, assigned_question):
    r = api_as(world.customer).post(
        f"/api/questions/{assigned_question.pk}/messages/", {"body": ""}
    )
    assert r.status_code == 400
    assert r.json()["detail"] == "The message cannot be empty."


def test_token_authentication(world):
    token = Token.objects.create(user=world.customer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/account/").json()["email"] == world.customer.email


def test_token_is_issued_for_email_and_password(world):
    r = APIClient().post(
        "/api/auth/token/", {"username": world.customer.email, "password": "pw-for-tests-123"}
    )
    assert r.status_code == 200 and len(r.json()["token"]) == 40


def test_anonymous_api_calls_are_refused(api):
    assert api.get("/api/questions/mine/").status_code == 403
    assert api.get("/api/categories/").status_code == 200


def test_only_experts_list_open_questions(world):
    r = api_as(world.customer).get("/api/questions/open/")
    assert r.status_code == 403


def test_notifications_api_lists_and_marks_read(world, assigned_question):
    client = api_as(world.customer)
    data = client.get("/api/notifications/").json()
    assert data["unread"] == 2
    assert [n["kind"] for n in data["results"]] == ["question_picked_up", "payment_receipt"]
    assert client.post("/api/notifications/read/", {}, format="json").json()["unread"] == 0


def test_account_api_rejects_unknown_time_zone(world):
    r = api_as(world.customer).patch("/api/account/", {"timezone": "Mars/Base"}, format="json")
    assert r.status_code == 400
    assert "Unknown time zone" in r.json()["detail"]


def test_support_request_from_the_api(api):
    r = api.post(
        "/api/support-requests/",
        {"email": "a@example.com", "subject": "Refund?", "body": "How do refunds work?"},
    )
    assert r.status_code == 201 and r.json()["status"] == "open"


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/questions/{question_id}/messages/" in schema.content
    assert client.get("/api/docs/").status_code == 200
