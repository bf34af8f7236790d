"""Shared pages: home, account settings, notifications, help, health."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import notifications, presence, services
from .forms import AccountSettingsForm, SupportRequestForm
from .models import Notification, User


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    prefs = notifications.email_preferences_get(user)
    form = AccountSettingsForm(
        request.POST or None,
        email_prefs=prefs,
        initial={"display_name": user.display_name, "timezone": user.timezone},
    )
    if request.method == "POST" and form.is_valid():
        services.account_settings_update(
            user=user,
            display_name=form.cleaned_data["display_name"],
            timezone_name=form.cleaned_data["timezone"],
            email_enabled=form.email_choices(),
        )
        messages.success(request, "Your settings are saved.")
        return redirect("account_settings")
    return render(request, "account/settings.html", {"form": form})


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    items = list(
        Notification.objects.filter(user=_user(request)).order_by("-created_at", "-id")[:50]
    )
    return render(request, "notifications/list.html", {"items": items})


@login_required
@require_POST
def notification_mark_read(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("id")
    ids = [int(raw)] if raw and raw.isdigit() else None
    notifications.notifications_mark_read(user=_user(request), ids=ids)
    target = request.POST.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("notification_list")


@login_required
@require_GET
def bell_poll(request: HttpRequest) -> HttpResponse:
    """The bell's count for pages without a thread poll; no query beyond the session user."""
    user = _user(request)
    presence.mark(user.pk)
    return JsonResponse({"unread": user.unread_notifications})


@csrf_exempt  # RFC 8058 one-click unsubscribe POSTs without a session; the token is signed.
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    parsed = notifications.unsubscribe_token_read(token)
    if parsed is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    user_id, kind = parsed
    done = False
    if request.method == "POST":
        user = User.objects.filter(pk=user_id).first()
        if user:
            notifications.email_preferences_set(user=user, enabled={kind: False})
        done = True
    from .models import NotificationKind

    return render(
        request,
        "notifications/unsubscribe.html",
        {"kind_label": NotificationKind(kind).label, "done": done},
    )


@require_GET
def help_page(request: HttpRequest) -> HttpResponse:
    return render(request, "help.html")


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    initial = {"email": user.email} if user.is_authenticated else {}
    form = SupportRequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        sr = services.support_request_create(
            user=user if user.is_authenticated else None, **form.cleaned_data
        )
        messages.success(
            request, f"Thank you. Customer Care has your request #{sr.pk} and will answer by email."
        )
        return redirect("help")
    return render(request, "contact.html", {"form": form})


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """The database and the Celery broker both answer: 200; otherwise 503 with which failed."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        from django.conf import settings
        from kombu import Connection

        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


@require_GET
def benchmark_floor(request: HttpRequest) -> HttpResponse:
    """The benchmarks' floor: 20 questions (id, title) through the ORM and a template."""
    from questions.models import Question

    rows = list(Question.objects.order_by("-id").values("id", "title")[:20])
    return render(request, "benchmark_floor.html", {"rows": rows})
