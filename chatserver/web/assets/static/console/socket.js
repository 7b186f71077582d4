// The agent's WebSocket: hello with the session token, reconnect with backoff, keepalive.
// It knows nothing about the page: frames go out through send(), come in through onFrame.

/** @typedef {Record<string, any>} Frame */

const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 8000;

export class AgentSocket {
  /**
   * @param {{getToken: () => Promise<string|null>, onFrame: (f: Frame) => void,
   *          onState: (s: "connecting"|"open"|"reconnecting"|"signed-out") => void}} opts
   */
  constructor(opts) {
    this.opts = opts;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.ready = false; // welcome received
    this.attempt = 0;
    this.stopped = false;
    /** @type {number|undefined} */
    this.pingTimer = undefined;
    /** @type {number|undefined} */
    this.pongTimer = undefined;
    /** @type {number|undefined} */
    this.retryTimer = undefined;
    this.refs = 0;
    window.addEventListener("online", () => this.reconnectNow());
  }

  /** A fresh ref for a frame whose answer the caller wants to match. */
  ref() {
    this.refs += 1;
    return `r${this.refs}`;
  }

  async connect() {
    if (this.stopped) return;
    this.opts.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    let token;
    try {
      token = await this.opts.getToken();
    } catch {
      this.scheduleRetry();
      return;
    }
    if (token === null) {
      this.stopped = true;
      this.opts.onState("signed-out");
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/agent`);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "hello", token, ref: "hello" }));
    };
    ws.onmessage = (event) => {
      /** @type {Frame} */
      let frame;
      try {
        frame = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (frame.type === "pong") {
        clearTimeout(this.pongTimer);
        return;
      }
      if (frame.type === "welcome") {
        this.ready = true;
        this.attempt = 0;
        this.startPing();
        this.opts.onState("open");
      }
      this.opts.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.stopPing();
      if (event.code === 4401) {
        this.stopped = true;
        this.opts.onState("signed-out");
        return;
      }
      if (event.code === 4403) {
        this.stopped = true;
        return;
      }
      this.scheduleRetry();
    };
  }

  scheduleRetry() {
    if (this.stopped) return;
    this.opts.onState("reconnecting");
    const base = Math.min(8000, 400 * 2 ** this.attempt);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), base / 2 + Math.random() * base / 2);
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  startPing() {
    this.stopPing();
    this.pingTimer = window.setInterval(() => {
      if (!this.ws || !this.ready) return;
      this.ws.send(JSON.stringify({ type: "ping" }));
      clearTimeout(this.pongTimer);
      const ws = this.ws;
      this.pongTimer = window.setTimeout(() => this.drop(ws), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  /** Give up on a connection that stopped answering; onclose schedules the reconnect. */
  /** @param {WebSocket} ws */
  drop(ws) {
    if (this.ws !== ws) return;
    this.ws = null;
    this.ready = false;
    this.stopPing();
    try {
      ws.close(4000, "no pong");
    } catch {
      /* already closed */
    }
    this.scheduleRetry();
  }

  /**
   * Send a frame if connected (after welcome). Returns whether it went out.
   * @param {Frame} frame
   */
  send(frame) {
    if (!this.ws || !this.ready || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  stop() {
    this.stopped = true;
    this.stopPing();
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, "signed out");
    this.ws = null;
  }
}
