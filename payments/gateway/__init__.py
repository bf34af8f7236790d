"""The payment gateway in use: `get_gateway()`, chosen by `settings.PAYMENTS_GATEWAY`.

"local" is the embedded gateway (state in our database); "stripe" talks to Stripe
(or to `STRIPE_API_BASE`, localstripe in tests). Instances are cached per settings
values, so tests that switch settings get a matching gateway at no cost.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import Gateway


def get_gateway() -> Gateway:
    name = settings.PAYMENTS_GATEWAY
    if name == "local":
        return _local_gateway()
    if name == "stripe":
        return _stripe_gateway(
            settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_WEBHOOK_SECRET
        )
    raise ImproperlyConfigured(f'PAYMENTS_GATEWAY must be "stripe" or "local", not {name!r}')


@lru_cache(maxsize=1)
def _local_gateway() -> Gateway:
    # It reads its settings (webhook secret and address) when it uses them.
    from .local import LocalGateway

    return LocalGateway()


@lru_cache(maxsize=8)
def _stripe_gateway(secret_key: str, api_base: str, webhook_secret: str) -> Gateway:
    if not secret_key:
        raise ImproperlyConfigured("PAYMENTS_GATEWAY is 'stripe' but STRIPE_SECRET_KEY is empty")
    from .stripe_gateway import StripeGateway

    return StripeGateway(secret_key=secret_key, api_base=api_base, webhook_secret=webhook_secret)
