// One event: its payload, its delivery to each endpoint, every attempt, resending.

import { api, segment, withQuery } from "./api.js";
import {
  busy,
  cell,
  byId,
  copyWithFeedback,
  endpointLabel,
  errorMessage,
  fill,
  formatDuration,
  formatTime,
  h,
  say,
  statusBadge,
  timeElement,
  unsettled,
  urlText,
} from "./dom.js";
import { signedInPage } from "./layout.js";

const eventId = byId("event-head").dataset.eventId;
const REFRESH_MS = 2000;
const ATTEMPTS_PAGE = 50;
const RESPONSE_EXCERPT = 160;

const state = {
  event: null,
  endpoints: new Map(),
  endpointsKnown: false,
  attempts: [],
  attemptsCursor: null,
  olderLoaded: false,
  generation: 0, // counts loads, so a late answer to an older one is dropped
  resendNotes: new Map(), // endpoint id -> what the last resend said
  resends: new Map(), // endpoint id -> { newest: attempt id before the resend, until: ms }
  refreshTimer: null,
};

function endpointOf(endpointId) {
  const delivery = state.event?.deliveries.find((d) => d.endpoint_id === endpointId);
  return endpointLabel(endpointId, state.endpoints, delivery?.endpoint_url);
}

/** Links only to http(s) addresses. */
function safeHref(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function workflowLink(href, text) {
  return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text);
}

function renderHead(event) {
  document.title = `${event.type} · Deliveries · Teachstack Webhooks`;
  byId("event-title").textContent = event.type;
  fill(byId("event-meta"), event.id, " · emitted ", timeElement(event.created_at));
  const link = byId("workflow-link");
  const href = event.workflow_url ? safeHref(event.workflow_url) : null;
  link.hidden = !href;
  if (href) link.href = href;
  else link.removeAttribute("href");
}

function fact(term, ...details) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, ...details));
}

function deliveryItem(delivery) {
  const note = state.resendNotes.get(delivery.endpoint_id);
  const noteBox = h(
    "p",
    { class: note?.error ? "action-error" : "notice", role: "status", hidden: !note },
    note?.text,
    note?.workflowUrl ? [" ", workflowLink(note.workflowUrl, "View its workflow")] : null,
  );
  let resend;
  const endpoint = state.endpoints.get(delivery.endpoint_id);
  if (state.endpointsKnown && !endpoint) {
    resend = h("span", { class: "muted" }, "Endpoint deleted");
  } else if (endpoint?.disabled) {
    // The API refuses a resend to a disabled endpoint; say so before the click.
    resend = h("span", { class: "muted" }, "Endpoint disabled");
  } else {
    resend = h(
      "button",
      {
        type: "button",
        class: "button button-small",
        "aria-describedby": `delivery-${delivery.endpoint_id}`,
      },
      "Resend",
    );
    resend.addEventListener("click", () => resendTo(delivery.endpoint_id, resend));
  }
  return h(
    "li",
    { class: "delivery", "data-endpoint-id": delivery.endpoint_id },
    h(
      "div",
      { class: "delivery-head" },
      statusBadge(delivery.status),
      h(
        "span",
        { class: "delivery-endpoint mono", id: `delivery-${delivery.endpoint_id}` },
        endpointOf(delivery.endpoint_id),
      ),
      resend,
    ),
    h(
      "dl",
      { class: "facts" },
      fact("Attempts", String(delivery.attempts)),
      fact(
        "Last status",
        delivery.last_status_code == null ? "—" : `HTTP ${delivery.last_status_code}`,
      ),
      delivery.delivered_at ? fact("Delivered", timeElement(delivery.delivered_at)) : null,
      delivery.status === "delivering" && delivery.next_attempt_at
        ? fact("Next attempt", timeElement(delivery.next_attempt_at))
        : null,
      // A skipped delivery ran under no policy.
      delivery.retry_policy ? fact("Retry policy", delivery.retry_policy) : null,
    ),
    delivery.last_error ? h("p", { class: "delivery-error" }, delivery.last_error) : null,
    noteBox,
  );
}

function responseCell(attempt) {
  const body = attempt.response_body || "";
  let shown = null;
  if (body.length > RESPONSE_EXCERPT) {
    // The whole stored body, behind a disclosure that a keyboard or a finger can open.
    shown = h(
      "details",
      { class: "response-body" },
      h("summary", {}, h("code", { class: "excerpt" }, `${body.slice(0, RESPONSE_EXCERPT)}…`)),
      h("pre", { class: "code" }, body),
    );
  } else if (body) {
    shown = h("code", { class: "excerpt" }, body);
  }
  return [
    attempt.error ? h("p", { class: "attempt-error" }, attempt.error) : null,
    shown,
    !attempt.error && !body ? h("span", { class: "muted" }, "Empty") : null,
  ];
}

const OUTCOMES = { succeeded: "delivered", failed: "failed", gone: "failed" };

function attemptRow(attempt) {
  return h(
    "tr",
    { "data-attempt-id": attempt.id },
    cell("Time", {}, timeElement(attempt.started_at)),
    cell(
      "Endpoint",
      {},
      h(
        "span",
        { class: "mono break" },
        attempt.url ? urlText(attempt.url) : endpointOf(attempt.endpoint_id),
      ),
    ),
    cell("Attempt", {}, `#${attempt.attempt}`),
    cell(
      "Status",
      { class: "attempt-status" },
      attempt.status_code == null
        ? h("span", { class: "muted" }, "No answer")
        : h(
            "span",
            { class: `status-code ${OUTCOMES[attempt.outcome] === "delivered" ? "ok" : "bad"}` },
            String(attempt.status_code),
          ),
      attempt.outcome === "gone" ? h("span", { class: "muted" }, " gone") : null,
    ),
    cell("Duration", {}, formatDuration(attempt.duration_ms)),
    cell("Response", { class: "attempt-response" }, responseCell(attempt)),
  );
}

