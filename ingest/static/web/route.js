/* Draws a workout's route as SVG: Web Mercator, fitted to the box, on a plain background with a
   scale bar. When the operator set MAP_TILE_URL, tiles from that server go underneath (the page's
   Content-Security-Policy allows that host for images); by default nothing is fetched. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var TILE = 256;
  var EARTH = 40075016.686; // metres around the equator

  function element(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function project(lon, lat) {
    var sin = Math.sin(lat * Math.PI / 180);
    return [(lon + 180) / 360, 0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)];
  }

  function niceMetres(max) {
    var power = Math.pow(10, Math.floor(Math.log10(max)));
    var steps = [5, 2, 1];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power <= max) return steps[i] * power;
    return power;
  }

  function draw(el) {
    var data = JSON.parse(document.getElementById(el.getAttribute("data-route")).textContent);
    var points = data.coordinates.map(function (c) { return project(c[0], c[1]); });
    if (!points.length) return;
    var width = Math.max(240, el.clientWidth), height = Math.round(Math.min(460, Math.max(240, width * 0.6)));
    var pad = 24;
    var xs = points.map(function (p) { return p[0]; }), ys = points.map(function (p) { return p[1]; });
    var minX = Math.min.apply(null, xs), maxX = Math.max.apply(null, xs);
    var minY = Math.min.apply(null, ys), maxY = Math.max.apply(null, ys);
    var fit = Math.min((width - 2 * pad) / Math.max(maxX - minX, 1e-9), (height - 2 * pad) / Math.max(maxY - minY, 1e-9));
    var zoom = Math.max(0, Math.min(18, Math.floor(Math.log2(fit / TILE))));
    var scale = TILE * Math.pow(2, zoom);
    var cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
    function px(p) { return [(p[0] - cx) * scale + width / 2, (p[1] - cy) * scale + height / 2]; }

    el.textContent = "";
    var svg = element("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, class: "route" }, el);
    element("rect", { x: 0, y: 0, width: width, height: height, class: "route-bg" }, svg);
    if (data.tiles) {
      var left = cx * scale - width / 2, top = cy * scale - height / 2, count = Math.pow(2, zoom);
      for (var tx = Math.floor(left / TILE); tx * TILE < left + width; tx++) {
        for (var ty = Math.floor(top / TILE); ty * TILE < top + height; ty++) {
          if (ty < 0 || ty >= count) continue;
          var url = data.tiles.replace("{z}", zoom).replace("{x}", ((tx % count) + count) % count)
            .replace("{y}", ty).replace("{s}", "a");
          element("image", { href: url, x: tx * TILE - left, y: ty * TILE - top, width: TILE, height: TILE }, svg);
        }
      }
    }
    var line = points.map(function (p) { var q = px(p); return q[0].toFixed(1) + "," + q[1].toFixed(1); }).join(" ");
    element("polyline", { points: line, class: "route-line" }, svg);
    var first = px(points[0]), last = px(points[points.length - 1]);
    element("circle", { cx: first[0], cy: first[1], r: 6, class: "route-start" }, svg);
    element("circle", { cx: last[0], cy: last[1], r: 6, class: "route-end" }, svg);

    // Scale bar: metres per pixel at the route's middle latitude.
    var lat = Math.atan(Math.sinh(Math.PI * (1 - 2 * cy))) ;
    var metresPerPixel = EARTH * Math.cos(lat) / scale;
    var metres = niceMetres(metresPerPixel * width / 4);
    var length = metres / metresPerPixel;
    var bar = element("g", { class: "route-scale", transform: "translate(12," + (height - 16) + ")" }, svg);
    element("rect", { x: -4, y: -18, width: length + 8, height: 24, class: "route-scale-bg" }, bar);
    element("path", { d: "M0,-6 V0 H" + length.toFixed(1) + " V-6" }, bar);
    var text = element("text", { x: length / 2, y: -8, "text-anchor": "middle" }, bar);
    text.textContent = metres >= 1000 ? metres / 1000 + " km" : metres + " m";
    el.setAttribute("data-points", String(points.length));
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-route]"), draw);
  });
})();
