"""Every write about questions: ask, post, pick up, converse, answer, rate, close.

Each status change goes through `_transition`, which locks the row, checks the
move against QUESTION_TRANSITIONS and records a QuestionEvent.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils import timezone
from django.utils.html import urlize
from django.utils.text import Truncator

from marketplace import dispatch, notifications, presence, ratelimit, rowwrites
from marketplace.compiled import CompiledQuery
from marketplace.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from marketplace.models import (
    Category,
    CustomerProfile,
    ExpertProfile,
    MembershipStatus,
    NotificationKind,
    User,
)
from marketplace.services import customer_profile_get
from payments import memberships
from payments import services as payment_services
from payments.models import Payment, Refund

from . import credit, signals
from .models import QUESTION_TRANSITIONS, Channel, Message, Question, QuestionEvent, QuestionStatus

TITLE_MAX = 150
BODY_MAX = 5000


def render_message_html(body: str) -> str:
    """Escape, keep line breaks, make links clickable (rel=nofollow)."""
    return str(linebreaksbr(urlize(body, nofollow=True, autoescape=True), autoescape=False))


def _lock(question_id: int) -> Question:
    try:
        return Question.objects.select_for_update().get(pk=question_id)
    except Question.DoesNotExist:
        raise NotFound("This question does not exist.") from None


def _transition(
    question: Question, to: str, *, actor: User | None, note: str = "", **fields: object
) -> Question:
    """Move a locked question to `to`, or refuse. The one place a status is set."""
    current = question.status
    if to not in QUESTION_TRANSITIONS[current]:
        raise InvalidTransition(
            f"This question is {question.get_status_display().lower()}; it cannot become "
            f"{QuestionStatus(to).label.lower()}."
        )
    question.status = to
    for name, value in fields.items():
        setattr(question, name, value)
    event = QuestionEvent(
        question=question, actor=actor, from_status=current, to_status=to, note=note
    )
    # One statement: the question, its poll version and the event.
    rowwrites.write_together(
        _update_moving_version(question, [*fields.keys(), "status"]), rowwrites.insert(event)
    )
    return question


def _update_moving_version(question: Question, fields: list[str]) -> rowwrites.Write:
    """The UPDATE of `fields` of a question locked in this transaction that moves its poll
    version: one added in the database; the instance's version is then the one read under
    the lock plus one, without reading it back (the lock kept anyone else from moving it)."""
    return rowwrites.update(question, fields, add_one=["version"])


def _save_moving_version(question: Question, fields: list[str]) -> None:
    """Save `fields` of a locked question and move its poll version (see above)."""
    rowwrites.write_together(_update_moving_version(question, fields))


def _clean_text(value: str, *, field: str, max_chars: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"The {field} cannot be empty.")
    if len(value) > max_chars:
        raise InvalidInput(
            f"The {field} is too long: {len(value):,} characters; the limit is {max_chars:,}."
        )
    return value


def question_url(question_id: int) -> str:
    return reverse("question_detail", args=[question_id])


# The asker's read, compiled once per process (marketplace.compiled): it is on every
# question asked, and building its two EXISTS cost the ORM a millisecond of CPU a time.
_ASKER_ROW = CompiledQuery(
    lambda user_id, category_id: (
        CustomerProfile.objects.filter(user_id=user_id)
        .annotate(
            is_expert=Exists(ExpertProfile.objects.filter(user=OuterRef("user"))),
            covered=memberships.covers_expression(user_ref="user", category=category_id),
        )
        .values_list("membership_status", "is_expert", "covered")
        .order_by("pk")[:1]
    )
)


def _asker(customer: User, category: Category) -> tuple[bool, bool]:
    """(may ask, is covered by a membership) in one read: the customer profile, with
    whether the user is an expert and whether a live membership covers the category."""
    row = _ASKER_ROW.first(customer.pk, category.pk)
    if row is None:  # a customer's first question
        status = customer_profile_get(user=customer).membership_status
        is_expert = ExpertProfile.objects.filter(user=customer).exists()
        covered = memberships.covers(user=customer, category=category)
    else:
        status, is_expert, covered = row
    # Covered by a paid membership of this category, or a membership staff granted.
    member = status == MembershipStatus.ACTIVE
    return not (customer.is_staff or is_expert), member or bool(covered)


def question_create_draft(
    *,
    customer: User,
    category: Category,
    title: str,
    body: str,
    price_minor: int | None,
    channel: str = Channel.CHAT,
) -> Question:
    """A draft (`intake`) question with its price settled: stated, or covered by membership."""
    if not category.is_active:
        raise InvalidInput("This category is not taking questions.")
    may_ask, covered = _asker(customer, category)
    if not may_ask:
        raise Forbidden("Experts and staff cannot ask questions with this account.")
    title = _clean_text(title, field="title", max_chars=TITLE_MAX)
    body = _clean_text(body, field="question", max_chars=BODY_MAX)
    if covered:
        price, member = 0, True
    else:
        if price_minor is None:
            raise InvalidInput("State the price you will pay for an answer.")
        if not category.min_price_minor <= price_minor <= category.max_price_minor:
            raise InvalidInput(
                f"The price for {category.name} must be between {category.price_bounds_display}."
            )
        price, member = price_minor, False
    if channel not in Channel.values:
        raise InvalidInput("Choose chat or a phone call.")
    # Checked above, written here: no savepoint of its own (a caller's transaction, e.g.
    # the charge's payment row, goes with it), and bad input never reaches it.
    with transaction.atomic(savepoint=False):
        question = Question.objects.create(
            customer=customer,
            category=category,
            title=title,
            body=body,
            summary=Truncator(" ".join(body.split())).chars(240),
            price_minor=price,
            currency=category.currency,
            is_member_question=member,
            channel=channel,
            status=QuestionStatus.INTAKE,
        )
        QuestionEvent.objects.create(
            question=question, actor=customer, to_status=QuestionStatus.INTAKE
        )
    return question


@transaction.atomic(savepoint=False)
def question_post(*, question_id: int, customer: User) -> Question:
    """intake → open: the question goes live for the category's experts.

    The payment step (charge up front) hooks in before this transition.
    """
    question = _lock(question_id)
    if question.customer_id != customer.pk:
        raise NotFound("This question does not exist.")
    return _post(question, customer=customer)


def _post(question: Question, *, customer: User) -> Question:
    """intake → open for a question locked in the current transaction."""
    _transition(question, QuestionStatus.OPEN, actor=customer, posted_at=timezone.now())
    from .tasks import notify_category_experts

    dispatch.task_send_on_commit(notify_category_experts, question.pk)
    signals.question_posted.send(sender=Question, question=question)
    return question


def question_ask(
    *,
    customer: User,
    category: Category,
    title: str,
    body: str,
    price_minor: int | None,
    channel: str = Channel.CHAT,
) -> tuple[Question, Payment | None]:
    """Draft, charge up front (Pay-Per-Question) and post.

    Returns the question and its payment. The question is `open` when posted; it
    stays an `intake` draft when the payment needs authentication (the payment
    is `requires_action`); a declined card raises PaymentFailed and the draft
    stays, charged nothing, for the customer to retry.
    """
    draft, prepared = question_draft_for_charge(
        customer=customer,
        category=category,
        title=title,
        body=body,
        price_minor=price_minor,
        channel=channel,
    )
    return question_charge_and_post(question=draft, customer=customer, prepared=prepared)


def question_draft_for_charge(
    *,
    customer: User,
    category: Category,
    title: str,
    body: str,
    price_minor: int | None,
    channel: str = Channel.CHAT,
) -> tuple[Question, Payment | None]:
    """The draft and, for a stated price, the payment that names its charge, in one commit.
    Without a card on file there is no payment yet: the charge then fails and says so, and
    the draft stays for the customer to retry."""
    prepared: Payment | None = None
    with transaction.atomic():
        draft = question_create_draft(
            customer=customer,
            category=category,
            title=title,
            body=body,
            price_minor=price_minor,
            channel=channel,
        )
        if not draft.is_member_question:
            with contextlib.suppress(payment_services.PaymentFailed):
                prepared = payment_services.payment_prepare(**_charge_params(draft, customer))
    return draft, prepared


def question_pay_and_post(*, question_id: int, customer: User) -> tuple[Question, Payment | None]:
    """Charge a draft's stated price (once, however often called) and post it when paid."""
    question = Question.objects.filter(pk=question_id, customer=customer).first()
    if question is None:
        raise NotFound("This question does not exist.")
    return question_charge_and_post(question=question, customer=customer)


