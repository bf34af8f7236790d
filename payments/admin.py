"""Staff views of money: payments, refunds (approve/deny), disputes, the ledger, webhooks.

Everything is read-only here except through the named services: staff approve or
deny refunds with actions, and never edit an amount or a status.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from marketplace.admin import ReadOnlyAdmin
from marketplace.errors import DomainError

from . import services
from .gateway import get_gateway
from .gateway.base import GatewayError
from .models import (
    Card,
    Dispute,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Membership,
    MembershipEvent,
    MembershipPlan,
    Payment,
    PaymentEvent,
    Refund,
    RefundEvent,
    WebhookEvent,
)
from .signals import dispute_evidence_requested


class PaymentEventInline(admin.TabularInline):
    model = PaymentEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "from_status", "to_status", "source"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "reference", "user", "amount_display", "status", "gateway", "created_at"]
    list_filter = ["status", "gateway"]
    search_fields = ["reference", "user__email", "intent_id"]
    date_hierarchy = "created_at"
    inlines = [PaymentEventInline]
    actions = ["simulate_chargeback"]

    @admin.action(description="Simulate a chargeback (local gateway only)")
    def simulate_chargeback(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        if settings.PAYMENTS_GATEWAY != "local":
            self.message_user(request, "Chargebacks come from Stripe itself.", messages.ERROR)
            return
        gateway: Any = get_gateway()
        for payment in queryset:
            try:
                dispute_id = gateway.simulate_dispute(intent_id=payment.intent_id)
            except GatewayError as exc:
                self.message_user(request, f"{payment}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Chargeback {dispute_id} opened on {payment.reference}."
                )


class RefundEventInline(admin.TabularInline):
    model = RefundEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "actor", "from_status", "to_status", "note"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ["id", "payment", "amount_display", "status", "requested_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["payment__reference", "requested_by__email", "reason"]
    date_hierarchy = "created_at"
    fields = (
        "payment",
        "amount_display",
        "reason",
        "status",
        "requested_by",
        "first_approver",
        "second_approver",
        "decided_by",
        "decision_note",
        "gateway_refund_id",
        "failure_message",
        "created_at",
        "refunded_at",
    )
    readonly_fields = tuple(f for f in fields if f != "decision_note")
    inlines = [RefundEventInline]
    actions = ["approve", "deny", "export_evidence"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Approve the selected refunds", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        for refund in queryset:
            try:
                done = services.refund_approve(refund_id=refund.pk, staff=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"Refund {refund.pk}: {exc.message}", messages.ERROR)
            else:
                done.refresh_from_db()  # the refund may already be processed after commit
                self.message_user(request, f"Refund {refund.pk}: {done.get_status_display()}.")

    @admin.action(
        description="Deny the selected refunds (write the reason in each first)",
        permissions=["change"],
    )
    def deny(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        for refund in queryset:
            try:
                services.refund_deny(
                    refund_id=refund.pk,
                    staff=request.user,  # type: ignore[arg-type]
                    note=refund.decision_note,
                )
            except DomainError as exc:
                self.message_user(request, f"Refund {refund.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Refund {refund.pk} denied.")

    @admin.action(description="Download the evidence we hold (one JSON file)")
    def export_evidence(self, request: HttpRequest, queryset: QuerySet[Refund]) -> HttpResponse:
        bundle = [refund_evidence(r) for r in queryset.select_related("payment__user")]
        response = HttpResponse(
            json.dumps(bundle, indent=2, default=str), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="refund-evidence.json"'
        return response


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = [
        "gateway_dispute_id",
        "payment",
        "amount_minor",
        "status",
        "reason",
        "opened_at",
    ]
    list_filter = ["status"]
    search_fields = ["gateway_dispute_id", "payment__reference"]
    actions = ["export_evidence", "simulate_won", "simulate_lost"]

    @admin.action(description="Download the evidence we hold (one JSON file)")
    def export_evidence(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> HttpResponse:
        bundle = [dispute_evidence(d) for d in queryset.select_related("payment")]
        response = HttpResponse(
            json.dumps(bundle, indent=2, default=str), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="dispute-evidence.json"'
        return response

    def _simulate(self, request: HttpRequest, queryset: QuerySet[Dispute], won: bool) -> None:
        if settings.PAYMENTS_GATEWAY != "local":
            self.message_user(request, "Outcomes come from Stripe itself.", messages.ERROR)
            return
        gateway: Any = get_gateway()
        for d in queryset:
            gateway.simulate_dispute_close(dispute_id=d.gateway_dispute_id, won=won)
        self.message_user(request, "Sent to the local gateway; the outcome arrives by webhook.")

    @admin.action(description="Simulate: dispute won (local gateway only)")
    def simulate_won(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        self._simulate(request, queryset, True)

    @admin.action(description="Simulate: dispute lost (local gateway only)")
    def simulate_lost(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        self._simulate(request, queryset, False)


def dispute_evidence(dispute: Dispute) -> dict[str, Any]:
    return {
        "dispute": {
            "id": dispute.gateway_dispute_id,
            "status": dispute.status,
            "reason": dispute.reason,
            "amount_minor": dispute.amount_minor,
            "currency": dispute.currency,
            "opened_at": dispute.opened_at,
        },
        **payment_evidence(dispute.payment, sender=Dispute),
    }


def refund_evidence(refund: Refund) -> dict[str, Any]:
    """The same file for a refund: what was asked, who decided, and what the apps hold."""
    return {
        "refund": {
            "id": refund.pk,
            "status": refund.status,
            "reason": refund.reason,
            "amount_minor": refund.amount_minor,
            "currency": refund.currency,
            "requested_by": refund.requested_by.email if refund.requested_by else None,
            "decided_by": refund.decided_by.email if refund.decided_by else None,
            "decision_note": refund.decision_note,
            "created_at": refund.created_at,
            "refunded_at": refund.refunded_at,
        },
        **payment_evidence(refund.payment, sender=Refund),
    }


def payment_evidence(payment: Payment, *, sender: type) -> dict[str, Any]:
    """The payment, its ledger and what each app holds about it (the thread, the offers,
    the fulfilment reports, the call logs), asked for with `dispute_evidence_requested`."""
    held = [
        response
        for _, response in dispute_evidence_requested.send(sender=sender, payment=payment)
        if response
    ]
    return {
        "payment": {
            "reference": payment.reference,
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "status": payment.status,
            "intent_id": payment.intent_id,
            "customer": payment.user.email,
            "card": str(payment.card) if payment.card else None,
            "succeeded_at": payment.succeeded_at,
            "events": list(
                payment.events.values("created_at", "from_status", "to_status", "source")
            ),
        },
        "ledger": [
            {"key": t.key, "kind": t.kind, "memo": t.memo, "at": t.created_at}
            for t in payment.ledger_transactions.order_by("id")
        ],
        "held": held,
    }


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    readonly_fields = ["account", "amount_minor", "currency"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["key", "kind", "memo", "created_at"]
    list_filter = ["kind"]
    search_fields = ["key", "memo"]
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["key", "currency", "balance_minor", "user"]
    search_fields = ["key", "user__email"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "received_at", "processed_at", "attempts"]
    list_filter = ["type"]
    search_fields = ["event_id"]


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    list_display = ["user", "brand", "last4", "exp_month", "exp_year", "created_at", "removed_at"]
    search_fields = ["user__email", "last4"]


@admin.register(MembershipPlan)
class MembershipPlanAdmin(admin.ModelAdmin):
    list_display = ["name", "price_minor", "currency", "is_active", "position"]
    list_filter = ["is_active"]
    filter_horizontal = ["categories"]


class MembershipEventInline(admin.TabularInline):
    model = MembershipEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "from_status", "to_status", "note"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user",
        "plan",
        "status",
        "period",
        "current_period_end",
        "cancel_at_period_end",
    ]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["user__email"]
    inlines = [MembershipEventInline]


from . import payout_admin  # noqa: E402,F401  (registers the payout admin)
