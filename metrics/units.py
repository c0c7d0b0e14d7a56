"""Units as Health Auto Export sends them (they follow the phone's locale) and their conversions.

Each metric is stored in one canonical unit, fixed the first time the metric is seen
(``canonical_unit``). Values in another unit of the same dimension are converted on the way in
and can be converted back on the way out.
"""

from __future__ import annotations

import re

# unit → (dimension, factor to the dimension's base unit). Temperature is affine, handled apart.
LINEAR_UNITS: dict[str, tuple[str, float]] = {
    # energy, base kcal
    "kcal": ("energy", 1.0),
    "Cal": ("energy", 1.0),
    "cal": ("energy", 0.001),
    "kJ": ("energy", 1 / 4.184),
    "J": ("energy", 1 / 4184),
    # length, base m
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "cm": ("length", 0.01),
    "mm": ("length", 0.001),
    "mi": ("length", 1609.344),
    "yd": ("length", 0.9144),
    "ft": ("length", 0.3048),
    "in": ("length", 0.0254),
    # mass, base kg
    "kg": ("mass", 1.0),
    "g": ("mass", 0.001),
    "mg": ("mass", 1e-6),
    "mcg": ("mass", 1e-9),
    "lb": ("mass", 0.45359237),
    "oz": ("mass", 0.028349523125),
    "st": ("mass", 6.35029318),
    # volume, base mL
    "mL": ("volume", 1.0),
    "L": ("volume", 1000.0),
    "fl_oz_us": ("volume", 29.5735295625),
    "cup_us": ("volume", 236.5882365),
    # time, base s
    "s": ("time", 1.0),
    "ms": ("time", 0.001),
    "min": ("time", 60.0),
    "hr": ("time", 3600.0),
    "h": ("time", 3600.0),
    "d": ("time", 86400.0),
    # rate, base count/min
    "count/min": ("rate", 1.0),
    "bpm": ("rate", 1.0),
    "count/s": ("rate", 60.0),
    # speed, base m/s
    "m/s": ("speed", 1.0),
    "km/hr": ("speed", 1 / 3.6),
    "mi/hr": ("speed", 0.44704),
    # blood glucose, base mg/dL (mmol/L of glucose: 18.016 mg/dL)
    "mg/dL": ("glucose", 1.0),
    "mmol/L": ("glucose", 18.016),
}

# The unit a metric is stored in when first seen in the given unit: the metric keeps the
# family's everyday unit (km for distances, kg for weight, kcal for energy, …).
CANONICAL: dict[str, str] = {
    "Cal": "kcal",
    "cal": "kcal",
    "kJ": "kcal",
    "J": "kcal",
    "mi": "km",
    "yd": "m",
    "ft": "m",
    "in": "cm",
    "lb": "kg",
    "st": "kg",
    "oz": "g",
    "L": "mL",
    "fl_oz_us": "mL",
    "cup_us": "mL",
    "bpm": "count/min",
    "count/s": "count/min",
    "mi/hr": "km/hr",
    "mmol/L": "mg/dL",
    "degF": "degC",
}

TEMPERATURE_UNITS = {"degC", "degF"}


class UnitMismatch(ValueError):
    """The unit cannot be converted to the metric's unit (another dimension)."""


# Other spellings of the units above, as phones and HealthKit write them.
SPELLINGS = {"ml": "mL", "l": "L", "lbs": "lb", "kcals": "kcal", "beats/min": "count/min", "km/h": "km/hr"}
# HealthKit writes a molar unit with the molar mass of what it counts: mmol<180.15588000005408>/L.
MOLAR_MASS = re.compile(r"<[0-9.]+>")


def normalize_unit(unit: str) -> str:
    """The spelling of ``unit`` used here (``mmol<180.1558…>/L`` → ``mmol/L``, ``ml`` → ``mL``)."""
    unit = MOLAR_MASS.sub("", unit.strip())
    return SPELLINGS.get(unit, unit)


def canonical_unit(unit: str) -> str:
    unit = normalize_unit(unit)
    return CANONICAL.get(unit, unit)


def converter(from_unit: str, to_unit: str):
    """A function converting values from ``from_unit`` to ``to_unit``; raises UnitMismatch."""
    from_unit, to_unit = normalize_unit(from_unit), normalize_unit(to_unit)
    if from_unit == to_unit:
        return _identity
    if from_unit in TEMPERATURE_UNITS and to_unit in TEMPERATURE_UNITS:
        return _f_to_c if from_unit == "degF" else _c_to_f
    source, target = LINEAR_UNITS.get(from_unit), LINEAR_UNITS.get(to_unit)
    if source is None or target is None or source[0] != target[0]:
        raise UnitMismatch(f"cannot convert {from_unit} to {to_unit}")
    factor = source[1] / target[1]
    return lambda value: value * factor


def _identity(value: float) -> float:
    return value


def _f_to_c(value: float) -> float:
    return (value - 32) * 5 / 9


def _c_to_f(value: float) -> float:
    return value * 9 / 5 + 32
