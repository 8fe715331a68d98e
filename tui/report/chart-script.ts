// The one script of the page besides uPlot: it reads the chart specs from the JSON block and
// draws each with uPlot. It is constant text (no data is written into it), so nothing from a run
// can become code. Each drawn chart is listed in window.blitCharts ({id, points, series}) for
// whoever checks the page (the tests, over the DevTools protocol).
export const CHART_SCRIPT = String.raw`
(function () {
  "use strict";
  var payload = JSON.parse(document.getElementById("blit-data").textContent);
  window.blitCharts = [];
  function duration(ms) {
    if (ms == null || !isFinite(ms)) return "-";
    if (Math.abs(ms) < 1000) return Math.round(ms) + " ms";
    if (Math.abs(ms) < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    if (Math.abs(ms) < 3600000) return (ms / 60000).toFixed(1) + " min";
    return (ms / 3600000).toFixed(1) + " h";
  }
  function shown(unit, v) {
    if (v == null || !isFinite(v)) return "-";
    if (unit === "ms") return duration(v);
    if (unit === "%") return v.toFixed(0) + " %";
    return (v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : v.toFixed(0)) + " " + unit;
  }
  function seriesOpts(s) {
    var o = { label: s.label, stroke: s.color, width: 2, scale: s.scale, spanGaps: true,
      value: function (u, v) { return shown(s.unit, v); } };
    if (s.style === "points") {
      o.paths = function () { return null; };
      o.points = { show: true, space: 0, size: 6, fill: s.color, stroke: s.color };
    } else if (s.style === "ring") {
      o.paths = function () { return null; };
      o.points = { show: true, space: 0, size: 14, width: 2, fill: "rgba(0,0,0,0)", stroke: s.color };
    } else if (s.style === "dashed") {
      o.dash = [6, 4];
      o.points = { show: false };
    } else if (s.style === "edge") {
      o.width = 1;
      o.points = { show: false };
    }
    return o;
  }
  function axisOf(scale, unit, side) {
    return { scale: scale, side: side, size: 96, grid: { show: side === 3 },
      values: function (u, vals) { return vals.map(function (v) { return shown(unit, v); }); } };
  }
  function draw(spec) {
    var target = document.getElementById("chart-" + spec.id);
    var mainUnit = spec.series.filter(function (s) { return s.scale === "y"; })[0];
    var hasShare = spec.series.some(function (s) { return s.scale === "share"; });
    var axes = [{ label: spec.x === "time" ? "" : "seconds since the run started" }];
    if (mainUnit) axes.push(axisOf("y", mainUnit.unit, 3));
    if (hasShare) axes.push(axisOf("share", "%", 1));
    var opts = {
      width: Math.max(320, target.clientWidth || 900),
      height: 300,
      scales: { x: { time: spec.x === "time" }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } }, share: { range: [0, 100] } },
      series: [{ label: spec.x === "time" ? "started" : "seconds", value: spec.x === "time" ? undefined : function (u, v) { return v == null ? "-" : v.toFixed(2) + " s"; } }]
        .concat(spec.series.map(seriesOpts)),
      bands: spec.bands.map(function (b) { return { series: b, fill: "rgba(31,119,180,0.15)" }; }),
      axes: axes,
      legend: { show: true },
    };
    var chart = new uPlot(opts, spec.data, target);
    window.blitCharts.push({
      id: spec.id,
      points: chart.data[0].length,
      series: spec.series.map(function (s, i) {
        return { label: s.label, points: chart.data[i + 1].filter(function (v) { return v != null; }).length };
      }),
    });
    return chart;
  }
  var charts = payload.charts.map(draw);
  window.addEventListener("resize", function () {
    charts.forEach(function (c, i) {
      var w = document.getElementById("chart-" + payload.charts[i].id).clientWidth;
      if (w > 0) c.setSize({ width: Math.max(320, w), height: 300 });
    });
  });
  window.blitReady = true;
})();
`;
