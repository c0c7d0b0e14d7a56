"""The shapes of the owner API's answers over stored data, for the OpenAPI schema.

The views build their answers in ``metrics.queries``; these serializers only describe them (so
Redoc shows real fields, and schemathesis checks every answer against them). A change of an
answer changes its serializer here in the same commit.
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from metrics.models import MetricType

READ_TAG = "Reading your data"
DELETE_TAG = "Deleting your data"
RESOLUTION_CHOICES = ("raw", "hour", "day", "week", "month")
LOCAL_TIME_HELP = "ISO-8601 in the offset the phone sent, e.g. 2024-09-03T06:15:00-07:00."


def _number(help_text: str = "", **kwargs) -> serializers.FloatField:
    return serializers.FloatField(help_text=help_text, **kwargs)


def _nullable_number(help_text: str = "") -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


def _local_time(**kwargs) -> serializers.CharField:
    return serializers.CharField(help_text=LOCAL_TIME_HELP, **kwargs)


class MetricEntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    unit = serializers.CharField(help_text="Canonical unit; for an unknown metric the units it was sent in.")
    aggregation = serializers.ChoiceField(choices=MetricType.Aggregation.values)
    count = serializers.IntegerField()
    first = serializers.DateTimeField()
    last = serializers.DateTimeField()


class MetricListSerializer(serializers.Serializer):
    metrics = MetricEntrySerializer(many=True)


class BucketSerializer(serializers.Serializer):
    start = serializers.CharField(help_text="The bucket's local start, ISO-8601 with its offset.")
    count = serializers.IntegerField(help_text="Samples in the bucket.")
    unit = serializers.CharField()
    sum = _number("Cumulative metrics: the total, rounded to the metric's precision.", required=False)
    min = _number("Other metrics: the lowest value.", required=False)
    avg = _number("Other metrics: the average, rounded to the metric's precision.", required=False)
    max = _number("Other metrics: the highest value.", required=False)


class SampleItemSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True)
    local_time = _local_time()
    qty = _number()
    min = _nullable_number()
    max = _nullable_number()
    unit = serializers.CharField()
    source = serializers.CharField(allow_blank=True)
    context = serializers.CharField(allow_blank=True, help_text="Meal time, insulin reason, … where sent.")


class BloodPressureItemSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    local_time = _local_time()
    systolic = _number()
    diastolic = _number()
    unit = serializers.CharField()
    source = serializers.CharField(allow_blank=True)


class SleepStageItemSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    local_time = _local_time()
    stage = serializers.CharField(allow_blank=True, help_text="In Bed, Asleep, Awake, Core, Deep, REM, …")
    qty = _number("The segment's length.")
    unit = serializers.CharField()
    source = serializers.CharField(allow_blank=True)


class SleepSessionSerializer(serializers.Serializer):
    total_sleep = _nullable_number("Hours.")
    asleep = _nullable_number()
    core = _nullable_number()
    deep = _nullable_number()
    rem = _nullable_number()
    awake = _nullable_number()
    in_bed = _nullable_number()
    sleep_start = _local_time(allow_null=True)
    sleep_end = _local_time(allow_null=True)
    in_bed_start = _local_time(allow_null=True)
    in_bed_end = _local_time(allow_null=True)


class SleepNightItemSerializer(SleepSessionSerializer):
    night = serializers.DateField()
    source = serializers.CharField(allow_blank=True)
    unit = serializers.CharField()
    sessions = SleepSessionSerializer(many=True)


RAW_ITEMS = PolymorphicProxySerializer(
    component_name="RawItem",
    serializers=[SampleItemSerializer, BloodPressureItemSerializer, SleepStageItemSerializer, SleepNightItemSerializer],
    resource_type_field_name=None,
    many=True,
    required=False,
    help_text="resolution=raw: samples; blood_pressure readings; sleep_analysis nights or stage segments.",
)


class MetricDataSerializer(serializers.Serializer):
    metric = serializers.CharField()
    resolution = serializers.ChoiceField(choices=RESOLUTION_CHOICES)
    kind = serializers.ChoiceField(choices=("nights", "stages"), required=False, help_text="sleep_analysis only.")
    buckets = BucketSerializer(many=True, required=False, help_text="resolution=hour|day|week|month.")
    items = RAW_ITEMS
    next = serializers.URLField(allow_null=True, required=False, help_text="resolution=raw: the next page.")


class WorkoutSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    local_start = _local_time()
    local_end = _local_time()
    duration_s = _nullable_number()
    active_energy_kcal = _nullable_number()
    distance_km = _nullable_number()
    location = serializers.CharField(allow_blank=True)
    is_indoor = serializers.BooleanField(allow_null=True)


class WorkoutListSerializer(serializers.Serializer):
    workouts = WorkoutSummarySerializer(many=True)


class RouteGeometrySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=("LineString",))
    coordinates = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()), help_text="[longitude, latitude(, altitude)]"
    )


class RoutePropertiesSerializer(serializers.Serializer):
    times = serializers.ListField(child=serializers.DateTimeField(allow_null=True))
    speeds = serializers.ListField(child=serializers.FloatField(allow_null=True))


class RouteSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=("Feature",))
    geometry = RouteGeometrySerializer()
    properties = RoutePropertiesSerializer()


class SeriesPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField(allow_null=True)
    qty = _nullable_number()
    min = _nullable_number()
    max = _nullable_number()
    unit = serializers.CharField(allow_blank=True)
    source = serializers.CharField(allow_blank=True)


class WorkoutDetailSerializer(WorkoutSummarySerializer):
    fields = serializers.DictField(help_text="Every other field, as sent.")
    route = RouteSerializer(allow_null=True, help_text="A GeoJSON Feature; null without a route.")
    series = serializers.DictField(
        child=SeriesPointSerializer(many=True), help_text="heartRateData, heartRateRecovery, stepCount, …"
    )
