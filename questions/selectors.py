"""Reads about questions that carry a rule: who may see what, and cheap lists."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Field, Q, QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver

from marketplace.compiled import CompiledQuery
from marketplace.errors import NotFound
from marketplace.models import Category, ExpertProfile, User
from marketplace.prepared import prepared_cursor
from payments.models import Payment, PaymentStatus, Refund

from .models import Message, Question, QuestionStatus

NOT_FOUND = "This question does not exist."


@dataclass(frozen=True)
class QuestionAccess:
    question: Question
    role: str  # "customer" | "expert" | "staff" | "candidate" (may preview and pick up)

    @property
    def can_read_thread(self) -> bool:
        return self.role in ("customer", "expert", "staff")

    @property
    def can_write(self) -> bool:
        return self.role in ("customer", "expert")


EXPERT_CATEGORIES_TTL_SECONDS = 24 * 3600


def _expert_categories_key(user_id: int) -> str:
    return f"expert-categories:{user_id}"


def expert_categories(expert: User) -> list[Category]:
    """The active categories a verified expert answers in, in menu order: read once and
    kept per expert until the expert's profile, its categories or a category changes
    (the receivers below)."""
    key = _expert_categories_key(expert.pk)
    categories: list[Category] | None = cache.get(key)
    if categories is None:
        categories = list(
            Category.objects.filter(
                experts__user=expert, experts__verified_at__isnull=False, is_active=True
            ).order_by("position", "name")
        )
        cache.set(key, categories, EXPERT_CATEGORIES_TTL_SECONDS)
    return categories


def _forget_expert_categories(user_ids: list[int]) -> None:
    keys = [_expert_categories_key(pk) for pk in user_ids]
    if not keys:
        return
    cache.delete_many(keys)
    # Again once committed: a reader between the change and its commit cached the old list.
    transaction.on_commit(lambda: cache.delete_many(keys))


@receiver(post_save, sender=ExpertProfile, dispatch_uid="expert-categories-profile-save")
@receiver(post_delete, sender=ExpertProfile, dispatch_uid="expert-categories-profile-del")
def _expert_profile_changed(sender: Any, instance: ExpertProfile, **_: Any) -> None:
    _forget_expert_categories([instance.user_id])  # verified or not


@receiver(
    m2m_changed, sender=ExpertProfile.categories.through, dispatch_uid="expert-categories-m2m"
)
def _expert_categories_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_: Any
) -> None:
    if not action.startswith("post_") and action != "pre_clear":
        return
    if not reverse:
        _forget_expert_categories([instance.user_id])
    elif action == "pre_clear" or pk_set is None:  # category.experts.clear()
        _forget_expert_categories(list(instance.experts.values_list("user_id", flat=True)))
    else:
        _forget_expert_categories(
            list(ExpertProfile.objects.filter(pk__in=pk_set).values_list("user_id", flat=True))
        )


@receiver(post_save, sender=Category, dispatch_uid="expert-categories-category-save")
@receiver(pre_delete, sender=Category, dispatch_uid="expert-categories-category-del")
def _category_changed(sender: Any, instance: Category, **_: Any) -> None:
    # Renamed, moved, switched off or gone: the lists of its experts show it differently.
    if instance.pk is not None:
        _forget_expert_categories(
            list(
                ExpertProfile.objects.filter(categories=instance).values_list("user_id", flat=True)
            )
        )


# A deep page of All questions starts where its first row was the last time it was read
# (its posted_at and id, kept per expert and page in the cache), so PostgreSQL reads that
# page's rows by keyset instead of walking every entry before it. The place holds while
# this number is unchanged: it moves with every write that can add, remove or reorder
# open questions (one created, deleted, saved whole, or its status, posting time or
# category saved). The rows themselves are always read fresh.
OPEN_LIST_GENERATION_KEY = "open-questions:generation"
PAGE_START_TTL_SECONDS = 600
_ORDER_FIELDS = frozenset({"status", "posted_at", "category", "category_id"})


def _open_list_generation_bump() -> None:
    cache.set(OPEN_LIST_GENERATION_KEY, time.time_ns(), None)


def _open_list_changed() -> None:
    # Once committed (at once outside a transaction). A page read before then saw the old
    # rows and kept its start under the old number, which no reader asks for after the bump.
    transaction.on_commit(_open_list_generation_bump)


@receiver(post_save, sender=Question, dispatch_uid="open-list-question-save")
def _question_saved(
    sender: Any, instance: Question, created: bool, update_fields: Any, **_: Any
) -> None:
    if created:
        # A draft (intake) is in no list until it is posted, which saves its status.
        if instance.status == QuestionStatus.OPEN:
            _open_list_changed()
    elif update_fields is None or _ORDER_FIELDS & set(update_fields):
        _open_list_changed()


@receiver(post_delete, sender=Question, dispatch_uid="open-list-question-delete")
def _question_deleted(sender: Any, instance: Question, **_: Any) -> None:
    _open_list_changed()


def _page_start_key(expert_id: int, category_slug: str | None, page: int, size: int) -> str:
    slug = hashlib.blake2b((category_slug or "").encode(), digest_size=8).hexdigest()
    return f"allq-start:{expert_id}:{slug}:{size}:{page}"


def _expert_category_ids(user: User) -> set[int]:
    try:
        profile = user.expert_profile
    except ExpertProfile.DoesNotExist:
        return set()
    if not profile.is_verified:
        return set()
    return set(profile.categories.values_list("pk", flat=True))


# The question page's row: the question with its category, customer and expert, read on
# every page view. Building this select_related query in the ORM cost a millisecond of CPU
# a view, while the database answers it in a fraction of that: marketplace.compiled builds
# it once per process (and PostgreSQL plans it once per connection). Every view reads it
# fresh.
_QUESTION_WITH_PEOPLE = CompiledQuery(
    lambda question_id: (
        Question.objects.select_related("category", "customer", "expert")
        .filter(pk=question_id)
        .order_by()
    )
)


def _field_converters(
    fields: Sequence[Field[Any, Any]], alias: str
) -> tuple[tuple[int, Any, Any], ...]:
    """The database converters the ORM applies to these columns (e.g. JSON, SQLite's
    dates), as (position, converter, its Col)."""
    out = []
    for i, f in enumerate(fields):
        col = f.get_col(alias)
        for convert in connection.ops.get_db_converters(col) + col.get_db_converters(connection):
            out.append((i, convert, col))
    return tuple(out)


def _converted(values: list[Any], converters: tuple[tuple[int, Any, Any], ...]) -> list[Any]:
    for i, convert, col in converters:
        values[i] = convert(values[i], col, connection)
    return values


def question_with_people(question_id: int) -> Question | None:
    """The question with category, customer and expert loaded (as select_related would),
    or None."""
    question: Question | None = _QUESTION_WITH_PEOPLE.first(question_id)
    return question


def question_get_for_user(*, question_id: int, user: User) -> QuestionAccess:
    """The question with the viewer's role, or NotFound: others never learn it exists."""
    if not user.is_authenticated:
        raise NotFound(NOT_FOUND)
    question = question_with_people(question_id)
    if question is None or (
        question.status == QuestionStatus.INTAKE and question.customer_id != user.pk
    ):
        raise NotFound(NOT_FOUND)
    if question.customer_id == user.pk:
        return QuestionAccess(question, "customer")
    if question.expert_id == user.pk:
        return QuestionAccess(question, "expert")
    if user.is_staff and user.has_perm("questions.view_question"):
        return QuestionAccess(question, "staff")
    if question.status == QuestionStatus.OPEN and question.category_id in _expert_category_ids(
        user
    ):
        return QuestionAccess(question, "candidate")
    raise NotFound(NOT_FOUND)


