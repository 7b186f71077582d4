// @ts-check
/** Strings: one table per locale (locales/<code>.json), loaded on demand. `t(key, {n: 2})` fills `{n}`. */

export const LOCALES = ["en", "es", "ar", "zh"];

/** @type {Record<string, Record<string, string>>} */
const tables = {};
let current = "en";

/**
 * The first supported locale among the candidates (`es-MX` counts as `es`), else English.
 * @param {ReadonlyArray<string | null | undefined>} candidates
 */
export function pickLocale(candidates) {
  for (const c of candidates) {
    if (!c) continue;
    const base = c.toLowerCase().split(/[-_]/)[0];
    if (LOCALES.includes(base)) return base;
  }
  return "en";
}

/** Load one table; English if it cannot be had. @param {string} code */
export async function loadLocale(code) {
  for (const c of [code, "en"]) {
    if (!tables[c]) {
      try {
        const r = await fetch(new URL(`../locales/${c}.json`, import.meta.url));
        if (r.ok) tables[c] = await r.json();
      } catch {
        /* offline: try the next */
      }
    }
    if (tables[c]) {
      current = c;
      break;
    }
  }
  return current;
}

export function locale() {
  return current;
}

/** @param {string} key @param {Record<string, string | number>} [vars] */
export function t(key, vars) {
  let s = (tables[current] && tables[current][key]) ?? key;
  if (vars) for (const k in vars) s = s.split("{" + k + "}").join(String(vars[k]));
  return s;
}

/** Fill every `data-i18n` (text), `data-i18n-label` (aria-label), `data-i18n-ph` (placeholder). */
/** @param {ParentNode} root */
export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.getAttribute("data-i18n") || "");
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.getAttribute("data-i18n-label") || ""));
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.setAttribute("placeholder", t(el.getAttribute("data-i18n-ph") || ""));
  document.documentElement.lang = current;
  document.documentElement.dir = t("dir") === "rtl" ? "rtl" : "ltr";
}
