// The internal note dialog; its draft is kept until the hub has stored the note.

import { byId, formError } from "./dom.js";
import { ask } from "./frames.js";
import { state } from "./state.js";

byId("note-button").addEventListener("click", () => {
  if (!state.active) return;
  state.noteConv = state.active;
  byId("note-text").value = state.keep.note(state.active);
  formError("note-error", "");
  byId("note-dialog").showModal();
  byId("note-text").focus();
});

byId("note-form").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  const text = byId("note-text").value.trim();
  if (!text) return formError("note-error", "Write the note first.");
  if (text.length > 4000) return formError("note-error", "A note can be at most 4 000 characters.");
  if (state.active && ask("note", { type: "note", conversation_id: state.active, text })) byId("note-dialog").close();
});

byId("note-text").addEventListener("input", () => {
  if (state.noteConv) state.keep.setNote(state.noteConv, byId("note-text").value);
});

