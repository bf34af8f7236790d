"""Panels that apps to the right add to the question page (premium offers, the private
box), without this app importing them.

A panel is a function of the request and the viewer's access that returns the
template and context of its section, or None when it has nothing to show. Apps
register theirs in AppConfig.ready. The page renders every panel; the live poll
re-renders them when the question's version moved, so a panel updates without a
reload.

A panel may also declare the cache keys it will read (`keys`): the page reads every
panel's keys in one `cache.get_many` before rendering, and the panels take their values
with `cached`, so the panels together cost at most one round trip to Redis. A key whose
value never changes (it names every input, such as the question's version) is read with
`keep=True`: once seen, this process serves it from memory and leaves it out of the
round trip.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest
from django.template.loader import render_to_string

from .fragments import _ProcessMemo
from .selectors import QuestionAccess


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: dict[str, Any]
    html: str | None = None  # already rendered (a cached panel): template and context unused


PanelFunction = Callable[[HttpRequest, QuestionAccess], Panel | None]
PanelKeys = Callable[[HttpRequest, QuestionAccess], list[str]]
_PANELS: dict[str, tuple[int, PanelFunction, PanelKeys | None]] = {}

# The values of kept keys, pickled: each read gets its own copy, as from Redis, so a
# request that changes an object it was given (a model instance) changes no other's.
# In bytes: a few hundred premium sections and offer lists per process.
_kept: _ProcessMemo[bytes] = _ProcessMemo(max_chars=2_000_000)
_MISSING = object()
_PREFETCH = "_panels_prefetch"


@dataclass
class _Prefetch:
    """What the panels of one request read up front."""

    kept: dict[str, bytes] = field(default_factory=dict)  # from this process's memory
    asked: set[str] = field(default_factory=set)  # asked of the cache, found or not
    found: dict[str, Any] = field(default_factory=dict)  # the cache's answer


def register(
    name: str, panel: PanelFunction, *, order: int = 50, keys: PanelKeys | None = None
) -> None:
    """Panels show in `order` (lower first) below the conversation. `keys` lists the cache
    keys the panel will read with `cached` for this request and viewer."""
    _PANELS[name] = (order, panel, keys)


def cached(
    request: HttpRequest,
    key: str,
    *,
    keep: bool = False,
    valid: Callable[[Any], bool] | None = None,
) -> tuple[bool, Any]:
    """(found, value) of a cache key for this request: as read before the panels ran, or
    with a `cache.get` of its own for a key no panel declared.

    keep: the value under this key never changes (the key names every input), or is
    checked by `valid` on every read; it is then served from this process's memory once
    seen. A remembered value that `valid` refuses (stale) is read again from the cache.
    """
    prefetch: _Prefetch | None = request.__dict__.get(_PREFETCH)
    if keep:
        raw = prefetch.kept.get(key) if prefetch is not None else None
        if raw is None:
            raw = _kept.get(key)
        if raw is not None:
            value = pickle.loads(raw)  # noqa: S301 - bytes this process pickled itself
            if valid is None or valid(value):
                return True, value
    if prefetch is not None and key in prefetch.asked:
        found = key in prefetch.found
        value = prefetch.found.get(key)
    else:
        value = cache.get(key, _MISSING)
        found = value is not _MISSING
        value = None if value is _MISSING else value
    if found and keep and (valid is None or valid(value)):
        _kept.put(key, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    return found, value


def store(
    request: HttpRequest, key: str, value: Any, timeout: int | None, *, keep: bool = False
) -> None:
    """cache.set, seen by the rest of this request's panels, and kept in this process's
    memory when `keep` (see `cached`)."""
    cache.set(key, value, timeout)
    prefetch: _Prefetch | None = request.__dict__.get(_PREFETCH)
    if prefetch is not None:
        prefetch.asked.add(key)
        prefetch.found[key] = value
        prefetch.kept.pop(key, None)
    if keep:
        _kept.put(key, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def _prefetch(request: HttpRequest, access: QuestionAccess, keys: list[PanelKeys]) -> None:
    """Every panel's keys in one round trip, less those this process remembers."""
    prefetch = _Prefetch()
    wanted: list[str] = []
    for panel_keys in keys:
        for key in panel_keys(request, access):
            if key in prefetch.kept or key in prefetch.asked:
                continue
            raw = _kept.get(key)
            if raw is not None:
                prefetch.kept[key] = raw
            else:
                prefetch.asked.add(key)
                wanted.append(key)
    if wanted:
        prefetch.found = cache.get_many(wanted)
    request.__dict__[_PREFETCH] = prefetch


def render_panels(request: HttpRequest, access: QuestionAccess) -> dict[str, str]:
    """Every registered panel by name, "" when it has nothing to show: the page keeps a
    place for each, so a panel that appears later (the first offer) has somewhere to go."""
    ordered = sorted(_PANELS.items(), key=lambda item: item[1][0])
    _prefetch(request, access, [keys for _, (_, _, keys) in ordered if keys is not None])
    rendered = {}
    for name, (_, fn, _) in ordered:
        panel = fn(request, access)
        if panel is None:
            rendered[name] = ""
        elif panel.html is not None:
            rendered[name] = panel.html
        else:
            rendered[name] = render_to_string(
                panel.template, {**panel.context, "question": access.question}, request
            )
    return rendered
