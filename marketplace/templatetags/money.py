from django import template

from marketplace.money import DEFAULT_CURRENCY, format_minor

register = template.Library()


@register.filter
def money(amount_minor: int, currency: str = DEFAULT_CURRENCY) -> str:
    """{{ 1234|money }} -> $12.34; {{ amount|money:"EUR" }}."""
    return format_minor(int(amount_minor or 0), currency or DEFAULT_CURRENCY)
