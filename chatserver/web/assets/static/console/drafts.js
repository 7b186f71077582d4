// What the agent typed, kept in localStorage so that neither a reload nor an accidental tab close
// loses it: each chat's message draft, its note draft, and its *outbox* — messages sent but not
// yet acknowledged by the hub. On the next load the console restores the drafts and re-sends the
// outbox with the same client_id (the hub stores a client_id once, so nothing is doubled).
//
// Keys are "console:<username>:<kind>:<conversation_id>" so two agents sharing a browser never
// see each other's text. Storage can be full or switched off: every call then quietly does
// nothing and the console works as before (drafts survive reconnects, not reloads).

/** @typedef {{client_id: string, text: string, at: number}} Unsent */

const KINDS = ["draft", "note", "outbox"];

export class Keep {
  /** @param {string} username @param {Storage|null=} storage */
  constructor(username, storage) {
    this.prefix = `console:${username}:`;
    /** @type {Storage|null} */
    this.storage = storage === undefined ? Keep.local() : storage;
  }

  /** localStorage, or null where it is unavailable (privacy modes, sandboxed frames). */
  static local() {
    try {
      return window.localStorage;
    } catch {
      return null;
    }
  }

  /** @param {string} kind @param {string} conv */
  key(kind, conv) {
    return `${this.prefix}${kind}:${conv}`;
  }

  /** @param {string} key @returns {string|null} */
  read(key) {
    try {
      return this.storage ? this.storage.getItem(key) : null;
    } catch {
      return null;
    }
  }

  /** @param {string} key @param {string|null} value — null (or "") removes it */
  write(key, value) {
    try {
      if (!this.storage) return;
      if (value) this.storage.setItem(key, value);
      else this.storage.removeItem(key);
    } catch {
      /* full or forbidden: keep it in memory only */
    }
  }

  /** @param {string} conv */
  draft(conv) {
    return this.read(this.key("draft", conv)) || "";
  }

  /** @param {string} conv @param {string} text */
  setDraft(conv, text) {
    this.write(this.key("draft", conv), text);
  }

  /** @param {string} conv */
  note(conv) {
    return this.read(this.key("note", conv)) || "";
  }

  /** @param {string} conv @param {string} text */
  setNote(conv, text) {
    this.write(this.key("note", conv), text);
  }

  /** Messages of `conv` sent but not acknowledged, oldest first. @param {string} conv @returns {Unsent[]} */
  outbox(conv) {
    try {
      const items = JSON.parse(this.read(this.key("outbox", conv)) || "[]");
      if (!Array.isArray(items)) return [];
      return items.filter((m) => m && typeof m.client_id === "string" && typeof m.text === "string");
    } catch {
      return [];
    }
  }

  /** @param {string} conv @param {string} clientId @param {string} text */
  addUnsent(conv, clientId, text) {
    const items = this.outbox(conv).filter((m) => m.client_id !== clientId);
    items.push({ client_id: clientId, text, at: Date.now() });
    this.write(this.key("outbox", conv), JSON.stringify(items));
  }

  /** The hub has it (ack or echo): forget it. @param {string} clientId */
  sent(clientId) {
    for (const conv of this.conversations()) {
      const items = this.outbox(conv);
      const left = items.filter((m) => m.client_id !== clientId);
      if (left.length !== items.length) this.write(this.key("outbox", conv), left.length ? JSON.stringify(left) : null);
    }
  }

  /** @param {string} conv */
  clearOutbox(conv) {
    this.write(this.key("outbox", conv), null);
  }

  /** Forget everything kept for one conversation (it ended, or is no longer ours). @param {string} conv */
  forget(conv) {
    for (const kind of KINDS) this.write(this.key(kind, conv), null);
  }

  /** Conversations this agent has anything kept for. @returns {Set<string>} */
  conversations() {
    /** @type {Set<string>} */
    const found = new Set();
    if (!this.storage) return found;
    try {
      for (let i = 0; i < this.storage.length; i += 1) {
        const key = this.storage.key(i);
        if (!key || !key.startsWith(this.prefix)) continue;
        const rest = key.slice(this.prefix.length);
        const colon = rest.indexOf(":");
        if (colon > 0 && KINDS.includes(rest.slice(0, colon))) found.add(rest.slice(colon + 1));
      }
    } catch {
      /* unavailable: nothing kept */
    }
    return found;
  }

  /** Sign-out: nothing this agent typed stays in the browser. */
  forgetAll() {
    for (const conv of this.conversations()) this.forget(conv);
  }
}
