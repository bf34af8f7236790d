"""The premium flow over the REST API: the same services as the pages."""

import pytest

from premium.models import OfferStatus
from tests.conftest import api_as

pytestmark = pytest.mark.django_db


def test_offer_send_accept_over_the_api(world, due_question, phone_call):
    expert, customer = api_as(world.expert), api_as(world.customer)
    state = expert.get(f"/api/questions/{due_question.pk}/offers/").json()
    assert state["can_offer"]["allowed"] is True and state["results"] == []
    r = expert.post(
        f"/api/questions/{due_question.pk}/offers/",
        {"template_id": phone_call.pk, "price_minor": 4000, "description": "A call"},
        format="json",
    )
    assert r.status_code == 201, r.content
    offer_id = r.json()["id"]
    again = expert.post(
        f"/api/questions/{due_question.pk}/offers/",
        {"template_id": phone_call.pk, "price_minor": 4000, "description": "Another"},
        format="json",
    )
    assert again.status_code == 409
    assert (
        customer.get(f"/api/questions/{due_question.pk}/offers/").json()["results"][0]["id"]
        == offer_id
    )
    assert (
        expert.post(f"/api/offers/{offer_id}/accept/").status_code == 404
    )  # not the expert's to accept
    accepted = customer.post(f"/api/offers/{offer_id}/accept/")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == OfferStatus.ACCEPTED
    assert accepted.json()["payment"]["status"] == "succeeded"
    assert (
        customer.post(f"/api/offers/{offer_id}/accept/").json()["detail"]
        == "This offer was already accepted."
    )


def test_an_out_of_bounds_price_is_400_with_the_bounds(world, due_question, phone_call):
    r = api_as(world.expert).post(
        f"/api/questions/{due_question.pk}/offers/",
        {"template_id": phone_call.pk, "price_minor": 5, "description": "A call"},
        format="json",
    )
    assert r.status_code == 400 and "between $10.00 and $500.00" in r.json()["detail"]


def test_catalog_over_the_api(world, tool):
    client = api_as(world.expert)
    r = client.post(
        "/api/premium/catalog/",
        {"name": "Engine video", "description": "I watch it run", "usual_price_minor": 3000},
        format="json",
    )
    assert r.status_code == 201
    tid = r.json()["id"]
    assert client.delete(f"/api/premium/catalog/{tid}/").json()["is_active"] is False
    assert (
        api_as(world.same_category_expert).delete(f"/api/premium/catalog/{tid}/").status_code == 404
    )
