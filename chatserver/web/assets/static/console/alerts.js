// Telling the agent something happened while looking elsewhere: the offer beep, desktop
// notifications, and the button that asks for permission to show them.

import { byId } from "./dom.js";

/** @type {AudioContext|null} */
let audio = null;

/** A short two-tone beep (WebAudio, no asset). Silently nothing if audio is not allowed yet. */
export function beep() {
  try {
    const Ctx = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    const ctx = /** @type {AudioContext} */ (audio);
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.15, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
    gain.connect(ctx.destination);
    for (const [freq, at] of [[880, 0], [1320, 0.12]]) {
      const osc = ctx.createOscillator();
      osc.type = "sine";
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.2);
    }
  } catch {
    /* no sound: not fatal */
  }
}

/** A desktop notification, only when the agent allowed them. @param {string} title @param {string} body */
export function notify(title, body) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(title, { body, tag: "console" });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    /* some browsers only allow notifications from a service worker */
  }
}

/** Offer the "Enable desktop notifications" button, once, when the browser has not been asked. */
export function askNotifications() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  byId("notify-button").hidden = false;
}
byId("notify-button").addEventListener("click", async () => {
  try {
    await Notification.requestPermission();
  } finally {
    byId("notify-button").hidden = true;
  }
});