def thread_get_for_user(*, question_id: int, user: User) -> QuestionAccess:
    access = question_get_for_user(question_id=question_id, user=user)
    if not access.can_read_thread:
        raise NotFound(NOT_FOUND)
    return access


def poll_state_for_user(*, question_id: int, user: User) -> tuple[int, str] | None:
    """(version, status) of a question the user may read, in one indexed query; else None."""
    rows = Question.objects.filter(pk=question_id)
    if not (user.is_staff and user.has_perm("questions.view_question")):
        rows = rows.filter(Q(customer_id=user.pk) | Q(expert_id=user.pk))
    return rows.values_list("version", "status").first()


def question_payment(question: Question) -> Payment | None:
    """The question's live payment (or its last failed attempt)."""
    rows = list(
        Payment.objects.filter(reference=f"question-{question.pk}")
        .select_related("card")
        .order_by("-id")[:5]
    )
    live = [p for p in rows if p.status != PaymentStatus.FAILED]
    return live[0] if live else (rows[0] if rows else None)


def question_refund(payment: Payment) -> Refund | None:
    return payment.refunds.order_by("-id").first()


def messages_for_page(question: Question) -> QuerySet[Message]:
    return question.messages.select_related("author").order_by("id")


def messages_after(*, question: Question, after_id: int, limit: int = 200) -> list[Message]:
    return list(
        Message.objects.filter(question_id=question.pk, id__gt=after_id)
        .select_related("author")
        .order_by("id")[:limit]
    )


