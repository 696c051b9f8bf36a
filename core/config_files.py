"""Reading the service's TOML files into validated models, with errors that say where."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(map(str, loc)) or "(file)"


def load_toml_model(
    path: Path,
    model: type[Model],
    *,
    what: str,
    error: type[ValueError],
    location: Callable[[tuple[int | str, ...]], str] = _dotted,
) -> Model:
    """Read ``path`` as ``model``; any problem raises ``error`` naming the file (as ``what``)
    and each problem's place in it."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as missing:
        raise error(f"{what} {path} does not exist") from missing
    except tomllib.TOMLDecodeError as broken:
        raise error(f"{what} {path} is not valid TOML: {broken}") from broken
    try:
        return model.model_validate(raw)
    except ValidationError as invalid:
        problems = "; ".join(f"{location(p['loc'])}: {p['msg']}" for p in invalid.errors())
        raise error(f"{what} {path} is invalid: {problems}") from invalid
