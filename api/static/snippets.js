// "Verify your signature" examples for an endpoint, in Python and JavaScript.

export const SECRET_PLACEHOLDER = "whsec_...";

export function pythonSnippet(secret) {
  return `from standardwebhooks.webhooks import Webhook

webhook = Webhook("${secret || SECRET_PLACEHOLDER}")

# body: the raw request body, headers: the request's headers
# (webhook-id, webhook-timestamp, webhook-signature)
payload = webhook.verify(body, headers)  # raises if forged or stale
`;
}

export function javascriptSnippet(secret) {
  return `import { Webhook } from "standardwebhooks";

const webhook = new Webhook("${secret || SECRET_PLACEHOLDER}");

// payload: the raw request body as a string, headers: the request's headers
// (webhook-id, webhook-timestamp, webhook-signature)
const event = webhook.verify(payload, headers); // throws if forged or stale
`;
}
