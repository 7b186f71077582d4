// Admin › Topics: the languages offered, the topics and their relaxation steps.
import { api, byId, clearErrors, dialogOf, el, numberOrText, pageError, showApiError, showError } from "./common.js";

/**
 * @typedef {{after_s: number, topic_level?: number, language_level?: number}} Step
 * @typedef {{name: string, topic_level: number, language_level: number, priority: number,
 *   relax: Step[], waiting: number, active: number}} Topic
 * @typedef {{version: number, source: string, updated_at: string | null, updated_by: string | null,
 *   languages: {name: string, open: number}[], topics: Topic[], max_level: number}} Listing
 */

/** @type {Listing | null} */
let listing = null;
/** @type {Topic | null} the topic being edited (null: creating one) */
let editing = null;

const rows = byId("topic-rows");
const dialog = dialogOf(/** @type {HTMLDialogElement} */ (byId("topic-dialog")));
const form = /** @type {HTMLFormElement} */ (byId("topic-form"));
const steps = byId("f-steps");
const languageSection = /** @type {HTMLElement} */ (byId("languages-title").parentElement);

/** @param {string} id */
function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

/** @param {string} id */
function select(id) {
  return /** @type {HTMLSelectElement} */ (byId(id));
}

async function load() {
  const result = await api("GET", "/api/v1/admin/topics");
  if (!result.ok) {
    pageError(result.data?.message || "Could not load the topics.");
    return;
  }
  pageError("");
  show(result.data);
}

/** @param {Listing} data */
function show(data) {
  listing = data;
  byId("source").textContent =
    data.source === "admin"
      ? `Edited here (version ${data.version}${data.updated_by ? `, last by ${data.updated_by}` : ""}${data.updated_at ? ` on ${new Date(data.updated_at).toLocaleString()}` : ""}); these topics and languages take precedence over the routing file.`
      : "From the routing file: the first change made here takes precedence over it from then on.";
  renderLanguages();
  renderTopics();
}

function renderLanguages() {
  const list = byId("language-list");
  list.textContent = "";
  for (const lang of listing?.languages || []) {
    list.append(
      el(
        "li",
        {},
        lang.name,
        lang.open ? el("span", { className: "open" }, `${lang.open} open`) : null,
        el("button", { type: "button", "aria-label": `Remove language ${lang.name}`, title: `Remove ${lang.name}`, onclick: () => saveLanguages((listing?.languages || []).map((l) => l.name).filter((n) => n !== lang.name)) }, "×"),
      ),
    );
  }
}

/** @param {Step} s */
function stepText(s) {
  const parts = [];
  if (s.topic_level !== undefined) parts.push(s.topic_level === 0 ? "any topic level" : `topic ${s.topic_level}`);
  if (s.language_level !== undefined) parts.push(s.language_level === 0 ? "any language" : `language ${s.language_level}`);
  return `after ${seconds(s.after_s)}: ${parts.join(", ")}`;
}

