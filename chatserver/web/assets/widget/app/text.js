// @ts-check
/** Chat text as text nodes, never HTML; http(s) addresses become `rel="noopener…"` links. */

const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}'"»”’]+$/;

/** @param {HTMLElement} parent @param {string} text */
export function renderText(parent, text) {
  parent.textContent = "";
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    const trail = url.match(TRAILING);
    if (trail && !(trail[0].startsWith(")") && url.includes("("))) url = url.slice(0, -trail[0].length);
    const start = m.index || 0;
    if (start > last) parent.append(text.slice(last, start));
    const href = url.startsWith("www.") ? "https://" + url : url;
    let ok = false;
    try {
      ok = /^https?:$/.test(new URL(href).protocol);
    } catch {
      ok = false;
    }
    if (ok) {
      const a = document.createElement("a");
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow ugc";
      a.textContent = url;
      parent.append(a);
    } else {
      parent.append(url);
    }
    last = start + url.length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

/** @param {string | null} ts @param {string} lang */
export function formatTime(ts, lang) {
  const d = ts ? new Date(ts) : new Date();
  try {
    return new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" }).format(d);
  } catch {
    return d.toISOString().slice(11, 16);
  }
}

/** The hub's e-mail rule. @param {string} value */
export function validEmail(value) {
  if (value.length > 254 || /\s/.test(value)) return false;
  const parts = value.split("@");
  if (parts.length !== 2 || !parts[0]) return false;
  const domain = parts[1];
  return domain.includes(".") && !domain.startsWith(".") && !domain.endsWith(".") && !domain.includes("..");
}
