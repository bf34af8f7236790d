"""The embedded payment gateway: Stripe's rules, kept in our own database.

It is the default when no Stripe key is set (development, tests, demos). It
behaves as Stripe does where payments.services can tell: idempotency keys return
their first answer and refuse other parameters, refunds never exceed what was
captured, Stripe's test card numbers decline or ask for authentication, and
signed webhook events (`Stripe-Signature`) are posted after each change.

State lives in `LocalGatewayObject` rows (customers, payment methods, setup
intents, payment intents, refunds, disputes, events, and for Connect: experts'
payout accounts and transfers to them) and `LocalIdempotencyKey`.
A full card number is never stored: a payment method keeps brand, last4, expiry
and the test behaviour its number selects.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import inspect
import json
import logging
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from celery import shared_task
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q, Subquery
from django.db.models.fields.json import KT
from django.urls import reverse
from django.utils import timezone

from marketplace import dispatch
from marketplace.compiled import CompiledQuery
from payments.models import LocalGatewayObject, LocalIdempotencyKey, insert_once

from .base import (
    CardDeclined,
    CardInfo,
    GatewayError,
    IdempotencyConflict,
    IntentResult,
    InvalidSignature,
    PayoutAccountStatus,
    RefundResult,
    SetupResult,
    TransferResult,
    WebhookEvent,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds a webhook signature stays valid (Stripe's default tolerance).
SIGNATURE_TOLERANCE = 300

AUTHENTICATION_FAILED = "Authentication failed. Please try another card."
REFUND_TOO_LARGE = "The refund is larger than the amount left to refund."
CARD_DECLINED = "Your card was declined."
ACCOUNT_NOT_READY = (
    "This payout account cannot receive transfers yet: its onboarding is not complete."
)
# What a new connected account must still provide (Stripe's requirement codes); the local
# onboarding page completes them, or leaves the bank account missing.
NEW_ACCOUNT_DUE = ["external_account", "tos_acceptance.date"]


class Behaviour:
    """What a saved card does, chosen by its number (Stripe's test cards)."""

    SUCCEEDS = "succeeds"
    CHARGE_DECLINED = "charge_declined"  # saves, every charge declined (4000 0000 0000 0341)
    DECLINED = "declined"  # declined when saved (4000 0000 0000 0002)
    AUTHENTICATE_ALWAYS = "authenticate_always"  # every charge asks (4000 0027 6000 3184)
    AUTHENTICATE_SETUP = "authenticate_setup"  # asks once, when saved (4000 0025 0000 3155)


TEST_CARDS = {
    "4000000000000341": Behaviour.CHARGE_DECLINED,
    "4000000000000002": Behaviour.DECLINED,
    "4000002760003184": Behaviour.AUTHENTICATE_ALWAYS,
    "4000002500003155": Behaviour.AUTHENTICATE_SETUP,
}


@dataclass(frozen=True)
class CardNumber:
    """A validated card, as it may be kept: never the full number beyond this object."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    behaviour: str


def card_validate(*, number: str, exp_month: int, exp_year: int, cvc: str) -> CardNumber:
    """Stripe's checks of typed card data, with its messages and codes."""
    digits = number.replace(" ", "")
    if not (digits.isdigit() and 12 <= len(digits) <= 19 and _luhn_ok(digits)):
        raise GatewayError("Your card number is incorrect.", code="incorrect_number")
    if exp_year < 100:
        exp_year += 2000
    if not 1 <= exp_month <= 12:
        raise GatewayError("Your card's expiration month is invalid.", code="invalid_expiry_month")
    today = timezone.now().date()
    if (exp_year, exp_month) < (today.year, today.month):
        raise GatewayError("Your card has expired.", code="expired_card")
    if exp_year > today.year + 50:
        raise GatewayError("Your card's expiration year is invalid.", code="invalid_expiry_year")
    if not (cvc.isdigit() and 3 <= len(cvc) <= 4):
        raise GatewayError("Your card's security code is incorrect.", code="incorrect_cvc")
    brand = {"4": "visa", "5": "mastercard", "3": "amex"}.get(digits[0], "unknown")
    return CardNumber(
        brand=brand,
        last4=digits[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        behaviour=TEST_CARDS.get(digits, Behaviour.SUCCEEDS),
    )


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# --- Webhook signatures (Stripe's scheme, without the stripe package) -----------


def signature_header(payload: str, *, secret: str, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`, as Stripe signs its events."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signature_verify(
    payload: bytes, header: str, *, secret: str, tolerance: int = SIGNATURE_TOLERANCE
) -> None:
    """Raise InvalidSignature unless `header` signs `payload` with `secret`, recently enough."""
    if not header or not secret:
        raise InvalidSignature()
    try:
        text = payload.decode()
        items = [part.split("=", 1) for part in header.split(",")]
        timestamp = int(next(value for name, value in items if name == "t"))
    except (UnicodeDecodeError, ValueError, StopIteration) as exc:
        raise InvalidSignature() from exc
    signatures = [value for name, value in items if name == "v1"]
    expected = signature_header(text, secret=secret, timestamp=timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise InvalidSignature()
    if timestamp < time.time() - tolerance:
        raise InvalidSignature("Webhook signature is too old.")


def webhook_event_parse(payload: bytes) -> WebhookEvent:
    """A verified Stripe-style event body → WebhookEvent (currency in upper case)."""
    try:
        body = json.loads(payload)
        data = dict(body["data"]["object"])
        event = WebhookEvent(
            id=str(body["id"]), type=str(body["type"]), data=data, created=int(body["created"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidSignature("Invalid webhook payload.") from exc
    if isinstance(data.get("currency"), str):
        data["currency"] = data["currency"].upper()
    return event


# --- The gateway ----------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return f"{prefix}_local_{secrets.token_hex(12)}"


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Authentication:
    """What the local authentication page shows about a pending intent."""

    intent_id: str
    kind: str  # "payment" | "setup"
    status: str
    amount: int  # minor units; 0 for a card being saved
    currency: str
    brand: str
    last4: str
    customer_id: str = ""


class LocalGateway:
    name = "local"

    # -- customers and cards ------------------------------------------------

    def customer_create(self, *, email: str, idempotency_key: str) -> str:
        def run(writes: _Writes) -> str:
            return writes.create("cus", "customer", {"email": email}).object_id

        return self._idempotent(
            op="customer_create",
            key=idempotency_key,
            params={"email": email},
            run=run,
            dump=lambda r: {"id": r},
            load=lambda d: str(d["id"]),
        )

    def setup_intent_create(self, *, customer_id: str, idempotency_key: str) -> SetupResult:
        def run(writes: _Writes) -> SetupResult:
            _get(customer_id, "customer")
            seti = writes.create(
                "seti",
                "setup_intent",
                {"customer": customer_id, "status": "requires_payment_method"},
                client_secret=True,
            )
            return _setup_result(seti)

        return self._idempotent(
            op="setup_intent_create",
            key=idempotency_key,
            params={"customer": customer_id},
            run=run,
            dump=_dump_setup,
            load=_load_setup,
        )

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
        # Validation errors are not remembered under the key (Stripe's rule too).
        card = card_validate(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)
        _get(customer_id, "customer")

        def run(writes: _Writes) -> SetupResult:
            seti = writes.create(
                "seti",
                "setup_intent",
                {"customer": customer_id, "status": "requires_payment_method"},
                client_secret=True,
            )
            if card.behaviour == Behaviour.DECLINED:
                # Written with the decline, which the key remembers.
                seti.data["last_setup_error"] = {"code": "card_declined", "message": CARD_DECLINED}
                raise CardDeclined()
            # Until a card that asks for authentication at set-up is authenticated,
            # it is not attached to the customer.
            needs_auth = card.behaviour == Behaviour.AUTHENTICATE_SETUP
            pm = writes.create(
                "pm",
                "payment_method",
                {
                    "customer": None if needs_auth else customer_id,
                    "brand": card.brand,
                    "last4": card.last4,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "behaviour": card.behaviour,
                },
            )
            seti.data["payment_method"] = pm.object_id
            seti.data["status"] = "requires_action" if needs_auth else "succeeded"
            return _setup_result(seti, pm=pm)

        # The request hash covers the number through a keyed HMAC only; the CVC is
        # left out (it must not outlive the request, even hashed).
        return self._idempotent(
            op="card_save_local",
            key=idempotency_key,
            params={
                "customer": customer_id,
                "number": number.replace(" ", ""),
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
            },
            run=run,
            dump=_dump_setup,
            load=_load_setup,
        )

    def setup_intent_retrieve(self, *, setup_intent_id: str) -> SetupResult:
        return _setup_result(_get(setup_intent_id, "setup_intent"))

    def payment_method_detach(self, *, payment_method_id: str) -> None:
        with transaction.atomic():
            pm = _get(payment_method_id, "payment_method", lock=True)
            if pm.data.get("customer"):
                pm.data["customer"] = None
                pm.save(update_fields=["data", "updated_at"])

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
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise GatewayError(
                "The amount must be a positive whole number of minor units.",
                code="parameter_invalid_integer",
            )
        if not (len(currency) == 3 and currency.isalpha()):
            raise GatewayError("Invalid currency.", code="invalid_currency")

        def run(writes: _Writes) -> IntentResult:
            _, pm = _get_pair((customer_id, "customer"), (payment_method_id, "payment_method"))
            if pm.data.get("customer") != customer_id:
                raise GatewayError(
                    "This card is not on file for this customer.",
                    code="payment_method_not_attached",
                )
            pi = writes.create(
                "pi",
                "payment_intent",
                {
                    "amount": amount,
                    "currency": currency.upper(),
                    "customer": customer_id,
                    "payment_method": payment_method_id,
                    "description": description,
                    "metadata": dict(metadata or {}),
                    "status": "requires_confirmation",
                    "amount_received": 0,
                    "amount_refunded": 0,
                    "charges": [],
                    "last_payment_error": None,
                    "next_action_url": "",
                    "dispute": None,
                },
                client_secret=True,
            )
            return _intent_result(pi)

        return self._idempotent(
            op="payment_intent_create",
            key=idempotency_key,
            params={
                "amount": amount,
                "currency": currency.upper(),
                "customer": customer_id,
                "payment_method": payment_method_id,
                "description": description,
                "metadata": dict(metadata or {}),
            },
            run=run,
            dump=_dump_intent,
            load=_load_intent,
        )

    def payment_intent_confirm(
        self, *, intent_id: str, idempotency_key: str, return_url: str = ""
    ) -> IntentResult:
        def run(writes: _Writes) -> IntentResult:
            pi, pm = _lock_intent_and_card(intent_id)
            if pi.data["status"] in ("requires_confirmation", "requires_payment_method"):
                _confirm(pi, return_url=return_url, pm=pm, writes=writes)
            # Succeeded, processing, canceled or waiting for authentication: as it is.
            return _intent_result(pi)

        return self._idempotent(
            op="payment_intent_confirm",
            key=idempotency_key,
            params={"intent": intent_id, "return_url": return_url},
            run=run,
            dump=_dump_intent,
            load=_load_intent,
            locks=True,
        )

    def payment_intent_retrieve(self, *, intent_id: str) -> IntentResult:
        return _intent_result(_get(intent_id, "payment_intent"))

    def refund_create(self, *, intent_id: str, amount: int, idempotency_key: str) -> RefundResult:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise GatewayError(
                "The refund amount must be a positive whole number of minor units.",
                code="parameter_invalid_integer",
            )

        def run(writes: _Writes) -> RefundResult:
            pi = _get(intent_id, "payment_intent", lock=True)
            data = pi.data
            if data["status"] != "succeeded":
                raise GatewayError(
                    "This payment did not succeed, so there is nothing to refund.",
                    code="charge_not_refundable",
                )
            if data.get("dispute") and _get(data["dispute"], "dispute").data["status"] in (
                "needs_response",
                "lost",
            ):
                raise GatewayError(
                    "This payment is disputed and cannot be refunded.", code="charge_disputed"
                )
            remaining = data["amount_received"] - data["amount_refunded"]
            if remaining <= 0:
                raise GatewayError(
                    "This payment has already been refunded.", code="charge_already_refunded"
                )
            if amount > remaining:
                raise GatewayError(REFUND_TOO_LARGE, code="amount_too_large")
            refund = writes.create(
                "re",
                "refund",
                {
                    "payment_intent": intent_id,
                    "charge": data["latest_charge"],
                    "amount": amount,
                    "currency": data["currency"],
                    "status": "succeeded",
                },
            )
            data["amount_refunded"] += amount
            writes.change(pi)
            writes.emit("charge.refunded", _charge_public(pi))
            return RefundResult(refund_id=refund.object_id, status="succeeded", amount=amount)

        return self._idempotent(
            op="refund_create",
            key=idempotency_key,
            params={"intent": intent_id, "amount": amount},
            run=run,
            dump=dataclasses.asdict,
            load=lambda d: RefundResult(**d),
            locks=True,
        )

    # -- webhooks -------------------------------------------------------------

    def webhook_event(self, *, payload: bytes, signature: str) -> WebhookEvent:
        signature_verify(payload, signature, secret=settings.STRIPE_WEBHOOK_SECRET)
        return webhook_event_parse(payload)

    def events(self, type: str | None = None) -> list[tuple[bytes, str]]:
        """Every event this gateway produced, oldest first, signed now: (payload, header)."""
        rows = LocalGatewayObject.objects.filter(kind="event").order_by("id")
        if type is not None:
            rows = rows.filter(data__type=type)
        secret = settings.STRIPE_WEBHOOK_SECRET
        return [
            (row.data["payload"].encode(), signature_header(row.data["payload"], secret=secret))
            for row in rows
        ]

    # -- the authentication page (3-D Secure stand-in) ------------------------

    def authentication_get(self, *, intent_id: str) -> Authentication:
        """The payment or card set-up behind `intent_id` (GatewayError if unknown)."""
        if intent_id.startswith("seti_"):
            seti = _get(intent_id, "setup_intent")
            if not seti.data.get("payment_method"):
                raise GatewayError("No card to authenticate.", code="resource_missing")
            pm = _get(seti.data["payment_method"], "payment_method")
            return Authentication(
                intent_id=intent_id,
                kind="setup",
                status=seti.data["status"],
                amount=0,
                currency="",
                brand=pm.data["brand"],
                last4=pm.data["last4"],
                customer_id=str(seti.data.get("customer") or ""),
            )
        pi = _get(intent_id, "payment_intent")
        pm = _get(pi.data["payment_method"], "payment_method")
        return Authentication(
            intent_id=intent_id,
            kind="payment",
            status=pi.data["status"],
            amount=pi.data["amount"],
            currency=pi.data["currency"],
            brand=pm.data["brand"],
            last4=pm.data["last4"],
            customer_id=str(pi.data.get("customer") or ""),
        )

    def authentication_complete(self, *, intent_id: str, success: bool) -> None:
        """The customer passed (or failed) authentication. Anything not waiting for it
        is left as it is, so a repeated form post changes nothing."""
        with transaction.atomic():
            if intent_id.startswith("seti_"):
                seti = _get(intent_id, "setup_intent", lock=True)
                if seti.data["status"] != "requires_action":
                    return
                pm = _get(seti.data["payment_method"], "payment_method", lock=True)
                if success:
                    seti.data["status"] = "succeeded"
                    pm.data["customer"] = seti.data["customer"]
                    # Authenticated once at set-up: later charges go through.
                    pm.data["behaviour"] = Behaviour.SUCCEEDS
                    pm.save(update_fields=["data", "updated_at"])
                else:
                    seti.data["status"] = "requires_payment_method"
                    seti.data["last_setup_error"] = {
                        "code": "setup_intent_authentication_failure",
                        "message": AUTHENTICATION_FAILED,
                    }
                seti.save(update_fields=["data", "updated_at"])
                return
            pi = _get(intent_id, "payment_intent", lock=True)
            if pi.data["status"] != "requires_action":
                return
            pi.data["next_action_url"] = ""
            if success:
                writes = _Writes()
                _charge(pi, succeeded=True, writes=writes)
                writes.save()
            else:
                pi.data["status"] = "requires_payment_method"
                pi.data["last_payment_error"] = {
                    "code": "payment_intent_authentication_failure",
                    "message": AUTHENTICATION_FAILED,
                }
                pi.save(update_fields=["data", "updated_at"])
                _emit("payment_intent.payment_failed", _intent_public(pi))

    # -- simulations for the admin --------------------------------------------

    def simulate_dispute(self, *, intent_id: str, reason: str = "fraudulent") -> str:
        """The customer's bank disputes a succeeded payment (sends charge.dispute.created)."""
        with transaction.atomic():
            pi = _get(intent_id, "payment_intent", lock=True)
            if pi.data["status"] != "succeeded":
                raise GatewayError("Only a succeeded payment can be disputed.")
            if pi.data.get("dispute"):
                raise GatewayError("This payment is already disputed.")
            dispute = _create(
                "dp",
                "dispute",
                {
                    "payment_intent": intent_id,
                    "charge": pi.data["latest_charge"],
                    "amount": pi.data["amount_received"],
                    "currency": pi.data["currency"],
                    "reason": reason,
                    "status": "needs_response",
                },
            )
            pi.data["dispute"] = dispute.object_id
            pi.save(update_fields=["data", "updated_at"])
            _emit("charge.dispute.created", _dispute_public(dispute))
            return dispute.object_id

    def simulate_dispute_close(self, *, dispute_id: str, won: bool) -> None:
        """The bank decides (sends charge.dispute.closed with status won or lost)."""
        with transaction.atomic():
            dispute = _get(dispute_id, "dispute", lock=True)
            if dispute.data["status"] != "needs_response":
                raise GatewayError("This dispute is already closed.")
            dispute.data["status"] = "won" if won else "lost"
            dispute.save(update_fields=["data", "updated_at"])
            _emit("charge.dispute.closed", _dispute_public(dispute))

    # -- Connect: payout accounts and transfers -------------------------------

    def payout_account_create(self, *, email: str, idempotency_key: str) -> str:
        def run(writes: _Writes) -> str:
            account = writes.create(
                "acct",
                "connect_account",
                {
                    "type": "express",
                    "email": email,
                    "details_submitted": False,
                    "payouts_enabled": False,
                    "currently_due": list(NEW_ACCOUNT_DUE),
                    "transferred": 0,  # minor units received, all currencies together
                },
            )
            return account.object_id

        return self._idempotent(
            op="payout_account_create",
            key=idempotency_key,
            params={"email": email},
            run=run,
            dump=lambda r: {"id": r},
            load=lambda d: str(d["id"]),
        )

    def payout_account_link(self, *, account_id: str, return_url: str, refresh_url: str) -> str:
        """The local onboarding page (Stripe hosts its own); it never expires."""
        _get(account_id, "connect_account")
        url = reverse("local_gateway_payout_onboarding", args=[account_id])
        return url + "?" + urlencode({"return_url": return_url})

    def payout_account_status(self, *, account_id: str) -> PayoutAccountStatus:
        data = _get(account_id, "connect_account").data
        missing = list(data["currently_due"])
        return PayoutAccountStatus(
            ready=bool(data["payouts_enabled"]) and not missing, missing=missing
        )

    def payout_account_onboard(self, *, account_id: str, complete: bool) -> None:
        """The expert submits the local onboarding form: everything, or all but the bank
        account (as an expert who stops before adding one does at Stripe)."""
        with transaction.atomic():
            account = _get(account_id, "connect_account", lock=True)
            due = [] if complete else ["external_account"]
            account.data.update(details_submitted=True, currently_due=due, payouts_enabled=not due)
            account.save(update_fields=["data", "updated_at"])

    def transfer_create(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> TransferResult:
        if amount <= 0:
            raise GatewayError("A transfer must be more than zero.", code="amount_too_small")

        def run(writes: _Writes) -> TransferResult:
            account = _get(destination, "connect_account", lock=True)
            if not account.data["payouts_enabled"] or account.data["currently_due"]:
                # Not remembered under the key (it rolls back): the same key may be sent
                # again once the account is ready, as Stripe allows for a refused request.
                raise GatewayError(ACCOUNT_NOT_READY, code="account_not_ready")
            transfer = writes.create(
                "tr",
                "transfer",
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "destination": destination,
                    "transfer_group": idempotency_key,
                    "metadata": dict(metadata or {}),
                },
            )
            account.data["transferred"] += amount
            writes.change(account)
            return _transfer_result(transfer)

        return self._idempotent(
            op="transfer_create",
            key=idempotency_key,
            params={
                "amount": amount,
                "currency": currency.upper(),
                "destination": destination,
                "metadata": dict(metadata or {}),
            },
            run=run,
            dump=dataclasses.asdict,
            load=lambda d: TransferResult(**d),
            locks=True,
        )

    def transfer_find(self, *, idempotency_key: str) -> TransferResult | None:
        transfer = (
            LocalGatewayObject.objects.filter(kind="transfer", data__transfer_group=idempotency_key)
            .order_by("id")
            .first()
        )
        return _transfer_result(transfer) if transfer is not None else None

    # -- idempotency ----------------------------------------------------------

    def _idempotent(
        self,
        *,
        op: str,
        key: str,
        params: dict[str, Any],
        run: Callable[[_Writes], T],
        dump: Callable[[T], Any],
        load: Callable[[Any], T],
        locks: bool = False,
    ) -> T:
        """Run `run` once per key: its state change and the key's record are written together.

        A reused key answers what it answered first (a decline included); with other
        parameters (or for another operation) it raises IdempotencyConflict. `run` reads
        what it needs and returns the answer; what it creates and changes waits in
        `writes`, which is written only if this request claims the key: on PostgreSQL in
        the same statement as the key (`_Writes.save_with_key`), elsewhere (SQLite) saved
        and then the key claimed with an INSERT that does nothing when the key exists, in
        one transaction that a used key rolls back. `locks`: `run` locks rows
        (select_for_update), so it and the writing share a transaction. Two requests with
        one key at once: the second waits on the key's unique index, writes nothing, and
        reads the first one's answer. A refused request (a GatewayError other than a
        decline) writes nothing and is not remembered, as at Stripe.
        """
        if not key or len(key) > 200:
            raise GatewayError("An idempotency key (1-200 characters) is required.")
        request_hash = _request_hash(op, params)
        one_statement = connection.vendor == "postgresql"
        writes = _Writes()
        # One statement is atomic by itself: a transaction only for the locks.
        block: AbstractContextManager[Any] = (
            transaction.atomic() if locks or not one_statement else nullcontext()
        )
        try:
            with block:
                try:
                    response = {"result": dump(run(writes))}
                except CardDeclined as exc:
                    # Kept: the decline's state change is written, and it is raised as the
                    # key's answer.
                    response = {"error": {"code": exc.code, "message": exc.message}}
                row = LocalIdempotencyKey(key=key, request_hash=request_hash, response=response)
                if one_statement:
                    claimed = writes.save_with_key(row)
                else:
                    writes.save()
                    claimed = insert_once(row, unique_field="key")
                if not claimed:
                    raise _KeyUsed()
        except _KeyUsed:
            row = LocalIdempotencyKey.objects.get(key=key)
        except GatewayError:
            # Refused now; but a key that was answered before answers as it did then.
            found = LocalIdempotencyKey.objects.filter(key=key).first()
            if found is None:
                raise
            row = found
        if not hmac.compare_digest(row.request_hash, request_hash):
            raise IdempotencyConflict()
        return _answer(row.response, load)


class StatementCount:
    """How many SQL statements the local gateway ran (see `statements_counted`)."""

    def __init__(self) -> None:
        self.statements = 0


_counting = threading.local()


@contextmanager
def statements_counted() -> Iterator[StatementCount]:
    """Count the SQL statements the local gateway runs in this thread meanwhile, its BEGIN
    and COMMIT included: its own storage, which stands in for Stripe's servers (with
    Stripe keys they are HTTP calls, not our SQL), so the benchmarks can tell Expertline's
    statements from the gateway's. Counts what the connection logs: use it inside a
    CaptureQueriesContext (or with DEBUG on)."""
    count = StatementCount()
    _counting.count = count
    try:
        yield count
    finally:
        _counting.count = None


def _counted(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def counted(*args: Any, **kwargs: Any) -> T:
        count: StatementCount | None = getattr(_counting, "count", None)
        if count is None or getattr(_counting, "inside", False):
            return method(*args, **kwargs)
        log = transaction.get_connection().queries_log
        before = len(log)
        _counting.inside = True
        try:
            return method(*args, **kwargs)
        finally:
            _counting.inside = False
            count.statements += len(log) - before

    return counted


# Every operation of the gateway's interface is counted (while a count runs).
for _name, _member in list(vars(LocalGateway).items()):
    if not _name.startswith("_") and inspect.isfunction(_member):
        setattr(LocalGateway, _name, _counted(_member))


class _KeyUsed(Exception):
    """The idempotency key was recorded first by another request: roll this one back."""


# What a change to an object writes.
_CHANGED_FIELDS = ("data", "updated_at")


class _Writes:
    """The objects one request creates and changes, and the events it sends, held until
    they are written all together (so that `_idempotent` can write them only with a key
    it claims). Each object is written as it is then: changes made to a created object
    after `create` are part of its INSERT."""

    def __init__(self) -> None:
        self.created: list[LocalGatewayObject] = []
        self.changed: list[LocalGatewayObject] = []
        self.events: list[str] = []  # ids of created events, posted once written

    def create(
        self, prefix: str, kind: str, data: dict[str, Any], *, client_secret: bool = False
    ) -> LocalGatewayObject:
        obj = _new_object(prefix, kind, data, client_secret=client_secret)
        self.created.append(obj)
        return obj

    def change(self, obj: LocalGatewayObject) -> None:
        """`obj`'s data changed (an object read from the database, or one created here)."""
        if not any(o is obj for o in (*self.created, *self.changed)):
            self.changed.append(obj)

    def emit(self, type_: str, obj: dict[str, Any]) -> None:
        """An event about `obj` (its public view), posted once it is written and committed."""
        event = _new_event(type_, obj)
        self.created.append(event)
        self.events.append(event.object_id)

    def save(self) -> None:
        """Write them through the ORM, one statement each, in the caller's transaction."""
        for obj in self.created:
            obj.save(force_insert=True)
        for obj in self.changed:
            obj.save(update_fields=_CHANGED_FIELDS)
        self._send_events()

    def save_with_key(self, key_row: LocalIdempotencyKey) -> bool:
        """Insert `key_row`, and write these objects only if it was inserted, in one
        statement: PostgreSQL's data-modifying WITH (SQLite has none). True when inserted.

        The key's INSERT does nothing when the key exists; an insert of the same key that
        has not committed yet makes it wait, as the unique index does, and do nothing if
        that one commits. Atomic by itself: in autocommit it needs no transaction.
        """
        qn = connection.ops.quote_name
        params: list[Any] = []

        def insert(obj: models.Model) -> tuple[str, str]:
            """("INSERT INTO table (columns)", the values' placeholders)"""
            meta = obj._meta
            fields = [f for f in meta.concrete_fields if not f.primary_key]
            params.extend(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
            columns = ", ".join(qn(f.column) for f in fields)
            return f"INSERT INTO {qn(meta.db_table)} ({columns})", ", ".join(["%s"] * len(fields))

        def update(obj: models.Model) -> str:
            meta = obj._meta
            assert meta.pk is not None
            fields = [f for f in meta.concrete_fields if f.name in _CHANGED_FIELDS]
            params.extend(f.get_db_prep_save(f.pre_save(obj, False), connection) for f in fields)
            params.append(obj.pk)
            sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
            where = f"{qn(meta.pk.column)} = %s"
            return f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {where}"  # noqa: S608

        # Identifiers come from the models' metadata (quoted); values are parameters, in
        # the order of their placeholders.
        [key_column] = [
            f.column for f in LocalIdempotencyKey._meta.concrete_fields if f.name == "key"
        ]
        into, values = insert(key_row)
        claim = f"{into} VALUES ({values}) ON CONFLICT ({qn(key_column)}) DO NOTHING RETURNING 1"
        ctes = [f"claimed AS ({claim})"]
        only_if_claimed = "EXISTS (SELECT 1 FROM claimed)"
        for i, obj in enumerate(self.created):
            into, values = insert(obj)
            ctes.append(f"created_{i} AS ({into} SELECT {values} WHERE {only_if_claimed})")
        for i, obj in enumerate(self.changed):
            ctes.append(f"changed_{i} AS ({update(obj)} AND {only_if_claimed})")
        # Every part of a WITH that writes runs to its end, read or not.
        sql = f"WITH {', '.join(ctes)} SELECT count(*) FROM claimed"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        claimed = bool(row and row[0])
        if claimed:
            self._send_events()
        return claimed

    def _send_events(self) -> None:
        for event_id in self.events:
            _send_on_commit(event_id)


def _answer(response: dict[str, Any], load: Callable[[Any], T]) -> T:
    if "error" in response:
        raise CardDeclined(response["error"]["message"], code=response["error"]["code"])
    return load(response["result"])


def _request_hash(op: str, params: dict[str, Any]) -> str:
    # Keyed, because the parameters may hold a card number: a plain hash of one
    # could be reversed by trying the possible numbers.
    body = json.dumps({"op": op, "params": params}, sort_keys=True, separators=(",", ":"))
    key = f"local-gateway-idempotency:{settings.SECRET_KEY}".encode()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


# --- objects --------------------------------------------------------------------

_KIND_LABELS = {
    "customer": "customer",
    "payment_method": "payment method",
    "setup_intent": "setup intent",
    "payment_intent": "payment",
    "dispute": "dispute",
    "connect_account": "payout account",
    "transfer": "transfer",
}


def _new_object(
    prefix: str, kind: str, data: dict[str, Any], *, client_secret: bool = False
) -> LocalGatewayObject:
    """A new object, not saved yet (with its client secret, when it has one)."""
    object_id = _new_id(prefix)
    if client_secret:
        data["client_secret"] = f"{object_id}_secret_{secrets.token_hex(8)}"
    return LocalGatewayObject(object_id=object_id, kind=kind, data=data)


def _create(
    prefix: str, kind: str, data: dict[str, Any], *, client_secret: bool = False
) -> LocalGatewayObject:
    """Insert a new object, complete (one INSERT: its client secret too, when it has one)."""
    obj = _new_object(prefix, kind, data, client_secret=client_secret)
    obj.save(force_insert=True)
    return obj


def _get(object_id: str, kind: str, *, lock: bool = False) -> LocalGatewayObject:
    rows = LocalGatewayObject.objects.filter(object_id=object_id, kind=kind)
    if lock:
        rows = rows.select_for_update()
    obj = rows.first()
    if obj is None:
        raise GatewayError(f"No such {_KIND_LABELS.get(kind, kind)}.", code="resource_missing")
    return obj


# The reads of every charge, compiled once per process (marketplace.compiled): building
# them cost the ORM more CPU than the database spends answering them.
_OBJECT_PAIR = CompiledQuery(
    lambda first, second: LocalGatewayObject.objects.filter(object_id__in=[first, second])
)
_INTENT_AND_CARD_LOCKED = CompiledQuery(
    lambda intent_id, same_intent_id: (
        LocalGatewayObject.objects.select_for_update()
        .filter(
            Q(object_id=intent_id, kind="payment_intent")
            | Q(
                object_id=Subquery(
                    LocalGatewayObject.objects.filter(
                        object_id=same_intent_id, kind="payment_intent"
                    ).values(pm=KT("data__payment_method"))[:1]
                ),
                kind="payment_method",
            )
        )
        .order_by("object_id")
    )
)


def _get_pair(
    first: tuple[str, str], second: tuple[str, str]
) -> tuple[LocalGatewayObject, LocalGatewayObject]:
    """Two objects by (object_id, kind) in one query, each as `_get` would find it."""
    rows = {(o.object_id, o.kind): o for o in _OBJECT_PAIR.rows(first[0], second[0])}
    found = []
    for object_id, kind in (first, second):
        obj = rows.get((object_id, kind))
        if obj is None:
            raise GatewayError(f"No such {_KIND_LABELS.get(kind, kind)}.", code="resource_missing")
        found.append(obj)
    return found[0], found[1]


def _lock_intent_and_card(intent_id: str) -> tuple[LocalGatewayObject, LocalGatewayObject | None]:
    """A payment intent and its payment method, both locked, in one query (in object id
    order, so two confirmations of one intent lock them in the same order)."""
    pi = pm = None
    for row in _INTENT_AND_CARD_LOCKED.rows(intent_id, intent_id):
        if row.kind == "payment_intent":
            pi = row
        else:
            pm = row
    if pi is None:
        raise GatewayError("No such payment.", code="resource_missing")
    return pi, pm


def _confirm(
    pi: LocalGatewayObject, *, return_url: str, pm: LocalGatewayObject | None, writes: _Writes
) -> None:
    """Apply the card's behaviour to a locked intent that waits for confirmation."""
    if pm is None or pm.object_id != pi.data["payment_method"]:
        pm = _get(pi.data["payment_method"], "payment_method")
    if pm.data.get("customer") != pi.data["customer"]:
        raise GatewayError(
            "This card is no longer on file for this customer.",
            code="payment_method_not_attached",
        )
    behaviour = pm.data["behaviour"]
    if behaviour == Behaviour.AUTHENTICATE_ALWAYS:
        url = reverse("local_gateway_authenticate", args=[pi.object_id])
        if return_url:
            url += "?" + urlencode({"return_url": return_url})
        pi.data.update(status="requires_action", next_action_url=url, last_payment_error=None)
        writes.change(pi)
        return
    _charge(pi, succeeded=behaviour != Behaviour.CHARGE_DECLINED, writes=writes)


def _charge(pi: LocalGatewayObject, *, succeeded: bool, writes: _Writes) -> None:
    """One charge attempt on a locked intent, and its event."""
    data = pi.data
    charge_id = _new_id("ch")
    data["charges"].append(
        {"id": charge_id, "status": "succeeded" if succeeded else "failed", "at": _now()}
    )
    data["latest_charge"] = charge_id
    if succeeded:
        data.update(status="succeeded", amount_received=data["amount"], last_payment_error=None)
    else:
        data.update(
            status="requires_payment_method",
            last_payment_error={"code": "card_declined", "message": CARD_DECLINED},
        )
    writes.change(pi)
    writes.emit(
        "payment_intent.succeeded" if succeeded else "payment_intent.payment_failed",
        _intent_public(pi),
    )


# --- results and public (Stripe-shaped) views of objects -------------------------


def _card_info(pm: LocalGatewayObject) -> CardInfo:
    return CardInfo(
        payment_method_id=pm.object_id,
        brand=pm.data["brand"],
        last4=pm.data["last4"],
        exp_month=pm.data["exp_month"],
        exp_year=pm.data["exp_year"],
    )


def _setup_result(seti: LocalGatewayObject, *, pm: LocalGatewayObject | None = None) -> SetupResult:
    """`pm`: its payment method, when the caller has it (read otherwise)."""
    status = seti.data["status"]
    card = None
    pm_id = seti.data.get("payment_method")
    if status == "succeeded" and pm_id:
        card = _card_info(pm if pm is not None else _get(pm_id, "payment_method"))
    return SetupResult(
        setup_intent_id=seti.object_id,
        status=status,
        client_secret=seti.data.get("client_secret", ""),
        card=card,
    )


def _dump_setup(result: SetupResult) -> dict[str, Any]:
    return dataclasses.asdict(result)


def _load_setup(data: dict[str, Any]) -> SetupResult:
    card = data["card"]
    return SetupResult(
        setup_intent_id=data["setup_intent_id"],
        status=data["status"],
        client_secret=data["client_secret"],
        card=CardInfo(**card) if card else None,
    )


def _intent_result(pi: LocalGatewayObject) -> IntentResult:
    data = pi.data
    error = data.get("last_payment_error") or {}
    return IntentResult(
        intent_id=pi.object_id,
        status=data["status"],
        amount=data["amount"],
        currency=data["currency"],
        client_secret=data.get("client_secret", ""),
        failure_code=error.get("code", ""),
        failure_message=error.get("message", ""),
        next_action_url=data.get("next_action_url", ""),
    )


def _transfer_result(transfer: LocalGatewayObject) -> TransferResult:
    data = transfer.data
    return TransferResult(
        transfer_id=transfer.object_id,
        status="paid",
        amount=data["amount"],
        currency=data["currency"].upper(),
    )


def _dump_intent(result: IntentResult) -> dict[str, Any]:
    return dataclasses.asdict(result)


def _load_intent(data: dict[str, Any]) -> IntentResult:
    return IntentResult(**data)


def _intent_public(pi: LocalGatewayObject) -> dict[str, Any]:
    data = pi.data
    return {
        "id": pi.object_id,
        "object": "payment_intent",
        "amount": data["amount"],
        "amount_received": data["amount_received"],
        "currency": data["currency"].lower(),
        "customer": data["customer"],
        "payment_method": data["payment_method"],
        "description": data["description"],
        "metadata": data["metadata"],
        "status": data["status"],
        "latest_charge": data.get("latest_charge"),
        "last_payment_error": data.get("last_payment_error"),
        "livemode": False,
    }


def _charge_public(pi: LocalGatewayObject) -> dict[str, Any]:
    data = pi.data
    return {
        "id": data["latest_charge"],
        "object": "charge",
        "payment_intent": pi.object_id,
        "amount": data["amount"],
        "amount_captured": data["amount_received"],
        "amount_refunded": data["amount_refunded"],
        "refunded": data["amount_refunded"] >= data["amount_received"],
        "currency": data["currency"].lower(),
        "customer": data["customer"],
        "metadata": data["metadata"],
        "status": "succeeded",
        "livemode": False,
    }


def _dispute_public(dispute: LocalGatewayObject) -> dict[str, Any]:
    data = dispute.data
    return {
        "id": dispute.object_id,
        "object": "dispute",
        "payment_intent": data["payment_intent"],
        "charge": data["charge"],
        "amount": data["amount"],
        "currency": data["currency"].lower(),
        "reason": data["reason"],
        "status": data["status"],
        "livemode": False,
    }


# --- events and their delivery ---------------------------------------------------


def _emit(type_: str, obj: dict[str, Any]) -> None:
    """Record an event (in the caller's transaction) and post it once that commits."""
    event = _new_event(type_, obj)
    event.save(force_insert=True)
    _send_on_commit(event.object_id)


def _new_event(type_: str, obj: dict[str, Any]) -> LocalGatewayObject:
    """An event about `obj` (its public view), not saved yet."""
    event_id = _new_id("evt")
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": type_,
            "created": _now(),
            "livemode": False,
            "data": {"object": obj},
        }
    )
    return LocalGatewayObject(
        object_id=event_id, kind="event", data={"type": type_, "payload": payload}
    )


def _send_on_commit(event_id: str) -> None:
    """Post a recorded event once the transaction that wrote it commits (at once in
    autocommit: the statement that wrote it has committed)."""
    if settings.LOCAL_GATEWAY_WEBHOOK_URL:
        # robust: a broker that is down must not fail the payment that just committed.
        dispatch.task_send_on_commit(local_gateway_send_webhook, event_id, robust=True)


@shared_task(
    name="payments.local_gateway_send_webhook",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
    acks_late=True,
    time_limit=30,
    soft_time_limit=25,  # the project's default soft limit (60 s) exceeds time_limit
)
def local_gateway_send_webhook(event_id: str) -> None:
    """POST one event to LOCAL_GATEWAY_WEBHOOK_URL, signed now, as Stripe delivers it.

    At least once, like Stripe: a connection error or a non-2xx answer (HTTPError is
    an OSError) retries with backoff; receivers dedupe on the event id.
    """
    url = settings.LOCAL_GATEWAY_WEBHOOK_URL
    if not url:
        return
    if urlsplit(url).scheme not in ("http", "https"):
        raise GatewayError("LOCAL_GATEWAY_WEBHOOK_URL must be an http(s) address.")
    event = LocalGatewayObject.objects.get(object_id=event_id, kind="event")
    payload: str = event.data["payload"]
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=payload.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, secret=settings.STRIPE_WEBHOOK_SECRET),
            "User-Agent": "Expertline-LocalGateway/1.0",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        status = response.status
    logger.info("local gateway: posted %s to %s (%s)", event_id, url, status)
