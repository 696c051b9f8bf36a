// The form that adds an endpoint or changes one.

import { h, uniqueId } from "./dom.js";
import { clearErrors, describeWith } from "./forms.js";

function errorBox(id, field) {
  return h("p", { class: "field-error", id, "data-error-for": field, role: "alert", hidden: true });
}

/**
 * A form for `endpoint` (or a new one). `onSubmit(values)` gets the fields to send and
 * returns a promise; the form shows its errors with forms.showErrors.
 */
export function endpointForm({
  catalog,
  policies,
  endpoint = null,
  submitLabel,
  onSubmit,
  onCancel,
}) {
  const prefix = uniqueId("endpoint-form");
  const defaultPolicy = policies.find((policy) => policy.default);

  const urlInput = h("input", {
    id: `${prefix}-url`,
    name: "url",
    type: "url",
    inputmode: "url",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "https://example.com/webhooks/teachstack",
    "data-field": "url",
  });
  urlInput.value = endpoint ? endpoint.url : "";
  const urlError = errorBox(`${prefix}-url-error`, "url");
  describeWith(urlInput, urlError);

  const chosen = new Set(endpoint ? endpoint.event_types : []);
  const eventsHint = h(
    "p",
    { class: "hint", id: `${prefix}-events-hint` },
    "Tick none to receive all events, including types added later.",
  );
  const eventsError = errorBox(`${prefix}-events-error`, "event_types");
  const eventBoxes = catalog.map((eventType, index) => {
    const id = `${prefix}-event-${index}`;
    const box = h("input", { type: "checkbox", id, name: "event_types", value: eventType.name });
    box.checked = chosen.has(eventType.name);
    return h(
      "div",
      { class: "check" },
      box,
      h(
        "label",
        { for: id },
        h("span", { class: "check-name mono" }, eventType.name),
        h("span", { class: "check-description" }, eventType.description),
      ),
    );
  });
  const eventsFieldset = h(
    "fieldset",
    {
      class: "field events-field",
      "data-field": "event_types",
      tabindex: "-1",
      "aria-describedby": `${prefix}-events-hint ${prefix}-events-error`,
    },
    h("legend", {}, "Events to send"),
    eventsHint,
    h("div", { class: "checks" }, eventBoxes),
    eventsError,
  );

  // The default policy's option sends null: the account's default, which an event type
  // may override. Naming a policy pins it.
  const policySelect = h("select", {
    id: `${prefix}-policy`,
    name: "retry_policy",
    "data-field": "retry_policy",
  });
  for (const policy of policies) {
    policySelect.append(
      h(
        "option",
        { value: policy.default ? "" : policy.name },
        policy.default ? `${policy.name} (default)` : policy.name,
      ),
    );
  }
  const initialPolicy =
    endpoint && endpoint.retry_policy && endpoint.retry_policy !== defaultPolicy?.name
      ? endpoint.retry_policy
      : "";
  if (initialPolicy && !policies.some((policy) => policy.name === initialPolicy)) {
    policySelect.append(
      h("option", { value: initialPolicy }, `${initialPolicy} (no longer defined)`),
    );
  }
  policySelect.value = initialPolicy;
  const policyHint = h("p", { class: "hint", id: `${prefix}-policy-hint` });
  const policyError = errorBox(`${prefix}-policy-error`, "retry_policy");
  const describePolicy = () => {
    const name = policySelect.value || defaultPolicy?.name;
    const policy = policies.find((candidate) => candidate.name === name);
    policyHint.textContent = policy ? policy.description : "";
  };
  policySelect.addEventListener("change", describePolicy);
  describePolicy();
  describeWith(policySelect, policyHint);
  describeWith(policySelect, policyError);

  const descriptionInput = h("input", {
    id: `${prefix}-description`,
    name: "description",
    type: "text",
    maxlength: "1000",
    autocomplete: "off",
    placeholder: "What receives these events",
    "data-field": "description",
  });
  descriptionInput.value = endpoint ? endpoint.description : "";
  const descriptionError = errorBox(`${prefix}-description-error`, "description");
  describeWith(descriptionInput, descriptionError);

  const submit = h("button", { type: "submit", class: "button button-primary" }, submitLabel);
  const form = h(
    "form",
    { class: "endpoint-form", novalidate: true },
    h(
      "div",
      { class: "field" },
      h("label", { for: urlInput.id }, "Endpoint URL"),
      urlInput,
      urlError,
    ),
    eventsFieldset,
    h(
      "div",
      { class: "field" },
      h("label", { for: policySelect.id }, "Retry policy"),
      policySelect,
      policyHint,
      policyError,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: descriptionInput.id }, "Description (optional)"),
      descriptionInput,
      descriptionError,
    ),
    h("p", { class: "form-error", role: "alert", hidden: true }),
    h(
      "div",
      { class: "form-actions" },
      submit,
      h("button", { type: "button", class: "button", onclick: onCancel }, "Cancel"),
    ),
  );

  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) {
      event.preventDefault();
      onCancel();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const values = {
      url: urlInput.value.trim(),
      event_types: eventBoxes
        .map((row) => row.querySelector("input"))
        .filter((box) => box.checked)
        .map((box) => box.value),
      description: descriptionInput.value.trim(),
    };
    // Unchanged, the policy is left alone, so an endpoint that names the default keeps it.
    if (!endpoint || policySelect.value !== initialPolicy) {
      values.retry_policy = policySelect.value || null;
    }
    submit.disabled = true;
    try {
      await onSubmit(values, form);
    } finally {
      submit.disabled = false;
    }
  });
  form.focusFirst = () => urlInput.focus();
  return form;
}
