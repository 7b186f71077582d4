// @ts-check
/**
 * What the widget keeps in `localStorage` (the hub's origin, one record per site) so that a
 * reload or a new tab is the same visitor in the same conversation, and a message typed but
 * not yet acknowledged survives a reload. Falls back to memory when storage is blocked.
 */

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
