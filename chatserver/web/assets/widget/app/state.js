// @ts-check
/**
 * What the view renders (`SessionState`) and what the widget keeps in `localStorage` (`Store`,
 * one record per site; memory if blocked): a reload or a new tab is the same visitor in the
 * same conversation, with its unacknowledged messages.
 */
import { Transcript } from "./transcript.js";

/**
 * @typedef {{client_id: string, text: string}} Outgoing
 * @typedef {{
 *   token: string | null,
 *   conv: string | null,
 *   topic: string | null,
 *   language: string | null,
 *   offline: boolean,
 *   left: boolean,
 *   outbox: Outgoing[],
 *   readSeq: number,
 *   agentRead: number,
 *   rated: string[],
 * }} Saved
 */

/** @returns {Saved} */
function empty() {
  return {
    token: null,
    conv: null,
    topic: null,
    language: null,
    offline: false,
    left: false,
    outbox: [],
    readSeq: 0,
    agentRead: 0,
    rated: [],
  };
}

export class Store {
  /** @param {string} site */
  constructor(site) {
    this.key = "chathub:v1:" + site;
    /** @type {Saved} */
    this.data = { ...empty(), ...this.read() };
  }

  /** @returns {Partial<Saved>} */
  read() {
    try {
      const raw = localStorage.getItem(this.key);
      return raw ? JSON.parse(raw) : {};
    } catch {
      return {};
    }
  }

  /** Re-read what another tab may have written. */
  reload() {
    this.data = { ...empty(), ...this.read() };
    return this.data;
  }

  /** @param {Partial<Saved>} changes */
  save(changes) {
    Object.assign(this.data, changes);
    try {
      localStorage.setItem(this.key, JSON.stringify(this.data));
    } catch {
      /* storage full or blocked: keep it in memory */
    }
  }

  /** Forget the conversation (not the visitor). */
  endConversation() {
    this.save({
      conv: null,
      topic: null,
      language: null,
      offline: false,
      left: false,
      outbox: [],
      readSeq: 0,
      agentRead: 0,
    });
  }
}

/** @typedef {"prechat" | "starting" | "waiting" | "chat" | "ended"} Phase */
/** @typedef {{topic: string, language: string, name?: string, email?: string, page_url?: string}} StartForm */
/**
 * @typedef {{
 *   site: string | null,
 *   onChange: (s: SessionState) => void,
 *   onEvent: (name: string, detail: any) => void,
 * }} StateOptions
 */

export class SessionState {
  /** @param {StateOptions} opts */
  constructor(opts) {
    this.site = opts.site;
    this.onChange = opts.onChange;
    this.onEvent = opts.onEvent;
    this.store = new Store(opts.site || "default");
    this.transcript = new Transcript();
    /** @type {Phase} */
    this.phase = "prechat";
    /** @type {string | null} */
    this.conv = null;
    /** @type {string | null} */
    this.agent = null;
    /** the agent is a bot; a visitor's `handoff` not yet answered */
    this.bot = this.pendingHandoff = false;
    this.typing = false;
    /** @type {{position: number, eta_s: number | null} | null} */
    this.queue = null;
    this.offline = false;
    this.left = false;
    /** @type {string | null} */
    this.closedBy = null;
    this.rated = false;
    this.hadAgent = false;
    /** @type {import("./connection.js").ConnState} */
    this.conn = "idle";
    /** @type {StartForm | null} */
    this.pendingStart = null;
    this.pendingClose = false;
    /** @type {{score: number, comment: string} | null} */
    this.pendingRate = null;
    /** @type {{text: string, email: string, name?: string} | null} */
    this.pendingLeave = null;
    /** @type {Record<string, string | null>} form errors by form: start, leave, rate */
    this.errors = { start: null, leave: null, rate: null };
    this.panelOpen = false;
    /** @type {any} ChatHub.identify(): prefill; proof for the hub */
    this.identity = null;
    this.sentRead = 0;
    this.unread = 0;
    this.scheduled = false;
  }

  /** Tell the view once, after everything the current task changes. */
  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.updateUnread();
      this.onChange(this);
    });
  }

  updateUnread() {
    const n = this.panelOpen && document.visibilityState === "visible" ? 0 : this.transcript.unreadAfter(this.store.data.readSeq);
    if (n !== this.unread) {
      this.unread = n;
      this.onEvent("unread", { count: n });
    }
  }

  /** @param {any} who */
  identify(who) {
    this.identity = who;
    this.changed();
  }

  /** Take the conversation kept in storage back on screen until the replay says more. */
  restore() {
    const saved = this.store.data;
    if (saved.conv && saved.rated.includes(saved.conv)) {
      this.store.endConversation(); // over and rated: a new page view starts fresh
      return;
    }
    this.conv = saved.conv;
    this.phase = "waiting";
    this.offline = saved.offline;
    this.left = saved.left;
    this.transcript.readByAgent = saved.agentRead;
    for (const o of saved.outbox) this.transcript.addPending(o.client_id, o.text);
  }

  /** @param {string} id */
  adopt(id) {
    if (this.conv === id) return;
    this.transcript = new Transcript();
    this.conv = id;
    this.phase = "waiting";
    this.agent = null;
    this.queue = null;
    this.hadAgent = this.bot = this.pendingHandoff = false;
    this.rated = this.store.data.rated.includes(id);
    const same = this.store.data.conv === id;
    if (!same) this.store.save({ conv: id, outbox: [], offline: false, left: false, readSeq: 0, agentRead: 0 });
    this.offline = same && this.store.data.offline;
    this.left = same && this.store.data.left;
    this.pendingStart = null;
  }

  forget() {
    this.store.endConversation();
    this.transcript = new Transcript();
    this.conv = null;
    this.phase = "prechat";
    this.agent = null;
    this.typing = false;
    this.queue = null;
    this.offline = this.left = this.rated = this.hadAgent = this.bot = this.pendingHandoff = false;
    this.closedBy = null;
    this.pendingClose = false;
    this.pendingRate = this.pendingLeave = null;
    this.errors = { start: null, leave: null, rate: null };
    this.sentRead = 0;
  }
}
