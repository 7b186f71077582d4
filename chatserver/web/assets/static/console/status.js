// The agent's status (online or away): the pill, the button, and the hints that depend on it.

import { askNotifications } from "./alerts.js";
import { byId } from "./dom.js";
import { socket } from "./frames.js";
import { state } from "./state.js";

/** @param {string} s */
export function setStatus(s) {
  state.status = s;
  const pill = byId("status-pill");
  pill.textContent = s === "online" ? "Online" : "Away";
  pill.className = `status-pill ${s}`;
  const button = byId("status-button");
  button.textContent = s === "online" ? "Go away" : "Go online";
  button.className = s === "online" ? "ghost small" : "primary small";
  byId("offers-empty").textContent =
    s === "online" ? "No offers waiting. New chats appear here." : "You are away: go online to receive chats.";
  byId("empty-hint").textContent =
    s === "online" ? "You are online: new chats arrive as offers on the left." : "Go online to receive offers.";
}

/** @param {"online"|"away"} s */
export function sendStatus(s) {
  state.wanted = s;
  sessionStorage.setItem("console:status", s);
  socket.send({ type: "status", status: s, ref: socket.ref() });
}

byId("status-button").addEventListener("click", () => {
  sendStatus(state.status === "online" ? "away" : "online");
  askNotifications();
});
