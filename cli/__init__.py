"""``webhooks``: the operators' command line for the webhook service."""
