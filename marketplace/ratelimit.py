"""A fixed-window rate limit in the cache. Raises RateLimited (HTTP 429)."""

from __future__ import annotations

import time

from django.core.cache import cache

from .errors import RateLimited


def hit(*, scope: str, ident: object, limit: int, window_seconds: int, message: str) -> None:
    window = int(time.time() // window_seconds)
    key = f"rl:{scope}:{ident}:{window}"
    if cache.add(key, 1, timeout=window_seconds + 5):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window_seconds + 5)
            count = 1
    if count > limit:
        raise RateLimited(message)
