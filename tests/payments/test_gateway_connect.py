"""The gateway contract for Connect: experts' payout accounts and transfers to them.

Each case runs on the local gateway and on StripeGateway over HTTP to localstripe, like
test_gateway_contract.py. localstripe has no Connect at all (accounts and transfers answer
404), so every Stripe case is a strict xfail: it fails loudly the day localstripe learns
Connect. Meanwhile a fake Stripe server below checks what StripeGateway sends (Express
accounts, onboarding links, transfers with their idempotency key and group) and how it
reads Stripe's answers, and our own rows carry the exactly-once guarantee
(tests/payments/test_payouts.py).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
from django.urls import reverse

from payments.gateway.base import Gateway, GatewayError, IdempotencyConflict
from payments.gateway.local import LocalGateway
from payments.gateway.stripe_gateway import StripeGateway, payout_account_status_of
from payments.models import LocalGatewayObject

from .conftest import TEST_SECRET_KEY

pytestmark = [pytest.mark.urls("tests.payments.urls"), pytest.mark.django_db]

NO_CONNECT = "localstripe: Connect accounts and transfers are 404"


@dataclass
class ConnectGW:
    name: str
    gateway: Gateway
    client: stripe.StripeClient | None = None

    _n = 0

    def key(self, label: str) -> str:
        # localstripe keeps its state for the session: keys stay unique across tests.
        ConnectGW._n += 1
        return f"{label}-{time.time_ns()}-{ConnectGW._n}"

    def account(self) -> str:
        return self.gateway.payout_account_create(
            email="erin@example.com", idempotency_key=self.key("payout-account")
        )

    def onboard(self, account_id: str, *, complete: bool = True) -> None:
        """The expert goes through onboarding (Stripe hosts it: no API completes it)."""
        if isinstance(self.gateway, LocalGateway):
            self.gateway.payout_account_onboard(account_id=account_id, complete=complete)
            return
        raise NotImplementedError("Stripe's Express onboarding is completed by the expert")

    def ready_account(self) -> str:
        account_id = self.account()
        self.onboard(account_id)
        return account_id

    def transferred(self, account_id: str) -> list[int]:
        if self.client is None:
            rows = LocalGatewayObject.objects.filter(kind="transfer", data__destination=account_id)
            return [int(r.data["amount"]) for r in rows.order_by("id")]
        found = self.client.v1.transfers.list({"destination": account_id, "limit": 100})
        return [int(t.amount) for t in reversed(found.data)]

    def transfer(self, account_id: str, amount: int = 2500, key: str = "") -> Any:
        return self.gateway.transfer_create(
            amount=amount,
            currency="USD",
            destination=account_id,
            idempotency_key=key or self.key("payout-line"),
            metadata={"payout_line": "1"},
        )


@pytest.fixture
def gw(request: pytest.FixtureRequest) -> ConnectGW:
    if request.param == "local":
        return ConnectGW("local", request.getfixturevalue("local_gateway"))
    url = request.getfixturevalue("localstripe_url")
    client = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": url})
    return ConnectGW("stripe", request.getfixturevalue("stripe_gateway"), client)


both = pytest.mark.parametrize(
    "gw",
    ["local", pytest.param("stripe", marks=pytest.mark.xfail(strict=True, reason=NO_CONNECT))],
    indirect=True,
)


# --- payout accounts ---------------------------------------------------------------


@both
def test_payout_account_create_returns_an_account_id(gw: ConnectGW) -> None:
    assert gw.account().startswith("acct_")


@both
def test_payout_account_create_twice_with_the_same_key_returns_the_same_account(
    gw: ConnectGW,
) -> None:
    key = gw.key("payout-account")
    first = gw.gateway.payout_account_create(email="erin@example.com", idempotency_key=key)
    again = gw.gateway.payout_account_create(email="erin@example.com", idempotency_key=key)
    assert again == first


@both
def test_a_new_account_is_not_ready_and_says_what_is_missing(gw: ConnectGW) -> None:
    status = gw.gateway.payout_account_status(account_id=gw.account())
    assert status.ready is False
    assert "external_account" in status.missing


@both
def test_the_onboarding_link_leads_to_onboarding_and_back(gw: ConnectGW) -> None:
    account_id = gw.account()
    link = gw.gateway.payout_account_link(
        account_id=account_id,
        return_url="http://testserver/earnings/payout-account/return/",
        refresh_url="http://testserver/earnings/payout-account/refresh/",
    )
    if gw.name == "local":
        page = reverse("local_gateway_payout_onboarding", args=[account_id])
        assert link == page + "?return_url=" + urllib.parse.quote(
            "http://testserver/earnings/payout-account/return/", safe=""
        )
    else:
        assert link.startswith("https://connect.stripe.com/")


@both
def test_onboarding_left_without_a_bank_account_is_not_ready(gw: ConnectGW) -> None:
    account_id = gw.account()
    gw.onboard(account_id, complete=False)
    status = gw.gateway.payout_account_status(account_id=account_id)
    assert (status.ready, status.missing) == (False, ["external_account"])


@both
def test_an_onboarded_account_is_ready(gw: ConnectGW) -> None:
    status = gw.gateway.payout_account_status(account_id=gw.ready_account())
    assert (status.ready, status.missing) == (True, [])


# --- transfers -----------------------------------------------------------------------


@both
def test_transfer_to_a_ready_account_moves_the_amount(gw: ConnectGW) -> None:
    account_id = gw.ready_account()
    result = gw.transfer(account_id, 2500)
    assert result.transfer_id.startswith("tr_")
    assert (result.status, result.amount, result.currency) == ("paid", 2500, "USD")
    assert gw.transferred(account_id) == [2500]


@both
def test_transfer_twice_with_the_same_key_moves_the_money_once(gw: ConnectGW) -> None:
    account_id = gw.ready_account()
    key = gw.key("payout-line")
    first = gw.transfer(account_id, 2500, key)
    again = gw.transfer(account_id, 2500, key)
    assert again == first
    assert gw.transferred(account_id) == [2500]


@both
def test_the_same_transfer_key_with_another_amount_is_a_conflict(gw: ConnectGW) -> None:
    account_id = gw.ready_account()
    key = gw.key("payout-line")
    gw.transfer(account_id, 2500, key)
    with pytest.raises(IdempotencyConflict):
        gw.transfer(account_id, 9900, key)
    assert gw.transferred(account_id) == [2500]


@both
def test_transfer_to_an_account_not_ready_is_refused(gw: ConnectGW) -> None:
    account_id = gw.account()
    gw.onboard(account_id, complete=False)
    with pytest.raises(GatewayError) as exc:
        gw.transfer(account_id)
    assert exc.value.code == "account_not_ready"
    assert "cannot receive transfers" in exc.value.message
    assert gw.transferred(account_id) == []


@both
def test_transfer_find_finds_the_transfer_made_with_a_key(gw: ConnectGW) -> None:
    account_id = gw.ready_account()
    key = gw.key("payout-line")
    made = gw.transfer(account_id, 3100, key)
    assert gw.gateway.transfer_find(idempotency_key=key) == made
    assert gw.gateway.transfer_find(idempotency_key=gw.key("payout-line")) is None


# --- the local gateway only ------------------------------------------------------------


def test_local_transfer_of_nothing_is_refused(local_gateway: Gateway) -> None:
    gw = ConnectGW("local", local_gateway)
    with pytest.raises(GatewayError):
        gw.transfer(gw.ready_account(), 0)


def test_local_refused_transfer_is_not_remembered_under_its_key(local_gateway: Gateway) -> None:
    gw = ConnectGW("local", local_gateway)
    account_id = gw.account()
    with pytest.raises(GatewayError):
        gw.transfer(account_id, 2500, "payout-line-7")
    gw.onboard(account_id)
    assert gw.transfer(account_id, 2500, "payout-line-7").status == "paid"


# --- StripeGateway against a fake Stripe: what it sends, how it reads ------------------


@dataclass
class FakeStripe:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # path -> (status, body) to answer instead of the default
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)


ACCOUNT = {
    "id": "acct_1",
    "object": "account",
    "type": "express",
    "payouts_enabled": True,
    "charges_enabled": False,
    "capabilities": {"transfers": "active"},
    "requirements": {"currently_due": [], "past_due": [], "disabled_reason": None},
}
TRANSFER = {
    "id": "tr_1",
    "object": "transfer",
    "amount": 2500,
    "currency": "usd",
    "destination": "acct_1",
    "transfer_group": "payout-line-7",
    "reversed": False,
}


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path, _, query = self.path.partition("?")
            fake.requests.append(
                {
                    "method": self.command,
                    "path": path,
                    "params": dict(urllib.parse.parse_qsl(body or query)),
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                }
            )
            status, answer = fake.answers.get(path) or {
                "/v1/accounts": (200, {"id": "acct_1", "object": "account"}),
                "/v1/account_links": (
                    200,
                    {"object": "account_link", "url": "https://connect.stripe.com/setup/e/x"},
                ),
                "/v1/accounts/acct_1": (200, ACCOUNT),
                "/v1/transfers": (
                    200,
                    TRANSFER
                    if self.command == "POST"
                    else {"object": "list", "data": [TRANSFER], "has_more": False},
                ),
            }.get(path, (404, {"error": {"type": "invalid_request_error"}}))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _stripe(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(secret_key=TEST_SECRET_KEY, api_base=fake.url, max_network_retries=0)


def test_stripe_creates_an_express_account_able_to_receive_transfers(fake_stripe: FakeStripe):
    account_id = _stripe(fake_stripe).payout_account_create(
        email="erin@example.com", idempotency_key="payout-account-12"
    )
    assert account_id == "acct_1"
    [sent] = fake_stripe.requests
    assert (sent["method"], sent["path"], sent["idempotency_key"]) == (
        "POST",
        "/v1/accounts",
        "payout-account-12",
    )
    assert sent["params"]["type"] == "express"
    assert sent["params"]["email"] == "erin@example.com"
    assert sent["params"]["capabilities[transfers][requested]"] == "true"


def test_stripe_onboarding_link_is_an_account_onboarding_link(fake_stripe: FakeStripe):
    link = _stripe(fake_stripe).payout_account_link(
        account_id="acct_1", return_url="https://x.test/r/", refresh_url="https://x.test/f/"
    )
    assert link == "https://connect.stripe.com/setup/e/x"
    [sent] = fake_stripe.requests
    assert sent["path"] == "/v1/account_links"
    assert sent["params"] == {
        "account": "acct_1",
        "type": "account_onboarding",
        "return_url": "https://x.test/r/",
        "refresh_url": "https://x.test/f/",
    }


def test_stripe_transfer_carries_its_key_as_idempotency_key_and_group(fake_stripe: FakeStripe):
    result = _stripe(fake_stripe).transfer_create(
        amount=2500,
        currency="USD",
        destination="acct_1",
        idempotency_key="payout-line-7",
        metadata={"payout_line": "7"},
    )
    assert (result.transfer_id, result.status, result.amount, result.currency) == (
        "tr_1",
        "paid",
        2500,
        "USD",
    )
    [sent] = fake_stripe.requests
    assert sent["idempotency_key"] == "payout-line-7"
    assert sent["params"] == {
        "amount": "2500",
        "currency": "usd",
        "destination": "acct_1",
        "transfer_group": "payout-line-7",
        "metadata[payout_line]": "7",
    }


def test_stripe_transfer_find_lists_by_group(fake_stripe: FakeStripe):
    found = _stripe(fake_stripe).transfer_find(idempotency_key="payout-line-7")
    assert found is not None and found.transfer_id == "tr_1"
    [sent] = fake_stripe.requests
    assert (sent["method"], sent["path"]) == ("GET", "/v1/transfers")
    assert sent["params"]["transfer_group"] == "payout-line-7"


def test_stripe_refusal_of_an_account_without_the_capability_is_account_not_ready(
    fake_stripe: FakeStripe,
):
    fake_stripe.answers["/v1/transfers"] = (
        400,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "insufficient_capabilities_for_transfer",
                "message": "Your destination account needs to have at least one of the "
                "following capabilities enabled: transfers, crypto_transfers, legacy_payments",
            }
        },
    )
    with pytest.raises(GatewayError) as exc:
        _stripe(fake_stripe).transfer_create(
            amount=2500, currency="USD", destination="acct_1", idempotency_key="payout-line-8"
        )
    assert exc.value.code == "account_not_ready"


def test_stripe_account_status_reads_flags_and_requirements(fake_stripe: FakeStripe):
    status = _stripe(fake_stripe).payout_account_status(account_id="acct_1")
    assert (status.ready, status.missing) == (True, [])
    assert fake_stripe.requests[0]["path"] == "/v1/accounts/acct_1"


@pytest.mark.parametrize(
    ("account", "ready", "missing"),
    [
        (ACCOUNT, True, []),
        (
            {
                **ACCOUNT,
                "payouts_enabled": False,
                "requirements": {
                    "currently_due": ["external_account", "tos_acceptance.date"],
                    "past_due": ["individual.dob.day"],
                },
            },
            False,
            ["individual.dob.day", "external_account", "tos_acceptance.date"],
        ),
        (
            {
                **ACCOUNT,
                "payouts_enabled": False,
                "requirements": {
                    "currently_due": [],
                    "disabled_reason": "requirements.pending_verification",
                },
            },
            False,
            ["requirements.pending_verification"],
        ),
        ({**ACCOUNT, "capabilities": {"transfers": "inactive"}}, False, None),
        ({**ACCOUNT, "capabilities": {}, "charges_enabled": True}, True, []),
    ],
)
def test_stripe_account_status_of(account: dict[str, Any], ready: bool, missing: Any) -> None:
    status = payout_account_status_of(account)
    assert status.ready is ready
    if missing is not None:
        assert status.missing == missing
    assert status.ready or status.missing  # a reason for the expert whenever not ready
