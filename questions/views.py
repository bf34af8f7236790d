"""Question pages: thin views that parse, call one service or selector, and render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from marketplace import notifications, presence
from marketplace.errors import DomainError, NotFound
from marketplace.models import Category, User
from marketplace.services import customer_profile_get
from payments import memberships
from payments import services as payment_services
from payments.models import PaymentStatus
from payments.services import PaymentFailed

from . import fragments, intake, panels, selectors, services
from .forms import AskForm, RateForm
from .middleware import TOKEN_HEADER, poll_token
from .models import Message, QuestionStatus


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _flash_or_raise(request: HttpRequest, exc: DomainError) -> None:
    """Show a refusal on the page the user came from; access errors keep their 403/404."""
    if exc.status in (403, 404, 429):  # 429: a page of its own with the message
        raise exc
    messages.error(request, exc.message)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    context: dict[str, object] = {"categories": Category.objects.filter(is_active=True)}
    if user.is_authenticated:
        if user.is_expert:
            context["assigned"] = selectors.questions_of_expert(expert=user)
        elif not user.is_staff:
            context["asked"] = selectors.questions_of_customer(customer=user)
    return render(request, "home.html", context)


@login_required
def ask(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user.is_staff or hasattr(user, "expert_profile"):
        messages.info(
            request, "Experts and staff answer questions; asking needs a customer account."
        )
        return redirect("home")
    member = customer_profile_get(user=user).is_member
    covered = memberships.covered_category_ids(user=user)
    form = AskForm(
        request.POST or None, member=member, covered=covered, initial=request.GET or None
    )
    if request.method == "POST" and form.is_valid():
        # The customer's first message to the intake bot: the bot asks the category's
        # questions (and chat or phone, in the phone-first rollout), or, with nothing to
        # ask, the draft is charged and posted at once as before.
        try:
            session, draft = intake.ask_start(
                customer=user,
                category=form.cleaned_data["category"],
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                price_minor=form.cleaned_data.get("price"),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if draft is None:
                return redirect("intake", session.pk)
            return _pay_and_post(request, draft.pk)
    status = 400 if request.method == "POST" else 200
    context = {
        "form": form,
        "member": member,
        "covered_names": list(
            Category.objects.filter(pk__in=covered, is_active=True).values_list("name", flat=True)
        ),
        "card": payment_services.card_get(user=user),
    }
    return render(request, "questions/ask.html", context, status=status)


def _pay_and_post(request: HttpRequest, question_id: int) -> HttpResponse:
    """Charge the draft and post it; on a decline the draft page says why."""
    try:
        question, payment = services.question_pay_and_post(
            question_id=question_id, customer=_user(request)
        )
    except PaymentFailed as exc:
        messages.error(
            request, f"Your question is saved as a draft and was not posted: {exc.message}"
        )
        return redirect("question_detail", question_id)
    if payment is not None and payment.status == PaymentStatus.REQUIRES_ACTION:
        if payment.next_action_url:
            return redirect(payment.next_action_url)
        messages.info(request, "Your bank asks you to confirm this payment.")
        return redirect("question_detail", question_id)
    messages.success(request, "Your question is posted. An expert will pick it up soon.")
    return redirect("question_detail", question.pk)


@login_required
@require_POST
def question_pay(request: HttpRequest, question_id: int) -> HttpResponse:
    """Retry paying a draft (after a decline, with the same or a new card)."""
    return _pay_and_post(request, question_id)


@login_required
@require_GET
def question_payment_return(request: HttpRequest, question_id: int) -> HttpResponse:
    """Back from authenticating the payment: ask the gateway where it stands."""
    access = selectors.question_get_for_user(question_id=question_id, user=_user(request))
    if access.role != "customer":
        raise NotFound(selectors.NOT_FOUND)
    payment = selectors.question_payment(access.question)
    if payment is not None:
        payment = payment_services.payment_sync(payment_id=payment.pk, source="return")
        if payment.status == PaymentStatus.SUCCEEDED:
            messages.success(request, "Payment confirmed. Your question is posted.")
        elif payment.status == PaymentStatus.FAILED:
            messages.error(request, f"The payment did not go through: {payment.failure_message}")
    return redirect("question_detail", question_id)


@login_required
@require_POST
def question_refund_request(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.question_refund_request(
            question_id=question_id, customer=_user(request), reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        _flash_or_raise(request, exc)
    else:
        messages.success(
            request, "Your refund request is with Customer Care. We will tell you the outcome."
        )
    return redirect("question_detail", question_id)


def _message_json(message: Message, viewer_id: int) -> dict[str, Any]:
    return {
        "id": message.pk,
        "author": message.author.name,
        "mine": message.author_id == viewer_id,
        "html": message.body_html,
        "created_at": message.created_at.isoformat(),
        "created_display": fragments.time_display(message.created_at),
    }


@login_required
@require_GET
def question_detail(request: HttpRequest, question_id: int) -> HttpResponse:
    user = _user(request)
    access = selectors.question_get_for_user(question_id=question_id, user=user)
    question = access.question
    if not access.can_read_thread:
        return render(request, "questions/preview.html", {"question": question})
    # The payment is the customer's (and staff's) business, not the expert's.
    sees_payment = access.role in ("customer", "staff") and not question.is_member_question
    payment = selectors.question_payment(question) if sees_payment else None
    refund = selectors.question_refund(payment) if payment else None
    if question.status == QuestionStatus.INTAKE:
        return render(
            request,
            "questions/draft.html",
            {
                "question": question,
                "payment": payment,
                "card": payment_services.card_get(user=user),
            },
        )
    presence.mark_throttled(user.pk, presence.question_place(question.pk))
    if user.unread_notifications:
        # Opening the conversation is reading what the bell said about it.
        notifications.notifications_mark_read(user=user, url=services.question_url(question.pk))
    context = {
        "question": question,
        "access": access,
        "thread_html": mark_safe(  # noqa: S308 - rendered by our template, bodies escaped
            fragments.thread_html(question, viewer_id=user.pk, can_flag=access.can_write)
        ),
        "poll_interval_ms": settings.EXPERTLINE_POLL_INTERVAL_MS,
        "poll_token": poll_token(
            question_id=question.pk,
            user_id=user.pk,
            version=question.version,
            session_key=request.session.session_key,
        ),
        "max_chars": settings.EXPERTLINE_MESSAGE_MAX_CHARS,
        # The page's clock (cached panels carry none): static/js/thread.js measures the
        # browser's skew from it, e.g. to reveal the offer button on time.
        "server_now": timezone.now(),
        "can_post": access.can_write and question.status in services.POSTABLE,
        "can_rate": access.role == "customer"
        and question.expert_id is not None
        and question.rating_stars is None
        and question.status in (QuestionStatus.ASSIGNED, QuestionStatus.ANSWERED),
        "can_mark_answered": access.role == "customer"
        and question.status == QuestionStatus.ASSIGNED,
        "payment": payment,
        "refund": refund,
        "panels": panels.render_panels(request, access),
        "can_ask_refund": access.role == "customer"
        and payment is not None
        and refund is None
        and payment.status == PaymentStatus.SUCCEEDED
        and payment_services.refund_window_open(payment),
    }
    return render(request, "questions/detail.html", context)


@login_required
@require_GET
def question_poll(request: HttpRequest, question_id: int) -> HttpResponse:
    """The live-update poll: 204 with an empty body when nothing changed.

    One indexed query (the question's primary key, joined to the viewer's
    access) answers the common case; messages are read only when the version moved.
    An SSE stream can replace this view without touching the services.
    """
    user = _user(request)
    try:
        known_version = int(request.GET.get("v", "0"))
        after = int(request.GET.get("after", "0"))
        known_unread = int(request.GET.get("n", "-1"))
    except ValueError:
        return JsonResponse(
            {"error": "invalid", "detail": "v, after and n are numbers."}, status=400
        )
    row = selectors.poll_state_for_user(question_id=question_id, user=user)
    if row is None:
        raise NotFound(selectors.NOT_FOUND)
    presence.mark(user.pk, presence.question_place(question_id))
    version, status = row
    token = poll_token(
        question_id=question_id,
        user_id=user.pk,
        version=version,
        session_key=request.session.session_key,
    )
    if version == known_version and user.unread_notifications == known_unread:
        response = HttpResponse(status=204)
        response["Cache-Control"] = "no-store"  # the same URL answers differently later
        response[TOKEN_HEADER] = token  # lets the next polls take the fast path
        return response
    payload: dict[str, Any] = {
        "version": version,
        "status": status,
        "unread": user.unread_notifications,
        "poll_token": token,
    }
    if version != known_version:
        access = selectors.thread_get_for_user(question_id=question_id, user=user)
        question = access.question
        payload["messages"] = [
            _message_json(m, user.pk)
            for m in selectors.messages_after(question=question, after_id=after)
        ]
        payload["status_display"] = question.get_status_display()
        payload["rating"] = question.rating_stars
        payload["panels"] = panels.render_panels(request, access)
        payload["header_html"] = render_to_string(
            "questions/_meta.html", {"question": question}, request
        )
    return JsonResponse(payload)


@login_required
@require_POST
def message_create(request: HttpRequest, question_id: int) -> HttpResponse:
    user = _user(request)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    body = request.POST.get("body", "")
    try:
        message = services.message_post(question_id=question_id, author=user, body=body)
    except DomainError as exc:
        if wants_json:
            return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.status)
        _flash_or_raise(request, exc)
        return redirect("question_detail", question_id)
    if wants_json:
        return JsonResponse({"message": _message_json(message, user.pk)}, status=201)
    return redirect("question_detail", question_id)


@login_required
@require_POST
def question_pick_up(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.question_pick_up(question_id=question_id, expert=_user(request))
    except DomainError as exc:
        _flash_or_raise(request, exc)
        return redirect("all_questions")
    messages.success(request, "The question is yours. Say hello to the customer.")
    return redirect("question_detail", question_id)


@login_required
@require_POST
def question_mark_answered(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.question_mark_answered(question_id=question_id, customer=_user(request))
    except DomainError as exc:
        _flash_or_raise(request, exc)
    return redirect("question_detail", question_id)


@login_required
@require_POST
def question_rate(request: HttpRequest, question_id: int) -> HttpResponse:
    form = RateForm(request.POST)
    if not form.is_valid():
        # Check access first so a stranger learns nothing from the form error.
        selectors.thread_get_for_user(question_id=question_id, user=_user(request))
        messages.error(request, "Choose a rating from 1 to 5 stars.")
        return redirect("question_detail", question_id)
    try:
        services.question_rate(
            question_id=question_id,
            customer=_user(request),
            stars=form.cleaned_data["stars"],
            comment=form.cleaned_data["comment"],
        )
    except DomainError as exc:
        _flash_or_raise(request, exc)
    else:
        messages.success(request, "Thank you for rating your expert.")
    return redirect("question_detail", question_id)


@login_required
@require_GET
def all_questions(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.is_expert:
        return render(
            request,
            "error.html",
            {"error": NotFound("All questions is for verified experts.")},
            status=403,
        )
    try:
        page_number = int(request.GET.get("page", "1"))
    except ValueError:
        page_number = 1
    category = request.GET.get("category") or None
    page, categories = selectors.open_preview_rows_for_expert(
        expert=user, category_slug=category, page=page_number
    )
    return render(
        request,
        "questions/all_questions.html",
        {
            "page": page,
            "rows_html": fragments.preview_rows_html(
                page,
                detail_prefix=reverse("question_detail", args=[0]).removesuffix("0/"),
                csrf_token=get_token(request),
                now=timezone.now(),
            ),
            "categories": categories,
            "current_category": category,
        },
    )
