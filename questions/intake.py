"""The intake chat bot and the chat-or-phone choice up front.

A new question starts as a short scripted conversation (no outside AI): the
customer states the question, the bot asks the category's own intake questions
(set by admins), summarises, and then either posts it as today (chat) or, where
the phone-first rollout gives this customer the choice, asks chat or phone call.

A phone call is an Auto Premium Service offer that premium creates and charges
up front: this app cannot import premium, so premium registers a *phone booker*
here in its AppConfig.ready (`register_phone_booker`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.text import Truncator

from marketplace import rollout
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.models import Category, User
from marketplace.services import customer_profile_get
from payments import memberships

from . import services
from .models import (
    Channel,
    Experience,
    IntakeKind,
    IntakeQuestion,
    IntakeSession,
    Question,
    QuestionEvent,
    QuestionStatus,
)
from .panels import Panel
from .selectors import QuestionAccess

NOT_FOUND = "This conversation does not exist."
OPEN_PHONE_STATUSES = (QuestionStatus.INTAKE, QuestionStatus.OPEN)


# --- The script (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """The bot's next question: its place in the script and what a valid answer is."""

    index: int
    prompt: str
    kind: str
    choices: tuple[str, ...]
    max_chars: int


def script_for(category: Category) -> list[dict[str, Any]]:
    """The category's active intake questions, frozen into the conversation at its start."""
    return [
        {
            "prompt": q.prompt,
            "kind": q.kind,
            "choices": q.choice_list if q.kind == IntakeKind.CHOICE else [],
            "max_chars": q.max_chars,
        }
        for q in IntakeQuestion.objects.filter(category=category, is_active=True).order_by(
            "position", "id"
        )
    ]


def next_step(session: IntakeSession) -> Step | None:
    """The question the bot asks now, or None when every one is answered."""
    index = len(session.answers)
    if index >= len(session.script):
        return None
    item = session.script[index]
    return Step(
        index=index,
        prompt=item["prompt"],
        kind=item["kind"],
        choices=tuple(item.get("choices") or ()),
        max_chars=int(item["max_chars"]),
    )


def answer_clean(step: Step, raw: str) -> str:
    """The answer as stored, or InvalidInput with a message a person can act on."""
    value = " ".join((raw or "").split()) if step.kind == IntakeKind.CHOICE else (raw or "").strip()
    if not value:
        raise InvalidInput(f"Please answer: {step.prompt}")
    if len(value) > step.max_chars:
        raise InvalidInput(
            f"Your answer is too long: {len(value):,} characters; the limit is "
            f"{step.max_chars:,}. Shorten it and send it again."
        )
    if step.kind == IntakeKind.CHOICE:
        by_folded = {c.casefold(): c for c in step.choices}
        if value.casefold() not in by_folded:
            raise InvalidInput(
                f"“{Truncator(value).chars(40)}” is not one of the answers here. "
                f"Choose one of: {', '.join(step.choices)}."
            )
        value = by_folded[value.casefold()]
    return value


def transcript(session: IntakeSession) -> list[dict[str, str]]:
    """The answered part of the conversation: [{"prompt", "answer"}, ...]."""
    return [
        {"prompt": item["prompt"], "answer": answer}
        for item, answer in zip(session.script, session.answers, strict=False)
    ]


def offers_choice(session: IntakeSession) -> bool:
    """The bot asks chat or phone: the customer is in the rollout and the category has a
    phone-call price."""
    return (
        session.experience == Experience.FEATURE
        and session.category.phone_call_price_minor is not None
    )


def goes_straight_to_post(session: IntakeSession) -> bool:
    """Nothing to ask and no choice to offer: today's chat flow, without a stop."""
    return not session.script and not offers_choice(session)


# --- Writes ----------------------------------------------------------------------------


def _check_customer(customer: User) -> None:
    if customer.is_staff or hasattr(customer, "expert_profile"):
        raise Forbidden("Experts and staff cannot ask questions with this account.")


def _check_price(customer: User, category: Category, price_minor: int | None) -> None:
    """The chat price is checked at the start, so nobody answers the bot for nothing
    (question_create_draft checks it again when the draft is made)."""
    if customer_profile_get(user=customer).is_member or memberships.covers(
        user=customer, category=category
    ):
        return
    if price_minor is None:
        raise InvalidInput("State the price you will pay for an answer.")
    if not category.min_price_minor <= price_minor <= category.max_price_minor:
        raise InvalidInput(
            f"The price for {category.name} must be between {category.price_bounds_display}."
        )


