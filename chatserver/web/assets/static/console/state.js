// Everything the console knows, in one object: who is signed in, the chats and offers it shows,
// which chat is open, the agent's status, the frames awaiting an answer, and the few bits of
// state its panels keep between events. Modules read and write it here, never keep their own.

import { Keep } from "./drafts.js";

/** @typedef {Record<string, any>} Frame */
/**
 * @typedef {{id: string, name: string, topic: string, language: string, status: string,
 *   lastSeq: number, seen: Set<number>, unread: number, draft: string,
 *   pending: Map<string, {text: string, node: HTMLElement}>, readSent: number,
 *   visitorRead: number, visitorTyping: boolean, tags: string[], tagTrail: string[],
 *   tagsFromEvents: boolean, context: any, nodes: HTMLElement[], maxVisitorSeq: number,
 *   resumed: boolean}} Chat
 */
/** @typedef {{frame: Frame, deadline: number, arrived: number, node: HTMLElement, ref?: string}} Offer */
/** A frame sent with a ref, awaiting its answer (ack, assigned, resumed or error).
 * @typedef {{kind: string, conv?: string, offer?: string, extra?: any}} Ask */
/** @typedef {{id:number, shortcut:string, text:string, shared:boolean}} Canned */

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
const username = root.dataset.username || "";

export const state = {
  me: { username, name: root.dataset.displayName || "" },
  /** The topics a chat can be transferred to. */
  topics: (root.dataset.topics || "").split(",").filter(Boolean),
  /** Admins may change shared canned responses. */
  admin: root.dataset.admin === "true",
  /** Drafts, note drafts and unacknowledged messages of this agent, kept across reloads. */
  keep: new Keep(username),
  /** The first welcome after the page loaded restores the outbox; later ones are reconnects. */
  restored: false,
  /** Set once the agent signs out: from then on nothing typed is written to storage. */
  signingOut: false,

  /** @type {Map<string, Chat>} */
  chats: new Map(),
  /** @type {Map<string, Offer>} */
  offers: new Map(),
  /** The chat on screen. @type {string|null} */
  active: null,
  status: "away",
  /** The status the agent chose; kept across reconnects and reloads (this tab only). */
  wanted: /** @type {"online"|"away"|null} */ (sessionStorage.getItem("console:status")),
  /** By ref. @type {Map<string, Ask>} */
  asks: new Map(),
  /** Refusals so far of what is sent again by itself, by offer id or client_id.
   * @type {Map<string, number>} */
  refusals: new Map(),
  /** A `read` about to go out, per chat (one per 300 ms at most). @type {Map<string, number>} */
  readTimers: new Map(),

  /** The composer: whether `typing: true` went out, and the timer that ends it. */
  typing: { sent: false, timer: /** @type {number|undefined} */ (undefined) },
  /** Canned responses: the agent's list, the picker's highlighted row, the one being edited. */
  canned: {
    /** @type {Canned[]} */ list: [],
    index: 0,
    /** @type {number|null} */ editing: null,
  },
  /** The chat whose note the note dialog is writing. @type {string|null} */
  noteConv: null,
  /** Tags used before, offered in the tags dialog. @type {string[]} */
  tagSuggestions: [],
};

/** The chat on screen, if any. */
export function activeChat() {
  return state.active ? state.chats.get(state.active) : undefined;
}
