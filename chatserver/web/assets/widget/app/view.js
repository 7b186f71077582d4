// @ts-check
/**
 * Renders a `Session` into frame.html; the visitor's actions become session calls. Text only by
 * text nodes; the log is updated in place so `role="log"` announces only what is new.
 */
import { locale, t } from "./i18n.js";
import { formatTime, renderText, validEmail } from "./text.js";

/** @param {string} sel @returns {any} */
const $ = (sel) => document.querySelector(sel);

/** @param {string} name */
function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

/** @param {string} code @param {string} lang */
function languageName(code, lang) {
  try {
    const own = new Intl.DisplayNames([code], { type: "language" }).of(code);
    if (own && own !== code) return own.charAt(0).toLocaleUpperCase(code) + own.slice(1);
  } catch {
    /* unknown to Intl */
  }
  try {
    return new Intl.DisplayNames([lang], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

/**
 * What an `assigned` or `closed` row says.
 * @param {import("./transcript.js").Item} item @param {string | null} agent
 */
function eventText(item, agent) {
  return item.event === "assigned"
    ? t(item.bot ? "joined_bot" : "joined", { name: item.name || t("agent") })
    : item.by === "visitor"
      ? t("ended_visitor")
      : item.by === "agent"
        ? t("ended_agent", { name: agent || t("agent") })
        : t("ended_system");
}

/** @param {string} id */
function topicLabel(id) {
  const key = "topic_" + id;
  const label = t(key);
  return label === key ? id.charAt(0).toUpperCase() + id.slice(1).replace(/[_-]+/g, " ") : label;
}

/**
 * @param {import("./session.js").Session} session
 * @param {{
 *   config: {topics: string[], languages: string[]},
 *   embedded: boolean,
 *   pageUrl: string | null,
 *   onClose: () => void,
 *   onLocale: (code: string) => void,
 * }} opts
 */
export function createView(session, opts) {
  const panel = $(".panel");
  const scroll = $(".scroll");
  const log = $(".log");
  const composer = $(".composer");
  const input = $(".composer-input");
  const prechat = $(".prechat-form");
  const leave = $(".leave");
  const rate = $(".rate");
  const topic = $("#f-topic");
  const language = $("#f-language");
  /** @type {Map<string, HTMLElement>} */
  const nodes = new Map();
  let lastPhase = "";
  /** @type {HTMLElement | null} */
  let lastFocused = null;
  document.addEventListener("focusin", (e) => {
    lastFocused = /** @type {HTMLElement} */ (e.target);
  });

  $(".minimize-btn").hidden = !opts.embedded;
  $(".minimize-btn").addEventListener("click", opts.onClose);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && opts.embedded) {
      e.preventDefault();
      opts.onClose();
    }
  });

  // -- forms -----------------------------------------------------------------------------------
  /** @param {string} id @param {string | null} message */
  function fieldError(id, message) {
    const field = /** @type {HTMLInputElement} */ (document.getElementById(id));
    const err = /** @type {HTMLElement} */ (document.getElementById(id + "-err"));
    err.hidden = !message;
    err.textContent = message || "";
    if (message) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
    return !message;
  }

  function fillSelects() {
    const lang = locale();
    const chosenTopic = topic.value;
    topic.textContent = "";
    for (const id of opts.config.topics) topic.append(new Option(topicLabel(id), id));
    if (chosenTopic) topic.value = chosenTopic;
    const chosenLanguage = language.value;
    language.textContent = "";
    for (const code of opts.config.languages) language.append(new Option(languageName(code, lang), code));
    const offered = opts.config.languages;
    language.value = offered.includes(chosenLanguage) ? chosenLanguage : offered.includes(lang) ? lang : offered[0] || "";
    language.closest(".field").hidden = offered.length < 2;
  }

  language.addEventListener("change", () => opts.onLocale(language.value));
  // An error message goes away as soon as the visitor edits the field.
  for (const id of ["f-name", "f-email", "l-text", "l-email"]) {
    document.getElementById(id)?.addEventListener("input", () => fieldError(id, null));
  }
  rate.addEventListener("change", () => {
    $("#rate-err").hidden = true;
  });

  prechat.addEventListener("submit", (/** @type {Event} */ e) => {
    e.preventDefault();
    if (session.phase !== "prechat") return;
    const name = $("#f-name").value.trim();
    const email = $("#f-email").value.trim();
    const okName = fieldError("f-name", name.length > 100 ? t("name_too_long") : null);
    const okEmail = fieldError("f-email", email && !validEmail(email) ? t("email_invalid") : null);
    if (!okName) return $("#f-name").focus();
    if (!okEmail) return $("#f-email").focus();
    session.start({
      topic: topic.value,
      language: language.value,
      name: name || undefined,
      email: email || undefined,
      page_url: opts.pageUrl || undefined,
    });
  });

  leave.addEventListener("submit", (/** @type {Event} */ e) => {
    e.preventDefault();
    const text = $("#l-text").value.trim();
    const email = $("#l-email").value.trim();
    const okText = fieldError("l-text", text ? null : t("message_required"));
    const okEmail = fieldError("l-email", !email ? t("email_required") : validEmail(email) ? null : t("email_invalid"));
    if (!okText) return $("#l-text").focus();
    if (!okEmail) return $("#l-email").focus();
    const name = $("#f-name").value.trim();
    session.leave({ text, email, name: name || undefined });
  });

  rate.addEventListener("submit", (/** @type {Event} */ e) => {
    e.preventDefault();
    const checked = rate.querySelector("input[name=score]:checked");
    const err = $("#rate-err");
    err.hidden = !!checked;
    err.textContent = checked ? "" : t("rating_required");
    if (!checked) return rate.querySelector("input[name=score]").focus();
    session.rate(Number(checked.value), $("#r-comment").value);
  });

  $(".download-btn").addEventListener("click", () => download(session));
  $(".new-btn").addEventListener("click", () => {
    session.newChat();
    requestAnimationFrame(() => focusFirst());
  });
  $(".end-btn").addEventListener("click", () => session.end());
  $(".handoff-btn").addEventListener("click", () => session.handoff());

  composer.addEventListener("submit", (/** @type {Event} */ e) => {
    e.preventDefault();
    send();
  });
  input.addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  input.addEventListener("input", () => {
    grow();
    if (input.value.trim()) session.typed();
  });

  function send() {
    const text = input.value.trim();
    if (!text) return;
    session.say(text);
    input.value = "";
    grow();
    input.focus();
  }

  function grow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 140) + "px";
  }

  // -- transcript --------------------------------------------------------------------------------
  /** @param {import("./transcript.js").Item} item */
  function createNode(item) {
    const row = document.createElement("div");
    if (item.kind === "event") {
      row.className = "row event";
      row.append(document.createElement("span"), document.createElement("time"));
      return row;
    }
    row.className = "row msg " + item.role;
    const sender = document.createElement("div");
    sender.className = "sender";
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.dir = "auto";
    renderText(bubble, item.text);
    const meta = document.createElement("div");
    meta.className = "meta";
    const time = document.createElement("time");
    const state = document.createElement("span");
    state.className = "state";
    meta.append(time, state);
    row.append(sender, bubble, meta);
    return row;
  }

  /**
   * @param {HTMLElement} row
   * @param {import("./transcript.js").Item} item
   * @param {import("./transcript.js").Item | undefined} prev
   */
  function updateNode(row, item, prev) {
    const lang = locale();
    const time = /** @type {HTMLTimeElement} */ (row.querySelector("time"));
    time.textContent = item.ts ? formatTime(item.ts, lang) : "";
    if (item.ts) time.dateTime = item.ts;
    if (item.kind === "event") {
      /** @type {HTMLElement} */ (row.firstChild).textContent = eventText(item, session.agent);
      return;
    }
    const first = !prev || prev.kind !== "message" || prev.role !== item.role || prev.name !== item.name;
    row.classList.toggle("first", first);
    const sender = /** @type {HTMLElement} */ (row.querySelector(".sender"));
    sender.textContent = item.role === "agent" ? item.name || t("agent") : item.role === "visitor" ? t("you") : "";
    const state = /** @type {HTMLElement} */ (row.querySelector(".state"));
    row.dataset.state = item.state || "";
    state.textContent = item.state
      ? item.state === "failed" && item.error === "too_large"
        ? t("too_long")
        : t("state_" + item.state)
      : "";
  }

  function renderLog() {
    const tr = session.transcript;
    const items = tr.ordered();
    items.forEach((item, i) => {
      let row = nodes.get(item.key);
      if (!row) {
        row = createNode(item);
        nodes.set(item.key, row);
      }
      updateNode(row, item, items[i - 1]);
      if (log.children[i] !== row) log.insertBefore(row, log.children[i] || null);
    });
    for (const [key, row] of nodes) {
      if (!tr.items.has(key)) {
        row.remove();
        nodes.delete(key);
      }
    }
  }

  // -- the whole panel -------------------------------------------------------------------------
  function render() {
    const s = session;
    const phase = s.conn === "blocked" ? "blocked" : s.phase;
    const nearBottom = scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 60;
    document.body.classList.remove("booting");
    panel.dataset.phase = phase;
    panel.dataset.conn = s.conn;
    panel.dataset.open = String(s.panelOpen);

    const withAgent = (phase === "chat" || phase === "ended") && !!s.agent;
    const person = withAgent && !s.bot; // a bot keeps the icon
    $(".title").textContent = withAgent ? s.agent : t("team");
    $(".avatar").classList.toggle("has-agent", person);
    $(".avatar-initials").textContent = person ? initials(s.agent || "") : "";
    $(".presence").hidden = phase !== "chat";
    $(".subtitle").textContent =
      phase === "blocked"
        ? t("not_allowed")
        : phase === "chat"
          ? s.typing
            ? t("status_typing")
            : s.bot
              ? t("status_bot")
              : t("status_agent")
          : phase === "waiting"
            ? s.offline
              ? t("status_away")
              : t("status_waiting")
            : phase === "ended"
              ? t("status_ended")
              : t("status_available");
    $(".end-btn").hidden = !(phase === "waiting" || phase === "chat") || s.pendingClose;
    const handoff = $(".handoff-btn");
    handoff.hidden = !(phase === "chat" && s.bot) || s.replaying; // not mid-replay: a person may follow
    handoff.disabled = s.pendingHandoff;
    handoff.textContent = s.pendingHandoff ? t("starting") : t("handoff");

    const reconnecting = s.conn === "reconnecting" && (!!s.conv || phase === "starting");
    const bannerText = phase === "blocked" ? t("not_allowed") : reconnecting ? t("reconnecting") : "";
    $(".banner").classList.toggle("on", !!bannerText);
    $(".banner-text").textContent = bannerText;

    const inPrechat = phase === "prechat" || phase === "starting";
    $(".view.prechat").hidden = !inPrechat;
    $(".view.chat").hidden = inPrechat || phase === "blocked";
    const startBtn = $(".start-btn");
    startBtn.setAttribute("aria-disabled", String(phase === "starting"));
    startBtn.textContent = phase === "starting" ? t("starting") : t("start");
    const formError = prechat.querySelector(".form-error");
    formError.hidden = !s.errors.start;
    formError.textContent = s.errors.start ? t("error_generic") : "";
    if (s.identity) {
      if (s.identity.name && !$("#f-name").value) $("#f-name").value = s.identity.name;
      if (s.identity.email && !$("#f-email").value) $("#f-email").value = s.identity.email;
    }

    renderLog();
    const typing = $(".typing");
    typing.hidden = !(s.typing && phase === "chat");
    $(".typing-text").textContent = t("typing", { name: s.agent || t("agent") });

    const q = s.queue;
    $(".queue").hidden = !(phase === "waiting" && !s.offline);
    const position = q ? q.position : 0;
    $(".queue-n").textContent = position > 0 ? String(position) : "";
    $(".queue").classList.toggle("soon", !(position > 0));
    $(".queue-position").textContent =
      position > 1 ? t("queue_position", { n: position }) : position === 1 ? t("queue_next") : t("queue_soon");
    $(".queue-eta").textContent =
      q && typeof q.eta_s === "number"
        ? q.eta_s < 60
          ? t("eta_under_minute")
          : t("eta_minutes", { n: Math.round(q.eta_s / 60) })
        : "";

    const showLeave = phase === "waiting" && s.offline && !s.left;
    leave.hidden = !showLeave;
    if (showLeave && !$("#l-email").value) $("#l-email").value = $("#f-email").value;
    const leaveError = leave.querySelector(".form-error");
    leaveError.hidden = !s.errors.leave;
    leaveError.textContent = s.errors.leave ? t("error_generic") : "";
    $(".card.left").hidden = !(phase === "waiting" && s.left);

    $(".card.ended").hidden = phase !== "ended";
    rate.hidden = phase !== "ended" || s.rated || !s.hadAgent;
    rate.querySelector("button[type=submit]").disabled = !!s.pendingRate;
    if (s.errors.rate) {
      $("#rate-err").hidden = false;
      $("#rate-err").textContent = t("error_generic");
    }
    $(".rated").hidden = !s.rated;

    composer.hidden = !(phase === "chat" || (phase === "waiting" && (!s.offline || s.left)));

    if (nearBottom || phase !== lastPhase) scroll.scrollTop = scroll.scrollHeight;
    lastPhase = phase;
    // The control that had the focus went away (a form was sent, a view changed): move on.
    const gone = lastFocused && (lastFocused.closest("[hidden]") || lastFocused.matches(":disabled"));
    if (s.panelOpen && gone && document.hasFocus()) focusFirst();
  }

  /** The first thing to use in the current view: where focus goes when the panel opens. */
  function focusFirst() {
    const phase = panel.dataset.phase;
    /** @type {HTMLElement | null} */
    let target = null;
    if (phase === "prechat" || phase === "starting") target = $("#f-name");
    else if (phase === "ended") target = rate.hidden ? $(".download-btn") : rate.querySelector("input[name=score]");
    else if (!leave.hidden) target = $("#l-text");
    else if (!composer.hidden) target = input;
    (target || $(".minimize-btn")).focus();
  }

  fillSelects();
  return {
    render,
    focusFirst,
    relabel() {
      fillSelects();
      render(); // every row's localised parts (times, states, notes) are redone in place
    },
  };
}

/** The transcript as a text file, built here from what is on screen. */
/** @param {import("./session.js").Session} session */
function download(session) {
  const lang = locale();
  const lines = [t("transcript_title"), new Date().toLocaleString(lang), ""];
  for (const item of session.transcript.ordered()) {
    const time = item.ts ? formatTime(item.ts, lang) : "";
    if (item.kind === "event") {
      lines.push(`[${time}] — ${eventText(item, session.agent)}`);
    } else {
      const who = item.role === "visitor" ? t("you") : item.role === "agent" ? item.name || t("agent") : "—";
      lines.push(`[${time}] ${who}: ${item.text}`);
    }
  }
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/plain;charset=utf-8" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${t("transcript_file")}-${new Date().toISOString().slice(0, 10)}.txt`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
