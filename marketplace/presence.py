"""Who is looking at what, right now: set by the pages' polls, read before emailing.

Kept in the cache (Redis in production) with a short expiry, so a poll costs no
database write.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

SITE = "site"


def _key(user_id: int, where: str) -> str:
    return f"presence:{user_id}:{where}"


def mark(user_id: int, *places: str) -> None:
    ttl = settings.EXPERTLINE_PRESENCE_SECONDS
    cache.set_many({_key(user_id, p): 1 for p in (SITE, *places)}, timeout=ttl)


def is_present(user_id: int, where: str = SITE) -> bool:
    return cache.get(_key(user_id, where)) is not None


def question_place(question_id: int) -> str:
    return f"question:{question_id}"
