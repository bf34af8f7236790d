"""The private-information section of the question page (after an accepted offer)."""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest

from questions.panels import Panel
from questions.selectors import QuestionAccess

from .models import PrivateAttachment, PrivateBox
from .services import BOX_FIELDS


def private_panel(request: HttpRequest, access: QuestionAccess) -> Panel | None:
    if access.role not in ("customer", "expert"):
        return None  # staff read it in the admin, with a reason
    question = access.question
    # Most questions never get a box. It opens only with an accepted offer, which moves
    # the question's version in the same transaction, so "no box at this version" holds.
    no_box_key = f"qno-private-box:{question.pk}:v{question.version}"
    if cache.get(no_box_key):
        return None
    box = PrivateBox.objects.filter(question=question).first()
    if box is None:
        cache.set(no_box_key, True, 24 * 3600)
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
