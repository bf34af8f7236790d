from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from marketplace.admin import ReadOnlyAdmin

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
        # Reports in the verification queue go through it (a phone call is credited then).
        queued = queryset.filter(verified_at__isnull=True, verification__status="pending")
        count = 0
        for report in queued.select_related("verification"):
            earnings.verification_approve(
                verification_id=report.verification.pk,
                staff=request.user,  # type: ignore[arg-type]
            )
            count += 1
        count += queryset.filter(verified_at__isnull=True, verification__isnull=True).update(
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
class CallSessionAdmin(ReadOnlyAdmin):
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


# --- Earnings: the verification queue, credits and their rules, protected refunds ------------

from django import forms  # noqa: E402
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME  # noqa: E402
from django.template.response import TemplateResponse  # noqa: E402
from django.urls import path  # noqa: E402

from marketplace.errors import DomainError  # noqa: E402
from marketplace.money import format_minor  # noqa: E402

from . import earnings  # noqa: E402
from .earnings_models import CreditRecord, FulfilmentVerification, VerificationStatus  # noqa: E402


class _ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Why is the report rejected? (the expert sees it)",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=500,
    )


@admin.register(FulfilmentVerification)
class FulfilmentVerificationAdmin(admin.ModelAdmin):
    """Customer Care's verification queue: reports the call log could not confirm. Approve
    (a phone-call request is credited) or reject with a reason; nothing is edited here."""

    list_display = [
        "offer",
        "status",
        "automatic",
        "connected_minutes",
        "call_ended_at",
        "deadline_at",
        "protected",
        "decided_by",
        "created_at",
    ]
    list_filter = ["status", "automatic", "protected"]
    search_fields = ["offer__question__title", "offer__expert__email"]
    list_select_related = ["offer", "decided_by"]
    readonly_fields = [
        "offer",
        "report",
        "report_notes",
        "status",
        "automatic",
        "call_ended_at",
        "deadline_at",
        "connected_seconds",
        "protected",
        "reason",
        "decided_by",
        "decided_at",
        "created_at",
    ]
    actions = ["approve", "reject"]

    @admin.display(description="connected (min)")
    def connected_minutes(self, obj: FulfilmentVerification) -> str:
        return f"{obj.connected_seconds / 60:.1f}"

    @admin.display(description="the expert's report")
    def report_notes(self, obj: FulfilmentVerification) -> str:
        return obj.report.notes or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Approve the selected reports", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[FulfilmentVerification]) -> None:
        done = 0
        for verification in queryset.filter(status=VerificationStatus.PENDING):
            try:
                earnings.verification_approve(
                    verification_id=verification.pk,
                    staff=request.user,  # type: ignore[arg-type]
                )
            except DomainError as exc:
                self.message_user(request, f"{verification}: {exc.message}", messages.ERROR)
            else:
                done += 1
        self.message_user(request, f"Approved {done} report(s).", messages.SUCCESS)

    @admin.action(description="Reject the selected reports (with a reason)", permissions=["change"])
    def reject(
        self, request: HttpRequest, queryset: QuerySet[FulfilmentVerification]
    ) -> TemplateResponse | None:
        form = _ReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "payments/payout_admin_reason.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Reject fulfilment reports",
                    "form": form,
                    "objects": list(queryset.filter(status=VerificationStatus.PENDING)),
                    "action": request.POST.get("action", ""),
                    "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                    "checkbox_name": ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        done = 0
        for verification in queryset.filter(status=VerificationStatus.PENDING):
            try:
                earnings.verification_reject(
                    verification_id=verification.pk,
                    staff=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                self.message_user(request, f"{verification}: {exc.message}", messages.ERROR)
            else:
                done += 1
        self.message_user(request, f"Rejected {done} report(s).", messages.SUCCESS)
        return None


@admin.register(CreditRecord)
class CreditRecordAdmin(ReadOnlyAdmin):
    """Every credit and reversal with the rule that produced it; read-only. The protected
    refunds report (per month) is linked from here."""

    list_display = ["key", "kind", "amount", "rule", "created_at"]
    list_filter = ["kind"]
    search_fields = ["key", "memo"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "key",
        "kind",
        "memo",
        "rule",
        "details",
        "payment",
        "reverses",
        "created_at",
    ]
    fields = ["key", "kind", "memo", "rule", "details", "payment", "reverses", "created_at"]
    change_list_template = "admin/premium/creditrecord/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditRecord]:
        return (
            super()
            .get_queryset(request)
            .filter(kind__in=["credit", "reversal", "protected_refund"])
            .exclude(details__expert__isnull=True, kind="credit")
        )

    @admin.display(description="rule")
    def rule(self, obj: CreditRecord) -> str:
        return earnings.credit_rule(key=obj.key, kind=obj.kind, details=obj.details or {})

    @admin.display(description="amount")
    def amount(self, obj: CreditRecord) -> str:
        amount = (obj.details or {}).get("amount")
        return format_minor(int(amount)) if isinstance(amount, int) else "—"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "protected-refunds/",
                self.admin_site.admin_view(self.protected_refunds),
                name="premium_protected_refunds",
            ),
            *super().get_urls(),
        ]

    def protected_refunds(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        months = earnings.protected_refunds_by_month()
        return TemplateResponse(
            request,
            "admin/premium/protected_refunds.html",
            {
                **self.admin_site.each_context(request),
                "title": "Protected refunds carried by the platform, by month",
                "rows": [
                    (m.month, m.count, format_minor(m.amount_minor, m.currency)) for m in months
                ],
                "opts": self.model._meta,
            },
        )
