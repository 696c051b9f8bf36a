// Sign in with an API key, kept in sessionStorage for this tab only.

import { api, apiKey, saveApiKey } from "./api.js";
import { busy, byId, errorMessage, say } from "./dom.js";

const REASONS = {
  expired: "Your API key is no longer accepted. Sign in again.",
  "signed-out": "You are signed out.",
};

/** Only paths on this site: "/deliveries", never "//elsewhere" or "https://…". */
function nextPage(params) {
  const next = params.get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function start() {
  const params = new URLSearchParams(location.search);
  if (apiKey() && !params.get("reason")) {
    location.replace(nextPage(params));
    return;
  }
  say(byId("signin-notice"), REASONS[params.get("reason")] || "");

  const form = byId("signin-form");
  const input = byId("api-key");
  const error = byId("api-key-error");
  input.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    say(error, "");
    input.removeAttribute("aria-invalid");
    if (!key) {
      say(error, "Enter your API key.");
      input.setAttribute("aria-invalid", "true");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    try {
      await busy(button, "Signing in…", () =>
        api("GET", "/v1/endpoints", { key, signOutOn401: false }),
      );
    } catch (failure) {
      const text =
        failure.status === 401 ? "That API key was not accepted." : errorMessage(failure);
      say(error, text);
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    saveApiKey(key);
    location.assign(nextPage(params));
  });
}

start();
