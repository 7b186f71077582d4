// The dashboard's charts (Chart.js 4, vendored as a UMD script: `window.Chart`). Each chart
// sits in a <figure> with a visually hidden table holding the same figures (its text
// alternative); `update` rewrites both.

import { dayLabel, el, fixed, hourLabel } from "./format.js";

/** @type {any} */
const Chart = /** @type {any} */ (window).Chart;

const INK = "#6b7385";
const GRID = "#eef0f5";
const ACCENT = "#4f46e5";
const ACCENT_SOFT = "rgba(79, 70, 229, .18)";
const AMBER = "#d97706";
const DANGER = "#dc2626";
const OK = "#16a34a";

if (Chart) {
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  Chart.defaults.font.size = 11.5;
  Chart.defaults.color = INK;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.labels.boxWidth = 10;
  Chart.defaults.plugins.legend.labels.boxHeight = 10;
}

/** @param {boolean} [integer] @param {number} [max] @param {string} [unit] the y axis's title */
function axes(integer = false, max, unit) {
  return {
    x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 10 } },
    y: {
      beginAtZero: true,
      max,
      title: unit ? { display: true, text: unit } : { display: false },
      grid: { color: GRID },
      border: { display: false },
      ticks: integer ? { precision: 0 } : {},
    },
  };
}

/** @type {Map<string, any>} */
const charts = new Map();

/**
 * @param {string} id  the figure's id
 * @param {any} config  a Chart.js config
 * @param {boolean} empty  nothing to show: the figure says so over the empty axes
 */
function draw(id, config, empty) {
  const figure = document.getElementById(id);
  const canvas = figure?.querySelector("canvas");
  const note = /** @type {HTMLElement | null | undefined} */ (figure?.querySelector(".chart-empty"));
  if (note) note.hidden = !empty;
  if (!Chart || !canvas) return;
  const existing = charts.get(id);
  if (existing) {
    existing.data = config.data;
    existing.update("none");
    return;
  }
  charts.set(id, new Chart(canvas, config));
}

/**
 * Replace the hidden table's rows.
 * @param {string} id
 * @param {string[][]} rows
 */
function table(id, rows) {
  const body = document.getElementById(id)?.querySelector("tbody");
  if (!body) return;
  body.replaceChildren(
    ...rows.map(([head, ...cells]) =>
      el("tr", {}, el("th", { scope: "row", text: head }), ...cells.map((c) => el("td", { text: c })))
    )
  );
}

/**
 * @typedef {{start: string, conversations: number, served: number, abandoned: number,
 *   wait_p50_s: number | null, wait_p90_s: number | null}} HourRow
 * @typedef {{day: string, conversations: number, rated: number, csat: number | null}} DayRow
 * @typedef {{topic: string, conversations: number, rated: number, csat: number | null}} TopicRow
 * @typedef {{hours: {rows: HourRow[]}, days: {rows: DayRow[]}, topics: TopicRow[]}} ChartData
 */

/** @param {ChartData} data */
export function update(data) {
  const hours = data.hours.rows;
  const labels = hours.map((r) => hourLabel(r.start));
  draw("chart-conversations", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Conversations", data: hours.map((r) => r.conversations), backgroundColor: ACCENT, borderRadius: 3, maxBarThickness: 18 },
      ],
    },
    options: { scales: axes(true), plugins: { legend: { display: false } } },
  }, hours.every((r) => r.conversations === 0));
  table("chart-conversations", hours.map((r) => [r.start, String(r.conversations), String(r.served)]));

  draw("chart-wait", {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "p50", data: hours.map((r) => r.wait_p50_s), borderColor: ACCENT, backgroundColor: ACCENT_SOFT, fill: true, cubicInterpolationMode: "monotone", pointRadius: 2, spanGaps: false },
        { label: "p90", data: hours.map((r) => r.wait_p90_s), borderColor: AMBER, backgroundColor: AMBER, cubicInterpolationMode: "monotone", pointRadius: 2, borderDash: [4, 3], spanGaps: false },
      ],
    },
    options: { scales: axes(false, undefined, "seconds"), plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: (/** @type {any} */ c) => `${c.dataset.label}: ${fixed(c.parsed.y, 1)} s` } } } },
  }, hours.every((r) => r.wait_p50_s === null));
  table("chart-wait", hours.map((r) => [r.start, fixed(r.wait_p50_s, 3), fixed(r.wait_p90_s, 3)]));

  draw("chart-abandoned", {
    type: "bar",
    data: { labels, datasets: [{ label: "Abandoned", data: hours.map((r) => r.abandoned), backgroundColor: DANGER, borderRadius: 3, maxBarThickness: 18 }] },
    options: { scales: axes(true), plugins: { legend: { display: false } } },
  }, hours.every((r) => r.abandoned === 0));
  table("chart-abandoned", hours.map((r) => [r.start, String(r.abandoned)]));

  const days = data.days.rows;
  draw("chart-csat-day", {
    type: "line",
    data: {
      labels: days.map((r) => dayLabel(r.day)),
      datasets: [{ label: "CSAT", data: days.map((r) => r.csat), borderColor: OK, backgroundColor: OK, cubicInterpolationMode: "monotone", pointRadius: 3, spanGaps: true }],
    },
    options: { scales: axes(false, 5), plugins: { legend: { display: false } } },
  }, days.every((r) => r.csat === null));
  table("chart-csat-day", days.map((r) => [r.day, fixed(r.csat, 3), String(r.rated)]));

  const topics = data.topics;
  draw("chart-csat-topic", {
    type: "bar",
    data: {
      labels: topics.map((r) => r.topic[0].toUpperCase() + r.topic.slice(1)),
      datasets: [{ label: "CSAT", data: topics.map((r) => r.csat), backgroundColor: OK, borderRadius: 3, maxBarThickness: 40 }],
    },
    options: { indexAxis: "y", scales: { x: { ...axes(false, 5).y, beginAtZero: true }, y: { grid: { display: false } } }, plugins: { legend: { display: false } } },
  }, topics.every((r) => r.csat === null));
  table("chart-csat-topic", topics.map((r) => [r.topic, fixed(r.csat, 3), String(r.rated)]));
}
