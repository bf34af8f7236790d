"""Payment pages: the card on file, the return from authentication, and the webhook endpoint."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from marketplace.errors import DomainError
from marketplace.models import User

from . import services, webhooks
from .gateway.base import InvalidSignature
from .models import Payment


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


class LocalCardForm(forms.Form):
    """The local gateway's card form. With Stripe keys the card goes to Stripe's own form."""

    number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    exp_month = forms.IntegerField(label="Expiry month", min_value=1, max_value=12)
    exp_year = forms.IntegerField(label="Expiry year", min_value=2000, max_value=2100)
    cvc = forms.CharField(
        label="Security code (CVC)",
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else ""


@login_required
@require_http_methods(["GET", "POST"])
def card_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = LocalCardForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            card = services.card_save_local(user=user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.message)
            status = exc.status if exc.status in (402, 429) else 400
        else:
            messages.success(request, f"Your card {card} is saved.")
            return redirect(_safe_next(request) or "payment_card")
    elif request.method == "POST":
        status = 400
    context = {
        "form": form,
        "card": services.card_get(user=user),
        "gateway": settings.PAYMENTS_GATEWAY,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "next": _safe_next(request),
    }
    return render(request, "payments/card.html", context, status=status)


@login_required
@require_POST
def card_remove(request: HttpRequest) -> HttpResponse:
    try:
        services.card_remove(user=_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your card was removed.")
    return redirect("payment_card")


@login_required
@require_POST
def stripe_setup_intent(request: HttpRequest) -> HttpResponse:
    """Starts a SetupIntent for Stripe's Payment Element (Stripe keys only)."""
    return JsonResponse(services.card_setup_start(user=_user(request)))


@login_required
def stripe_setup_return(request: HttpRequest) -> HttpResponse:
    try:
        card = services.card_setup_finish(
            user=_user(request), setup_intent_id=request.GET.get("setup_intent", "")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Your card {card} is saved.")
    return redirect("payment_card")


@csrf_exempt  # the gateway cannot send our CSRF token; the signature is the check
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    try:
        _, created = webhooks.webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except InvalidSignature as exc:
        return JsonResponse({"error": exc.code, "detail": exc.message}, status=400)
    return JsonResponse({"received": True, "duplicate": not created})


@login_required
def earnings(request: HttpRequest) -> HttpResponse:
    """An expert's ledger: each credit, reversal and payout with its reason; the balance
    pending and available; the payout account, the next payout run and the payouts."""
    from .payouts import earnings_get_for_expert

    return render(request, "payments/earnings.html", earnings_get_for_expert(user=_user(request)))


@login_required
@require_http_methods(["GET", "POST"])
def membership(request: HttpRequest) -> HttpResponse:
    """Plans with their recurring price and renewal date; join, cancel, refund the last month."""
    from django.utils import timezone

    from . import memberships
    from .models import MembershipPlan, PaymentStatus

    user = _user(request)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "join":
                plan_id = int(request.POST.get("plan") or 0)
                m, payment = memberships.membership_start(
                    user=user, plan_id=plan_id, consent=request.POST.get("consent") == "on"
                )
                if payment.status == PaymentStatus.REQUIRES_ACTION and payment.next_action_url:
                    return redirect(payment.next_action_url)
                messages.success(
                    request,
                    f"You are a Member. {m.price_display} was charged; receipt no. {payment.pk}.",
                )
            elif action == "cancel":
                m = memberships.membership_cancel(user=user)
                messages.success(
                    request,
                    f"Cancelled. Your membership ends on {m.current_period_end:%B %-d, %Y}; "
                    "you will not be charged again.",
                )
            elif action == "refund":
                memberships.membership_refund_last(user=user, reason=request.POST.get("reason", ""))
                messages.success(request, "Your refund request is with Customer Care.")
            else:
                messages.error(request, "Choose what to do.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("membership")
    current = memberships.membership_current(user=user)
    now = timezone.now()
    renews_on = memberships.add_month(now)
    plans = [
        {"plan": p, "consent": memberships.consent_text(p, renews_on)}
        for p in MembershipPlan.objects.filter(is_active=True).prefetch_related("categories")
    ]
    last_payment = refund = None
    if current is not None:
        last_payment = (
            Payment.objects.filter(reference=current.payment_reference())
            .exclude(status=PaymentStatus.FAILED)
            .first()
        )
        refund = last_payment.refunds.order_by("-id").first() if last_payment else None
    context = {
        "current": current,
        "live": current is not None and current.status in memberships.LIVE,
        "plans": plans,
        "renews_on": renews_on,
        "reminder_days": settings.EXPERTLINE_MEMBERSHIP_REMINDER_DAYS,
        "card": services.card_get(user=user),
        "last_payment": last_payment,
        "refund": refund,
        "can_refund": last_payment is not None
        and refund is None
        and last_payment.status == PaymentStatus.SUCCEEDED
        and services.refund_window_open(last_payment),
    }
    return render(request, "payments/membership.html", context)
