import pytest
from django.core import mail

from marketplace.errors import Forbidden, InvalidInput
from questions import services
from questions.models import Question, QuestionEvent, QuestionStatus
from tests.budgets import assert_one_charge_within, charge_statements

pytestmark = pytest.mark.django_db


def ask(world, customer=None, **kw):
    params = {
        "customer": customer or world.customer,
        "category": world.category,
        "title": "Engine light",
        "body": "It came on after refuelling.",
        "price_minor": 2500,
    }
    params.update(kw)
    return services.question_ask(**params)[0]


def test_pay_per_question_is_posted_open_with_its_stated_price(world):
    q = ask(world)
    assert q.status == QuestionStatus.OPEN
    assert (q.price_minor, q.currency, q.is_member_question) == (2500, "USD", False)
    assert q.posted_at is not None
    assert list(QuestionEvent.objects.filter(question=q).values_list("to_status", flat=True)) == [
        "intake",
        "open",
    ]


def test_member_question_is_covered_by_membership(world):
    q = ask(world, customer=world.member, price_minor=None)
    assert q.is_member_question is True
    assert q.price_minor == 0
    assert q.price_display == "Membership"


@pytest.mark.parametrize("price", [499, 20_001, None])
def test_price_outside_the_category_bounds_is_refused_and_nothing_is_saved(world, price):
    with pytest.raises(InvalidInput) as err:
        ask(world, price_minor=price)
    assert "$5.00" in err.value.message or "State the price" in err.value.message
    assert Question.objects.count() == 0


@pytest.mark.parametrize("field", ["title", "body"])
def test_empty_title_or_body_is_refused(world, field):
    with pytest.raises(InvalidInput, match="cannot be empty"):
        ask(world, **{field: "   "})
    assert Question.objects.count() == 0


def test_an_expert_cannot_ask_with_the_expert_account(world):
    with pytest.raises(Forbidden):
        ask(world, customer=world.expert)


def test_experts_of_the_category_are_notified_and_emailed(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        q = ask(world)
    world.expert.refresh_from_db()
    world.same_category_expert.refresh_from_db()
    world.other_category_expert.refresh_from_db()
    assert world.expert.unread_notifications == 1
    assert world.same_category_expert.unread_notifications == 1
    assert world.other_category_expert.unread_notifications == 0
    recipients = sorted(m.to[0] for m in mail.outbox if "question:" in m.subject)
    assert recipients == sorted([world.expert.email, world.same_category_expert.email])
    assert q.title in mail.outbox[0].subject
    assert "/notifications/unsubscribe/" in mail.outbox[0].body


@pytest.mark.django_db(transaction=True)  # BEGIN/COMMIT counted as in production
def test_a_paid_post_through_the_api_stays_within_its_query_budget(world, tasks_enqueued, settings):
    """The whole paid post (draft, charge at the local gateway, ledger, post, receipt) over
    the API, as the money benchmark sends it: the statement counts are pinned so they
    cannot silently grow. Ours (issue 3's target is 25, BEGIN and COMMIT included: the
    test runs outside a test transaction, so they are sent as in production) and, apart,
    the local gateway's own storage, which stands in for Stripe's servers (HTTP calls with
    Stripe). The worker's tasks (webhook, emails, the experts' notices) are enqueued, not
    run inline."""
    # Webhooks on, as in the benchmark (the send is enqueued; the recorder keeps it).
    settings.LOCAL_GATEWAY_WEBHOOK_URL = "http://127.0.0.1:9/payments/webhooks/stripe/"
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from payments import ledger
    from payments.models import Payment

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.customer).key}")

    def post(n: int) -> dict:
        payload = {
            "category": "cars",
            "title": f"Noise {n}",
            "body": "It rattles.",
            "price_minor": 2500,
        }
        response = client.post("/api/questions/", payload, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    post(1)  # the first one creates the ledger's accounts
    with charge_statements(tasks_enqueued) as counted:
        body = post(2)
    assert_one_charge_within(counted, QUERIES_PER_PAID_POST)
    assert body["status"] == "open" and body["payment"]["status"] == "succeeded"
    assert (
        Payment.objects.filter(reference=f"question-{body['id']}", status="succeeded").count() == 1
    )
    assert ledger.balance(ledger.clearing("local")) == 2 * 2500


QUERIES_PER_PAID_POST = 21
