"""Premium pages: the offer form, accept / decline / withdraw, delivery, the catalog."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import DomainError, NotFound
from marketplace.models import User
from payments import services as payment_services
from payments.models import PaymentStatus
from questions import selectors as question_selectors

from . import services
from .forms import NEW, CatalogForm, OfferForm
from .models import Offer, ServiceTemplate


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _back(offer: Offer) -> HttpResponse:
    return redirect(f"/q/{offer.question_id}/#offer-{offer.pk}")


def _flash(request: HttpRequest, exc: DomainError) -> None:
    if exc.status in (403, 404, 429):  # 429: a page of its own with the message
        raise exc
    messages.error(request, exc.message)


def _offer_for(user: User, offer_id: int) -> Offer:
    offer = Offer.objects.select_related("question").filter(pk=offer_id).first()
    if offer is None or user.pk not in (offer.customer_id, offer.expert_id):
        raise NotFound(services.NOT_FOUND)
    return offer


@login_required
@require_POST
def offer_send(request: HttpRequest, question_id: int) -> HttpResponse:
    user = _user(request)
    access = question_selectors.thread_get_for_user(question_id=question_id, user=user)
    if access.role != "expert":
        raise NotFound(question_selectors.NOT_FOUND)
    templates = services.templates_for_offer(question=access.question, expert=user)
    form = OfferForm(request.POST, templates=templates)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(f"/q/{question_id}/#offer-form")
    data = form.cleaned_data
    new_service = None
    template_id = None
    if data["service"] == NEW:
        new_service = services.NewService(
            data["new_name"],
            data["new_description"],
            data["new_usual_price"],
            data["new_kind"] or "other",
        )
    else:
        template_id = int(data["service"])
    try:
        offer = services.offer_send(
            expert=user,
            question_id=question_id,
            template_id=template_id,
            new_service=new_service,
            price_minor=data["price"],
            description=data["description"],
        )
    except DomainError as exc:
        _flash(request, exc)
        return redirect(f"/q/{question_id}/#offer-form")
    messages.success(request, f"Your offer of {offer.service_name} was sent.")
    return _back(offer)


@login_required
@require_http_methods(["GET", "POST"])
def offer_accept(request: HttpRequest, offer_id: int) -> HttpResponse:
    """GET: the amount and the card on file, to confirm. POST: accept and pay."""
    user = _user(request)
    offer = _offer_for(user, offer_id)
    if offer.customer_id != user.pk:
        raise NotFound(services.NOT_FOUND)
    if request.method == "GET":
        card = payment_services.card_get(user=user)
        return render(request, "premium/accept.html", {"offer": offer, "card": card})
    try:
        offer, payment = services.offer_accept(offer_id=offer.pk, customer=user)
    except payment_services.PaymentFailed as exc:
        messages.error(request, f"The payment did not go through: {exc.message}")
        return _back(offer)
    except DomainError as exc:
        _flash(request, exc)
        return _back(offer)
    if payment and payment.status == PaymentStatus.REQUIRES_ACTION and payment.next_action_url:
        return redirect(payment.next_action_url)
    messages.success(request, f"Accepted: {offer.price_display} paid for {offer.service_name}.")
    return _back(offer)


@login_required
@require_GET
def offer_payment_return(request: HttpRequest, offer_id: int) -> HttpResponse:
    offer = services.offer_payment_sync(offer_id=offer_id, customer=_user(request))
    if offer.status == "accepted":
        messages.success(request, f"Accepted: {offer.price_display} paid for {offer.service_name}.")
    elif offer.charge_failure:
        messages.error(request, f"The payment did not go through: {offer.charge_failure}")
    return _back(offer)


def _act(request: HttpRequest, offer_id: int, action: str) -> HttpResponse:
    user = _user(request)
    offer = _offer_for(user, offer_id)
    post = request.POST
    try:
        if action == "decline":
            services.offer_decline(offer_id=offer.pk, customer=user, reason=post.get("reason", ""))
            messages.success(request, "You declined the offer.")
        elif action == "withdraw":
            services.offer_withdraw(offer_id=offer.pk, expert=user)
            messages.success(request, "Your offer was withdrawn.")
        elif action == "fulfil":
            services.offer_fulfil(
                offer_id=offer.pk,
                expert=user,
                delivered=post.get("delivered") == "yes",
                notes=post.get("notes", ""),
            )
            messages.success(request, "Thank you: the service is marked fulfilled.")
        elif action == "cannot_complete":
            services.offer_cannot_complete(
                offer_id=offer.pk, expert=user, reason=post.get("reason", "")
            )
            messages.success(request, "The customer is told and refunded in full.")
        elif action == "refund":
            services.offer_refund_request(
                offer_id=offer.pk, customer=user, reason=post.get("reason", "")
            )
            messages.success(request, "Your refund request is with Customer Care.")
    except DomainError as exc:
        _flash(request, exc)
    return _back(offer)


@login_required
@require_POST
def offer_decline(request: HttpRequest, offer_id: int) -> HttpResponse:
    return _act(request, offer_id, "decline")


@login_required
@require_POST
def offer_withdraw(request: HttpRequest, offer_id: int) -> HttpResponse:
    return _act(request, offer_id, "withdraw")


@login_required
@require_POST
def offer_fulfil(request: HttpRequest, offer_id: int) -> HttpResponse:
    return _act(request, offer_id, "fulfil")


@login_required
@require_POST
def offer_cannot_complete(request: HttpRequest, offer_id: int) -> HttpResponse:
    return _act(request, offer_id, "cannot_complete")


@login_required
@require_POST
def offer_refund(request: HttpRequest, offer_id: int) -> HttpResponse:
    return _act(request, offer_id, "refund")


@login_required
@require_http_methods(["GET", "POST"])
def catalog(request: HttpRequest) -> HttpResponse:
    """The expert's own services: add, edit, retire."""
    user = _user(request)
    if not user.is_expert:
        raise NotFound("The service catalog is for experts.")
    editing = request.GET.get("edit") or request.POST.get("template_id")
    template = ServiceTemplate.objects.filter(pk=editing, expert=user).first() if editing else None
    initial = (
        {
            "name": template.name,
            "description": template.description,
            "usual_price": f"{template.usual_price_minor / 100:.2f}",
            "kind": template.kind,
        }
        if template
        else None
    )
    form = CatalogForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if request.POST.get("retire"):
            try:
                services.catalog_template_retire(
                    expert=user, template_id=int(request.POST["retire"])
                )
                messages.success(request, "The service is retired from your catalog.")
            except (DomainError, ValueError) as exc:
                messages.error(request, getattr(exc, "message", "Unknown service."))
            return redirect("premium_catalog")
        if form.is_valid():
            try:
                services.catalog_template_save(
                    expert=user,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    usual_price_minor=form.cleaned_data["usual_price"],
                    kind=form.cleaned_data["kind"],
                    template_id=template.pk if template else None,
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Your catalog is saved.")
                return redirect("premium_catalog")
    items = ServiceTemplate.objects.filter(expert=user).order_by("-is_active", "name")
    return render(
        request, "premium/catalog.html", {"form": form, "items": items, "editing": template}
    )
