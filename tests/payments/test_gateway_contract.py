"""The gateway contract: what payments.services may rely on, whichever gateway runs.

Each contract case runs on the local gateway and on StripeGateway over HTTP to
localstripe. Where localstripe falls short of Stripe, the case is a strict xfail
("localstripe: ..."): it fails loudly the day localstripe starts to behave, and
our own rows (unique keys, refund checks) must carry the guarantee meanwhile.
The local-only tests below them cover the authentication page, events and their
delivery, and concurrent confirmation against PostgreSQL.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.gateway import get_gateway
from payments.gateway.base import (
    CardDeclined,
    Gateway,
    GatewayError,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidSignature,
)
from payments.gateway.local import LocalGateway, local_gateway_send_webhook, statements_counted
from payments.gateway.stripe_gateway import StripeGateway
from payments.models import GatewayCustomer, LocalGatewayObject, LocalIdempotencyKey
from tests.factories import make_customer

from .conftest import TEST_SECRET_KEY

# The django_db mark (not only the db fixture reached through local_gateway) keeps
# the database open until tests/conftest.py's ledger check has run.
pytestmark = [pytest.mark.urls("tests.payments.urls"), pytest.mark.django_db]

VISA = "4242424242424242"
DECLINE_ON_CHARGE = "4000000000000341"
DECLINE_ON_SAVE = "4000000000000002"
AUTH_ALWAYS = "4000002760003184"
AUTH_ON_SETUP = "4000002500003155"


@dataclass
class GW:
    """A gateway under contract, with what a test needs to look behind it."""

    name: str
    gateway: Gateway
    succeeded_charges: Callable[[str], int]  # customer id -> charges that took money
    refunded: Callable[[str], int]  # intent id -> amount refunded, minor units

    _n = 0

    def key(self, label: str) -> str:
        # localstripe keeps its state for the session: keys stay unique across tests.
        GW._n += 1
        return f"{label}-{time.time_ns()}-{GW._n}"

    def customer(self) -> str:
        return self.gateway.customer_create(
            email="casey@example.com", idempotency_key=self.key("c")
        )

    def card(self, customer_id: str, number: str = VISA) -> str:
        result = self.gateway.card_save_local(
            customer_id=customer_id,
            number=number,
            exp_month=12,
            exp_year=2031,
            cvc="123",
            idempotency_key=self.key("card"),
        )
        assert result.card is not None, result
        return result.card.payment_method_id

    def intent(self, number: str = VISA, amount: int = 2500) -> tuple[str, str]:
        """(customer id, created intent id)."""
        customer = self.customer()
        intent = self.gateway.payment_intent_create(
            amount=amount,
            currency="USD",
            customer_id=customer,
            payment_method_id=self.card(customer, number),
            idempotency_key=self.key("pi"),
        )
        return customer, intent.intent_id

    def paid_intent(self, amount: int = 2500) -> str:
        _, intent_id = self.intent(amount=amount)
        result = self.gateway.payment_intent_confirm(
            intent_id=intent_id, idempotency_key=self.key("confirm")
        )
        assert result.status == "succeeded"
        return intent_id


def _local_succeeded(customer_id: str) -> int:
    intents = LocalGatewayObject.objects.filter(kind="payment_intent", data__customer=customer_id)
    return sum(
        1 for pi in intents for charge in pi.data["charges"] if charge["status"] == "succeeded"
    )


def _local_refunded(intent_id: str) -> int:
    return int(LocalGatewayObject.objects.get(object_id=intent_id).data["amount_refunded"])


def _stripe_client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": url})


@pytest.fixture
def gw(request: pytest.FixtureRequest) -> GW:
    if request.param == "local":
        return GW(
            "local", request.getfixturevalue("local_gateway"), _local_succeeded, _local_refunded
        )
    client = _stripe_client(request.getfixturevalue("localstripe_url"))

    def succeeded(customer_id: str) -> int:
        charges = client.v1.charges.list({"customer": customer_id, "limit": 100})
        return sum(1 for c in charges.data if c.status == "succeeded")

    def refunded(intent_id: str) -> int:
        charge = client.v1.payment_intents.retrieve(intent_id).to_dict()["latest_charge"]
        charge_id = charge["id"] if isinstance(charge, dict) else charge
        return int(client.v1.charges.retrieve(charge_id).amount_refunded)

    return GW("stripe", request.getfixturevalue("stripe_gateway"), succeeded, refunded)


def both(localstripe_falls_short: str = "") -> pytest.MarkDecorator:
    """Run on both gateways; a strict xfail on localstripe where it is not Stripe."""
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"localstripe: {localstripe_falls_short}")]
        if localstripe_falls_short
        else []
    )
    return pytest.mark.parametrize(
        "gw", ["local", pytest.param("stripe", marks=marks)], indirect=True
    )


# --- customers and cards -------------------------------------------------------


@both()
def test_customer_create_returns_a_customer_id(gw: GW) -> None:
    assert gw.customer().startswith("cus_")


@both()
def test_card_4242_saves_with_brand_and_last4_only(gw: GW) -> None:
    result = gw.gateway.card_save_local(
        customer_id=gw.customer(),
        number="4242 4242 4242 4242",
        exp_month=12,
        exp_year=2031,
        cvc="123",
        idempotency_key=gw.key("card"),
    )
    assert result.status == "succeeded"
    assert result.card is not None
    assert (result.card.brand, result.card.last4) == ("visa", "4242")
    if gw.name == "local":  # Stripe's test PaymentMethods carry their own expiry
        assert (result.card.exp_month, result.card.exp_year) == (12, 2031)
    assert result.card.payment_method_id.startswith("pm_")
    assert VISA not in repr(result)


@both()
def test_card_0002_is_declined_when_saved(gw: GW) -> None:
    with pytest.raises(CardDeclined) as exc:
        gw.card(gw.customer(), DECLINE_ON_SAVE)
    assert exc.value.message == "Your card was declined."
    assert exc.value.code == "card_declined"


@both()
def test_card_3155_asks_for_authentication_when_saved(gw: GW) -> None:
    result = gw.gateway.card_save_local(
        customer_id=gw.customer(),
        number=AUTH_ON_SETUP,
        exp_month=12,
        exp_year=2031,
        cvc="123",
        idempotency_key=gw.key("card"),
    )
    assert result.status == "requires_action"
    assert result.card is None
    assert result.setup_intent_id.startswith("seti_")


@both()
@pytest.mark.parametrize(
    ("number", "exp_year", "cvc", "code", "message"),
    [
        ("4242424242424241", 2031, "123", "incorrect_number", "Your card number is incorrect."),
        ("4242 4242", 2031, "123", "incorrect_number", "Your card number is incorrect."),
        (VISA, 2020, "123", "expired_card", "Your card has expired."),
        (VISA, 2031, "12", "incorrect_cvc", "Your card's security code is incorrect."),
        (VISA, 2031, "12a", "incorrect_cvc", "Your card's security code is incorrect."),
    ],
)
def test_invalid_card_data_is_refused_with_stripes_message(
    gw: GW, number: str, exp_year: int, cvc: str, code: str, message: str
) -> None:
    with pytest.raises(GatewayError) as exc:
        gw.gateway.card_save_local(
            customer_id=gw.customer(),
            number=number,
            exp_month=12,
            exp_year=exp_year,
            cvc=cvc,
            idempotency_key=gw.key("card"),
        )
    assert (exc.value.code, exc.value.message) == (code, message)


# --- charges ---------------------------------------------------------------------


@both()
def test_charge_on_4242_succeeds_and_keeps_its_intent_id(gw: GW) -> None:
    customer, intent_id = gw.intent(amount=2500)
    created = gw.gateway.payment_intent_retrieve(intent_id=intent_id)
    assert created.status == "requires_confirmation"
    assert created.client_secret

    result = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    assert result.intent_id == intent_id
    assert (result.status, result.amount, result.currency) == ("succeeded", 2500, "USD")
    assert (result.failure_code, result.failure_message) == ("", "")
    assert gw.gateway.payment_intent_retrieve(intent_id=intent_id) == result
    assert gw.succeeded_charges(customer) == 1


@both()
def test_card_0341_saves_but_its_charge_is_declined(gw: GW) -> None:
    customer, intent_id = gw.intent(DECLINE_ON_CHARGE)

    result = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    assert result.status == "requires_payment_method"
    assert result.failure_code == "card_declined"
    assert result.failure_message == "Your card was declined."
    assert gw.succeeded_charges(customer) == 0


@both()
def test_confirming_a_declined_intent_again_is_declined_again(gw: GW) -> None:
    customer, intent_id = gw.intent(DECLINE_ON_CHARGE)
    gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    again = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    assert (again.status, again.failure_code) == ("requires_payment_method", "card_declined")
    assert gw.succeeded_charges(customer) == 0


@both()
def test_card_3184_charge_requires_authentication(gw: GW) -> None:
    customer, intent_id = gw.intent(AUTH_ALWAYS)

    result = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    assert result.status == "requires_action"
    assert result.client_secret
    assert gw.succeeded_charges(customer) == 0


# --- idempotency -----------------------------------------------------------------


@both()
def test_confirm_twice_with_the_same_key_charges_once(gw: GW) -> None:
    customer, intent_id = gw.intent()
    key = gw.key("cf")

    first = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=key)
    second = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=key)

    assert first == second
    assert first.status == "succeeded"
    assert gw.succeeded_charges(customer) == 1


@both()
def test_confirming_a_paid_intent_with_another_key_does_not_charge_again(gw: GW) -> None:
    customer, intent_id = gw.intent()
    first = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    again = gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    assert again == first
    assert gw.succeeded_charges(customer) == 1


@both(localstripe_falls_short="idempotency keys are ignored (a second intent is created)")
def test_create_twice_with_the_same_key_returns_the_same_intent(gw: GW) -> None:
    customer = gw.customer()
    pm = gw.card(customer)
    key = gw.key("pi")
    kwargs: dict[str, Any] = dict(
        amount=2500, currency="USD", customer_id=customer, payment_method_id=pm
    )

    first = gw.gateway.payment_intent_create(**kwargs, idempotency_key=key)
    second = gw.gateway.payment_intent_create(**kwargs, idempotency_key=key)

    assert second.intent_id == first.intent_id


@both(localstripe_falls_short="idempotency keys are ignored (no 400 idempotency_error)")
def test_the_same_key_with_other_parameters_is_a_conflict(gw: GW) -> None:
    customer = gw.customer()
    pm = gw.card(customer)
    key = gw.key("pi")
    gw.gateway.payment_intent_create(
        amount=2500, currency="USD", customer_id=customer, payment_method_id=pm, idempotency_key=key
    )

    with pytest.raises(IdempotencyConflict):
        gw.gateway.payment_intent_create(
            amount=9900,
            currency="USD",
            customer_id=customer,
            payment_method_id=pm,
            idempotency_key=key,
        )


# --- refunds ---------------------------------------------------------------------


@both()
def test_full_refund_refunds_the_amount(gw: GW) -> None:
    intent_id = gw.paid_intent(amount=2500)

    refund = gw.gateway.refund_create(intent_id=intent_id, amount=2500, idempotency_key=gw.key("r"))

    assert refund.refund_id.startswith("re_")
    assert (refund.status, refund.amount) == ("succeeded", 2500)
    assert gw.refunded(intent_id) == 2500


@both(localstripe_falls_short="refunds are not limited to the captured amount")
def test_refund_of_more_than_captured_is_refused(gw: GW) -> None:
    intent_id = gw.paid_intent(amount=2500)

    with pytest.raises(GatewayError) as exc:
        gw.gateway.refund_create(intent_id=intent_id, amount=2501, idempotency_key=gw.key("r"))

    assert exc.value.code == "amount_too_large"
    assert gw.refunded(intent_id) == 0


@both(localstripe_falls_short="a refund after a partial one may exceed what remains")
def test_refund_beyond_what_remains_after_a_partial_refund_is_refused(gw: GW) -> None:
    intent_id = gw.paid_intent(amount=2500)
    gw.gateway.refund_create(intent_id=intent_id, amount=1000, idempotency_key=gw.key("r"))

    with pytest.raises(GatewayError) as exc:
        gw.gateway.refund_create(intent_id=intent_id, amount=2500, idempotency_key=gw.key("r"))

    assert exc.value.code == "amount_too_large"
    assert gw.refunded(intent_id) == 1000


@both(localstripe_falls_short="idempotency keys are ignored (the refund happens twice)")
def test_refund_twice_with_the_same_key_refunds_once(gw: GW) -> None:
    intent_id = gw.paid_intent(amount=2500)
    key = gw.key("r")

    first = gw.gateway.refund_create(intent_id=intent_id, amount=1000, idempotency_key=key)
    second = gw.gateway.refund_create(intent_id=intent_id, amount=1000, idempotency_key=key)

    assert second == first
    assert gw.refunded(intent_id) == 1000


@both()
def test_refund_of_a_declined_payment_is_refused(gw: GW) -> None:
    _, intent_id = gw.intent(DECLINE_ON_CHARGE)
    gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key=gw.key("cf"))

    with pytest.raises(GatewayError):
        gw.gateway.refund_create(intent_id=intent_id, amount=2500, idempotency_key=gw.key("r"))


# --- webhook signatures ------------------------------------------------------------

EVENT = {
    "id": "evt_contract_1",
    "object": "event",
    "type": "payment_intent.succeeded",
    "created": 1_700_000_000,
    "data": {"object": {"id": "pi_123", "object": "payment_intent", "currency": "usd"}},
}


def _signed(secret: str, *, age: int = 0) -> tuple[bytes, str]:
    payload = json.dumps(EVENT)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=int(time.time()) - age
    )
    return payload.encode(), header


@both()
def test_a_signed_event_parses(gw: GW, settings: Any) -> None:
    payload, header = _signed(settings.STRIPE_WEBHOOK_SECRET)

    event = gw.gateway.webhook_event(payload=payload, signature=header)

    assert (event.id, event.type, event.created) == (
        "evt_contract_1",
        "payment_intent.succeeded",
        1_700_000_000,
    )
    assert event.data["id"] == "pi_123"
    assert event.data["currency"] == "USD"


@both()
@pytest.mark.parametrize(
    "tampering", ["body", "wrong secret", "stale", "no header", "garbled header"]
)
def test_an_event_that_is_not_signed_by_us_is_refused(
    gw: GW, settings: Any, tampering: str
) -> None:
    secret = settings.STRIPE_WEBHOOK_SECRET
    payload, header = _signed(secret)
    if tampering == "body":
        payload = payload.replace(b"pi_123", b"pi_999")
    elif tampering == "wrong secret":
        payload, header = _signed("whsec_somebody_else")
    elif tampering == "stale":
        payload, header = _signed(secret, age=301)
    elif tampering == "no header":
        header = ""
    else:
        header = "t=abc,v1=zzz"

    with pytest.raises(InvalidSignature):
        gw.gateway.webhook_event(payload=payload, signature=header)


# --- choosing the gateway ------------------------------------------------------------


def test_get_gateway_follows_the_settings_and_caches(settings: Any) -> None:
    settings.PAYMENTS_GATEWAY = "local"
    assert isinstance(get_gateway(), LocalGateway)
    assert get_gateway() is get_gateway()

    settings.PAYMENTS_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_one"
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    one = get_gateway()
    assert isinstance(one, StripeGateway)
    assert get_gateway() is one
    settings.STRIPE_SECRET_KEY = "sk_test_two"
    assert get_gateway() is not one


def test_stripe_refuses_card_numbers_outside_test_mode() -> None:
    gateway = StripeGateway(secret_key="sk_live_x", api_base="http://127.0.0.1:9")
    with pytest.raises(GatewayError):
        gateway.card_save_local(
            customer_id="cus_1",
            number=VISA,
            exp_month=12,
            exp_year=2031,
            cvc="123",
            idempotency_key="card-setup-1",
        )


def test_stripe_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = StripeGateway(
        secret_key=TEST_SECRET_KEY, api_base=f"http://127.0.0.1:{port}", max_network_retries=0
    )
    with pytest.raises(GatewayUnavailable):
        gateway.customer_create(email="a@example.com", idempotency_key="customer-1")


# --- the local gateway only --------------------------------------------------------


@pytest.fixture
def local(local_gateway: Gateway) -> LocalGateway:
    assert isinstance(local_gateway, LocalGateway)
    return local_gateway


@pytest.fixture
def local_gw(local_gateway: Gateway) -> GW:
    return GW("local", local_gateway, _local_succeeded, _local_refunded)


def test_local_gateway_never_stores_the_card_number_or_cvc(local_gw: GW) -> None:
    customer = local_gw.customer()
    local_gw.gateway.card_save_local(
        customer_id=customer,
        number=VISA,
        exp_month=12,
        exp_year=2031,
        cvc="987",
        idempotency_key="card-setup-1",
    )
    local_gw.gateway.card_save_local(
        customer_id=customer,
        number=DECLINE_ON_CHARGE,
        exp_month=12,
        exp_year=2031,
        cvc="987",
        idempotency_key="card-setup-2",
    )

    stored = json.dumps(
        [list(LocalGatewayObject.objects.values()), list(LocalIdempotencyKey.objects.values())],
        default=str,
    )
    assert "4242424242" not in stored and "0000000341" not in stored
    assert '"987"' not in stored and "cvc" not in stored  # (random hex ids may hold 987)
    assert '"last4": "4242"' in stored


def test_local_card_saved_again_with_its_key_answers_the_first_result(local_gw: GW) -> None:
    customer = local_gw.customer()
    kwargs: dict[str, Any] = dict(customer_id=customer, exp_month=12, exp_year=2031, cvc="123")
    first = local_gw.gateway.card_save_local(**kwargs, number=VISA, idempotency_key="card-setup-1")

    assert (
        local_gw.gateway.card_save_local(**kwargs, number=VISA, idempotency_key="card-setup-1")
        == first
    )
    with pytest.raises(IdempotencyConflict):
        local_gw.gateway.card_save_local(
            **kwargs, number=DECLINE_ON_CHARGE, idempotency_key="card-setup-1"
        )
    # A decline is an answer too: the same key declines again.
    with pytest.raises(CardDeclined):
        local_gw.gateway.card_save_local(**kwargs, number=DECLINE_ON_SAVE, idempotency_key="k2")
    with pytest.raises(CardDeclined):
        local_gw.gateway.card_save_local(**kwargs, number=DECLINE_ON_SAVE, idempotency_key="k2")


def test_local_3184_charge_points_to_the_authentication_page(
    local_gw: GW, local: LocalGateway
) -> None:
    _, intent_id = local_gw.intent(AUTH_ALWAYS)

    result = local.payment_intent_confirm(
        intent_id=intent_id, idempotency_key="payment-1", return_url="/questions/7/"
    )

    page = reverse("local_gateway_authenticate", args=[intent_id])
    assert result.next_action_url == f"{page}?return_url=%2Fquestions%2F7%2F"


def _logged_in_client(url: str = "") -> Client:
    """A logged-in customer: the one who owns the intent or set-up named in `url`, if any."""
    object_id = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1] if url else ""
    owner = LocalGatewayObject.objects.filter(object_id=object_id).first()
    customer_id = owner.data.get("customer") if owner is not None else None
    known = GatewayCustomer.objects.filter(customer_id=customer_id).first() if customer_id else None
    if known is not None:
        user = known.user
    else:
        user = make_customer(card=None)
        if customer_id:
            GatewayCustomer.objects.create(user=user, gateway="local", customer_id=customer_id)
    client = Client()
    client.force_login(user)
    return client


def test_authentication_page_refuses_another_customer(local_gw: GW) -> None:
    _, intent_id = local_gw.intent(AUTH_ALWAYS, amount=2500)
    url = local_gw.gateway.payment_intent_confirm(
        intent_id=intent_id, idempotency_key="payment-1"
    ).next_action_url
    stranger = _logged_in_client()
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, {"outcome": "complete"}).status_code == 404
    assert local_gw.gateway.payment_intent_retrieve(intent_id=intent_id).status == "requires_action"


def test_authentication_page_shows_the_amount_and_both_choices(local_gw: GW) -> None:
    _, intent_id = local_gw.intent(AUTH_ALWAYS, amount=2500)
    url = local_gw.gateway.payment_intent_confirm(
        intent_id=intent_id, idempotency_key="payment-1"
    ).next_action_url

    response = _logged_in_client(url).get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert "$25.00" in page
    assert "Complete authentication" in page and "Fail authentication" in page
    assert "ending in 3184" in page


def test_authentication_completed_pays_and_returns_to_the_site(
    local_gw: GW, local: LocalGateway
) -> None:
    customer, intent_id = local_gw.intent(AUTH_ALWAYS)
    url = local_gw.gateway.payment_intent_confirm(
        intent_id=intent_id, idempotency_key="p-1"
    ).next_action_url

    response = _logged_in_client(url).post(
        url, {"outcome": "complete", "return_url": "/questions/7/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/questions/7/"
    assert local.payment_intent_retrieve(intent_id=intent_id).status == "succeeded"
    assert local_gw.succeeded_charges(customer) == 1
    [(payload, _)] = local.events("payment_intent.succeeded")
    assert json.loads(payload)["data"]["object"]["id"] == intent_id


def test_authentication_failed_leaves_the_payment_unpaid(local_gw: GW, local: LocalGateway) -> None:
    customer, intent_id = local_gw.intent(AUTH_ALWAYS)
    url = local_gw.gateway.payment_intent_confirm(
        intent_id=intent_id, idempotency_key="p-1"
    ).next_action_url

    response = _logged_in_client(url).post(url, {"outcome": "fail"})

    assert response["Location"] == "/"
    result = local.payment_intent_retrieve(intent_id=intent_id)
    assert result.status == "requires_payment_method"
    assert result.failure_message == "Authentication failed. Please try another card."
    assert local_gw.succeeded_charges(customer) == 0
    assert len(local.events("payment_intent.payment_failed")) == 1


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_authentication_never_redirects_off_site(local_gw: GW, target: str) -> None:
    _, intent_id = local_gw.intent(AUTH_ALWAYS)
    url = local_gw.gateway.payment_intent_confirm(
        intent_id=intent_id, idempotency_key="p-1"
    ).next_action_url

    response = _logged_in_client(url).post(url, {"outcome": "complete", "return_url": target})

    assert response["Location"] == "/"


def test_authentication_page_needs_login_and_a_known_intent(local_gw: GW) -> None:
    _, intent_id = local_gw.intent(AUTH_ALWAYS)
    url = reverse("local_gateway_authenticate", args=[intent_id])

    assert Client().get(url).status_code == 302  # to the login page
    unknown = reverse("local_gateway_authenticate", args=["pi_local_nope"])
    assert _logged_in_client().get(unknown).status_code == 404


def test_card_3155_authenticated_at_setup_then_charges_succeed(
    local_gw: GW, local: LocalGateway
) -> None:
    customer = local_gw.customer()
    setup = local.card_save_local(
        customer_id=customer,
        number=AUTH_ON_SETUP,
        exp_month=12,
        exp_year=2031,
        cvc="123",
        idempotency_key="card-setup-1",
    )
    url = reverse("local_gateway_authenticate", args=[setup.setup_intent_id])
    assert (
        "saving your Visa card ending in 3155" in _logged_in_client(url).get(url).content.decode()
    )

    _logged_in_client(url).post(url, {"outcome": "complete"})

    saved = local.setup_intent_retrieve(setup_intent_id=setup.setup_intent_id)
    assert saved.status == "succeeded" and saved.card is not None
    intent = local.payment_intent_create(
        amount=1500,
        currency="USD",
        customer_id=customer,
        payment_method_id=saved.card.payment_method_id,
        idempotency_key="payment-1",
    )
    paid = local.payment_intent_confirm(intent_id=intent.intent_id, idempotency_key="payment-1-c")
    assert paid.status == "succeeded"


def test_events_are_recorded_signed_and_shaped_like_stripes(
    local_gw: GW, local: LocalGateway, settings: Any
) -> None:
    intent_id = local_gw.paid_intent(amount=2500)
    local.refund_create(intent_id=intent_id, amount=1000, idempotency_key="refund-1")

    events = local.events()

    assert [json.loads(p)["type"] for p, _ in events] == [
        "payment_intent.succeeded",
        "charge.refunded",
    ]
    for payload, header in events:
        # Stripe's own verifier accepts them, and so does the gateway.
        stripe.Webhook.construct_event(payload, header, settings.STRIPE_WEBHOOK_SECRET)
        local.webhook_event(payload=payload, signature=header)
    refunded = local.webhook_event(payload=events[1][0], signature=events[1][1])
    assert refunded.id.startswith("evt_local_")
    assert refunded.data["payment_intent"] == intent_id
    assert refunded.data["amount_refunded"] == 1000
    assert refunded.data["currency"] == "USD"


def test_dispute_simulation_sends_created_then_closed(local_gw: GW, local: LocalGateway) -> None:
    intent_id = local_gw.paid_intent(amount=2500)

    dispute_id = local.simulate_dispute(intent_id=intent_id)
    local.simulate_dispute_close(dispute_id=dispute_id, won=False)

    [(created, _)] = local.events("charge.dispute.created")
    [(closed, _)] = local.events("charge.dispute.closed")
    assert json.loads(created)["data"]["object"] == {
        "id": dispute_id,
        "object": "dispute",
        "payment_intent": intent_id,
        "charge": json.loads(created)["data"]["object"]["charge"],
        "amount": 2500,
        "currency": "usd",
        "reason": "fraudulent",
        "status": "needs_response",
        "livemode": False,
    }
    assert json.loads(closed)["data"]["object"]["status"] == "lost"
    with pytest.raises(GatewayError):  # a disputed charge cannot be refunded meanwhile
        local.refund_create(intent_id=intent_id, amount=2500, idempotency_key="refund-1")


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get("Stripe-Signature", "")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    received: list[tuple[bytes, str]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe/", received
    finally:
        server.shutdown()
        server.server_close()


def test_events_are_posted_signed_after_commit(
    local_gw: GW,
    local: LocalGateway,
    settings: Any,
    webhook_receiver: tuple[str, list[tuple[bytes, str]]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    url, received = webhook_receiver
    settings.LOCAL_GATEWAY_WEBHOOK_URL = url
    _, intent_id = local_gw.intent()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        local.payment_intent_confirm(intent_id=intent_id, idempotency_key="payment-1")

    assert len(callbacks) == 1
    [(body, header)] = received
    assert body == local.events()[0][0]
    event = stripe.Webhook.construct_event(body, header, settings.STRIPE_WEBHOOK_SECRET)
    assert event.type == "payment_intent.succeeded"


def test_the_webhook_task_posts_the_stored_event(
    local_gw: GW,
    local: LocalGateway,
    settings: Any,
    webhook_receiver: tuple[str, list[tuple[bytes, str]]],
) -> None:
    local_gw.paid_intent()
    event_id = json.loads(local.events()[0][0])["id"]
    url, received = webhook_receiver
    settings.LOCAL_GATEWAY_WEBHOOK_URL = url

    local_gateway_send_webhook(event_id)

    [(body, header)] = received
    assert json.loads(body)["id"] == event_id
    assert local.webhook_event(payload=body, signature=header).id == event_id


def test_no_webhook_is_sent_without_an_address(
    local_gw: GW, local: LocalGateway, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LOCAL_GATEWAY_WEBHOOK_URL = ""
    _, intent_id = local_gw.intent()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        local.payment_intent_confirm(intent_id=intent_id, idempotency_key="payment-1")

    assert callbacks == []
    assert len(local.events()) == 1  # recorded all the same


def test_a_repeated_confirm_key_writes_and_posts_nothing_again(
    local_gw: GW, local: LocalGateway, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A declined intent is charged again when confirmed again; with the same key, the
    request answers the first decline and neither records nor posts a second attempt."""
    settings.LOCAL_GATEWAY_WEBHOOK_URL = "http://127.0.0.1:9/webhooks/stripe/"
    _, intent_id = local_gw.intent(DECLINE_ON_CHARGE)

    with django_capture_on_commit_callbacks() as first:
        declined = local.payment_intent_confirm(intent_id=intent_id, idempotency_key="payment-1")
    with django_capture_on_commit_callbacks() as again:
        repeated = local.payment_intent_confirm(intent_id=intent_id, idempotency_key="payment-1")

    assert repeated == declined and declined.failure_code == "card_declined"
    assert len(first) == 1
    assert again == []
    assert len(LocalGatewayObject.objects.get(object_id=intent_id).data["charges"]) == 1
    assert len(local.events("payment_intent.payment_failed")) == 1


