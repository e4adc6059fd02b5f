"""Amounts as an operator types them and as commands show them: exact to the wei, for any size."""

from __future__ import annotations

import pytest

from loraswarm.errors import BadAmount
from loraswarm.evm.funds import parse_amount, tokens


@pytest.mark.parametrize(("text", "units"), [
    ("0.1", 10**17),
    ("1200", 1200 * 10**18),
    ("123456789.123456789", 123456789123456789 * 10**9),
    ("100_000_000_000", 10**29),  # past the default Decimal context's 28 digits
    ("0.000000000000000001", 1),
])
def test_amounts_are_taken_exactly(text: str, units: int) -> None:
    assert parse_amount(text, "LSW") == units


@pytest.mark.parametrize(("text", "message"), [
    ("nan", "'nan' is not an amount of LSW: give a finite number"),
    ("inf", "'inf' is not an amount of LSW: give a finite number"),
    ("-1", "'-1' is not an amount of LSW: give a finite number"),
    ("ten", "'ten' is not an amount of LSW: write it like 100"),
    ("1e-19", "1e-19 LSW has more than 18 decimals"),
    ("0", "0 LSW: the amount must be more than 0"),
])
def test_bad_amounts_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(BadAmount, match=message):
        parse_amount(text, "LSW")


def test_zero_where_a_command_allows_it_and_amounts_shown_with_every_digit() -> None:
    assert parse_amount("0", "ETH", allow_zero=True) == 0
    assert tokens(10**29) == "100,000,000,000"
    assert tokens(5) == "0.000000000000000005"
    assert tokens(1234567 * 10**17) == "123,456.7"
