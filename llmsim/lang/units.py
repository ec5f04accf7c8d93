"""Quantities with units: one closed, case-sensitive table, exact values in base units.

Units glue to numbers (`80GiB`, `3.35TB/s`, `500ms`, `4/s`, `90%`). Values are kept as exact
`Fraction`s in SI base units (seconds, bytes, FLOP, joules) so `2 * 80GiB` and `16 / tp` stay exact;
runtime code converts to integers (nanoseconds, bytes) at the edge. `GB` is 10^9 bytes, `GiB` 2^30,
`Gb` 10^9 bits: they are different units and never guessed from one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from llmsim.diagnostics import did_you_mean

# A dimension is a tuple of integer exponents over these base quantities.
BASE = ("s", "B", "FLOP", "J")


@dataclass(frozen=True, order=True)
class Dim:
    exps: tuple[int, int, int, int] = (0, 0, 0, 0)

    def __mul__(self, other: Dim) -> Dim:
        return Dim(tuple(a + b for a, b in zip(self.exps, other.exps)))  # type: ignore[arg-type]

    def __truediv__(self, other: Dim) -> Dim:
        return Dim(tuple(a - b for a, b in zip(self.exps, other.exps)))  # type: ignore[arg-type]

    def __pow__(self, n: int) -> Dim:
        return Dim(tuple(a * n for a in self.exps))  # type: ignore[arg-type]

    @property
    def is_dimensionless(self) -> bool:
        return not any(self.exps)

    @property
    def name(self) -> str:
        return DIM_NAMES.get(self, self.formula)

    @property
    def formula(self) -> str:
        parts = []
        for base, e in zip(BASE, self.exps):
            if e == 1:
                parts.append(base)
            elif e:
                parts.append(f"{base}^{e}")
        return "*".join(parts) or "1"


ONE = Dim()
TIME = Dim((1, 0, 0, 0))
DATA = Dim((0, 1, 0, 0))
COMPUTE = Dim((0, 0, 1, 0))
ENERGY = Dim((0, 0, 0, 1))
RATE = ONE / TIME
BANDWIDTH = DATA / TIME
COMPUTE_RATE = COMPUTE / TIME
POWER = ENERGY / TIME

DIM_NAMES: dict[Dim, str] = {
    ONE: "a plain number",
    TIME: "a duration",
    DATA: "a data size",
    COMPUTE: "an amount of compute",
    ENERGY: "an energy",
    RATE: "a rate",
    BANDWIDTH: "a bandwidth",
    COMPUTE_RATE: "a compute rate",
    POWER: "a power",
}

# The example unit shown when a bare number is given where a dimension is needed.
DIM_EXAMPLES: dict[Dim, str] = {
    TIME: "ms",
    DATA: "GiB",
    COMPUTE: "TFLOP",
    ENERGY: "J",
    RATE: "/s",
    BANDWIDTH: "GB/s",
    COMPUTE_RATE: "TFLOP/s",
    POWER: "W",
}


def _build_table() -> dict[str, tuple[Fraction, Dim]]:
    table: dict[str, tuple[Fraction, Dim]] = {}
    times = {"ns": Fraction(1, 10**9), "us": Fraction(1, 10**6), "µs": Fraction(1, 10**6),
             "ms": Fraction(1, 1000), "s": Fraction(1), "min": Fraction(60), "h": Fraction(3600)}
    for name, factor in times.items():
        table[name] = (factor, TIME)
    for name in ("s", "ms", "min", "h"):
        table["/" + name] = (1 / times[name], RATE)
    for prefix, factor in {"": 1, "k": 10**3, "M": 10**6, "G": 10**9}.items():
        table[prefix + "Hz"] = (Fraction(factor), RATE)

    decimal = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
    data: dict[str, Fraction] = {}
    for prefix, factor in {**decimal, **binary}.items():
        data[prefix + "B"] = Fraction(factor)
    for prefix, factor in decimal.items():
        data[prefix + "b"] = Fraction(factor, 8)
    for name, factor in data.items():
        table[name] = (factor, DATA)
        table[name + "/s"] = (factor, BANDWIDTH)

    for prefix, factor in decimal.items():
        table[prefix + "FLOP"] = (Fraction(factor), COMPUTE)
        table[prefix + "FLOP/s"] = (Fraction(factor), COMPUTE_RATE)

    for prefix, factor in {"m": Fraction(1, 1000), "": 1, "k": 10**3, "M": 10**6}.items():
        table[prefix + "W"] = (Fraction(factor), POWER)
    for prefix, factor in {"": 1, "k": 10**3, "M": 10**6}.items():
        table[prefix + "J"] = (Fraction(factor), ENERGY)
    table["Wh"] = (Fraction(3600), ENERGY)
    table["kWh"] = (Fraction(3600 * 1000), ENERGY)

    table["%"] = (Fraction(1, 100), ONE)
    return table


UNITS: Mapping[str, tuple[Fraction, Dim]] = _build_table()


@dataclass(frozen=True)
class Quantity:
    """An exact value in SI base units with its dimension."""

    value: Fraction
    dim: Dim = ONE

    def __add__(self, other: Quantity) -> Quantity:
        if self.dim != other.dim:
            raise DimensionError(f"cannot add {other.dim.name} to {self.dim.name}")
        return Quantity(self.value + other.value, self.dim)

    def __sub__(self, other: Quantity) -> Quantity:
        if self.dim != other.dim:
            raise DimensionError(f"cannot subtract {other.dim.name} from {self.dim.name}")
        return Quantity(self.value - other.value, self.dim)

    def __mul__(self, other: Quantity) -> Quantity:
        return Quantity(self.value * other.value, self.dim * other.dim)

    def __truediv__(self, other: Quantity) -> Quantity:
        if other.value == 0:
            raise DimensionError("division by zero")
        return Quantity(self.value / other.value, self.dim / other.dim)

    def __neg__(self) -> Quantity:
        return Quantity(-self.value, self.dim)

    @property
    def is_integer(self) -> bool:
        return self.value.denominator == 1

    def in_unit(self, unit: str) -> Fraction:
        factor, dim = UNITS[unit]
        if dim != self.dim:
            raise DimensionError(f"{self.dim.name} is not {dim.name}")
        return self.value / factor

    def __str__(self) -> str:
        return format_quantity(self)


class DimensionError(ValueError):
    """Arithmetic on quantities whose dimensions do not fit together."""


def parse_number(text: str) -> Fraction:
    """Exact value of a numeric literal (`1_000`, `3.35`, `2e3`)."""
    return Fraction(text.replace("_", ""))


def quantity(number: str | int | Fraction, unit: str = "") -> Quantity:
    """The quantity `number unit`; raises KeyError for a unit outside the closed table."""
    if isinstance(number, str):
        value = parse_number(number)
    else:
        value = Fraction(number)
    if not unit:
        return Quantity(value, ONE)
    factor, dim = UNITS[unit]
    return Quantity(value * factor, dim)


def parse_quantity(text: str) -> Quantity:
    """Parse `80GiB`, `3.35TB/s`, `700W` or a bare number, as hardware entries and `-D` write them."""
    text = text.strip()
    i = 0
    while i < len(text) and (text[i].isdigit() or text[i] in "._+-eE"):
        # stop at an `e` that starts a unit such as `eV` (not in the table) only if not followed by digits
        if text[i] in "eE" and not (i + 1 < len(text) and (text[i + 1].isdigit() or text[i + 1] in "+-")):
            break
        i += 1
    number, unit = text[:i], text[i:].strip()
    if not number:
        raise ValueError(f"`{text}` does not start with a number")
    if unit and unit not in UNITS:
        raise KeyError(unit)
    return quantity(number, unit)


def unit_suggestions(unit: str) -> list[str]:
    """Near misses for an unknown unit, both readings where the case decides (`Gb/s` vs `GB/s`)."""
    out: list[str] = []
    if not unit.startswith("/") and "/" not in unit and unit.endswith(("s", "S")) and len(unit) > 1:
        stem = unit[:-1]
        for cand in (stem + "/s", stem.upper() + "/s", stem[:-1] + stem[-1].upper() + "/s"):
            if cand in UNITS and cand not in out:
                out.append(cand)
    lowered = unit.lower()
    for cand in UNITS:
        if cand.lower() == lowered and cand != unit and cand not in out:
            out.append(cand)
    for cand in did_you_mean(unit, UNITS.keys(), limit=2):
        if cand not in out:
            out.append(cand)
    # Prefer byte readings first, then bits, so `900Gbs` suggests `GB/s` before `Gb/s`.
    order = {u: i for i, u in enumerate(out)}
    return sorted(out, key=lambda u: (0 if "B" in u else 1, order[u]))[:3]


_PREFERRED: dict[Dim, tuple[str, ...]] = {
    TIME: ("h", "min", "s", "ms", "us", "ns"),
    DATA: ("TiB", "GiB", "MiB", "TB", "GB", "MB", "kB", "B"),
    BANDWIDTH: ("TB/s", "GB/s", "MB/s", "kB/s", "B/s"),
    RATE: ("/s",),
    COMPUTE: ("PFLOP", "TFLOP", "GFLOP", "MFLOP", "kFLOP", "FLOP"),
    COMPUTE_RATE: ("PFLOP/s", "TFLOP/s", "GFLOP/s", "MFLOP/s", "kFLOP/s", "FLOP/s"),
    POWER: ("kW", "W", "mW"),
    ENERGY: ("kWh", "kJ", "J"),
}


def format_quantity(q: Quantity, digits: int = 6) -> str:
    """A short readable form: the largest preferred unit in which the value is at least 1."""
    units = _PREFERRED.get(q.dim)
    if units is None:
        if q.dim.is_dimensionless:
            return _format_number(q.value, digits)
        return f"{_format_number(q.value, digits)} {q.dim.formula}"
    for unit in units:
        v = q.in_unit(unit)
        if abs(v) >= 1 or unit == units[-1]:
            # a binary unit only where it is exact, so `80GiB` prints as written and `80GB` too
            if unit.endswith("iB") and v.denominator != 1:
                continue
            return f"{_format_number(v, digits)}{unit}"
    return _format_number(q.value, digits)


def _format_number(v: Fraction, digits: int) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    return f"{float(v):.{digits}g}"
