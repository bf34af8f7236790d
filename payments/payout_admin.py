"""Admin for payouts. (Imported by payments.admin.)

Finance sees payout accounts, batches (with their lines) and lines, read-only: amounts and
statuses change only through payments.payouts. Finance holds an expert's payouts with a
reason (the hold's add form, or the action on payout accounts) and releases them with a
note (an action on holds); Customer Care can look.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count, Q, QuerySet, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from marketplace.admin import ReadOnlyAdmin
from marketplace.errors import DomainError
from marketplace.models import User
from marketplace.money import format_minor

from . import payouts
from .gateway.base import GatewayError
from .payout_models import (
    PayoutAccount,
    PayoutBatch,
    PayoutHold,
    PayoutLine,
    PayoutLineEvent,
    PayoutLineStatus,
)

# Lines shown inline on a batch page; the full list is one click away.
INLINE_LINES = 200


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=500
    )


def _reason_step(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: str,
    label: str,
) -> str | TemplateResponse:
    """The reason an action needs: the posted one, or a page asking for it."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        return str(form.cleaned_data["reason"])
    form.fields["reason"].label = label
    return TemplateResponse(
        request,
        "payments/payout_admin_reason.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "form": form,
            "objects": list(queryset),
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )


@admin.register(PayoutAccount)
class PayoutAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "account_id", "gateway", "status", "missing", "checked_at"]
    list_filter = ["status", "gateway"]
    search_fields = ["user__email", "account_id"]
    list_select_related = ["user"]
    actions = ["refresh_status", "hold_payouts"]

    @admin.action(description="Ask the gateway for the selected accounts' status")
    def refresh_status(self, request: HttpRequest, queryset: QuerySet[PayoutAccount]) -> None:
        for account in queryset:
            try:
                done = payouts.payout_account_sync(account_id=account.account_id)
            except GatewayError as exc:
                self.message_user(request, f"{account}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{done.user}: {done.get_status_display()}.")

    def has_hold_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(payouts.HOLD_PERMISSION)

    @admin.action(description="Hold the payouts of the selected experts", permissions=["hold"])
    def hold_payouts(
        self, request: HttpRequest, queryset: QuerySet[PayoutAccount]
    ) -> HttpResponse | None:
        reason = _reason_step(
            self,
            request,
            queryset.select_related("user"),
            title="Hold payouts",
            label="Why are these payouts held? (Finance and Customer Care see it)",
        )
        if isinstance(reason, TemplateResponse):
            return reason
        for account in queryset.select_related("user"):
            try:
                payouts.payout_hold_place(
                    expert=account.user,
                    staff=request.user,  # type: ignore[arg-type]
                    reason=reason,
                )
            except DomainError as exc:
                self.message_user(request, f"{account.user}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Payouts of {account.user} are on hold.")
        return None


LINE_INLINE_FIELDS = [
    "expert",
    "amount_display",
    "status",
    "attempts",
    "transfer_id",
    "failure_message",
    "paid_at",
]
BATCH_FIELDS = [
    "run_key",
    "gateway",
    "status",
    "cutoff",
    "hold_days",
    "minimum_minor",
    "created_at",
    "lines_created_at",
    "finished_at",
    "summary",
]
HOLD_FIELDS = [
    "expert",
    "reason",
    "placed_by",
    "placed_at",
    "released_at",
    "released_by",
    "release_note",
]


