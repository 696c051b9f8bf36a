// Integration > Webhooks: the account's endpoints, adding, changing and testing them.

import { api, segment } from "./api.js";
import { endpointForm } from "./endpoint-form.js";
import {
  busy,
  byId,
  confirmDialog,
  copyWithFeedback,
  errorMessage,
  fill,
  formatDuration,
  formatTime,
  h,
  say,
  statusBadge,
  timeElement,
  urlText,
} from "./dom.js";
import { showErrors } from "./forms.js";
import { signedInPage } from "./layout.js";
import { javascriptSnippet, pythonSnippet } from "./snippets.js";

const state = {
  endpoints: [],
  catalog: [],
  policies: [],
  secrets: new Map(), // endpoint id -> secret, once revealed
  openPanels: new Set(), // endpoint ids whose secret panel is open
  testResults: new Map(), // endpoint id -> the last test's answer or error
};

const list = byId("endpoint-list");

// ---------------------------------------------------------------- facts

function eventsSummary(endpoint) {
  if (!endpoint.event_types.length) return h("span", { class: "all-events" }, "All events");
  return h(
    "ul",
    { class: "chips", "aria-label": "Subscribed events" },
    endpoint.event_types.map((name) => h("li", { class: "chip mono" }, name)),
  );
}

function successRate(endpoint) {
  const rate = endpoint.success_rate_24h;
  if (typeof rate !== "number") {
    return h("span", { class: "muted", title: "No attempts in the last 24 hours" }, "—");
  }
  // One decimal at most, and never "100%" while any attempt failed.
  const percent = Math.round(rate * 1000) / 10;
  const shown = `${rate < 1 && percent === 100 ? 99.9 : percent}%`;
  const level = rate >= 0.95 ? "good" : rate >= 0.8 ? "fair" : "poor";
  const attempts = endpoint.attempts_24h;
  return h(
    "span",
    {},
    h("span", { class: `rate rate-${level}` }, shown),
    typeof attempts === "number"
      ? h("span", { class: "muted" }, ` of ${attempts} attempt${attempts === 1 ? "" : "s"}`)
      : null,
  );
}

function policyName(endpoint) {
  const fallback = state.policies.find((policy) => policy.default);
  if (endpoint.retry_policy) return endpoint.retry_policy;
  return fallback ? `${fallback.name} (default)` : "default";
}

function statusOf(endpoint) {
  if (!endpoint.disabled) return h("span", { class: "badge badge-enabled" }, "Enabled");
  return h("span", { class: "badge badge-disabled" }, "Disabled");
}

function fact(term, ...details) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, ...details));
}

// ---------------------------------------------------------------- one endpoint

