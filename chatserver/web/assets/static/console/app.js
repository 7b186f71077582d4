// The agent console: status, offers, several chats at once, visitor context, notes, tags,
// transfers, canned responses, keyboard shortcuts, and lossless reconnects (resume by seq,
// unacked messages re-sent with the same client_id). Drafts and unacknowledged messages are
// kept in localStorage (drafts.js), so a reload or a closed tab loses nothing either. Text is
// always rendered as text.
//
// This is the entry point: it starts the console once every module has wired its part of the
// page. What the console knows lives in state.js; the socket and the frames in socket.js and
// frames.js; offers.js, chats.js and chat-view.js are the offers, the chats and the chat on
// screen; composer.js the message box; canned.js, notes.js, tags.js, transfer.js and visitor.js
// the panels and dialogs; shortcuts.js the keyboard.

import { loadCanned } from "./canned.js";
import { saveDraft } from "./composer.js";
import { byId } from "./dom.js";
import { socket } from "./frames.js";
import "./notes.js";
import "./shortcuts.js";
import { activeChat, state } from "./state.js";
import "./transfer.js";
import { openFromHash } from "./visitor.js";

byId("signout-button").addEventListener("click", async () => {
  state.signingOut = true;
  socket.stop();
  try {
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
  } finally {
    sessionStorage.clear();
    state.keep.forgetAll(); // nothing typed stays behind on a shared computer
    location.assign("/login");
  }
});

window.addEventListener("beforeunload", () => {
  const chat = activeChat();
  if (chat) saveDraft(chat);
});

// --- start ------------------------------------------------------------------------------

loadCanned();
socket.connect();
openFromHash();
/** @type {any} */ (window).__console = { chats: state.chats, offers: state.offers, socket };
