from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from . import services
from .models import FulfilmentReport, Offer, OfferEvent, ServiceTemplate


@admin.register(ServiceTemplate)
class ServiceTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "category", "expert", "usual_price_minor", "is_active"]
    list_filter = ["kind", "category", "is_active"]
    search_fields = ["name", "expert__email"]
    raw_id_fields = ["expert"]


class OfferEventInline(admin.TabularInline):
    model = OfferEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "actor", "from_status", "to_status", "note"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FulfilmentReportInline(admin.StackedInline):
    model = FulfilmentReport
    extra = 0
    can_delete = False
    readonly_fields = ["delivered", "notes", "filed_at", "verified_at", "verified_by"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    """Offers by status, kind and category; "cannot be completed" is the status filter
    `Cannot be completed`. Statuses change only through premium.services."""

    list_display = [
        "id",
        "service_name",
        "kind",
        "status",
        "price_minor",
        "question",
        "expert",
        "sent_at",
    ]
    list_filter = ["status", "kind", "service_kind", "question__category"]
    search_fields = ["service_name", "question__title", "expert__email", "customer__email"]
    date_hierarchy = "sent_at"
    raw_id_fields = ["question", "expert", "customer", "template"]
    readonly_fields = [
        "status",
        "sent_at",
        "accepting_since",
        "accepted_at",
        "closed_at",
        "decline_reason",
        "cancel_reason",
        "charge_failure",
    ]
    inlines = [FulfilmentReportInline, OfferEventInline]
    # Adding an offer here creates an Auto Premium Service through premium.services.
    add_fields = ["question", "service_kind", "service_name", "description", "price_minor"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.inlines

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        created = services.auto_offer_create(
            question_id=obj.question_id,
            service_name=obj.service_name,
            description=obj.description,
            price_minor=obj.price_minor,
            kind=obj.service_kind,
        )
        obj.pk = created.pk


@admin.register(FulfilmentReport)
class FulfilmentReportAdmin(admin.ModelAdmin):
    list_display = ["offer", "delivered", "filed_at", "verified_at", "verified_by"]
    list_filter = ["delivered", ("verified_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["offer", "delivered", "notes", "filed_at", "verified_at", "verified_by"]
    actions = ["verify"]

    @admin.action(description="Verify the selected fulfilment reports", permissions=["change"])
    def verify(self, request: HttpRequest, queryset: QuerySet[FulfilmentReport]) -> None:
        count = queryset.filter(verified_at__isnull=True).update(
            verified_at=timezone.now(), verified_by=request.user
        )
        self.message_user(request, f"Verified {count} report(s).", messages.SUCCESS)


# --- Calls and screen shares (read-only logs, for quality and payment disputes) --------------

from .call_models import CallEvent, CallParticipant, CallSession  # noqa: E402


class CallParticipantInline(admin.TabularInline):
    model = CallParticipant
    extra = 0
    can_delete = False
    readonly_fields = ["user", "role", "joined_at", "joins", "left_at", "last_heartbeat_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CallEventInline(admin.TabularInline):
    model = CallEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "actor", "kind", "from_status", "to_status", "note"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CallSession)
class CallSessionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "offer",
        "created_at",
        "connected_at",
        "ended_at",
        "duration",
        "end_reason",
        "consented_at",
    ]
    list_filter = ["kind", "status", "end_reason"]
    search_fields = ["offer__question__title", "offer__customer__email", "offer__expert__email"]
    list_select_related = ["offer"]
    date_hierarchy = "created_at"
    inlines = [CallParticipantInline, CallEventInline]
    fields = readonly_fields = (
        "offer",
        "kind",
        "status",
        "created_at",
        "connected_at",
        "ended_at",
        "duration",
        "end_reason",
        "ended_by",
        "consented_at",
        "customer_joined_at",
        "expert_joined_at",
    )

    @admin.display(description="Duration")
    def duration(self, obj: CallSession) -> str:
        from .calls import duration_text

        return duration_text(obj.duration_seconds) if obj.ended_at else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