function endpointCard(endpoint) {
  const urlId = `url-${endpoint.id}`;
  const actionError = h("p", { class: "action-error", role: "alert", hidden: true });
  const testResult = h("div", { class: "test-result", role: "status" });
  renderTestResult(testResult, state.testResults.get(endpoint.id));

  const toggleLabel = endpoint.disabled ? "Enable" : "Disable";
  const button = (label, extra = {}) =>
    h(
      "button",
      { type: "button", class: "button button-small", "aria-describedby": urlId, ...extra },
      label,
    );

  const editButton = button("Edit");
  editButton.addEventListener("click", () => startEditing(endpoint));
  const toggleButton = button(toggleLabel);
  toggleButton.addEventListener("click", () =>
    runAction(toggleButton, actionError, endpoint.disabled ? "Enabling…" : "Disabling…", () =>
      setDisabled(endpoint, !endpoint.disabled),
    ),
  );
  const testButton = button("Send test event");
  testButton.addEventListener("click", () => sendTest(endpoint, testButton, testResult));
  const deleteButton = button("Delete", { class: "button button-small button-danger" });
  deleteButton.addEventListener("click", () => remove(endpoint, deleteButton, actionError));

  return h(
    "li",
    { class: "endpoint card", "data-endpoint-id": endpoint.id },
    h(
      "div",
      { class: "endpoint-head" },
      h("h3", { class: "endpoint-url mono", id: urlId, tabindex: "-1" }, urlText(endpoint.url)),
      statusOf(endpoint),
    ),
    endpoint.description ? h("p", { class: "endpoint-description" }, endpoint.description) : null,
    endpoint.disabled
      ? h(
          "p",
          { class: "disabled-reason" },
          "Disabled since ",
          timeElement(endpoint.disabled_at),
          endpoint.disabled_reason ? ` (${endpoint.disabled_reason})` : "",
          ". No events are sent to it until it is enabled.",
        )
      : null,
    h(
      "dl",
      { class: "facts" },
      fact("Events", eventsSummary(endpoint)),
      fact("Success, last 24 h", successRate(endpoint)),
      fact("Retry policy", policyName(endpoint)),
      fact("Endpoint ID", h("span", { class: "mono" }, endpoint.id)),
    ),
    h(
      "div",
      { class: "actions" },
      editButton,
      toggleButton,
      testButton,
      h(
        "a",
        {
          class: "button button-small",
          href: `/deliveries?endpoint_id=${segment(endpoint.id)}`,
          "aria-describedby": urlId,
        },
        "View deliveries",
      ),
      deleteButton,
    ),
    actionError,
    testResult,
    secretPanel(endpoint),
  );
}

async function runAction(button, errorBox, label, work) {
  say(errorBox, "");
  // The page's notice told of an earlier action; this one answers on its own card.
  say(byId("page-notice"), "");
  try {
    await busy(button, label, work);
  } catch (error) {
    say(errorBox, errorMessage(error));
  }
}

function replaceCard(endpoint, { focus } = {}) {
  const old = list.querySelector(`[data-endpoint-id="${CSS.escape(endpoint.id)}"]`);
  const card = endpointCard(endpoint);
  if (old) old.replaceWith(card);
  else list.append(card);
  if (focus) card.querySelector(focus)?.focus();
  return card;
}

const RATE_FIELDS = ["attempts_24h", "success_rate_24h"];

/** Keep a changed endpoint; its rate stays as last listed, which a change does not recount. */
function remember(endpoint) {
  const index = state.endpoints.findIndex((known) => known.id === endpoint.id);
  if (index < 0) {
    state.endpoints.push(endpoint);
    return endpoint;
  }
  const merged = { ...endpoint };
  for (const field of RATE_FIELDS) merged[field] = state.endpoints[index][field];
  state.endpoints[index] = merged;
  return merged;
}

async function setDisabled(endpoint, disabled) {
  const changed = await api("PATCH", `/v1/endpoints/${segment(endpoint.id)}`, {
    body: { disabled },
  });
  // A test made before the change speaks of the endpoint as it was.
  state.testResults.delete(endpoint.id);
  replaceCard(remember(changed), { focus: ".actions button:nth-child(2)" });
}

async function remove(endpoint, button, errorBox) {
  const confirmed = await confirmDialog({
    title: "Delete this endpoint?",
    message:
      `${endpoint.url} will stop receiving events at once. ` +
      "Its delivery history stays. This cannot be undone.",
    confirmLabel: "Delete endpoint",
  });
  if (!confirmed) {
    button.focus();
    return;
  }
  await runAction(button, errorBox, "Deleting…", async () => {
    await api("DELETE", `/v1/endpoints/${segment(endpoint.id)}`);
    state.endpoints = state.endpoints.filter((known) => known.id !== endpoint.id);
    list.querySelector(`[data-endpoint-id="${CSS.escape(endpoint.id)}"]`)?.remove();
    showEmptyState();
    say(byId("page-notice"), `Deleted ${endpoint.url}.`);
    byId("add-endpoint").focus();
  });
}