class PayoutLineInline(admin.TabularInline):
    model = PayoutLine
    extra = 0
    can_delete = False
    show_change_link = True
    fields = tuple(LINE_INLINE_FIELDS)
    readonly_fields = LINE_INLINE_FIELDS
    verbose_name_plural = f"lines (the first {INLINE_LINES})"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "status",
        "gateway",
        "line_count",
        "total",
        "paid",
        "failed",
    ]
    list_filter = ["status", "gateway"]
    date_hierarchy = "created_at"
    fields = tuple(BATCH_FIELDS)
    readonly_fields = BATCH_FIELDS
    inlines = [PayoutLineInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PayoutBatch]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_lines=Count("lines"),
                total_minor=Sum("lines__amount_minor"),
                paid_minor=Sum("lines__amount_minor", filter=Q(lines__status="paid")),
                n_failed=Count("lines", filter=Q(lines__status="failed")),
            )
        )

    @admin.display(description="lines", ordering="n_lines")
    def line_count(self, batch: Any) -> int:
        return int(batch.n_lines)

    @admin.display(description="total")
    def total(self, batch: Any) -> str:
        return format_minor(int(batch.total_minor or 0))

    @admin.display(description="paid")
    def paid(self, batch: Any) -> str:
        return format_minor(int(batch.paid_minor or 0))

    @admin.display(description="failed lines")
    def failed(self, batch: Any) -> int:
        return int(batch.n_failed)

    @admin.display(description="lines")
    def summary(self, batch: PayoutBatch) -> str:
        url = reverse("admin:payments_payoutline_changelist") + f"?batch__id__exact={batch.pk}"
        by_status = {
            row["status"]: row
            for row in batch.lines.values("status").annotate(n=Count("id"), s=Sum("amount_minor"))
        }
        parts = [
            f"{PayoutLineStatus(status).label}: {row['n']} ({format_minor(int(row['s'] or 0))})"
            for status, row in sorted(by_status.items())
        ]
        return format_html(
            '{} · <a href="{}">all lines of this batch</a>', "; ".join(parts) or "none", url
        )

    def get_formset_kwargs(
        self, request: HttpRequest, obj: Any, inline: Any, prefix: str
    ) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, PayoutLineInline) and obj is not None and obj.pk:
            first = PayoutLine.objects.filter(batch=obj).order_by("id").values("pk")
            kwargs["queryset"] = PayoutLine.objects.filter(
                pk__in=Subquery(first[:INLINE_LINES])
            ).select_related("expert")
        return kwargs


class PayoutLineEventInline(admin.TabularInline):
    model = PayoutLineEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "from_status", "to_status", "note", "actor"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PayoutLine)
class PayoutLineAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "batch",
        "expert",
        "amount_display",
        "status",
        "attempts",
        "transfer_id",
        "failure_message",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status"]
    search_fields = ["expert__email", "transfer_id", "destination"]
    list_select_related = ["batch", "expert"]
    date_hierarchy = "created_at"
    inlines = [PayoutLineEventInline]


class PayoutHoldForm(forms.ModelForm):
    class Meta:
        model = PayoutHold
        fields = ["expert", "reason"]
        widgets = {"reason": forms.Textarea(attrs={"rows": 3, "cols": 60})}
        help_texts = {"reason": "Why the payouts are held. Finance and Customer Care see it."}

    def clean_expert(self) -> User:
        expert: User = self.cleaned_data["expert"]
        if PayoutHold.objects.filter(expert=expert, released_at__isnull=True).exists():
            raise forms.ValidationError("This expert's payouts are already on hold.")
        return expert


@admin.register(PayoutHold)
class PayoutHoldAdmin(admin.ModelAdmin):
    form = PayoutHoldForm
    list_display = [
        "expert",
        "reason",
        "placed_by",
        "placed_at",
        "active",
        "released_by",
        "released_at",
        "release_note",
    ]
    list_filter = [("released_at", admin.EmptyFieldListFilter)]
    search_fields = ["expert__email", "reason", "release_note"]
    list_select_related = ["expert", "placed_by", "released_by"]
    autocomplete_fields = ["expert"]
    actions = ["release"]

    @admin.display(boolean=True, description="active")
    def active(self, hold: PayoutHold) -> bool:
        return hold.is_active

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else HOLD_FIELDS

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["expert", "reason"] if obj is None else HOLD_FIELDS

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "expert":
            kwargs["queryset"] = User.objects.filter(expert_profile__isnull=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: PayoutHold, form: Any, change: bool) -> None:
        if change:
            return  # a hold is never edited: it is released with a note (the action)
        hold = payouts.payout_hold_place(
            expert=obj.expert,
            staff=request.user,  # type: ignore[arg-type]
            reason=obj.reason,
        )
        obj.pk = hold.pk
        obj.placed_by = hold.placed_by
        obj.placed_at = hold.placed_at

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Release the selected holds (with a note)", permissions=["change"])
    def release(self, request: HttpRequest, queryset: QuerySet[PayoutHold]) -> HttpResponse | None:
        active = queryset.filter(released_at__isnull=True).select_related("expert")
        note = _reason_step(
            self, request, active, title="Release payouts", label="Why are the payouts released?"
        )
        if isinstance(note, TemplateResponse):
            return note
        for hold in active:
            try:
                payouts.payout_hold_release(
                    hold_id=hold.pk,
                    staff=request.user,  # type: ignore[arg-type]
                    note=note,
                )
            except DomainError as exc:
                self.message_user(request, f"{hold}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Payouts of {hold.expert} are released.")
        return None
