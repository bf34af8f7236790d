"""The earnings page's premium part (level, boosts, fulfilment reports due), rendered from
premium.earnings: payments' page includes it without importing premium."""

from __future__ import annotations

from typing import Any

from django import template

from premium import earnings

register = template.Library()


@register.inclusion_tag("premium/earnings_extras.html")
def earnings_extras(user: Any) -> dict[str, Any]:
    return earnings.earnings_overview(expert=user)