function startEditing(shown) {
  // The card may show the endpoint as it was before a change made in place (a rotation).
  const endpoint = state.endpoints.find((known) => known.id === shown.id) ?? shown;
  const card = list.querySelector(`[data-endpoint-id="${CSS.escape(endpoint.id)}"]`);
  const titleId = `edit-title-${endpoint.id}`;
  const form = endpointForm({
    catalog: state.catalog,
    policies: state.policies,
    endpoint,
    submitLabel: "Save changes",
    onCancel: () => replaceCard(endpoint, { focus: ".actions button" }),
    onSubmit: async (values, formNode) => {
      try {
        const changed = await api("PATCH", `/v1/endpoints/${segment(endpoint.id)}`, {
          body: values,
        });
        replaceCard(remember(changed), { focus: ".actions button" });
        say(byId("page-notice"), `Saved ${changed.url}.`);
      } catch (error) {
        showErrors(formNode, error);
      }
    },
  });
  fill(
    card,
    h("h3", { id: titleId, class: "edit-title" }, "Edit endpoint"),
    h("p", { class: "muted mono edit-subtitle" }, urlText(endpoint.url)),
    form,
  );
  form.setAttribute("aria-labelledby", titleId);
  form.focusFirst();
}

// ---------------------------------------------------------------- testing

function renderTestResult(node, result) {
  if (!result) {
    fill(node);
    node.hidden = true;
    return;
  }
  node.hidden = false;
  if (result.error) {
    fill(node, h("p", { class: "action-error" }, `Test event not sent: ${result.error}`));
    return;
  }
  const answer = result.answer;
  const summary = [
    answer.status_code !== null && answer.status_code !== undefined
      ? `HTTP ${answer.status_code}`
      : null,
    answer.duration_ms !== null && answer.duration_ms !== undefined
      ? formatDuration(answer.duration_ms)
      : null,
  ]
    .filter(Boolean)
    .join(" · ");
  fill(
    node,
    h(
      "p",
      { class: "test-summary" },
      h("strong", {}, "Test event: "),
      statusBadge(answer.status),
      summary ? ` ${summary}` : "",
      answer.event_id
        ? [" · ", h("a", { href: `/deliveries/${segment(answer.event_id)}` }, "View event")]
        : null,
    ),
    answer.error ? h("p", { class: "test-error" }, answer.error) : null,
    answer.response_body
      ? h(
          "details",
          { class: "response-body" },
          h("summary", {}, "Response body"),
          h("pre", { class: "code" }, answer.response_body),
        )
      : null,
  );
}

async function sendTest(endpoint, button, resultNode) {
  let result;
  try {
    const answer = await busy(button, "Sending…", () =>
      api("POST", `/v1/endpoints/${segment(endpoint.id)}/test`),
    );
    result = { answer };
  } catch (error) {
    result = { error: errorMessage(error) };
  }
  state.testResults.set(endpoint.id, result);
  renderTestResult(resultNode, result);
  if (result.answer) await recount(endpoint.id);
}

/** Read an endpoint again for its 24-hour rate, which a test event just changed. */
async function recount(endpointId) {
  let fresh;
  try {
    fresh = await api("GET", `/v1/endpoints/${segment(endpointId)}`);
  } catch {
    return; // the rate shown stays as it was
  }
  const index = state.endpoints.findIndex((known) => known.id === endpointId);
  if (index < 0) return;
  state.endpoints[index] = fresh;
  const card = list.querySelector(`[data-endpoint-id="${CSS.escape(endpointId)}"]`);
  // Not while it is being edited: the form would be lost.
  if (card && !card.querySelector("form")) {
    const focused = card.contains(document.activeElement);
    replaceCard(fresh, { focus: focused ? ".actions button:nth-child(3)" : null });
  }
}

// ---------------------------------------------------------------- secret and snippets

function maskedSecret() {
  return `whsec_${"•".repeat(24)}`;
}

