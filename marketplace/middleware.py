from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from . import dispatch
from .errors import DomainError


class TaskBatchMiddleware:
    """Outermost: the Celery tasks a request enqueues leave as one message when it ends
    (`marketplace.dispatch`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with dispatch.gathered():
            return self.get_response(request)


class UserTimezoneMiddleware:
    """Shows times in the signed-in user's zone; everything is stored in UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tz_name = getattr(request.user, "timezone", None) if request.user.is_authenticated else None
        if tz_name and tz_name != "UTC":
            try:
                timezone.activate(zoneinfo.ZoneInfo(tz_name))
            except zoneinfo.ZoneInfoNotFoundError:
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


class StaffTwoFactorMiddleware:
    """Staff reach the admin only with two-factor authentication set up.

    The admin's own login page is replaced by the allauth login (which asks for
    the TOTP code), see marketplace.urls.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.EXPERTLINE_STAFF_MFA_REQUIRED
            and request.path.startswith("/admin/")
            and request.user.is_authenticated
            and request.user.is_staff
        ):
            from allauth.mfa.models import Authenticator

            has_totp = Authenticator.objects.filter(
                user=request.user, type=Authenticator.Type.TOTP
            ).exists()
            if not has_totp:
                messages.warning(
                    request, "Staff accounts need two-factor authentication before the admin opens."
                )
                return redirect("mfa_activate_totp")
        return self.get_response(request)


class DomainErrorMiddleware:
    """Maps a DomainError that a page view did not handle to a page with its message."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, DomainError):
            return None
        if request.headers.get("Accept", "").startswith(
            "application/json"
        ) or request.path.startswith("/api/"):
            from django.http import JsonResponse

            return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.status)
        return render(request, "error.html", {"error": exc}, status=exc.status)