def _charge_params(question: Question, customer: User) -> dict[str, Any]:
    return {
        "user": customer,
        "reference": credit.payment_reference(question.pk),
        "amount_minor": question.price_minor,
        "currency": question.currency,
        "description": f"Question #{question.pk}: {question.title}"[:200],
    }


def question_charge_and_post(
    *, question: Question, customer: User, prepared: Payment | None = None
) -> tuple[Question, Payment | None]:
    """Charge the customer's question (once by its payment reference) and post it when
    paid; a Member's question is posted. Returns the question as it now is, with its
    category, and the payment (None for a Member's)."""
    if question.is_member_question:
        if question.status == QuestionStatus.INTAKE:
            question = question_post(question_id=question.pk, customer=customer)
        return question, None
    payment = payment_services.payment_charge(
        **_charge_params(question, customer),
        return_url=reverse("question_payment_return", args=[question.pk]),
        prepared=prepared,
    )
    # Paid now: the receiver of payment_succeeded posted it, and hands back the question
    # it saved (with its category), so it is not read again.
    for settled in payment_services.payment_settled(payment):
        if isinstance(settled, Question) and settled.pk == question.pk:
            return settled, payment
    return Question.objects.select_related("category").get(pk=question.pk), payment


_PAID_QUESTION_LOCKED = CompiledQuery(
    lambda question_id: (
        Question.objects.select_for_update(of=("self",))
        .select_related("customer", "category")
        .filter(pk=question_id)
    )
)


