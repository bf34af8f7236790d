"""Money: an integer count of a currency's minor unit plus its ISO code. No floats."""

from __future__ import annotations

from dataclasses import dataclass

# Minor units per major unit, for the currencies we display.
MINOR_UNITS = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "JPY": "¥"}
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units (cents for USD)
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"not an ISO currency code: {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def share(self, basis_points: int) -> Money:
        """This amount times basis_points / 10000, rounded half down in our favour."""
        return Money((self.amount * basis_points) // 10_000, self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __str__(self) -> str:
        return format_minor(self.amount, self.currency)


def format_minor(amount: int, currency: str = DEFAULT_CURRENCY) -> str:
    """1234, "USD" -> "$12.34"; negative amounts keep their sign in front."""
    digits = MINOR_UNITS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    symbol = SYMBOLS.get(currency, currency + " ")
    if digits == 0:
        return f"{sign}{symbol}{amount:,}"
    major, minor = divmod(amount, 10**digits)
    return f"{sign}{symbol}{major:,}.{minor:0{digits}d}"


def parse_major(text: str, currency: str = DEFAULT_CURRENCY) -> int:
    """ "12.5" -> 1250 minor units. Raises ValueError on anything but a plain decimal."""
    digits = MINOR_UNITS.get(currency, 2)
    cleaned = text.strip().lstrip(SYMBOLS.get(currency, "")).replace(",", "")
    if not cleaned or cleaned.count(".") > 1 or cleaned.startswith("-"):
        raise ValueError("Enter an amount such as 25 or 25.50")
    major, _, minor = cleaned.partition(".")
    if not major.isdigit() and major != "":
        raise ValueError("Enter an amount such as 25 or 25.50")
    if minor and (not minor.isdigit() or len(minor) > digits):
        raise ValueError(f"Use at most {digits} decimal places")
    return int(major or "0") * 10**digits + int((minor or "0").ljust(digits, "0") or "0")
