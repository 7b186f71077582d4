// @ts-check
/**
 * The frame's entry point: options from the loader's URL, locale, topics, session and view; talks
 * to the host by `postMessage` naming its origin, and hears only that origin and window.
 */
import { loadLocale, locale, pickLocale, t, translate, LOCALES } from "./i18n.js";
import { palette } from "./color.js";
import { Session } from "./session.js";
import { createView } from "./view.js";

const params = new URLSearchParams(location.search);
const site = params.get("site") || null;
const embedded = window.parent !== window;
/** The host page's origin, if the browser confirms it (`ancestorOrigins` where available). */
const hostOrigin = (() => {
  const claimed = params.get("origin");
  if (!embedded || !claimed) return null;
  const ancestors = location.ancestorOrigins;
  if (ancestors && ancestors.length && ancestors[0] !== claimed) return null;
  return claimed;
})();

/** @param {string} type @param {any} [data] */
function toHost(type, data) {
  if (hostOrigin) window.parent.postMessage({ chathub: 1, type, data }, hostOrigin);
}

const colors = palette(params.get("color") || "");
const root = document.documentElement.style;
root.setProperty("--accent", colors.accent);
root.setProperty("--ink", colors.ink);
root.setProperty("--accent-text", colors.text);

function labels() {
  return { open: t("launcher_open"), close: t("launcher_close"), unread: t("unread") };
}

async function boot() {
  const wanted = pickLocale([params.get("locale"), ...navigator.languages, navigator.language]);
  const configUrl = new URL("config", location.href);
  if (site) configUrl.searchParams.set("site", site);
  const [, config] = await Promise.all([
    loadLocale(wanted),
    fetch(configUrl)
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null),
  ]);
  translate(document);
  const wsUrl = new URL("../ws/visitor", location.href);
  wsUrl.protocol = wsUrl.protocol === "https:" ? "wss:" : "ws:";

  const session = new Session({
    site,
    url: wsUrl.href,
    onChange: () => view.render(),
    onEvent: (name, detail) => {
      if (name === "unread") toHost("unread", detail);
      else toHost("event", { name, detail });
    },
  });

  /** @param {string} code */
  async function setLocale(code) {
    await loadLocale(pickLocale([code]));
    translate(document);
    view.relabel();
    toHost("labels", { labels: labels() });
  }

  const view = createView(session, {
    config: config || { topics: ["general"], languages: [locale()] },
    embedded,
    pageUrl: params.get("page"),
    onClose: () => {
      session.setOpen(false); // at once: a message arriving now is unread, not read
      toHost("close");
    },
    onLocale: (code) => {
      if (LOCALES.includes(code) && code !== locale()) setLocale(code);
    },
  });

  addEventListener("message", (e) => {
    const m = e.data;
    if (!hostOrigin || e.origin !== hostOrigin || e.source !== window.parent || !m || m.chathub !== 1) return;
    if (m.type === "open") {
      session.setOpen(true);
      view.render();
      view.focusFirst();
    } else if (m.type === "close") {
      session.setOpen(false);
    } else if (m.type === "identify" && m.data) {
      session.identify(m.data);
    } else if (m.type === "locale" && typeof m.data === "string") {
      setLocale(m.data);
    }
  });

  if (!embedded) session.setOpen(true);
  view.render();
  if (!embedded) view.focusFirst();
  toHost("ready", { labels: labels() });
}

boot();
