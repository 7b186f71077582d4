// Admin › Bots: the list with each bot's figures, the create/edit dialog, enable or disable,
// delete. API: /api/v1/admin/bots (docs/bots.md); a bot needs a webhook endpoint and an API key
// with the bot scope, made on their own pages first.
import { api, byId, clearErrors, dialogOf, el, numberOrText, pageError, showApiError } from "./common.js";

/**
 * @typedef {{held: number, resolved: number, handed_over: number}} Figures
 * @typedef {{id: string, name: string, endpoint_id: string, key_id: string, topics: string[],
 *   answer_timeout_s: number, enabled: boolean, created_at: string, updated_at: string,
 *   figures: Figures}} Bot
 * @typedef {{id: string, url: string, description: string}} Endpoint
 * @typedef {{id: string, name: string}} Key
 * @typedef {{bots: Bot[], topics: string[], endpoints: Endpoint[], keys: Key[]}} Listing
 * @typedef {import("./common.js").ApiError} ApiError
 */

const FIELDS = ["name", "endpoint_id", "key_id", "topics", "answer_timeout_s", "enabled"];
const DEFAULT_TIMEOUT_S = 20;

/** @type {Listing} */
let listing = { bots: [], topics: [], endpoints: [], keys: [] };
/** @type {Bot | null} */
let editing = null;

const rows = byId("bot-rows");
const dialog = dialogOf(/** @type {HTMLDialogElement} */ (byId("bot-dialog")));
const form = /** @type {HTMLFormElement} */ (byId("bot-form"));
const newBot = /** @type {HTMLButtonElement} */ (byId("new-bot"));
const topicsBox = byId("f-topics");

/** @param {string} id */
function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

/** @param {string} id */
function select(id) {
  return /** @type {HTMLSelectElement} */ (byId(id));
}

async function load() {
  const result = await api("GET", "/api/v1/admin/bots");
  if (!result.ok) {
    pageError(result.data?.message || "Could not load the bots.");
    return;
  }
  pageError("");
  listing = result.data;
  render();
}

function render() {
  const { bots, endpoints, keys } = listing;
  const ready = endpoints.length > 0 && keys.length > 0;
  newBot.disabled = !ready;
  newBot.title = ready ? "" : "Make a webhook endpoint and an API key with the bot scope first";
  byId("setup").hidden = ready && bots.length > 0;
  byId("setup-title").textContent = bots.length ? "Before another bot" : "Before your first bot";
  byId("setup-endpoint").classList.toggle("done", endpoints.length > 0);
  byId("setup-key").classList.toggle("done", keys.length > 0);
  byId("setup-bot").classList.toggle("done", bots.length > 0);
  rows.replaceChildren();
  if (!bots.length) {
    const what = ready ? "No bots yet: create one with New bot." : "No bots yet: make the endpoint and the key above first.";
    rows.append(el("tr", { className: "empty-row" }, el("td", { colSpan: 9 }, what)));
  }
  for (const bot of bots) rows.append(row(bot));
}

/** The name of another bot that takes `topic`, if any. @param {string} topic */
function takenBy(topic) {
  const other = listing.bots.find((b) => b.topics.includes(topic) && b.id !== editing?.id);
  return other ? other.name : null;
}

/** The name of another bot that answers with the key `keyId`, if any. @param {string} keyId */
function keyOf(keyId) {
  const other = listing.bots.find((b) => b.key_id === keyId && b.id !== editing?.id);
  return other ? other.name : null;
}

