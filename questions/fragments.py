"""Cached HTML fragments of the question page.

The conversation of a question changes only through `questions.services` (a new
message) and redaction (`privacy.services.flag_redact`), and both bump
`Question.version`. The rendered list of messages is therefore cached under a key
that holds everything it depends on: the question, its version, the viewer (whose
messages are "mine"), whether the viewer may flag, the viewer's time zone and the
names shown. A change of any of them is a new key; old keys expire on their own.
Because a key's content never changes, each process also keeps the last ones it served
(`_threads`), so a page people reload skips the round trip to Redis.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.timesince import timesince

from marketplace.models import User

from .models import Channel, Message, Question
from .selectors import PreviewRows

THREAD_TTL_SECONDS = 24 * 3600
# In All questions' rows, replaced by the request's CSRF token.
CSRF_PLACEHOLDER = "__expertline_csrf_token__"
# Shown beside each message; the poll's JSON uses the same format (views._message_json).
TIME_FORMAT = "%b %d, %H:%M"


@functools.cache
def channel_icon(channel: str) -> str:
    """The channel's icon (chat or phone call), rendered once per process."""
    return render_to_string("icons/channel.html", {"channel": channel})


def time_display(value: object) -> str:
    return timezone.localtime(value).strftime(TIME_FORMAT)  # type: ignore[arg-type]


def _author_names(question: Question, author_ids: set[int]) -> dict[int, str]:
    """Authors are the customer and the expert (loaded with the question); anyone else
    (an expert who left the question) is read in one query."""
    names: dict[int, str] = {question.customer_id: question.customer.name}
    if question.expert_id is not None and question.expert is not None:
        names[question.expert_id] = question.expert.name
    missing = author_ids - names.keys()
    if missing:
        names.update(
            (u.pk, u.name)
            for u in User.objects.filter(pk__in=missing).only("id", "email", "display_name")
        )
    return names


def thread_key(question: Question, *, viewer_id: int, can_flag: bool) -> str:
    names = question.customer.name + "\x00" + (question.expert.name if question.expert else "")
    digest = hashlib.blake2b(names.encode(), digest_size=8).hexdigest()
    return (
        f"qthread:{question.pk}:v{question.version}:u{viewer_id}:f{int(can_flag)}"
        f":{timezone.get_current_timezone_name()}:{digest}"
    )


# A fragment's HTML, or a pickled value (questions.panels): sized by len either way.
_Memoized = TypeVar("_Memoized", str, bytes)


