// Shared by the admin pages: calling the API, building elements, showing errors by field.

/**
 * @typedef {{error?: string, message?: string, field?: string, fields?: Record<string, string>}} ApiError
 * @typedef {{ok: boolean, status: number, data: any}} ApiResult
 */

/**
 * Call the admin API with the session cookie; a signed-out answer goes to the sign-in page.
 * @param {string} method
 * @param {string} url
 * @param {unknown} [body]
 * @returns {Promise<ApiResult>}
 */
export async function api(method, url, body) {
  /** @type {RequestInit} */
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    return { ok: false, status: 0, data: { error: "network", message: "The hub did not answer; check the connection and try again." } };
  }
  if (response.status === 401) {
    location.assign("/login");
  }
  let data = null;
  try {
    data = response.status === 204 ? null : await response.json();
  } catch {
    data = { error: "bad_response", message: `Unexpected answer (HTTP ${response.status}).` };
  }
  return { ok: response.ok, status: response.status, data };
}

/**
 * Make an element: el("td", {className: "num"}, "3").
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("aria-") || key.startsWith("data-") || key === "for" || key === "role") {
      node.setAttribute(key, String(value));
    } else {
      /** @type {any} */ (node)[key] = value;
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing`);
  return node;
}

/**
 * Hide every field error inside `root` and clear the inputs' invalid marks.
 * @param {ParentNode} root
 */
export function clearErrors(root) {
  for (const p of root.querySelectorAll(".field-error, .form-error")) {
    p.textContent = "";
    /** @type {HTMLElement} */ (p).hidden = true;
  }
  for (const input of root.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/**
 * Show a message in the error slot `e-<field>` (or `fallback`) and mark the input invalid.
 * @param {ParentNode} root
 * @param {string} field
 * @param {string} message
 * @param {string} fallback
 * @returns {HTMLElement | null} the input marked, if any
 */
export function showError(root, field, message, fallback = "e-form") {
  const slot = /** @type {HTMLElement | null} */ (root.querySelector(`[id="e-${field}"]`)) ||
    /** @type {HTMLElement | null} */ (root.querySelector(`[id="${fallback}"]`));
  if (slot) {
    slot.textContent = message;
    slot.hidden = false;
  }
  const input = /** @type {HTMLElement | null} */ (root.querySelector(`[id="f-${field}"]`));
  if (input) input.setAttribute("aria-invalid", "true");
  return input;
}

/**
 * Show an API refusal next to its field(s); returns the first input marked, to focus.
 * @param {ParentNode} root
 * @param {ApiError} data
 * @param {string} [fallback]
 */
export function showApiError(root, data, fallback = "e-form") {
  const fields = data.fields || (data.field ? { [data.field]: data.message || "" } : {});
  let first = null;
  for (const [field, message] of Object.entries(fields)) {
    const input = showError(root, field, message, fallback);
    first = first || input;
  }
  if (!Object.keys(fields).length) showError(root, "form", data.message || "Something went wrong.", fallback);
  return first;
}

/**
 * Wire a <dialog>'s [data-close] buttons and return open/close helpers.
 * @param {HTMLDialogElement} dialog
 */
export function dialogOf(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
  return dialog;
}

/** A page-level error (load failures). @param {string} message */
export function pageError(message) {
  const p = byId("page-error");
  p.textContent = message;
  p.hidden = !message;
}

/**
 * A number typed in a text box, or the text itself when it is not one (the server says why).
 * @param {string} text
 * @returns {number | string}
 */
export function numberOrText(text) {
  const t = text.trim();
  if (t !== "" && /^[-+]?\d+(\.\d+)?$/.test(t)) return Number(t);
  return t;
}