@transaction.atomic
def intake_start(
    *, customer: User, category: Category, title: str, body: str, price_minor: int | None
) -> IntakeSession:
    """The customer's first message: the question in their words; the bot takes over."""
    _check_customer(customer)
    if not category.is_active:
        raise InvalidInput("This category is not taking questions.")
    title = services._clean_text(title, field="title", max_chars=services.TITLE_MAX)
    body = services._clean_text(body, field="question", max_chars=services.BODY_MAX)
    _check_price(customer, category, price_minor)
    experience = rollout.experience_for(
        key=rollout.PHONE_FIRST, customer=customer, category=category
    )
    return IntakeSession.objects.create(
        customer=customer,
        category=category,
        title=title,
        body=body,
        price_minor=price_minor,
        script=script_for(category),
        experience=experience,
    )


@transaction.atomic
def ask_start(
    *, customer: User, category: Category, title: str, body: str, price_minor: int | None
) -> tuple[IntakeSession, Question | None]:
    """The ask page: the conversation, and at once the chat draft when the bot has
    nothing to ask and no choice to offer (today's flow); else the bot takes over."""
    session = intake_start(
        customer=customer, category=category, title=title, body=body, price_minor=price_minor
    )
    if not goes_straight_to_post(session):
        return session, None
    return session, intake_finish_chat(intake_id=session.pk, customer=customer)


def intake_get_for_user(*, intake_id: int, user: User) -> IntakeSession:
    """The conversation, for its customer only; anyone else is told it does not exist."""
    session = (
        IntakeSession.objects.select_related("category", "question")
        .filter(pk=intake_id, customer_id=user.pk)
        .first()
        if user.is_authenticated
        else None
    )
    if session is None:
        raise NotFound(NOT_FOUND)
    return session


def _lock(intake_id: int, customer: User) -> IntakeSession:
    session = (
        IntakeSession.objects.select_for_update(of=("self",))
        .select_related("category")
        .filter(pk=intake_id, customer_id=customer.pk)
        .first()
    )
    if session is None:
        raise NotFound(NOT_FOUND)
    return session


@transaction.atomic
def intake_answer(*, intake_id: int, customer: User, answer: str) -> IntakeSession:
    """Record the answer to the bot's current question. A bad answer changes nothing."""
    session = _lock(intake_id, customer)
    if session.question_id is not None:
        raise Conflict("This question was already sent to the experts.", code="intake_done")
    step = next_step(session)
    if step is None:
        raise Conflict(
            "Every question is answered: choose how to continue.", code="intake_answered"
        )
    session.answers = [*session.answers, answer_clean(step, answer)]
    session.save(update_fields=["answers", "updated_at"])
    return session


def _ready(session: IntakeSession) -> None:
    if next_step(session) is not None:
        raise Conflict("Answer the bot's questions first.", code="intake_unanswered")


def _record_on_question(question: Question, session: IntakeSession) -> None:
    Question.objects.filter(pk=question.pk).update(
        bot_transcript=transcript(session), experience=session.experience
    )
    question.bot_transcript = transcript(session)
    question.experience = session.experience
    session.question = question
    session.save(update_fields=["question", "updated_at"])


@transaction.atomic
def intake_finish_chat(
    *, intake_id: int, customer: User, price_minor: int | None = None
) -> Question:
    """Chat: the draft question (price stated, or covered by membership), with the bot's
    transcript and the experience recorded. Charging and posting are the caller's next
    step (`services.question_pay_and_post`). Idempotent: a second click gets the same draft."""
    session = _lock(intake_id, customer)
    if session.question_id is not None:
        return Question.objects.get(pk=session.question_id)
    _ready(session)
    draft = services.question_create_draft(
        customer=customer,
        category=session.category,
        title=session.title,
        body=session.body,
        price_minor=price_minor if price_minor is not None else session.price_minor,
        channel=Channel.CHAT,
    )
    _record_on_question(draft, session)
    return draft


def awaits_phone_payment(question: Question) -> bool:
    """A phone-call request whose charge has not gone through yet (declined, or waiting
    for the bank): its conversation page offers to pay again."""
    return question.channel == Channel.PHONE and question.status == QuestionStatus.INTAKE


def open_phone_request(customer: User) -> Question | None:
    return (
        Question.objects.filter(
            customer=customer, channel=Channel.PHONE, status__in=OPEN_PHONE_STATUSES
        )
        .order_by("-created_at")
        .first()
    )


