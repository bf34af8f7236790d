"""When may the assigned expert offer premium services? One pure function of the
thread, the category, the offers and the clock (DESIGN.md, Rules).

- Customer replies are the customer's messages after the expert picked the
  question up; the question text does not count, nor do the expert's messages
  (which do not reset anything either).
- The button is due the category's delay after the 2nd reply; later replies do
  not move it (the delay never restarts).
- After an offer stops being pending (declined, withdrawn, expired, accepted...),
  it is due again after 2 more replies plus the delay.
- Never while an offer is `sent` or `accepting`, nor on a question that is not in
  conversation (open, closed, refunded), nor for an expert without the tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

REPLIES_NEEDED = 2
CONVERSING = ("assigned", "answered")
PENDING = ("sent", "accepting")


@dataclass(frozen=True)
class OfferFact:
    status: str
    closed_at: datetime | None  # when it stopped being pending; None while pending


@dataclass(frozen=True)
class Eligibility:
    allowed: bool
    due_at: datetime | None  # when it becomes (or became) allowed; None if not foreseeable
    # "ok" | "no_tool" | "not_conversing" | "pending_offer" | "needs_replies" | "too_early"
    reason: str
    replies_counted: int = 0  # customer replies that count toward the next offer
    after_offer: bool = False  # counting again after an earlier offer ended

    @property
    def message(self) -> str:
        if self.reason == "needs_replies":
            more = REPLIES_NEEDED - self.replies_counted
            replies = "reply" if more == 1 else "replies"
            again = "again " if self.after_offer else ""
            return (
                f"You can offer premium services {again}after {more} more customer {replies}, "
                "plus a short wait."
            )
        return {
            "ok": "You can offer premium services.",
            "no_tool": "Premium services are not enabled for your account.",
            "not_conversing": "Premium services can be offered only during the conversation.",
            "pending_offer": "An offer on this question is already waiting for the customer.",
            "too_early": "You can offer premium services in a few moments.",
        }[self.reason]


def offer_eligibility(
    *,
    expert_has_tool: bool,
    question_status: str,
    picked_up_at: datetime | None,
    customer_reply_times: Sequence[datetime],
    offers: Sequence[OfferFact],
    delay_seconds: int,
    now: datetime,
) -> Eligibility:
    if not expert_has_tool:
        return Eligibility(False, None, "no_tool")
    if question_status not in CONVERSING or picked_up_at is None:
        return Eligibility(False, None, "not_conversing")
    if any(o.status in PENDING for o in offers):
        return Eligibility(False, None, "pending_offer")
    closed = [o.closed_at for o in offers if o.closed_at is not None]
    count_from = max([picked_up_at, *closed])
    replies = sorted(t for t in customer_reply_times if t > count_from)
    counted, after = min(len(replies), REPLIES_NEEDED), bool(closed)
    if len(replies) < REPLIES_NEEDED:
        return Eligibility(False, None, "needs_replies", counted, after)
    due = replies[REPLIES_NEEDED - 1] + timedelta(seconds=delay_seconds)
    if now < due:
        return Eligibility(False, due, "too_early", counted, after)
    return Eligibility(True, due, "ok", counted, after)
