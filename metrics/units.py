"""Unit strings, parsed: HealthKit's unit grammar and the spellings phones and peers use.

A unit string is parsed into a dimension (exponents of base units) and a factor to those base
units, not matched as text: ``mL/(kg·min)``, ``ml/kg/min`` and ``mL/min·kg`` are one unit, and
``ms`` is not a heart rate. Two units convert into each other when their dimensions are equal.

The grammar: atoms (``kg``, ``count``, ``degF``, SI prefixes on ``g``/``m``/``L``/``s``/``J``/
``cal``/``mol``/…) joined by ``·``, ``*`` or ``.`` (multiply, binding tighter) and ``/``
(divide), with parentheses and exponents (``m^2``, ``m²``). Everything after a ``/`` is in the
denominator, as people write it: ``kcal/hr·kg`` is ``kcal/(hr·kg)`` and ``ml/kg/min`` is
``ml/(kg·min)``. HealthKit writes a molar unit with the molar mass of what it counts
(``mmol<180.15588000005408>/L``): it becomes a mass. A bare ``mmol`` is taken as glucose's, the
only molar unit Health Auto Export sends (blood glucose).

Own code rather than ``pint``: pint knows none of HealthKit's ``count``, ``IU``, ``dBASPL`` or
``<molar mass>`` notation, reads ``a/b·c`` as ``(a/b)·c``, and costs a registry load per
process; what is needed here is a factor and a dimension.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

# Longest a unit string may be (the samples' unit column).
MAX_UNIT_LENGTH = 32
GLUCOSE_MOLAR_MASS = 180.15588000005408  # g/mol, as HealthKit writes it

Dimension = tuple[tuple[str, int], ...]


class UnitMismatch(ValueError):
    """The unit cannot be converted to the other one (another dimension)."""


class UnknownUnit(UnitMismatch):
    """The unit string is not one we can read."""


@dataclass(frozen=True, slots=True)
class Unit:
    """``value_in_base = value * factor + offset``; ``offset`` is non-zero for °C and °F only."""

    dimension: Dimension
    factor: float
    offset: float = 0.0


def _atom(factor: float, **dimension: int) -> Unit:
    return Unit(tuple(sorted(dimension.items())), factor)


_JOULE = _atom(1.0, kg=1, m=2, s=-2)
# Atoms that take an SI prefix (``kg``, ``mL``, ``ms``, ``kJ``, ``kcal``, ``mcg``, ``mcS``…).
PREFIXABLE: dict[str, Unit] = {
    "g": _atom(1e-3, kg=1),
    "m": _atom(1.0, m=1),
    "L": _atom(1e-3, m=3),
    "l": _atom(1e-3, m=3),
    "s": _atom(1.0, s=1),
    "J": _JOULE,
    "cal": Unit(_JOULE.dimension, 4.184),
    "W": _atom(1.0, kg=1, m=2, s=-3),
    "Pa": _atom(1.0, kg=1, m=-1, s=-2),
    "Hz": _atom(1.0, count=1, s=-1),
    "S": _atom(1.0, siemens=1),
    "V": _atom(1.0, volt=1),
}
PREFIXES = {"k": 1e3, "h": 1e2, "da": 10.0, "d": 0.1, "c": 1e-2, "m": 1e-3, "mc": 1e-6, "µ": 1e-6, "μ": 1e-6}
PREFIXES |= {"u": 1e-6, "n": 1e-9, "p": 1e-12}
# Atoms read as they are, before any prefix is tried (``min`` is not milli-inch).
ATOMS: dict[str, Unit] = {
    "count": _atom(1.0, count=1),
    "%": _atom(1.0, percent=1),
    "IU": _atom(1.0, IU=1),
    "dBASPL": _atom(1.0, dBASPL=1),
    "dBHL": _atom(1.0, dBHL=1),
    "Cal": Unit(_JOULE.dimension, 4184.0),
    "min": _atom(60.0, s=1),
    "hr": _atom(3600.0, s=1),
    "h": _atom(3600.0, s=1),
    "d": _atom(86400.0, s=1),
    "day": _atom(86400.0, s=1),
    "wk": _atom(604800.0, s=1),
    "in": _atom(0.0254, m=1),
    "ft": _atom(0.3048, m=1),
    "yd": _atom(0.9144, m=1),
    "mi": _atom(1609.344, m=1),
    "lb": _atom(0.45359237, kg=1),
    "oz": _atom(0.028349523125, kg=1),
    "st": _atom(6.35029318, kg=1),
    "fl_oz_us": _atom(29.5735295625e-6, m=3),
    "fl_oz_imp": _atom(28.4130625e-6, m=3),
    "cup_us": _atom(236.5882365e-6, m=3),
    "cup_imp": _atom(284.130625e-6, m=3),
    "pt_us": _atom(473.176473e-6, m=3),
    "pt_imp": _atom(568.26125e-6, m=3),
    "mmHg": _atom(133.322387415, kg=1, m=-1, s=-2),
    "cmAq": _atom(98.0665, kg=1, m=-1, s=-2),
    "inHg": _atom(3386.389, kg=1, m=-1, s=-2),
    "atm": _atom(101325.0, kg=1, m=-1, s=-2),
    "K": _atom(1.0, K=1),
}
TEMPERATURES = {"degC": Unit((("K", 1),), 1.0, 273.15), "degF": Unit((("K", 1),), 5 / 9, 273.15 - 32 * 5 / 9)}
# Other spellings, as locales, older app versions and other senders write them (matched
# case-insensitively, so ``Kilograms`` and ``BPM`` are read too).
SPELLINGS = {
    "bpm": "count/min",
    "beats": "count",
    "beat": "count",
    "steps": "count",
    "times": "count",
    "kmh": "km/hr",
    "kph": "km/hr",
    "mph": "mi/hr",
    "lbs": "lb",
    "kilogram": "kg",
    "kilograms": "kg",
    "kgs": "kg",
    "gram": "g",
    "grams": "g",
    "pound": "lb",
    "pounds": "lb",
    "stone": "st",
    "ounce": "oz",
    "ounces": "oz",
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "kilometer": "km",
    "kilometers": "km",
    "kilometre": "km",
    "kilometres": "km",
    "mile": "mi",
    "miles": "mi",
    "foot": "ft",
    "feet": "ft",
    "inch": "in",
    "inches": "in",
    "yard": "yd",
    "yards": "yd",
    "second": "s",
    "seconds": "s",
    "sec": "s",
    "secs": "s",
    "minute": "min",
    "minutes": "min",
    "mins": "min",
    "hour": "hr",
    "hours": "hr",
    "hrs": "hr",
    "days": "d",
    "kcals": "kcal",
    "calories": "Cal",
    "kilocalories": "kcal",
    "kilojoules": "kJ",
    "liter": "L",
    "liters": "L",
    "litre": "L",
    "litres": "L",
    "milliliter": "mL",
    "milliliters": "mL",
    "millilitre": "mL",
    "millilitres": "mL",
    "percent": "%",
    "°c": "degC",
    "°f": "degF",
    "celsius": "degC",
    "fahrenheit": "degF",
}
_SPELLINGS_FOLDED = {key.casefold(): value for key, value in SPELLINGS.items()}
_MULTIPLY = "·*.×⋅"
_SUPERSCRIPTS = str.maketrans("⁻¹²³", "-123")
_TOKENS = re.compile(r"\s*(?:(?P<op>[/()·*.×⋅])|(?P<exp>\^-?\d+|[⁻]?[¹²³])|(?P<atom>(?:[^/()·*.×⋅^⁻¹²³\s<]|<[^>]*>)+))")
_MOLAR = re.compile(r"(?P<prefix>.*)mol(?:<(?P<mass>\d+(?:\.\d+)?)>)?")


def parse_unit(text: str) -> Unit:
    """The dimension and factor of a unit string; raises UnknownUnit."""
    return _parse(text.strip())


@lru_cache(maxsize=1024)
def _parse(text: str) -> Unit:
    if not text or len(text) > MAX_UNIT_LENGTH:
        raise UnknownUnit(f"{text[:MAX_UNIT_LENGTH]!r} is not a unit")
    spelled = _SPELLINGS_FOLDED.get(text.casefold())
    if spelled is not None:
        return _parse(spelled)
    if text in TEMPERATURES:  # affine: only standalone
        return TEMPERATURES[text]
    tokens = _tokenize(text)
    unit, rest = _quotient(tokens)
    if rest:
        raise UnknownUnit(f"{text!r} is not a unit")
    return Unit(tuple(sorted(unit[0].items())), unit[1])


_Partial = tuple[dict[str, int], float]


def _tokenize(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKENS.match(text, at)
        if match is None or match.end() == at:
            raise UnknownUnit(f"{text!r} is not a unit")
        tokens.append(match.group(match.lastgroup).strip())
        at = match.end()
    return tokens


def _quotient(tokens: list[str]) -> tuple[_Partial, list[str]]:
    """product ('/' product)*: everything after a slash divides."""
    unit, tokens = _product(tokens)
    while tokens and tokens[0] == "/":
        divisor, tokens = _product(tokens[1:])
        unit = _combine(unit, divisor, -1)
    return unit, tokens


def _product(tokens: list[str]) -> tuple[_Partial, list[str]]:
    unit, tokens = _factor(tokens)
    while tokens and tokens[0] in _MULTIPLY:
        factor, tokens = _factor(tokens[1:])
        unit = _combine(unit, factor, 1)
    return unit, tokens


def _factor(tokens: list[str]) -> tuple[_Partial, list[str]]:
    if not tokens:
        raise UnknownUnit("a unit is missing")
    if tokens[0] == "(":
        unit, tokens = _quotient(tokens[1:])
        if not tokens or tokens[0] != ")":
            raise UnknownUnit("unbalanced parentheses")
        tokens = tokens[1:]
    elif tokens[0] in "/)" or tokens[0] in _MULTIPLY:
        raise UnknownUnit(f"unexpected {tokens[0]!r}")
    else:
        atom = _atom_unit(tokens[0])
        unit, tokens = (dict(atom.dimension), atom.factor), tokens[1:]
    if tokens and tokens[0][:1] in "^⁻¹²³":
        power = int(tokens[0].lstrip("^").translate(_SUPERSCRIPTS))
        unit, tokens = ({k: v * power for k, v in unit[0].items()}, unit[1] ** power), tokens[1:]
    return unit, tokens


def _combine(left: _Partial, right: _Partial, sign: int) -> _Partial:
    dimension = dict(left[0])
    for base, power in right[0].items():
        dimension[base] = dimension.get(base, 0) + sign * power
    return {k: v for k, v in dimension.items() if v}, left[1] * right[1] ** sign


def _atom_unit(text: str) -> Unit:
    if text in ATOMS:
        return ATOMS[text]
    spelled = _SPELLINGS_FOLDED.get(text.casefold())
    if spelled is not None and spelled not in TEMPERATURES:
        return _parse(spelled)
    molar = _MOLAR.fullmatch(text)
    if molar is not None and (not molar["prefix"] or molar["prefix"] in PREFIXES):
        # A mole of what HealthKit names by its molar mass (glucose when it names none) weighs that many grams.
        scale = PREFIXES.get(molar["prefix"], 1.0) if molar["prefix"] else 1.0
        return _atom(scale * float(molar["mass"] or GLUCOSE_MOLAR_MASS) * 1e-3, kg=1)
    if text in PREFIXABLE:
        return PREFIXABLE[text]
    for prefix in sorted(PREFIXES, key=len, reverse=True):
        base = PREFIXABLE.get(text[len(prefix) :]) if text.startswith(prefix) else None
        if base is not None:
            return Unit(base.dimension, base.factor * PREFIXES[prefix])
    raise UnknownUnit(f"{text!r} is not a unit")


def identity(value: float) -> float:
    return value


def converter(from_unit: str, to_unit: str) -> Callable[[float], float]:
    """A function converting values from ``from_unit`` to ``to_unit`` (``identity`` when they
    are the same unit, however spelled); raises UnitMismatch, or UnknownUnit for a unit we
    cannot read."""
    if from_unit == to_unit:
        return identity
    source, target = parse_unit(from_unit), parse_unit(to_unit)
    if source.dimension != target.dimension:
        raise UnitMismatch(f"cannot convert {from_unit} to {to_unit}")
    scale = source.factor / target.factor
    shift = (source.offset - target.offset) / target.factor
    if abs(scale - 1) < 1e-12 and shift == 0:
        return identity
    if shift == 0:
        return lambda value: value * scale
    return lambda value: value * scale + shift
