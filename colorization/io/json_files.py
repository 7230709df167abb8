"""JSON files written whole and atomically, and strict: no ``NaN`` or ``Infinity`` (a non-finite number is written
as ``null``), so every JSON reader accepts them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from colorization.io.atomic import atomic_write

__all__ = ["strict_json", "write_json"]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def strict_json(data: Any) -> str:
    """``data`` as indented strict JSON text (a non-finite float becomes ``null``; other objects their ``str``)."""
    return json.dumps(_finite(data), indent=2, default=str, allow_nan=False) + "\n"


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` to ``path`` as strict JSON, atomically (:func:`colorization.io.atomic.atomic_write`). An
    ``OSError`` names ``path`` (a full disk reads "No space left on device" with the file)."""
    return atomic_write(path, strict_json(data))
