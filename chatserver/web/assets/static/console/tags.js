// Tags: the chips under the chat's header (with their remove button) and the tags dialog
// (suggestions from tags used before).

import { api } from "./api.js";
import { el, byId, formError } from "./dom.js";
import { ask } from "./frames.js";
import { activeChat, state } from "./state.js";

/** @typedef {import("./state.js").Chat} Chat */

/** @param {Chat} chat */
export function renderTags(chat) {
  const row = byId("chat-tags");
  row.replaceChildren(...chat.tags.map((t) => tagChip(chat, t)));
  row.hidden = chat.tags.length === 0;
}

/** A tag with its remove (×) button, while the agent may still tag the chat.
 * @param {Chat} chat @param {string} tag */
function tagChip(chat, tag) {
  const chip = el("span", { class: "chip tag" }, el("span", { class: "tag-name" }, tag));
  if (chat.status === "active" || chat.status === "closed") {
    const remove = el("button", { type: "button", class: "chip-remove", "aria-label": `Remove tag ${tag}`, title: `Remove tag ${tag}` }, "×");
    remove.addEventListener("click", () => removeTag(chat, tag));
    chip.append(remove);
  }
  return chip;
}

/** @param {Chat} chat @param {string} tag */
function removeTag(chat, tag) {
  formError("tags-error", "");
  ask("tag", { type: "tag", conversation_id: chat.id, tags: [], remove: [tag] }, tag);
}

byId("tags-button").addEventListener("click", async () => {
  const chat = activeChat();
  if (!chat) return;
  formError("tags-error", "");
  byId("tag-input").value = "";
  renderTagDialog(chat);
  byId("tags-dialog").showModal();
  byId("tag-input").focus();
  const r = await api("GET", "/api/v1/tags");
  if (r.ok) {
    state.tagSuggestions = r.data.tags;
    renderTagDialog(chat);
  }
});

/** @param {Chat} chat */
export function renderTagDialog(chat) {
  byId("tags-current").replaceChildren(...(chat.tags.length ? chat.tags.map((t) => tagChip(chat, t)) : [el("span", { class: "muted small-text" }, "No tags yet.")]));
  const fresh = state.tagSuggestions.filter((t) => !chat.tags.includes(t));
  byId("tag-suggestions").replaceChildren(...fresh.map((t) => el("option", { value: t })));
  byId("tag-suggest-buttons").replaceChildren(...fresh.slice(0, 12).map((t) => {
    const b = el("button", { type: "button", class: "chip suggestion", "aria-label": `Add tag ${t}` }, `+ ${t}`);
    b.addEventListener("click", () => addTags([t]));
    return b;
  }));
}

/** @param {string[]} tags */
function addTags(tags) {
  const clean = tags.map((t) => t.trim().toLowerCase()).filter(Boolean);
  if (clean.length === 0) return formError("tags-error", "Type a tag first.");
  if (clean.some((t) => t.length > 40)) return formError("tags-error", "A tag can be at most 40 characters.");
  if (new Set(clean).size > 20) return formError("tags-error", "Add at most 20 tags at once.");
  if (state.active && ask("tag", { type: "tag", conversation_id: state.active, tags: clean })) byId("tags-dialog").close();
}

byId("tags-form").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  addTags(byId("tag-input").value.split(","));
});
