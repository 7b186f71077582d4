// Offers: the cards with their countdown, accepting (sent again while the hub is busy and the
// offer stands) and declining.

import { beep, notify } from "./alerts.js";
import { renderCounts } from "./chat-view.js";
import { el, byId, toast } from "./dom.js";
import { resendDelay, socket } from "./frames.js";
import { state } from "./state.js";

/** @typedef {import("./state.js").Frame} Frame */

/** @param {Frame} f */
export function addOffer(f) {
  if (state.offers.has(f.offer_id)) return;
  const c = f.conversation;
  const name = c.visitor?.name || "Visitor";
  const now = Date.now();
  const countdown = el("span", { class: "countdown" });
  const waited = el("span", { class: "waited" });
  const accept = el("button", { type: "button", class: "primary small" }, "Accept");
  const decline = el("button", { type: "button", class: "ghost small" }, "Decline");
  const card = el(
    "article",
    { class: "offer-card", "aria-label": `Offer from ${name}` },
    el("div", { class: "offer-top" },
      el("strong", { class: "offer-name" }, name),
      countdown),
    el("div", { class: "offer-meta" },
      el("span", { class: "chip topic" }, c.topic),
      el("span", { class: "chip lang" }, String(c.language).toUpperCase()),
      waited),
    el("p", { class: "offer-preview" }, c.preview || "(no message yet)"),
    el("div", { class: "offer-buttons" }, decline, accept),
  );
  accept.addEventListener("click", () => acceptOffer(f.offer_id));
  decline.addEventListener("click", () => declineOffer(f.offer_id));
  state.offers.set(f.offer_id, {
    frame: f,
    deadline: now + Number(f.expires_in_s) * 1000,
    arrived: now - Number(c.waited_s || 0) * 1000,
    node: card,
  });
  byId("offers").append(card);
  tickOffers();
  renderCounts();
  beep();
  if (document.hidden) notify(`New chat: ${name}`, c.preview || `${c.topic} · ${c.language}`);
}

function tickOffers() {
  const now = Date.now();
  for (const o of state.offers.values()) {
    const left = Math.max(0, Math.round((o.deadline - now) / 1000));
    const cd = /** @type {HTMLElement} */ (o.node.querySelector(".countdown"));
    cd.textContent = `${left} s left`;
    cd.classList.toggle("urgent", left <= 5);
    const waited = Math.round((now - o.arrived) / 1000);
    /** @type {HTMLElement} */ (o.node.querySelector(".waited")).textContent =
      `waited ${waited < 60 ? `${waited} s` : `${Math.floor(waited / 60)} min ${waited % 60} s`}`;
  }
}
setInterval(tickOffers, 1000);

/** @param {string} id @param {string|null} why */
export function removeOffer(id, why) {
  const o = state.offers.get(id);
  if (!o) return;
  o.node.remove();
  state.offers.delete(id);
  state.refusals.delete(id);
  renderCounts();
  if (why) toast(why);
}

/** @param {string} id */
export function acceptOffer(id) {
  const o = state.offers.get(id);
  if (!o) return;
  const ref = socket.ref();
  if (!socket.send({ type: "accept", offer_id: id, ref })) return toast("Not connected yet — try again in a moment.");
  state.asks.set(ref, { kind: "accept", offer: id });
  o.node.classList.add("busy");
  /** @type {HTMLElement} */ (o.node.querySelector("button.primary")).textContent = "Accepting…";
}

/** The hub could not take an accept just now: send it again while the offer stands (the
 * same offer id; accepting twice is one assignment), else let the offer go.
 * @param {string} id */
export function acceptAgain(id) {
  const o = state.offers.get(id);
  if (!o) return;
  const n = (state.refusals.get(id) || 0) + 1;
  state.refusals.set(id, n);
  const wait = resendDelay(n);
  if (Date.now() + wait >= o.deadline) {
    removeOffer(id, "The server was too busy to take that chat in time; it goes to the next agent.");
    return;
  }
  window.setTimeout(() => {
    if (state.offers.has(id)) acceptOffer(id);
  }, wait);
}

/** @param {string} id */
function declineOffer(id) {
  const ref = socket.ref();
  if (!socket.send({ type: "decline", offer_id: id, ref })) return toast("Not connected yet — try again in a moment.");
  removeOffer(id, null);
}
