// The visitor's details beside the chat (name, e-mail, page, earlier conversations), the
// transcript dialog for an earlier conversation, and a conversation named in the address.

import { api } from "./api.js";
import { openChat, renderHeader, renderTabs } from "./chat-view.js";
import { el, byId, formatClock, pageError, toast } from "./dom.js";
import { state } from "./state.js";
import { renderTags } from "./tags.js";

/** @typedef {import("./state.js").Chat} Chat */

/** @param {Chat} chat */
export async function loadContext(chat) {
  const r = await api("GET", `/api/v1/conversations/${encodeURIComponent(chat.id)}/context`);
  if (!r.ok) return;
  chat.context = r.data;
  if (r.data.visitor?.name && chat.name === "Visitor") chat.name = r.data.visitor.name;
  chat.topic = chat.topic || r.data.topic;
  chat.language = chat.language || r.data.language;
  if (!chat.tagsFromEvents) chat.tags = r.data.tags || [];
  renderTabs();
  if (state.active === chat.id) {
    renderContext(chat);
    renderHeader();
    renderTags(chat);
  }
}

/** @param {Chat} chat */
export function renderContext(chat) {
  const c = chat.context;
  byId("ctx-name").textContent = c?.visitor?.name || chat.name || "—";
  byId("ctx-email").textContent = c?.visitor?.email || "—";
  renderUser(c?.visitor);
  byId("ctx-topic").textContent = c?.topic || chat.topic || "—";
  byId("ctx-language").textContent = (c?.language || chat.language || "—").toUpperCase();
  const page = byId("ctx-page");
  if (c?.page_url) {
    page.replaceChildren(el("a", { href: c.page_url, target: "_blank", rel: "noopener noreferrer" }, c.page_url));
  } else page.textContent = "—";
  const earlier = c?.earlier || [];
  byId("ctx-earlier-empty").hidden = earlier.length > 0;
  byId("ctx-earlier").replaceChildren(...earlier.map((/** @type {any} */ e) => {
    const when = new Date(e.created_at).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
    const b = el("button", { type: "button", class: "earlier-item", "aria-label": `Open transcript of ${when} (${e.topic})` },
      el("span", {}, when), el("span", { class: "chip small" }, e.topic), el("span", { class: "muted small-text" }, e.status));
    b.addEventListener("click", () => openEarlier(chat, e.conversation_id));
    return el("li", {}, b);
  }));
}

/**
 * The host app's user id (docs/widget.md, "Verified users"): "Verified" when the app's server
 * proved it with the site's secret; a merely claimed one is marked "Unverified".
 * @param {{user_id?: string | null, verified?: boolean} | undefined} visitor
 */
function renderUser(visitor) {
  const cell = byId("ctx-user");
  if (!visitor?.user_id) {
    cell.textContent = "—";
    return;
  }
  const chip = visitor.verified
    ? el("span", { class: "chip small verified", title: "Proven by the app's server with the site's secret" }, "✓ Verified")
    : el("span", { class: "chip small unverified", title: "Claimed by the page, not proven: treat with care" }, "Unverified");
  cell.replaceChildren(el("span", { class: "user-id" }, visitor.user_id), chip);
}

/** @param {Chat} chat @param {string} earlierId */
async function openEarlier(chat, earlierId) {
  const r = await api("GET", `/api/v1/conversations/${encodeURIComponent(chat.id)}/earlier/${encodeURIComponent(earlierId)}`);
  if (!r.ok) return toast(r.message);
  const topic = String(r.data.topic || "");
  const when = new Date(r.data.created_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  showTranscript(`Earlier conversation · ${topic.charAt(0).toUpperCase()}${topic.slice(1)}`, when, r.data.events);
}

/** @param {string} title @param {string} sub @param {any[]} events */
function showTranscript(title, sub, events) {
  byId("history-dialog-title").textContent = title;
  byId("history-sub").textContent = sub;
  byId("history-log").replaceChildren(...events.map((ev) => {
    if (ev.kind === "message") {
      const role = ev.from?.role;
      return el("div", { class: `row msg ${role === "agent" ? "out" : role === "visitor" ? "in" : "system"}` },
        el("div", { class: "bubble" }, ev.body.text), el("div", { class: "meta" }, el("span", { class: "who" }, ev.from?.name || role), el("time", {}, formatClock(ev.ts))));
    }
    if (ev.kind === "note") return el("div", { class: "row note" }, el("div", { class: "note-label" }, "Internal note"), el("div", { class: "bubble" }, ev.body.text));
    return el("div", { class: "row system" }, el("span", {}, ev.kind === "closed" ? "Chat ended" : ev.kind));
  }));
  byId("history-dialog").showModal();
}

// --- a conversation named in the address (#c_…): open it, or say why not ----------------

export async function openFromHash() {
  const id = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (!id) return;
  if (state.chats.has(id)) return openChat(id);
  const r = await api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
  if (r.status === 403) return pageError("You cannot open this conversation: it was not assigned to you.");
  if (r.status === 404) return pageError("There is no such conversation.");
  if (!r.ok) return pageError(r.message);
  showTranscript("Conversation", `${r.data.conversation.topic} · ${r.data.conversation.status}`, r.data.events);
}
window.addEventListener("hashchange", openFromHash);

