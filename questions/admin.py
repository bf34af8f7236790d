from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from . import rollout_report
from .models import IntakeQuestion, IntakeSession, Message, Question, QuestionEvent


class QuestionEventInline(admin.TabularInline):
    model = QuestionEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "actor", "from_status", "to_status", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "category",
        "status",
        "channel",
        "customer",
        "expert",
        "created_at",
    ]
    list_filter = ["status", "channel", "experience", "category", "is_member_question"]
    search_fields = ["id", "title", "customer__email", "expert__email"]
    date_hierarchy = "created_at"
    raw_id_fields = ["customer", "expert"]
    # Status moves only through questions.services; the admin shows it.
    readonly_fields = [
        "status",
        "version",
        "last_message_id",
        "message_count",
        "rating_stars",
        "rating_automatic",
        "rated_at",
        "posted_at",
        "picked_up_at",
        "bot_transcript",
        "experience",
        "phone_price_minor",
    ]
    inlines = [QuestionEventInline]

    def get_urls(self) -> list[URLPattern]:
        report = path(
            "rollout-report/",
            self.admin_site.admin_view(self.rollout_report_view),
            name="questions_rollout_report",
        )
        return [report, *super().get_urls()]

    def rollout_report_view(self, request: HttpRequest) -> HttpResponse:
        """Phone-first rollout: the groups side by side (staff with the view permission)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Phone-first rollout: the groups compared",
            "rows": rollout_report.rollout_report(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/questions/rollout_report.html", context)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "question", "author", "created_at"]
    search_fields = ["body", "author__email", "question__id"]
    raw_id_fields = ["question", "author"]
    readonly_fields = ["body_html", "created_at"]


@admin.register(IntakeQuestion)
class IntakeQuestionAdmin(admin.ModelAdmin):
    """The intake bot's questions, per category, in order. Choice questions list their
    answers one per line; the customer must pick one of them."""

    list_display = ["prompt", "category", "position", "kind", "max_chars", "is_active"]
    list_editable = ["position", "is_active"]
    list_filter = ["category", "kind", "is_active"]
    search_fields = ["prompt"]


@admin.register(IntakeSession)
class IntakeSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "category", "experience", "question", "created_at"]
    list_filter = ["experience", "category"]
    search_fields = ["customer__email", "title"]
    raw_id_fields = ["customer", "question"]
    readonly_fields = ["script", "answers", "experience", "created_at", "updated_at"]
