"""Signed, expiring tokens bound to the browser's session cookie, for fast paths that
answer before sessions and users load (questions.middleware's poll, premium.call_fastpath's
signalling).

A token is `field.field....digest`, signed with a timestamp (HMAC with SECRET_KEY and a
salt of its own per use). The digest is of the session cookie the token was issued to:
a token read with another cookie (another browser, a logged-out or rotated session) is
refused, so a token that leaks alone is worth nothing. Only what the token names is
trusted; each fast path still checks the rows it reads.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.core import signing


def session_digest(session_key: str) -> str:
    return hashlib.blake2b(session_key.encode(), digest_size=9).hexdigest()


@dataclass(frozen=True)
class TokenFields:
    fields: list[str]  # what the issuer signed, in order, as text
    age_seconds: float  # since it was issued


class SessionBoundSigner:
    """Issues and reads the tokens of one use (its salt) that last `max_age_seconds`."""

    def __init__(self, *, salt: str, max_age_seconds: int) -> None:
        self.max_age_seconds = max_age_seconds
        self._signer = signing.TimestampSigner(salt=salt)

    def issue(self, *fields: int | str, session_key: str | None) -> str:
        """A token for these fields and this session ("" without a session)."""
        if not session_key:
            return ""
        return self._signer.sign(".".join([*map(str, fields), session_digest(session_key)]))

    def read(self, token: str, *, session_key: str | None) -> TokenFields | None:
        """The signed fields, or None: forged, expired, or issued to another session."""
        if not session_key or not token:
            return None
        try:
            value = self._signer.unsign(token, max_age=self.max_age_seconds)
            issued = signing.b62_decode(token.rsplit(":", 2)[1])
        except (signing.BadSignature, ValueError, IndexError):
            return None
        *fields, digest = value.split(".")
        if digest != session_digest(session_key):
            return None
        return TokenFields(fields, max(0.0, time.time() - issued))
