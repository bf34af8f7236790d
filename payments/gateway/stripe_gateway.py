"""The Stripe gateway: the only module of the project that imports `stripe`.

Every call that creates or moves something passes the caller's idempotency key
(built from our own row). Stripe's errors become the gateway errors of
`payments.gateway.base`, with messages safe to show to a customer.

`STRIPE_API_BASE` points the client at another address: in tests, localstripe.
localstripe does not know a few parameters Stripe accepts (a PaymentIntent's
`description`, `return_url` on confirm) nor most of Stripe's test payment
methods; with a base address set, this module leaves those out or sends the
test card's number instead (see `_localstripe`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from stripe import RequestOptions

from .base import (
    CardDeclined,
    CardInfo,
    GatewayError,
    GatewayUnavailable,
    IdempotencyConflict,
    IntentResult,
    InvalidSignature,
    PayoutAccountStatus,
    RefundResult,
    SetupResult,
    TransferResult,
    WebhookEvent,
)
from .local import ACCOUNT_NOT_READY, REFUND_TOO_LARGE, card_validate, webhook_event_parse

logger = logging.getLogger(__name__)

# Stripe's test PaymentMethods for the test card numbers (docs.stripe.com/testing).
TEST_PAYMENT_METHODS = {
    "4242424242424242": "pm_card_visa",
    "4000056655665556": "pm_card_visa_debit",
    "5555555555554444": "pm_card_mastercard",
    "378282246310005": "pm_card_amex",
    "4000000000000341": "pm_card_chargeCustomerFail",
    "4000000000000002": "pm_card_visa_chargeDeclined",
    "4000002760003184": "pm_card_authenticationRequired",
    "4000002500003155": "pm_card_authenticationRequiredOnSetup",
}
# The ones localstripe resolves; for the others it is sent the number itself.
LOCALSTRIPE_PAYMENT_METHODS = {
    "pm_card_visa",
    "pm_card_visa_chargeDeclined",
    "pm_card_chargeCustomerFail",
}
# Cards that ask for authentication when saved: saved through a SetupIntent.
AUTHENTICATE_ON_SETUP = {"4000002500003155"}

# Safe messages for the error codes a caller may meet (Stripe's own can name ids).
MESSAGES = {
    "amount_too_large": REFUND_TOO_LARGE,
    "charge_already_refunded": "This payment has already been refunded.",
    "charge_disputed": "This payment is disputed and cannot be refunded.",
    "resource_missing": "The payment service does not know this object.",
    "balance_insufficient": "Our balance at the payment service cannot cover this payout yet.",
}
# Stripe's refusals of a transfer to an account that cannot receive one yet: to us, one code.
ACCOUNT_NOT_READY_CODES = {"insufficient_capabilities_for_transfer", "account_invalid"}
GENERIC_MESSAGE = "The payment could not be processed."

# Our intent statuses are Stripe's; a refund's are narrowed to ours.
REFUND_STATUSES = {"requires_action": "pending", "canceled": "failed"}


@contextmanager
def _stripe_errors() -> Iterator[None]:
    """Stripe's exceptions → ours. A card error here means a declined card."""
    try:
        yield
    except stripe.IdempotencyError as exc:
        raise IdempotencyConflict() from exc
    except stripe.CardError as exc:
        raise CardDeclined(
            exc.user_message or "Your card was declined.", code=exc.code or "card_declined"
        ) from exc
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise GatewayUnavailable() from exc
    except stripe.InvalidRequestError as exc:
        code = exc.code or "invalid_request"
        raise GatewayError(MESSAGES.get(code, GENERIC_MESSAGE), code=code) from exc
    except stripe.APIError as exc:
        if (exc.http_status or 500) >= 500:
            # Stripe's outcome is unknown: the caller retries with the same key.
            raise GatewayUnavailable() from exc
        raise GatewayError(GENERIC_MESSAGE) from exc
    except stripe.StripeError as exc:
        # Authentication, permission...: our configuration, not the customer's doing.
        logger.error("Stripe refused a request: %s", exc)
        raise GatewayError(GENERIC_MESSAGE) from exc


