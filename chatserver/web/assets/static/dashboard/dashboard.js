// The supervisor dashboard: polls the live floor, draws the charts, reads the agent table.
// Every figure comes from the JSON API (docs/dashboard.md); nothing is computed here but
// formatting.

import { update as updateCharts } from "./charts.js";
import { duration, el, fixed, getJSON } from "./format.js";

const root = /** @type {HTMLElement} */ (document.getElementById("dashboard"));
const POLL_MS = Number(root.dataset.pollMs) || 1500;
const CHARTS_MS = 60_000;
const BOTS_MS = 5_000;

/**
 * @typedef {{conversation_id: string, topic: string, visitor_name: string | null,
 *   state: string, offered_to: string | null, wait_s: number, breach: boolean}} Waiting
 * @typedef {{topic: string, waiting: number, longest_wait_s: number, breach: boolean,
 *   agents_online: number, capacity: number, load: number}} TopicNow
 * @typedef {{conversation_id: string, topic: string | null, visitor_name: string | null,
 *   since_s: number | null}} Held
 * @typedef {{agent_id: string, username: string, display_name: string, status: string,
 *   load: number, capacity: number, offers: number, held: Held[]}} AgentNow
 * @typedef {{totals: Record<string, number>, topics: TopicNow[], waiting: Waiting[],
 *   agents: AgentNow[], sla_wait_s: number}} Live
 */

/** @param {string} name @param {string} text */
function setFigure(name, text) {
  const node = root.querySelector(`[data-figure="${name}"]`);
  if (node && node.textContent !== text) node.textContent = text;
}

