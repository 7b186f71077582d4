// Admin: webhook endpoints (create, edit, enable, rotate the secret, delete) and the delivery
// log of one of them, with "Redeliver". API: /api/v1/admin/webhooks (docs/webhooks.md).
import { api, byId, clearErrors, dialogOf, el, pageError, showApiError } from "./common.js";

/**
 * @typedef {{pending: number, delivered: number, failed: number}} Counts
 * @typedef {{id: string, url: string, events: string[], description: string, enabled: boolean,
 *   created_at: string, updated_at: string, deliveries?: Counts, secret?: string}} Endpoint
 * @typedef {{ts: string, status_code: number | null, latency_ms: number, error: string | null,
 *   response: string | null}} Attempt
 * @typedef {{id: number, type: string, conversation_id: string, seq: number, created_at: string,
 *   state: string, attempts: number, next_at: number | null, finished_at: string | null,
 *   redelivery_of: number | null, last: Attempt | null}} Delivery
 */

const rows = byId("webhook-rows");
const dialog = dialogOf(/** @type {HTMLDialogElement} */ (byId("webhook-dialog")));
const form = /** @type {HTMLFormElement} */ (byId("webhook-form"));
const eventsBox = byId("f-events");
const logPanel = byId("log");
const logRows = byId("log-rows");
const more = /** @type {HTMLButtonElement} */ (byId("log-more"));

/** @type {string[]} */
let types = [];
/** @type {Endpoint | null} */
let editing = null;
/** @type {string | null} */
let shown = null;
/** @type {number | null} */
let nextBefore = null;

/** @param {string} iso */
function when(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** @param {string} title @param {string} secret */
function showSecret(title, secret) {
  byId("secret-title").textContent = title;
  byId("secret-value").textContent = secret;
  byId("secret").hidden = false;
}

byId("secret-done").addEventListener("click", () => {
  byId("secret").hidden = true;
  byId("secret-value").textContent = "";
});

async function load() {
  const { ok, data } = await api("GET", "/api/v1/admin/webhooks");
  if (!ok) {
    pageError(data.message || "Could not load the endpoints.");
    return;
  }
  pageError("");
  types = data.types;
  /** @type {Endpoint[]} */
  const list = data.webhooks;
  rows.replaceChildren();
  if (!list.length) {
    rows.append(el("tr", { className: "empty-row" }, el("td", { colSpan: 7 }, "No endpoints yet. Add one to send conversation events to your CRM, helpdesk or data pipeline.")));
  }
  for (const w of list) rows.append(row(w));
  if (shown && !list.some((w) => w.id === shown)) closeLog();
}

/** @param {Endpoint} w */
function row(w) {
  const counts = w.deliveries || { pending: 0, delivered: 0, failed: 0 };
  const status = w.enabled
    ? el("span", { className: "status-pill online" }, "Active")
    : el("span", { className: "status-pill disabled" }, "Paused");
  const tr = el(
    "tr",
    { className: shown === w.id ? "selected" : "", "data-id": w.id },
    el("td", {}, el("div", { className: "who" },
      el("span", { className: "endpoint-url" }, w.url),
      w.description ? el("span", { className: "who-user" }, w.description) : null)),
    el("td", {}, el("div", { className: "chips" }, ...(w.events.length === types.length
      ? [el("span", { className: "chip role" }, "All events")]
      : w.events.map((e) => el("span", { className: "chip" }, e))))),
    el("td", {}, status),
    el("td", { className: "num" }, String(counts.delivered)),
    el("td", { className: "num" }, String(counts.pending)),
    el("td", { className: "num" }, String(counts.failed)),
    el("td", {}, el("div", { className: "actions" },
      button("Deliveries", () => openLog(w)),
      button("Secret", () => reveal(w)),
      button("Edit", () => openDialog(w)),
      button("Delete", () => remove(w)))),
  );
  return tr;
}

/** @param {string} label @param {() => void} action */
function button(label, action) {
  const b = el("button", { type: "button", className: "ghost small" }, label);
  b.addEventListener("click", action);
  return b;
}

/** @param {Endpoint} w */
async function reveal(w) {
  const { ok, data } = await api("GET", `/api/v1/admin/webhooks/${encodeURIComponent(w.id)}`);
  if (!ok) return pageError(data.message || "Could not read the secret.");
  showSecret(`Signing secret of ${w.url}`, data.webhook.secret);
}

/** @param {Endpoint} w */
async function remove(w) {
  if (!confirm(`Delete the endpoint ${w.url}? Its delivery log goes with it.`)) return;
  const { ok, data } = await api("DELETE", `/api/v1/admin/webhooks/${encodeURIComponent(w.id)}`);
  if (!ok) return pageError(data.message || "Could not delete the endpoint.");
  await load();
}

/** @param {Endpoint | null} w */
function openDialog(w) {
  editing = w;
  clearErrors(form);
  byId("webhook-dialog-title").textContent = w ? "Edit endpoint" : "New endpoint";
  byId("webhook-save").textContent = w ? "Save" : "Create endpoint";
  /** @type {HTMLInputElement} */ (byId("f-url")).value = w ? w.url : "";
  /** @type {HTMLInputElement} */ (byId("f-description")).value = w ? w.description : "";
  /** @type {HTMLInputElement} */ (byId("f-enabled")).checked = w ? w.enabled : true;
  eventsBox.replaceChildren();
  for (const t of types) {
    const input = el("input", { type: "checkbox", value: t, checked: w ? w.events.includes(t) : true });
    eventsBox.append(el("label", { className: "check" }, input, t));
  }
  dialog.showModal();
  byId("f-url").focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const body = {
    url: /** @type {HTMLInputElement} */ (byId("f-url")).value,
    description: /** @type {HTMLInputElement} */ (byId("f-description")).value,
    enabled: /** @type {HTMLInputElement} */ (byId("f-enabled")).checked,
    events: [...eventsBox.querySelectorAll("input:checked")].map((i) => /** @type {HTMLInputElement} */ (i).value),
  };
  const result = editing
    ? await api("PATCH", `/api/v1/admin/webhooks/${encodeURIComponent(editing.id)}`, body)
    : await api("POST", "/api/v1/admin/webhooks", body);
  if (!result.ok) {
    const input = showApiError(form, result.data);
    if (input) input.focus();
    return;
  }
  dialog.close();
  if (!editing) showSecret("Signing secret of the new endpoint", result.data.webhook.secret);
  await load();
});

