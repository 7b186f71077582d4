// The chat on screen and the list of chats: opening one, its header, its transcript (events in
// seq order, read receipts, typing), the tabs with their unread badges, and the counts in the
// title and on the offers heading.

import { dropChat, endChat, markRead } from "./chats.js";
import { closeCanned, saveDraft, stopTyping } from "./composer.js";
import { el, byId, formatClock } from "./dom.js";
import { activeChat, state } from "./state.js";
import { renderTags } from "./tags.js";
import { renderContext } from "./visitor.js";

/** @typedef {import("./state.js").Frame} Frame */
/** @typedef {import("./state.js").Chat} Chat */

/** Keep the transcript in seq order whatever order replay and live frames came in.
 * @param {Chat} chat @param {HTMLElement} node @param {number} seq */
export function insertBySeq(chat, node, seq) {
  node.dataset.seq = String(seq);
  const log = byId("transcript");
  const before = chat.nodes.find((n) => Number(n.dataset.seq) > seq);
  if (before) {
    chat.nodes.splice(chat.nodes.indexOf(before), 0, node);
    if (state.active === chat.id) before.before(node);
  } else {
    chat.nodes.push(node);
    if (state.active === chat.id) {
      const firstPending = log.querySelector(".row.pending");
      if (firstPending) firstPending.before(node);
      else log.append(node);
      log.scrollTop = log.scrollHeight;
    }
  }
}

/** @param {Chat} chat @param {Frame} f @returns {HTMLElement|null} */
export function renderEvent(chat, f) {
  const time = el("time", { datetime: f.ts }, formatClock(f.ts));
  switch (f.type) {
    case "message": {
      const role = f.from?.role || "system";
      if (role === "system") return el("div", { class: "row system" }, el("span", {}, f.text), time);
      const mine = role === "agent";
      const who = mine ? (f.from?.name || "Agent") : (f.from?.name || chat.name);
      const row = el("div", { class: `row msg ${mine ? "out" : "in"}` },
        el("div", { class: "bubble" }, f.text),
        el("div", { class: "meta" }, el("span", { class: "who" }, who), time,
          mine ? el("span", { class: "receipt" }, "Sent") : ""));
      return row;
    }
    case "note":
      return el("div", { class: "row note", "aria-label": "Internal note" },
        el("div", { class: "note-label" }, "Internal note"),
        el("div", { class: "bubble" }, f.text),
        el("div", { class: "meta" }, el("span", { class: "who" }, f.from?.name || "Agent"), time));
    case "tagged":
      return el("div", { class: "row system" }, el("span", {}, tagChange(chat.tagTrail, f.tags || [], f.by?.name || "Agent")), time);
    case "transferred":
      return el("div", { class: "row system" },
        el("span", {}, `${f.by?.name || "Agent"} transferred the chat to ${f.to_agent ? f.to_agent : `the ${f.to_topic} queue`}`), time);
    case "closed":
      return el("div", { class: "row system ended" },
        el("span", {}, f.by === "visitor" ? "The visitor ended the chat" : f.by === "agent" ? "The chat was ended by the agent" : "The chat was closed"), time);
    case "assigned":
      return el("div", { class: "row system" }, el("span", {}, `${f.agent?.display_name || "An agent"} joined the chat`), time);
    case "rated":
      return el("div", { class: "row system" }, el("span", {}, `Rated ${"★".repeat(f.score)}${"☆".repeat(5 - f.score)}${f.comment ? ` — “${f.comment}”` : ""}`), time);
  }
  return null;
}

/** @param {Chat} chat */
export function refreshReadMarks(chat) {
  for (const node of chat.nodes) {
    if (!node.classList.contains("out")) continue;
    const r = node.querySelector(".receipt");
    if (r) r.textContent = Number(node.dataset.seq) <= chat.visitorRead ? "Read" : "Sent";
  }
}

export function renderTyping() {
  const chat = activeChat();
  byId("typing").textContent = chat && chat.visitorTyping ? `${chat.name} is typing…` : "";
}

export function showEmpty() {
  byId("chat-panel").hidden = true;
  byId("context").hidden = true;
  byId("empty-panel").hidden = false;
}

