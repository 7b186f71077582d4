// The canned responses dialog: the agent's list (and the shared ones), adding, editing and
// deleting.

import { api } from "./api.js";
import { el, byId, formError, toast } from "./dom.js";
import { state } from "./state.js";

export async function loadCanned() {
  const r = await api("GET", "/api/v1/canned");
  if (r.ok) state.canned.list = r.data.canned;
  return r;
}

function renderCannedList() {
  const list = byId("canned-list");
  if (state.canned.list.length === 0) {
    list.replaceChildren(el("li", { class: "muted" }, "No canned responses yet."));
    return;
  }
  list.replaceChildren(...state.canned.list.map((c) => {
    const mayChange = !c.shared || state.admin;
    const edit = el("button", { type: "button", class: "ghost small", "aria-label": `Edit /${c.shortcut}` }, "Edit");
    edit.addEventListener("click", () => editCanned(c));
    const del = el("button", { type: "button", class: "ghost small", "aria-label": `Delete /${c.shortcut}` }, "Delete");
    del.addEventListener("click", async () => {
      const r = await api("DELETE", `/api/v1/canned/${c.id}`);
      if (!r.ok) return formError("canned-error", r.message);
      if (state.canned.editing === c.id) resetCannedForm();
      await loadCanned();
      renderCannedList();
    });
    return el("li", { class: state.canned.editing === c.id ? "editing" : "" },
      el("span", { class: "shortcut" }, `/${c.shortcut}`),
      el("span", { class: "canned-text", title: c.text }, c.text),
      c.shared ? el("span", { class: "chip small" }, "shared") : "",
      mayChange ? el("span", { class: "canned-buttons" }, edit, del) : "");
  }));
}

/** @param {{id:number, shortcut:string, text:string, shared:boolean}} c */
function editCanned(c) {
  state.canned.editing = c.id;
  byId("canned-form-title").textContent = `Edit /${c.shortcut}`;
  byId("canned-submit").textContent = "Save changes";
  byId("canned-cancel-edit").hidden = false;
  const shared = /** @type {HTMLInputElement|null} */ (document.getElementById("canned-shared"));
  if (shared) {
    shared.checked = c.shared;
    shared.disabled = true; // an edit keeps it shared or personal
  }
  byId("canned-shortcut").value = c.shortcut;
  byId("canned-text").value = c.text;
  formError("canned-error", "");
  renderCannedList();
  byId("canned-text").focus();
}

function resetCannedForm() {
  state.canned.editing = null;
  byId("canned-form-title").textContent = "New response";
  byId("canned-submit").textContent = "Add response";
  byId("canned-cancel-edit").hidden = true;
  const shared = /** @type {HTMLInputElement|null} */ (document.getElementById("canned-shared"));
  if (shared) {
    shared.checked = false;
    shared.disabled = false;
  }
  byId("canned-shortcut").value = "";
  byId("canned-text").value = "";
}

byId("canned-button").addEventListener("click", async () => {
  resetCannedForm();
  await loadCanned();
  renderCannedList();
  formError("canned-error", "");
  byId("canned-dialog").showModal();
  byId("canned-shortcut").focus();
});

byId("canned-cancel-edit").addEventListener("click", () => {
  resetCannedForm();
  formError("canned-error", "");
  renderCannedList();
  byId("canned-shortcut").focus();
});

byId("canned-form").addEventListener("submit", async (/** @type {Event} */ e) => {
  e.preventDefault();
  const body = {
    shortcut: byId("canned-shortcut").value.trim().replace(/^\//, ""),
    text: byId("canned-text").value,
  };
  const shared = /** @type {HTMLInputElement|null} */ (document.getElementById("canned-shared"));
  const r = state.canned.editing === null
    ? await api("POST", "/api/v1/canned", { ...body, shared: shared ? shared.checked : false })
    : await api("PUT", `/api/v1/canned/${state.canned.editing}`, body);
  if (!r.ok) return formError("canned-error", r.message);
  formError("canned-error", "");
  resetCannedForm();
  await loadCanned();
  renderCannedList();
  toast(`Saved /${r.data.shortcut}.`);
});

