// Formatting and DOM helpers shared by the dashboard's modules. Text is always set as text.

/**
 * A duration in seconds as people read it: "4.2 s", "42 s", "3 m 05 s", "1 h 04 m"; "—" for
 * none.
 * @param {number | null | undefined} s
 */
export function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const total = Math.round(s);
  if (total < 3600) return `${Math.floor(total / 60)} m ${String(total % 60).padStart(2, "0")} s`;
  return `${Math.floor(total / 3600)} h ${String(Math.floor((total % 3600) / 60)).padStart(2, "0")} m`;
}

/** @param {number | null | undefined} x @param {number} digits */
export function fixed(x, digits) {
  return x === null || x === undefined ? "—" : x.toFixed(digits);
}

/**
 * Build an element: attributes (``text`` sets textContent, ``class`` the class) and children.
 * @param {string} tag
 * @param {Record<string, string | boolean | undefined>} [attrs]
 * @param {(Node | string)[]} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

/**
 * GET a JSON API; throws an Error carrying the server's message (and ``status``).
 * @param {string} url
 */
export async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) {
    location.assign("/login");
    throw new Error("signed out");
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = /** @type {Error & {status?: number}} */ (new Error(body.message || `HTTP ${r.status}`));
    err.status = r.status;
    throw err;
  }
  return body;
}

/** "2026-05-01T14:00:00Z" → "14:00" (UTC, as the buckets are). @param {string} iso */
export function hourLabel(iso) {
  return iso.slice(11, 16);
}

/** "2026-05-01" → "1 May". @param {string} day */
export function dayLabel(day) {
  const d = new Date(`${day}T00:00:00Z`);
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
}
