// @ts-check
/**
 * The visitor's side of the chat protocol (docs/protocol.md): what to send when, and what each
 * frame means for `SessionState` (state.js). No DOM. Reliability: one conversation at a time; a
 * message is kept under its `client_id` until its `ack` and sent again after each `resumed`;
 * stored events show once, in `seq` order, a hole asks for `resume`; a retryable error sends the
 * same frame again after a growing, jittered back-off.
 */
import { Connection, backoff, uuid } from "./connection.js";
import { SessionState } from "./state.js";

const RETRYABLE = new Set(["unavailable", "rate_limited", "internal"]);
const TYPING_IDLE_MS = 3000;
const READ_EVERY_MS = 300;
const AGENT_TYPING_MS = 10000;

export class Session extends SessionState {
  /** @param {import("./state.js").StateOptions & {url: string}} opts */
  constructor(opts) {
    super(opts);
    this.welcomed = false;
    this.resuming = false;
    this.replaying = false;
    this.typingSent = false;
    this.typingTimer = 0;
    this.agentTypingTimer = 0;
    this.readTimer = 0;
    /** @type {Set<string>} client_ids sent on the current socket and not yet acknowledged */
    this.inflight = new Set();
    /** @type {Map<string, number>} retryable refusals so far, by what was refused ("s", "l", a client_id) */
    this.refusals = new Map();
    this.connection = new Connection({
      url: opts.url,
      onOpen: () => this.hello(),
      onFrame: (f) => this.receive(f),
      onState: (state) => {
        this.conn = state;
        if (state !== "open") {
          this.welcomed = false;
          this.resuming = false;
          this.inflight.clear();
        }
        this.changed();
      },
      onRefused: (code) => this.refused(code),
    });
    const saved = this.store.data;
    if (saved.conv) this.restore();
    if (saved.token) this.connection.start();
    addEventListener("storage", (e) => {
      if (e.key === this.store.key) this.otherTab();
    });
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  get ready() {
    return this.connection.isOpen && this.welcomed && !this.resuming && !!this.conv;
  }

  // -- sending -------------------------------------------------------------------------------
  /** @param {any} frame */
  send(frame) {
    return this.connection.send(frame);
  }

  hello() {
    this.send({ type: "hello", token: this.store.data.token, site: this.site || null, ref: "h" });
  }

  /** The host's proof of who the visitor is, after each `welcome` */
  sendIdentify() {
    const w = this.identity;
    if (w && (w.user_id || w.token)) this.send({ ...w, type: "identify", ref: "i" });
  }

  /** @param {any} who */
  identify(who) {
    super.identify(who);
    if (this.welcomed) this.sendIdentify();
    else if (who.user_id || who.token) this.connection.start();
  }

  /** @param {boolean} [initial] the first replay of a conversation this page has not shown yet */
  resume(initial = false) {
    if (!this.conv) return;
    this.resuming = true;
    this.replaying = initial;
    this.send({ type: "resume", conversation_id: this.conv, last_seq: this.transcript.lastSeq, ref: "u" });
  }

  /** After `resumed`: everything held back goes out, in the order it was asked for. */
  flush() {
    for (const item of this.transcript.pending()) if (item.clientId) this.transmit(item.clientId);
    if (this.pendingLeave) this.leave(this.pendingLeave);
    if (this.pendingHandoff) this.handoff();
    if (this.pendingClose) this.end();
    if (this.pendingRate) this.rate(this.pendingRate.score, this.pendingRate.comment);
  }

  /** @param {string} clientId */
  transmit(clientId) {
    const item = this.transcript.byClient.get(clientId);
    if (!item || item.seq !== null || !this.ready || this.inflight.has(clientId)) return;
    this.inflight.add(clientId);
    this.send({ type: "message", conversation_id: this.conv, client_id: clientId, text: item.text, ref: "m:" + clientId });
  }

  // -- what the visitor does -----------------------------------------------------------------
  /** @param {import("./state.js").StartForm} form */
  start(form) {
    this.pendingStart = form;
    this.errors.start = null;
    this.phase = "starting";
    if (this.connection.isOpen && this.welcomed && !this.conv) this.sendStart();
    else this.connection.start();
    this.changed();
  }

  sendStart() {
    const f = this.pendingStart;
    if (!f) return;
    /** @type {Record<string, any>} */
    const frame = { type: "start", topic: f.topic, language: f.language, ref: "s" };
    if (f.name) frame.name = f.name;
    if (f.email) frame.email = f.email;
    if (f.page_url) frame.page_url = f.page_url;
    this.send(frame);
  }

  /** @param {string} text */
  say(text) {
    text = text.trim();
    if (!text || !this.conv) return;
    const clientId = uuid();
    this.transcript.addPending(clientId, text);
    this.store.save({ outbox: [...this.store.data.outbox, { client_id: clientId, text }] });
    this.stopTyping();
    this.transmit(clientId);
    this.changed();
  }

  /** The visitor is typing: `typing` only when the state changes. */
  typed() {
    if (!this.ready || this.phase === "ended") return;
    if (!this.typingSent) {
      this.typingSent = this.send({ type: "typing", conversation_id: this.conv, active: true });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = window.setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSent && this.ready) this.send({ type: "typing", conversation_id: this.conv, active: false });
    this.typingSent = false;
  }

  end() {
    if (!this.conv || this.phase === "ended") return;
    this.pendingClose = true;
    this.stopTyping();
    if (this.ready) this.send({ type: "close", conversation_id: this.conv, ref: "c" });
    this.changed();
  }

  /** Ask for a person instead of the bot. */
  handoff() {
    if (!this.conv || !this.bot) return;
    this.pendingHandoff = true;
    if (this.ready) this.send({ type: "handoff", conversation_id: this.conv, ref: "p" });
    this.changed();
  }

  /** The bot let go (asked for, its own call, a timeout): back to waiting for a person. */
  handedOver() {
    this.bot = this.pendingHandoff = false;
    if (this.phase === "chat") {
      this.phase = "waiting";
      this.agent = null;
    }
  }

  /** @param {number} score @param {string} comment */
  rate(score, comment) {
    this.pendingRate = { score, comment };
    this.errors.rate = null;
    if (this.ready) {
      /** @type {Record<string, any>} */
      const frame = { type: "rate", conversation_id: this.conv, score, ref: "r" };
      if (comment.trim()) frame.comment = comment.trim();
      this.send(frame);
    }
    this.changed();
  }

  /** @param {{text: string, email: string, name?: string}} form */
  leave(form) {
    this.pendingLeave = form;
    this.errors.leave = null;
    const saved = this.store.data;
    if (this.ready && saved.topic && saved.language) {
      /** @type {Record<string, any>} */
      const frame = {
        type: "leave_message",
        topic: saved.topic,
        language: saved.language,
        text: form.text,
        email: form.email,
        conversation_id: this.conv,
        ref: "l",
      };
      if (form.name) frame.name = form.name;
      this.send(frame);
    }
    this.changed();
  }

  newChat() {
    this.forget();
    this.changed();
  }

  /** @param {boolean} open */
  setOpen(open) {
    this.panelOpen = open;
    this.markRead();
    this.changed();
  }

  markRead() {
    if (!this.panelOpen || document.visibilityState !== "visible" || !this.conv) return;
    const seq = this.transcript.lastIncoming();
    if (seq > this.store.data.readSeq) this.store.save({ readSeq: seq });
    // One `read` per READ_EVERY_MS at most (the hub rate-limits it): the highest seq by then.
    if (seq > this.sentRead && this.ready && !this.readTimer) {
      this.readTimer = window.setTimeout(() => {
        this.readTimer = 0;
        const last = this.transcript.lastIncoming();
        if (last > this.sentRead && this.ready && this.conv) {
          this.sentRead = last;
          this.send({ type: "read", conversation_id: this.conv, seq: last });
        }
      }, READ_EVERY_MS);
    }
    this.changed();
  }

  // -- what the hub says ---------------------------------------------------------------------
  /** @param {any} f */
  receive(f) {
    switch (f.type) {
      case "welcome":
        return this.welcome(f);
      case "identified": {
        this.onEvent("identify", { verified: f.verified, userId: f.user_id });
        const last = f.conversations.at(-1); // the user's latest, from any device
        if (f.verified && last && !this.conv && !this.pendingStart) {
          this.adopt(last.conversation_id);
          this.resume(true);
        }
        break;
      }
      case "resumed":
        if (f.conversation_id !== this.conv) return;
        this.transcript.caughtUp(f.last_seq);
        this.resuming = false;
        this.replaying = false;
        this.flush();
        this.markRead();
        break;
      case "queued":
        if (this.conv && this.conv !== f.conversation_id) return;
        this.refusals.delete("s");
        this.store.save({ topic: this.pendingStart?.topic || null, language: this.pendingStart?.language || null });
        this.adopt(f.conversation_id);
        this.queue = { position: f.position, eta_s: f.eta_s };
        this.onEvent("queue", { position: f.position, eta_s: f.eta_s });
        break;
      case "queue":
        if (f.conversation_id !== this.conv || this.phase === "ended") return;
        this.queue = { position: f.position, eta_s: f.eta_s };
        this.handedOver();
        this.onEvent("queue", { position: f.position, eta_s: f.eta_s });
        break;
      case "offline":
        if (f.conversation_id !== this.conv) return;
        this.offline = true;
        this.store.save({ offline: true, topic: f.topic || this.store.data.topic, language: f.language || this.store.data.language });
        break;
      case "assigned":
      case "message":
      case "closed":
        this.stored(f);
        break;
      case "typing":
        if (f.conversation_id !== this.conv || (f.by && f.by.role === "visitor")) return;
        this.typing = !!f.active;
        clearTimeout(this.agentTypingTimer);
        if (this.typing) this.agentTypingTimer = window.setTimeout(() => {
          this.typing = false;
          this.changed();
        }, AGENT_TYPING_MS);
        break;
      case "read":
        if (f.conversation_id !== this.conv || (f.by && f.by.role === "visitor")) return;
        if (this.transcript.agentRead(f.seq)) this.store.save({ agentRead: f.seq });
        break;
      case "ack":
        this.acked(f);
        break;
      case "error":
        this.failed(f);
        break;
      default:
        return;
    }
    this.changed();
  }

  /** @param {any} f */
  welcome(f) {
    this.store.save({ token: f.token });
    this.welcomed = true;
    this.inflight.clear();
    this.sendIdentify();
    /** @type {{conversation_id: string, status: string}[]} */
    const convs = f.conversations || [];
    const mine = this.conv ? convs.find((c) => c.conversation_id === this.conv) : undefined;
    const open = [...convs].reverse().find((c) => c.status !== "closed");
    const fresh = this.transcript.items.size === 0 || this.transcript.ordered().every((i) => i.seq === null);
    if (open && (!mine || mine.status === "closed")) {
      this.adopt(open.conversation_id); // opened elsewhere (another tab, a lost `queued`)
      this.resume(true);
    } else if (mine && !(mine.status === "closed" && this.rated)) {
      this.resume(fresh);
    } else {
      if (this.conv && this.phase !== "ended") this.forget();
      if (this.pendingStart) this.sendStart();
    }
    this.changed();
  }

  /** @param {any} f */
  stored(f) {
    if (f.conversation_id !== this.conv) return;
    const item = this.transcript.addStored(f);
    if (this.transcript.hasGap() && !this.resuming) this.resume();
    if (!item) return;
    if (f.type === "assigned") {
      this.agent = item.name;
      this.bot = !!item.bot;
      this.hadAgent = true;
      this.pendingHandoff = false;
      this.queue = null;
      this.offline = false;
      this.store.save({ offline: false });
      if (this.phase !== "ended") this.phase = "chat";
    } else if (f.type === "closed") {
      this.phase = "ended";
      this.closedBy = f.by;
      this.typing = false;
      this.queue = null;
      this.pendingClose = false;
      this.rated = this.store.data.rated.includes(this.conv || "");
      for (const p of this.transcript.pending()) if (p.clientId) this.transcript.fail(p.clientId, "closed");
      this.store.save({ outbox: [] });
      if (!this.replaying) this.onEvent("closed", { by: f.by });
    } else {
      if (item.role === "agent") this.typing = false;
      if (item.role === "system" && this.bot) this.handedOver(); // the handoff line
      if (item.clientId) this.dropOutgoing(item.clientId);
      if (!this.replaying) this.onEvent("message", { seq: item.seq, from: { role: item.role }, ts: item.ts });
    }
    this.markRead();
  }

  /** @param {string} clientId */
  dropOutgoing(clientId) {
    this.inflight.delete(clientId);
    const outbox = this.store.data.outbox.filter((o) => o.client_id !== clientId);
    if (outbox.length !== this.store.data.outbox.length) this.store.save({ outbox });
  }

  /** @param {any} f */
  acked(f) {
    this.refusals.delete(f.client_id || f.ref);
    if (f.client_id) {
      this.transcript.ack(f.client_id, f.seq, f.ts);
      this.dropOutgoing(f.client_id);
      if (this.transcript.hasGap() && !this.resuming) this.resume();
    } else if (f.ref === "r") {
      this.rated = true;
      this.pendingRate = null;
      if (this.conv) this.store.save({ rated: [...this.store.data.rated, this.conv].slice(-20) });
    } else if (f.ref === "p") {
      this.handedOver();
    } else if (f.ref === "l") {
      this.left = true;
      this.pendingLeave = null;
      this.store.save({ left: true });
    }
  }

  /** @param {any} f */
  failed(f) {
    const ref = String(f.ref || "");
    const code = String(f.code || "internal");
    if (ref.startsWith("m:")) {
      const clientId = ref.slice(2);
      this.inflight.delete(clientId);
      if (RETRYABLE.has(code)) {
        this.later(clientId, () => this.transmit(clientId));
      } else {
        this.transcript.fail(clientId, code);
        this.dropOutgoing(clientId);
      }
    } else if (ref === "s") {
      if (code === "conflict") {
        this.connection.drop(); // a conversation is already open: the next welcome names it
      } else if (RETRYABLE.has(code)) {
        this.later("s", () => this.sendStart());
      } else {
        this.pendingStart = null;
        this.phase = "prechat";
        this.errors.start = code;
      }
    } else if (ref === "u") {
      if (code === "not_found") this.forget();
      else if (code === "bad_frame" && this.conv) {
        const id = this.conv; // our seq is ahead of the hub's: start the replay from scratch
        this.conv = null;
        this.adopt(id);
        this.resume(true);
      } else this.resuming = false;
    } else if (ref === "r") {
      if (code === "conflict") this.rated = true;
      else this.errors.rate = code;
      this.pendingRate = null;
    } else if (ref === "l") {
      if (RETRYABLE.has(code)) this.later("l", () => this.pendingLeave && this.leave(this.pendingLeave));
      else {
        this.errors.leave = code;
        this.pendingLeave = null;
      }
    } else if (ref === "p") {
      if (RETRYABLE.has(code)) this.later("p", () => this.pendingHandoff && this.handoff());
      else {
        this.pendingHandoff = false;
        if (code === "conflict") this.bot = false; // no bot holds it any more: no button
      }
    } else if (ref === "c") {
      this.pendingClose = false;
    } else if (ref === "i") {
      this.onEvent("identify", { verified: false, error: code });
      if (code === "conflict") {
        this.store.save({ token: null }); // verified as another user: a new visitor
        this.forget();
        this.connection.drop();
      }
    }
    this.changed();
  }

  /** Send again after `backoff(n)` for its n-th refusal. @param {string} key @param {() => void} send */
  later(key, send) {
    const n = this.refusals.get(key) || 0;
    this.refusals.set(key, n + 1);
    window.setTimeout(send, backoff(n + 1));
  }

  /** @param {number} code */
  refused(code) {
    if (code === 4401) {
      this.store.save({ token: null });
      if (this.conv) this.forget();
    }
    this.changed();
  }

  /** Another tab wrote the shared record: pick up a conversation it started. */
  otherTab() {
    const data = this.store.reload();
    if (!this.conv && data.conv && this.connection.isOpen && this.welcomed) {
      this.adopt(data.conv);
      this.resume(true);
      this.changed();
    } else if (!this.conv && data.token && !this.connection.wanted) {
      this.connection.start();
    }
  }
}
