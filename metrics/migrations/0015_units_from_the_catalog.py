"""What the ``unit`` of the metric types created before 0011 means now, and their samples with it.

Before, a metric's unit was fixed by whoever sent it first, for everybody, and every value was
stored converted into it. Now (see ``MetricType``):

- A catalog metric (``metrics.catalog.UNITS``) is stored in its canonical unit: its type's unit
  becomes that unit and its samples' values are converted from the old one (``ml/kg/min`` →
  ``ml/(kg·min)`` changes nothing; ``mi`` → ``km`` multiplies). A type with no unit held values
  sent without one: they are taken as already canonical. A type whose old unit is of another
  dimension (a heart rate in ``ms``) held values that are no heart rate: they are kept, per user,
  under a metric type of that user named ``<name>_unconverted`` (each value in the unit it was
  sent in), out of the metric's data and bounds.
- Any other metric keeps one shared type (owner empty) with an empty unit: each sample's value is
  converted back into the unit it was sent in, which it keeps from now on.

The rollups of the metrics whose values changed are computed again. The conversions use the
catalog and unit parser of the time this migration runs. The reverse changes no value.
"""

from django.db import migrations

from metrics import catalog
from metrics.units import UnitMismatch, converter, identity

BUCKET = {
    "postgresql": "date_bin('15 minutes', start, timestamptz '2000-01-01 00:00:00+00')",
    "sqlite": "datetime(CAST(strftime('%s', start) AS INTEGER) / 900 * 900, 'unixepoch')",
}


def _linear(convert):
    """(scale, shift) of a conversion: every one is value * scale + shift."""
    shift = convert(0.0)
    return convert(1.0) - shift, shift


def _convert_samples(cursor, metric_id, convert, unit=None):
    if convert is identity:
        return False
    scale, shift = _linear(convert)
    sql = (
        'UPDATE metrics_sample SET qty = qty * %s + %s, "min" = "min" * %s + %s, "max" = "max" * %s + %s '
        "WHERE metric_id = %s"
    )
    params = [scale, shift, scale, shift, scale, shift, metric_id]
    if unit is not None:
        sql, params = sql + " AND unit = %s", [*params, unit]
    cursor.execute(sql, params)
    return True


def _back_to_sent_units(cursor, metric_id, stored_unit):
    """Values stored in ``stored_unit`` go back to each sample's own unit (where it is another)."""
    cursor.execute("SELECT DISTINCT unit FROM metrics_sample WHERE metric_id = %s", [metric_id])
    changed = False
    for (sent,) in cursor.fetchall():
        if not sent or not stored_unit:
            continue
        try:
            changed |= _convert_samples(cursor, metric_id, converter(stored_unit, sent), unit=sent)
        except UnitMismatch:  # matched as text before, so the same unit
            continue
    return changed


def forwards(apps, schema_editor):
    MetricType = apps.get_model("metrics", "MetricType")
    connection = schema_editor.connection
    rebuild = set()
    with connection.cursor() as cursor:
        for metric in list(MetricType.objects.filter(owner=None)):
            canonical = catalog.unit_of(metric.name)
            old = metric.unit
            if canonical is None:
                if _back_to_sent_units(cursor, metric.pk, old):
                    rebuild.add(metric.pk)
                metric.unit = ""
                metric.save(update_fields=["unit"])
                continue
            try:
                convert = converter(old, canonical) if old else identity
            except UnitMismatch:
                rebuild |= {metric.pk, *_set_apart(cursor, MetricType, metric)}
            else:
                if _convert_samples(cursor, metric.pk, convert):
                    rebuild.add(metric.pk)
            metric.unit = canonical
            metric.save(update_fields=["unit"])
        for metric_id in sorted(rebuild):
            cursor.execute("DELETE FROM metrics_samplerollup WHERE metric_id = %s", [metric_id])
            cursor.execute(
                "INSERT INTO metrics_samplerollup "
                "(user_id, metric_id, bucket_start, utc_offset, count, total, low, high) "
                f"SELECT user_id, metric_id, {BUCKET[connection.vendor]}, utc_offset, COUNT(*), SUM(qty), "  # noqa: S608
                'MIN(COALESCE("min", qty)), MAX(COALESCE("max", qty)) '
                "FROM metrics_sample WHERE metric_id = %s AND start >= '1980-01-01 00:00:00' GROUP BY 1, 2, 3, 4",
                [metric_id],
            )


def _set_apart(cursor, MetricType, metric):
    """Move the samples of a known metric stored in a unit of another dimension to a type of each
    of their users, each value back in the unit it was sent in; returns the new types' ids."""
    cursor.execute("SELECT DISTINCT user_id FROM metrics_sample WHERE metric_id = %s", [metric.pk])
    moved = []
    for (user_id,) in cursor.fetchall():
        apart, _ = MetricType.objects.get_or_create(
            owner_id=user_id,
            name=f"{metric.name}_unconverted"[:100],
            defaults={"unit": "", "aggregation": metric.aggregation},
        )
        cursor.execute(
            "UPDATE metrics_sample SET metric_id = %s WHERE metric_id = %s AND user_id = %s",
            [apart.pk, metric.pk, user_id],
        )
        _back_to_sent_units(cursor, apart.pk, metric.unit)
        moved.append(apart.pk)
    return moved


class Migration(migrations.Migration):
    dependencies = [("metrics", "0014_metrictype_owner_alter_metrictype_id_and_more")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