/** @param {Bot} bot */
function row(bot) {
  const endpoint = listing.endpoints.find((e) => e.id === bot.endpoint_id);
  const key = listing.keys.find((k) => k.id === bot.key_id);
  const status = bot.enabled
    ? el("span", { className: "status-pill online" }, "Active")
    : el("span", { className: "status-pill disabled" }, "Disabled");
  return el(
    "tr",
    { className: bot.enabled ? "" : "disabled", "data-bot": bot.id },
    el("td", {}, el("div", { className: "who" }, el("span", { className: "who-name", title: bot.name }, bot.name))),
    el("td", {}, el("div", { className: "chips" }, ...bot.topics.map((t) => el("span", { className: "chip topic" }, t)))),
    el("td", {}, el("div", { className: "who wiring" },
      endpoint
        ? el("span", { className: "endpoint-url", title: endpoint.description }, endpoint.url)
        : el("span", { className: "chip stale" }, "endpoint deleted"),
      key
        ? el("span", { className: "who-user" }, `key ${key.name}`)
        : el("span", { className: "chip stale" }, "key revoked"))),
    el("td", { className: "num" }, `${bot.answer_timeout_s} s`),
    el("td", {}, status),
    el("td", { className: "num" }, String(bot.figures.held)),
    el("td", { className: "num" }, String(bot.figures.resolved)),
    el("td", { className: "num" }, String(bot.figures.handed_over)),
    el("td", {}, el("div", { className: "actions" },
      button(bot.enabled ? "Disable" : "Enable", `${bot.enabled ? "Disable" : "Enable"} ${bot.name}`, "ghost", () => toggle(bot)),
      button("Edit", `Edit ${bot.name}`, "ghost", () => openDialog(bot)),
      button("Delete", `Delete ${bot.name}`, "danger", () => remove(bot)))),
  );
}

/**
 * @param {string} label
 * @param {string} name the accessible name, which says which bot
 * @param {string} kind
 * @param {() => void} action
 */
function button(label, name, kind, action) {
  const b = el("button", { type: "button", className: `${kind} small`, "aria-label": name }, label);
  b.addEventListener("click", action);
  return b;
}

/** @param {Bot} bot */
async function toggle(bot) {
  const result = await api("PATCH", `/api/v1/admin/bots/${encodeURIComponent(bot.id)}`, { enabled: !bot.enabled });
  if (!result.ok) return pageError(result.data?.message || "Could not change the bot.");
  await load();
}

/** @param {Bot} bot */
async function remove(bot) {
  const n = bot.figures.held;
  const held = n ? ` The ${n} conversation${n === 1 ? "" : "s"} it holds now wait until the visitor writes again or asks for a person.` : "";
  if (!confirm(`Delete the bot “${bot.name}”? New conversations on its topics go straight to the agents.${held}`)) return;
  const result = await api("DELETE", `/api/v1/admin/bots/${encodeURIComponent(bot.id)}`);
  if (!result.ok) return pageError(result.data?.message || "Could not delete the bot.");
  await load();
}

/**
 * Fill a select with `choices` (a `taken` one shown but not choosable); a current value that is
 * no longer among them stays, marked; with no current value, a single free choice is taken.
 * @param {HTMLSelectElement} box
 * @param {{value: string, label: string, taken?: boolean}[]} choices
 * @param {string} prompt the first, empty option
 * @param {string | null} current
 * @param {string} gone the label of a current value that is not a choice any more
 */
function fill(box, choices, prompt, current, gone) {
  box.replaceChildren(el("option", { value: "", disabled: true }, prompt));
  if (current && !choices.some((c) => c.value === current)) {
    box.append(el("option", { value: current }, gone));
  }
  for (const c of choices) box.append(el("option", { value: c.value, disabled: c.taken }, c.label));
  const free = choices.filter((c) => !c.taken);
  box.value = current || (free.length === 1 ? free[0].value : "");
}

/** @param {Bot | null} bot */
function openDialog(bot) {
  editing = bot;
  clearErrors(form);
  byId("bot-dialog-title").textContent = bot ? `Edit ${bot.name}` : "New bot";
  byId("bot-save").textContent = bot ? "Save" : "Create bot";
  input("f-name").value = bot ? bot.name : "";
  fill(
    select("f-endpoint_id"),
    listing.endpoints.map((e) => ({ value: e.id, label: e.description ? `${e.url} (${e.description})` : e.url })),
    "Choose an endpoint…",
    bot && bot.endpoint_id,
    "A deleted endpoint: choose another",
  );
  fill(
    select("f-key_id"),
    listing.keys.map((k) => {
      const other = keyOf(k.id);
      return { value: k.id, label: other ? `${k.name} (answers for ${other})` : k.name, taken: !!other };
    }),
    "Choose a key…",
    bot && bot.key_id,
    "A revoked key: choose another",
  );
  input("f-answer_timeout_s").value = String(bot ? bot.answer_timeout_s : DEFAULT_TIMEOUT_S);
  input("f-enabled").checked = bot ? bot.enabled : true;
  topicsBox.replaceChildren();
  const topics = [...listing.topics, ...(bot ? bot.topics.filter((t) => !listing.topics.includes(t)) : [])];
  for (const topic of topics) topicsBox.append(topicChoice(topic, bot));
  if (!topics.length) topicsBox.append(el("p", { className: "muted small-text" }, "No topics are offered: add one on ", el("a", { href: "/admin/topics" }, "Topics"), "."));
  dialog.showModal();
  input("f-name").focus();
}

