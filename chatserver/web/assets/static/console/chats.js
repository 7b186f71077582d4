// The chats we hold, as the hub tells us about them: assigned, their events in seq order,
// typing and read state, resumed after a reconnect, ended, caught up over HTTP when they are no
// longer ours, and dropped.

import { api } from "./api.js";
import { beep, notify } from "./alerts.js";
import { insertBySeq, openChat, pendingNode, refreshReadMarks, renderEvent, renderHeader, renderTabs, renderTyping, showEmpty } from "./chat-view.js";
import { transmit } from "./composer.js";
import { byId, toast } from "./dom.js";
import { ask, socket } from "./frames.js";
import { removeOffer } from "./offers.js";
import { activeChat, state } from "./state.js";
import { renderTagDialog, renderTags } from "./tags.js";
import { loadContext } from "./visitor.js";

/** @typedef {import("./state.js").Frame} Frame */
/** @typedef {import("./state.js").Chat} Chat */

/** @param {Frame} c @param {string} st @returns {Chat} */
export function addChat(c, st) {
  /** @type {Chat} */
  const chat = {
    id: c.conversation_id,
    name: c.visitor?.name || "Visitor",
    topic: c.topic || "",
    language: c.language || "",
    status: st,
    lastSeq: 0,
    seen: new Set(),
    unread: 0,
    draft: state.keep.draft(c.conversation_id),
    pending: new Map(),
    readSent: 0,
    visitorRead: 0,
    visitorTyping: false,
    tags: [],
    tagTrail: [],
    tagsFromEvents: false,
    context: null,
    nodes: [],
    maxVisitorSeq: 0,
    resumed: true,
  };
  state.chats.set(chat.id, chat);
  loadContext(chat);
  renderTabs();
  if (!state.active) openChat(chat.id);
  return chat;
}

/** @param {Frame} f */
export function onAssigned(f) {
  const ask = f.ref ? state.asks.get(f.ref) : undefined;
  if (ask) {
    state.asks.delete(f.ref);
    if (ask.offer) removeOffer(ask.offer, null);
  }
  let chat = state.chats.get(f.conversation_id);
  // Another agent took it (after our transfer, say): not ours any more.
  const toSomeoneElse = !ask && !f.conversation && f.agent?.display_name !== state.me.name;
  if (toSomeoneElse) {
    if (chat && chat.status !== "active") dropChat(chat.id);
    return;
  }
  if (!chat) {
    chat = addChat({ ...(f.conversation || {}), conversation_id: f.conversation_id }, "active");
    if (!ask) {
      // Given to us (a transfer to this agent): fetch the history.
      socket.send({ type: "resume", conversation_id: chat.id, last_seq: 0 });
      toast(`${chat.name}'s chat was transferred to you.`);
      beep();
    }
    if (ask) openChat(chat.id);
  } else {
    chat.status = "active";
    if (f.conversation) {
      chat.name = f.conversation.visitor?.name || chat.name;
      chat.topic = f.conversation.topic || chat.topic;
      chat.language = f.conversation.language || chat.language;
    }
  }
  // offers for this conversation are moot now
  for (const [id, o] of state.offers) if (o.frame.conversation.conversation_id === f.conversation_id) removeOffer(id, null);
  if (typeof f.seq === "number") onEvent({ ...f, type: "assigned" });
  renderTabs();
  if (state.active === chat.id) renderHeader();
}

/** @param {Frame} f */
export function onEvent(f) {
  const chat = state.chats.get(f.conversation_id);
  if (!chat) return;
  const seq = Number(f.seq);
  if (chat.seen.has(seq)) return;
  chat.seen.add(seq);
  if (seq > chat.lastSeq) chat.lastSeq = seq;
  if (f.type === "message" && f.client_id && chat.pending.has(f.client_id)) {
    const p = /** @type {{text: string, node: HTMLElement}} */ (chat.pending.get(f.client_id));
    chat.pending.delete(f.client_id);
    p.node.remove();
    state.keep.sent(f.client_id);
  }
  const node = renderEvent(chat, f);
  if (node) insertBySeq(chat, node, seq);
  if (f.type === "tagged") {
    chat.tagTrail = f.tags || [];
    chat.tagsFromEvents = true;
  }
  if (f.type === "message" && f.from?.role === "visitor") {
    chat.maxVisitorSeq = Math.max(chat.maxVisitorSeq, seq);
    chat.visitorTyping = false;
    if (state.active !== chat.id || document.hidden) {
      chat.unread += 1;
      if (document.hidden) notify(`${chat.name}`, String(f.text).slice(0, 120));
    }
    if (state.active === chat.id) {
      renderTyping();
      markRead(chat);
    }
    renderTabs();
  }
  if (f.type === "tagged") {
    chat.tags = f.tags || [];
    if (state.active === chat.id) {
      renderTags(chat);
      if (byId("tags-dialog").open) renderTagDialog(chat);
    }
  }
  if (f.type === "closed") {
    chat.status = "closed";
    chatEnded(chat);
    renderTabs();
    if (state.active === chat.id) renderHeader();
  }
  if (f.type === "transferred" && f.by?.name === state.me.name && chat.status !== "closed") {
    // We handed it over: it leaves our list once the hub confirms.
    chat.status = "transferred";
    renderTabs();
    if (state.active === chat.id) renderHeader();
  }
  if (f.type === "message" && f.from?.role === "agent") refreshReadMarks(chat);
}