/** @param {number} s */
function seconds(s) {
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** @param {number} level */
function levelText(level) {
  return level === 0 ? "—" : String(level);
}

function renderTopics() {
  rows.textContent = "";
  for (const topic of listing?.topics || []) {
    const open = topic.waiting + topic.active;
    rows.append(
      el(
        "tr",
        { "data-topic": topic.name },
        el("td", {}, el("span", { className: "topic-name" }, topic.name)),
        el("td", { className: "num" }, levelText(topic.topic_level)),
        el("td", { className: "num" }, levelText(topic.language_level)),
        el("td", { className: "num" }, String(topic.priority)),
        el("td", { className: "steps-summary" }, topic.relax.length ? topic.relax.map(stepText).join(" · ") : el("span", { className: "muted" }, "none")),
        el("td", { className: "num", title: `${topic.waiting} waiting, ${topic.active} active` }, open ? `${topic.waiting} waiting · ${topic.active} active` : el("span", { className: "muted" }, "0")),
        el(
          "td",
          {},
          el(
            "div",
            { className: "actions" },
            el("button", { type: "button", className: "ghost small", "aria-label": `Edit topic ${topic.name}`, onclick: () => openEdit(topic) }, "Edit"),
            el("button", { type: "button", className: "danger small", "aria-label": `Delete topic ${topic.name}`, onclick: () => remove(topic) }, "Delete"),
          ),
        ),
      ),
    );
  }
}

/**
 * @param {HTMLSelectElement} box
 * @param {boolean} keep offer "keep" (a step that leaves the level as it was)
 */
function fillLevels(box, keep) {
  box.textContent = "";
  if (keep) box.append(new Option("keep", ""));
  const max = listing?.max_level ?? 5;
  for (let level = 0; level <= max; level++) {
    box.append(new Option(level === 0 ? (keep ? "0 — any" : "0 — not required") : String(level), String(level)));
  }
}

/** @param {Step | null} step */
function addStep(step) {
  const n = steps.children.length;
  const after = el("input", { type: "text", inputMode: "decimal", id: `f-relax.${n}.after_s`, "aria-label": `Step ${n + 1} after seconds`, value: step ? String(step.after_s) : "" });
  const tl = el("select", { id: `f-relax.${n}.topic_level`, "aria-label": `Step ${n + 1} topic level` });
  const ll = el("select", { id: `f-relax.${n}.language_level`, "aria-label": `Step ${n + 1} language level` });
  fillLevels(tl, true);
  fillLevels(ll, true);
  tl.value = step?.topic_level !== undefined ? String(step.topic_level) : "";
  ll.value = step?.language_level !== undefined ? String(step.language_level) : "";
  const error = el("p", { className: "field-error", id: `e-relax.${n}`, hidden: true });
  const item = el(
    "li",
    { className: "step" },
    after,
    tl,
    ll,
    el("button", { type: "button", className: "ghost small step-remove", "aria-label": `Remove step ${n + 1}`, onclick: () => { item.remove(); renumber(); } }, "Remove"),
    error,
  );
  steps.append(item);
}

/** Keep ids and names in step order after a removal. */
function renumber() {
  [...steps.children].forEach((item, n) => {
    const [after, tl, ll, remove, error] = /** @type {HTMLElement[]} */ ([...item.children]);
    after.id = `f-relax.${n}.after_s`;
    after.setAttribute("aria-label", `Step ${n + 1} after seconds`);
    tl.id = `f-relax.${n}.topic_level`;
    tl.setAttribute("aria-label", `Step ${n + 1} topic level`);
    ll.id = `f-relax.${n}.language_level`;
    ll.setAttribute("aria-label", `Step ${n + 1} language level`);
    remove.setAttribute("aria-label", `Remove step ${n + 1}`);
    error.id = `e-relax.${n}`;
  });
}

/** @param {Topic | null} topic */
function openForm(topic) {
  editing = topic;
  form.reset();
  clearErrors(form);
  fillLevels(select("f-topic_level"), false);
  fillLevels(select("f-language_level"), false);
  byId("topic-dialog-title").textContent = topic ? `Edit topic ${topic.name}` : "New topic";
  byId("topic-submit").textContent = topic ? "Save changes" : "Create topic";
  input("f-name").value = topic ? topic.name : "";
  input("f-name").readOnly = Boolean(topic);
  select("f-topic_level").value = String(topic ? topic.topic_level : 1);
  select("f-language_level").value = String(topic ? topic.language_level : 1);
  input("f-priority").value = String(topic ? topic.priority : 0);
  steps.textContent = "";
  for (const step of topic ? topic.relax : [{ after_s: 60, language_level: 0 }]) addStep(step);
  dialog.showModal();
  (topic ? select("f-topic_level") : input("f-name")).focus();
}

/** @param {Topic} topic */
function openEdit(topic) {
  openForm(topic);
}

function formValues() {
  const relax = [...steps.children].map((item) => {
    const [after, tl, ll] = /** @type {(HTMLInputElement | HTMLSelectElement)[]} */ ([...item.children]);
    /** @type {Record<string, number | string>} */
    const step = { after_s: numberOrText(after.value) };
    if (tl.value !== "") step.topic_level = Number(tl.value);
    if (ll.value !== "") step.language_level = Number(ll.value);
    return step;
  });
  return {
    name: input("f-name").value,
    topic_level: Number(select("f-topic_level").value),
    language_level: Number(select("f-language_level").value),
    priority: input("f-priority").value.trim() === "" ? 0 : numberOrText(input("f-priority").value),
    relax,
  };
}

/** A relaxation error names a step ("relax.1.after_s"): show it under that step. @param {any} data */
function showTopicError(data) {
  const field = String(data.field || "form");
  const step = /^relax\.(\d+)(?:\.(\w+))?$/.exec(field);
  if (step) {
    const [, n, key] = step;
    showError(form, `relax.${n}`, data.message, "e-relax");
    // The field named, or the step's first one when the message is about the whole step.
    const target = form.querySelector(`[id="f-relax.${n}.${key || "after_s"}"]`);
    target?.setAttribute("aria-invalid", "true");
    /** @type {HTMLElement | null} */ (target)?.focus();
    return;
  }
  const first = showApiError(form, data, field.startsWith("relax") ? "e-relax" : "e-form");
  first?.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const submit = /** @type {HTMLButtonElement} */ (byId("topic-submit"));
  submit.disabled = true;
  try {
    const values = formValues();
    const result = editing
      ? await api("PUT", `/api/v1/admin/topics/${encodeURIComponent(editing.name)}`, { ...values, name: undefined })
      : await api("POST", "/api/v1/admin/topics", values);
    if (!result.ok) {
      showTopicError(result.data || {});
      return;
    }
    dialog.close();
    show(result.data);
  } finally {
    submit.disabled = false;
  }
});

/** @param {Topic} topic */
async function remove(topic) {
  const result = await api("DELETE", `/api/v1/admin/topics/${encodeURIComponent(topic.name)}`);
  if (!result.ok) {
    pageError(result.data?.message || "The topic could not be deleted.");
    return;
  }
  pageError("");
  show(result.data);
}

/**
 * @param {string[]} languages
 * @param {boolean} typed the change is the language typed in the box (mark the box if refused)
 */
async function saveLanguages(languages, typed = false) {
  clearErrors(languageSection);
  const result = await api("PUT", "/api/v1/admin/languages", { languages });
  if (!result.ok) {
    showError(languageSection, "languages", result.data?.message || "The languages were refused.", "e-languages");
    if (typed) input("f-language").setAttribute("aria-invalid", "true");
    return false;
  }
  show(result.data);
  return true;
}

byId("language-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = input("f-language").value.trim();
  const current = (listing?.languages || []).map((l) => l.name);
  if (await saveLanguages([...current, name], true)) input("f-language").value = "";
});
byId("add-step").addEventListener("click", () => {
  addStep(null);
  const last = steps.lastElementChild?.firstElementChild;
  /** @type {HTMLElement | null | undefined} */ (last)?.focus();
});
byId("new-topic").addEventListener("click", () => openForm(null));
load();
