"""Offers: send, accept (charged exactly once), decline, withdraw, expire, cannot complete."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.models import ExpertProfile
from payments import ledger
from payments.models import LocalGatewayObject, Payment, PaymentStatus, RefundStatus
from payments.services import PaymentFailed
from premium import services
from premium.models import Offer, OfferEvent, OfferStatus, ServiceTemplate
from questions import services as question_services
from questions.models import Question
from tests.budgets import assert_one_charge_within, charge_statements
from tests.factories import make_category, make_customer, make_expert, make_question, save_card

pytestmark = pytest.mark.django_db


def send(world, question, template, price=4000, description="A call about the noise"):
    return services.offer_send(
        expert=world.expert,
        question_id=question.pk,
        template_id=template.pk,
        price_minor=price,
        description=description,
    )


def test_offer_is_sent_to_the_customer(world, due_question, phone_call):
    offer = send(world, due_question, phone_call)
    assert offer.status == OfferStatus.SENT and offer.price_minor == 4000
    assert world.customer.notifications.filter(kind="offer").count() == 1
    assert OfferEvent.objects.filter(offer=offer, to_status="sent").count() == 1


def test_a_new_service_goes_into_the_experts_catalog(world, due_question):
    offer = services.offer_send(
        expert=world.expert,
        question_id=due_question.pk,
        new_service=services.NewService("Dashboard teardown video", "I film the teardown", 6000),
        price_minor=5500,
        description="I show you where the rattle is",
    )
    template = ServiceTemplate.objects.get(expert=world.expert)
    assert offer.template == template and template.name == "Dashboard teardown video"


@pytest.mark.parametrize(
    "price,description,message",
    [
        (-100, "x", "must be between"),
        (999, "x", "must be between"),
        (50_001, "x", "must be between"),
        (4000, "  ", "Describe what exactly"),
    ],
)
def test_bad_offers_are_refused_and_change_nothing(
    world, due_question, phone_call, price, description, message
):
    with pytest.raises(InvalidInput, match=message):
        send(world, due_question, phone_call, price=price, description=description)
    assert Offer.objects.count() == 0


def test_no_offer_before_it_is_due(world, assigned_question, tool, phone_call):
    question_services.message_post(
        question_id=assigned_question.pk, author=world.customer, body="one"
    )
    question_services.message_post(
        question_id=assigned_question.pk, author=world.customer, body="two"
    )
    with pytest.raises(Conflict, match="from"):
        send(world, assigned_question, phone_call)
    assert Offer.objects.count() == 0


def test_no_second_offer_while_one_is_pending(world, due_question, phone_call):
    send(world, due_question, phone_call)
    with pytest.raises(Conflict, match="already waiting"):
        send(world, due_question, phone_call)


def test_an_expert_without_the_tool_cannot_offer(world, due_question, phone_call):
    ExpertProfile.objects.filter(user=world.expert).update(premium_tool_enabled=False)
    with pytest.raises(Forbidden):
        send(world, due_question, phone_call)


def test_no_offer_on_someone_elses_question(world, due_question, phone_call):
    ExpertProfile.objects.filter(user=world.same_category_expert).update(premium_tool_enabled=True)
    with pytest.raises(NotFound):
        services.offer_send(
            expert=world.same_category_expert,
            question_id=due_question.pk,
            template_id=phone_call.pk,
            price_minor=4000,
            description="x",
        )


def test_accepting_charges_credits_rates_and_opens_the_private_box(world, due_question, phone_call):
    offer = send(world, due_question, phone_call)
    offer, payment = services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert offer.status == OfferStatus.ACCEPTED and payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_minor == 4000 and payment.reference == f"offer-{offer.pk}"
    due_question.refresh_from_db()
    assert (due_question.rating_stars, due_question.rating_automatic) == (5, True)
    # 50% of the $25.00 question and 50% of the $40.00 service.
    assert ledger.expert_balance(world.expert) == 1250 + 2000
    assert due_question.credited_at is not None


@pytest.mark.parametrize("who", ["expert", "other_customer"])
def test_only_the_customer_accepts(world, due_question, phone_call, who):
    offer = send(world, due_question, phone_call)
    with pytest.raises(NotFound):
        services.offer_accept(offer_id=offer.pk, customer=getattr(world, who))
    offer.refresh_from_db()
    assert offer.status == OfferStatus.SENT


def test_accept_twice_charges_once(world, due_question, phone_call):
    offer = send(world, due_question, phone_call)
    services.offer_accept(offer_id=offer.pk, customer=world.customer)
    with pytest.raises(Conflict, match="already accepted"):
        services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert Payment.objects.filter(reference=f"offer-{offer.pk}").count() == 1


@pytest.mark.parametrize("end", ["decline", "withdraw"])
def test_no_accept_after_decline_or_withdrawal(world, due_question, phone_call, end):
    offer = send(world, due_question, phone_call)
    if end == "decline":
        services.offer_decline(offer_id=offer.pk, customer=world.customer, reason="Too expensive")
    else:
        services.offer_withdraw(offer_id=offer.pk, expert=world.expert)
    with pytest.raises(Conflict):
        services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert not Payment.objects.filter(reference=f"offer-{offer.pk}").exists()


def test_a_declined_card_leaves_the_offer_sent_with_the_reason(world, due_question, phone_call):
    offer = send(world, due_question, phone_call)
    save_card(world.customer, "4000000000000341")
    with pytest.raises(PaymentFailed, match="declined"):
        services.offer_accept(offer_id=offer.pk, customer=world.customer)
    offer.refresh_from_db()
    assert offer.status == OfferStatus.SENT and "declined" in offer.charge_failure
    assert ledger.expert_balance(world.expert) == 0


def test_an_authentication_card_waits_then_completes(world, due_question, phone_call, client):
    offer = send(world, due_question, phone_call)
    save_card(world.customer, "4000002760003184")
    offer, payment = services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert offer.status == OfferStatus.ACCEPTING and payment.status == PaymentStatus.REQUIRES_ACTION
    client.force_login(world.customer)
    client.post(payment.next_action_url, {"outcome": "complete"})
    offer = services.offer_payment_sync(offer_id=offer.pk, customer=world.customer)
    assert offer.status == OfferStatus.ACCEPTED


def test_expiry_and_never_while_accepting(world, due_question, phone_call, settings):
    offer = send(world, due_question, phone_call)
    later = timezone.now() + timedelta(hours=settings.EXPERTLINE_OFFER_EXPIRY_HOURS, minutes=1)
    assert services.expiry_sweep(now=later) == 1
    offer.refresh_from_db()
    assert offer.status == OfferStatus.EXPIRED
    # Another offer, being paid when the sweep runs, does not expire.
    for body in ("three", "four"):
        question_services.message_post(
            question_id=due_question.pk, author=world.customer, body=body
        )
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        second = send(world, due_question, phone_call)
        Offer.objects.filter(pk=second.pk).update(status=OfferStatus.ACCEPTING)
        assert services.expiry_sweep(now=later + timedelta(days=9)) == 0
    second.refresh_from_db()
    assert second.status == OfferStatus.ACCEPTING


def test_accept_after_expiry_is_refused(world, due_question, phone_call, settings):
    offer = send(world, due_question, phone_call)
    with (
        time_machine.travel(
            timezone.now() + timedelta(hours=settings.EXPERTLINE_OFFER_EXPIRY_HOURS + 1)
        ),
        pytest.raises(Conflict, match="expired"),
    ):
        services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert not Payment.objects.filter(reference=f"offer-{offer.pk}").exists()


def test_cannot_complete_refunds_in_full_and_tells_everyone(
    world, due_question, phone_call, django_capture_on_commit_callbacks
):
    from marketplace.roles import CUSTOMER_CARE
    from tests.payments.test_refunds import staff

    care = staff(CUSTOMER_CARE)
    offer = send(world, due_question, phone_call)
    services.offer_accept(offer_id=offer.pk, customer=world.customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_cannot_complete(
            offer_id=offer.pk, expert=world.expert, reason="My line is down"
        )
    offer.refresh_from_db()
    assert offer.status == OfferStatus.CANCELLED
    payment = Payment.objects.get(reference=f"offer-{offer.pk}")
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunds.get().status == RefundStatus.SUCCEEDED
    assert ledger.expert_balance(world.expert) == 1250  # the premium credit is reversed
    texts = list(world.customer.notifications.filter(kind="offer").values_list("text", flat=True))
    assert any("My line is down" in t and "refunded in full" in t for t in texts)
    assert care.notifications.filter(kind="offer", text__contains="Cannot complete").exists()


def test_customer_refund_of_the_service_reverses_the_premium_credit(
    world, due_question, phone_call, django_capture_on_commit_callbacks
):
    from marketplace.roles import CUSTOMER_CARE
    from payments import services as payment_services
    from tests.payments.test_refunds import staff

    offer = send(world, due_question, phone_call)
    services.offer_accept(offer_id=offer.pk, customer=world.customer)
    refund = services.offer_refund_request(
        offer_id=offer.pk, customer=world.customer, reason="No call came"
    )
    with django_capture_on_commit_callbacks(execute=True):
        payment_services.refund_approve(refund_id=refund.pk, staff=staff(CUSTOMER_CARE))
    offer.refresh_from_db()
    assert offer.status == OfferStatus.REFUNDED
    assert ledger.expert_balance(world.expert) == 1250


def test_fulfilment_report(world, due_question, phone_call):
    offer = send(world, due_question, phone_call)
    services.offer_accept(offer_id=offer.pk, customer=world.customer)
    with pytest.raises(InvalidInput, match="cannot be completed"):
        services.offer_fulfil(offer_id=offer.pk, expert=world.expert, delivered=False)
    # A phone call is delivered in the browser: one that connected (premium.calls) counts.
    from premium import calls

    token = calls.join_token_issue(offer_id=offer.pk, user=world.customer)
    calls.call_join(offer_id=offer.pk, user=world.customer, token=token)
    calls.call_event(offer_id=offer.pk, user=world.customer, kind="connected")
    report = services.offer_fulfil(
        offer_id=offer.pk, expert=world.expert, delivered=True, notes="20 min"
    )
    offer.refresh_from_db()
    assert offer.status == OfferStatus.FULFILLED and report.delivered


def test_auto_offer_charges_without_credit_or_rating(world, open_question):
    offer = services.auto_offer_create(
        question_id=open_question.pk,
        service_name="Phone call",
        description="Talk to an expert",
        price_minor=4900,
    )
    offer, payment = services.offer_accept(offer_id=offer.pk, customer=world.customer)
    assert offer.status == OfferStatus.ACCEPTED and payment.amount_minor == 4900
    open_question.refresh_from_db()
    assert open_question.rating_stars is None and open_question.credited_at is None
    assert ledger.expert_balance(world.expert) == 0


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_accepts_charge_once():
    assert connection.vendor == "postgresql"
    cat = make_category()
    customer, expert = make_customer(), make_expert(cat)
    ExpertProfile.objects.filter(user=expert).update(premium_tool_enabled=True)
    q = make_question(customer=customer, category=cat)
    question_services.question_pick_up(question_id=q.pk, expert=expert)
    offer = services.auto_offer_create(
        question_id=q.pk, service_name="Call", description="A call", price_minor=3000
    )
    Offer.objects.filter(pk=offer.pk).update(kind="expert", expert=expert)
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def accept():
        try:
            barrier.wait()
            services.offer_accept(offer_id=offer.pk, customer=customer)
            outcomes.append("accepted")
        except Conflict as exc:
            outcomes.append(exc.message)
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("accepted") == 1, outcomes
    assert set(outcomes) - {"accepted"} <= {
        "This offer is already being accepted.",
        "This offer was already accepted.",
    }
    assert Payment.objects.filter(reference=f"offer-{offer.pk}").count() == 1
    assert (
        LocalGatewayObject.objects.filter(
            kind="payment_intent", data__metadata__reference=f"offer-{offer.pk}"
        ).count()
        == 1
    )
    assert Question.objects.get(pk=q.pk).rating_stars == 5
    assert ledger.expert_balance(expert) == 1250 + 1500


@pytest.mark.django_db(transaction=True)  # BEGIN/COMMIT counted as in production
def test_an_accept_through_the_api_stays_within_its_query_budget(
    world, due_question, phone_call, tasks_enqueued, settings
):
    """The whole accept (accepting, the charge at the local gateway, accepted, the automatic
    rating, both credits, the private box, the notifications) over the API, as the money
    benchmark sends it: the statement counts are pinned so they cannot silently grow. Ours
    (issue 5's target is 30, BEGIN and COMMIT included: the test runs outside a test
    transaction, so they are sent as in production) and, apart, the local gateway's own
    storage, which stands in for Stripe's servers (HTTP calls with Stripe). The worker's
    tasks (webhook, emails) are enqueued, not run inline."""
    # Webhooks on, as in the benchmark (the send is enqueued; the recorder keeps it).
    settings.LOCAL_GATEWAY_WEBHOOK_URL = "http://127.0.0.1:9/payments/webhooks/stripe/"
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from privacy.models import PrivateBox

    warm = send(world, due_question, phone_call)
    services.offer_accept(offer_id=warm.pk, customer=world.customer)  # creates the accounts
    question = make_question(customer=world.customer, category=world.category)
    question_services.question_pick_up(question_id=question.pk, expert=world.expert)
    for body in ("It rattles", "Only over bumps"):
        question_services.message_post(question_id=question.pk, author=world.customer, body=body)
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        offer = send(world, question, phone_call)
        client = APIClient()
        token = Token.objects.create(user=world.customer).key
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        with charge_statements(tasks_enqueued) as counted:
            response = client.post(f"/api/offers/{offer.pk}/accept/")
    assert_one_charge_within(counted, QUERIES_PER_ACCEPT)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "accepted" and body["payment"]["status"] == "succeeded"
    question.refresh_from_db()
    assert (question.rating_stars, question.rating_automatic) == (5, True)
    assert question.credited_at is not None
    assert PrivateBox.objects.filter(question=question).exists()
    assert ledger.expert_balance(world.expert) == 2 * (1250 + 2000)


QUERIES_PER_ACCEPT = 23
