from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .models import (
    Category,
    CustomerProfile,
    EmailPreference,
    ExpertProfile,
    Notification,
    Rollout,
    SupportRequest,
    User,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records staff read but never add, change or delete (they are written by services)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CustomerProfileInline(admin.StackedInline):
    model = CustomerProfile
    can_delete = False
    extra = 0


class ExpertProfileInline(admin.StackedInline):
    model = ExpertProfile
    fk_name = "user"
    can_delete = False
    extra = 0
    filter_horizontal = ["categories"]
    readonly_fields = ["verified_at", "verified_by", "payout_boosts_earned"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "display_name"]
    readonly_fields = ["unread_notifications", "last_login", "date_joined"]
    fieldsets = (
        (None, {"fields": ("email", "password", "display_name", "timezone")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Activity", {"fields": ("last_login", "date_joined", "unread_notifications")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [CustomerProfileInline, ExpertProfileInline]


@admin.register(ExpertProfile)
class ExpertProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "headline", "verified_at", "payout_level_bp", "premium_tool_enabled"]
    list_filter = [
        "categories",
        "premium_tool_enabled",
        ("verified_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["user__email", "user__display_name", "headline"]
    filter_horizontal = ["categories"]
    readonly_fields = ["verified_at", "verified_by", "payout_boosts_earned"]
    autocomplete_fields = ["user"]
    actions = ["verify"]

    @admin.action(description="Verify the selected experts")
    def verify(self, request: HttpRequest, queryset: QuerySet[ExpertProfile]) -> None:
        done = 0
        for profile in queryset.prefetch_related("categories"):
            try:
                services.expert_verify(
                    user=profile.user,
                    staff=request.user,  # type: ignore[arg-type]
                    categories=list(profile.categories.all()),
                )
                done += 1
            except Exception as exc:
                self.message_user(request, f"{profile.user}: {exc}", messages.ERROR)
        self.message_user(request, f"Verified {done} expert(s).")

    def save_model(self, request: HttpRequest, obj: ExpertProfile, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)


@admin.register(CustomerProfile)
class CustomerProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "country", "membership_status"]
    list_filter = ["membership_status", "country"]
    search_fields = ["user__email"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "min_price_minor",
        "max_price_minor",
        "offer_delay_seconds",
        "member_question_value_minor",
        "is_active",
    ]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "text", "created_at", "read_at", "emailed_at"]
    list_filter = ["kind"]
    search_fields = ["user__email", "text"]
    date_hierarchy = "created_at"
    raw_id_fields = ["user"]


@admin.register(EmailPreference)
class EmailPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "enabled"]
    search_fields = ["user__email"]


@admin.register(SupportRequest)
class SupportRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "email", "status", "created_at", "answered_at"]
    list_filter = ["status"]
    search_fields = ["email", "subject", "body"]
    readonly_fields = [
        "user",
        "email",
        "subject",
        "body",
        "created_at",
        "answered_by",
        "answered_at",
    ]
    fields = ["user", "email", "subject", "body", "status", "answer", "answered_by", "answered_at"]

    def save_model(
        self, request: HttpRequest, obj: SupportRequest, form: Any, change: bool
    ) -> None:
        if change and "answer" in form.changed_data and obj.answer.strip():
            services.support_request_answer(
                request_id=obj.pk,
                staff=request.user,  # type: ignore[arg-type]
                answer=obj.answer,
            )
            return
        if change and obj.status != "open" and not obj.answered_at:
            obj.answered_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    """Who sees a staged feature: by country, category and share (see marketplace.rollout).

    The comparison of the two groups is the "Rollout report" (questions admin)."""

    list_display = ["key", "is_enabled", "countries", "share_display", "updated_at", "report"]
    list_filter = ["is_enabled"]
    filter_horizontal = ["categories"]
    fields = ["key", "description", "is_enabled", "countries", "categories", "share_bp", "salt"]

    @admin.display(description="share")
    def share_display(self, obj: Rollout) -> str:
        return f"{obj.share_bp / 100:g}%"

    @admin.display(description="groups compared")
    def report(self, obj: Rollout) -> str:
        # The report reads questions, so it lives in the questions admin (named by URL only).
        return format_html(
            '<a href="{}">Rollout report</a>', reverse("admin:questions_rollout_report")
        )


# --- Payout boosts (marketplace.payout_levels) ------------------------------------------------

from .models import PayoutBoost, PayoutBoostRule  # noqa: E402


@admin.register(PayoutBoostRule)
class PayoutBoostRuleAdmin(admin.ModelAdmin):
    """How each kind of boost is earned and lasts. A change applies to boosts earned from
    now on; boosts already earned keep their figures. Categories whose answers count are
    marked on each category ("answers count toward the payout boost")."""

    list_display = [
        "kind",
        "raise_bp",
        "answers_threshold",
        "duration_days",
        "credit_count",
        "is_active",
    ]


@admin.register(PayoutBoost)
class PayoutBoostAdmin(ReadOnlyAdmin):
    """Boosts experts earned: read-only (granted by the rules, used by credits)."""

    list_display = [
        "expert",
        "kind",
        "raise_bp",
        "earned_at",
        "ends_at",
        "credits_used",
        "credits_total",
        "source",
    ]
    list_filter = ["kind"]
    search_fields = ["expert__email", "source"]
    list_select_related = ["expert"]