/** @param {string} id */
export function openChat(id) {
  const chat = state.chats.get(id);
  if (!chat) return;
  const box = byId("message");
  if (state.active && state.chats.has(state.active)) saveDraft(/** @type {Chat} */ (state.chats.get(state.active)));
  stopTyping();
  state.active = id;
  byId("empty-panel").hidden = true;
  byId("chat-panel").hidden = false;
  byId("context").hidden = false;
  const log = byId("transcript");
  log.replaceChildren(...chat.nodes, ...[...chat.pending.values()].map((p) => p.node));
  log.scrollTop = log.scrollHeight;
  box.value = chat.draft;
  closeCanned();
  renderHeader();
  renderTags(chat);
  renderTyping();
  renderContext(chat);
  markRead(chat);
  renderTabs();
}

/** @param {string} text */
export function pendingNode(text) {
  return el("div", { class: "row msg out pending" },
    el("div", { class: "bubble" }, text),
    el("div", { class: "meta" }, el("span", { class: "who" }, state.me.name), el("span", { class: "receipt" }, "Sending…")));
}

export function renderHeader() {
  const chat = activeChat();
  if (!chat) return;
  byId("chat-title").textContent = chat.name;
  byId("chat-panel").setAttribute("aria-label", `Chat with ${chat.name}`);
  const phase = chat.status === "closed" ? "Ended" : chat.status === "transferred" ? "Transferred" : "Active";
  byId("chat-sub").textContent = [chat.topic, chat.language && chat.language.toUpperCase(), phase].filter(Boolean).join(" · ");
  const open = chat.status === "active" || chat.status === "offered" || chat.status === "queued";
  for (const b of ["note-button", "tags-button", "transfer-button", "end-button"]) byId(b).hidden = !open && b !== "note-button" && b !== "tags-button";
  byId("end-button").hidden = !open;
  byId("transfer-button").hidden = !open;
  byId("dismiss-button").hidden = open;
  byId("message").disabled = !open;
  byId("send-button").disabled = !open;
  byId("message").placeholder = open ? "Type a reply… (/ for canned responses, Shift+Enter for a new line)" : "This chat has ended.";
}

export function renderTabs() {
  const list = byId("chat-tabs");
  const tabs = [];
  let i = 0;
  for (const chat of state.chats.values()) {
    i += 1;
    const selected = chat.id === state.active;
    const badge = chat.unread > 0 ? el("span", { class: "badge" }, String(chat.unread), el("span", { class: "sr-only" }, " unread")) : "";
    const stateChip = chat.status === "closed" ? el("span", { class: "tab-state" }, "Ended") : chat.visitorTyping ? el("span", { class: "tab-state typing-dot" }, "typing…") : "";
    const tab = el("button", {
      type: "button", role: "tab", id: `tab-${chat.id}`, class: `chat-tab ${selected ? "selected" : ""} ${chat.status}`,
      "aria-selected": selected ? "true" : "false", tabindex: selected ? "0" : "-1", "data-conv": chat.id,
      title: `Alt+${i}`,
    },
    el("span", { class: "avatar small", "aria-hidden": "true" }, chat.name.slice(0, 1).toUpperCase()),
    el("span", { class: "tab-text" }, el("span", { class: "tab-name" }, chat.name), el("span", { class: "tab-sub" }, chat.topic)),
    stateChip, badge);
    tab.addEventListener("click", () => openChat(chat.id));
    tabs.push(tab);
  }
  list.replaceChildren(...tabs);
  byId("chats-empty").hidden = state.chats.size > 0;
  renderCounts();
}

export function renderCounts() {
  let unread = 0;
  for (const c of state.chats.values()) unread += c.unread;
  document.title = unread > 0 ? `(${unread}) Console` : "Console";
  const count = byId("offer-count");
  count.hidden = state.offers.size === 0;
  count.textContent = String(state.offers.size);
  byId("offers-empty").hidden = state.offers.size > 0;
}

/** "Ann added tag: vip · removed tag: refund", from the tag sets before and after.
 * @param {string[]} before @param {string[]} after @param {string} who */
function tagChange(before, after, who) {
  const added = after.filter((t) => !before.includes(t));
  const removed = before.filter((t) => !after.includes(t));
  const part = (/** @type {string} */ verb, /** @type {string[]} */ tags) => `${verb} ${tags.length === 1 ? "tag" : "tags"}: ${tags.join(", ")}`;
  const parts = [];
  if (added.length) parts.push(part("added", added));
  if (removed.length) parts.push(part("removed", removed));
  return parts.length ? `${who} ${parts.join(" · ")}` : `${who} tagged: ${after.join(", ") || "(no tags)"}`;
}

byId("end-button").addEventListener("click", endChat);
byId("dismiss-button").addEventListener("click", () => state.active && dropChat(state.active));