# --- statements (PostgreSQL) ---------------------------------------------------------

# A charge at the local gateway, BEGIN and COMMIT included: the create reads the customer
# and card, then claims its key and inserts the intent in one statement; the confirm
# locks the intent and card, then claims its key, updates the intent and inserts the
# event in one statement, in a transaction (BEGIN, 2 statements, COMMIT).
LOCAL_STATEMENTS_PER_CHARGE = 6


@pytest.mark.django_db(transaction=True)
def test_a_local_charge_takes_six_statements_on_postgresql(settings: Any) -> None:
    assert connection.vendor == "postgresql", "the one-statement writes are PostgreSQL's"
    settings.PAYMENTS_GATEWAY = "local"
    gateway = get_gateway()
    assert isinstance(gateway, LocalGateway)
    gw = GW("local", gateway, _local_succeeded, _local_refunded)
    customer = gw.customer()
    pm = gw.card(customer)

    with CaptureQueriesContext(connection) as captured, statements_counted() as counted:
        intent = gateway.payment_intent_create(
            amount=2500,
            currency="USD",
            customer_id=customer,
            payment_method_id=pm,
            idempotency_key="payment-1",
        )
        paid = gateway.payment_intent_confirm(
            intent_id=intent.intent_id, idempotency_key="payment-1-confirm"
        )

    statements = "\n".join(q["sql"][:120] for q in captured.captured_queries)
    assert paid.status == "succeeded"
    assert _local_succeeded(customer) == 1
    assert len(gateway.events("payment_intent.succeeded")) == 1
    assert counted.statements == len(captured) == LOCAL_STATEMENTS_PER_CHARGE, statements


