"""Customer Care's side: the flag queue (redact or dismiss), private information read only
with a reason (every read logged), and the access log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from marketplace.errors import DomainError

from . import services
from .models import AccessLog, Flag, FlagStatus, PrivateAttachment, PrivateBox


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Flag)
class FlagAdmin(ReadOnly):
    list_display = [
        "id",
        "message_text",
        "reason",
        "automatic",
        "flagged_by",
        "status",
        "created_at",
    ]
    list_filter = ["status", "reason", "automatic"]
    search_fields = ["message__question__title", "flagged_by__email"]
    readonly_fields = [
        "message",
        "message_text",
        "flagged_by",
        "automatic",
        "reason",
        "note",
        "status",
        "decided_by",
        "decided_at",
        "created_at",
    ]
    fields = tuple(readonly_fields)
    actions = ["redact", "dismiss"]

    @admin.display(description="Message")
    def message_text(self, obj: Flag) -> str:
        return obj.message.body[:200]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Flag]:
        return super().get_queryset(request).select_related("message", "flagged_by")

    @admin.action(description="Redact the flagged messages", permissions=["change"])
    def redact(self, request: HttpRequest, queryset: QuerySet[Flag]) -> None:
        for flag in queryset.filter(status=FlagStatus.OPEN):
            try:
                services.flag_redact(flag_id=flag.pk, staff=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"Flag {flag.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Flag {flag.pk}: the message is redacted.")

    @admin.action(description="Dismiss the selected flags", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Flag]) -> None:
        for flag in queryset.filter(status=FlagStatus.OPEN):
            services.flag_dismiss(flag_id=flag.pk, staff=request.user)  # type: ignore[arg-type]
        self.message_user(request, "Dismissed.")


@admin.register(PrivateBox)
class PrivateBoxAdmin(ReadOnly):
    """The contents are not shown in lists; opening a box asks for a reason and logs the read."""

    list_display = ["question", "opened_at", "updated_at", "erased_at"]
    search_fields = ["question__id", "question__title"]
    fields = ("question", "opened_at", "updated_at", "erased_at")
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:object_id>/read/",
                self.admin_site.admin_view(self.read_view),
                name="privacy_privatebox_read",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        return self.read_view(request, int(object_id))

    def read_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        box = PrivateBox.objects.select_related("question").filter(pk=object_id).first()
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "box": box,
            "title": "Read private information",
        }
        if request.method == "POST" and box is not None:
            try:
                read = services.box_read_by_staff(
                    question_id=box.question_id,
                    staff=request.user,  # type: ignore[arg-type]
                    reason=request.POST.get("reason", ""),
                )
            except DomainError as exc:
                context["error"] = exc.message
            else:
                context["customer_info"] = read.customer_info or {}
                context["expert_info"] = read.expert_info or {}
                context["attachments"] = PrivateAttachment.objects.filter(
                    question_id=box.question_id, erased_at__isnull=True
                )
                context["reason"] = request.POST.get("reason", "")
        return render(request, "privacy/admin_read.html", context)


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnly):
    list_display = ["created_at", "staff", "question", "what", "reason"]
    list_filter = ["what"]
    search_fields = ["staff__email", "reason", "question__id"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
