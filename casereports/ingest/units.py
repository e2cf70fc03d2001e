"""Units a registry may measure lengths and masses in, and converting a value between them."""

from __future__ import annotations

from decimal import Decimal

# Each unit in its dimension's base unit (metre, kilogram).
LENGTHS = {
    "m": Decimal(1),
    "cm": Decimal("0.01"),
    "mm": Decimal("0.001"),
    "in": Decimal("0.0254"),
    "ft": Decimal("0.3048"),
}
MASSES = {"kg": Decimal(1), "g": Decimal("0.001"), "lb": Decimal("0.45359237")}
DIMENSIONS = {"length": LENGTHS, "mass": MASSES}
PLACES = Decimal("0.01")  # a converted value keeps at most two decimals


def dimension(unit: str) -> str | None:
    """`length` or `mass` for a known unit, None for any other."""
    return next((name for name, units in DIMENSIONS.items() if unit in units), None)


def known_units() -> str:
    return "; ".join(f"{name}: {', '.join(units)}" for name, units in DIMENSIONS.items())


def factor(source: str, target: str) -> Decimal:
    """What a value in `source` is multiplied by to be in `target` (same dimension)."""
    units = DIMENSIONS[dimension(source) or ""]
    return units[source] / units[target]


def scaled(number: str, by: Decimal, *, whole: bool = False) -> str:
    """`number` (a valid decimal) times `by`, written plainly: 1.72 x 100 is 172, not 1.72E+2."""
    value = Decimal(number) * by
    value = value.quantize(Decimal(1) if whole else PLACES) if _too_fine(value, whole) else value
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


def _too_fine(value: Decimal, whole: bool) -> bool:
    exponent = value.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent < (0 if whole else -2)