def question_payment_complete(*, payment: Payment) -> Question | None:
    """Receiver of payments' payment_succeeded: post the paid draft and send the receipt.
    Returns the question (None for other payments)."""
    if not payment.reference.startswith("question-"):
        return None
    question_id = int(payment.reference.removeprefix("question-"))
    # Locked once (the caller's transaction), with the customer the receipt goes to and
    # the category the caller's answer shows.
    question: Question | None = _PAID_QUESTION_LOCKED.first(question_id)
    if question is None:
        raise Question.DoesNotExist(f"No question {question_id}.")
    if question.status == QuestionStatus.INTAKE:
        _post(question, customer=question.customer)
    card = f" with {payment.card}" if payment.card else ""
    notifications.notify(
        user=question.customer,
        kind=NotificationKind.PAYMENT_RECEIPT,
        text=f"Receipt: {payment.amount_display} paid{card} for “{question.title}”",
        url=question_url(question.pk),
        place=presence.question_place(question.pk),
    )
    return question


def question_refund_request(*, question_id: int, customer: User, reason: str) -> Refund:
    question = Question.objects.filter(pk=question_id, customer=customer).first()
    if question is None:
        raise NotFound("This question does not exist.")
    if question.is_member_question:
        raise Conflict("Members' questions are covered by the membership; nothing was charged.")
    return payment_services.refund_request(
        user=customer, reference=credit.payment_reference(question.pk), reason=reason
    )


def question_refunded(*, payment: Payment, refund: Refund) -> None:
    """Receiver of payments' refund_succeeded: the question is refunded; the customer is told."""
    if not payment.reference.startswith("question-"):
        return
    question = _lock(int(payment.reference.removeprefix("question-")))
    if question.status != QuestionStatus.REFUNDED:
        _transition(question, QuestionStatus.REFUNDED, actor=None, note=f"refund-{refund.pk}")
    notifications.notify(
        user=question.customer,
        kind=NotificationKind.REFUND_UPDATE,
        text=f"Your refund of {refund.amount_display} for “{question.title}” was sent to your card",
        url=question_url(question.pk),
    )


def question_refund_denied(*, payment: Payment, refund: Refund) -> None:
    if not payment.reference.startswith("question-"):
        return
    question = Question.objects.get(pk=int(payment.reference.removeprefix("question-")))
    notifications.notify(
        user=question.customer,
        kind=NotificationKind.REFUND_UPDATE,
        text=f"Your refund request for “{question.title}” was declined: {refund.decision_note}",
        url=question_url(question.pk),
    )


