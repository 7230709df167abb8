"""Old class names, kept importable (with a DeprecationWarning) as timm keeps renamed models loading."""

from __future__ import annotations

import warnings
from typing import Any

# old name -> (module, current name)
DEPRECATED_CLASSES = {"ResNetColorizer": ("colorization.models.encoder_decoder", "EncoderDecoder")}


def deprecated_attribute(module: str, name: str) -> Any:
    """The current class for a deprecated name (for a module's ``__getattr__``); AttributeError otherwise."""
    if name not in DEPRECATED_CLASSES:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    home, current = DEPRECATED_CLASSES[name]
    warnings.warn(f"{name} is deprecated; use {home}.{current}.", DeprecationWarning, stacklevel=3)
    return getattr(__import__(home, fromlist=[current]), current)
