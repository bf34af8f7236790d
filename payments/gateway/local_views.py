"""The local gateway's authentication page: a stand-in for a bank's 3-D Secure step.

Stripe shows this step inside Stripe.js; the local gateway sends the customer
here (`IntentResult.next_action_url`) and back to `return_url` afterwards.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from marketplace.money import format_minor

from ..models import GatewayCustomer
from . import get_gateway
from .base import GatewayError
from .local import LocalGateway


def _safe_return_url(url: str) -> str:
    """Only a path on this site: no scheme, no host, no `//host` or `/\\host`."""
    if (
        url.startswith("/")
        and not url.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(url, allowed_hosts=None)
    ):
        return url
    return "/"


@login_required
@require_http_methods(["GET", "POST"])
def authenticate(request: HttpRequest, intent_id: str) -> HttpResponse:
    gateway = get_gateway()
    if not isinstance(gateway, LocalGateway):
        raise Http404("The local payment gateway is not in use.")
    try:
        auth = gateway.authentication_get(intent_id=intent_id)
    except GatewayError as exc:
        raise Http404("No such payment.") from exc
    # Only the customer whose payment it is may authenticate it.
    owns = GatewayCustomer.objects.filter(
        user__pk=request.user.pk or 0, gateway=gateway.name, customer_id=auth.customer_id
    ).exists()
    if not owns:
        raise Http404("No such payment.")
    return_url = request.POST.get("return_url") or request.GET.get("return_url", "")
    if request.method == "POST":
        outcome = request.POST.get("outcome")
        if outcome not in ("complete", "fail"):
            return HttpResponseBadRequest("Choose to complete or to fail the authentication.")
        gateway.authentication_complete(intent_id=intent_id, success=outcome == "complete")
        return redirect(_safe_return_url(return_url))
    return render(
        request,
        "payments/local_authenticate.html",
        {
            "auth": auth,
            "amount_display": format_minor(auth.amount, auth.currency) if auth.amount else "",
            "return_url": _safe_return_url(return_url),
        },
    )
