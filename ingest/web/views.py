"""The data owner's pages. Each view reads through ``metrics.queries``, ``ingest.queries`` and
``accounts.queries`` (which filter by the signed-in owner first: another owner's id is a 404),
shapes what it read with ``ingest.web.pages`` and renders a template of ``templates/web/``.

Charts get bucketed data embedded in the page (``json_script``), never raw minutes: a page is
one request, and a year of data is a few hundred numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts import queries as key_queries
from accounts.login_throttle import ThrottledLoginFormMixin, with_throttled_status
from accounts.password_links import password_link_user, password_set
from accounts.services import api_key_revoke
from audit.models import AuditEvent
from audit.services import record_event
from healthexport.lib.errors import ApiError, InvalidPayload, NotFound
from ingest import queries as ingest_queries
from ingest.web import pages
from metrics import queries

OVERVIEW_METRICS = (
    ("step_count", "Steps"),
    ("active_energy", "Active energy"),
    ("resting_heart_rate", "Resting heart rate"),
    ("heart_rate_variability", "Heart rate variability"),
    ("weight_body_mass", "Weight"),
)
# Weight is measured now and then: its trend needs a longer look than a week.
TREND_DAYS = {"weight_body_mass": 90}
OVERVIEW_DAYS = (7, 30)
WORKOUTS_SHOWN = 500
NIGHT_HOURS_BEFORE_MIDNIGHT = 12  # a night's segments: from noon the day before to noon
# Item errors, in words that say what to change in the app (the message says what was wrong).
ERROR_HINTS = {
    "unit_mismatch": "This metric came in a unit that cannot be converted. In Health Auto Export, leave the "
    "metric's unit at its default (or pick one of the same kind: kg/lb, km/mi).",
    "out_of_range": "A value outside what can be measured, usually a sensor glitch. Nothing to change unless it "
    "happens every time.",
    "invalid_date": "A date could not be read. Set the automation's export format to JSON, export version 2.",
    "invalid_number": "A value was not a number. Set the automation's export format to JSON, export version 2.",
    "missing_value": "An item had no value. Usually harmless; if it repeats, update Health Auto Export.",
    "end_before_start": "An item ended before it started: the phone's clock or the source app sent it that way.",
    "too_many_metrics": "The export named more new metrics than allowed. Select fewer metrics in the automation.",
    "invalid_unit": "A unit name was too long to keep. Leave the metric's unit at its default.",
    "invalid_name": "A metric name had characters that are not allowed.",
    "invalid_text": "A text held a NUL character, which cannot be stored.",
    "invalid_item": "An item could not be read at all. Update Health Auto Export, and export JSON version 2.",
}


def owner_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in owners only (others go to /login), never cached (health data), a 404 page for
    ids that are not this owner's and a 400 page for a query the reads refuse (a bad cursor)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from None
        except ApiError as error:
            return render(request, "web/problem.html", {"problem": error.message}, status=error.status_code)

    return login_required(never_cache(wrapped))


# --- Signing in and out -------------------------------------------------------------------------


class OwnerLoginForm(ThrottledLoginFormMixin, AuthenticationForm):
    pass


class OwnerLoginView(LoginView):
    """Username and password; failed sign-ins throttled as on the admin's login, and audited."""

    template_name = "web/login.html"
    form_class = OwnerLoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return with_throttled_status(super().post(request, *args, **kwargs))

    def form_valid(self, form: OwnerLoginForm) -> HttpResponse:
        response = super().form_valid(form)
        record_event(action="owner.login", request=self.request, actor=form.get_user())
        return response

    def form_invalid(self, form: OwnerLoginForm) -> HttpResponse:
        if form.refusal is None:  # a throttled attempt is audited once per window by the throttle
            record_event(
                action="owner.login_failed",
                request=self.request,
                outcome=AuditEvent.Outcome.FAILURE,
                metadata={"username": str(form.data.get("username", ""))[:150]},
            )
        return super().form_invalid(form)


@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if request.method == "POST":
        logout(request)
        messages.info(request, "You are signed out.")
        return redirect(settings.LOGIN_URL)
    return render(request, "web/logout.html")


