"""The Request Center: phone-call requests waiting for an expert of their category.

Before accepting, an expert sees only the category, the price and the channel;
the customer's words and the bot conversation open with the pick-up.
"""

from __future__ import annotations

from django.conf import settings

from marketplace.models import Category, User

from .models import Channel, Question, QuestionStatus


def phone_requests_for_expert(*, expert: User, limit: int | None = None) -> list[Question]:
    """Open phone-call requests in the verified expert's active categories, newest first."""
    categories = Category.objects.filter(
        experts__user=expert, experts__verified_at__isnull=False, is_active=True
    ).values("pk")
    return list(
        Question.objects.filter(
            status=QuestionStatus.OPEN, channel=Channel.PHONE, category_id__in=categories
        )
        .select_related("category")
        .only(
            "id",
            "channel",
            "price_minor",
            "phone_price_minor",
            "currency",
            "is_member_question",
            "posted_at",
            "category__name",
            "category__slug",
        )
        .order_by("-posted_at", "-id")[: limit or settings.EXPERTLINE_PAGE_SIZE]
    )