class _ProcessMemo(Generic[_Memoized]):
    """The last fragments this process served, by their cache key, up to `max_chars` in
    all (characters, or bytes for a memo of bytes). Only for keys whose content never
    changes (every input is in the key), so a copy here is never staler than the shared
    cache's; it saves the round trip to Redis for the pages people reload."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self.items: OrderedDict[str, _Memoized] = OrderedDict()
        self.lock = threading.Lock()  # gthread workers share it

    def get(self, key: str) -> _Memoized | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: str, value: _Memoized) -> None:
        if len(value) > self.max_chars // 4:
            return
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.chars -= len(old)
            self.items[key] = value
            self.chars += len(value)
            while self.chars > self.max_chars:
                _, dropped = self.items.popitem(last=False)
                self.chars -= len(dropped)


# About 130 conversations of 50 messages per process.
_threads: _ProcessMemo[str] = _ProcessMemo(max_chars=4_000_000)


def thread_html(question: Question, *, viewer_id: int, can_flag: bool) -> str:
    """The <li> items of the conversation: from this process's memo, the cache, or
    rendered once."""
    key = thread_key(question, viewer_id=viewer_id, can_flag=can_flag)
    html = _threads.get(key)
    if html is not None:
        return html
    cached = cache.get(key)
    if cached is not None:
        _threads.put(key, str(cached))
        return str(cached)
    rows = list(
        Message.objects.filter(question_id=question.pk)
        .only("id", "author_id", "body_html", "created_at")
        .order_by("id")
    )
    names = _author_names(question, {m.author_id for m in rows})
    items = [
        {
            "id": m.pk,
            "mine": m.author_id == viewer_id,
            "author": names.get(m.author_id, ""),
            "created_at": m.created_at.isoformat(),
            "created_display": time_display(m.created_at),
            "html": m.body_html,
        }
        for m in rows
    ]
    html = render_to_string("questions/_thread.html", {"items": items, "can_flag": can_flag})
    cache.set(key, html, THREAD_TTL_SECONDS)
    _threads.put(key, html)
    return html


# One row of All questions. The list is the page experts keep open and reload, so its
# 20 rows are formatted here in one pass instead of a template loop (a third of the
# page's time); every value is escaped.
_PREVIEW_ROW = (
    '<li class="preview" data-question="{pk}">\n    {icon}\n    <div>\n'
    '      <a href="{url}" class="title">{title}</a>\n'
    '      <p class="summary">{summary}</p>\n'
    '      <p class="meta">{category} · <strong>{price}</strong> · '
    '<time datetime="{posted_iso}">{age} ago</time></p>\n    </div>\n'
    '    <form method="post" action="{url}pick-up">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
    '<button class="button small" type="submit">Pick up'
    '<span class="sr-only"> \u201c{title}\u201d</span></button></form>\n  </li>\n'
)


_AGE_EPOCH = datetime(2000, 1, 1)
_MONTH_FREE = timedelta(days=28)  # shorter than any month: no calendar in the answer


@functools.lru_cache(maxsize=8192)
def _age_of_minutes(minutes: int, language: str | None) -> str:
    return timesince(_AGE_EPOCH, _AGE_EPOCH + timedelta(minutes=minutes))


def age(value: datetime, now: datetime) -> str:
    """timesince(value, now), e.g. "3 hours, 5 minutes": under four weeks it depends only
    on the whole minutes between them, so each answer is worked out once per process
    (timesince was an eighth of All questions)."""
    return _age(value, now, translation.get_language())


def _age(value: datetime, now: datetime, language: str | None) -> str:
    delta = now - value
    if timedelta(0) <= delta < _MONTH_FREE:
        return _age_of_minutes(int(delta.total_seconds()) // 60, language)
    return timesince(value, now)


# The rows' HTML, by everything it is made of: the row as read, the category's name and
# the link prefix. A row's HTML is therefore built once per process and can never be
# stale; only its age and the CSRF token are filled per request.
@functools.lru_cache(maxsize=4096)
def _row_parts(
    attnames: tuple[str, ...], values: tuple[object, ...], category: str, detail_prefix: str
) -> tuple[str, str]:
    q = Question(**dict(zip(attnames, values, strict=True)))
    html = _PREVIEW_ROW.format(
        pk=q.pk,
        icon=channel_icon(q.channel),
        url=escape(f"{detail_prefix}{q.pk}/"),
        # A phone-call request shows category, price and channel until accepted.
        title=escape(q.title) if q.channel != Channel.PHONE else "Phone call request",
        summary=escape(q.summary) if q.channel != Channel.PHONE else "",
        category=escape(category),
        price=escape(q.price_display),
        posted_iso=q.posted_at.isoformat() if q.posted_at else "",
        age="\x00",
        csrf=CSRF_PLACEHOLDER,
    )
    head, _, tail = html.partition("\x00")
    return head, tail


def preview_rows_html(
    found: PreviewRows, *, detail_prefix: str, csrf_token: str, now: datetime
) -> str:
    """The rows of a page of All questions, straight from the rows read."""
    language = translation.get_language()
    posted_at = found.attnames.index("posted_at")
    category_id = found.attnames.index("category_id")
    out = []
    for row in found.rows:
        category = found.by_category[row[category_id]].name
        head, tail = _row_parts(found.attnames, row, category, detail_prefix)
        out.append(head)
        if row[posted_at]:
            out.append(escape(_age(row[posted_at], now, language)))
        out.append(tail)
    return "".join(out).replace(CSRF_PLACEHOLDER, escape(csrf_token))
