// Building the page from API data without ever parsing it as HTML.

/**
 * An element: h("a", { href, class: "x", onclick: fn }, "text", child, [more]).
 * Properties named on* become listeners, `class` the class name, true an empty attribute;
 * false, null and undefined leave the attribute out. Children are nodes or plain text.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A URL as text that may wrap after its slashes, query marks and ampersands. */
export function urlText(url) {
  const parts = String(url).split(/(?<=[/?&])/);
  const fragment = document.createDocumentFragment();
  parts.forEach((part, index) => {
    if (index > 0) fragment.append(document.createElement("wbr"));
    fragment.append(document.createTextNode(part));
  });
  return fragment;
}

/** An endpoint by its URL; one since deleted by where its deliveries went, when known. */
export function endpointLabel(endpointId, endpoints, sentTo) {
  const endpoint = endpoints.get(endpointId);
  if (endpoint) return urlText(endpoint.url);
  if (!sentTo) return `${endpointId} (deleted)`;
  const label = urlText(sentTo);
  label.append(" (deleted)");
  return label;
}

export function byId(id) {
  return document.getElementById(id);
}

let uniqueCounter = 0;
export function uniqueId(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : timeFormat.format(date);
}

export function timeElement(iso) {
  if (!iso) return h("span", {}, "—");
  return h("time", { datetime: iso, title: iso }, formatTime(iso));
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

const STATUS_LABELS = {
  pending: "Pending",
  delivering: "Retrying",
  delivered: "Delivered",
  failed: "Failed",
  skipped: "Skipped (endpoint disabled)",
};

/** Whether an event is still moving (its endpoints not yet found, a delivery pending or
 * retrying within 15 s): a page showing it looks again in a moment. */
export function unsettled(event) {
  const soon = Date.now() + 15000;
  return (
    !event.endpoints_resolved ||
    event.deliveries.some(
      (delivery) =>
        delivery.status === "pending" ||
        (delivery.status === "delivering" &&
          delivery.next_attempt_at &&
          new Date(delivery.next_attempt_at).getTime() <= soon),
    )
  );
}

/** A delivery state as a labelled badge. */
export function statusBadge(status) {
  const known = Object.hasOwn(STATUS_LABELS, status);
  return h(
    "span",
    { class: `badge badge-${known ? status : "unknown"}` },
    known ? STATUS_LABELS[status] : status,
  );
}

export function errorMessage(error) {
  if (error && error.name === "ApiError") return error.message;
  return "Something went wrong. Try again.";
}

/** Show or hide a message in an element meant for it (role=alert or status). */
export function say(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

/** Disable a button while `work` runs, with a label saying what is happening. */
export async function busy(button, label, work) {
  const original = button.textContent;
  const hadFocus = document.activeElement === button;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = original;
    // Disabling dropped the focus to the page; give it back unless it moved on.
    if (hadFocus && (!document.activeElement || document.activeElement === document.body)) {
      button.focus();
    }
  }
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const scratch = h("textarea", {
    class: "visually-hidden",
    readonly: true,
    "aria-hidden": "true",
  });
  scratch.value = text;
  document.body.append(scratch);
  scratch.select();
  try {
    if (!document.execCommand("copy")) throw new Error("copy refused");
  } finally {
    scratch.remove();
  }
}

/** Copy, then say so on the button for a moment. */
export async function copyWithFeedback(button, text) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  try {
    await copyText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => {
    button.textContent = original;
  }, 1500);
}

/**
 * Ask in the page's <dialog>; resolves true when confirmed, false when cancelled or
 * dismissed with Escape.
 */
export function confirmDialog({ title, message, confirmLabel }) {
  const dialog = byId("confirm-dialog");
  byId("confirm-title").textContent = title;
  byId("confirm-message").textContent = message;
  byId("confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
    dialog.showModal();
    byId("confirm-cancel").focus();
  });
}

/** A table cell whose content stays one block, labelled for the stacked narrow layout. */
export function cell(label, props, ...children) {
  return h("td", { "data-label": label, ...props }, h("div", { class: "cell" }, ...children));
}