/**
 * One topic's checkbox: disabled, with the bot's name, when another bot takes it.
 * @param {string} topic
 * @param {Bot | null} bot
 */
function topicChoice(topic, bot) {
  const other = takenBy(topic);
  const offered = listing.topics.includes(topic);
  const box = el("input", { type: "checkbox", name: "topics", value: topic, checked: !!bot && bot.topics.includes(topic), disabled: !!other });
  const note = other ? `taken by ${other}` : offered ? null : "no longer offered";
  return el(
    "label",
    { className: `check${other ? " taken" : ""}${offered ? "" : " stale"}`, title: other ? `${other} takes ${topic}` : "" },
    box,
    topic,
    note ? el("span", { className: "check-note" }, note) : null,
  );
}

/** The form's values, as the API takes them. */
function values() {
  return {
    name: input("f-name").value,
    endpoint_id: select("f-endpoint_id").value,
    key_id: select("f-key_id").value,
    topics: [...topicsBox.querySelectorAll("input:checked")].map((i) => /** @type {HTMLInputElement} */ (i).value),
    answer_timeout_s: numberOrText(input("f-answer_timeout_s").value),
    enabled: input("f-enabled").checked,
  };
}

/**
 * The fields of `body` that differ from `bot`'s: an edit sends only what the admin changed.
 * @param {Record<string, unknown>} body
 * @param {Bot} bot
 */
function changes(body, bot) {
  /** @type {Record<string, unknown>} */
  const changed = {};
  for (const [field, value] of Object.entries(body)) {
    if (JSON.stringify(value) !== JSON.stringify(/** @type {Record<string, unknown>} */ (bot)[field])) changed[field] = value;
  }
  return changed;
}

/**
 * A refusal as the form shows it: the field named without the schema's `body.` and index
 * (`body.topics[1]` is the topics box), the message without the field's name in front
 * (`name: a bot named 'Penny' exists already`).
 * @param {ApiError} data
 * @returns {ApiError}
 */
function plain(data) {
  let message = String(data.message || "");
  // A conflict (a taken name) names its field only in front of its message.
  const named = String(data.field || message.match(/^([\w.]+): /)?.[1] || "");
  const field = named.replace(/^body\./, "").replace(/\[\d+\]$/, "");
  for (const prefix of [`${named}: `, `${field}: `]) {
    if (message.startsWith(prefix)) message = message.slice(prefix.length);
  }
  message = message.charAt(0).toUpperCase() + message.slice(1);
  return FIELDS.includes(field) ? { ...data, field, message } : { error: data.error, message };
}

/** @param {SubmitEvent} event */
async function save(event) {
  event.preventDefault();
  clearErrors(form);
  const body = editing ? changes(values(), editing) : values();
  if (editing && !Object.keys(body).length) return dialog.close();
  const result = editing
    ? await api("PATCH", `/api/v1/admin/bots/${encodeURIComponent(editing.id)}`, body)
    : await api("POST", "/api/v1/admin/bots", body);
  if (!result.ok) {
    const first = showApiError(form, plain(result.data || {}));
    const target = first === topicsBox ? topicsBox.querySelector("input:not(:disabled)") : first;
    /** @type {HTMLElement} */ (target || input("f-name")).focus();
    return;
  }
  dialog.close();
  await load();
}

newBot.addEventListener("click", () => openDialog(null));
form.addEventListener("submit", save);
load();