# --- concurrency (PostgreSQL) --------------------------------------------------------


def _race(n: int, work: Callable[[int], Any]) -> tuple[list[Any], list[str]]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[str] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results.append(work(i))
        except Exception as exc:  # any outcome but a result is a bug
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("keys", ["one key", "a key each"])
def test_ten_threads_confirming_one_intent_charge_it_once(
    settings: Any, keys: str, webhook_receiver: tuple[str, list[tuple[bytes, str]]]
) -> None:
    assert connection.vendor == "postgresql", "select_for_update needs PostgreSQL to be tested"
    settings.PAYMENTS_GATEWAY = "local"
    url, received = webhook_receiver
    settings.LOCAL_GATEWAY_WEBHOOK_URL = url
    gateway = get_gateway()
    assert isinstance(gateway, LocalGateway)
    gw = GW("local", gateway, _local_succeeded, _local_refunded)
    customer, intent_id = gw.intent()

    results, errors = _race(
        10,
        lambda i: gateway.payment_intent_confirm(
            intent_id=intent_id,
            idempotency_key="payment-1-confirm" if keys == "one key" else f"payment-1-confirm-{i}",
        ),
    )

    assert errors == []
    assert len(results) == 10 and all(r.status == "succeeded" for r in results)
    assert _local_succeeded(customer) == 1
    assert len(gateway.events("payment_intent.succeeded")) == 1
    # Posted once committed, by the one request that charged (eager tasks in tests).
    assert [json.loads(body)["type"] for body, _ in received] == ["payment_intent.succeeded"]


