"""The API's token authentication: DRF's, with its lookup compiled once per process."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from .compiled import CompiledQuery

# Every API request with a token reads it with its user: marketplace.compiled keeps the
# statement instead of building it each time.
_TOKEN_WITH_USER = CompiledQuery(lambda key: Token.objects.select_related("user").filter(key=key))


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's; the same answers for a bad or inactive one."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        token: Token | None = _TOKEN_WITH_USER.first(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
