// Charts of the sharing pages (usage reports, a grant's usage). The data comes from a JSON
// <script type="application/json"> element named by each chart's data-source attribute, so
// the page needs no inline script (the Content-Security-Policy allows same-origin files only).
(function () {
  "use strict";
  function data(el) {
    var source = document.getElementById(el.getAttribute("data-source"));
    return source ? JSON.parse(source.textContent) : null;
  }
  var blue = "#1f5fbf", amber = "#b7791f";
  var builders = {
    "grant-usage": function (d) {
      return {
        grid: { left: 50, right: 40, top: 20, bottom: 30 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: d.days.map(function (s) { return s.slice(5); }) },
        yAxis: [{ type: "value" }, { type: "value", minInterval: 1 }],
        series: [
          { type: "bar", data: d.rows, itemStyle: { color: blue } },
          { type: "line", yAxisIndex: 1, data: d.pulls, itemStyle: { color: amber } }
        ]
      };
    },
    "daily": function (all) {
      var d = all.daily;
      return {
        grid: { left: 60, right: 40, top: 40, bottom: 30 },
        legend: { top: 0, data: [d.rows_label, d.pulls_label] },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: d.days },
        yAxis: [{ type: "value" }, { type: "value", minInterval: 1 }],
        series: [
          { name: d.rows_label, type: "bar", data: d.rows, itemStyle: { color: blue } },
          { name: d.pulls_label, type: "line", yAxisIndex: 1, data: d.pulls, itemStyle: { color: amber } }
        ]
      };
    },
    "bodies": function (all) {
      var d = all.bodies;
      return {
        grid: { left: 220, right: 30, top: 10, bottom: 30 },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value" },
        yAxis: { type: "category", data: d.names, axisLabel: { width: 200, overflow: "truncate" } },
        series: [{ name: d.label, type: "bar", data: d.rows, itemStyle: { color: blue } }]
      };
    },
    "status": function (all) {
      return {
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["40%", "70%"], data: all.status }]
      };
    }
  };
  function draw() {
    if (typeof echarts === "undefined") { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var build = builders[el.getAttribute("data-chart")], d = data(el);
      if (!build || !d) { return; }
      if (el.getAttribute("data-chart") === "bodies") {
        el.style.height = Math.max(160, 28 * d.bodies.names.length + 40) + "px";
      }
      var chart = echarts.init(el);
      chart.setOption(build(d));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