@dataclass(frozen=True)
class Page:
    items: list[Question]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class PreviewRows:
    """A page of All questions as read: each row's values (converted as the ORM would) in
    the order of `attnames`, with the expert's categories by id."""

    attnames: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    number: int
    has_next: bool
    by_category: dict[int, Category]

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def open_preview_rows_for_expert(
    *, expert: User, category_slug: str | None = None, page: int = 1
) -> tuple[PreviewRows, list[Category]]:
    """All questions: open previews in the expert's categories, newest first.

    Paged without a COUNT: one query fetches a page and one row more to know
    whether a next page exists.
    """
    size = settings.EXPERTLINE_PAGE_SIZE
    page = max(1, min(page, 10_000))
    # The expert's categories and, for a deep page, where it starts, in one round trip.
    categories_key = _expert_categories_key(expert.pk)
    start_key = _page_start_key(expert.pk, category_slug, page, size) if page > 1 else ""
    keys = [categories_key, start_key, OPEN_LIST_GENERATION_KEY] if start_key else [categories_key]
    got = cache.get_many(keys)
    categories = got.get(categories_key)
    if categories is None:
        categories = expert_categories(expert)
    ids = [c.pk for c in categories]
    if category_slug:
        ids = [c.pk for c in categories if c.slug == category_slug]
    plan = _open_page_plan(connection.vendor)
    attnames = tuple(f.attname for f in plan.fields)
    by_category = {c.pk: c for c in categories}
    if not ids:
        return PreviewRows(attnames, [], page, False, by_category), categories
    generation = _generation(got.get(OPEN_LIST_GENERATION_KEY)) if start_key else 0
    entry = got.get(start_key) if start_key else None
    start = None
    if entry is not None and entry["generation"] == generation and entry["ids"] == ids:
        start = entry["start"]
    placeholders = ", ".join(["%s"] * len(ids))
    offset = (page - 1) * size
    # Page 1 and pages read from a kept start are the ones read again and again: prepared.
    # A page read by offset has a statement of its own per offset: not worth keeping.
    reread = start is not None or offset == 0
    with prepared_cursor() if reread else connection.cursor() as cursor:
        if start is not None:
            posted_at, pk = start
            cursor.execute(
                plan.from_start.format(categories=placeholders, limit=size + 1),
                [*ids, connection.ops.adapt_datetimefield_value(posted_at), pk],
            )
        else:
            cursor.execute(
                plan.by_offset.format(categories=placeholders, limit=size + 1, offset=offset),
                ids,
            )
        rows = [tuple(_converted(list(row), plan.converters)) for row in cursor.fetchall()]
    if start is None and start_key and rows:
        first = dict(zip(attnames, rows[0], strict=True))
        if first["posted_at"] is not None:
            cache.set(
                start_key,
                {"generation": generation, "ids": ids, "start": (first["posted_at"], first["id"])},
                PAGE_START_TTL_SECONDS,
            )
    return PreviewRows(attnames, rows[:size], page, len(rows) > size, by_category), categories


