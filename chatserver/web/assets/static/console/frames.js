// What comes in from the hub and where it goes: the agent's socket, the frame dispatcher, the
// welcome (status, the chats we hold, catch-up after a reconnect), and the answers to what we
// asked (ack and error, matched by ref).

import { backoff } from "../../../widget/app/connection.js";
import { addChat, catchUp, dropChat, onAssigned, onEvent, onRead, onResumed, onTyping, restoreOutbox } from "./chats.js";
import { transmit } from "./composer.js";
import { byId, formError, toast } from "./dom.js";
import { acceptAgain, addOffer, removeOffer } from "./offers.js";
import { AgentSocket } from "./socket.js";
import { state } from "./state.js";
import { sendStatus, setStatus } from "./status.js";
import { showTransferError } from "./transfer.js";

/** @typedef {import("./state.js").Frame} Frame */

// Errors after which the same frame is sent again by itself (accept by offer id, a message by
// its client_id: both idempotent on the hub), after a back-off with jitter that grows each time.
const RETRYABLE = new Set(["unavailable", "rate_limited", "internal"]);
/** Again after the n-th refusal (n >= 1): from 0.5 s doubling to 8 s, from the upper half. */
const RESEND = { base: 500, cap: 8000 };

/** How long to wait before sending again what the hub refused for now, the n-th time.
 * @param {number} n */
export function resendDelay(n) {
  return backoff(n - 1, Math.random, RESEND);
}

export const socket = new AgentSocket({
  getToken: async () => {
    const r = await fetch("/api/v1/session", { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) return null;
    if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
    return (await r.json()).token;
  },
  onFrame: (f) => handle(f),
  onState: (s) => {
    const box = byId("connection");
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
    byId("status-button").disabled = s !== "open";
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
      state.wanted = f.status;
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
  if (state.wanted && state.wanted !== state.status) sendStatus(state.wanted);
  const held = new Set();
  for (const c of f.conversations || []) {
    held.add(c.conversation_id);
    let chat = state.chats.get(c.conversation_id);
    if (!chat) chat = addChat({ conversation_id: c.conversation_id }, c.status);
    chat.resumed = false;
    if (!state.restored) restoreOutbox(chat);
    socket.send({ type: "resume", conversation_id: chat.id, last_seq: chat.lastSeq });
  }
  if (!state.restored) {
    // What was kept for chats we no longer hold (ended or transferred while the page was
    // away) can never be sent: forget it.
    for (const conv of state.keep.conversations()) if (!held.has(conv)) state.keep.forget(conv);
    state.restored = true;
  }
  // Chats we still show but no longer hold (closed meanwhile): fetch what we missed. The hub
  // may refuse the resume (the chat is no longer ours): then catchUp() reads it over HTTP.
  for (const chat of state.chats.values()) {
    if (!held.has(chat.id) && chat.status !== "closed") {
      ask("catch-up", { type: "resume", conversation_id: chat.id, last_seq: chat.lastSeq });
    }
  }
  for (const [id, o] of state.offers) if (o.deadline < Date.now()) removeOffer(id, null);
}

/** @param {Frame} f */
function onAck(f) {
  if (f.client_id) {
    for (const chat of state.chats.values()) {
      const p = chat.pending.get(f.client_id);
      if (p) p.node.classList.add("acked");
    }
    state.keep.sent(f.client_id); // stored by the hub: nothing to re-send after a reload
    state.refusals.delete(f.client_id);
  }
  const ask = f.ref ? state.asks.get(f.ref) : undefined;
  if (!ask) return;
  state.asks.delete(f.ref);
  const chat = ask.conv ? state.chats.get(ask.conv) : undefined;
  if (ask.kind === "transfer" && chat) {
    toast(`Chat with ${chat.name} transferred to ${ask.extra}.`);
    dropChat(chat.id);
  } else if (ask.kind === "note") {
    if (ask.conv) state.keep.setNote(ask.conv, "");
    toast("Note saved.");
  }
}

/** @param {Frame} f */
function onError(f) {
  const ask = f.ref ? state.asks.get(f.ref) : undefined;
  if (ask) state.asks.delete(f.ref);
  if (ask?.kind === "accept") {
    const id = /** @type {string} */ (ask.offer);
    if (RETRYABLE.has(f.code)) return acceptAgain(id);
    state.refusals.delete(id);
    removeOffer(id, f.code === "conflict" ? "Too late: that chat was taken or the offer expired." : f.message);
    return;
  }
  if (ask?.kind === "message" && ask.conv) {
    const chat = state.chats.get(ask.conv);
    const clientId = /** @type {string} */ (ask.extra);
    if (chat && chat.pending.has(clientId) && RETRYABLE.has(f.code)) {
      const n = (state.refusals.get(clientId) || 0) + 1;
      state.refusals.set(clientId, n);
      window.setTimeout(() => transmit(chat, clientId), resendDelay(n));
      return;
    }
  }
  if (ask?.kind === "transfer") {
    showTransferError(f.code === "not_found" ? "That agent is not available any more." : f.message);
    return;
  }
  if (ask?.kind === "catch-up" && ask.conv) {
    const chat = state.chats.get(ask.conv);
    if (chat) catchUp(chat);
    return;
  }
  if (ask?.kind === "tag") {
    const text = f.code === "not_found" && ask.extra ? `The tag “${ask.extra}” is not on this chat any more.` : f.message;
    if (byId("tags-dialog").open) formError("tags-error", text);
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

/** @param {string} kind @param {Frame} frame @param {string=} extra */
export function ask(kind, frame, extra) {
  const ref = socket.ref();
  if (!socket.send({ ...frame, ref })) {
    toast("Not connected — try again once the console has reconnected.");
    return false;
  }
  state.asks.set(ref, { kind, conv: frame.conversation_id, extra });
  return true;
}
