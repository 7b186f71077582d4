// Keyboard shortcuts (Alt+arrows and Alt+1-9 between chats, Alt+A accept, Alt+M message, Alt+E
// end, ? help), arrow keys in the chat list, and the close buttons of every dialog.

import { openChat } from "./chat-view.js";
import { endChat } from "./chats.js";
import { byId } from "./dom.js";
import { acceptOffer } from "./offers.js";
import { state } from "./state.js";

document.addEventListener("keydown", (e) => {
  const target = /** @type {HTMLElement} */ (e.target);
  const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT");
  if (document.querySelector("dialog[open]")) return;
  if (e.altKey && !e.ctrlKey && !e.metaKey) {
    const ids = [...state.chats.keys()];
    const k = e.key.toLowerCase();
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (ids.length === 0) return;
      const i = state.active ? ids.indexOf(state.active) : -1;
      const next = ids[(i + (e.key === "ArrowDown" ? 1 : -1) + ids.length) % ids.length];
      openChat(next);
      return;
    }
    if (/^[1-9]$/.test(e.key) || /^Digit[1-9]$/.test(e.code)) {
      const n = Number(e.code.startsWith("Digit") ? e.code.slice(5) : e.key);
      if (ids[n - 1]) {
        e.preventDefault();
        openChat(ids[n - 1]);
      }
      return;
    }
    if (k === "a" || e.code === "KeyA") {
      e.preventDefault();
      const first = [...state.offers.values()].sort((a, b) => a.deadline - b.deadline)[0];
      if (first) acceptOffer(first.frame.offer_id);
      return;
    }
    if (k === "m" || e.code === "KeyM") {
      e.preventDefault();
      byId("message").focus();
      return;
    }
    if (k === "e" || e.code === "KeyE") {
      e.preventDefault();
      endChat();
      return;
    }
  }
  if (e.key === "?" && !typing) {
    e.preventDefault();
    byId("help-dialog").showModal();
  }
});

byId("help-button").addEventListener("click", () => byId("help-dialog").showModal());
byId("chat-tabs").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
  if (e.altKey) return;
  e.preventDefault();
  const ids = [...state.chats.keys()];
  const i = state.active ? ids.indexOf(state.active) : -1;
  const next = ids[(i + (e.key === "ArrowDown" ? 1 : -1) + ids.length) % ids.length];
  openChat(next);
  document.getElementById(`tab-${next}`)?.focus();
});

for (const b of document.querySelectorAll("dialog [data-close]")) {
  b.addEventListener("click", () => /** @type {HTMLDialogElement} */ (b.closest("dialog")).close());
}

