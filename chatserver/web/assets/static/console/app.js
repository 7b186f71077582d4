// The agent console: status, offers, several chats at once, visitor context, notes, tags,
// transfers, canned responses, keyboard shortcuts, and lossless reconnects (resume by seq,
// unacked messages re-sent with the same client_id). Drafts and unacknowledged messages are
// kept in localStorage (drafts.js), so a reload or a closed tab loses nothing either. Text is
// always rendered as text.

import { Keep } from "./drafts.js";
import { AgentSocket } from "./socket.js";
import { api, backoff, el, formatClock, beep, notify, uuid } from "./util.js";

/** @typedef {Record<string, any>} Frame */
/**
 * @typedef {{id: string, name: string, topic: string, language: string, status: string,
 *   lastSeq: number, seen: Set<number>, unread: number, draft: string,
 *   pending: Map<string, {text: string, node: HTMLElement}>, readSent: number,
 *   visitorRead: number, visitorTyping: boolean, tags: string[], tagTrail: string[],
 *   tagsFromEvents: boolean, context: any, nodes: HTMLElement[], maxVisitorSeq: number,
 *   resumed: boolean}} Chat
 */

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
const me = { username: root.dataset.username || "", name: root.dataset.displayName || "" };
const TOPICS = (root.dataset.topics || "").split(",").filter(Boolean);
const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
// Drafts, note drafts and unacknowledged messages of this agent, kept across reloads.
const keep = new Keep(me.username);
// The first welcome after the page loaded restores the outbox; later ones are reconnects.
let restored = false;
// Set once the agent signs out: from then on nothing typed is written to storage.
let signingOut = false;

/** @type {Map<string, Chat>} */
const chats = new Map();
/** @type {Map<string, {frame: Frame, deadline: number, arrived: number, node: HTMLElement, ref?: string}>} */
const offers = new Map();
/** @type {string|null} */
let active = null;
let status = "away";
// The status the agent chose; kept across reconnects and reloads (this tab only).
let wanted = /** @type {"online"|"away"|null} */ (sessionStorage.getItem("console:status"));
/** @type {Map<string, {kind: string, conv?: string, offer?: string, extra?: any}>} */
const asks = new Map();
// Errors after which the same frame is sent again by itself (accept by offer id, a message by
// its client_id: both idempotent on the hub), after a back-off with jitter that grows each time.
const RETRYABLE = new Set(["unavailable", "rate_limited", "internal"]);
/** @type {Map<string, number>} refusals so far, by offer id or client_id */
const refusals = new Map();
/** @type {{id:number, shortcut:string, text:string, shared:boolean}[]} */
let canned = [];
let cannedIndex = 0;
let typingSent = false;
/** @type {number|undefined} */
let typingTimer;

// --- the connection ---------------------------------------------------------------------