def experts_of_category_notify(*, question_id: int) -> int:
    """Tell every verified expert of the question's category that it was posted."""
    question = Question.objects.select_related("category").get(pk=question_id)
    if question.status != QuestionStatus.OPEN:
        return 0
    expert_ids = ExpertProfile.objects.filter(
        categories=question.category_id, verified_at__isnull=False, user__is_active=True
    ).values_list("user_id", flat=True)
    with transaction.atomic():
        return notifications.notify_many(
            user_ids=expert_ids,
            kind=NotificationKind.QUESTION_POSTED,
            text=f"New {question.category.name} phone-call request ({question.price_display})"
            if question.channel == Channel.PHONE  # category, price, channel only (issue 7)
            else f"New {question.category.name} question: {question.title}",
            url=question_url(question.pk),
        )


def _verified_expert_profile(expert: User) -> ExpertProfile:
    profile = ExpertProfile.objects.filter(user=expert, verified_at__isnull=False).first()
    if profile is None:
        raise Forbidden("Only verified experts can pick up questions.")
    return profile


@transaction.atomic
def question_pick_up(*, question_id: int, expert: User) -> Question:
    """open → assigned. Of experts racing for one question, exactly one wins."""
    profile = _verified_expert_profile(expert)
    question = _lock(question_id)
    if not profile.categories.filter(pk=question.category_id).exists():
        raise NotFound("This question does not exist.")
    if question.status != QuestionStatus.OPEN:
        if question.expert_id == expert.pk:
            raise Conflict("You have already picked up this question.", code="already_yours")
        raise Conflict("Another expert has already picked up this question.", code="taken")
    _transition(
        question,
        QuestionStatus.ASSIGNED,
        actor=expert,
        expert=expert,
        picked_up_at=timezone.now(),
    )
    notifications.notify(
        user=question.customer,
        kind=NotificationKind.QUESTION_PICKED_UP,
        text=f"{expert.name} picked up your question “{question.title}”",
        url=question_url(question.pk),
        place=presence.question_place(question.pk),
    )
    signals.question_picked_up.send(sender=Question, question=question, expert=expert)
    return question


POSTABLE = {QuestionStatus.OPEN, QuestionStatus.ASSIGNED, QuestionStatus.ANSWERED}


@transaction.atomic
def message_post(*, question_id: int, author: User, body: str) -> Message:
    """Add a message to the thread and tell the other side."""
    body = _clean_text(body, field="message", max_chars=settings.EXPERTLINE_MESSAGE_MAX_CHARS)
    question = _lock(question_id)
    is_customer = question.customer_id == author.pk
    is_expert = question.expert_id is not None and question.expert_id == author.pk
    if not (is_customer or is_expert):
        raise NotFound("This question does not exist.")
    if question.status not in POSTABLE:
        raise Conflict(
            f"This question is {question.get_status_display().lower()}; no new messages."
        )
    ratelimit.hit(
        scope="message",
        ident=author.pk,
        limit=settings.EXPERTLINE_MESSAGE_RATE_PER_MINUTE,
        window_seconds=60,
        message="You are sending messages too quickly. Please wait a minute and try again.",
    )
    message = Message.objects.create(
        question=question, author=author, body=body, body_html=render_message_html(body)
    )
    Question.objects.filter(pk=question.pk).update(
        version=F("version") + 1,
        last_message_id=message.pk,
        message_count=F("message_count") + 1,
    )
    other = question.expert if is_customer else question.customer
    if other is not None:
        notifications.notify(
            user=other,
            kind=NotificationKind.MESSAGE_RECEIVED,
            text=f"{author.name} replied on “{question.title}”",
            url=question_url(question.pk),
            place=presence.question_place(question.pk),
        )
    signals.message_posted.send(sender=Message, message=message, question=question)
    return message


def _lock_own_question(question_id: int, customer: User) -> Question:
    question = _lock(question_id)
    if question.customer_id != customer.pk:
        raise NotFound("This question does not exist.")
    return question


@transaction.atomic
def question_mark_answered(*, question_id: int, customer: User) -> Question:
    question = _lock_own_question(question_id, customer)
    return _transition(question, QuestionStatus.ANSWERED, actor=customer)


