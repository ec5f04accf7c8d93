"""The closed unit table, exact quantities, dimension checks, formatting and suggestions."""

from __future__ import annotations

from fractions import Fraction

import pytest

from llmsim.lang.units import (
    BANDWIDTH,
    DATA,
    ONE,
    RATE,
    TIME,
    UNITS,
    DimensionError,
    Quantity,
    format_quantity,
    parse_number,
    parse_quantity,
    quantity,
    unit_suggestions,
)


@pytest.mark.parametrize(
    ("text", "value", "dim"),
    [
        ("80GiB", Fraction(80 * 2**30), DATA),
        ("80GB", Fraction(80 * 10**9), DATA),
        ("900Gb/s", Fraction(900 * 10**9, 8), BANDWIDTH),
        ("3.35TB/s", Fraction(335 * 10**10), BANDWIDTH),
        ("500ms", Fraction(1, 2), TIME),
        ("150us", Fraction(150, 10**6), TIME),
        ("4/s", Fraction(4), RATE),
        ("600/min", Fraction(10), RATE),
        ("90%", Fraction(9, 10), ONE),
        ("1_000", Fraction(1000), ONE),
        ("2e3", Fraction(2000), ONE),
        ("0.1", Fraction(1, 10), ONE),
    ],
)
def test_parse_quantity_is_exact(text, value, dim):
    q = parse_quantity(text)
    assert q == Quantity(value, dim)


def test_units_are_case_sensitive():
    assert parse_quantity("1GB") != parse_quantity("1Gb")
    assert parse_quantity("1GB") != parse_quantity("1GiB")
    with pytest.raises(KeyError):
        parse_quantity("1gb")


def test_unknown_unit_raises_key_error():
    with pytest.raises(KeyError):
        quantity("1", "Gbs")


def test_parse_number_keeps_decimals_exact():
    assert parse_number("0.1") + parse_number("0.2") == Fraction(3, 10)


def test_arithmetic_is_exact():
    a = quantity("0.1", "ms")
    b = quantity("0.2", "ms")
    assert (a + b).value == Fraction(3, 10_000)
    assert (quantity("16") / quantity("3")).value == Fraction(16, 3)
    assert (quantity("2") * quantity("80", "GiB")).in_unit("GiB") == 160


def test_dimensions_combine():
    bw = quantity("1", "GB") / quantity("1", "s")
    assert bw.dim == BANDWIDTH
    assert (quantity("4", "/s") * quantity("2", "s")).dim == ONE


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (lambda a, b: a + b, "cannot add a data size to a duration"),
        (lambda a, b: a - b, "cannot subtract a data size from a duration"),
    ],
)
def test_dimension_errors(op, message):
    with pytest.raises(DimensionError, match=message):
        op(quantity("1", "s"), quantity("1", "GiB"))


def test_division_by_zero_is_a_dimension_error():
    with pytest.raises(DimensionError, match="division by zero"):
        quantity("1") / quantity("0")


def test_in_unit_checks_dimension():
    with pytest.raises(DimensionError):
        quantity("1", "s").in_unit("GiB")


@pytest.mark.parametrize(
    ("text", "shown"),
    [("80GiB", "80GiB"), ("80GB", "80GB"), ("1500ms", "1.5s"), ("4/s", "4/s"), ("90%", "0.9"), ("2h", "2h")],
)
def test_format_quantity(text, shown):
    assert format_quantity(parse_quantity(text)) == shown


@pytest.mark.parametrize(
    ("unit", "suggestions"),
    [("Gbs", ["GB/s", "Gb/s"]), ("GBs", ["GB/s"]), ("Gib", ["GiB"]), ("Ms", ["ms", "s"])],
)
def test_unit_suggestions(unit, suggestions):
    assert unit_suggestions(unit)[: len(suggestions)] == suggestions


def test_no_suggestion_for_a_name():
    assert unit_suggestions("/tp") == []


def test_every_unit_has_a_positive_factor():
    assert all(factor > 0 for factor, _ in UNITS.values())
