"""Exact evaluation of numeric expressions with dimension checks."""

from __future__ import annotations

from fractions import Fraction

import pytest

from llmsim.diagnostics import DiagnosticBag
from llmsim.lang.evaluate import Evaluator, describe
from llmsim.lang.parser import parse_expr
from llmsim.lang.units import BANDWIDTH, DATA, ONE, RATE, TIME, Quantity


def evaluate(text: str) -> tuple[Quantity | None, DiagnosticBag]:
    bag = DiagnosticBag()
    return Evaluator(bag).evaluate(parse_expr(text)), bag


def value(text: str) -> Quantity:
    q, bag = evaluate(text)
    assert not bag.items, [d.render() for d in bag.items]
    assert q is not None
    return q


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16 / 3", Quantity(Fraction(16, 3), ONE)),
        ("0.1 + 0.2", Quantity(Fraction(3, 10), ONE)),
        ("2 * 80GiB", Quantity(Fraction(160 * 2**30), DATA)),
        ("1GB / 1s", Quantity(Fraction(10**9), BANDWIDTH)),
        ("150us + 0.5ms", Quantity(Fraction(65, 100_000), TIME)),
        ("-4/s", Quantity(Fraction(-4), RATE)),
        ("1 - 2 - 3", Quantity(Fraction(-4), ONE)),
        ("2 + 3 * 4", Quantity(Fraction(14), ONE)),
        ("(2 + 3) * 4", Quantity(Fraction(20), ONE)),
        ("90%", Quantity(Fraction(9, 10), ONE)),
        ("1_000 * 1e-3", Quantity(Fraction(1), ONE)),
        ("4/s * 2s", Quantity(Fraction(8), ONE)),
    ],
)
def test_exact_values(text, expected):
    assert value(text) == expected


def summaries(text: str) -> list[str]:
    q, bag = evaluate(text)
    assert q is None
    return [d.summary for d in bag.items]


def test_dimension_mismatch_points_at_the_operator():
    _, bag = evaluate("1ms + 1GiB")
    (d,) = bag.items
    assert d.summary == "cannot add a data size to a duration"
    assert d.label == "a duration + a data size"
    assert (d.span.col, d.span.end_col) == (5, 6)


def test_division_by_zero():
    _, bag = evaluate("4 / (2 - 2)")
    (d,) = bag.items
    assert d.summary == "division by zero"
    assert (d.span.col, d.span.end_col) == (6, 11)


def test_arithmetic_on_non_numbers():
    assert summaries('"a" * 2') == ["arithmetic needs numbers or quantities"]
    assert summaries("16 / tp") == ["arithmetic needs numbers or quantities"]
    assert summaries("-[1]") == ["arithmetic needs numbers or quantities"]


def test_every_operand_is_checked():
    assert summaries("1Gbs + 2xx") == ["unknown unit `Gbs`", "unknown unit `xx`"]


def test_unknown_unit_suggestions_keep_the_number():
    _, bag = evaluate("900Gbs")
    (d,) = bag.items
    assert d.summary == "unknown unit `Gbs`"
    assert d.label == "not a unit"
    assert d.help == "did you mean `900GB/s` or `900Gb/s`?"
    assert (d.span.col, d.span.end_col) == (1, 7)


def test_glued_division_hint():
    _, bag = evaluate("16/tp")
    (d,) = bag.items
    assert d.summary == "unknown unit `/tp`"
    assert d.help == "to divide, put spaces around `/`: `16 / tp`"


def test_huge_literals_are_refused_not_computed():
    assert summaries("1e999999999") == ["number too large"]
    assert summaries("9" * 100) == ["number too large"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1", "a plain number"),
        ("80GiB", "a data size"),
        ("4/s", "a rate"),
        ('"x"', "a string"),
        ("true", "`true`"),
        ("main", "the name `main`"),
        ("f(1)", "a call to `f`"),
        ("[1]", "a list"),
        ("1 + 1", "an expression"),
    ],
)
def test_describe(text, words):
    assert describe(parse_expr(text)) == words
