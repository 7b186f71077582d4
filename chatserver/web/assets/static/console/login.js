// The sign-in form: POST /api/v1/auth/login (sets the HttpOnly session cookie), then the
// user's start page: /dashboard for supervisors and admins who do not take chats (no "agent"
// role), /console for everyone else — the rule of chatserver/web/kit.py home_for. Errors never say
// which of username or password was wrong.

const DASHBOARD_ROLES = ["supervisor", "admin"];

/** @param {string[]} roles @returns {string} */
export function homeFor(roles) {
  const dashboard = roles.some((r) => DASHBOARD_ROLES.includes(r));
  return dashboard && !roles.includes("agent") ? "/dashboard" : "/console";
}

const form = /** @type {HTMLFormElement} */ (document.getElementById("login-form"));
const errorBox = /** @type {HTMLElement} */ (document.getElementById("login-error"));
const username = /** @type {HTMLInputElement} */ (document.getElementById("username"));
const password = /** @type {HTMLInputElement} */ (document.getElementById("password"));

/** @param {string} text */
function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  if (!username.value.trim() || !password.value) {
    showError("Enter your username and password.");
    return;
  }
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  button.disabled = true;
  try {
    const r = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ username: username.value.trim(), password: password.value }),
    });
    if (r.ok) {
      const body = await r.json().catch(() => null);
      const roles = Array.isArray(body?.agent?.roles) ? body.agent.roles : [];
      location.assign(homeFor(roles));
      return;
    }
    if (r.status === 401) showError("Wrong username or password.");
    else if (r.status === 429) showError("Too many attempts. Wait a moment and try again.");
    else showError(`Sign-in failed (HTTP ${r.status}). Try again.`);
  } catch {
    showError("Cannot reach the server. Check your connection and try again.");
  } finally {
    button.disabled = false;
  }
});
