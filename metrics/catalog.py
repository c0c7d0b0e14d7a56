"""What we know about Health Auto Export metric names: their units, how they aggregate and their
plausible bounds."""

from __future__ import annotations

# Cumulative metrics are summed into buckets; everything else is min/avg/max.
CUMULATIVE = frozenset(
    {
        "step_count",
        "active_energy",
        "basal_energy_burned",
        "walking_running_distance",
        "cycling_distance",
        "swimming_distance",
        "wheelchair_distance",
        "downhill_snow_sports_distance",
        "swimming_stroke_count",
        "push_count",
        "flights_climbed",
        "apple_exercise_time",
        "apple_stand_time",
        "apple_stand_hour",
        "apple_move_time",
        "time_in_daylight",
        "mindful_minutes",
        "handwashing",
        "toothbrushing",
        "insulin_delivery",
        "number_of_times_fallen",
        "inhaler_usage",
        "sexual_activity",
        "water",
        "alcohol_consumption",
        "uv_exposure",
    }
)
CUMULATIVE_PREFIXES = ("dietary_",)

# The canonical unit of every metric we know: its values are stored in it, whatever unit (of the
# same dimension) the phone sent. Mostly the unit the app sends with a metric-system locale.
# A name not listed here is "unknown": each of its samples keeps the unit it was sent in.
UNITS: dict[str, str] = {
    "active_energy": "kcal",
    "alcohol_consumption": "count",
    "apple_exercise_time": "min",
    "apple_move_time": "min",
    "apple_sleeping_wrist_temperature": "degC",
    "apple_stand_hour": "count",
    "apple_stand_time": "min",
    "atrial_fibrillation_burden": "%",
    "basal_body_temperature": "degC",
    "basal_energy_burned": "kcal",
    "blood_alcohol_content": "%",
    "blood_glucose": "mg/dL",
    "blood_oxygen_saturation": "%",
    "blood_pressure": "mmHg",
    "body_fat_percentage": "%",
    "body_mass_index": "count",
    "body_temperature": "degC",
    "breathing_disturbances": "count",
    "cardio_recovery": "count/min",
    "cycling_cadence": "count/min",
    "cycling_distance": "km",
    "cycling_functional_threshold_power": "W",
    "cycling_power": "W",
    "cycling_speed": "km/hr",
    "dietary_biotin": "mcg",
    "dietary_caffeine": "mg",
    "dietary_calcium": "mg",
    "dietary_carbohydrates": "g",
    "dietary_cholesterol": "mg",
    "dietary_energy": "kcal",
    "dietary_fat_monounsaturated": "g",
    "dietary_fat_polyunsaturated": "g",
    "dietary_fat_saturated": "g",
    "dietary_fat_total": "g",
    "dietary_fiber": "g",
    "dietary_folate": "mcg",
    "dietary_iron": "mg",
    "dietary_magnesium": "mg",
    "dietary_potassium": "mg",
    "dietary_protein": "g",
    "dietary_sodium": "mg",
    "dietary_sugar": "g",
    "dietary_vitamin_a": "mcg",
    "dietary_vitamin_b12": "mcg",
    "dietary_vitamin_c": "mg",
    "dietary_vitamin_d": "mcg",
    "dietary_water": "mL",
    "dietary_zinc": "mg",
    "downhill_snow_sports_distance": "km",
    "electrodermal_activity": "mcS",
    "environmental_audio_exposure": "dBASPL",
    "flights_climbed": "count",
    "forced_expiratory_volume_1": "L",
    "forced_vital_capacity": "L",
    "handwashing": "s",
    "headphone_audio_exposure": "dBASPL",
    "heart_rate": "count/min",
    "heart_rate_variability": "ms",
    "height": "cm",
    "inhaler_usage": "count",
    "insulin_delivery": "IU",
    "lean_body_mass": "kg",
    "mindful_minutes": "min",
    "number_of_alcoholic_beverages": "count",
    "number_of_times_fallen": "count",
    "peak_expiratory_flow_rate": "L/min",
    "peripheral_perfusion_index": "%",
    "physical_effort": "kcal/hr·kg",
    "push_count": "count",
    "respiratory_rate": "count/min",
    "resting_heart_rate": "count/min",
    "running_ground_contact_time": "ms",
    "running_power": "W",
    "running_speed": "km/hr",
    "running_stride_length": "m",
    "running_vertical_oscillation": "cm",
    "sexual_activity": "count",
    "six_minute_walking_test_distance": "m",
    "sleep_analysis": "hr",
    "stair_speed_down": "m/s",
    "stair_speed_up": "m/s",
    "step_count": "count",
    "swimming_distance": "m",
    "swimming_stroke_count": "count",
    "time_in_daylight": "min",
    "toothbrushing": "s",
    "underwater_depth": "m",
    "uv_exposure": "count",
    "vo2_max": "ml/(kg·min)",
    "waist_circumference": "cm",
    "walking_asymmetry_percentage": "%",
    "walking_double_support_percentage": "%",
    "walking_heart_rate_average": "count/min",
    "walking_running_distance": "km",
    "walking_speed": "km/hr",
    "walking_step_length": "cm",
    "water": "mL",
    "water_temperature": "degC",
    "weight_body_mass": "kg",
    "wheelchair_distance": "km",
}