/** @param {Frame} f */
export function onRead(f) {
  const chat = state.chats.get(f.conversation_id);
  if (!chat || f.by?.role !== "visitor") return;
  chat.visitorRead = Math.max(chat.visitorRead, Number(f.seq));
  refreshReadMarks(chat);
}

/** @param {Frame} f */
export function onTyping(f) {
  const chat = state.chats.get(f.conversation_id);
  if (!chat || f.by?.role === "agent") return;
  chat.visitorTyping = !!f.active;
  if (state.active === chat.id) renderTyping();
  renderTabs();
}

/** @param {Chat} chat */
export function markRead(chat) {
  if (document.hidden || state.active !== chat.id) return;
  chat.unread = 0;
  // One `read` per 300 ms at most, with the highest seq (the hub rate-limits `read`).
  if (chat.maxVisitorSeq > chat.readSent && !state.readTimers.has(chat.id)) {
    state.readTimers.set(chat.id, window.setTimeout(() => {
      state.readTimers.delete(chat.id);
      if (chat.maxVisitorSeq > chat.readSent && socket.send({ type: "read", conversation_id: chat.id, seq: chat.maxVisitorSeq })) {
        chat.readSent = chat.maxVisitorSeq;
      }
    }, 300));
  }
  renderTabs();
}

document.addEventListener("visibilitychange", () => {
  const chat = activeChat();
  if (chat) markRead(chat);
});

/** @param {Frame} f */
export function onResumed(f) {
  if (f.ref) state.asks.delete(f.ref); // a catch-up resume the hub allowed after all
  const chat = state.chats.get(f.conversation_id);
  if (!chat) return;
  chat.resumed = true;
  if (Number(f.last_seq) > chat.lastSeq) chat.lastSeq = Number(f.last_seq);
  // Re-send what was never acknowledged, with the same client_id: stored once.
  for (const clientId of chat.pending.keys()) transmit(chat, clientId);
  chat.readSent = 0;
  markRead(chat);
}

/** @param {string} id */
export function dropChat(id) {
  const ids = [...state.chats.keys()];
  const i = ids.indexOf(id);
  state.chats.delete(id);
  state.keep.forget(id);
  if (state.active === id) {
    state.active = null;
    const next = ids[i + 1] || ids[i - 1];
    if (next && state.chats.has(next)) openChat(next);
    else showEmpty();
  }
  renderTabs();
}

/** The chat ended: a draft or an unsent message can never go out now — say so, keep nothing.
 * @param {Chat} chat @param {string=} why */
function chatEnded(chat, why = "Not sent: the chat ended") {
  for (const p of chat.pending.values()) {
    p.node.classList.add("failed");
    p.node.classList.remove("pending");
    /** @type {HTMLElement} */ (p.node.querySelector(".receipt")).textContent = why;
    chat.nodes.push(p.node); // stays in the transcript, after what the hub stored
  }
  chat.pending.clear();
  chat.draft = "";
  state.keep.setDraft(chat.id, "");
  state.keep.clearOutbox(chat.id);
}

/** A chat we show but may no longer resume (it ended or went to someone else while we were
 * away): read what we missed from the transcript API, then close it here.
 * @param {Chat} chat */
export async function catchUp(chat) {
  const r = await api("GET", `/api/v1/conversations/${encodeURIComponent(chat.id)}`);
  if (r.ok) {
    for (const e of r.data.events) {
      if (e.seq <= chat.lastSeq) continue;
      const base = { conversation_id: chat.id, seq: e.seq, ts: e.ts };
      if (e.kind === "message") onEvent({ ...base, type: "message", client_id: e.client_id, from: e.from, text: e.body.text });
      else if (e.kind === "note") onEvent({ ...base, type: "note", from: e.from, text: e.body.text });
      else if (e.kind === "tag") onEvent({ ...base, type: "tagged", tags: e.body.all || e.body.tags || [], by: e.from });
      else if (e.kind === "closed") onEvent({ ...base, type: "closed", by: e.body.by || e.from.role });
    }
  }
  if (chat.status !== "closed") {
    chat.status = "transferred";
    chatEnded(chat, "Not sent: this chat is no longer yours");
    renderTabs();
    if (state.active === chat.id) renderHeader();
  }
}

/** Messages sent but never acknowledged before the page went away: shown as "Sending…" and
 * re-sent with the same client_id after the resume (the replay drops any the hub has).
 * @param {Chat} chat */
export function restoreOutbox(chat) {
  for (const m of state.keep.outbox(chat.id)) {
    if (chat.pending.has(m.client_id)) continue;
    const node = pendingNode(m.text);
    chat.pending.set(m.client_id, { text: m.text, node });
    if (state.active === chat.id) byId("transcript").append(node);
  }
}

export function endChat() {
  if (!state.active) return;
  const chat = state.chats.get(state.active);
  if (!chat || chat.status !== "active") return;
  ask("close", { type: "close", conversation_id: state.active });
}