function render() {
  const event = state.event;
  renderHead(event);
  const empty = event.deliveries.length === 0;
  byId("deliveries-empty").hidden = !empty || !event.endpoints_resolved;
  byId("deliveries-unresolved").hidden = !empty || event.endpoints_resolved;
  fill(byId("delivery-list"), event.deliveries.map(deliveryItem));
  byId("attempts-empty").hidden = state.attempts.length > 0;
  byId("attempts-table").hidden = state.attempts.length === 0;
  fill(byId("attempts-body"), state.attempts.map(attemptRow));
  byId("attempts-more").hidden = !state.attemptsCursor;
  byId("payload").textContent = JSON.stringify(event.data, null, 2);
  byId("event-loading").hidden = true;
  byId("event-body").hidden = false;
}

function newestAttemptId(endpointId) {
  return state.attempts.find((attempt) => attempt.endpoint_id === endpointId)?.id ?? null;
}

/** A resend is awaited until its first attempt shows up, for a minute at most. */
function awaitingResend() {
  for (const [endpointId, watch] of state.resends) {
    if (Date.now() > watch.until || newestAttemptId(endpointId) !== watch.newest) {
      state.resends.delete(endpointId);
    }
  }
  return state.resends.size > 0;
}

async function load({ quiet = false } = {}) {
  clearTimeout(state.refreshTimer);
  state.generation += 1;
  const generation = state.generation;
  try {
    const [event, attempts] = await Promise.all([
      api("GET", `/v1/events/${segment(eventId)}`),
      api("GET", withQuery(`/v1/events/${segment(eventId)}/attempts`, { limit: ATTEMPTS_PAGE })),
    ]);
    if (generation !== state.generation) return; // a later load is under way
    const changed =
      JSON.stringify([event, attempts.data]) !== JSON.stringify([state.event, state.attempts]);
    state.event = event;
    if (state.olderLoaded) {
      // New attempts come first; the older pages already shown stay below them.
      const fresh = new Set(attempts.data.map((attempt) => attempt.id));
      state.attempts = [...attempts.data, ...state.attempts.filter((a) => !fresh.has(a.id))];
    } else {
      state.attempts = attempts.data;
      state.attemptsCursor = attempts.next_cursor;
    }
    say(byId("page-error"), "");
    if (changed || !quiet) render();
  } catch (error) {
    if (generation !== state.generation) return;
    byId("event-loading").hidden = true;
    const text =
      error.status === 404
        ? "This event does not exist, or belongs to another account."
        : `Could not load the event: ${errorMessage(error)}`;
    say(byId("page-error"), text);
    return;
  }
  if (unsettled(state.event) || awaitingResend()) {
    state.refreshTimer = setTimeout(() => load({ quiet: true }), REFRESH_MS);
  }
}

async function loadOlderAttempts() {
  const button = byId("attempts-more");
  const error = byId("attempts-more-error");
  say(error, "");
  try {
    const answer = await busy(button, "Loading…", () =>
      api(
        "GET",
        withQuery(`/v1/events/${segment(eventId)}/attempts`, {
          limit: ATTEMPTS_PAGE,
          cursor: state.attemptsCursor,
        }),
      ),
    );
    state.attempts = [...state.attempts, ...answer.data];
    state.attemptsCursor = answer.next_cursor;
    state.olderLoaded = true;
    render();
  } catch (failure) {
    say(error, errorMessage(failure));
  }
}

async function resendTo(endpointId, button) {
  const watch = { newest: newestAttemptId(endpointId), until: Date.now() + 60000 };
  try {
    const accepted = await busy(button, "Resending…", () =>
      api("POST", `/v1/events/${segment(eventId)}/resend`, { body: { endpoint_id: endpointId } }),
    );
    const started = `Resend started at ${formatTime(new Date().toISOString())}.`;
    state.resendNotes.set(endpointId, {
      text: accepted?.already_running
        ? "A resend to this endpoint has an attempt under way: nothing more was sent now."
        : accepted?.replaced
          ? `${started} The resend that was waiting to retry was stopped.`
          : started,
      workflowUrl: accepted?.workflow_url ? safeHref(accepted.workflow_url) : null,
    });
    if (!accepted?.already_running) state.resends.set(endpointId, watch);
  } catch (error) {
    state.resendNotes.set(endpointId, { text: `Not resent: ${errorMessage(error)}`, error: true });
  }
  render();
  await load({ quiet: true });
  document
    .querySelector(`.delivery[data-endpoint-id="${CSS.escape(endpointId)}"] button`)
    ?.focus();
}

async function start() {
  if (!signedInPage()) return;
  try {
    const endpoints = await api("GET", "/v1/endpoints");
    state.endpoints = new Map(endpoints.data.map((endpoint) => [endpoint.id, endpoint]));
    state.endpointsKnown = true;
  } catch {
    // Without the endpoint list the page still works, naming endpoints by id.
  }
  byId("refresh").addEventListener("click", () => load());
  byId("attempts-more").addEventListener("click", loadOlderAttempts);
  const copy = byId("copy-payload");
  copy.addEventListener("click", () => copyWithFeedback(copy, byId("payload").textContent));
  await load();
}

start();
