// Deliveries: recent events and their state per endpoint, filtered, a page at a time.

import { api, segment, withQuery } from "./api.js";
import {
  busy,
  byId,
  cell,
  endpointLabel,
  errorMessage,
  fill,
  h,
  say,
  statusBadge,
  timeElement,
  unsettled,
} from "./dom.js";
import { signedInPage } from "./layout.js";

const PAGE_SIZE = 25;
const FILTERS = ["type", "status", "endpoint_id"];
const REFRESH_MS = 3000;
// With nothing moving, a look now and then shows the events that came since.
const IDLE_REFRESH_MS = 10000;
const TEST_EVENT_TYPE = "webhook.test";
// Not a delivery state: such events have no deliveries until a worker finds their endpoints.
const WAITING = "waiting";

const state = {
  endpoints: new Map(), // id -> endpoint
  events: [],
  nextCursor: null,
  pages: 0,
  refreshTimer: null,
  generation: 0, // counts list requests, so a late answer to an older one is dropped
};

const form = byId("filters");

function filters() {
  const values = {};
  for (const name of FILTERS) values[name] = form.elements[name].value;
  return values;
}

function eventRow(event) {
  const deliveries = event.deliveries.length
    ? h(
        "ul",
        { class: "delivery-summary" },
        event.deliveries.map((delivery) =>
          h(
            "li",
            {},
            statusBadge(delivery.status),
            h(
              "span",
              { class: "delivery-endpoint mono" },
              endpointLabel(delivery.endpoint_id, state.endpoints, delivery.endpoint_url),
            ),
            h(
              "span",
              { class: "muted delivery-attempts" },
              `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`,
            ),
          ),
        ),
      )
    : h(
        "span",
        { class: "muted" },
        event.endpoints_resolved ? "No endpoint subscribed" : "Waiting for a worker",
      );
  return h(
    "tr",
    { "data-event-id": event.id },
    cell("Time", {}, timeElement(event.created_at)),
    cell(
      "Event",
      {},
      h(
        "a",
        { class: "event-link", href: `/deliveries/${segment(event.id)}` },
        h("span", { class: "event-type mono" }, event.type),
        h("span", { class: "event-id mono" }, event.id),
      ),
    ),
    cell("Deliveries", {}, deliveries),
  );
}

function render() {
  const empty = state.events.length === 0;
  byId("events-table").hidden = empty;
  byId("events-empty").hidden = !empty;
  const filtered = Object.values(filters()).some(Boolean);
  byId("events-empty-text").textContent = filtered
    ? "No events match these filters."
    : "No events yet.";
  byId("events-empty-hint").hidden = filtered;
  fill(byId("events-body"), state.events.map(eventRow));
  byId("load-more").hidden = !state.nextCursor;
}

function query() {
  const { status, ...rest } = filters();
  return status === WAITING ? { ...rest, resolved: "false" } : { ...rest, status };
}

function page(cursor) {
  return api("GET", withQuery("/v1/events", { ...query(), limit: PAGE_SIZE, cursor }));
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  // Only the first page refreshes by itself, so "Load more" never loses its place; and
  // only while the page is in view, so a forgotten tab asks nothing.
  if (state.pages !== 1 || document.hidden) return;
  const delay = state.events.some(unsettled) ? REFRESH_MS : IDLE_REFRESH_MS;
  state.refreshTimer = setTimeout(() => load({ quiet: true }), delay);
}

async function load({ quiet = false } = {}) {
  clearTimeout(state.refreshTimer);
  // Filters change faster than answers come: only the latest request's answer is shown.
  state.generation += 1;
  const generation = state.generation;
  if (!quiet) byId("events-loading").hidden = false;
  try {
    const answer = await page(null);
    if (generation !== state.generation) return;
    say(byId("page-error"), "");
    const changed = JSON.stringify(answer.data) !== JSON.stringify(state.events);
    state.events = answer.data;
    state.nextCursor = answer.next_cursor;
    state.pages = 1;
    if (changed || !quiet) render();
  } catch (error) {
    if (generation !== state.generation) return;
    say(byId("page-error"), `Could not load events: ${errorMessage(error)}`);
  } finally {
    if (generation === state.generation) byId("events-loading").hidden = true;
  }
  scheduleRefresh();
}

async function loadMore() {
  const button = byId("load-more");
  const error = byId("load-more-error");
  say(error, "");
  clearTimeout(state.refreshTimer);
  const generation = state.generation;
  try {
    const answer = await busy(button, "Loading…", () => page(state.nextCursor));
    if (generation !== state.generation) return;
    state.events = [...state.events, ...answer.data];
    state.nextCursor = answer.next_cursor;
    state.pages += 1;
    render();
    if (!state.nextCursor && answer.data.length) {
      // The button is gone with the last page; the keyboard goes on from its first event.
      const first = `tr[data-event-id="${CSS.escape(answer.data[0].id)}"] a`;
      document.querySelector(first)?.focus();
    }
  } catch (failure) {
    say(error, errorMessage(failure));
  }
}

function keepFiltersInAddress() {
  history.replaceState(null, "", withQuery(location.pathname, filters()));
}

function fillFilterOptions(catalog, endpoints) {
  const params = new URLSearchParams(location.search);
  const typeSelect = form.elements.type;
  for (const eventType of catalog.data) {
    typeSelect.append(h("option", { value: eventType.name }, eventType.name));
  }
  for (const eventType of catalog.operational ?? []) {
    typeSelect.append(
      h("option", { value: eventType.name }, `${eventType.name} (about deliveries)`),
    );
  }
  typeSelect.append(h("option", { value: TEST_EVENT_TYPE }, `${TEST_EVENT_TYPE} (test events)`));
  const endpointSelect = form.elements.endpoint_id;
  for (const endpoint of endpoints) {
    endpointSelect.append(h("option", { value: endpoint.id }, endpoint.url));
  }
  const wanted = params.get("endpoint_id");
  if (wanted && !state.endpoints.has(wanted)) {
    endpointSelect.append(h("option", { value: wanted }, `${wanted} (deleted)`));
  }
  for (const name of FILTERS) {
    const select = form.elements[name];
    const value = params.get(name) || "";
    if ([...select.options].some((option) => option.value === value)) select.value = value;
  }
}

async function start() {
  if (!signedInPage()) return;
  try {
    const [endpoints, catalog] = await Promise.all([
      api("GET", "/v1/endpoints"),
      api("GET", "/v1/event-types"),
    ]);
    state.endpoints = new Map(endpoints.data.map((endpoint) => [endpoint.id, endpoint]));
    fillFilterOptions(catalog, endpoints.data);
  } catch (error) {
    byId("events-loading").hidden = true;
    say(byId("page-error"), `Could not load your endpoints: ${errorMessage(error)}`);
    return;
  }
  form.addEventListener("change", () => {
    keepFiltersInAddress();
    load();
  });
  form.addEventListener("reset", () => {
    // After the browser has put the selects back.
    setTimeout(() => {
      keepFiltersInAddress();
      load();
    });
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  byId("refresh").addEventListener("click", () => load());
  byId("load-more").addEventListener("click", loadMore);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.pages === 1) load({ quiet: true });
  });
  await load();
}

start();
