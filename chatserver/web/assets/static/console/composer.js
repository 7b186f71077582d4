// The message box: sending (kept in the outbox until acknowledged, re-sent under the same
// client_id), the draft, typing notices, and the canned-response picker that "/" opens.

import { uuid } from "../../../widget/app/connection.js";
import { pendingNode } from "./chat-view.js";
import { el, byId } from "./dom.js";
import { socket } from "./frames.js";
import { activeChat, state } from "./state.js";

/** @typedef {import("./state.js").Chat} Chat */

/** @param {Chat} chat */
export function saveDraft(chat) {
  chat.draft = byId("message").value;
  if (!state.signingOut) state.keep.setDraft(chat.id, chat.draft);
}

// --- sending ----------------------------------------------------------------------------

function sendMessage() {
  const chat = activeChat();
  const box = byId("message");
  const text = box.value.trim();
  if (!chat || !text || chat.status !== "active") return;
  const clientId = uuid();
  const node = pendingNode(text);
  chat.pending.set(clientId, { text, node });
  // Kept until the hub acknowledges it, so a reload or a closed tab re-sends it.
  state.keep.addUnsent(chat.id, clientId, text);
  byId("transcript").append(node);
  byId("transcript").scrollTop = byId("transcript").scrollHeight;
  box.value = "";
  chat.draft = "";
  state.keep.setDraft(chat.id, "");
  stopTyping();
  // Sent now if connected; otherwise kept and re-sent after the reconnect's resume.
  if (chat.resumed) transmit(chat, clientId);
}

/** Send (again) a message not yet acknowledged, under its client_id.
 * @param {Chat} chat @param {string} clientId */
export function transmit(chat, clientId) {
  const p = chat.pending.get(clientId);
  if (!p || !chat.resumed || chat.status !== "active") return;
  const ref = socket.ref();
  if (socket.send({ type: "message", conversation_id: chat.id, client_id: clientId, text: p.text, ref })) {
    state.asks.set(ref, { kind: "message", conv: chat.id, extra: clientId });
  }
}

export function stopTyping() {
  clearTimeout(state.typing.timer);
  if (state.typing.sent && state.active) socket.send({ type: "typing", conversation_id: state.active, active: false });
  state.typing.sent = false;
}

byId("composer").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  sendMessage();
});

byId("message").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
  const menu = byId("canned-menu");
  if (!menu.hidden) {
    const items = menu.querySelectorAll("li");
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      state.canned.index = (state.canned.index + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
      highlightCanned();
      return;
    }
    if ((e.key === "Enter" || e.key === "Tab") && items.length > 0) {
      e.preventDefault();
      insertCanned(Number(items[state.canned.index].dataset.id));
      return;
    }
    if (e.key === "Escape") {
      e.preventDefault();
      closeCanned();
      return;
    }
  }
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendMessage();
  }
});

byId("message").addEventListener("input", () => {
  const chat = activeChat();
  if (!chat) return;
  saveDraft(chat);
  updateCanned();
  const box = byId("message");
  if (box.value.trim() && !state.typing.sent) {
    state.typing.sent = socket.send({ type: "typing", conversation_id: chat.id, active: true });
  }
  clearTimeout(state.typing.timer);
  state.typing.timer = window.setTimeout(stopTyping, box.value.trim() ? 4000 : 0);
});

// --- the canned-response picker ("/" in the message box) ----------------------------------

function updateCanned() {
  const box = byId("message");
  const m = /^\/([\w-]*)$/.exec(box.value);
  if (!m) return closeCanned();
  const q = m[1].toLowerCase();
  const found = state.canned.list.filter((c) => c.shortcut.startsWith(q) || c.text.toLowerCase().includes(q)).slice(0, 8);
  const menu = byId("canned-menu");
  if (found.length === 0) {
    menu.replaceChildren(el("li", { class: "empty", role: "option", "aria-disabled": "true" }, state.canned.list.length ? "No matching response" : "No canned responses yet — add some with “Canned responses”."));
    menu.hidden = false;
    state.canned.index = 0;
    return;
  }
  state.canned.index = Math.min(state.canned.index, found.length - 1);
  menu.replaceChildren(...found.map((c) => {
    const li = el("li", { role: "option", id: `canned-${c.id}`, "data-id": String(c.id) },
      el("span", { class: "shortcut" }, `/${c.shortcut}`), el("span", { class: "canned-text" }, c.text),
      c.shared ? el("span", { class: "chip small" }, "shared") : "");
    li.addEventListener("mousedown", (ev) => {
      ev.preventDefault();
      insertCanned(c.id);
    });
    return li;
  }));
  menu.hidden = false;
  highlightCanned();
}

function highlightCanned() {
  const items = /** @type {NodeListOf<HTMLLIElement>} */ (byId("canned-menu").querySelectorAll("li"));
  items.forEach((li, i) => li.setAttribute("aria-selected", i === state.canned.index ? "true" : "false"));
  if (items[state.canned.index]) byId("message").setAttribute("aria-activedescendant", items[state.canned.index].id);
}

export function closeCanned() {
  byId("canned-menu").hidden = true;
  byId("message").removeAttribute("aria-activedescendant");
  state.canned.index = 0;
}

/** @param {number} id */
function insertCanned(id) {
  const c = state.canned.list.find((x) => x.id === id);
  if (!c) return;
  const box = byId("message");
  box.value = c.text;
  closeCanned();
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
  const chat = activeChat();
  if (chat) saveDraft(chat);
}