/** @param {string} id */
function byId(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

/** A "view" link to a conversation. @param {string} id @param {string} text */
function convLink(id, text) {
  return el("a", { href: `/dashboard/conversations/${encodeURIComponent(id)}`, text, title: text });
}

function breachBadge() {
  return el("span", { class: "sla-badge", text: "Over SLA" });
}

/** @param {Live} live */
function renderLive(live) {
  const t = live.totals;
  setFigure("waiting", String(t.waiting));
  setFigure("longest_wait", t.waiting ? duration(t.longest_wait_s) : "—");
  setFigure("breaches", String(t.breaches));
  setFigure("active", String(t.active));
  setFigure("agents_online", String(t.agents_online));
  setFigure("agents_away", t.agents_away ? `${t.agents_away} away` : "");
  setFigure("load", `${t.load} / ${t.capacity}`);
  root.querySelector('[aria-label="Over SLA"]')?.classList.toggle("alarm", t.breaches > 0);
  root.querySelector('[aria-label="Longest wait"]')?.classList.toggle("alarm", t.longest_wait_s > live.sla_wait_s && t.waiting > 0);

  byId("topics-table").querySelector("tbody")?.replaceChildren(
    ...live.topics.map((row) =>
      el(
        "tr",
        { class: row.breach ? "breach-row" : undefined },
        el("th", { scope: "row", class: "topic-name", text: row.topic }),
        el("td", { class: "num", text: String(row.waiting) }),
        el("td", { class: "num" }, ...(row.breach ? [breachBadge(), " "] : []), row.waiting ? duration(row.longest_wait_s) : "—"),
        el("td", { class: "num", text: String(row.agents_online) }),
        el("td", { class: "num", text: `${row.load} / ${row.capacity}` })
      )
    )
  );

  const waitingTable = byId("waiting-table");
  waitingTable.hidden = live.waiting.length === 0;
  byId("waiting-empty").hidden = live.waiting.length > 0;
  waitingTable.querySelector("tbody")?.replaceChildren(
    ...live.waiting.map((w) =>
      el(
        "tr",
        { class: w.breach ? "breach-row" : undefined },
        el("td", { class: "name-cell" }, convLink(w.conversation_id, w.visitor_name || "Visitor")),
        el("td", {}, el("span", { class: "chip topic small", text: w.topic })),
        el("td", { class: "muted", text: w.state === "offered" ? `Offered to ${w.offered_to ?? "an agent"}` : "Queued" }),
        el("td", { class: "num" }, ...(w.breach ? [breachBadge(), " "] : []), duration(w.wait_s))
      )
    )
  );

  // Agents who are online or away get a row; the offline ones a line of names below.
  const present = live.agents.filter((a) => a.status !== "offline" || a.held.length > 0);
  const offline = live.agents.filter((a) => !present.includes(a));
  const agentsTable = byId("agents-live-table");
  agentsTable.hidden = present.length === 0;
  byId("agents-live-empty").hidden = present.length > 0;
  const offlineLine = byId("agents-offline");
  offlineLine.hidden = offline.length === 0;
  const offlineText = `Offline (${offline.length}): ${offline.map((a) => a.display_name).join(", ")}`;
  if (offlineLine.textContent !== offlineText) offlineLine.textContent = offlineText;
  agentsTable.querySelector("tbody")?.replaceChildren(
    ...present.map((a) => {
      const ratio = a.capacity > 0 ? Math.min(1, a.load / a.capacity) : 0;
      const meter = el("meter", { min: "0", max: String(Math.max(1, a.capacity)), value: String(a.load), "aria-label": `Load of ${a.display_name}` });
      meter.classList.toggle("full", ratio >= 1);
      return el(
        "tr",
        { "data-agent": a.username },
        el("th", { scope: "row", class: "name-cell" }, el("span", { class: "avatar tiny", "aria-hidden": "true", text: a.display_name.slice(0, 1) }), el("span", { class: "clip", title: a.display_name, text: a.display_name })),
        el("td", {}, el("span", { class: `agent-status ${a.status}`, text: a.status })),
        el("td", { class: "load-cell" }, meter, el("span", { class: "load-text", text: `${a.load} / ${a.capacity}` }), a.offers ? el("span", { class: "muted small-text", text: ` (${a.offers} offered)` }) : ""),
        el(
          "td",
          {},
          a.held.length
            ? el("div", { class: "held-list" }, ...a.held.map((h) => el("span", { class: "held" }, convLink(h.conversation_id, h.visitor_name || "Visitor"), el("span", { class: "muted", text: ` ${h.topic ?? ""}${h.since_s !== null ? ` · ${duration(h.since_s)}` : ""}` }))))
            : el("span", { class: "muted", text: "—" })
        )
      );
    })
  );
}

/**
 * The connection state (a live region: it changes rarely) and the time of the last update
 * (outside it, so screen readers are not told the time every poll).
 * @param {string} text @param {boolean} ok @param {string} [when]
 */
function liveState(text, ok, when = "") {
  const state = byId("live-state");
  state.classList.toggle("down", !ok);
  root.classList.toggle("stale", !ok); // the last figures stay, dimmed
  const label = state.querySelector(".live-text");
  if (label && label.textContent !== text) label.textContent = text;
  const time = state.querySelector(".live-time");
  if (time) time.textContent = when;
}

async function poll() {
  try {
    const live = /** @type {Live} */ (await getJSON("/api/v1/dashboard/live"));
    renderLive(live);
    liveState("Live", true, `· updated ${new Date().toLocaleTimeString("en-GB")}`);
  } catch (e) {
    liveState(`Connection lost, retrying… (${e instanceof Error ? e.message : e})`, false);
  } finally {
    setTimeout(poll, document.hidden ? POLL_MS * 4 : POLL_MS);
  }
}

/** The bots' tiles: held now, and today's bot-resolved and handed-over conversations. */
async function pollBots() {
  try {
    const bots = /** @type {{held: number, resolved: number, handed_over: number}} */ (
      await getJSON("/api/v1/dashboard/bots")
    );
    setFigure("bots_held", String(bots.held));
    setFigure("bots_resolved", String(bots.resolved));
    setFigure("bots_handed_over", String(bots.handed_over));
  } catch {
    // The live state line reports a lost connection; the last figures stay.
  } finally {
    setTimeout(pollBots, document.hidden ? BOTS_MS * 4 : BOTS_MS);
  }
}

async function loadCharts() {
  const problem = byId("charts-error");
  try {
    const data = await getJSON("/api/v1/dashboard/charts?hours=24&days=14");
    updateCharts(data);
    problem.hidden = true;
  } catch (e) {
    problem.textContent = `Charts unavailable: ${e instanceof Error ? e.message : e}`;
    problem.hidden = false;
  }
}

// --- agent performance -----------------------------------------------------------------------

const form = /** @type {HTMLFormElement} */ (byId("perf-form"));
const since = /** @type {HTMLInputElement} */ (byId("perf-since"));
const until = /** @type {HTMLInputElement} */ (byId("perf-until"));

/** @param {Date} d */
function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

/**
 * @typedef {{username: string, display_name: string, chats: number,
 *   first_response_p50_s: number | null, first_response_p90_s: number | null,
 *   handle_p50_s: number | null, rated: number, csat: number | null}} AgentRow
 */

async function loadAgents() {
  const problem = byId("perf-error");
  const table = byId("perf-table");
  // "To" is inclusive on the form: the API's until is the next midnight.
  const end = new Date(`${until.value}T00:00:00Z`);
  end.setUTCDate(end.getUTCDate() + 1);
  const params = new URLSearchParams({ since: since.value, until: until.value ? isoDay(end) : "" });
  /** @param {string} message */
  const fail = (message) => {
    problem.textContent = message;
    problem.hidden = false;
    table.hidden = true;
    byId("perf-empty").hidden = true;
  };
  if (since.value && until.value && until.value < since.value) {
    fail("“To” must be the same day as “From” or later.");
    return;
  }
  try {
    const data = await getJSON(`/api/v1/dashboard/agents?${params}`);
    problem.hidden = true;
    /** @type {AgentRow[]} */
    const rows = data.agents;
    table.hidden = rows.length === 0;
    byId("perf-empty").hidden = rows.length > 0;
    byId("perf-caption").textContent = `Agent performance from ${since.value} to ${until.value}`;
    table.querySelector("tbody")?.replaceChildren(
      ...rows.map((r) =>
        el(
          "tr",
          { "data-agent": r.username },
          el("th", { scope: "row", class: "name-cell" }, el("span", { class: "clip", title: r.display_name, text: r.display_name })),
          el("td", { class: "num", text: String(r.chats) }),
          el("td", { class: "num", text: duration(r.first_response_p50_s) }),
          el("td", { class: "num", text: duration(r.first_response_p90_s) }),
          el("td", { class: "num", text: duration(r.handle_p50_s) }),
          el("td", { class: "num" }, r.csat === null ? "—" : el("span", { class: `score ${r.csat >= 4 ? "good" : r.csat < 3 ? "bad" : "mid"}`, text: fixed(r.csat, 2) })),
          el("td", { class: "num", text: String(r.rated) })
        )
      )
    );
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}

const today = new Date();
const weekAgo = new Date(today);
weekAgo.setUTCDate(weekAgo.getUTCDate() - 6);
since.value = isoDay(weekAgo);
until.value = isoDay(today);
form.addEventListener("submit", (e) => {
  e.preventDefault();
  loadAgents();
});

poll();
pollBots();
loadCharts();
loadAgents();
setInterval(loadCharts, CHARTS_MS);
