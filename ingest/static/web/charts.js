/* Draws the charts of the owner's pages with uPlot (vendor/uplot), from the JSON each page embeds
   next to its chart (<script type="application/json">). x values are local wall-clock seconds as
   if UTC, so they are shown in UTC. Each drawn chart gets data-points (values drawn), which the
   browser tests read. The numbers are also in a table on each page. */
(function () {
  "use strict";

  var charts = [];

  function number(value) {
    if (value === null || value === undefined) return "–";
    var abs = Math.abs(value);
    return value.toLocaleString("en-GB", { maximumFractionDigits: abs >= 100 ? 0 : abs >= 10 ? 1 : 2 });
  }

  function compact(value) {
    var abs = Math.abs(value);
    if (abs >= 1e6) return number(value / 1e6) + "M";
    if (abs >= 1e4) return number(value / 1e3) + "k";
    return number(value);
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function two(n) { return n < 10 ? "0" + n : String(n); }

  // x labels in 24-hour time within a day, else "3 Nov" (and the year in January), in UTC (see top).
  function timeLabels(u, splits, axisIdx, space, incr) {
    return splits.map(function (ts) {
      var d = new Date(ts * 1000);
      if (incr < 86400) return two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
      if (incr >= 28 * 86400) return MONTHS[d.getUTCMonth()] + (d.getUTCMonth() === 0 ? " " + d.getUTCFullYear() : "");
      return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
    });
  }

  function utc(ts) {
    return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  }

  function xRange(x, bars) {
    if (!x.length) return null;
    var step = x.length > 1 ? (x[x.length - 1] - x[0]) / (x.length - 1) : 86400;
    var pad = bars ? step / 2 : 0;
    return function () { return [x[0] - pad, x[x.length - 1] + pad || x[0] + step]; };
  }

  function build(el, data, width) {
    var small = el.classList.contains("small");
    var height = small ? 110 : 260;
    var columns = [data.x];
    var series = [{ label: "Time", value: function (u, ts) {
      if (ts == null) return "–";
      var d = new Date(ts * 1000);
      return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear() + " " +
        two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
    } }];
    var bands = [];
    var raw = [null];
    var bars = data.kind === "bars" || data.kind === "stacked";
    var barPaths = uPlot.paths.bars({ size: [0.7, 60] });

    if (data.kind === "stacked") {
      // Bottom stage first in data.series; each drawn bar is the running total, tallest drawn first.
      var totals = data.x.map(function () { return 0; });
      var stacked = data.series.map(function (s) {
        totals = totals.map(function (t, i) { return t + (s.values[i] || 0); });
        return { s: s, values: totals.slice() };
      });
      stacked.reverse().forEach(function (entry) {
        columns.push(entry.values);
        raw.push(entry.s.values);
        series.push({
          label: entry.s.label, fill: entry.s.color, stroke: entry.s.color, width: 0, paths: barPaths,
          points: { show: false },
          value: function (u, v, si, idx) { return idx == null ? "–" : number(raw[si][idx]) + " h"; }
        });
      });
    } else {
      data.series.forEach(function (s) {
        columns.push(s.values);
        raw.push(s.values);
        var entry = { label: s.label, stroke: s.color, width: 2, spanGaps: data.kind !== "steps",
                      value: function (u, v) { return number(v) + (data.unit ? " " + data.unit : ""); } };
        if (data.kind === "bars") { entry.fill = s.color; entry.width = 0; entry.paths = barPaths; entry.points = { show: false }; }
        if (data.kind === "steps") {
          entry.paths = uPlot.paths.stepped({ align: 1 });
          entry.fill = "rgba(142, 107, 209, 0.15)";
          entry.points = { show: false };
          entry.value = function (u, v) { return v == null ? "–" : data.levels[String(v)]; };
        }
        if (s.band) { entry.width = 0; entry.stroke = "transparent"; }
        if (data.points) { entry.points = { show: true, size: 6 }; entry.width = 1; }
        series.push(entry);
      });
      var min = data.series.findIndex(function (s) { return s.band && s.label === "min"; });
      var max = data.series.findIndex(function (s) { return s.band && s.label === "max"; });
      if (min >= 0 && max >= 0) bands.push({ series: [max + 1, min + 1], fill: data.series[max].color });
    }

    var yAxis = { size: small ? 40 : 56, values: function (u, splits) { return splits.map(compact); } };
    var yScale = {};
    if (data.kind === "steps") {
      yScale = { range: [0.5, 4.5] };
      yAxis.splits = function () { return [1, 2, 3, 4]; };
      yAxis.values = function (u, splits) { return splits.map(function (v) { return data.levels[String(v)] || ""; }); };
      yAxis.size = 64;
    } else if (bars) {
      yScale = { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.08 : 1]; } };
    }
    if (data.invert) yScale.dir = -1;

    var opts = {
      width: width,
      height: height,
      tzDate: utc,
      scales: { x: { time: true, range: xRange(data.x, bars) }, y: yScale },
      series: series,
      bands: bands,
      axes: [{ size: small ? 28 : 40, space: small ? 60 : 80, values: timeLabels }, yAxis],
      legend: { show: !small },
      cursor: { show: !small, drag: { x: false, y: false } },
      padding: [8, 20, 0, 0]
    };
    return new uPlot(opts, columns, el);
  }

  function pointsOf(data) {
    var values = data.series.length ? data.series[data.series.length - 1].values : [];
    return values.filter(function (v) { return v !== null && v !== undefined; }).length;
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var chart = build(el, data, Math.max(200, el.clientWidth));
    charts.push({ el: el, chart: chart });
    el.setAttribute("data-points", String(pointsOf(data)));
  }

  function resize() {
    charts.forEach(function (c) {
      c.chart.setSize({ width: Math.max(200, c.el.clientWidth), height: c.chart.height });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(resize, 100);
    });
  });
})();
