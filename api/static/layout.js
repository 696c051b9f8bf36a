// What every signed-in page shares: the key check, the sign-out button.

import { apiKey, forgetApiKey, goToSignIn } from "./api.js";
import { byId } from "./dom.js";

/** Show the page if this tab is signed in; otherwise go to sign-in. */
export function signedInPage() {
  if (!apiKey()) {
    goToSignIn();
    return false;
  }
  byId("sign-out").addEventListener("click", () => {
    forgetApiKey();
    location.assign("/signin?reason=signed-out");
  });
  byId("main").hidden = false;
  return true;
}
