"""Panels that apps to the right add to the question page (premium offers, the private
box), without this app importing them.

A panel is a function of the request and the viewer's access that returns the
template and context of its section, or None when it has nothing to show. Apps
register theirs in AppConfig.ready. The page renders every panel; the live poll
re-renders them when the question's version moved, so a panel updates without a
reload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from .selectors import QuestionAccess


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: dict[str, Any]
    html: str | None = None  # already rendered (a cached panel): template and context unused


PanelFunction = Callable[[HttpRequest, QuestionAccess], Panel | None]
_PANELS: dict[str, tuple[int, PanelFunction]] = {}


def register(name: str, panel: PanelFunction, *, order: int = 50) -> None:
    """Panels show in `order` (lower first) below the conversation."""
    _PANELS[name] = (order, panel)


def render_panels(request: HttpRequest, access: QuestionAccess) -> dict[str, str]:
    """Every registered panel by name, "" when it has nothing to show: the page keeps a
    place for each, so a panel that appears later (the first offer) has somewhere to go."""
    rendered = {}
    for name, (_, fn) in sorted(_PANELS.items(), key=lambda item: item[1][0]):
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
