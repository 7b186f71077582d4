// @ts-check
/**
 * One WebSocket to `/ws/visitor` that comes back by itself.
 *
 * - Reconnects with exponential backoff and full jitter (0.5 s doubling to 15 s, each delay
 *   drawn from its upper half), reset once the hub says `welcome`.
 * - The browser going offline drops the socket at once (Chromium keeps a dead one open for
 *   minutes); coming back online reconnects at once.
 * - A `ping` every 25 s; no frame within 10 s after it means the socket is dead.
 * - Close 4403 (origin not allowed) stops for good; 4401 (token refused) is reported so the
 *   caller can start over as a new visitor.
 */

/** @typedef {"idle" | "connecting" | "open" | "reconnecting" | "blocked"} ConnState */

export const BACKOFF = { base: 500, cap: 15000 };
const PING_EVERY = 25000;
const PING_TIMEOUT = 10000;

/** @param {number} attempt @param {() => number} [random] */
export function backoff(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF.cap, BACKOFF.base * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

export class Connection {
  /**
   * @param {{
   *   url: string,
   *   onOpen: () => void,
   *   onFrame: (frame: any) => void,
   *   onState: (state: ConnState) => void,
   *   onRefused: (code: number) => void,
   * }} opts
   */
  constructor(opts) {
    this.opts = opts;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {ConnState} */
    this.state = "idle";
    this.wanted = false;
    this.attempt = 0;
    this.timer = 0;
    this.pingTimer = 0;
    this.deadline = 0;
    addEventListener("offline", () => this.drop());
    addEventListener("online", () => {
      if (this.wanted && !this.ws) {
        this.attempt = 0;
        this.connect();
      }
    });
  }

  /** @param {ConnState} state */
  set(state) {
    if (state !== this.state) {
      this.state = state;
      this.opts.onState(state);
    }
  }

  start() {
    this.wanted = true;
    if (!this.ws && !this.timer && this.state !== "blocked") this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (!this.wanted || this.state === "blocked") return;
    let ws;
    try {
      ws = new WebSocket(this.opts.url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    this.set(this.attempt ? "reconnecting" : "connecting");
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.heard();
      this.opts.onOpen();
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      this.heard();
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      if (frame && frame.type === "welcome") {
        this.attempt = 0;
        this.set("open");
      }
      if (frame && typeof frame.type === "string") this.opts.onFrame(frame);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed(e.code);
    };
  }

  /** @param {number} code */
  closed(code) {
    clearTimeout(this.pingTimer);
    if (code === 4403) {
      this.wanted = false;
      this.set("blocked");
      this.opts.onRefused(code);
      return;
    }
    if (code === 4401) {
      this.opts.onRefused(code); // forget the token; the next hello is a new visitor
      this.attempt = 0;
    }
    this.retry(code === 4429 ? 10000 : 0);
  }

  /** @param {number} [extra] */
  retry(extra = 0) {
    if (!this.wanted) {
      this.set("idle");
      return;
    }
    this.set("reconnecting");
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), backoff(this.attempt) + extra);
    this.attempt += 1;
  }

  /** Drop the socket now (offline, ping timeout, a fresh `welcome` wanted) and reconnect. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onclose = ws.onmessage = ws.onopen = null;
    try {
      ws.close();
    } catch {
      /* already closing */
    }
    this.closed(1006);
  }

  heard() {
    clearTimeout(this.pingTimer);
    this.deadline = 0;
    this.pingTimer = window.setTimeout(() => this.ping(), PING_EVERY);
  }

  ping() {
    if (!this.send({ type: "ping" })) return;
    this.pingTimer = window.setTimeout(() => this.drop(), PING_TIMEOUT);
  }

  /** @param {any} frame @returns {boolean} sent */
  send(frame) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  get isOpen() {
    return this.state === "open" && !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }
}
