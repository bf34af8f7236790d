import pytest

from marketplace.money import Money, format_minor, parse_major


@pytest.mark.parametrize(
    "text,minor", [("25", 2500), ("25.5", 2550), ("25.05", 2505), ("$1,000.00", 100000), (".5", 50)]
)
def test_parse_major(text, minor):
    assert parse_major(text) == minor


@pytest.mark.parametrize("text", ["", "-5", "1.234", "abc", "1.2.3", "1e3"])
def test_parse_major_refuses_anything_else(text):
    with pytest.raises(ValueError):
        parse_major(text)


def test_format_minor():
    assert format_minor(123456) == "$1,234.56"
    assert format_minor(-5) == "-$0.05"
    assert format_minor(500, "JPY") == "¥500"


def test_money_refuses_floats_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Money(1, "USD") + Money(1, "EUR")
    assert Money(10_000).share(4_500) == Money(4_500)
