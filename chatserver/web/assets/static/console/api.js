// The hub's JSON API, called with the session cookie; a 401 sends the agent to the sign-in page.

/**
 * Call the hub's JSON API with the session cookie.
 * @param {string} method
 * @param {string} path
 * @param {any=} body
 * @returns {Promise<{ok: boolean, status: number, data: any, message: string}>}
 */
export async function api(method, path, body) {
  try {
    const r = await fetch(path, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401) {
      location.assign("/login");
    }
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    const message = r.ok ? "" : (data && data.message) || `HTTP ${r.status}`;
    return { ok: r.ok, status: r.status, data, message };
  } catch {
    return { ok: false, status: 0, data: null, message: "Cannot reach the server." };
  }
}