byId("new-webhook").addEventListener("click", () => openDialog(null));

/** @param {Endpoint} w */
async function openLog(w) {
  shown = w.id;
  logPanel.hidden = false;
  byId("log-title").textContent = "Deliveries";
  byId("log-url").textContent = w.url;
  for (const tr of rows.querySelectorAll("tr")) tr.classList.toggle("selected", tr.getAttribute("data-id") === w.id);
  logRows.replaceChildren();
  nextBefore = null;
  await Promise.all([loadLog(), load()]);
  logPanel.scrollIntoView({ behavior: "smooth", block: "start" });
}

function closeLog() {
  shown = null;
  logPanel.hidden = true;
}

async function loadLog() {
  if (!shown) return;
  const query = nextBefore ? `?before=${nextBefore}` : "";
  const { ok, data } = await api("GET", `/api/v1/admin/webhooks/${encodeURIComponent(shown)}/deliveries${query}`);
  if (!ok) return pageError(data.message || "Could not load the deliveries.");
  /** @type {Delivery[]} */
  const list = data.deliveries;
  if (!nextBefore && !list.length) {
    logRows.append(el("tr", { className: "empty-row" }, el("td", { colSpan: 7 }, "Nothing sent yet: deliveries appear here as conversations happen.")));
  }
  for (const d of list) logRows.append(logRow(d));
  nextBefore = data.next_before;
  more.hidden = !nextBefore;
}

/** @param {Delivery} d */
function logRow(d) {
  const last = d.last;
  const label = d.state === "delivered" ? "Delivered" : d.state === "failed" ? "Gave up" : d.attempts ? "Retrying" : "Queued";
  const result = el("span", { className: `state-pill ${d.state}` }, label);
  const code = last ? (last.status_code !== null ? `HTTP ${last.status_code}` : last.error || "no answer") : "";
  const answer = last ? [code, last.status_code !== null && last.response ? `— ${last.response}` : ""].join(" ") : "";
  const actions = el("div", { className: "actions" });
  if (d.state !== "pending") actions.append(button("Redeliver", () => redeliver(d)));
  return el(
    "tr",
    { "data-delivery": String(d.id) },
    el("td", {}, when(d.created_at)),
    el("td", {}, el("div", { className: "who" }, el("code", {}, d.type), el("span", { className: "who-user" }, `${d.conversation_id.slice(0, 12)}… · #${d.seq}${d.redelivery_of ? " · redelivery" : ""}`))),
    el("td", {}, result),
    el("td", { className: "num" }, String(d.attempts)),
    el("td", { className: "num" }, last ? `${Math.round(last.latency_ms)} ms` : "—"),
    el("td", { className: "answer", title: answer }, answer || "—"),
    el("td", {}, actions),
  );
}

/** @param {Delivery} d */
async function redeliver(d) {
  if (!shown) return;
  const { ok, data } = await api("POST", `/api/v1/admin/webhooks/${encodeURIComponent(shown)}/deliveries/${d.id}/redeliver`);
  if (!ok) return pageError(data.message || "Could not redeliver.");
  logRows.replaceChildren();
  nextBefore = null;
  await loadLog();
  await load();
}

byId("log-refresh").addEventListener("click", async () => {
  logRows.replaceChildren();
  nextBefore = null;
  await loadLog();
  await load();
});
more.addEventListener("click", () => loadLog());

load();