/** After a rotation, deliveries carry a signature for the previous secret for a while. */
function graceNote(endpoint) {
  const until = endpoint.previous_secret_expires_at;
  if (!until || new Date(until).getTime() <= Date.now()) return null;
  return h(
    "p",
    { class: "hint" },
    "The previous secret also signs deliveries until ",
    timeElement(until),
    ".",
  );
}

function secretPanel(endpoint) {
  const secret = state.secrets.get(endpoint.id);
  const secretId = `secret-${endpoint.id}`;
  const error = h("p", { class: "action-error", role: "alert", hidden: true });
  const value = h(
    "code",
    { class: "secret-value", id: secretId, "aria-live": "polite" },
    secret || maskedSecret(),
  );
  const python = h("code", {}, pythonSnippet(secret));
  const javascript = h("code", {}, javascriptSnippet(secret));

  const show = (shown) => {
    fill(value, shown || maskedSecret());
    fill(python, pythonSnippet(shown));
    fill(javascript, javascriptSnippet(shown));
    revealButton.textContent = shown ? "Hide" : "Reveal";
  };
  const fetchSecret = async () => {
    const known = state.secrets.get(endpoint.id);
    if (known) return known;
    const answer = await api("GET", `/v1/endpoints/${segment(endpoint.id)}/secret`);
    return answer.secret;
  };

  const revealButton = h(
    "button",
    { type: "button", class: "button button-small", "aria-controls": secretId },
    secret ? "Hide" : "Reveal",
  );
  revealButton.addEventListener("click", async () => {
    say(error, "");
    if (state.secrets.has(endpoint.id)) {
      state.secrets.delete(endpoint.id);
      show(null);
      return;
    }
    try {
      const shown = await busy(revealButton, "Revealing…", fetchSecret);
      state.secrets.set(endpoint.id, shown);
      show(shown);
    } catch (failure) {
      say(error, errorMessage(failure));
    }
  });

  const copyButton = h("button", { type: "button", class: "button button-small" }, "Copy secret");
  copyButton.addEventListener("click", async () => {
    say(error, "");
    try {
      await copyWithFeedback(copyButton, await fetchSecret());
    } catch (failure) {
      say(error, errorMessage(failure));
    }
  });

  const rotateButton = h("button", { type: "button", class: "button button-small" }, "Rotate");
  rotateButton.addEventListener("click", async () => {
    const confirmed = await confirmDialog({
      title: "Rotate the signing secret?",
      message:
        `Deliveries to ${endpoint.url} will be signed with a new secret. ` +
        "Update your receiver with the new secret.",
      confirmLabel: "Rotate secret",
    });
    if (!confirmed) {
      rotateButton.focus();
      return;
    }
    say(error, "");
    try {
      const rotated = await busy(rotateButton, "Rotating…", () =>
        api("POST", `/v1/endpoints/${segment(endpoint.id)}/rotate-secret`),
      );
      const { secret: newSecret, ...changed } = rotated;
      state.secrets.set(endpoint.id, newSecret);
      remember(changed);
      show(newSecret);
      say(error, "");
      const until = rotated.previous_secret_expires_at;
      say(
        notice,
        until
          ? "Secret rotated; the new secret is shown above. " +
              `Until ${formatTime(until)} deliveries carry signatures for both the old and ` +
              "the new secret, so receivers can switch without losing any."
          : "Secret rotated; the new secret is shown above.",
      );
    } catch (failure) {
      say(error, errorMessage(failure));
    }
  });
  const notice = h("p", { class: "notice", role: "status", hidden: true });

  const snippet = (language, install, code) => {
    const copy = h("button", { type: "button", class: "button button-small" }, "Copy");
    copy.setAttribute("aria-label", `Copy the ${language} example`);
    copy.addEventListener("click", () => copyWithFeedback(copy, code.textContent));
    return h(
      "figure",
      { class: "snippet" },
      h(
        "figcaption",
        {},
        h("span", {}, language, " ", h("span", { class: "install mono" }, install)),
        copy,
      ),
      h("pre", { class: "code", tabindex: "0", "aria-label": `${language} example` }, code),
    );
  };

  const panel = h(
    "details",
    { class: "secret-panel", open: state.openPanels.has(endpoint.id) },
    h("summary", {}, "Signing secret and signature verification"),
    h(
      "div",
      { class: "secret-row" },
      h("span", { class: "secret-label", id: `${secretId}-label` }, "Signing secret"),
      value,
      h("div", { class: "secret-actions" }, revealButton, copyButton, rotateButton),
    ),
    error,
    notice,
    graceNote(endpoint),
    h(
      "p",
      { class: "hint" },
      "Every delivery is signed with this secret (Standard Webhooks). Verify it with the ",
      h("span", { class: "mono" }, "standardwebhooks"),
      " library before trusting a request:",
    ),
    h(
      "div",
      { class: "snippets" },
      snippet("Python", "pip install standardwebhooks", python),
      snippet("JavaScript", "npm install standardwebhooks", javascript),
    ),
  );
  value.setAttribute("aria-labelledby", `${secretId}-label`);
  panel.addEventListener("toggle", () => {
    if (panel.open) state.openPanels.add(endpoint.id);
    else state.openPanels.delete(endpoint.id);
  });
  return panel;
}

