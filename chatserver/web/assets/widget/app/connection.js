// @ts-check
/**
 * One WebSocket to the hub that comes back by itself (the widget's and the console's). Backoff
 * from the upper half of each ceiling, reset on `welcome` (after 1012: within `restart`); going
 * offline drops it at once; a `ping` after a quiet spell; 4403 stops for good, 4401 is reported.
 */

/** @typedef {"idle" | "connecting" | "open" | "reconnecting" | "blocked"} ConnState */
/** @typedef {{base: number, cap: number}} Backoff */
/** @typedef {Backoff & {pingEvery: number, pingTimeout: number, restart: number}} Timing */

/** 0.5 s doubling to 15 s; a ping after 25 s quiet, dead 10 s after. @type {Timing} */
export const VISITOR_TIMING = { base: 500, cap: 15000, pingEvery: 25000, pingTimeout: 10000, restart: 2000 };

/** @param {number} attempt from 0 @param {() => number} [random] @param {Backoff} [curve] */
export function backoff(attempt, random = Math.random, curve = VISITOR_TIMING) {
  const ceiling = Math.min(curve.cap, curve.base * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** @param {() => number} [random] */
export function restartDelay(random = Math.random, timing = VISITOR_TIMING) {
  return random() * timing.restart;
}

/** A random UUID (v4); works outside secure contexts too, unlike `crypto.randomUUID`. */
export function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class Connection {
  /**
   * @param {{
   *   url: string,
   *   onOpen: () => void,
   *   onFrame: (frame: any) => void,
   *   onState: (state: ConnState) => void,
   *   onRefused: (code: number) => void,
   *   timing?: Timing,
   * }} opts
   */
  constructor(opts) {
    this.opts = opts;
    this.timing = opts.timing || VISITOR_TIMING;
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
    this.retry(code === 4429 ? 10000 : 0, code === 1012 && !this.attempt);
  }

  /** @param {number} [extra] @param {boolean} [restart] */
  retry(extra = 0, restart = false) {
    if (!this.wanted) {
      this.set("idle");
      return;
    }
    this.set("reconnecting");
    clearTimeout(this.timer);
    const delay = restart ? restartDelay(Math.random, this.timing) : backoff(this.attempt, Math.random, this.timing);
    this.timer = window.setTimeout(() => this.connect(), delay + extra);
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
    this.pingTimer = window.setTimeout(() => this.ping(), this.timing.pingEvery);
  }

  ping() {
    if (!this.send({ type: "ping" })) return;
    this.pingTimer = window.setTimeout(() => this.drop(), this.timing.pingTimeout);
  }

  /** Close, no reconnect until `start`. @param {string} reason */
  stop(reason) {
    this.wanted = false;
    clearTimeout(this.timer);
    clearTimeout(this.pingTimer);
    this.timer = 0;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close(1000, reason);
    }
    this.set("idle");
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
