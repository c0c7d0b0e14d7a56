"""HealthKit identifiers → the metric names, units and stages POST /v1/ingest uses.

A quantity type is the metric Health Auto Export names it by (``HKQuantityTypeIdentifierStepCount``
→ ``step_count``); any type not listed gets its identifier in snake case
(``HKQuantityTypeIdentifierAppleWalkingSteadiness`` → ``apple_walking_steadiness``), which is a
catalog name when the catalog knows it and an unknown metric of the user otherwise: never dropped.
"""

from __future__ import annotations

import functools
import re

QUANTITY_PREFIX = "HKQuantityTypeIdentifier"
CATEGORY_PREFIX = "HKCategoryTypeIdentifier"
DATA_TYPE_PREFIX = "HKDataTypeIdentifier"

# Where Health Auto Export's name is not the identifier in snake case.
QUANTITY_NAMES = {
    "ActiveEnergyBurned": "active_energy",
    "DistanceWalkingRunning": "walking_running_distance",
    "DistanceCycling": "cycling_distance",
    "DistanceSwimming": "swimming_distance",
    "DistanceWheelchair": "wheelchair_distance",
    "DistanceDownhillSnowSports": "downhill_snow_sports_distance",
    "HeartRateVariabilitySDNN": "heart_rate_variability",
    "HeartRateRecoveryOneMinute": "cardio_recovery",
    "OxygenSaturation": "blood_oxygen_saturation",
    "BodyMass": "weight_body_mass",
    "DietaryEnergyConsumed": "dietary_energy",
    "SixMinuteWalkTestDistance": "six_minute_walking_test_distance",
    "StairAscentSpeed": "stair_speed_up",
    "StairDescentSpeed": "stair_speed_down",
    "ForcedExpiratoryVolume1": "forced_expiratory_volume_1",
}
BLOOD_PRESSURE = {
    QUANTITY_PREFIX + "BloodPressureSystolic": "systolic",
    QUANTITY_PREFIX + "BloodPressureDiastolic": "diastolic",
}
SLEEP = CATEGORY_PREFIX + "SleepAnalysis"
# Category types that are samples of a catalog metric: name → how a record becomes a quantity.
STAND_HOUR = CATEGORY_PREFIX + "AppleStandHour"
MINDFUL = CATEGORY_PREFIX + "MindfulSession"
# Categories whose quantity is the event's length (in the catalog's unit) or a count of one.
DURATION_CATEGORIES = {
    MINDFUL: ("mindful_minutes", 60.0),
    CATEGORY_PREFIX + "HandwashingEvent": ("handwashing", 1.0),
    CATEGORY_PREFIX + "ToothbrushingEvent": ("toothbrushing", 1.0),
}
COUNT_CATEGORIES = {CATEGORY_PREFIX + "SexualActivity": "sexual_activity"}

SLEEP_VALUE_PREFIX = "HKCategoryValueSleepAnalysis"
# Every iOS version's sleep values → the stage names Health Auto Export sends. ``Asleep``
# (iOS 8-15) and ``AsleepUnspecified`` (iOS 16+) are the same raw value 1.
SLEEP_STAGES = {
    "InBed": "In Bed",
    "Asleep": "Asleep",
    "AsleepUnspecified": "Asleep",
    "Awake": "Awake",
    "AsleepCore": "Core",
    "AsleepDeep": "Deep",
    "AsleepREM": "REM",
}
# Raw values, as very old exports and some third-party writers give them.
SLEEP_RAW = {"0": "In Bed", "1": "Asleep", "2": "Awake", "3": "Core", "4": "Deep", "5": "REM"}

WORKOUT_PREFIX = "HKWorkoutActivityType"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(identifier: str) -> str:
    """``VO2Max`` → ``vo2_max``, ``UVExposure`` → ``uv_exposure``."""
    return _CAMEL.sub("_", identifier).lower()


@functools.lru_cache(maxsize=1024)
def quantity_metric(hk_type: str) -> str | None:
    """The metric name of a quantity type; None for a type that is not a quantity type
    (remembered: every record asks, and an export has a few dozen types)."""
    if not hk_type.startswith(QUANTITY_PREFIX):
        return None
    short = hk_type[len(QUANTITY_PREFIX) :]
    return QUANTITY_NAMES.get(short) or snake(short)[:64] or None


def sleep_stage(value: str) -> str | None:
    """The stage name of a SleepAnalysis value; None for a value of no known stage."""
    if value.startswith(SLEEP_VALUE_PREFIX):
        return SLEEP_STAGES.get(value[len(SLEEP_VALUE_PREFIX) :])
    return SLEEP_RAW.get(value)


def convert_percent(unit: str, value: float) -> float:
    """HealthKit writes percentages as fractions with the unit ``%`` (0.97 is 97 %)."""
    return value * 100 if unit == "%" else value


def workout_name(activity_type: str) -> str:
    """``HKWorkoutActivityTypeTraditionalStrengthTraining`` → ``Traditional Strength Training``."""
    short = activity_type.removeprefix(WORKOUT_PREFIX) or "Workout"
    return _CAMEL.sub(" ", short)[:100]


_DEVICE_POINTER = re.compile(r"<<HKDevice: 0x[0-9a-fA-F]+>, ?")
_DEVICE_PREFIX = "<<HKDevice: 0x"


def device_description(device: str) -> str:
    """The device attribute without the per-record memory address (``<<HKDevice: 0x…>,``).

    Every record has one (a million a year): the usual form is cut at the address's end, and
    the description that remains, the same for most records, is looked up once."""
    if device.startswith(_DEVICE_PREFIX) and (end := device.find(">,", len(_DEVICE_PREFIX))) != -1:
        return _described(device[end + 2 :])
    return _DEVICE_POINTER.sub("", device).rstrip(">").strip()[:255]


@functools.lru_cache(maxsize=256)
def _described(rest: str) -> str:
    return rest.rstrip(">").strip()[:255]