def _options(idempotency_key: str) -> RequestOptions:
    return {"idempotency_key": idempotency_key}


class StripeGateway:
    name = "stripe"

    def __init__(
        self,
        *,
        secret_key: str,
        api_base: str = "",
        webhook_secret: str = "",
        timeout: float = 30.0,
        max_network_retries: int = 2,
    ) -> None:
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret
        # A base address means a stand-in (localstripe), never Stripe itself.
        self._localstripe = bool(api_base)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            # Retries of connection errors reuse the idempotency key: safe.
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=(5.0, timeout)),
        )

    # -- customers and cards ------------------------------------------------

    def customer_create(self, *, email: str, idempotency_key: str) -> str:
        with _stripe_errors():
            customer = self._client.v1.customers.create({"email": email}, _options(idempotency_key))
        return str(customer.id)

    def setup_intent_create(self, *, customer_id: str, idempotency_key: str) -> SetupResult:
        with _stripe_errors():
            seti = self._client.v1.setup_intents.create(
                self._setup_intent_params(customer_id), _options(idempotency_key)
            )
        return self._setup_result(seti)

    def card_save_local(
        self,
        *,
        customer_id: str,
        number: str,
        exp_month: int,
        exp_year: int,
        cvc: str,
        idempotency_key: str,
    ) -> SetupResult:
        """A test-mode helper: saves one of Stripe's test cards by its number.

        In production the browser hands the card to Stripe (setup_intent_create and
        Stripe's Payment Element); our servers never see a card number.
        """
        if not self._secret_key.startswith("sk_test_"):
            raise GatewayError("Card numbers are only accepted in Stripe's test mode.")
        card = card_validate(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)
        digits = number.replace(" ", "")
        with _stripe_errors():
            pm_id = TEST_PAYMENT_METHODS.get(digits, "")
            if self._localstripe and pm_id not in LOCALSTRIPE_PAYMENT_METHODS:
                pm = self._client.v1.payment_methods.create(
                    {
                        "type": "card",
                        "card": {
                            "number": digits,
                            "exp_month": card.exp_month,
                            "exp_year": card.exp_year,
                            "cvc": cvc,
                        },
                    },
                    _options(f"{idempotency_key}:pm"),
                )
                pm_id = str(pm.id)
            elif not pm_id:
                raise GatewayError(
                    "Use one of Stripe's test card numbers in test mode.", code="incorrect_number"
                )
            if digits in AUTHENTICATE_ON_SETUP:
                seti = self._client.v1.setup_intents.create(
                    self._setup_intent_params(customer_id), _options(idempotency_key)
                )
                seti = self._client.v1.setup_intents.confirm(
                    seti.id,
                    {"payment_method": pm_id, "expand": ["payment_method"]},
                    _options(f"{idempotency_key}:confirm"),
                )
                return self._setup_result(seti)
            # Attaching runs Stripe's card check (it declines 4000 0000 0000 0002)
            # without authentication, as the local gateway saves 4000 0027 6000 3184.
            pm = self._client.v1.payment_methods.attach(
                pm_id, {"customer": customer_id}, _options(idempotency_key)
            )
        # No SetupIntent was needed: the result names none.
        return SetupResult(setup_intent_id="", status="succeeded", card=_card_info(pm.to_dict()))

    def setup_intent_retrieve(self, *, setup_intent_id: str) -> SetupResult:
        with _stripe_errors():
            seti = self._client.v1.setup_intents.retrieve(
                setup_intent_id, {"expand": ["payment_method"]}
            )
        return self._setup_result(seti)

    def payment_method_detach(self, *, payment_method_id: str) -> None:
        with _stripe_errors():
            pm = self._client.v1.payment_methods.retrieve(payment_method_id)
            if pm.to_dict().get("customer"):  # detached already: nothing to do
                self._client.v1.payment_methods.detach(payment_method_id)

    # -- payments -------------------------------------------------------------

    def payment_intent_create(
        self,
        *,
        amount: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        idempotency_key: str,
        description: str = "",
        metadata: dict[str, str] | None = None,
    ) -> IntentResult:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
        }
        meta = dict(metadata or {})
        if not self._localstripe:
            # Cards only: no redirect-based method, so confirming needs no return_url.
            params["allowed_payment_method_types"] = ["card"]
            if description:
                params["description"] = description
        elif description:
            meta["description"] = description  # localstripe has no description field
        if meta:
            params["metadata"] = meta
        with _stripe_errors():
            pi = self._client.v1.payment_intents.create(params, _options(idempotency_key))
        return _intent_result(pi.to_dict())

    def payment_intent_confirm(
        self, *, intent_id: str, idempotency_key: str, return_url: str = ""
    ) -> IntentResult:
        params: stripe.params.PaymentIntentConfirmParams = {}
        if return_url and not self._localstripe:  # localstripe refuses the parameter
            params["return_url"] = return_url
        try:
            with _stripe_errors():
                pi = self._client.v1.payment_intents.confirm(
                    intent_id, params, _options(idempotency_key)
                )
            return _intent_result(pi.to_dict())
        except CardDeclined:
            # The decline is on the intent (status requires_payment_method).
            return self.payment_intent_retrieve(intent_id=intent_id)
        except GatewayError as exc:
            if exc.code not in ("payment_intent_unexpected_state", "invalid_request"):
                raise
            # Already paid, already declined, or waiting for authentication: the
            # intent as it is (no second charge), as the local gateway answers.
            current = self.payment_intent_retrieve(intent_id=intent_id)
            if current.status == "requires_confirmation":
                raise
            return current

    def payment_intent_retrieve(self, *, intent_id: str) -> IntentResult:
        with _stripe_errors():
            pi = self._client.v1.payment_intents.retrieve(intent_id)
        return _intent_result(pi.to_dict())

    def refund_create(self, *, intent_id: str, amount: int, idempotency_key: str) -> RefundResult:
        with _stripe_errors():
            refund = self._client.v1.refunds.create(
                {"payment_intent": intent_id, "amount": amount}, _options(idempotency_key)
            )
        data = refund.to_dict()
        status = str(data.get("status") or "pending")
        return RefundResult(
            refund_id=str(data["id"]),
            status=REFUND_STATUSES.get(status, status),
            amount=int(data.get("amount") or amount),
        )

    # -- Connect: payout accounts and transfers -------------------------------

    def payout_account_create(self, *, email: str, idempotency_key: str) -> str:
        params: stripe.params.AccountCreateParams = {
            "type": "express",
            "email": email,
            "capabilities": {"transfers": {"requested": True}},
        }
        with _stripe_errors():
            account = self._client.v1.accounts.create(params, _options(idempotency_key))
        return str(account.id)

    def payout_account_link(self, *, account_id: str, return_url: str, refresh_url: str) -> str:
        # Account links are single use and expire within minutes: a new one every time.
        with _stripe_errors():
            link = self._client.v1.account_links.create(
                {
                    "account": account_id,
                    "type": "account_onboarding",
                    "return_url": return_url,
                    "refresh_url": refresh_url,
                }
            )
        return str(link.url)

    def payout_account_status(self, *, account_id: str) -> PayoutAccountStatus:
        with _stripe_errors():
            account = self._client.v1.accounts.retrieve(account_id)
        return payout_account_status_of(account.to_dict())

    def transfer_create(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> TransferResult:
        params: stripe.params.TransferCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            # The key names the transfer's group too: transfer_find looks it up by it
            # after Stripe has forgotten the key (24 hours).
            "transfer_group": idempotency_key,
        }
        if metadata:
            params["metadata"] = dict(metadata)
        try:
            with _stripe_errors():
                transfer = self._client.v1.transfers.create(params, _options(idempotency_key))
        except GatewayError as exc:
            if exc.code in ACCOUNT_NOT_READY_CODES:
                raise GatewayError(ACCOUNT_NOT_READY, code="account_not_ready") from exc
            raise
        return _transfer_result(transfer.to_dict())

    def transfer_find(self, *, idempotency_key: str) -> TransferResult | None:
        with _stripe_errors():
            found = self._client.v1.transfers.list({"transfer_group": idempotency_key, "limit": 1})
        return _transfer_result(found.data[0].to_dict()) if found.data else None

    # -- webhooks -------------------------------------------------------------

    def webhook_event(self, *, payload: bytes, signature: str) -> WebhookEvent:
        try:
            self._client.construct_event(payload, signature, self._webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidSignature() from exc
        return webhook_event_parse(payload)

    # -- conversions ----------------------------------------------------------

    def _setup_intent_params(self, customer_id: str) -> stripe.params.SetupIntentCreateParams:
        params: stripe.params.SetupIntentCreateParams = {
            "customer": customer_id,
            "usage": "off_session",
        }
        if not self._localstripe:  # localstripe knows only the older payment_method_types
            params["allowed_payment_method_types"] = ["card"]
        return params

    def _setup_result(self, seti: stripe.SetupIntent) -> SetupResult:
        data = seti.to_dict()
        status = str(data["status"])
        pm = data.get("payment_method")
        card = None
        if status == "succeeded" and pm:
            if isinstance(pm, str):
                with _stripe_errors():
                    pm = self._client.v1.payment_methods.retrieve(pm).to_dict()
            card = _card_info(pm)
        return SetupResult(
            setup_intent_id=str(data["id"]),
            status=status,
            client_secret=str(data.get("client_secret") or ""),
            card=card,
        )


def _intent_result(pi: dict[str, Any]) -> IntentResult:
    status = str(pi["status"])
    error = (pi.get("last_payment_error") or {}) if status != "succeeded" else {}
    next_action = pi.get("next_action") or {}
    redirect = next_action.get("redirect_to_url") or {}
    return IntentResult(
        intent_id=str(pi["id"]),
        status=status,
        amount=int(pi["amount"]),
        currency=str(pi["currency"]).upper(),
        client_secret=str(pi.get("client_secret") or ""),
        failure_code=str(error.get("code") or ""),
        failure_message=str(error.get("message") or ""),
        next_action_url=str(redirect.get("url") or ""),
    )


def payout_account_status_of(account: dict[str, Any]) -> PayoutAccountStatus:
    """A Stripe account → ready when it can receive transfers and pay out, with nothing due.

    `missing` lists what Stripe asks for now (past due first), or why it is disabled.
    """
    requirements = account.get("requirements") or {}
    missing: list[str] = []
    for code in [*(requirements.get("past_due") or []), *(requirements.get("currently_due") or [])]:
        if code not in missing:
            missing.append(str(code))
    capabilities = account.get("capabilities") or {}
    if "transfers" in capabilities:
        can_receive = capabilities["transfers"] == "active"
    else:  # an account without the capabilities listed: Stripe's older flag
        can_receive = bool(account.get("charges_enabled"))
    ready = can_receive and bool(account.get("payouts_enabled")) and not missing
    if not ready and not missing:
        missing.append(
            str(requirements.get("disabled_reason") or "requirements.pending_verification")
        )
    return PayoutAccountStatus(ready=ready, missing=missing)


def _transfer_result(data: dict[str, Any]) -> TransferResult:
    return TransferResult(
        transfer_id=str(data["id"]),
        status="paid",  # a transfer between Stripe balances settles when it is created
        amount=int(data["amount"]),
        currency=str(data["currency"]).upper(),
    )


def _card_info(pm: dict[str, Any]) -> CardInfo:
    card = pm["card"]
    return CardInfo(
        payment_method_id=str(pm["id"]),
        brand=str(card["brand"]),
        last4=str(card["last4"]),
        exp_month=int(card["exp_month"]),
        exp_year=int(card["exp_year"]),
    )
