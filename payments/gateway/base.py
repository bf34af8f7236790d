"""The payment gateway interface: what payments.services may ask of a gateway.

Two implementations: `payments.gateway.stripe_gateway.StripeGateway` (the only
module that imports `stripe`) and `payments.gateway.local.LocalGateway` (the
embedded default, which keeps its state in the database and enforces Stripe's
rules). Every call that creates or moves something carries an idempotency key
built from our own row (`payment-42`, `refund-7`), never a random one.

Amounts are integers in the currency's minor unit; currencies are ISO codes in
upper case here (Stripe's lower case is the gateway's business).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class GatewayError(Exception):
    """The gateway refused or failed. `message` is safe to show to the customer."""

    def __init__(self, message: str, *, code: str = "gateway_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class CardDeclined(GatewayError):
    """The card was declined (on saving it or on charging it)."""

    def __init__(self, message: str = "Your card was declined.", *, code: str = "card_declined"):
        super().__init__(message, code=code)


class IdempotencyConflict(GatewayError):
    """An idempotency key was reused with other parameters (Stripe answers 400)."""

    def __init__(self, message: str = "Idempotency key reused with other parameters."):
        super().__init__(message, code="idempotency_key_in_use")


class GatewayUnavailable(GatewayError):
    """No answer (timeout, connection error): the outcome is unknown; retry with the same key."""

    def __init__(self, message: str = "The payment service did not answer. Please try again."):
        super().__init__(message, code="gateway_unavailable")


class InvalidSignature(GatewayError):
    def __init__(self, message: str = "Invalid webhook signature."):
        super().__init__(message, code="invalid_signature")


@dataclass(frozen=True)
class CardInfo:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class SetupResult:
    """A card being saved: `succeeded` with the card, or `requires_action` (3-D Secure)."""

    setup_intent_id: str
    status: str  # "succeeded" | "requires_action" | "requires_payment_method"
    client_secret: str = ""
    card: CardInfo | None = None


@dataclass(frozen=True)
class IntentResult:
    intent_id: str
    # "requires_confirmation" | "requires_action" | "processing" | "succeeded"
    # | "requires_payment_method" (failed; a new card is needed) | "canceled"
    status: str
    amount: int
    currency: str
    client_secret: str = ""
    failure_code: str = ""
    failure_message: str = ""
    # Where the customer goes to authenticate (local gateway), when status is requires_action.
    next_action_url: str = ""


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str  # "succeeded" | "pending" | "failed"
    amount: int


@dataclass(frozen=True)
class PayoutAccountStatus:
    """Whether a connected (payout) account can receive transfers, and what it still needs.

    `missing` holds Stripe's requirement codes (`external_account`, `tos_acceptance.date`,
    `individual.dob.day`...); payments.payouts turns them into words for the expert.
    """

    ready: bool
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TransferResult:
    """Money moved from our balance to a connected account (a Stripe Connect transfer)."""

    transfer_id: str
    status: str  # "paid" (Stripe's transfers settle at once) | "pending" | "failed"
    amount: int  # minor units
    currency: str


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)  # the event's data.object
    created: int = 0


class Gateway(Protocol):
    name: str

    def customer_create(self, *, email: str, idempotency_key: str) -> str: ...

    def setup_intent_create(self, *, customer_id: str, idempotency_key: str) -> SetupResult:
        """Stripe's Payment Element completes it in the browser with its client_secret."""
        ...

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
        """The local gateway's card form (server side). Stripe never sees raw numbers: not there."""
        ...

    def setup_intent_retrieve(self, *, setup_intent_id: str) -> SetupResult: ...

    def payment_method_detach(self, *, payment_method_id: str) -> None: ...

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
        """Creates, does not confirm: the caller stores the id, then confirms."""
        ...

    def payment_intent_confirm(
        self, *, intent_id: str, idempotency_key: str, return_url: str = ""
    ) -> IntentResult: ...

    def payment_intent_retrieve(self, *, intent_id: str) -> IntentResult: ...

    def refund_create(
        self, *, intent_id: str, amount: int, idempotency_key: str
    ) -> RefundResult: ...

    def webhook_event(self, *, payload: bytes, signature: str) -> WebhookEvent:
        """Verify the signature and parse the event, or raise InvalidSignature."""
        ...

    # -- Connect: experts' payout accounts and transfers to them --------------------

    def payout_account_create(self, *, email: str, idempotency_key: str) -> str:
        """A connected account (Stripe: an Express account) for an expert; returns its id."""
        ...

    def payout_account_link(self, *, account_id: str, return_url: str, refresh_url: str) -> str:
        """Where the expert completes onboarding (single use, short-lived). The gateway
        sends the expert back to `return_url`, or to `refresh_url` when the link expired."""
        ...

    def payout_account_status(self, *, account_id: str) -> PayoutAccountStatus: ...

    def transfer_create(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> TransferResult:
        """Move `amount` to the connected account `destination`, once per key. The key is
        also the transfer's group, so `transfer_find` finds it after the key has expired.
        Refuses (GatewayError, code `account_not_ready`) an account that cannot receive."""
        ...

    def transfer_find(self, *, idempotency_key: str) -> TransferResult | None:
        """The transfer made with this key, if any (an answer that was lost)."""
        ...
