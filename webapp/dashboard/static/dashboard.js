// The dashboard's charts. Every figure comes from the public analytics API,
// called with an analytics-scope API key kept in this browser only, and from
// the public catalog reads. The page itself contains no data.
"use strict";

const API = "/api/v1";
const REFRESH_SECONDS = 30;
const KEY_STORAGE = "shopsearch.analyticsKey";
const charts = {};

function $(id) { return document.getElementById(id); }

// A key passed as "#key=..." (the demo writes such a URL) is stored and
// removed from the address bar, so it is not left in the history.
function takeKeyFromFragment() {
  const match = window.location.hash.match(/key=([^&]+)/);
  if (match) {
    localStorage.setItem(KEY_STORAGE, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

function toLocalInput(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

function initControls() {
  const now = new Date();
  $("to").value = toLocalInput(now);
  $("from").value = toLocalInput(new Date(now.getTime() - 14 * 86400000));
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = Array.from($("tz").options).map((option) => option.value);
  if (browserZone && !zones.includes(browserZone)) {
    $("tz").add(new Option(browserZone, browserZone), 0);
  }
  $("tz").value = browserZone || "UTC";
  $("api-key").value = localStorage.getItem(KEY_STORAGE) || "";
  // Keep "to" at the current minute on each refresh unless the user moved it.
  $("to").dataset.followsNow = "true";
  $("to").addEventListener("change", () => { $("to").dataset.followsNow = "false"; });
  $("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    refresh();
  });
}

function rangeParams() {
  // The pickers have minute precision; the "to" minute is included, so events
  // of the current minute show up.
  return {
    from: new Date($("from").value).toISOString(),
    to: new Date(new Date($("to").value).getTime() + 60000).toISOString(),
  };
}

async function getJson(path, params) {
  const url = new URL(API + path, window.location.origin);
  Object.entries(params || {}).forEach(([name, value]) => url.searchParams.set(name, value));
  const headers = {};
  const key = localStorage.getItem(KEY_STORAGE);
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(url, { headers });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(`${path}: ${response.status} ${body.message || ""}`);
  }
  return body;
}

function percent(rate) {
  return rate === null || rate === undefined ? "–" : (100 * rate).toFixed(1) + " %";
}

function chart(id) {
  if (!charts[id]) charts[id] = echarts.init($(id));
  return charts[id];
}

function horizontalBars(id, labels, values, name) {
  chart(id).setOption({
    grid: { left: 160, right: 30, top: 10, bottom: 30 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "value" },
    yAxis: { type: "category", data: labels.slice().reverse(), axisLabel: { width: 150, overflow: "truncate" } },
    series: [{ type: "bar", name, data: values.slice().reverse() }],
  }, true);
}

function renderSummary(summary) {
  $("kpi-searches").textContent = summary.searches.toLocaleString();
  $("kpi-zero").textContent = percent(summary.zero_result_rate);
  $("kpi-ctr").textContent = percent(summary.click_through_rate);
  const revenue = Object.entries(summary.attributed.revenue || {})
    .map(([currency, amount]) => `${Number(amount).toLocaleString(undefined, { maximumFractionDigits: 2 })} ${currency}`);
  $("kpi-revenue").textContent = revenue.length ? revenue.join(" · ") : "–";
}

function renderSeries(series) {
  const labels = series.buckets.map((bucket) => bucket.start.slice(0, series.interval === "hour" ? 16 : 10).replace("T", " "));
  chart("chart-searches").setOption({
    grid: { left: 50, right: 20, top: 20, bottom: 40 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: labels },
    yAxis: { type: "value" },
    series: [{ type: "line", name: "searches", areaStyle: {}, data: series.buckets.map((b) => b.searches) }],
  }, true);
  chart("chart-rates").setOption({
    grid: { left: 50, right: 20, top: 30, bottom: 40 },
    tooltip: { trigger: "axis", valueFormatter: (value) => (value === null ? "–" : value.toFixed(1) + " %") },
    legend: { top: 0 },
    xAxis: { type: "category", data: labels },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value} %" } },
    series: [
      { type: "line", name: "zero-result rate",
        data: series.buckets.map((b) => (b.searches ? 100 * b.zero_result_searches / b.searches : null)) },
      { type: "line", name: "click-through rate",
        data: series.buckets.map((b) => (b.click_through_rate === null ? null : 100 * b.click_through_rate)) },
    ],
  }, true);
}

function renderFunnel(categories) {
  // Root categories include their descendants, so their sum covers every categorized product.
  const roots = categories.items.filter((item) => item.parent_id === null);
  const total = (field) => roots.reduce((sum, item) => sum + item[field], 0);
  const steps = [["views", "views"], ["clicks", "clicks"], ["add to cart", "add_to_cart"], ["purchases", "purchases"]];
  chart("chart-funnel").setOption({
    tooltip: { trigger: "item" },
    series: [{ type: "funnel", sort: "descending", left: "10%", width: "80%", label: { formatter: "{b}: {c}" },
               data: steps.map(([label, field]) => ({ name: label, value: total(field) })) }],
  }, true);
}

async function renderTopProducts(top) {
  // Product names come from the catalog, which is public to read.
  const names = await Promise.all(top.items.map(async (item) => {
    try {
      return (await getJson(`/products/${encodeURIComponent(item.product_id)}`)).name;
    } catch (error) {
      return item.product_id;
    }
  }));
  horizontalBars("chart-top-products", names, top.items.map((item) => item.purchases), "purchases");
}

async function refresh() {
  if ($("to").dataset.followsNow === "true") {
    $("to").value = toLocalInput(new Date());
  }
  const range = rangeParams();
  $("status").textContent = "loading…";
  try {
    const [summary, series, popular, zero, categories, top] = await Promise.all([
      getJson("/analytics/search/summary", range),
      getJson("/analytics/search/timeseries", { ...range, interval: $("interval").value, tz: $("tz").value }),
      getJson("/analytics/search/popular", { ...range, limit: 10 }),
      getJson("/analytics/search/zero-results", { ...range, limit: 10 }),
      getJson("/analytics/categories", { ...range, limit: 1000 }),
      getJson("/analytics/products/top", { ...range, metric: "purchases", limit: 10 }),
    ]);
    renderSummary(summary);
    renderSeries(series);
    horizontalBars("chart-top-queries", popular.items.map((i) => i.query), popular.items.map((i) => i.searches), "searches");
    horizontalBars("chart-zero-queries", zero.items.map((i) => i.query), zero.items.map((i) => i.zero_result_searches),
      "searches with no results");
    renderFunnel(categories);
    await renderTopProducts(top);
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (error) {
    $("status").textContent = error.message;
    document.body.dataset.loaded = "error";
  }
}

takeKeyFromFragment();
initControls();
refresh();
setInterval(refresh, REFRESH_SECONDS * 1000);
window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
