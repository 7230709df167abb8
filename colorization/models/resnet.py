"""Deprecated import path: the skipless network lives in `colorization.models.encoder_decoder`.

`from colorization.models.resnet import ResNetColorizer` keeps working (with a DeprecationWarning) and gives
:class:`~colorization.models.encoder_decoder.EncoderDecoder`, which builds the same network and state-dict keys.
"""

from __future__ import annotations

from typing import Any

from ._deprecated import deprecated_attribute


def __getattr__(name: str) -> Any:
    return deprecated_attribute(__name__, name)
