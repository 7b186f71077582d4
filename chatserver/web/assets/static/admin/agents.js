// Admin › Agents: the list, the create/edit dialog, disable/enable, reset password.
import { api, byId, clearErrors, dialogOf, el, numberOrText, pageError, showApiError } from "./common.js";

/**
 * @typedef {{id: string, username: string, display_name: string, roles: string[],
 *   skills: Record<string, number>, capacity: number, disabled: boolean, status: string,
 *   load: number}} Agent
 * @typedef {{agents: Agent[], topics: string[], languages: string[], roles: string[],
 *   capacity: {min: number, max: number}, me: string}} Listing
 */

/** @type {Listing | null} */
let listing = null;
/** @type {Agent | null} the agent being edited (null: creating one) */
let editing = null;
/** @type {Agent | null} the agent whose password is being reset */
let resetting = null;

const rows = byId("agent-rows");
const dialog = dialogOf(/** @type {HTMLDialogElement} */ (byId("agent-dialog")));
const form = /** @type {HTMLFormElement} */ (byId("agent-form"));
const passwordDialog = dialogOf(/** @type {HTMLDialogElement} */ (byId("password-dialog")));
const passwordForm = /** @type {HTMLFormElement} */ (byId("password-form"));

const LEVELS = [1, 2, 3, 4, 5];

async function load() {
  const result = await api("GET", "/api/v1/admin/agents");
  if (!result.ok) {
    pageError(result.data?.message || "Could not load the agents.");
    return;
  }
  pageError("");
  listing = result.data;
  render();
}

function render() {
  if (!listing) return;
  rows.textContent = "";
  if (!listing.agents.length) {
    rows.append(el("tr", { className: "empty-row" }, el("td", { colSpan: 6 }, "No agents yet: create the first one.")));
    return;
  }
  for (const agent of listing.agents) rows.append(row(agent));
}

/** @param {Agent} agent */
function row(agent) {
  const me = listing?.me === agent.id;
  const status = agent.disabled ? "disabled" : agent.status;
  const skills = Object.entries(agent.skills).sort(([a], [b]) => skillOrder(a) - skillOrder(b) || a.localeCompare(b));
  const known = new Set([...(listing?.topics || []), ...(listing?.languages || [])]);
  return el(
    "tr",
    { className: agent.disabled ? "disabled" : "", "data-username": agent.username },
    el(
      "td",
      {},
      el(
        "div",
        { className: "who" },
        el("span", { className: "who-name", title: agent.display_name }, agent.display_name, me ? " (you)" : ""),
        el("span", { className: "who-user", title: agent.username }, "@" + agent.username),
      ),
    ),
    el("td", {}, el("div", { className: "chips" }, ...agent.roles.map((r) => el("span", { className: `chip role ${r}` }, r)))),
    el(
      "td",
      { className: "skills" },
      el(
        "div",
        { className: "chips" },
        ...skills.map(([name, level]) =>
          el("span", { className: known.has(name) ? "chip skill" : "chip skill stale", title: known.has(name) ? "" : "not a configured topic or language" }, name, el("b", {}, String(level))),
        ),
      ),
    ),
    el("td", { className: "num" }, agent.disabled ? String(agent.capacity) : `${agent.load} / ${agent.capacity}`),
    el("td", {}, el("span", { className: `status-pill ${status}` }, status)),
    el(
      "td",
      {},
      el(
        "div",
        { className: "actions" },
        el("button", { type: "button", className: "ghost small", "aria-label": `Edit ${agent.username}`, onclick: () => openEdit(agent) }, "Edit"),
        el("button", { type: "button", className: "ghost small", "aria-label": `Reset password of ${agent.username}`, onclick: () => openReset(agent) }, "Reset password"),
        agent.disabled
          ? el("button", { type: "button", className: "ghost small", "aria-label": `Enable ${agent.username}`, onclick: () => setDisabled(agent, false) }, "Enable")
          : el("button", { type: "button", className: "danger small", "aria-label": `Disable ${agent.username}`, disabled: me, title: me ? "You cannot disable yourself" : "", onclick: () => setDisabled(agent, true) }, "Disable"),
      ),
    ),
  );
}

/** Topics first, then languages, in their configured order. @param {string} name */
function skillOrder(name) {
  const all = [...(listing?.topics || []), ...(listing?.languages || [])];
  const i = all.indexOf(name);
  return i < 0 ? all.length : i;
}

/** @param {HTMLInputElement | HTMLSelectElement} input @param {string} value */
function set(input, value) {
  input.value = value;
}

/** @param {string} id */
function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

function buildRoles(/** @type {string[]} */ chosen) {
  const box = byId("f-roles");
  box.textContent = "";
  for (const role of listing?.roles || []) {
    const check = el("input", { type: "checkbox", name: "roles", value: role, checked: chosen.includes(role) });
    box.append(el("label", { className: "check" }, check, role));
  }
}

