// The patient record's lab trend: one test's values over time, drawn with the vendored ECharts.
(function () {
  var holder = document.getElementById("lab-chart");
  var data = document.getElementById("lab-data");
  if (!holder || !data || typeof echarts === "undefined") return;
  var chart = JSON.parse(data.textContent);
  var points = chart.times.map(function (t, i) { return [t, chart.values[i]]; });
  var plot = echarts.init(holder);
  plot.setOption({
    tooltip: { trigger: "axis" },
    grid: { left: 56, right: 16, top: 32, bottom: 32 },
    xAxis: { type: "time" },
    yAxis: { type: "value", name: chart.unit, scale: true },
    series: [{ name: chart.name, type: "line", data: points, showSymbol: true, itemStyle: { color: "#2f6f9f" } }],
  });
  window.addEventListener("resize", function () { plot.resize(); });
})();
