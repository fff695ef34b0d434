// The charts, drawn by the vendored uPlot (static/vendor/): time on the x axis, values in the
// legend as the pointer moves. Each chart is built once and fed new data, so a hover survives.
"use strict";

const Charts = (() => {
  const COLORS = { enqueued: "#5470c6", succeeded: "#2e9e5b", failed: "#d4483b", rate: "#e09b1d",
    p50: "#5470c6", p95: "#d4483b" };
  const EVERY = 5;  // refreshes between two reads of the chart data (per-minute buckets)
  const plots = {};
  let tick = 0, lastKey = "";

  const fmt = (v) => (v === null || v === undefined ? "–" : formatNumber(v));
  const fmtPct = (v) => (v === null || v === undefined ? "–" : `${formatNumber(v)}%`);
  const fmtSec = (v) => (v === null || v === undefined ? "–" : seconds(v));

  function formatNumber(n) {
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(0) + "k";
    if (Math.abs(n) >= 1e3) return (n / 1e3).toFixed(1) + "k";
    return String(Math.round(n * 100) / 100);
  }

  function seconds(v) {
    if (v < 1) return `${Math.round(v * 1000)} ms`;
    return v < 120 ? `${Math.round(v * 10) / 10} s` : age(v);
  }

  // Dots where a series has few values (a lone minute with failures would draw no line).
  function sparse(u, si) {
    return u.data[si].reduce((n, v) => n + (v !== null && v !== 0 ? 1 : 0), 0) < 40;
  }

  function make(id, series, format) {
    const box = $(id);
    const opts = {
      width: Math.max(200, box.clientWidth - 8), height: 170,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, 1)] } },
      series: [{ label: "time" }, ...series.map(([label, color]) => ({
        label, stroke: color, width: 1.5, spanGaps: false, value: (u, v) => format(v), points: { show: sparse } }))],
      axes: [{ stroke: "#6b7378", grid: { stroke: "#eef1f3" } },
             { stroke: "#6b7378", size: 64, grid: { stroke: "#eef1f3" }, values: (u, ticks) => ticks.map(format) }],
      legend: { live: true },
    };
    plots[id] = new uPlot(opts, [[], ...series.map(() => [])], box);
  }

  function init() {
    make("chart-throughput", [["enqueued", COLORS.enqueued], ["succeeded", COLORS.succeeded],
      ["failed attempts", COLORS.failed]], fmt);
    make("chart-failure", [["failure rate", COLORS.rate]], fmtPct);
    make("chart-pickup", [["pickup p50", COLORS.p50], ["pickup p95", COLORS.p95]], fmtSec);
    make("chart-run", [["run p50", COLORS.p50], ["run p95", COLORS.p95]], fmtSec);
    const resize = () => {
      for (const [id, u] of Object.entries(plots)) u.setSize({ width: Math.max(200, $(id).clientWidth - 8), height: 170 });
    };
    new ResizeObserver(resize).observe($("chart-grid"));
    $("chart-range").addEventListener("change", () => Dashboard.refresh(true));
    $("chart-queue").addEventListener("change", () => Dashboard.refresh(true));
    window.dashboardCharts = plots;  // for the browser tests and a curious operator
  }

  // One slot per minute of the range, ending at the broker's current minute (seconds since epoch).
  function slots(minutes, now) {
    const end = Math.floor(now / 60000) * 60;
    return Array.from({ length: minutes }, (_, i) => end - (minutes - 1 - i) * 60);
  }

  function throughput(buckets, xs) {
    const index = new Map(xs.map((x, i) => [x, i]));
    const zeros = () => xs.map(() => 0);
    const enq = zeros(), ok = zeros(), failed = zeros();
    for (const b of buckets) {
      const i = index.get(Math.floor(Date.parse(b.minute) / 60000) * 60);
      if (i === undefined) continue;
      enq[i] += b.enqueued; ok[i] += b.succeeded; failed[i] += b.failed;
    }
    const rate = xs.map((_, i) => (ok[i] + failed[i] ? (100 * failed[i]) / (ok[i] + failed[i]) : null));
    plots["chart-throughput"].setData([xs, enq, ok, failed]);
    plots["chart-failure"].setData([xs, rate]);
  }

  // Several queues in one minute: the median is their count-weighted mean (an estimate), the
  // p95 the worst queue's (an upper bound). One queue chosen: its own figures.
  function latency(buckets, xs, part) {
    const index = new Map(xs.map((x, i) => [x, i]));
    const n = xs.map(() => 0), sum50 = xs.map(() => 0), p95 = xs.map(() => null);
    for (const b of buckets) {
      const i = index.get(Math.floor(Date.parse(b.minute) / 60000) * 60);
      const h = b[part];
      if (i === undefined || !h || !h.count) continue;
      n[i] += h.count;
      sum50[i] += h.p50 * h.count;
      p95[i] = Math.max(p95[i] ?? 0, h.p95);
    }
    return [xs, n.map((c, i) => (c ? sum50[i] / c : null)), p95];
  }

  function showLatency(data, xs) {
    for (const [id, part] of [["chart-pickup", "pickup"], ["chart-run", "run"]]) {
      $(id).classList.toggle("unavailable", data === null);
      if (data !== null) plots[id].setData(latency(data.buckets, xs, part));
    }
  }

  function syncQueues(names) {
    const select = $("chart-queue");
    const have = [...select.options].slice(1).map((o) => o.value).join("\n");
    if (have === names.join("\n")) return;
    const chosen = select.value;
    select.replaceChildren(new Option("all queues", ""), ...names.map((n) => new Option(n, n)));
    select.value = names.includes(chosen) ? chosen : "";
  }

  // Reads the buckets every few refreshes, or at once when the range or queue changed.
  async function refresh(names, now, force) {
    syncQueues(names);
    const minutes = Number($("chart-range").value), queue = $("chart-queue").value;
    const key = `${minutes}/${queue}`;
    if (!force && key === lastKey && tick++ % EVERY) return;
    lastKey = key;
    const q = queue ? `&queue=${encodeURIComponent(queue)}` : "";
    const [flow, lat] = await Promise.all([api(`/api/throughput?minutes=${minutes}${q}`),
      optional(`/api/latency?minutes=${minutes}${q}`)]);
    const xs = slots(minutes, now);
    throughput(flow.buckets, xs);
    showLatency(lat, xs);
  }

  return { init, refresh, plots };
})();
