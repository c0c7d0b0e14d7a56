"""Unit strings are parsed (HealthKit's grammar, phones' and peers' spellings), not matched as text."""

from __future__ import annotations

import pytest

from metrics import catalog
from metrics.units import UnitMismatch, UnknownUnit, converter, identity, parse_unit

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize(
    ("sent", "canonical", "value", "expected"),
    [
        # HealthKit's own unit strings
        ("mL/(kg·min)", "ml/(kg·min)", 42.5, 42.5),
        ("count/min", "count/min", 61, 61),
        ("mmol<180.15588000005408>/L", "mg/dL", 5.5, 99.0857),
        ("degF", "degC", 98.6, 37.0),
        ("kJ", "kcal", 418.4, 100),
        ("lb", "kg", 100, 45.359237),
        ("%", "%", 97, 97),
        ("dBASPL", "dBASPL", 70, 70),
        ("ms", "ms", 45, 45),
        ("km", "km", 5, 5),
        ("mi", "km", 1, 1.609344),
        ("kcal", "kcal", 300, 300),
        ("Cal", "kcal", 300, 300),
        ("hr", "min", 1.5, 90),
        ("min", "min", 20, 20),
        ("s", "min", 90, 1.5),
        ("count", "count", 8000, 8000),
        ("m", "km", 1500, 1.5),
        ("cm", "cm", 180, 180),
        ("ft", "cm", 6, 182.88),
        ("in", "cm", 10, 25.4),
        ("kg", "kg", 72, 72),
        ("g", "kg", 500, 0.5),
        ("mg/dL", "mg/dL", 95, 95),
        ("mmHg", "mmHg", 120, 120),
        ("L/min", "L/min", 400, 400),
        ("fl_oz_us", "mL", 8, 236.588),
        ("IU", "IU", 4, 4),
        ("mcg", "mg", 250, 0.25),
        ("mg", "g", 1500, 1.5),
        ("kcal/hr·kg", "kcal/hr·kg", 3.9, 3.9),
        ("km/hr", "km/hr", 5, 5),
        ("m/s", "km/hr", 1, 3.6),
        ("mcS", "mcS", 2, 2),
        ("W", "W", 250, 250),
        # the same unit spelt otherwise by locales and peers
        ("ml/(kg·min)", "ml/(kg·min)", 40, 40),
        ("mL/min·kg", "ml/(kg·min)", 40, 40),
        ("ml/kg/min", "ml/(kg·min)", 40, 40),
        ("mL/kg/min", "ml/(kg·min)", 40, 40),
        ("ml", "mL", 250, 250),
        ("lbs", "kg", 100, 45.359237),
        ("beats/min", "count/min", 60, 60),
        ("bpm", "count/min", 60, 60),
        ("BPM", "count/min", 60, 60),
        ("km/h", "km/hr", 10, 10),
        ("kmh", "km/hr", 10, 10),
        ("mph", "km/hr", 10, 16.09344),
        ("kilograms", "kg", 70, 70),
        ("Kilograms", "kg", 70, 70),
        ("pounds", "kg", 1, 0.45359237),
        ("mmol/L", "mg/dL", 5.5, 99.0857),
        ("°F", "degC", 212, 100),
        ("hours", "hr", 7, 7),
        ("m^2", "cm^2", 1, 10000),
        ("m²", "cm^2", 1, 10000),
    ],
)
def test_a_sent_unit_converts_to_the_canonical_one(sent, canonical, value, expected):
    assert converter(sent, canonical)(value) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [("ms", "count/min"), ("kg", "km"), ("count", "%"), ("dBASPL", "%"), ("IU", "mg"), ("kcal", "kg")],
)
def test_a_unit_of_another_dimension_is_a_mismatch(sent, canonical):
    with pytest.raises(UnitMismatch):
        converter(sent, canonical)


@pytest.mark.parametrize("text", ["", "foo", "kg/", "(kg", "m/)s", "degC/hr", "x" * 40, "mmol<abc>/L", "k\x00g"])
def test_what_is_not_a_unit_is_refused(text):
    with pytest.raises(UnknownUnit):
        parse_unit(text)


def test_spellings_of_one_unit_convert_by_identity():
    assert converter("mL/min·kg", "ml/(kg·min)") is identity
    assert converter("Cal", "kcal") is identity


def test_everything_after_a_slash_divides():
    assert parse_unit("kcal/hr·kg") == parse_unit("kcal/(hr·kg)") == parse_unit("kcal/hr/kg")


def test_every_catalog_unit_is_readable_and_bounds_are_in_it():
    for unit in catalog.UNITS.values():
        parse_unit(unit)
    for name, (unit, _, _) in catalog.BOUNDS.items():
        assert catalog.UNITS[name] == unit, name
    for name in catalog.CUMULATIVE:
        assert name in catalog.UNITS, name