def _duplicate(existing: Question) -> Conflict:
    if existing.status == QuestionStatus.INTAKE:
        return Conflict(
            f"You already have a phone-call request open (“{existing.title}”) that is not "
            "paid yet: pay for it from its page, or choose a chat for this question.",
            code="phone_request_open",
        )
    return Conflict(
        f"You already have a phone-call request open (“{existing.title}”): an expert will "
        "call you about it. You can choose a chat for this question instead.",
        code="phone_request_open",
    )


@transaction.atomic
def intake_finish_phone(*, intake_id: int, customer: User) -> Question:
    """Phone call: the phone-call request's draft, priced at the category's phone-call
    price. Premium's booker then creates the Auto Premium offer and charges it
    (`phone_request_book`); the payment posts the question. At most one phone-call
    request per customer is being paid or waiting (a database constraint backs this)."""
    session = _lock(intake_id, customer)
    if session.question_id is not None:
        return Question.objects.get(pk=session.question_id)
    _ready(session)
    if not offers_choice(session):
        raise Conflict("A phone call is not offered for this question.", code="no_phone_choice")
    existing = open_phone_request(customer)
    if existing is not None:
        raise _duplicate(existing)
    category = session.category
    assert category.phone_call_price_minor is not None  # offers_choice checked it
    try:
        with transaction.atomic():
            question = Question.objects.create(
                customer=customer,
                category=category,
                title=session.title,
                body=session.body,
                summary=Truncator(" ".join(session.body.split())).chars(240),
                # The call is paid as an Auto Premium offer, not as the question's price.
                price_minor=0,
                phone_price_minor=category.phone_call_price_minor,
                currency=category.currency,
                is_member_question=False,
                channel=Channel.PHONE,
                status=QuestionStatus.INTAKE,
            )
    except IntegrityError:
        # Another tab's request committed first (the unique constraint waited for it).
        raced = open_phone_request(customer)
        if raced is not None:
            raise _duplicate(raced) from None
        raise Conflict(
            "You already have a phone-call request open.", code="phone_request_open"
        ) from None
    QuestionEvent.objects.create(
        question=question, actor=customer, to_status=QuestionStatus.INTAKE, note="phone request"
    )
    _record_on_question(question, session)
    return question


def intake_questions_seed(script: dict[str, list[tuple[str, list[str] | None, int]]]) -> int:
    """Create the demo's intake questions (marketplace.demo.INTAKE_QUESTIONS) for the
    categories that have none yet. Safe to run twice. Returns how many were created."""
    created = 0
    for category in Category.objects.filter(slug__in=script):
        if IntakeQuestion.objects.filter(category=category).exists():
            continue
        for position, (prompt, choices, max_chars) in enumerate(script[category.slug], start=1):
            IntakeQuestion.objects.create(
                category=category,
                position=position,
                prompt=prompt,
                kind=IntakeKind.CHOICE if choices else IntakeKind.TEXT,
                choices="\n".join(choices or []),
                max_chars=max_chars,
            )
            created += 1
    return created


# --- The phone booker (registered by premium) ---------------------------------------


@dataclass(frozen=True)
class PhoneBooking:
    """Where paying for a phone-call request stands."""

    status: str  # "paid" | "requires_action" | "failed"
    message: str = ""
    next_action_url: str = ""


PhoneBooker = Callable[[Question], PhoneBooking]
_BOOKERS: dict[str, PhoneBooker] = {}


def register_phone_booker(booker: PhoneBooker) -> None:
    _BOOKERS["phone"] = booker


def phone_request_book(*, question_id: int, customer: User) -> PhoneBooking:
    """Create (once) and pay the phone-call request's Auto Premium offer. Call it outside
    any transaction: it charges the card on file."""
    question = Question.objects.filter(
        pk=question_id, customer=customer, channel=Channel.PHONE
    ).first()
    if question is None:
        raise NotFound("This question does not exist.")
    if question.status != QuestionStatus.INTAKE:
        return PhoneBooking(status="paid")
    booker = _BOOKERS.get("phone")
    if booker is None:
        raise Conflict("Phone calls cannot be booked right now; choose a chat.", code="no_booker")
    return booker(question)


# --- The transcript on the question page (a panel) ------------------------------------


def bot_conversation_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    """The bot conversation, for the customer, staff and the assigned expert: an expert
    sees it only after accepting (before that the preview shows category, price, channel)."""
    question = access.question
    if not question.bot_transcript or access.role not in ("customer", "expert", "staff"):
        return None
    return Panel(
        name="bot_conversation",
        template="questions/_bot_conversation.html",
        context={"transcript": question.bot_transcript},
    )
