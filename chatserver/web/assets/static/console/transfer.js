// The transfer dialog: to an online agent or to a topic's queue.

import { api } from "./api.js";
import { el, byId, formError, toast } from "./dom.js";
import { ask } from "./frames.js";
import { state } from "./state.js";

/** @typedef {import("./state.js").Chat} Chat */

byId("transfer-button").addEventListener("click", async () => {
  if (!state.active) return;
  formError("transfer-error", "");
  const chat = /** @type {Chat} */ (state.chats.get(state.active));
  byId("transfer-topics").replaceChildren(...state.topics.map((t) => radio("transfer-target", `topic:${t}`, `${t[0].toUpperCase()}${t.slice(1)} queue`, t === chat.topic ? "current topic" : "")));
  byId("transfer-agents").replaceChildren(el("p", { class: "muted small-text" }, "Loading…"));
  byId("transfer-dialog").showModal();
  const r = await api("GET", "/api/v1/agents/online");
  const agents = r.ok ? r.data.agents : [];
  byId("transfer-agents").replaceChildren(...agents.map((/** @type {any} */ a) => radio("transfer-target", `agent:${a.username}`, a.display_name, `${a.load}/${a.capacity} chats`)));
  byId("transfer-agents-empty").hidden = agents.length > 0;
});

/** @param {string} name @param {string} value @param {string} label @param {string} hint */
function radio(name, value, label, hint) {
  const input = el("input", { type: "radio", name, value });
  return el("label", { class: "choice" }, input, el("span", {}, label), hint ? el("span", { class: "muted small-text" }, hint) : "");
}

/** @param {string} text */
export function showTransferError(text) {
  formError("transfer-error", text);
  if (!byId("transfer-dialog").open) toast(text);
}

byId("transfer-form").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  const picked = /** @type {HTMLInputElement|null} */ (byId("transfer-form").querySelector("input[name=transfer-target]:checked"));
  if (!picked) return formError("transfer-error", "Choose an agent or a topic.");
  if (!state.active) return;
  const [kind, target] = picked.value.split(/:(.*)/s);
  const label = /** @type {HTMLElement} */ (picked.nextElementSibling).textContent || target;
  const frame = kind === "agent" ? { type: "transfer", conversation_id: state.active, to_agent: target } : { type: "transfer", conversation_id: state.active, to_topic: target };
  if (ask("transfer", frame, label)) byId("transfer-dialog").close();
});