@transaction.atomic
def question_rate(*, question_id: int, customer: User, stars: int, comment: str = "") -> Question:
    """The customer rates the expert 1–5 stars, once. Rating also marks it answered."""
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidInput("Choose a rating from 1 to 5 stars.")
    question = _lock_own_question(question_id, customer)
    if question.expert_id is None:
        raise Conflict("There is no expert to rate yet.")
    if question.rating_stars is not None:
        raise Conflict("You have already rated this answer.", code="already_rated")
    if question.status not in (QuestionStatus.ASSIGNED, QuestionStatus.ANSWERED):
        raise Conflict(f"This question is {question.get_status_display().lower()}.")
    fields = {
        "rating_stars": stars,
        "rating_comment": comment.strip()[:500],
        "rating_automatic": False,
        "rated_at": timezone.now(),
    }
    if question.status == QuestionStatus.ASSIGNED:
        _transition(question, QuestionStatus.ANSWERED, actor=customer, note="rated", **fields)
    else:
        for name, value in fields.items():
            setattr(question, name, value)
        question.version = F("version") + 1
        question.save(update_fields=[*fields.keys(), "version"])
        question.refresh_from_db(fields=["version"])
    assert question.expert is not None
    notifications.notify(
        user=question.expert,
        kind=NotificationKind.QUESTION_RATED,
        text=f"{customer.name} rated your answer {stars}★ on “{question.title}”",
        url=question_url(question.pk),
        place=presence.question_place(question.pk),
    )
    signals.question_rated.send(sender=Question, question=question, automatic=False)
    if credit.rating_triggers_credit(stars):
        credit.question_credit(question_id=question.pk, trigger="rating")
    return question


@transaction.atomic
def question_close(*, question_id: int, actor: User) -> Question:
    question = _lock(question_id)
    if actor.pk != question.customer_id and not actor.is_staff:
        raise NotFound("This question does not exist.")
    return _transition(question, QuestionStatus.CLOSED, actor=actor)


def question_dispute_evidence(*, payment: Payment) -> dict[str, object] | None:
    """What we hold about a disputed question: the question, its thread and its history."""
    if not payment.reference.startswith("question-"):
        return None
    question = Question.objects.select_related("category", "customer", "expert").get(
        pk=int(payment.reference.removeprefix("question-"))
    )
    return {
        "title": f"Question #{question.pk}",
        "data": {
            "question": {
                "id": question.pk,
                "category": question.category.name,
                "title": question.title,
                "body": question.body,
                "status": question.status,
                "customer": question.customer.email,
                "expert": question.expert.email if question.expert else None,
                "posted_at": question.posted_at.isoformat() if question.posted_at else None,
                "picked_up_at": question.picked_up_at.isoformat()
                if question.picked_up_at
                else None,
                "rating_stars": question.rating_stars,
            },
            "messages": [
                {"at": m.created_at.isoformat(), "author": m.author.email, "body": m.body}
                for m in question.messages.select_related("author").order_by("id")
            ],
            "events": [
                {"at": e.created_at.isoformat(), "from": e.from_status, "to": e.to_status}
                for e in question.events.order_by("id")
            ],
        },
    }


def question_touch(*, question_id: int) -> None:
    """Something about the question changed that viewers should see (an offer): the
    poll's version moves."""
    rowwrites.write_together(question_touch_write(question_id=question_id))


def question_touch_write(*, question_id: int) -> rowwrites.Write:
    """question_touch's write, for a caller that sends it with its own (one statement)."""
    return rowwrites.add_one(Question, question_id, "version")


@transaction.atomic(savepoint=False)
def question_rate_automatic(
    *, question_id: int, note: str, locked_question: Question | None = None
) -> Question:
    """5 stars, recorded as automatic (an accepted expert offer). A rating the customer
    already gave is kept: it is theirs. Returns the question, locked, with its category
    (the question credit that follows uses both). `locked_question`: the caller read it
    with its category under a row lock in this transaction, so it is not read again."""
    question = locked_question
    if question is None or question.pk != question_id:
        question = (
            Question.objects.select_for_update(of=("self",))
            .select_related("category")
            .filter(pk=question_id)
            .first()
        )
    if question is None:
        raise NotFound("This question does not exist.")
    if question.rating_stars is not None:
        return question
    fields = {
        "rating_stars": 5,
        "rating_automatic": True,
        "rated_at": timezone.now(),
        "rating_comment": "",
    }
    if question.status == QuestionStatus.ASSIGNED:
        _transition(question, QuestionStatus.ANSWERED, actor=None, note=note, **fields)
    else:
        for name, value in fields.items():
            setattr(question, name, value)
        _save_moving_version(question, list(fields))
    signals.question_rated.send(sender=Question, question=question, automatic=True)
    return question