/** @param {Record<string, number>} skills */
function buildSkills(skills) {
  const box = byId("f-skills");
  box.textContent = "";
  const topics = listing?.topics || [];
  const languages = listing?.languages || [];
  const stale = Object.keys(skills).filter((s) => !topics.includes(s) && !languages.includes(s));
  const groups = [
    ["Topics", topics],
    ["Languages", languages],
  ];
  if (stale.length) groups.push(["No longer configured", stale]);
  for (const [title, names] of /** @type {[string, string[]][]} */ (groups)) {
    const list = el("div", { className: "skill-list" });
    for (const name of names) {
      const id = `skill-${name}`;
      const select = el("select", { id, name: "skill", "data-skill": name, "aria-label": `${name} level` });
      select.append(new Option("—", ""));
      for (const level of LEVELS) select.append(new Option(String(level), String(level)));
      select.value = skills[name] ? String(skills[name]) : "";
      list.append(el("label", { for: id, className: stale.includes(name) ? "stale" : "", title: name }, name), select);
    }
    box.append(el("div", { className: "skill-group" }, el("h3", {}, title), list));
  }
}

function openCreate() {
  editing = null;
  form.reset();
  clearErrors(form);
  byId("agent-dialog-title").textContent = "New agent";
  byId("agent-submit").textContent = "Create agent";
  byId("row-username").hidden = false;
  byId("row-password").hidden = false;
  set(input("f-capacity"), "3");
  buildRoles(["agent"]);
  buildSkills({});
  setCapacityHint();
  dialog.showModal();
  input("f-username").focus();
}

/** @param {Agent} agent */
function openEdit(agent) {
  editing = agent;
  form.reset();
  clearErrors(form);
  byId("agent-dialog-title").textContent = `Edit ${agent.username}`;
  byId("agent-submit").textContent = "Save changes";
  byId("row-username").hidden = true;
  byId("row-password").hidden = true;
  set(input("f-display_name"), agent.display_name);
  set(input("f-capacity"), String(agent.capacity));
  buildRoles(agent.roles);
  buildSkills(agent.skills);
  setCapacityHint();
  dialog.showModal();
  input("f-display_name").focus();
}

function setCapacityHint() {
  const c = listing?.capacity;
  if (c) byId("h-capacity").textContent = `Chats at once, ${c.min}–${c.max}.`;
}

function formValues() {
  /** @type {Record<string, number>} */
  const skills = {};
  for (const select of form.querySelectorAll("select[data-skill]")) {
    const s = /** @type {HTMLSelectElement} */ (select);
    if (s.value) skills[s.dataset.skill || ""] = Number(s.value);
  }
  const roles = [...form.querySelectorAll("input[name=roles]:checked")].map((x) => /** @type {HTMLInputElement} */ (x).value);
  return {
    display_name: input("f-display_name").value,
    capacity: numberOrText(input("f-capacity").value),
    roles,
    skills,
  };
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const submit = /** @type {HTMLButtonElement} */ (byId("agent-submit"));
  submit.disabled = true;
  try {
    const values = formValues();
    const result = editing
      ? await api("PATCH", `/api/v1/admin/agents/${encodeURIComponent(editing.id)}`, values)
      : await api("POST", "/api/v1/admin/agents", { ...values, username: input("f-username").value, password: input("f-password").value });
    if (!result.ok) {
      const first = showApiError(form, result.data);
      first?.focus();
      return;
    }
    const created = !editing;
    dialog.close();
    if (created && result.data.password) showSecret(`Password for ${result.data.agent.username}`, result.data.password);
    await load();
  } finally {
    submit.disabled = false;
  }
});

/** @param {Agent} agent @param {boolean} disabled */
async function setDisabled(agent, disabled) {
  const result = await api("POST", `/api/v1/admin/agents/${encodeURIComponent(agent.id)}/${disabled ? "disable" : "enable"}`, {});
  if (!result.ok) {
    pageError(result.data?.message || "The change was refused.");
    return;
  }
  pageError("");
  await load();
}

/** @param {Agent} agent */
function openReset(agent) {
  resetting = agent;
  passwordForm.reset();
  clearErrors(passwordForm);
  byId("password-dialog-title").textContent = `Reset password of ${agent.username}`;
  passwordDialog.showModal();
  input("p-password").focus();
}

passwordForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!resetting) return;
  clearErrors(passwordForm);
  const result = await api("POST", `/api/v1/admin/agents/${encodeURIComponent(resetting.id)}/password`, { password: input("p-password").value });
  if (!result.ok) {
    const slot = byId("e-p-password");
    slot.textContent = result.data?.message || "The new password was refused.";
    slot.hidden = false;
    input("p-password").setAttribute("aria-invalid", "true");
    input("p-password").focus();
    return;
  }
  passwordDialog.close();
  const mine = resetting.id === listing?.me;
  const title = mine ? "Your new password: your sessions ended, sign in again with it" : `New password for ${resetting.username}`;
  if (result.data.password) showSecret(title, result.data.password);
  else showSecret(mine ? "Your password changed: sign in again" : `Password of ${resetting.username} changed`, "");
  // Your own sessions ended with the old password: reloading the list would go to sign-in
  // before you could read the new one.
  if (!mine) await load();
});

/** @param {string} title @param {string} value */
function showSecret(title, value) {
  byId("secret-title").textContent = title;
  const code = byId("secret-value");
  code.textContent = value;
  code.hidden = !value;
  byId("secret").hidden = false;
}

byId("secret-done").addEventListener("click", () => {
  byId("secret").hidden = true;
  byId("secret-value").textContent = "";
});
byId("new-agent").addEventListener("click", openCreate);
load();
// Presence changes while the page is open: refresh the list now and then (not while a dialog
// or a password shown once is open).
setInterval(() => {
  if (!dialog.open && !passwordDialog.open && byId("secret").hidden) load();
}, 10000);