@pytest.mark.django_db(transaction=True)
def test_ten_threads_creating_with_one_key_get_one_intent(settings: Any) -> None:
    settings.PAYMENTS_GATEWAY = "local"
    gateway = get_gateway()
    gw = GW("local", gateway, _local_succeeded, _local_refunded)
    customer = gw.customer()
    pm = gw.card(customer)

    results, errors = _race(
        10,
        lambda i: gateway.payment_intent_create(
            amount=2500,
            currency="USD",
            customer_id=customer,
            payment_method_id=pm,
            idempotency_key="payment-1",
        ),
    )

    assert errors == []
    assert len(results) == 10 and len(set(results)) == 1  # one answer, the first one
    assert LocalGatewayObject.objects.filter(kind="payment_intent").count() == 1
    key = LocalIdempotencyKey.objects.get(key="payment-1")
    assert key.response["result"]["intent_id"] == results[0].intent_id


@pytest.mark.django_db(transaction=True)
def test_ten_threads_refunding_with_one_key_refund_once(
    settings: Any, webhook_receiver: tuple[str, list[tuple[bytes, str]]]
) -> None:
    settings.PAYMENTS_GATEWAY = "local"
    gateway = get_gateway()
    gw = GW("local", gateway, _local_succeeded, _local_refunded)
    intent_id = gw.paid_intent()
    url, received = webhook_receiver
    settings.LOCAL_GATEWAY_WEBHOOK_URL = url

    results, errors = _race(
        10,
        lambda i: gateway.refund_create(intent_id=intent_id, amount=1000, idempotency_key="re-1"),
    )

    assert errors == []
    assert len(results) == 10 and len(set(results)) == 1
    assert LocalGatewayObject.objects.filter(kind="refund").count() == 1
    assert _local_refunded(intent_id) == 1000
    assert [json.loads(body)["type"] for body, _ in received] == ["charge.refunded"]


