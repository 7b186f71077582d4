// Demo only: /demo?locale=ar (or es, zh) tries the widget in another language. Calls made
// before widget.js has loaded go into a queue it replays: window.ChatHub = {q: [[name, args]]}.
(function () {
  var locale = new URLSearchParams(location.search).get("locale");
  if (!locale) return;
  window.ChatHub = window.ChatHub || { q: [] };
  window.ChatHub.q.push(["setLocale", [locale]]);
})();
