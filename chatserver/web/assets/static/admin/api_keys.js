// Admin › API keys: the list, the create dialog (the secret shown once), revoke.
import { api, byId, clearErrors, dialogOf, el, pageError, showApiError } from "./common.js";

/**
 * @typedef {{id: string, name: string, scopes: string[], created_at: string,
 *   created_by: string | null, last_used_at: string | null, revoked_at: string | null}} ApiKey
 * @typedef {{api_keys: ApiKey[], scopes: string[]}} Listing
 */

/** @type {Listing | null} */
let listing = null;

const rows = byId("key-rows");
const dialog = dialogOf(/** @type {HTMLDialogElement} */ (byId("key-dialog")));
const form = /** @type {HTMLFormElement} */ (byId("key-form"));
const nameInput = /** @type {HTMLInputElement} */ (byId("f-name"));

async function load() {
  const result = await api("GET", "/api/v1/admin/api-keys");
  if (!result.ok) {
    pageError(result.data?.message || "Could not load the API keys.");
    return;
  }
  pageError("");
  listing = result.data;
  render();
}

/** A stored time as the reader's local date and time; "never" for none. @param {string | null} ts */
function when(ts) {
  if (!ts) return "never";
  return new Date(ts).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function render() {
  if (!listing) return;
  rows.textContent = "";
  if (!listing.api_keys.length) {
    rows.append(el("tr", { className: "empty-row" }, el("td", { colSpan: 6 }, "No API keys yet: create one for each integration.")));
    return;
  }
  for (const key of listing.api_keys) rows.append(row(key));
}

/** @param {ApiKey} key */
function row(key) {
  const status = key.revoked_at ? "revoked" : "active";
  return el(
    "tr",
    { className: key.revoked_at ? "disabled" : "", "data-key": key.id },
    el("td", {}, el("div", { className: "who" }, el("span", { className: "who-name", title: key.name }, key.name), el("span", { className: "who-user" }, `csk_${key.id}_…`))),
    el("td", {}, el("div", { className: "chips" }, ...key.scopes.map((s) => el("span", { className: `chip role scope-${s}` }, s)))),
    el("td", { title: key.created_at }, when(key.created_at)),
    el("td", { title: key.last_used_at || "" }, when(key.last_used_at)),
    el("td", {}, el("span", { className: `status-pill ${key.revoked_at ? "disabled" : "online"}`, title: key.revoked_at ? `revoked ${when(key.revoked_at)}` : "" }, status)),
    el(
      "td",
      {},
      el(
        "div",
        { className: "actions" },
        key.revoked_at
          ? null
          : el("button", { type: "button", className: "danger small", "aria-label": `Revoke ${key.name}`, onclick: () => revoke(key) }, "Revoke"),
      ),
    ),
  );
}

function openCreate() {
  clearErrors(form);
  form.reset();
  const box = byId("f-scopes");
  box.textContent = "";
  for (const scope of listing?.scopes || ["read", "write", "bot"]) {
    box.append(el("label", { className: "check" }, el("input", { type: "checkbox", name: "scopes", value: scope, checked: scope === "read" }), scope));
  }
  dialog.showModal();
  nameInput.focus();
}

/** @param {SubmitEvent} event */
async function create(event) {
  event.preventDefault();
  clearErrors(form);
  const scopes = [...form.querySelectorAll("input[name=scopes]:checked")].map((i) => /** @type {HTMLInputElement} */ (i).value);
  const result = await api("POST", "/api/v1/admin/api-keys", { name: nameInput.value, scopes });
  if (!result.ok) {
    const field = String(result.data?.field || "form").replace(/^body\./, "").replace(/\[\d+\]$/, "");
    const message = String(result.data?.message || "").replace(/^body\./, "");
    const input = showApiError(form, { ...result.data, field, message });
    (input || nameInput).focus();
    return;
  }
  dialog.close();
  showSecret(result.data.api_key.name, result.data.secret);
  await load();
}

/** @param {string} name @param {string} secret */
function showSecret(name, secret) {
  byId("secret-title").textContent = `API key for ${name}`;
  byId("secret-value").textContent = secret;
  byId("secret").hidden = false;
}

/** @param {ApiKey} key */
async function revoke(key) {
  if (!confirm(`Revoke the API key “${key.name}”? Calls with it fail at once.`)) return;
  const result = await api("POST", `/api/v1/admin/api-keys/${encodeURIComponent(key.id)}/revoke`);
  if (!result.ok) {
    pageError(result.data?.message || "Could not revoke the key.");
    return;
  }
  await load();
}

byId("new-key").addEventListener("click", openCreate);
form.addEventListener("submit", create);
byId("secret-done").addEventListener("click", () => {
  byId("secret").hidden = true;
  byId("secret-value").textContent = "";
});
load();
