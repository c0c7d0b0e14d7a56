"""Units as phones and HealthKit spell them."""

from __future__ import annotations

import pytest

from metrics.units import UnitMismatch, canonical_unit, converter

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize(
    ("sent", "stored", "value", "expected"),
    [
        ("mmol<180.15588000005408>/L", "mg/dL", 5.5, 99.088),
        ("mmol/L", "mg/dL", 5.5, 99.088),
        ("lbs", "kg", 100, 45.359237),
        ("ml", "mL", 250, 250),
        ("beats/min", "count/min", 60, 60),
        ("degF", "degC", 212, 100),
        ("mi", "km", 1, 1.609344),
    ],
)
def test_values_convert_to_the_stored_unit(sent, stored, value, expected):
    assert converter(sent, stored)(value) == pytest.approx(expected)


def test_a_metric_first_seen_in_a_healthkit_molar_unit_is_stored_in_mg_dl():
    assert canonical_unit("mmol<180.1558800000541>/L") == "mg/dL"


def test_another_dimension_is_a_mismatch():
    with pytest.raises(UnitMismatch):
        converter("kg", "km")
