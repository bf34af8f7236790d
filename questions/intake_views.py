"""Pages of the intake chat bot, the chat-or-phone choice and the Request Center.

Thin views: parse, call one service of `questions.intake` (or the Request Center's
selector), render. The ask page itself is `views.ask`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import DomainError, InvalidInput, NotFound
from marketplace.models import User
from marketplace.money import format_minor, parse_major
from payments import services as payment_services

from . import intake
from .models import Channel, IntakeSession
from .request_center import phone_requests_for_expert
from .views import _pay_and_post


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _page(
    request: HttpRequest,
    session: IntakeSession,
    *,
    error: str = "",
    typed: str = "",
    finish_error: str = "",
    channel: str = "",
    status: int = 200,
) -> HttpResponse:
    category = session.category
    context: dict[str, Any] = {
        "session": session,
        "transcript": intake.transcript(session),
        "step": intake.next_step(session),
        "steps_total": len(session.script),
        "error": error,
        "typed": typed,
        "finish_error": finish_error,
        "channel": channel,
        "offers_choice": intake.offers_choice(session),
        "phone_price": format_minor(category.phone_call_price_minor, category.currency)
        if category.phone_call_price_minor is not None
        else "",
        "chat_price": format_minor(session.price_minor, category.currency)
        if session.price_minor is not None
        else "",
        "card": payment_services.card_get(user=_user(request)),
    }
    return render(request, "questions/ask_intake.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def intake_page(request: HttpRequest, intake_id: int) -> HttpResponse:
    """The conversation so far and the bot's next question; POST answers it."""
    user = _user(request)
    session = intake.intake_get_for_user(intake_id=intake_id, user=user)
    question = session.question
    if question is not None and not intake.awaits_phone_payment(question):
        return redirect("question_detail", question.pk)
    if request.method == "POST":
        typed = request.POST.get("answer", "")
        try:
            intake.intake_answer(intake_id=session.pk, customer=user, answer=typed)
        except DomainError as exc:
            if exc.status in (403, 404):
                raise
            # Nothing lost: the page comes back with what was typed and the reason.
            return _page(request, session, error=exc.message, typed=typed, status=exc.status)
        return redirect("intake", session.pk)
    return _page(request, session)


@login_required
@require_POST
def intake_finish(request: HttpRequest, intake_id: int) -> HttpResponse:
    """Chat (charged at the stated price and posted) or phone call (an Auto Premium offer
    charged up front, then sent to the Request Center)."""
    user = _user(request)
    session = intake.intake_get_for_user(intake_id=intake_id, user=user)
    channel = request.POST.get("channel") or Channel.CHAT
    try:
        if channel == Channel.CHAT:
            raw = (request.POST.get("price") or "").strip()
            try:
                price = parse_major(raw, session.category.currency) if raw else None
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            draft = intake.intake_finish_chat(
                intake_id=session.pk, customer=user, price_minor=price
            )
            return _pay_and_post(request, draft.pk)
        if channel != Channel.PHONE:
            raise InvalidInput("Choose chat or a phone call.")
        question = intake.intake_finish_phone(intake_id=session.pk, customer=user)
        booking = intake.phone_request_book(question_id=question.pk, customer=user)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        session.refresh_from_db()
        return _page(request, session, finish_error=exc.message, channel=channel, status=exc.status)
    if booking.status == "paid":
        messages.success(
            request,
            "Your phone call is booked and paid. An expert will accept it soon; the call "
            "happens on this page.",
        )
        return redirect("question_detail", question.pk)
    if booking.status == "requires_action" and booking.next_action_url:
        return redirect(booking.next_action_url)
    session.refresh_from_db()
    return _page(
        request,
        session,
        finish_error=f"The payment did not go through: {booking.message} Nothing was charged; "
        "try again or choose a chat.",
        channel=channel,
        status=402,
    )


@login_required
@require_GET
def request_center(request: HttpRequest) -> HttpResponse:
    """Phone-call requests waiting in the expert's categories: category, price, channel."""
    user = _user(request)
    if not user.is_expert:
        return render(
            request,
            "error.html",
            {"error": NotFound("The Request Center is for verified experts.")},
            status=403,
        )
    return render(
        request,
        "questions/request_center.html",
        {"requests": phone_requests_for_expert(expert=user)},
    )
