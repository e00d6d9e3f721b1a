// The supervision page's chart: revenue by month per operator, stacked. The data comes from
// the JSON element named by the chart's data-source (no inline script under the CSP).
(function () {
  "use strict";
  function draw() {
    if (!window.echarts) { return; }
    document.querySelectorAll('[data-chart="revenue-by-month"]').forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-source"));
      if (!source) { return; }
      var d = JSON.parse(source.textContent);
      window.echarts.init(el).setOption({
        grid: { left: 70, right: 20, top: 40, bottom: 30 },
        legend: { top: 0 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: d.months },
        yAxis: { type: "value" },
        series: d.series.map(function (s) {
          return { name: s.name, type: "bar", stack: "revenue", data: s.data };
        })
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
