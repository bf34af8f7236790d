"""Who is looking at what, right now: set by the pages' polls, read before emailing.

Kept in the cache (Redis in production) with a short expiry, so a poll costs no
database write.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

SITE = "site"


def _key(user_id: int, where: str) -> str:
    return f"presence:{user_id}:{where}"


def mark(user_id: int, *places: str) -> None:
    ttl = settings.EXPERTLINE_PRESENCE_SECONDS
    cache.set_many({_key(user_id, p): 1 for p in (SITE, *places)}, timeout=ttl)


# Marks this process made recently: (user id, place) -> time.monotonic() of the mark.
_recent: dict[tuple[int, str], float] = {}


def mark_throttled(user_id: int, place: str) -> None:
    """mark(), at most once per third of the presence expiry per process: a page polls
    every second or two, and presence needs only to stay fresh, not to be rewritten."""
    now = time.monotonic()
    key = (user_id, place)
    if now - _recent.get(key, -1e9) < settings.EXPERTLINE_PRESENCE_SECONDS / 3:
        return
    if len(_recent) > 10_000:
        _recent.clear()
    _recent[key] = now
    mark(user_id, place)


def is_present(user_id: int, where: str = SITE) -> bool:
    return cache.get(_key(user_id, where)) is not None


def question_place(question_id: int) -> str:
    return f"question:{question_id}"
