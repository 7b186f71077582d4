// Small helpers of the console: DOM building (text only, never HTML), the JSON API, times,
// the offer beep and desktop notifications.

/**
 * An element with attributes and children; strings become text nodes (never parsed as HTML).
 * @param {string} tag
 * @param {Record<string, string>} attrs
 * @param {...(Node|string)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) {
    if (c === "" || c === null || c === undefined) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

/**
 * Call the hub's JSON API with the session cookie.
 * @param {string} method
 * @param {string} path
 * @param {any=} body
 * @returns {Promise<{ok: boolean, status: number, data: any, message: string}>}
 */
export async function api(method, path, body) {
  try {
    const r = await fetch(path, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401) {
      location.assign("/login");
    }
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    const message = r.ok ? "" : (data && data.message) || `HTTP ${r.status}`;
    return { ok: r.ok, status: r.status, data, message };
  } catch {
    return { ok: false, status: 0, data: null, message: "Cannot reach the server." };
  }
}

/** @param {string|undefined} ts */
export function formatClock(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** @type {AudioContext|null} */
let audio = null;

/** A short two-tone beep (WebAudio, no asset). Silently nothing if audio is not allowed yet. */
export function beep() {
  try {
    const Ctx = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    const ctx = /** @type {AudioContext} */ (audio);
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.15, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
    gain.connect(ctx.destination);
    for (const [freq, at] of [[880, 0], [1320, 0.12]]) {
      const osc = ctx.createOscillator();
      osc.type = "sine";
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.2);
    }
  } catch {
    /* no sound: not fatal */
  }
}

/** A desktop notification, only when the agent allowed them. @param {string} title @param {string} body */
export function notify(title, body) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(title, { body, tag: "console" });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    /* some browsers only allow notifications from a service worker */
  }
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * How long to wait before sending again what the hub refused for now (the n-th time, n >= 1):
 * exponential from 0.5 s to 8 s, drawn from the upper half so a busy moment's refusals spread.
 * @param {number} n @param {() => number} [random]
 */
export function backoff(n, random = Math.random) {
  const ceiling = Math.min(8000, 500 * 2 ** (n - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}
