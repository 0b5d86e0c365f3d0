// The dashboard's script: who is signed in (or off to the sign-in page), and signing out
// with the session's CSRF token.
"use strict";

async function start() {
  const answer = await fetch("/api/v1/me", { credentials: "same-origin" });
  if (answer.status === 401) {
    window.location.assign("/login");
    return;
  }
  const me = await answer.json();
  document.getElementById("who").textContent = "Signed in as " + me.user;
  const out = document.getElementById("signout");
  out.hidden = false;
  out.addEventListener("click", async () => {
    await fetch("/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": me.csrf || "" },
    });
    window.location.assign("/login");
  });
}

start();
