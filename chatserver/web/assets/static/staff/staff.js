// Shared by the supervisor and admin pages: "Sign out" revokes the session's token.

const signOut = /** @type {HTMLButtonElement | null} */ (document.getElementById("signout-button"));
signOut?.addEventListener("click", async () => {
  signOut.disabled = true;
  try {
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
  } finally {
    location.assign("/login");
  }
});