def test_local_repeated_keys_leave_no_trace_of_the_repeated_work(local_gw: GW) -> None:
    """The local gateway runs a call's work before it claims the key: a repeated key rolls
    that work back, so an admin sees one intent, one charge, one event, one refund."""
    customer, intent_id = local_gw.intent()
    pi = LocalGatewayObject.objects.get(object_id=intent_id)
    kwargs: dict[str, Any] = dict(
        amount=pi.data["amount"],
        currency=pi.data["currency"],
        customer_id=customer,
        payment_method_id=pi.data["payment_method"],
        description=pi.data["description"],
        metadata=pi.data["metadata"],
    )
    create_key = LocalIdempotencyKey.objects.get(response__result__intent_id=intent_id).key
    again = local_gw.gateway.payment_intent_create(**kwargs, idempotency_key=create_key)
    for _ in range(2):
        local_gw.gateway.payment_intent_confirm(intent_id=intent_id, idempotency_key="cf-1")
    for _ in range(2):
        local_gw.gateway.refund_create(intent_id=intent_id, amount=1000, idempotency_key="re-1")

    assert again.intent_id == intent_id
    objects = LocalGatewayObject.objects.filter(data__customer=customer)
    assert objects.filter(kind="payment_intent").count() == 1
    assert local_gw.succeeded_charges(customer) == 1
    assert (
        LocalGatewayObject.objects.filter(kind="refund", data__payment_intent=intent_id).count()
        == 1
    )
    assert local_gw.refunded(intent_id) == 1000
    assert (
        LocalGatewayObject.objects.filter(
            kind="event", data__type="payment_intent.succeeded"
        ).count()
        == 1
    )
