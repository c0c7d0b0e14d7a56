"""What we know about Health Auto Export metric names: how they aggregate and their plausible bounds."""

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

# metric → (canonical unit the bounds are in, low, high). Checked only when the metric is stored
# in that unit; every cumulative metric must also be ≥ 0.
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


def is_cumulative(name: str) -> bool:
    return name in CUMULATIVE or name.startswith(CUMULATIVE_PREFIXES)
