/*! ChatHub widget loader. Include with
 *  <script src="https://HUB/widget.js" data-site="SITE" async></script>
 * One global (window.ChatHub); including it twice is harmless. The chat itself runs in an
 * iframe served by the hub, so this page can neither restyle it nor read its messages.
 * Options: data-site, data-hub, data-color, data-position (right|left), data-locale.
 * API: open() close() toggle() identify({userId,userHash,name,email}|{token}) setLocale(code) on(event, fn) off(event, fn)
 * Events: ready open close message unread queue closed identify. See docs/widget.md. */
// @ts-check
(function (w, d) {
  "use strict";
  var P = "chathub";
  /** @type {any} */
  var prev = w[/** @type {any} */ ("ChatHub")];
  if (prev && prev.version) return;
  var me = /** @type {HTMLScriptElement|null} */ (
    d.currentScript || d.querySelector('script[src*="widget.js"]')
  );
  if (!me) return;
  var ds = me.dataset;
  var base = (ds.hub || me.src.replace(/\/widget\.js([?#].*)?$/, "")).replace(/\/+$/, "");
  var hubOrigin = new URL(base, location.href).origin;
  var color = /^#([0-9a-f]{3}){1,2}$/i.test(ds.color || "") ? String(ds.color) : "#2b4fd8";
  /** @type {Record<string, Function[]>} */
  var handlers = {};
  /** @type {any[]} */
  var outbox = [];
  var ready = false;
  var isOpen = false;
  var labels = { open: "Open chat", close: "Close chat", unread: "{n} unread" };
  var NS = "http://www.w3.org/2000/svg";

  // Icon colour with enough contrast on the accent colour (WCAG relative luminance).
  function ink(/** @type {string} */ hex) {
    var h = hex.slice(1);
    if (h.length === 3) h = h.replace(/./g, "$&$&");
    var l = [0, 2, 4]
      .map(function (i) {
        var c = parseInt(h.substr(i, 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      })
      .reduce(function (s, c, i) {
        return s + c * [0.2126, 0.7152, 0.0722][i];
      }, 0);
    return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? "#fff" : "#111";
  }

  function el(/** @type {string} */ tag, /** @type {string} */ cls) {
    var e = d.createElement(tag);
    e.className = P + "-" + cls;
    return e;
  }

  function icon(/** @type {string} */ cls, /** @type {string} */ path) {
    var s = d.createElementNS(NS, "svg");
    var p = d.createElementNS(NS, "path");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("class", P + "-" + cls);
    p.setAttribute("d", path);
    s.appendChild(p);
    return s;
  }

  if (!d.getElementById(P + "-css")) {
    var css = el("style", "css");
    css.id = P + "-css";
    if (me.nonce) css.nonce = me.nonce;
    css.textContent = [
      ".chathub-launcher{all:initial;box-sizing:border-box;position:fixed;z-index:2147483000;bottom:20px;right:20px;width:60px;height:60px;border-radius:50%;background:var(--chathub-accent);color:var(--chathub-ink);box-shadow:0 6px 20px rgba(15,23,42,.28);cursor:pointer;display:flex;align-items:center;justify-content:center;transition:transform .15s ease}",
      ".chathub-launcher:hover{transform:scale(1.06)}",
      ".chathub-launcher:focus-visible{outline:3px solid #111;outline-offset:3px;box-shadow:0 0 0 6px #fff}",
      ".chathub-launcher[hidden]{display:none}",
      ".chathub-left .chathub-launcher{right:auto;left:20px}",
      ".chathub-launcher svg{width:28px;height:28px;fill:currentColor}",
      ".chathub-x,.chathub-open .chathub-bubble{display:none}",
      ".chathub-open .chathub-x{display:block}",
      ".chathub-badge{all:initial;position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;box-sizing:border-box;border-radius:10px;background:#c5221f;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center;border:2px solid #fff}",
      ".chathub-badge[hidden],.chathub-open .chathub-badge{display:none}",
      ".chathub-sr{all:initial;position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
      ".chathub-panel{all:initial;display:none;position:fixed;z-index:2147483001;bottom:92px;right:20px;width:384px;height:min(660px,calc(100vh - 112px));border-radius:18px;overflow:hidden;box-shadow:0 16px 48px rgba(15,23,42,.28);background:#fff}",
      ".chathub-left .chathub-panel{right:auto;left:20px}",
      ".chathub-open .chathub-panel{display:block}",
      ".chathub-panel iframe{all:initial;display:block;width:100%;height:100%;border:0}",
      "@media (max-width:479.98px){.chathub-panel{inset:0;width:100%;height:100%;border-radius:0}.chathub-open .chathub-launcher{display:none}}",
    ].join("");
    (d.head || d.documentElement).appendChild(css);
  }

  var root = el("div", "root" + (ds.position === "left" ? " chathub-left" : ""));
  root.style.setProperty("--" + P + "-accent", color);
  root.style.setProperty("--" + P + "-ink", ink(color));
  var btn = el("button", "launcher");
  btn.setAttribute("type", "button");
  btn.setAttribute("aria-expanded", "false");
  btn.setAttribute("aria-controls", P + "-panel");
  btn.setAttribute("aria-describedby", P + "-unread");
  btn.hidden = true; // shown once the chat frame says it is ready
  btn.appendChild(
    icon("bubble", "M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.6 3.4 6.1L4.5 21l4.3-2.4c1 .3 2.1.4 3.2.4 5.5 0 10-3.6 10-8s-4.5-8-10-8z")
  );
  btn.appendChild(
    icon("x", "M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 0 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z")
  );
  var badge = el("span", "badge");
  badge.setAttribute("aria-hidden", "true");
  badge.hidden = true;
  var unread = el("span", "sr");
  unread.id = P + "-unread";
  btn.appendChild(badge);
  btn.appendChild(unread);
  var panel = el("div", "panel");
  panel.id = P + "-panel";
  var frame = d.createElement("iframe");
  frame.title = "Chat";
  frame.setAttribute("allow", "clipboard-write");
  var q = new URLSearchParams({ site: ds.site || "", color: color, origin: location.origin });
  if (ds.locale) q.set("locale", ds.locale);
  if (/^https?:$/.test(location.protocol)) q.set("page", (location.origin + location.pathname).slice(0, 2048));
  frame.src = base + "/widget/frame?" + q;
  panel.appendChild(frame);
  root.appendChild(btn);
  root.appendChild(panel);

  function label() {
    btn.setAttribute("aria-label", isOpen ? labels.close : labels.open);
  }

  function emit(/** @type {string} */ name, /** @type {any} */ detail) {
    (handlers[name] || []).slice().forEach(function (fn) {
      try {
        fn(detail);
      } catch (e) {
        setTimeout(function () {
          throw e;
        });
      }
    });
  }

  /** @param {string} type @param {any} [data] */
  function post(type, data) {
    if (!ready || !frame.contentWindow) return outbox.push([type, data]);
    frame.contentWindow.postMessage({ chathub: 1, type: type, data: data }, hubOrigin);
  }

  w.addEventListener("message", function (e) {
    var m = e.data;
    if (e.origin !== hubOrigin || e.source !== frame.contentWindow || !m || m.chathub !== 1) return;
    var data = m.data || {};
    if (m.type === "ready") {
      ready = true;
      btn.hidden = false;
      outbox.splice(0).forEach(function (a) {
        post(a[0], a[1]);
      });
      emit("ready", {});
    }
    if (data.labels) {
      labels = data.labels;
      label();
    }
    if (m.type === "unread") {
      var n = data.count || 0;
      badge.textContent = n > 9 ? "9+" : String(n);
      badge.hidden = !n;
      unread.textContent = n ? labels.unread.replace("{n}", String(n)) : "";
      emit("unread", { count: n });
    }
    if (m.type === "close") api.close();
    if (m.type === "event") emit(data.name, data.detail);
  });

  btn.addEventListener("click", function () {
    api.toggle();
  });

  var api = {
    version: "1",
    open: function () {
      if (isOpen) return;
      isOpen = true;
      root.classList.add(P + "-open");
      btn.setAttribute("aria-expanded", "true");
      label();
      post("open");
      frame.focus();
      emit("open", {});
    },
    close: function () {
      if (!isOpen) return;
      var inside = d.activeElement === frame;
      isOpen = false;
      root.classList.remove(P + "-open");
      btn.setAttribute("aria-expanded", "false");
      label();
      post("close");
      if (inside) btn.focus(); // the focus was in the panel: back to where the visitor was
      emit("close", {});
    },
    toggle: function () {
      isOpen ? api.close() : api.open();
    },
    identify: function (/** @type {any} */ who) {
      who = who || {};
      post("identify", { user_id: who.userId, user_hash: who.userHash, token: who.token, name: who.name, email: who.email });
    },
    setLocale: function (/** @type {string} */ code) {
      post("locale", String(code));
    },
    on: function (/** @type {string} */ name, /** @type {Function} */ fn) {
      (handlers[name] = handlers[name] || []).push(fn);
      if (name === "ready" && ready) fn({});
      return function () {
        api.off(name, fn);
      };
    },
    off: function (/** @type {string} */ name, /** @type {Function} */ fn) {
      handlers[name] = (handlers[name] || []).filter(function (f) {
        return f !== fn;
      });
    },
  };
  label();
  /** @type {Window & {ChatHub?: typeof api}} */ (w).ChatHub = api;
  // Calls made on a stub before this script arrived: window.ChatHub = {q: [["open", []], …]}.
  ((prev && prev.q) || []).forEach(function (/** @type {any[]} */ c) {
    var f = /** @type {any} */ (api)[c[0]];
    if (typeof f === "function") f.apply(api, c[1] || []);
  });
  function mount() {
    d.body.appendChild(root);
  }
  d.body ? mount() : d.addEventListener("DOMContentLoaded", mount);
  setTimeout(function () {
    if (!ready && w.console) {
      console.warn(
        "ChatHub: the chat frame did not load from " + base + "; is " + location.origin +
          " allowed for site '" + (ds.site || "default") + "' on the hub?"
      );
    }
  }, 15000);
})(window, document);
