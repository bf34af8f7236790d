"""Domain errors: one small hierarchy, mapped once to HTTP answers.

Services raise these; `marketplace.middleware.DomainErrorMiddleware` maps them for
pages and `marketplace.api.exception_handler` for the API. Each carries a message
a person can act on.
"""


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    """Also used for "exists but not yours": we never reveal that it exists."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The thing is in a state that does not allow this (taken, already rated...)."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
