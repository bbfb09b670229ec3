// The dashboard's activity chart: Encounters per month, drawn with the vendored ECharts.
(function () {
  var holder = document.getElementById("activity-chart");
  var data = document.getElementById("activity-data");
  if (!holder || !data || typeof echarts === "undefined") return;
  var chart = JSON.parse(data.textContent);
  var plot = echarts.init(holder);
  plot.setOption({
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, top: 24, bottom: 32 },
    xAxis: { type: "category", data: chart.months },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: chart.series, type: "bar", data: chart.counts, itemStyle: { color: "#2f6f9f" } }],
  });
  window.addEventListener("resize", function () { plot.resize(); });
})();