// ---------------------------------------------------------------- the page

function showEmptyState() {
  byId("endpoints-empty").hidden = state.endpoints.length > 0;
}

function renderList() {
  fill(list, state.endpoints.map(endpointCard));
  showEmptyState();
}

function setUpAdding() {
  const toggle = byId("add-endpoint");
  const panel = byId("add-panel");
  const slot = byId("add-form-slot");
  const open = (opened) => {
    panel.hidden = !opened;
    toggle.setAttribute("aria-expanded", opened ? "true" : "false");
    if (opened) {
      const form = newForm();
      fill(slot, form);
      form.focusFirst();
    } else {
      fill(slot);
    }
  };
  const newForm = () =>
    endpointForm({
      catalog: state.catalog,
      policies: state.policies,
      submitLabel: "Add endpoint",
      onCancel: () => {
        open(false);
        toggle.focus();
      },
      onSubmit: async (values, form) => {
        if (values.retry_policy === undefined) values.retry_policy = null;
        try {
          const created = await api("POST", "/v1/endpoints", { body: values });
          const { secret, ...endpoint } = created;
          state.secrets.set(endpoint.id, secret);
          state.openPanels.add(endpoint.id);
          open(false);
          replaceCard(remember(endpoint), { focus: "h3" });
          showEmptyState();
          say(
            byId("page-notice"),
            `Added ${endpoint.url}. Its signing secret is shown below; verify deliveries with it.`,
          );
        } catch (error) {
          showErrors(form, error);
        }
      },
    });
  toggle.addEventListener("click", () => {
    say(byId("page-notice"), "");
    // Open, the form keeps what was typed: its Cancel (or Esc) closes it.
    if (panel.hidden) open(true);
    else slot.querySelector("form")?.focusFirst();
  });
  toggle.disabled = false;
}

async function start() {
  if (!signedInPage()) return;
  byId("add-endpoint").disabled = true;
  try {
    const [endpoints, catalog, policies] = await Promise.all([
      api("GET", "/v1/endpoints"),
      api("GET", "/v1/event-types"),
      api("GET", "/v1/retry-policies"),
    ]);
    state.endpoints = endpoints.data;
    state.catalog = catalog.data;
    state.policies = policies;
  } catch (error) {
    say(byId("page-error"), `Could not load your endpoints: ${errorMessage(error)}`);
    return;
  } finally {
    byId("endpoints-loading").hidden = true;
  }
  renderList();
  setUpAdding();
}

start();
