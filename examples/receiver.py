"""A webhook receiver to try the service with: verifies each delivery and prints it.

    python examples/receiver.py                   # listen on 127.0.0.1:9000
    WEBHOOK_SECRET=whsec_... python examples/receiver.py

With ``WEBHOOK_SECRET`` set, every request's Standard Webhooks signature is checked and a
bad one is refused with 400, as a real receiver should. It answers 204 otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

logger = logging.getLogger("receiver")


class WebhookHandler(BaseHTTPRequestHandler):
    secret = os.environ.get("WEBHOOK_SECRET")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {key.lower(): value for key, value in self.headers.items()}
        if self.secret:
            try:
                Webhook(self.secret).verify(body, headers)
            except WebhookVerificationError as error:
                logger.warning("refused %s: %s", headers.get("webhook-id"), error)
                self.send_response(400)
                self.end_headers()
                return
        verified = "verified" if self.secret else "unverified (set WEBHOOK_SECRET)"
        logger.info(
            "%s %s %s\n%s",
            headers.get("webhook-id"),
            self.path,
            verified,
            json.dumps(json.loads(body), indent=2),
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        # The default access log goes to stderr unformatted; the handler logs instead.
        return


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    port = int(os.environ.get("PORT", "9000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), WebhookHandler)
    logger.info("listening on http://127.0.0.1:%d/", port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


if __name__ == "__main__":
    main()
