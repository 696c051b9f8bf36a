"""The failures the command line reports as one line and a non-zero exit."""

from __future__ import annotations


class CliError(Exception):
    """A failure with a message meant for the operator, shown without a traceback."""


class ApiError(CliError):
    """The API answered with an error: its status, ``code`` and ``detail``."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        self.status_code = status_code
        self.code = code
        self.detail = detail
        hint = ""
        if status_code == 401:
            hint = " (check --api-key or WEBHOOKS_API_KEY)"
        super().__init__(f"{status_code} {code}: {detail}{hint}")