@never_cache
@require_http_methods(["GET", "POST"])
def set_password_view(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The page a set-password link opens: valid once, for 24 hours (``accounts.password_links``)."""
    user = password_link_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "web/set_password_invalid.html", status=404)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_set(user=user, password=form.cleaned_data["new_password1"], request=request)
        except ValidationError as error:
            form.add_error("new_password1", error)
        else:
            messages.success(request, "Your password is set. Sign in with it.")
            return redirect(settings.LOGIN_URL)
    return render(request, "web/set_password.html", {"form": form, "owner": user})


# --- Overview --------------------------------------------------------------------------------


def _metric_card(user: Any, name: str, label: str, days: int) -> dict[str, Any]:
    card: dict[str, Any] = {"name": name, "label": label, "days": TREND_DAYS.get(name, days)}
    metric = queries.metric_type_of(user=user, name=name)
    if metric is None:
        return card
    offset = queries.latest_offset(user=user, metric=metric)
    start = pages.local_midnight_days_ago(offset, card["days"])
    buckets = queries.metric_buckets(user=user, metric=metric, resolution="day", start=start)
    if not buckets:
        return card
    unit = buckets[-1]["unit"]
    last = buckets[-1]
    today = pages.local_now(offset).date().isoformat()
    card.update(
        unit=unit,
        value=pages.format_number(pages.bucket_value(metric, last), unit),
        when="today" if last["start"][:10] == today else f"on {last['start'][:10]}",
        chart=pages.bucket_chart(metric, buckets, unit, label),
    )
    return card


def _sleep_card(user: Any, days: int) -> dict[str, Any]:
    card: dict[str, Any] = {"name": queries.SLEEP, "label": "Sleep", "days": days}
    offset = queries.latest_offset(user=user)
    start = pages.local_midnight_days_ago(offset, days)
    nights = pages.nights_by_date(queries.sleep_nights(user=user, start=start, end=None))
    if not nights:
        nights = pages.nights_from_segments(
            queries.sleep_segments(user=user, start=start - dt.timedelta(hours=12), end=timezone.now())
        )
    if nights:
        last = nights[-1]
        card.update(
            value=pages.format_hours(pages.asleep_hours(last)),
            when=f"night to {last['night']}",
            chart=pages.sleep_chart(nights),
        )
    return card


@owner_page
def overview(request: HttpRequest) -> HttpResponse:
    days = int(request.GET["days"]) if request.GET.get("days") in {str(d) for d in OVERVIEW_DAYS} else 7
    cards = [_metric_card(request.user, name, label, days) for name, label in OVERVIEW_METRICS]
    zone = _owner_zone(request.user)
    cards.insert(4, _sleep_card(request.user, days))
    context = {
        "days": days,
        "day_choices": OVERVIEW_DAYS,
        "cards": cards,
        "automations": [_sync_row(sync, zone) for sync in ingest_queries.automation_syncs(user=request.user)],
        "metrics": queries.metric_summaries(user=request.user),
    }
    return render(request, "web/overview.html", context)


# --- One metric ------------------------------------------------------------------------------


def _bucket_label(start: str, resolution: str) -> str:
    moment = dt.datetime.fromisoformat(start)
    if resolution == "hour":
        return moment.strftime("%a %d %b %Y %H:%M")
    if resolution == "day":
        return moment.strftime("%a %d %b %Y")
    if resolution == "week":
        return "Week of " + moment.strftime("%d %b %Y")
    return moment.strftime("%B %Y")


def _csv_response(name: str, resolution: str, metric: Any, buckets: list[dict[str, Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{resolution}.csv"'
    writer = csv.writer(response)
    values = ["sum"] if pages.is_sum(metric) else ["min", "avg", "max"]
    writer.writerow(["start", "count", *values, "unit"])
    for bucket in buckets:
        writer.writerow([bucket["start"], bucket["count"], *(bucket[v] for v in values), bucket["unit"]])
    return response


def _blood_pressure(request: HttpRequest, metric: Any, window: pages.Window) -> HttpResponse:
    page = queries.metric_raw_page(
        user=request.user, metric=metric, start=window.start, limit=queries.MAX_PAGE_SIZE, kind="nights"
    )
    readings = page.items
    chart = {
        "kind": "line",
        "x": [pages.wall_seconds(r["local_time"]) for r in readings],
        "unit": "mmHg",
        "points": True,
        "series": [
            {"label": "systolic", "values": [r["systolic"] for r in readings], "color": pages.COLORS["heart"]},
            {"label": "diastolic", "values": [r["diastolic"] for r in readings], "color": pages.COLORS["value"]},
        ],
    }
    context = {"metric": metric, "window": window, "ranges": pages.RANGE_LABELS, "readings": readings, "chart": chart}
    return render(request, "web/blood_pressure.html", context)


@owner_page
def metric_page(request: HttpRequest, name: str) -> HttpResponse:
    metric = queries.metric_type_get(user=request.user, name=name)
    if metric.name == queries.SLEEP:
        return redirect("sleep")
    offset = queries.latest_offset(user=request.user, metric=metric)
    window = pages.window_of(request.GET.get("range"), offset)
    if metric.name in queries.TABLE_METRICS:
        return _blood_pressure(request, metric, window)
    resolution = pages.resolution_of(request.GET.get("resolution"), window)
    units = pages.units_for(metric)
    unit = request.GET.get("unit") if request.GET.get("unit") in units else None
    context: dict[str, Any] = {
        "metric": metric,
        "window": window,
        "ranges": pages.RANGE_LABELS,
        "resolution": resolution,
        "resolutions": pages.RESOLUTIONS,
        "units": units,
        "unit": unit or metric.unit,
        "is_sum": pages.is_sum(metric),
        "problem": None,
    }
    try:
        buckets = queries.metric_buckets(
            user=request.user, metric=metric, resolution=resolution, start=window.start, unit=unit
        )
    except InvalidPayload as error:  # an unknown metric sent in several units
        context.update(problem=error.message, buckets=[], chart=None)
        return render(request, "web/metric.html", context)
    if request.GET.get("format") == "csv":
        return _csv_response(metric.name, resolution, metric, buckets)
    shown_unit = buckets[0]["unit"] if buckets else context["unit"]
    for bucket in buckets:
        bucket["label"] = _bucket_label(bucket["start"], resolution)
    context.update(
        buckets=buckets,
        shown_unit=shown_unit,
        chart=pages.bucket_chart(metric, buckets, shown_unit, metric.name) if buckets else None,
        csv_query=_query(request, format="csv"),
    )
    return render(request, "web/metric.html", context)


def _query(request: HttpRequest, **changes: str) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


# --- Sleep -----------------------------------------------------------------------------------


@owner_page
def sleep_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    offset = queries.latest_offset(user=user)
    window = pages.window_of(request.GET.get("range"), offset, default="30d")
    segments_from = (window.start or dt.datetime(1970, 1, 2, tzinfo=dt.UTC)) - dt.timedelta(hours=12)
    items = queries.sleep_nights(user=user, start=window.start, end=None)
    nights = pages.nights_by_date(items)
    if not nights:
        nights = pages.nights_from_segments(queries.sleep_segments(user=user, start=segments_from, end=timezone.now()))
    chosen = request.GET.get("night") or (nights[-1]["night"] if nights else None)
    night_items = [item for item in items if item["night"] == chosen]
    for item in night_items:
        for session in item["sessions"]:
            session["from_text"] = pages.format_local(session["sleep_start"] or session["in_bed_start"])
            session["to_text"] = pages.format_local(session["sleep_end"] or session["in_bed_end"])
    hypnogram = None
    if chosen:
        zone = dt.timezone(dt.timedelta(minutes=offset))
        try:
            noon = dt.datetime.combine(dt.date.fromisoformat(chosen), dt.time(12), tzinfo=zone)
            night_start = noon - dt.timedelta(days=1)
        except (ValueError, OverflowError):
            raise Http404("No such night.") from None
        segments = queries.sleep_segments(user=user, start=night_start, end=noon)
        hypnogram = pages.hypnogram(segments) if segments else None
    rows = [
        {**night, "asleep_text": pages.format_hours(pages.asleep_hours(night))}
        | {stage: pages.format_hours(night.get(column)) for stage, column in pages.STAGE_COLUMNS.items()}
        for night in reversed(nights)
    ]
    context = {
        "window": window,
        "ranges": {k: v for k, v in pages.RANGE_LABELS.items() if k != "all"},
        "nights": rows,
        "chart": pages.sleep_chart(nights) if nights else None,
        "chosen": chosen,
        "night_items": night_items,
        "hypnogram": hypnogram,
        "stages": pages.STAGE_ORDER,
    }
    return render(request, "web/sleep.html", context)


# --- Workouts ----------------------------------------------------------------------------------


@owner_page
def workout_list_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    window = pages.window_of(request.GET.get("range"), queries.latest_offset(user=user), default="1y")
    kind = request.GET.get("type") or None
    workouts = queries.workout_list(user=user, start=window.start, kind=kind).reverse()[:WORKOUTS_SHOWN]
    rows = [
        {
            **queries.workout_summary(w),
            "local": pages.format_local(w.start.astimezone(dt.timezone(dt.timedelta(minutes=w.utc_offset))), "long"),
            "duration": pages.format_duration(w.duration_s or (w.end - w.start).total_seconds()),
        }
        for w in workouts
    ]
    context = {
        "window": window,
        "ranges": pages.RANGE_LABELS,
        "kinds": queries.workout_names(user=user),
        "kind": kind,
        "workouts": rows,
        "capped": len(rows) == WORKOUTS_SHOWN,
    }
    return render(request, "web/workouts.html", context)


def _series_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A point's value: its qty, else the middle of its min and max (HAE v2 sends Min/Avg/Max)."""
    for point in points:
        if point["qty"] is None and point["min"] is not None and point["max"] is not None:
            point["qty"] = (point["min"] + point["max"]) / 2
    return points


@owner_page
def workout_page(request: HttpRequest, public_id: Any) -> HttpResponse:
    workout = queries.workout_get(user=request.user, public_id=public_id)
    detail = queries.workout_detail(workout)
    heart = _series_points(detail["series"].get("heartRateData", []))
    zone = dt.timezone(dt.timedelta(minutes=workout.utc_offset))
    for point in heart:
        point["local"] = pages.format_local(point["start"].astimezone(zone), "time") if point["start"] else "–"
    route = detail["route"]
    context = {
        "workout": detail,
        "local": pages.format_local(
            workout.start.astimezone(dt.timezone(dt.timedelta(minutes=workout.utc_offset))), "long"
        ),
        "duration": pages.format_duration(workout.duration_s or (workout.end - workout.start).total_seconds()),
        "route": {"coordinates": route["geometry"]["coordinates"], "tiles": settings.MAP_TILE_URL} if route else None,
        "route_points": len(route["geometry"]["coordinates"]) if route else 0,
        "heart": pages.series_chart(heart, workout.utc_offset, "heart rate", "count/min", pages.COLORS["heart"])
        if heart
        else None,
        "heart_points": heart,
        "pace": pages.pace_chart(route, workout.utc_offset),
    }
    return render(request, "web/workout.html", context)


# --- Syncs -------------------------------------------------------------------------------------


def _owner_zone(user: Any) -> dt.tzinfo:
    """Times of exports shown in the offset the owner's phone last sent."""
    return dt.timezone(dt.timedelta(minutes=queries.latest_offset(user=user)))


def _sync_row(summary: dict[str, Any], zone: dt.tzinfo) -> dict[str, Any]:
    totals = {"received": 0, "stored": 0, "updated": 0, "duplicates": 0, "rejected": 0}
    for counts in [*summary["metrics"].values(), summary["workouts"], *summary["other"].values()]:
        for key in totals:
            totals[key] += counts.get(key, 0) if isinstance(counts, dict) else 0
    errors = [{**error, "hint": ERROR_HINTS.get(error.get("code", ""), "")} for error in summary["errors"]]
    automation = summary["automation"]
    return {
        **summary,
        "totals": totals,
        "errors": errors,
        "received_text": pages.format_local(summary["received_at"].astimezone(zone), "long"),
        "automation_name": automation.get("automation-name") or "(no automation headers)",
    }


@owner_page
def syncs_page(request: HttpRequest) -> HttpResponse:
    page = ingest_queries.ingestion_page(user=request.user, cursor=request.GET.get("cursor"), detail=True)
    zone = _owner_zone(request.user)
    context = {
        "syncs": [_sync_row(summary, zone) for summary in page.items],
        "next_query": _query(request, cursor=page.next_cursor) if page.next_cursor else None,
    }
    return render(request, "web/syncs.html", context)


# --- Keys --------------------------------------------------------------------------------------


@owner_page
def keys_page(request: HttpRequest) -> HttpResponse:
    return render(request, "web/keys.html", {"keys": key_queries.api_keys_of(user=request.user)})


@owner_page
@require_http_methods(["GET", "POST"])
def key_revoke_page(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Revoke one of your own keys (a lost phone): asked first, audited as ``apikey.revoked``."""
    api_key = key_queries.api_key_of(user=request.user, public_id=public_id)
    if request.method == "POST":
        if api_key_revoke(api_key=api_key, revoked_by=request.user, request=request):
            messages.success(request, f"The key “{api_key.name}” is revoked: it fails from its very next request.")
        return redirect("keys")
    return render(request, "web/key_revoke.html", {"key": api_key})