def _generation(current: int | None) -> int:
    """The list's generation read with the page's start, or a new one when it was never
    set or was evicted, so that no kept start matches it."""
    if current is not None:
        return int(current)
    generation = time.time_ns()
    if not cache.add(OPEN_LIST_GENERATION_KEY, generation, None):
        generation = cache.get(OPEN_LIST_GENERATION_KEY, generation)
    return int(generation)


def open_questions_for_expert(
    *, expert: User, category_slug: str | None = None, page: int = 1
) -> tuple[Page, list[Category]]:
    """All questions as Question instances (the preview's fields; the rest deferred)."""
    found, categories = open_preview_rows_for_expert(
        expert=expert, category_slug=category_slug, page=page
    )
    items = []
    for row in found.rows:
        q = Question.from_db(connection.alias, found.attnames, row)
        q.category = found.by_category[q.category_id]
        items.append(q)
    return Page(items, found.number, found.has_next), categories


# The columns a preview shows (the rest are deferred, as with .only()).
PREVIEW_FIELDS = (
    "id",
    "title",
    "summary",
    "price_minor",
    "currency",
    "is_member_question",
    "channel",
    "phone_price_minor",
    "posted_at",
    "category_id",
)


@dataclass(frozen=True)
class _OpenPagePlan:
    by_offset: str  # params: the categories; {limit} and {offset} filled in as integers
    from_start: str  # params: the categories, the start's posted_at and id; {limit} filled in
    fields: list[Field[Any, Any]]
    converters: tuple[tuple[int, Any, Any], ...]


@functools.cache
def _open_page_plan(vendor: str) -> _OpenPagePlan:
    """All questions' statements, built once per process (the ORM spent a millisecond a
    page building one): the ids of the page (and one more) in a subquery, an index-only
    scan of question_open_recent_cat; then those rows only. By offset the scan walks every
    entry before the page; from a kept start it begins at the page. The categories'
    placeholders are filled per request.

    The status ('open', a constant) and the page's size are written into the statement,
    not sent as parameters: PostgreSQL keeps one plan for a prepared statement, and a plan
    made without knowing them cannot use the partial index (WHERE status = 'open') or
    the LIMIT, and scanned the whole table (50 ms instead of 0.1 ms)."""
    qn = connection.ops.quote_name
    # In the model's order: Model.from_db takes a subset of the columns in that order.
    concrete = [f for f in Question._meta.concrete_fields if f.attname in PREVIEW_FIELDS]
    table = qn(Question._meta.db_table)
    pk = qn(Question._meta.pk.column)
    posted = qn(Question._meta.get_field("posted_at").column)
    columns = ", ".join(f"q.{qn(f.column)}" for f in concrete)
    category = qn(Question._meta.get_field("category").column)
    status = qn(Question._meta.get_field("status").column)
    open_ = QuestionStatus.OPEN.value
    assert open_.isalnum()  # it is written into the SQL as a literal

    def statement(where: str, limit: str) -> str:
        return (
            f"SELECT {columns} FROM {table} q WHERE q.{pk} IN ("  # noqa: S608
            f"SELECT u.{pk} FROM {table} u WHERE u.{category} IN ({{categories}})"
            f" AND u.{status} = '{open_}'{where}"
            f" ORDER BY u.{posted} DESC, u.{pk} DESC {limit})"
            f" ORDER BY q.{posted} DESC, q.{pk} DESC"
        )

    return _OpenPagePlan(
        by_offset=statement("", "LIMIT {limit:d} OFFSET {offset:d}"),
        from_start=statement(f" AND (u.{posted}, u.{pk}) <= (%s, %s)", "LIMIT {limit:d}"),
        fields=concrete,
        converters=_field_converters(concrete, "q"),
    )


def questions_of_customer(*, customer: User, limit: int = 50) -> list[Question]:
    return list(
        Question.objects.filter(customer=customer)
        .exclude(status=QuestionStatus.INTAKE)
        .select_related("category", "expert")
        .order_by("-created_at")[:limit]
    )


def questions_of_expert(*, expert: User, limit: int = 50) -> list[Question]:
    return list(
        Question.objects.filter(expert=expert)
        .select_related("category", "customer")
        .order_by("-picked_up_at")[:limit]
    )
