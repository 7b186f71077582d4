// @ts-check
/**
 * The transcript, pure data. An event shows once (by `seq`; a visitor message also by
 * `client_id`), in `seq` order, unacknowledged messages last. `lastSeq`: nothing missing up to it.
 */

/**
 * @typedef {"sending" | "sent" | "read" | "failed"} MessageState
 * @typedef {{
 *   key: string, kind: "message" | "event", seq: number | null, clientId: string | null,
 *   role: "visitor" | "agent" | "system", name: string | null, text: string, ts: string | null,
 *   event?: "assigned" | "closed", by?: string, bot?: boolean, state: MessageState | null, error?: string,
 *   order: number
 * }} Item
 */

export class Transcript {
  constructor() {
    /** @type {Map<string, Item>} */
    this.items = new Map();
    /** @type {Map<number, Item>} */
    this.bySeq = new Map();
    /** @type {Map<string, Item>} */
    this.byClient = new Map();
    /** @type {Set<number>} seqs seen above lastSeq */
    this.ahead = new Set();
    this.lastSeq = 0;
    this.readByAgent = 0;
    this.counter = 0;
  }

  /** @param {number} seq */
  see(seq) {
    if (seq <= this.lastSeq) return;
    this.ahead.add(seq);
    while (this.ahead.delete(this.lastSeq + 1)) this.lastSeq += 1;
  }

  /** `resumed {last_seq}`: everything up to it has been delivered (gaps are agent-only events). */
  /** @param {number} seq */
  caughtUp(seq) {
    if (seq > this.lastSeq) this.lastSeq = seq;
    for (const s of this.ahead) if (s <= this.lastSeq) this.ahead.delete(s);
    while (this.ahead.delete(this.lastSeq + 1)) this.lastSeq += 1;
  }

  /** True when a stored event arrived beyond a hole: ask `resume` to fill it. */
  hasGap() {
    return this.ahead.size > 0;
  }

  /**
   * A stored event from the hub: `message`, `assigned` or `closed`.
   * Returns the new or completed item, or null when it was already there.
   * @param {any} f
   * @returns {Item | null}
   */
  addStored(f) {
    const seq = f.seq;
    if (typeof seq !== "number" || this.bySeq.has(seq)) {
      if (typeof seq === "number") this.see(seq);
      return null;
    }
    this.see(seq);
    if (f.type === "message" && f.client_id) {
      const mine = this.byClient.get(f.client_id);
      if (mine) {
        if (mine.seq !== null) return null; // same client_id, already stored: a duplicate
        return this.confirm(mine, seq, f.ts);
      }
    }
    /** @type {Item} */
    const item =
      f.type === "message"
        ? {
            key: "s" + seq,
            kind: "message",
            seq,
            clientId: f.client_id || null,
            role: (f.from && f.from.role) || "system",
            name: (f.from && f.from.name) || null,
            text: String(f.text),
            ts: f.ts || null,
            state: f.from && f.from.role === "visitor" ? "sent" : null,
            order: 0,
          }
        : {
            key: "s" + seq,
            kind: "event",
            seq,
            clientId: null,
            role: "system",
            name: (f.agent && f.agent.display_name) || null,
            bot: !!(f.agent && f.agent.bot),
            text: "",
            ts: f.ts || null,
            event: f.type,
            by: f.by,
            state: null,
            order: 0,
          };
    this.items.set(item.key, item);
    this.bySeq.set(seq, item);
    if (item.clientId) this.byClient.set(item.clientId, item);
    this.refreshRead(item);
    return item;
  }

  /**
   * A message the visitor typed, not yet acknowledged.
   * @param {string} clientId @param {string} text @param {string | null} [name]
   * @returns {Item}
   */
  addPending(clientId, text, name = null) {
    const known = this.byClient.get(clientId);
    if (known) return known;
    /** @type {Item} */
    const item = {
      key: "c" + clientId,
      kind: "message",
      seq: null,
      clientId,
      role: "visitor",
      name,
      text,
      ts: null,
      state: "sending",
      order: ++this.counter,
    };
    this.items.set(item.key, item);
    this.byClient.set(clientId, item);
    return item;
  }

  /**
   * `ack {client_id, seq, ts}` for a message this visitor sent.
   * @param {string} clientId @param {number} seq @param {string} ts
   * @returns {Item | null}
   */
  ack(clientId, seq, ts) {
    const item = this.byClient.get(clientId);
    if (!item) return null;
    this.see(seq);
    if (item.seq !== null) return null;
    const other = this.bySeq.get(seq);
    if (other && other !== item) {
      this.items.delete(item.key);
      return null;
    }
    return this.confirm(item, seq, ts);
  }

  /** @param {Item} item @param {number} seq @param {string} ts */
  confirm(item, seq, ts) {
    item.seq = seq;
    item.ts = ts || item.ts;
    item.state = "sent";
    delete item.error;
    this.bySeq.set(seq, item);
    this.refreshRead(item);
    return item;
  }

  /** @param {string} clientId @param {string} error */
  fail(clientId, error) {
    const item = this.byClient.get(clientId);
    if (item && item.seq === null) {
      item.state = "failed";
      item.error = error;
    }
    return item || null;
  }

  /** @param {string} clientId */
  retrying(clientId) {
    const item = this.byClient.get(clientId);
    if (item && item.seq === null) {
      item.state = "sending";
      delete item.error;
    }
  }

  /** `read {seq, by: {role: "agent"}}`: the agent has read everything up to `seq`. */
  /** @param {number} seq */
  agentRead(seq) {
    if (seq <= this.readByAgent) return false;
    this.readByAgent = seq;
    for (const item of this.items.values()) this.refreshRead(item);
    return true;
  }

  /** @param {Item} item */
  refreshRead(item) {
    if (item.role === "visitor" && item.seq !== null && item.seq <= this.readByAgent) {
      item.state = "read";
    }
  }

  /** Items in display order. */
  ordered() {
    return [...this.items.values()].sort((a, b) =>
      a.seq !== null && b.seq !== null
        ? a.seq - b.seq
        : a.seq !== null
          ? -1
          : b.seq !== null
            ? 1
            : a.order - b.order,
    );
  }

  /** Messages typed here that have no `seq` yet (to send again after a reconnect). */
  pending() {
    return this.ordered().filter((i) => i.seq === null && i.state !== "failed");
  }

  /** The highest `seq` of a message from the other side (what a `read` receipt names). */
  lastIncoming() {
    let max = 0;
    for (const i of this.items.values()) {
      if (i.kind === "message" && i.role !== "visitor" && i.seq !== null && i.seq > max) max = i.seq;
    }
    return max;
  }

  /** @param {number} readSeq */
  unreadAfter(readSeq) {
    let n = 0;
    for (const i of this.items.values()) {
      if (i.kind === "message" && i.role === "agent" && i.seq !== null && i.seq > readSeq) n += 1;
    }
    return n;
  }
}
