// The page's DOM: elements built from text (never parsed as HTML), lookups by id, and the
// small messages the console shows (toasts, form errors, the page error).

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

/** The element with this id; the console's template has every id the scripts use.
 * @param {string} id @returns {any} */
export function byId(id) {
  return document.getElementById(id);
}

/** @param {string|undefined} ts */
export function formatClock(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** A message that goes by itself after 5 s. @param {string} text */
export function toast(text) {
  const t = el("div", { class: "toast" }, text);
  byId("toasts").append(t);
  setTimeout(() => t.remove(), 5000);
}

/** @param {string} id @param {string} text */
export function formError(id, text) {
  const box = byId(id);
  box.textContent = text;
  box.hidden = !text;
}

/** @param {string} text */
export function pageError(text) {
  const box = byId("page-error");
  box.textContent = text;
  box.hidden = false;
}
