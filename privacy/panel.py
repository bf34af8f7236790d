"""The private-information section of the question page (after an accepted offer)."""

from __future__ import annotations

from django.http import HttpRequest

from questions import panels
from questions.models import Question
from questions.panels import Panel
from questions.selectors import QuestionAccess

from .models import PrivateAttachment, PrivateBox
from .services import BOX_FIELDS

NO_BOX_TTL_SECONDS = 24 * 3600
VIEWER_ROLES = ("customer", "expert")  # staff read the box in the admin, with a reason


def _no_box_key(question: Question) -> str:
    # Most questions never get a box. It opens only with an accepted offer, which moves
    # the question's version in the same transaction, so "no box at this version" holds
    # for good: each process keeps it once seen.
    return f"qno-private-box:{question.pk}:v{question.version}"


def private_keys(request: HttpRequest, access: QuestionAccess) -> list[str]:
    """What private_panel reads from the cache (in the panels' one round trip)."""
    return [_no_box_key(access.question)] if access.role in VIEWER_ROLES else []


def private_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    if access.role not in VIEWER_ROLES:
        return None
    question = access.question
    no_box_key = _no_box_key(question)
    _, no_box = panels.cached(request, no_box_key, keep=True)
    if no_box:
        return None
    box = PrivateBox.objects.filter(question=question).first()
    if box is None:
        panels.store(request, no_box_key, True, NO_BOX_TTL_SECONDS, keep=True)
        return None
    mine_side = access.role
    theirs_side = "expert" if mine_side == "customer" else "customer"
    mine = (getattr(box, f"{mine_side}_info") or {}) if box.erased_at is None else {}
    theirs = (getattr(box, f"{theirs_side}_info") or {}) if box.erased_at is None else {}
    attachments = list(
        PrivateAttachment.objects.filter(question=access.question, erased_at__isnull=True)
    )
    return Panel(
        name="private",
        template="privacy/panel.html",
        context={
            "box": box,
            "role": mine_side,
            "fields": [(f, mine.get(f, "")) for f in BOX_FIELDS],
            "theirs": [(f, theirs.get(f, "")) for f in BOX_FIELDS if theirs.get(f)],
            "theirs_label": "The expert" if theirs_side == "expert" else "The customer",
            "attachments": attachments,
        },
    )
