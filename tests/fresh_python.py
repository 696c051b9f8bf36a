"""Code run in a fresh interpreter, for what importing the project loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def output_of(code: str) -> str:
    """What ``code`` prints, run by a new interpreter from the project's folder."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=os.environ | {"PYTHONPATH": "."},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