const socket = new AgentSocket({
  getToken: async () => {
    const r = await fetch("/api/v1/session", { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) return null;
    if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
    return (await r.json()).token;
  },
  onFrame: (f) => handle(f),
  onState: (s) => {
    const box = $("connection");
    if (s === "open") {
      box.textContent = "";
      box.className = "connection";
    } else if (s === "reconnecting") {
      box.textContent = "Reconnecting…";
      box.className = "connection warn";
    } else if (s === "connecting") {
      box.textContent = "Connecting…";
      box.className = "connection";
    } else if (s === "signed-out") {
      location.assign("/login");
    }
    $("status-button").disabled = s !== "open";
    document.body.classList.toggle("offline", s !== "open");
  },
});

/** @param {Frame} f */
function handle(f) {
  switch (f.type) {
    case "welcome":
      return onWelcome(f);
    case "status":
      // A change from any tab, a supervisor or the hub (e.g. away after missed offers) wins.
      wanted = f.status;
      sessionStorage.setItem("console:status", f.status);
      return setStatus(f.status);
    case "offer":
      return addOffer(f);
    case "offer_withdrawn":
      return removeOffer(f.offer_id, f.reason === "expired" ? "The offer expired." : null);
    case "assigned":
      return onAssigned(f);
    case "message":
    case "note":
    case "tagged":
    case "transferred":
    case "closed":
    case "rated":
      return onEvent(f);
    case "typing":
      return onTyping(f);
    case "read":
      return onRead(f);
    case "resumed":
      return onResumed(f);
    case "ack":
      return onAck(f);
    case "error":
      return onError(f);
  }
}

/** @param {Frame} f */
function onWelcome(f) {
  setStatus(f.status || "away");
  if (wanted && wanted !== status) sendStatus(wanted);
  const held = new Set();
  for (const c of f.conversations || []) {
    held.add(c.conversation_id);
    let chat = chats.get(c.conversation_id);
    if (!chat) chat = addChat({ conversation_id: c.conversation_id }, c.status);
    chat.resumed = false;
    if (!restored) restoreOutbox(chat);
    socket.send({ type: "resume", conversation_id: chat.id, last_seq: chat.lastSeq });
  }
  if (!restored) {
    // What was kept for chats we no longer hold (ended or transferred while the page was
    // away) can never be sent: forget it.
    for (const conv of keep.conversations()) if (!held.has(conv)) keep.forget(conv);
    restored = true;
  }
  // Chats we still show but no longer hold (closed meanwhile): fetch what we missed. The hub
  // may refuse the resume (the chat is no longer ours): then catchUp() reads it over HTTP.
  for (const chat of chats.values()) {
    if (!held.has(chat.id) && chat.status !== "closed") {
      ask("catch-up", { type: "resume", conversation_id: chat.id, last_seq: chat.lastSeq });
    }
  }
  for (const [id, o] of offers) if (o.deadline < Date.now()) removeOffer(id, null);
}

// --- status -----------------------------------------------------------------------------

/** @param {string} s */
function setStatus(s) {
  status = s;
  const pill = $("status-pill");
  pill.textContent = s === "online" ? "Online" : "Away";
  pill.className = `status-pill ${s}`;
  const button = $("status-button");
  button.textContent = s === "online" ? "Go away" : "Go online";
  button.className = s === "online" ? "ghost small" : "primary small";
  $("offers-empty").textContent =
    s === "online" ? "No offers waiting. New chats appear here." : "You are away: go online to receive chats.";
  $("empty-hint").textContent =
    s === "online" ? "You are online: new chats arrive as offers on the left." : "Go online to receive offers.";
}

/** @param {"online"|"away"} s */
function sendStatus(s) {
  wanted = s;
  sessionStorage.setItem("console:status", s);
  socket.send({ type: "status", status: s, ref: socket.ref() });
}

$("status-button").addEventListener("click", () => {
  sendStatus(status === "online" ? "away" : "online");
  askNotifications();
});

// --- offers -----------------------------------------------------------------------------

/** @param {Frame} f */
function addOffer(f) {
  if (offers.has(f.offer_id)) return;
  const c = f.conversation;
  const name = c.visitor?.name || "Visitor";
  const now = Date.now();
  const countdown = el("span", { class: "countdown" });
  const waited = el("span", { class: "waited" });
  const accept = el("button", { type: "button", class: "primary small" }, "Accept");
  const decline = el("button", { type: "button", class: "ghost small" }, "Decline");
  const card = el(
    "article",
    { class: "offer-card", "aria-label": `Offer from ${name}` },
    el("div", { class: "offer-top" },
      el("strong", { class: "offer-name" }, name),
      countdown),
    el("div", { class: "offer-meta" },
      el("span", { class: "chip topic" }, c.topic),
      el("span", { class: "chip lang" }, String(c.language).toUpperCase()),
      waited),
    el("p", { class: "offer-preview" }, c.preview || "(no message yet)"),
    el("div", { class: "offer-buttons" }, decline, accept),
  );
  accept.addEventListener("click", () => acceptOffer(f.offer_id));
  decline.addEventListener("click", () => declineOffer(f.offer_id));
  offers.set(f.offer_id, {
    frame: f,
    deadline: now + Number(f.expires_in_s) * 1000,
    arrived: now - Number(c.waited_s || 0) * 1000,
    node: card,
  });
  $("offers").append(card);
  tickOffers();
  renderCounts();
  beep();
  if (document.hidden) notify(`New chat: ${name}`, c.preview || `${c.topic} · ${c.language}`);
}

function tickOffers() {
  const now = Date.now();
  for (const o of offers.values()) {
    const left = Math.max(0, Math.round((o.deadline - now) / 1000));
    const cd = /** @type {HTMLElement} */ (o.node.querySelector(".countdown"));
    cd.textContent = `${left} s left`;
    cd.classList.toggle("urgent", left <= 5);
    const waited = Math.round((now - o.arrived) / 1000);
    /** @type {HTMLElement} */ (o.node.querySelector(".waited")).textContent =
      `waited ${waited < 60 ? `${waited} s` : `${Math.floor(waited / 60)} min ${waited % 60} s`}`;
  }
}
setInterval(tickOffers, 1000);

/** @param {string} id @param {string|null} why */
function removeOffer(id, why) {
  const o = offers.get(id);
  if (!o) return;
  o.node.remove();
  offers.delete(id);
  refusals.delete(id);
  renderCounts();
  if (why) toast(why);
}

/** @param {string} id */
function acceptOffer(id) {
  const o = offers.get(id);
  if (!o) return;
  const ref = socket.ref();
  if (!socket.send({ type: "accept", offer_id: id, ref })) return toast("Not connected yet — try again in a moment.");
  asks.set(ref, { kind: "accept", offer: id });
  o.node.classList.add("busy");
  /** @type {HTMLElement} */ (o.node.querySelector("button.primary")).textContent = "Accepting…";
}

/** The hub could not take an accept just now: send it again while the offer stands (the
 * same offer id; accepting twice is one assignment), else let the offer go.
 * @param {string} id */
function acceptAgain(id) {
  const o = offers.get(id);
  if (!o) return;
  const n = (refusals.get(id) || 0) + 1;
  refusals.set(id, n);
  const wait = backoff(n);
  if (Date.now() + wait >= o.deadline) {
    removeOffer(id, "The server was too busy to take that chat in time; it goes to the next agent.");
    return;
  }
  window.setTimeout(() => {
    if (offers.has(id)) acceptOffer(id);
  }, wait);
}

/** @param {string} id */
function declineOffer(id) {
  const ref = socket.ref();
  if (!socket.send({ type: "decline", offer_id: id, ref })) return toast("Not connected yet — try again in a moment.");
  removeOffer(id, null);
}

// --- chats ------------------------------------------------------------------------------

/** @param {Frame} c @param {string} st @returns {Chat} */
function addChat(c, st) {
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
    draft: keep.draft(c.conversation_id),
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
  chats.set(chat.id, chat);
  loadContext(chat);
  renderTabs();
  if (!active) openChat(chat.id);
  return chat;
}

/** @param {Frame} f */
function onAssigned(f) {
  const ask = f.ref ? asks.get(f.ref) : undefined;
  if (ask) {
    asks.delete(f.ref);
    if (ask.offer) removeOffer(ask.offer, null);
  }
  let chat = chats.get(f.conversation_id);
  // Another agent took it (after our transfer, say): not ours any more.
  const toSomeoneElse = !ask && !f.conversation && f.agent?.display_name !== me.name;
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
  for (const [id, o] of offers) if (o.frame.conversation.conversation_id === f.conversation_id) removeOffer(id, null);
  if (typeof f.seq === "number") onEvent({ ...f, type: "assigned" });
  renderTabs();
  if (active === chat.id) renderHeader();
}

/** @param {Frame} f */
function onEvent(f) {
  const chat = chats.get(f.conversation_id);
  if (!chat) return;
  const seq = Number(f.seq);
  if (chat.seen.has(seq)) return;
  chat.seen.add(seq);
  if (seq > chat.lastSeq) chat.lastSeq = seq;
  if (f.type === "message" && f.client_id && chat.pending.has(f.client_id)) {
    const p = /** @type {{text: string, node: HTMLElement}} */ (chat.pending.get(f.client_id));
    chat.pending.delete(f.client_id);
    p.node.remove();
    keep.sent(f.client_id);
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
    if (active !== chat.id || document.hidden) {
      chat.unread += 1;
      if (document.hidden) notify(`${chat.name}`, String(f.text).slice(0, 120));
    }
    if (active === chat.id) {
      renderTyping();
      markRead(chat);
    }
    renderTabs();
  }
  if (f.type === "tagged") {
    chat.tags = f.tags || [];
    if (active === chat.id) {
      renderTags(chat);
      if ($("tags-dialog").open) renderTagDialog(chat);
    }
  }
  if (f.type === "closed") {
    chat.status = "closed";
    chatEnded(chat);
    renderTabs();
    if (active === chat.id) renderHeader();
  }
  if (f.type === "transferred" && f.by?.name === me.name && chat.status !== "closed") {
    // We handed it over: it leaves our list once the hub confirms.
    chat.status = "transferred";
    renderTabs();
    if (active === chat.id) renderHeader();
  }
  if (f.type === "message" && f.from?.role === "agent") refreshReadMarks(chat);
}

/** Keep the transcript in seq order whatever order replay and live frames came in.
 * @param {Chat} chat @param {HTMLElement} node @param {number} seq */
function insertBySeq(chat, node, seq) {
  node.dataset.seq = String(seq);
  const log = $("transcript");
  const before = chat.nodes.find((n) => Number(n.dataset.seq) > seq);
  if (before) {
    chat.nodes.splice(chat.nodes.indexOf(before), 0, node);
    if (active === chat.id) before.before(node);
  } else {
    chat.nodes.push(node);
    if (active === chat.id) {
      const firstPending = log.querySelector(".row.pending");
      if (firstPending) firstPending.before(node);
      else log.append(node);
      log.scrollTop = log.scrollHeight;
    }
  }
}

/** @param {Chat} chat @param {Frame} f @returns {HTMLElement|null} */
function renderEvent(chat, f) {
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
function refreshReadMarks(chat) {
  for (const node of chat.nodes) {
    if (!node.classList.contains("out")) continue;
    const r = node.querySelector(".receipt");
    if (r) r.textContent = Number(node.dataset.seq) <= chat.visitorRead ? "Read" : "Sent";
  }
}

/** @param {Frame} f */
function onRead(f) {
  const chat = chats.get(f.conversation_id);
  if (!chat || f.by?.role !== "visitor") return;
  chat.visitorRead = Math.max(chat.visitorRead, Number(f.seq));
  refreshReadMarks(chat);
}

/** @param {Frame} f */
function onTyping(f) {
  const chat = chats.get(f.conversation_id);
  if (!chat || f.by?.role === "agent") return;
  chat.visitorTyping = !!f.active;
  if (active === chat.id) renderTyping();
  renderTabs();
}

function renderTyping() {
  const chat = active ? chats.get(active) : null;
  $("typing").textContent = chat && chat.visitorTyping ? `${chat.name} is typing…` : "";
}

/** @type {Map<string, number>} pending `read` per chat */
const readTimers = new Map();

/** @param {Chat} chat */
function markRead(chat) {
  if (document.hidden || active !== chat.id) return;
  chat.unread = 0;
  // One `read` per 300 ms at most, with the highest seq (the hub rate-limits `read`).
  if (chat.maxVisitorSeq > chat.readSent && !readTimers.has(chat.id)) {
    readTimers.set(chat.id, window.setTimeout(() => {
      readTimers.delete(chat.id);
      if (chat.maxVisitorSeq > chat.readSent && socket.send({ type: "read", conversation_id: chat.id, seq: chat.maxVisitorSeq })) {
        chat.readSent = chat.maxVisitorSeq;
      }
    }, 300));
  }
  renderTabs();
}

document.addEventListener("visibilitychange", () => {
  const chat = active ? chats.get(active) : null;
  if (chat) markRead(chat);
});

/** @param {Frame} f */
function onResumed(f) {
  if (f.ref) asks.delete(f.ref); // a catch-up resume the hub allowed after all
  const chat = chats.get(f.conversation_id);
  if (!chat) return;
  chat.resumed = true;
  if (Number(f.last_seq) > chat.lastSeq) chat.lastSeq = Number(f.last_seq);
  // Re-send what was never acknowledged, with the same client_id: stored once.
  for (const clientId of chat.pending.keys()) transmit(chat, clientId);
  chat.readSent = 0;
  markRead(chat);
}

/** @param {Frame} f */
function onAck(f) {
  if (f.client_id) {
    for (const chat of chats.values()) {
      const p = chat.pending.get(f.client_id);
      if (p) p.node.classList.add("acked");
    }
    keep.sent(f.client_id); // stored by the hub: nothing to re-send after a reload
    refusals.delete(f.client_id);
  }
  const ask = f.ref ? asks.get(f.ref) : undefined;
  if (!ask) return;
  asks.delete(f.ref);
  const chat = ask.conv ? chats.get(ask.conv) : undefined;
  if (ask.kind === "transfer" && chat) {
    toast(`Chat with ${chat.name} transferred to ${ask.extra}.`);
    dropChat(chat.id);
  } else if (ask.kind === "note") {
    if (ask.conv) keep.setNote(ask.conv, "");
    toast("Note saved.");
  }
}

/** @param {Frame} f */
function onError(f) {
  const ask = f.ref ? asks.get(f.ref) : undefined;
  if (ask) asks.delete(f.ref);
  if (ask?.kind === "accept") {
    const id = /** @type {string} */ (ask.offer);
    if (RETRYABLE.has(f.code)) return acceptAgain(id);
    refusals.delete(id);
    removeOffer(id, f.code === "conflict" ? "Too late: that chat was taken or the offer expired." : f.message);
    return;
  }
  if (ask?.kind === "message" && ask.conv) {
    const chat = chats.get(ask.conv);
    const clientId = /** @type {string} */ (ask.extra);
    if (chat && chat.pending.has(clientId) && RETRYABLE.has(f.code)) {
      const n = (refusals.get(clientId) || 0) + 1;
      refusals.set(clientId, n);
      window.setTimeout(() => transmit(chat, clientId), backoff(n));
      return;
    }
  }
  if (ask?.kind === "transfer") {
    showTransferError(f.code === "not_found" ? "That agent is not available any more." : f.message);
    return;
  }
  if (ask?.kind === "catch-up" && ask.conv) {
    const chat = chats.get(ask.conv);
    if (chat) catchUp(chat);
    return;
  }
  if (ask?.kind === "tag") {
    const text = f.code === "not_found" && ask.extra ? `The tag “${ask.extra}” is not on this chat any more.` : f.message;
    if ($("tags-dialog").open) formError("tags-error", text);
    else toast(text);
    return;
  }
  if (ask?.kind === "note") {
    toast(`The note was not saved (${f.message}). It is kept in “Add note”.`);
    return;
  }
  if (f.code === "rate_limited") return toast("Slow down a little — too many actions at once.");
  toast(f.message || `Error: ${f.code}`);
}

/** @param {string} id */
function dropChat(id) {
  const ids = [...chats.keys()];
  const i = ids.indexOf(id);
  chats.delete(id);
  keep.forget(id);
  if (active === id) {
    active = null;
    const next = ids[i + 1] || ids[i - 1];
    if (next && chats.has(next)) openChat(next);
    else showEmpty();
  }
  renderTabs();
}

function showEmpty() {
  $("chat-panel").hidden = true;
  $("context").hidden = true;
  $("empty-panel").hidden = false;
}

/** @param {string} id */
function openChat(id) {
  const chat = chats.get(id);
  if (!chat) return;
  const box = $("message");
  if (active && chats.has(active)) saveDraft(/** @type {Chat} */ (chats.get(active)));
  stopTyping();
  active = id;
  $("empty-panel").hidden = true;
  $("chat-panel").hidden = false;
  $("context").hidden = false;
  const log = $("transcript");
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

/** @param {Chat} chat */
function saveDraft(chat) {
  chat.draft = $("message").value;
  if (!signingOut) keep.setDraft(chat.id, chat.draft);
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
  keep.setDraft(chat.id, "");
  keep.clearOutbox(chat.id);
}

/** A chat we show but may no longer resume (it ended or went to someone else while we were
 * away): read what we missed from the transcript API, then close it here.
 * @param {Chat} chat */
async function catchUp(chat) {
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
    if (active === chat.id) renderHeader();
  }
}

/** Messages sent but never acknowledged before the page went away: shown as "Sending…" and
 * re-sent with the same client_id after the resume (the replay drops any the hub has).
 * @param {Chat} chat */
function restoreOutbox(chat) {
  for (const m of keep.outbox(chat.id)) {
    if (chat.pending.has(m.client_id)) continue;
    const node = pendingNode(m.text);
    chat.pending.set(m.client_id, { text: m.text, node });
    if (active === chat.id) $("transcript").append(node);
  }
}

/** @param {string} text */
function pendingNode(text) {
  return el("div", { class: "row msg out pending" },
    el("div", { class: "bubble" }, text),
    el("div", { class: "meta" }, el("span", { class: "who" }, me.name), el("span", { class: "receipt" }, "Sending…")));
}

function renderHeader() {
  const chat = active ? chats.get(active) : null;
  if (!chat) return;
  $("chat-title").textContent = chat.name;
  $("chat-panel").setAttribute("aria-label", `Chat with ${chat.name}`);
  const state = chat.status === "closed" ? "Ended" : chat.status === "transferred" ? "Transferred" : "Active";
  $("chat-sub").textContent = [chat.topic, chat.language && chat.language.toUpperCase(), state].filter(Boolean).join(" · ");
  const open = chat.status === "active" || chat.status === "offered" || chat.status === "queued";
  for (const b of ["note-button", "tags-button", "transfer-button", "end-button"]) $(b).hidden = !open && b !== "note-button" && b !== "tags-button";
  $("end-button").hidden = !open;
  $("transfer-button").hidden = !open;
  $("dismiss-button").hidden = open;
  $("message").disabled = !open;
  $("send-button").disabled = !open;
  $("message").placeholder = open ? "Type a reply… (/ for canned responses, Shift+Enter for a new line)" : "This chat has ended.";
}

function renderTabs() {
  const list = $("chat-tabs");
  const tabs = [];
  let i = 0;
  for (const chat of chats.values()) {
    i += 1;
    const selected = chat.id === active;
    const badge = chat.unread > 0 ? el("span", { class: "badge" }, String(chat.unread), el("span", { class: "sr-only" }, " unread")) : "";
    const state = chat.status === "closed" ? el("span", { class: "tab-state" }, "Ended") : chat.visitorTyping ? el("span", { class: "tab-state typing-dot" }, "typing…") : "";
    const tab = el("button", {
      type: "button", role: "tab", id: `tab-${chat.id}`, class: `chat-tab ${selected ? "selected" : ""} ${chat.status}`,
      "aria-selected": selected ? "true" : "false", tabindex: selected ? "0" : "-1", "data-conv": chat.id,
      title: `Alt+${i}`,
    },
    el("span", { class: "avatar small", "aria-hidden": "true" }, chat.name.slice(0, 1).toUpperCase()),
    el("span", { class: "tab-text" }, el("span", { class: "tab-name" }, chat.name), el("span", { class: "tab-sub" }, chat.topic)),
    state, badge);
    tab.addEventListener("click", () => openChat(chat.id));
    tabs.push(tab);
  }
  list.replaceChildren(...tabs);
  $("chats-empty").hidden = chats.size > 0;
  renderCounts();
}

function renderCounts() {
  let unread = 0;
  for (const c of chats.values()) unread += c.unread;
  document.title = unread > 0 ? `(${unread}) Console` : "Console";
  const count = $("offer-count");
  count.hidden = offers.size === 0;
  count.textContent = String(offers.size);
  $("offers-empty").hidden = offers.size > 0;
}

/** @param {Chat} chat */
function renderTags(chat) {
  const row = $("chat-tags");
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

// --- sending ----------------------------------------------------------------------------

function sendMessage() {
  const chat = active ? chats.get(active) : null;
  const box = $("message");
  const text = box.value.trim();
  if (!chat || !text || chat.status !== "active") return;
  const clientId = uuid();
  const node = pendingNode(text);
  chat.pending.set(clientId, { text, node });
  // Kept until the hub acknowledges it, so a reload or a closed tab re-sends it.
  keep.addUnsent(chat.id, clientId, text);
  $("transcript").append(node);
  $("transcript").scrollTop = $("transcript").scrollHeight;
  box.value = "";
  chat.draft = "";
  keep.setDraft(chat.id, "");
  stopTyping();
  // Sent now if connected; otherwise kept and re-sent after the reconnect's resume.
  if (chat.resumed) transmit(chat, clientId);
}

/** Send (again) a message not yet acknowledged, under its client_id.
 * @param {Chat} chat @param {string} clientId */
function transmit(chat, clientId) {
  const p = chat.pending.get(clientId);
  if (!p || !chat.resumed || chat.status !== "active") return;
  const ref = socket.ref();
  if (socket.send({ type: "message", conversation_id: chat.id, client_id: clientId, text: p.text, ref })) {
    asks.set(ref, { kind: "message", conv: chat.id, extra: clientId });
  }
}

function stopTyping() {
  clearTimeout(typingTimer);
  if (typingSent && active) socket.send({ type: "typing", conversation_id: active, active: false });
  typingSent = false;
}

$("composer").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  sendMessage();
});

$("message").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
  const menu = $("canned-menu");
  if (!menu.hidden) {
    const items = menu.querySelectorAll("li");
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      cannedIndex = (cannedIndex + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
      highlightCanned();
      return;
    }
    if ((e.key === "Enter" || e.key === "Tab") && items.length > 0) {
      e.preventDefault();
      insertCanned(Number(items[cannedIndex].dataset.id));
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

$("message").addEventListener("input", () => {
  const chat = active ? chats.get(active) : null;
  if (!chat) return;
  saveDraft(chat);
  updateCanned();
  const box = $("message");
  if (box.value.trim() && !typingSent) {
    typingSent = socket.send({ type: "typing", conversation_id: chat.id, active: true });
  }
  clearTimeout(typingTimer);
  typingTimer = window.setTimeout(stopTyping, box.value.trim() ? 4000 : 0);
});

// --- canned responses -------------------------------------------------------------------

async function loadCanned() {
  const r = await api("GET", "/api/v1/canned");
  if (r.ok) canned = r.data.canned;
  return r;
}

function updateCanned() {
  const box = $("message");
  const m = /^\/([\w-]*)$/.exec(box.value);
  if (!m) return closeCanned();
  const q = m[1].toLowerCase();
  const found = canned.filter((c) => c.shortcut.startsWith(q) || c.text.toLowerCase().includes(q)).slice(0, 8);
  const menu = $("canned-menu");
  if (found.length === 0) {
    menu.replaceChildren(el("li", { class: "empty", role: "option", "aria-disabled": "true" }, canned.length ? "No matching response" : "No canned responses yet — add some with “Canned responses”."));
    menu.hidden = false;
    cannedIndex = 0;
    return;
  }
  cannedIndex = Math.min(cannedIndex, found.length - 1);
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
  const items = /** @type {NodeListOf<HTMLLIElement>} */ ($("canned-menu").querySelectorAll("li"));
  items.forEach((li, i) => li.setAttribute("aria-selected", i === cannedIndex ? "true" : "false"));
  if (items[cannedIndex]) $("message").setAttribute("aria-activedescendant", items[cannedIndex].id);
}

function closeCanned() {
  $("canned-menu").hidden = true;
  $("message").removeAttribute("aria-activedescendant");
  cannedIndex = 0;
}

/** @param {number} id */
function insertCanned(id) {
  const c = canned.find((x) => x.id === id);
  if (!c) return;
  const box = $("message");
  box.value = c.text;
  closeCanned();
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
  const chat = active ? chats.get(active) : null;
  if (chat) saveDraft(chat);
}

function renderCannedList() {
  const list = $("canned-list");
  const admin = root.dataset.admin === "true";
  if (canned.length === 0) {
    list.replaceChildren(el("li", { class: "muted" }, "No canned responses yet."));
    return;
  }
  list.replaceChildren(...canned.map((c) => {
    const mayChange = !c.shared || admin;
    const edit = el("button", { type: "button", class: "ghost small", "aria-label": `Edit /${c.shortcut}` }, "Edit");
    edit.addEventListener("click", () => editCanned(c));
    const del = el("button", { type: "button", class: "ghost small", "aria-label": `Delete /${c.shortcut}` }, "Delete");
    del.addEventListener("click", async () => {
      const r = await api("DELETE", `/api/v1/canned/${c.id}`);
      if (!r.ok) return formError("canned-error", r.message);
      if (cannedEditing === c.id) resetCannedForm();
      await loadCanned();
      renderCannedList();
    });
    return el("li", { class: cannedEditing === c.id ? "editing" : "" },
      el("span", { class: "shortcut" }, `/${c.shortcut}`),
      el("span", { class: "canned-text", title: c.text }, c.text),
      c.shared ? el("span", { class: "chip small" }, "shared") : "",
      mayChange ? el("span", { class: "canned-buttons" }, edit, del) : "");
  }));
}

/** The id of the response the form is editing, or null when it adds a new one. @type {number|null} */
let cannedEditing = null;

/** @param {{id:number, shortcut:string, text:string, shared:boolean}} c */
function editCanned(c) {
  cannedEditing = c.id;
  $("canned-form-title").textContent = `Edit /${c.shortcut}`;
  $("canned-submit").textContent = "Save changes";
  $("canned-cancel-edit").hidden = false;
  const shared = /** @type {HTMLInputElement|null} */ (document.getElementById("canned-shared"));
  if (shared) {
    shared.checked = c.shared;
    shared.disabled = true; // an edit keeps it shared or personal
  }
  $("canned-shortcut").value = c.shortcut;
  $("canned-text").value = c.text;
  formError("canned-error", "");
  renderCannedList();
  $("canned-text").focus();
}

function resetCannedForm() {
  cannedEditing = null;
  $("canned-form-title").textContent = "New response";
  $("canned-submit").textContent = "Add response";
  $("canned-cancel-edit").hidden = true;
  const shared = /** @type {HTMLInputElement|null} */ (document.getElementById("canned-shared"));
  if (shared) {
    shared.checked = false;
    shared.disabled = false;
  }
  $("canned-shortcut").value = "";
  $("canned-text").value = "";
}

$("canned-button").addEventListener("click", async () => {
  resetCannedForm();
  await loadCanned();
  renderCannedList();
  formError("canned-error", "");
  $("canned-dialog").showModal();
  $("canned-shortcut").focus();
});

$("canned-cancel-edit").addEventListener("click", () => {
  resetCannedForm();
  formError("canned-error", "");
  renderCannedList();
  $("canned-shortcut").focus();
});

$("canned-form").addEventListener("submit", async (/** @type {Event} */ e) => {
  e.preventDefault();
  const body = {
    shortcut: $("canned-shortcut").value.trim().replace(/^\//, ""),
    text: $("canned-text").value,
  };
  const shared = /** @type {HTMLInputElement|null} */ (document.getElementById("canned-shared"));
  const r = cannedEditing === null
    ? await api("POST", "/api/v1/canned", { ...body, shared: shared ? shared.checked : false })
    : await api("PUT", `/api/v1/canned/${cannedEditing}`, body);
  if (!r.ok) return formError("canned-error", r.message);
  formError("canned-error", "");
  resetCannedForm();
  await loadCanned();
  renderCannedList();
  toast(`Saved /${r.data.shortcut}.`);
});

// --- note, tags, transfer, end ----------------------------------------------------------

/** @param {string} kind @param {Frame} frame @param {string=} extra */
function ask(kind, frame, extra) {
  const ref = socket.ref();
  if (!socket.send({ ...frame, ref })) {
    toast("Not connected — try again once the console has reconnected.");
    return false;
  }
  asks.set(ref, { kind, conv: frame.conversation_id, extra });
  return true;
}

/** The chat whose note the dialog is writing. @type {string|null} */
let noteConv = null;
$("note-button").addEventListener("click", () => {
  if (!active) return;
  noteConv = active;
  $("note-text").value = keep.note(active);
  formError("note-error", "");
  $("note-dialog").showModal();
  $("note-text").focus();
});

$("note-form").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  const text = $("note-text").value.trim();
  if (!text) return formError("note-error", "Write the note first.");
  if (text.length > 4000) return formError("note-error", "A note can be at most 4 000 characters.");
  if (active && ask("note", { type: "note", conversation_id: active, text })) $("note-dialog").close();
});

$("note-text").addEventListener("input", () => {
  if (noteConv) keep.setNote(noteConv, $("note-text").value);
});

/** @type {string[]} */
let tagSuggestions = [];
$("tags-button").addEventListener("click", async () => {
  const chat = active ? chats.get(active) : null;
  if (!chat) return;
  formError("tags-error", "");
  $("tag-input").value = "";
  renderTagDialog(chat);
  $("tags-dialog").showModal();
  $("tag-input").focus();
  const r = await api("GET", "/api/v1/tags");
  if (r.ok) {
    tagSuggestions = r.data.tags;
    renderTagDialog(chat);
  }
});

/** @param {Chat} chat */
function renderTagDialog(chat) {
  $("tags-current").replaceChildren(...(chat.tags.length ? chat.tags.map((t) => tagChip(chat, t)) : [el("span", { class: "muted small-text" }, "No tags yet.")]));
  const fresh = tagSuggestions.filter((t) => !chat.tags.includes(t));
  $("tag-suggestions").replaceChildren(...fresh.map((t) => el("option", { value: t })));
  $("tag-suggest-buttons").replaceChildren(...fresh.slice(0, 12).map((t) => {
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
  if (active && ask("tag", { type: "tag", conversation_id: active, tags: clean })) $("tags-dialog").close();
}

$("tags-form").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  addTags($("tag-input").value.split(","));
});

$("transfer-button").addEventListener("click", async () => {
  if (!active) return;
  formError("transfer-error", "");
  const chat = /** @type {Chat} */ (chats.get(active));
  $("transfer-topics").replaceChildren(...TOPICS.map((t) => radio("transfer-target", `topic:${t}`, `${t[0].toUpperCase()}${t.slice(1)} queue`, t === chat.topic ? "current topic" : "")));
  $("transfer-agents").replaceChildren(el("p", { class: "muted small-text" }, "Loading…"));
  $("transfer-dialog").showModal();
  const r = await api("GET", "/api/v1/agents/online");
  const agents = r.ok ? r.data.agents : [];
  $("transfer-agents").replaceChildren(...agents.map((/** @type {any} */ a) => radio("transfer-target", `agent:${a.username}`, a.display_name, `${a.load}/${a.capacity} chats`)));
  $("transfer-agents-empty").hidden = agents.length > 0;
});

/** @param {string} name @param {string} value @param {string} label @param {string} hint */
function radio(name, value, label, hint) {
  const input = el("input", { type: "radio", name, value });
  return el("label", { class: "choice" }, input, el("span", {}, label), hint ? el("span", { class: "muted small-text" }, hint) : "");
}

/** @param {string} text */
function showTransferError(text) {
  formError("transfer-error", text);
  if (!$("transfer-dialog").open) toast(text);
}

$("transfer-form").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  const picked = /** @type {HTMLInputElement|null} */ ($("transfer-form").querySelector("input[name=transfer-target]:checked"));
  if (!picked) return formError("transfer-error", "Choose an agent or a topic.");
  if (!active) return;
  const [kind, target] = picked.value.split(/:(.*)/s);
  const label = /** @type {HTMLElement} */ (picked.nextElementSibling).textContent || target;
  const frame = kind === "agent" ? { type: "transfer", conversation_id: active, to_agent: target } : { type: "transfer", conversation_id: active, to_topic: target };
  if (ask("transfer", frame, label)) $("transfer-dialog").close();
});

function endChat() {
  if (!active) return;
  const chat = chats.get(active);
  if (!chat || chat.status !== "active") return;
  ask("close", { type: "close", conversation_id: active });
}
$("end-button").addEventListener("click", endChat);
$("dismiss-button").addEventListener("click", () => active && dropChat(active));

// --- visitor context --------------------------------------------------------------------

/** @param {Chat} chat */
async function loadContext(chat) {
  const r = await api("GET", `/api/v1/conversations/${encodeURIComponent(chat.id)}/context`);
  if (!r.ok) return;
  chat.context = r.data;
  if (r.data.visitor?.name && chat.name === "Visitor") chat.name = r.data.visitor.name;
  chat.topic = chat.topic || r.data.topic;
  chat.language = chat.language || r.data.language;
  if (!chat.tagsFromEvents) chat.tags = r.data.tags || [];
  renderTabs();
  if (active === chat.id) {
    renderContext(chat);
    renderHeader();
    renderTags(chat);
  }
}

/** @param {Chat} chat */
function renderContext(chat) {
  const c = chat.context;
  $("ctx-name").textContent = c?.visitor?.name || chat.name || "—";
  $("ctx-email").textContent = c?.visitor?.email || "—";
  $("ctx-topic").textContent = c?.topic || chat.topic || "—";
  $("ctx-language").textContent = (c?.language || chat.language || "—").toUpperCase();
  const page = $("ctx-page");
  if (c?.page_url) {
    page.replaceChildren(el("a", { href: c.page_url, target: "_blank", rel: "noopener noreferrer" }, c.page_url));
  } else page.textContent = "—";
  const earlier = c?.earlier || [];
  $("ctx-earlier-empty").hidden = earlier.length > 0;
  $("ctx-earlier").replaceChildren(...earlier.map((/** @type {any} */ e) => {
    const when = new Date(e.created_at).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
    const b = el("button", { type: "button", class: "earlier-item", "aria-label": `Open transcript of ${when} (${e.topic})` },
      el("span", {}, when), el("span", { class: "chip small" }, e.topic), el("span", { class: "muted small-text" }, e.status));
    b.addEventListener("click", () => openEarlier(chat, e.conversation_id));
    return el("li", {}, b);
  }));
}

/** @param {Chat} chat @param {string} earlierId */
async function openEarlier(chat, earlierId) {
  const r = await api("GET", `/api/v1/conversations/${encodeURIComponent(chat.id)}/earlier/${encodeURIComponent(earlierId)}`);
  if (!r.ok) return toast(r.message);
  const topic = String(r.data.topic || "");
  const when = new Date(r.data.created_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  showTranscript(`Earlier conversation · ${topic.charAt(0).toUpperCase()}${topic.slice(1)}`, when, r.data.events);
}

/** @param {string} title @param {string} sub @param {any[]} events */
function showTranscript(title, sub, events) {
  $("history-dialog-title").textContent = title;
  $("history-sub").textContent = sub;
  $("history-log").replaceChildren(...events.map((ev) => {
    if (ev.kind === "message") {
      const role = ev.from?.role;
      return el("div", { class: `row msg ${role === "agent" ? "out" : role === "visitor" ? "in" : "system"}` },
        el("div", { class: "bubble" }, ev.body.text), el("div", { class: "meta" }, el("span", { class: "who" }, ev.from?.name || role), el("time", {}, formatClock(ev.ts))));
    }
    if (ev.kind === "note") return el("div", { class: "row note" }, el("div", { class: "note-label" }, "Internal note"), el("div", { class: "bubble" }, ev.body.text));
    return el("div", { class: "row system" }, el("span", {}, ev.kind === "closed" ? "Chat ended" : ev.kind));
  }));
  $("history-dialog").showModal();
}

// --- a conversation named in the address (#c_…): open it, or say why not ----------------

async function openFromHash() {
  const id = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (!id) return;
  if (chats.has(id)) return openChat(id);
  const r = await api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
  if (r.status === 403) return pageError("You cannot open this conversation: it was not assigned to you.");
  if (r.status === 404) return pageError("There is no such conversation.");
  if (!r.ok) return pageError(r.message);
  showTranscript("Conversation", `${r.data.conversation.topic} · ${r.data.conversation.status}`, r.data.events);
}
window.addEventListener("hashchange", openFromHash);

// --- keyboard shortcuts -----------------------------------------------------------------

document.addEventListener("keydown", (e) => {
  const target = /** @type {HTMLElement} */ (e.target);
  const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT");
  if (document.querySelector("dialog[open]")) return;
  if (e.altKey && !e.ctrlKey && !e.metaKey) {
    const ids = [...chats.keys()];
    const k = e.key.toLowerCase();
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (ids.length === 0) return;
      const i = active ? ids.indexOf(active) : -1;
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
      const first = [...offers.values()].sort((a, b) => a.deadline - b.deadline)[0];
      if (first) acceptOffer(first.frame.offer_id);
      return;
    }
    if (k === "m" || e.code === "KeyM") {
      e.preventDefault();
      $("message").focus();
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
    $("help-dialog").showModal();
  }
});

$("help-button").addEventListener("click", () => $("help-dialog").showModal());
$("chat-tabs").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
  if (e.altKey) return;
  e.preventDefault();
  const ids = [...chats.keys()];
  const i = active ? ids.indexOf(active) : -1;
  const next = ids[(i + (e.key === "ArrowDown" ? 1 : -1) + ids.length) % ids.length];
  openChat(next);
  document.getElementById(`tab-${next}`)?.focus();
});

