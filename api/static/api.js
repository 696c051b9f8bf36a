// The JSON API, called with the API key this browser tab signed in with.

const KEY_NAME = "teachstack-webhooks:api-key";

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function saveApiKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function forgetApiKey() {
  sessionStorage.removeItem(KEY_NAME);
}

/** An answer other than 2xx. `detail` is the API's text, or its list of field errors. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(Array.isArray(detail) ? detail.map((item) => item.msg).join("; ") : String(detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

/** Go to the sign-in page, coming back here afterwards. */
export function goToSignIn(reason) {
  const params = new URLSearchParams({ next: location.pathname + location.search });
  if (reason) params.set("reason", reason);
  location.replace(`/signin?${params}`);
}

/**
 * Call the API. Resolves to the parsed JSON body (null for an empty one); rejects with an
 * ApiError. A 401 means the key stopped working: it is forgotten and sign-in is shown.
 */
export async function api(method, path, { body, key, signOutOn401 = true } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${key ?? apiKey() ?? ""}` };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "Could not reach the API. Check your connection and try again.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && signOutOn401) {
      forgetApiKey();
      goToSignIn("expired");
    }
    const detail =
      data && data.detail !== undefined
        ? data.detail
        : `The API answered ${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, detail);
  }
  return data;
}

/** A path with its query string, leaving out empty values. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export const segment = encodeURIComponent;
