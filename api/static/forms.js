// Showing API errors where they happened: 422s next to their field, the rest on the form.

import { say } from "./dom.js";

/** Remove the messages a form shows. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-error-for]")) say(node, "");
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (general) say(general, "");
}

/**
 * Show an ApiError on a form. Each 422 entry goes next to the field named by the last
 * name in its `loc` that the form has; what has no field goes to the form's own message.
 */
export function showErrors(form, error) {
  clearErrors(form);
  const general = [];
  if (error && error.name === "ApiError" && Array.isArray(error.detail)) {
    const shown = new Map();
    for (const item of error.detail) {
      const target = fieldFor(form, item.loc || []);
      if (target) {
        shown.set(target, [...(shown.get(target) || []), item.msg]);
      } else {
        general.push(item.msg);
      }
    }
    let first = null;
    for (const [name, messages] of shown) {
      const box = form.querySelector(`[data-error-for="${name}"]`);
      say(box, messages.join(" "));
      const control = form.querySelector(`[data-field="${name}"]`);
      if (control) {
        control.setAttribute("aria-invalid", "true");
        first ??= control;
      }
    }
    if (first) first.focus();
  } else {
    general.push(error && error.name === "ApiError" ? error.message : "Something went wrong.");
  }
  const box = form.querySelector(".form-error");
  if (box) say(box, general.join(" "));
}

function fieldFor(form, loc) {
  for (let index = loc.length - 1; index >= 0; index -= 1) {
    const name = loc[index];
    if (typeof name === "string" && form.querySelector(`[data-error-for="${CSS.escape(name)}"]`)) {
      return CSS.escape(name);
    }
  }
  return null;
}

/** A message area for one field, tied to its control with aria-describedby. */
export function describeWith(control, errorBox) {
  const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  control.setAttribute("aria-describedby", [...ids, errorBox.id].join(" "));
}
