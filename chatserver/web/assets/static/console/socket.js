// The agent's WebSocket: the widget's Connection (backoff, ping, offline/online, 4401/4403),
// with the agent's timing, a `hello` carrying the session's token, and refs to match answers.
// It knows nothing about the page: frames go out through send(), come in through onFrame.

import { Connection } from "../../../widget/app/connection.js";

/** @typedef {Record<string, any>} Frame */
/** "blocked": the hub refused this page's origin (4403), for good.
 * @typedef {"connecting" | "open" | "reconnecting" | "blocked" | "signed-out"} SocketState */

/** An agent notices a dead link sooner than a visitor: back from 0.2-0.4 s up to 8 s, a ping
 * after 15 s without a frame, dead if nothing comes within 8 s of it; 0-1 s after a restart.
 * @type {import("../../../widget/app/connection.js").Timing} */
export const AGENT_TIMING = { base: 400, cap: 8000, pingEvery: 15000, pingTimeout: 8000, restart: 1000 };

export class AgentSocket {
  /**
   * @param {{getToken: () => Promise<string|null>, onFrame: (f: Frame) => void,
   *          onState: (s: SocketState) => void}} opts
   */
  constructor(opts) {
    this.opts = opts;
    this.refs = 0;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.conn = new Connection({
      url: `${scheme}//${location.host}/ws/agent`,
      timing: AGENT_TIMING,
      onOpen: () => this.hello(),
      onFrame: opts.onFrame,
      // "idle" only follows stop(): the page is leaving for the sign-in page already.
      onState: (s) => s !== "idle" && opts.onState(s),
      onRefused: (code) => {
        if (code === 4401) this.signedOut();
      },
    });
  }

  /** A fresh ref for a frame whose answer the caller wants to match. */
  ref() {
    this.refs += 1;
    return `r${this.refs}`;
  }

  connect() {
    this.conn.start();
  }

  /** The socket is open: say who we are with a fresh token (the session cookie's). */
  async hello() {
    const ws = this.conn.ws;
    let token;
    try {
      token = await this.opts.getToken();
    } catch {
      if (this.conn.ws === ws) this.conn.drop(); // try again after the backoff
      return;
    }
    if (token === null) return this.signedOut();
    if (this.conn.ws === ws) this.conn.send({ type: "hello", token, ref: "hello" });
  }

  signedOut() {
    this.conn.stop("signed out");
    this.opts.onState("signed-out");
  }

  /**
   * Send a frame if connected (after welcome). Returns whether it went out.
   * @param {Frame} frame
   */
  send(frame) {
    return this.conn.isOpen && this.conn.send(frame);
  }

  stop() {
    this.conn.stop("signed out");
  }
}
