"""Payout account pages: connect (Stripe Connect onboarding, or the local gateway's stand-in),
the return from onboarding, and the local gateway's onboarding form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import DomainError
from marketplace.models import User

from . import payouts
from .gateway import get_gateway
from .gateway.local import LocalGateway


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@login_required
@require_GET
def payout_account(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.is_expert:
        raise Http404("Payout accounts are for experts.")
    account = payouts.payout_account_get(user=user)
    return render(
        request,
        "payments/payout_account.html",
        {
            "account": account,
            "missing": payouts.requirement_labels(account.missing) if account else [],
            "gateway": get_gateway().name,
        },
    )


def _to_onboarding(request: HttpRequest) -> HttpResponse:
    try:
        url = payouts.payout_account_connect(
            user=_user(request),
            return_url=request.build_absolute_uri(reverse("payout_account_return")),
            refresh_url=request.build_absolute_uri(reverse("payout_account_refresh")),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("payout_account")
    return redirect(url)


@login_required
@require_POST
def payout_account_connect(request: HttpRequest) -> HttpResponse:
    """Makes the expert's connected account (once) and sends the expert to onboarding."""
    return _to_onboarding(request)


@login_required
@require_GET
def payout_account_refresh(request: HttpRequest) -> HttpResponse:
    """Stripe sends the expert here when an onboarding link expired: a fresh link."""
    if payouts.payout_account_get(user=_user(request)) is None:
        return redirect("payout_account")
    return _to_onboarding(request)


@login_required
@require_GET
def payout_account_return(request: HttpRequest) -> HttpResponse:
    """Back from onboarding: ask the gateway where the account stands."""
    try:
        account = payouts.payout_account_refresh(user=_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("payout_account")
    if account.status == account.Status.READY:
        messages.success(request, "Your payout account is ready: payouts will be sent to it.")
    else:
        missing = ", ".join(payouts.requirement_labels(account.missing)) or "your details"
        messages.warning(request, f"Your payout account is not finished: missing {missing}.")
    return redirect("payout_account")


def _safe_return_url(request: HttpRequest, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("payout_account_return")


@login_required
@require_http_methods(["GET", "POST"])
def local_payout_onboarding(request: HttpRequest, account_id: str) -> HttpResponse:
    """The local gateway's stand-in for Stripe's hosted onboarding."""
    gateway = get_gateway()
    if not isinstance(gateway, LocalGateway):
        raise Http404("The local payment gateway is not in use.")
    account = payouts.local_onboarding_owner(account_id=account_id, user=_user(request))
    if account is None:
        raise Http404("No such payout account.")
    return_url = _safe_return_url(
        request, request.POST.get("return_url") or request.GET.get("return_url", "")
    )
    if request.method == "POST":
        outcome = request.POST.get("outcome")
        if outcome not in ("complete", "incomplete"):
            return HttpResponseBadRequest("Choose to complete onboarding or to leave it.")
        gateway.payout_account_onboard(account_id=account_id, complete=outcome == "complete")
        return redirect(return_url)
    return render(
        request,
        "payments/payout_local_onboarding.html",
        {"account": account, "return_url": return_url},
    )