# metric → (its canonical unit, low, high), checked once a value is converted to that unit;
# every cumulative metric must also be ≥ 0.
BOUNDS: dict[str, tuple[str, float, float]] = {
    "heart_rate": ("count/min", 20, 300),
    "resting_heart_rate": ("count/min", 20, 300),
    "walking_heart_rate_average": ("count/min", 20, 300),
    "blood_oxygen_saturation": ("%", 0, 100),
    "body_fat_percentage": ("%", 0, 100),
    "respiratory_rate": ("count/min", 1, 120),
    "weight_body_mass": ("kg", 0.5, 700),
    "lean_body_mass": ("kg", 0.5, 700),
    "body_mass_index": ("count", 5, 200),
    "body_temperature": ("degC", 25, 45),
    "blood_glucose": ("mg/dL", 10, 1500),
    "heart_rate_variability": ("ms", 0, 1000),
    "vo2_max": ("ml/(kg·min)", 0, 100),
}

# Blood pressure has its own table; these bounds are also database constraints.
SYSTOLIC_RANGE = (50, 250)
DIASTOLIC_RANGE = (30, 200)
ROUTE_LATITUDE = (-90, 90)
ROUTE_LONGITUDE = (-180, 180)


def unit_of(name: str) -> str | None:
    """The canonical unit of a known metric; None for a name we do not know."""
    return UNITS.get(name)


def is_cumulative(name: str) -> bool:
    return name in CUMULATIVE or name.startswith(CUMULATIVE_PREFIXES)


# Decimals a bucket's sum, average, min and max are rounded to, by canonical unit (a float sum of
# many samples drifts in its last digits: 2044.1400000000003). Metrics whose unit says too little
# are listed by name; anything else keeps DEFAULT_DECIMALS.
UNIT_DECIMALS: dict[str, int] = {
    "count": 0,
    "count/min": 1,
    "kcal": 1,
    "km": 3,
    "m": 2,
    "cm": 1,
    "kg": 2,
    "%": 1,
    "ms": 1,
    "s": 0,
    "min": 1,
    "hr": 2,
    "degC": 2,
    "mg/dL": 1,
    "mL": 0,
    "L": 2,
    "g": 1,
    "mg": 1,
    "mcg": 1,
    "W": 0,
    "km/hr": 2,
    "m/s": 2,
    "dBASPL": 1,
    "IU": 2,
    "ml/(kg·min)": 1,
}
METRIC_DECIMALS: dict[str, int] = {"uv_exposure": 1}
DEFAULT_DECIMALS = 3


def decimals_of(name: str, unit: str) -> int:
    """How many decimals a value of this metric in this (canonical or sent) unit is worth.

    Cumulative counts (steps, flights) are whole; a discrete one (breathing disturbances) keeps one.
    """
    if name in METRIC_DECIMALS:
        return METRIC_DECIMALS[name]
    if unit == "count" and not is_cumulative(name):
        return 1
    return UNIT_DECIMALS.get(unit, DEFAULT_DECIMALS)