for (const b of document.querySelectorAll("dialog [data-close]")) {
  b.addEventListener("click", () => /** @type {HTMLDialogElement} */ (b.closest("dialog")).close());
}

// --- notifications, toasts, errors, sign-out --------------------------------------------

function askNotifications() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  $("notify-button").hidden = false;
}
$("notify-button").addEventListener("click", async () => {
  try {
    await Notification.requestPermission();
  } finally {
    $("notify-button").hidden = true;
  }
});

/** @param {string} text */
function toast(text) {
  const t = el("div", { class: "toast" }, text);
  $("toasts").append(t);
  setTimeout(() => t.remove(), 5000);
}

/** @param {string} id @param {string} text */
function formError(id, text) {
  const box = $(id);
  box.textContent = text;
  box.hidden = !text;
}

/** @param {string} text */
function pageError(text) {
  const box = $("page-error");
  box.textContent = text;
  box.hidden = false;
}

$("signout-button").addEventListener("click", async () => {
  signingOut = true;
  socket.stop();
  try {
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
  } finally {
    sessionStorage.clear();
    keep.forgetAll(); // nothing typed stays behind on a shared computer
    location.assign("/login");
  }
});

window.addEventListener("beforeunload", () => {
  const chat = active ? chats.get(active) : null;
  if (chat) saveDraft(chat);
});

// --- start ------------------------------------------------------------------------------

loadCanned();
socket.connect();
openFromHash();
/** @type {any} */ (window).__console = { chats, offers, socket };
